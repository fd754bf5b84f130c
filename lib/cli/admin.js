'use strict'
// Commands on topics and groups.

const { out, UsageError, failure, withLog, write, printJson, table, humanBytes, findTopic, findGroup } = require('./common.js')
const { humanMs } = require('../format.js')
const { resetTarget } = require('../reset.js')

// The topic settings the CLI takes, as commander names them, in config order.
const CONFIG_FLAGS = ['segmentBytes', 'maxMessageBytes', 'retentionMs', 'retentionBytes', 'segmentMs',
  'cleanupPolicy', 'deleteRetentionMs', 'minCompactionLagMs', 'minCleanableDirtyRatio']

function configOf (opts) {
  const cfg = {}
  for (const k of CONFIG_FLAGS) if (opts[k] !== undefined) cfg[k] = opts[k]
  return cfg
}

async function configTable (list) {
  return table(['TOPIC', 'PARTITIONS', 'RETENTION', 'RETENTION BYTES', 'SEGMENT BYTES', 'SEGMENT AGE', 'CLEANUP POLICY', 'LOG START', 'BYTES', 'DIRTY'],
    list.filter((t) => t.config).map((t) => [
      t.name,
      t.config.partitions,
      humanMs(t.config.retentionMs),
      t.config.retentionBytes < 0 ? 'no limit' : humanBytes(t.config.retentionBytes),
      humanBytes(t.config.segmentBytes),
      humanMs(t.config.segmentMs),
      t.config.cleanupPolicy,
      t.partitions.map((p) => p.low).join(','),
      humanBytes(t.partitions.reduce((s, p) => s + p.bytes, 0)),
      t.config.cleanupPolicy === 'delete' ? '-' : t.partitions.map((p) => `${Math.round(p.dirtyRatio * 100)}%`).join(',')
    ]))
}

async function topics (opts) {
  await withLog(opts, async (log) => {
    const list = await log.topics({ internal: opts.internal === true })
    if (opts.json) return printJson(list)
    if (!list.length) return write('no topics\n')
    if (opts.config) {
      await configTable(list)
      for (const t of list.filter((t) => t.damage)) {
        await write(out.red(`damaged: topic ${t.name}: ${t.damage.code} ${t.damage.message}`) + '\n')
      }
      return
    }
    const rows = list.flatMap((t) => t.partitions.map((p) => [t.name, p.partition, p.low, p.high, p.lso, p.high - p.low, humanBytes(p.bytes)]))
    await table(['TOPIC', 'PARTITION', 'LOW', 'HIGH', 'LSO', 'RECORDS', 'BYTES'], rows)
    for (const t of list.filter((t) => t.damage)) {
      await write(out.red(`damaged: topic ${t.name}: ${t.damage.code} ${t.damage.message}`) + '\n')
    }
  })
}

async function createTopic (name, opts) {
  await withLog(opts, async (log) => {
    const t = await log.createTopic(name, { partitions: opts.partitions, ...configOf(opts) })
    if (opts.json) return printJson(t)
    return write(`created topic '${t.name}' with ${t.config.partitions} partition(s)\n`)
  }, { create: true })
}

async function alterTopic (name, opts) {
  const cfg = configOf(opts)
  if (!Object.keys(cfg).length) throw new UsageError('give at least one setting to change (see --help)')
  await withLog(opts, async (log) => {
    const t = await log.alterTopic(name, cfg)
    if (opts.json) return printJson(t)
    await write(`altered topic '${t.name}'\n`)
    return configTable([t])
  })
}

async function clean (opts) {
  await withLog(opts, async (log) => {
    const r = await log.clean()
    if (opts.json) return printJson(r)
    await write(`removed ${r.segments} segment(s); freed ${humanBytes(r.bytes)}` +
      (r.busy ? `; ${r.busy} partition(s) skipped, being cleaned by another process` : '') + '\n')
    if (r.partitions.length) {
      return table(['TOPIC', 'PARTITION', 'SEGMENTS', 'BYTES FREED', 'RECORDS COMPACTED', 'LOG START'],
        r.partitions.map((p) => [p.topic, p.partition, p.segments, humanBytes(p.bytes), p.recordsRemoved, p.logStart]))
    }
  })
}

