'use strict'
// Which offsets a group reset moves to: shared by `caldo reset-offsets` and the web
// console, which look topics and groups up and report failures each their own way.

/**
 * `req`: { to: 'earliest' | 'latest' | offset, time?: ms, topic?, partition? }; with `time`,
 * each partition's first offset at or after it. Resolves to what log.setGroupOffsets takes:
 * 'earliest' / 'latest' for every partition of the group, or exact offsets.
 */
async function resetTarget (log, groupId, req, { findTopic, findGroup, fail }) {
  const { time, topic, partition } = req
  const to = time !== undefined ? time : req.to
  let target = to
  if (topic !== undefined) {
    const t = await findTopic(log, topic)
    const parts = partition !== undefined ? t.partitions.filter((p) => p.partition === partition) : t.partitions
    if (!parts.length) {
      throw fail(`topic '${topic}' has partitions 0 to ${t.partitions.length - 1}, not ${partition}`, 'ERR_INVALID_PARTITION')
    }
    target = parts.map((p) => ({ topic, partition: p.partition, offset: to === 'earliest' ? p.low : to === 'latest' ? p.high : to }))
  } else {
    const g = await findGroup(log, groupId)
    if (typeof to === 'number') {
      if (!g.offsets.length) throw fail(`group '${groupId}' has no partitions yet; name a topic to reset`)
      target = g.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: to }))
    }
  }
  // By time: each partition's first offset at or after it (its end when none is that recent).
  if (time !== undefined) target = await log.offsetsForTimes(target.map(({ topic, partition }) => ({ topic, partition, timestamp: time })))
  return target
}

module.exports = { resetTarget }
