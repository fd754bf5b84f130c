'use strict'
// produce and consume, like kcat -P and -C.

const readline = require('node:readline')
const { UsageError, failure, withLog, write, findTopic } = require('./common.js')

const BATCH_RECORDS = 1000
const BATCH_BYTES = 1 << 20

async function produce (topic, opts) {
  if (opts.keySeparator === '') throw new UsageError('--key-separator must not be empty')
  await withLog(opts, async (log) => {
    const t = await findTopic(log, topic)
    if (opts.partition !== undefined && opts.partition >= t.partitions.length) {
      throw failure(`topic '${topic}' has partitions 0 to ${t.partitions.length - 1}, not ${opts.partition}`, 'ERR_INVALID_PARTITION')
    }
    const producer = log.producer()
    let written = 0
    let batch = []
    let bytes = 0
    const send = async () => {
      if (!batch.length) return
      try {
        written += (await producer.sendBatch(topic, batch)).length
      } catch (e) {
        e.message += `; ${written} record(s) were written before`
        throw e
      }
      batch = []
      bytes = 0
    }
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
    for await (const line of lines) {
      const rec = { value: line }
      const at = opts.keySeparator === undefined ? -1 : line.indexOf(opts.keySeparator)
      if (at >= 0) {
        rec.key = line.slice(0, at)
        rec.value = line.slice(at + opts.keySeparator.length)
      }
      if (opts.partition !== undefined) rec.partition = opts.partition
      batch.push(rec)
      bytes += line.length
      if (batch.length >= BATCH_RECORDS || bytes >= BATCH_BYTES) await send()
    }
    await send()
    await producer.close()
    return write(`wrote ${written} record(s) to '${topic}'\n`)
  })
}

// kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms),
// %K / %S key / value length, %% a percent sign; \n and \t as escapes.
function formatter (fmt) {
  const fields = {
    t: (m) => m.topic,
    p: (m) => m.partition,
    o: (m) => m.offset,
    k: (m) => (m.key === null ? '' : m.key.toString('utf8')),
    s: (m) => (m.value === null ? '' : m.value.toString('utf8')),
    T: (m) => m.timestamp,
    K: (m) => (m.key === null ? -1 : m.key.length),
    S: (m) => (m.value === null ? -1 : m.value.length),
    '%': () => '%'
  }
  const parts = []
  const re = /%(.)|\\([nt\\])/g
  let last = 0
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    parts.push(fmt.slice(last, m.index))
    if (m[1] !== undefined) {
      if (!fields[m[1]]) throw new UsageError(`--format: unknown field %${m[1]} (known: %t %p %o %k %s %T %K %S %%)`)
      parts.push(fields[m[1]])
    } else {
      parts.push({ n: '\n', t: '\t', '\\': '\\' }[m[2]])
    }
    last = re.lastIndex
  }
  parts.push(fmt.slice(last))
  return (m) => parts.map((p) => (typeof p === 'function' ? p(m) : p)).join('') + '\n'
}

function jsonLine (m) {
  const headers = {}
  for (const [k, v] of Object.entries(m.headers)) headers[k] = v === null ? null : v.toString('utf8')
  return JSON.stringify({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value === null ? null : m.value.toString('utf8'),
    headers
  }) + '\n'
}

async function consume (topic, opts) {
  if (opts.group !== undefined && (opts.partition !== undefined || opts.offset !== undefined)) {
    throw new UsageError('--group gets its partitions from the group; drop --partition/--offset')
  }
  if (opts.offset !== undefined && opts.partition === undefined) throw new UsageError('--offset needs --partition')
  if (opts.offset !== undefined && opts.fromBeginning) throw new UsageError('give --offset or --from-beginning, not both')
  if (opts.fromTime !== undefined && (opts.offset !== undefined || opts.fromBeginning)) throw new UsageError('give --from-time, --offset or --from-beginning, not two')
  if (opts.fromTime !== undefined && opts.group !== undefined) throw new UsageError('--group starts where the group is; move it with reset-offsets --to-datetime')
  if (opts.json && opts.format !== undefined) throw new UsageError('give --json or --format, not both')
  const isolation = opts.isolation ?? 'read_committed'
  if (!['read_committed', 'read_uncommitted'].includes(isolation)) throw new UsageError('--isolation takes read_committed or read_uncommitted')
  const line = opts.json ? jsonLine : formatter(opts.format === undefined ? '%s' : opts.format)
  await withLog(opts, async (log) => {
    const t = await findTopic(log, topic)
    // Where reading ends now: read committed stops at the last stable offset.
    const endAt = new Map(t.partitions.map((p) => [p.partition, isolation === 'read_committed' ? p.lso : p.high]))
    const start = opts.offset !== undefined ? opts.offset : opts.fromBeginning ? 'earliest' : 'latest'
    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const group = opts.group !== undefined
    let consumer
    if (group) {
      consumer = log.consumer({ groupId: opts.group, topics: [topic], startFrom: opts.fromBeginning ? 'earliest' : 'latest', autoCommit: false, isolation, signal: ac.signal })
    } else {
      const parts = opts.partition !== undefined ? [opts.partition] : t.partitions.map((p) => p.partition)
      if (opts.partition !== undefined && !endAt.has(opts.partition)) {
        throw failure(`topic '${topic}' has partitions 0 to ${t.partitions.length - 1}, not ${opts.partition}`, 'ERR_INVALID_PARTITION')
      }
      const at = opts.fromTime === undefined
        ? parts.map((partition) => ({ topic, partition, offset: start }))
        : await log.offsetsForTimes(parts.map((partition) => ({ topic, partition, timestamp: opts.fromTime })))
      consumer = log.consumer({ assign: at, isolation, signal: ac.signal })
    }
    // Next offset per partition of what was printed: what a group commits.
    const printed = new Map()
    let count = 0
    const atEnd = async () => {
      const lag = await consumer.lag()
      return lag.every((l) => l.offset >= (endAt.get(l.partition) ?? l.high))
    }
    const commit = async () => {
      if (group && printed.size && !ac.signal.aborted) {
        await consumer.commit([...printed].map(([partition, offset]) => ({ topic, partition, offset })))
      }
    }
    try {
      const batches = consumer.batches({ maxMessages: BATCH_RECORDS, maxWaitMs: opts.follow ? undefined : 100 })
      for await (const b of batches) {
        let done = false
        for (const m of b) {
          if (!opts.follow && m.offset >= endAt.get(m.partition)) continue
          await write(line(m))
          printed.set(m.partition, m.offset + 1)
          if (opts.count !== undefined && ++count >= opts.count) { done = true; break }
        }
        await commit()
        if (done || (!opts.follow && (await atEnd()))) break
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      await consumer.close()
    }
  })
}

module.exports = { produce, consume }