async function deleteRecords (topic, partition, opts) {
  await withLog(opts, async (log) => {
    const r = await log.deleteRecords(topic, partition, opts.before)
    if (opts.json) return printJson(r)
    return write(`${topic}/${partition} now starts at offset ${r.lowWatermark}\n`)
  })
}

async function deleteTopic (name, opts) {
  await withLog(opts, async (log) => {
    await log.deleteTopic(name)
    return write(`deleted topic '${name}'\n`)
  })
}

async function groups (opts) {
  await withLog(opts, async (log) => {
    const list = await log.groups()
    if (opts.json) return printJson(list)
    if (!list.length) return write('no groups\n')
    return table(['GROUP', 'GENERATION', 'MEMBERS', 'TOPICS', 'LAG'], list.map((g) => [
      g.groupId,
      g.generation,
      g.members.length,
      [...new Set([...g.members.flatMap((m) => m.topics), ...g.offsets.map((o) => o.topic)])].sort().join(','),
      g.offsets.reduce((s, o) => s + o.lag, 0)
    ]))
  })
}

const tpName = (tp) => `${tp.topic}/${tp.partition}`

async function groupOffsetsTable (g) {
  const owner = new Map()
  for (const m of g.members) for (const tp of m.assignment) owner.set(tpName(tp), `${m.memberId} (pid ${m.pid})`)
  return table(['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH', 'LAG', 'OWNER'],
    g.offsets.map((o) => [o.topic, o.partition, o.committed, o.high, o.lag, owner.get(tpName(o))]))
}

async function group (id, opts) {
  await withLog(opts, async (log) => {
    const g = await findGroup(log, id)
    if (opts.json) return printJson(g)
    await write(`group ${out.bold(g.groupId)}  generation ${g.generation}  ${g.members.length} live member(s)\n\n`)
    if (g.members.length) {
      await table(['MEMBER', 'PID', 'TOPICS', 'ASSIGNMENT'], g.members.map((m) => [
        m.memberId, m.pid, m.topics.join(','), m.assignment.map(tpName).join(',')
      ]))
      await write('\n')
    }
    return groupOffsetsTable(g)
  })
}

async function resetOffsets (id, opts) {
  const time = opts.toDatetime
  if ((opts.to === undefined) === (time === undefined)) throw new UsageError('give --to or --to-datetime (one of them)')
  const to = time !== undefined ? time : opts.to === 'earliest' || opts.to === 'latest' ? opts.to : /^\d+$/.test(opts.to) ? Number(opts.to) : NaN
  if (Number.isNaN(to) || (typeof to === 'number' && !Number.isSafeInteger(to))) {
    throw new UsageError(`--to takes earliest, latest or an offset, not '${opts.to}'`)
  }
  if (opts.partition !== undefined && opts.topic === undefined) throw new UsageError('--partition needs --topic')
  await withLog(opts, async (log) => {
    const target = await resetTarget(log, id, { to, time, topic: opts.topic, partition: opts.partition }, { findTopic, findGroup, fail: failure })
    await log.setGroupOffsets(id, target)
    const g = await findGroup(log, id)
    if (opts.json) return printJson(g.offsets)
    await write(`reset group '${id}' to ${time !== undefined ? new Date(time).toISOString() : to}\n`)
    return groupOffsetsTable(g)
  })
}

async function deleteGroup (id, opts) {
  await withLog(opts, async (log) => {
    await log.deleteGroup(id)
    return write(`deleted group '${id}'\n`)
  })
}

module.exports = { topics, createTopic, alterTopic, clean, deleteRecords, deleteTopic, groups, group, resetOffsets, deleteGroup }
