'use strict'
// The console's message browser: a page of one topic's records, read with a
// manual-assignment consumer forward from given offsets or back from given ends,
// filtered by key or value text and merged across partitions by timestamp. Each page
// says where the pages before and after it start, per partition.

// Records read per request at the most; a page that hit it says so (`partial`).
const MAX_SCAN = 100_000
// Bytes of a key, value or header sent in a page; the whole record is a request of its own.
const PREVIEW = 16 * 1024

const bytes = (b, max) => (b === null ? null : { size: b.length, b64: b.subarray(0, max).toString('base64') })

function record (m, max = PREVIEW) {
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: bytes(m.key, max),
    value: bytes(m.value, max),
    headers: Object.entries(m.headers).map(([k, v]) => [k, bytes(v, max)])
  }
}

// Reads [from, to) of a partition, calling fn(m) for each record until it returns false or
// the budget runs out. Returns the offset reading stopped at: `to` when all was read.
async function scan (log, topic, partition, from, to, budget, fn) {
  if (from >= to) return to
  const c = log.consumer({ assign: [{ topic, partition, offset: from }] })
  try {
    for await (const batch of c.batches({ maxMessages: 500, maxWaitMs: 0 })) {
      // Nothing more published (records below `to` may have been compacted away).
      if (!batch.length) return to
      for (const m of batch) {
        if (m.offset >= to) return to
        budget.left--
        if (fn(m) === false || budget.left <= 0) return m.offset + 1
      }
    }
    return to
  } finally {
    await c.close()
  }
}

function matcher ({ key, keyMatch, value }) {
  const text = (b) => (b === null ? '' : b.toString('utf8'))
  const checks = []
  if (key) checks.push(keyMatch === 'contains' ? (m) => text(m.key).includes(key) : (m) => m.key !== null && text(m.key) === key)
  if (value) checks.push((m) => text(m.value).includes(value))
  return (m) => checks.every((f) => f(m))
}

// Ties (a batch shares its timestamp) interleave the partitions.
const byTime = (a, b) => a.timestamp - b.timestamp || a.offset - b.offset || a.partition - b.partition

// Forward from `from` per partition: up to `limit` matching records each, then the first
// `limit` of them all. The next page starts at each partition's first record not shown.
async function forward (log, topic, parts, limit, match, budget) {
  const found = []
  const ends = new Map()
  for (const p of parts) {
    let n = 0
    ends.set(p.partition, await scan(log, topic, p.partition, p.from, p.high, budget, (m) => {
      if (!match(m)) return
      found.push(record(m))
      return ++n < limit
    }))
  }
  found.sort(byTime)
  const shown = found.slice(0, limit)
  const next = {}
  const prev = {}
  for (const p of parts) {
    const left = found.slice(limit).filter((r) => r.partition === p.partition)
    next[p.partition] = left.reduce((min, r) => Math.min(min, r.offset), ends.get(p.partition))
    prev[p.partition] = p.from
  }
  return { shown, next, prev }
}

// Back from `to` per partition, in growing steps: the last `limit` matching records each,
// then the last `limit` of them all. The page before ends after each partition's last
// matching record not shown.
async function backward (log, topic, parts, limit, match, budget) {
  const found = []
  const before = new Map()
  for (const p of parts) {
    let end = p.to
    let start = end
    let step = Math.max(limit, 100)
    let kept = []
    let dropped = -1
    while (kept.length < limit && start > p.low && budget.left > 0) {
      start = Math.max(p.low, end - step)
      const got = []
      const at = await scan(log, topic, p.partition, start, end, budget, (m) => { if (match(m)) got.push(m) })
      // The budget ran out inside this step: it counts as not read.
      if (at < end) { start = end; break }
      kept = got.concat(kept)
      if (kept.length > limit) {
        dropped = Math.max(dropped, kept[kept.length - limit - 1].offset)
        kept = kept.slice(-limit)
      }
      end = start
      step *= 4
    }
    for (const m of kept) found.push(record(m))
    before.set(p.partition, { start, dropped })
  }
  found.sort(byTime)
  const shown = found.slice(-limit)
  const cut = found.length - shown.length
  const next = {}
  const prev = {}
  for (const p of parts) {
    const { start, dropped } = before.get(p.partition)
    const last = found.slice(0, cut).reduce((max, r) => (r.partition === p.partition ? Math.max(max, r.offset) : max), dropped)
    const first = shown.find((r) => r.partition === p.partition)
    prev[p.partition] = last >= 0 ? last + 1 : first ? first.offset : start
    next[p.partition] = p.to
  }
  return { shown, next, prev }
}

/**
 * A page of `topic` (its TopicInfo). `q`: partition (or all), limit, key, keyMatch
 * ('exact' | 'contains'), value, and either a cursor with its direction (paging) or a
 * seek: 'earliest', 'latest', 'offset' (with offset) or 'timestamp' (with timestamp).
 */
async function page (log, topic, q) {
  const parts = topic.partitions.filter((p) => q.partition === undefined || p.partition === q.partition)
  const match = matcher(q)
  const budget = { left: MAX_SCAN }
  const clamp = (p, o) => Math.min(Math.max(o, p.low), p.high)
  let r
  if (q.cursor) {
    const at = (p, dflt) => clamp(p, q.cursor.has(p.partition) ? q.cursor.get(p.partition) : dflt)
    r = q.dir === 'backward'
      ? await backward(log, topic.name, parts.map((p) => ({ ...p, to: at(p, p.high) })), q.limit, match, budget)
      : await forward(log, topic.name, parts.map((p) => ({ ...p, from: at(p, p.low) })), q.limit, match, budget)
  } else if (q.seek === 'latest') {
    r = await backward(log, topic.name, parts.map((p) => ({ ...p, to: p.high })), q.limit, match, budget)
  } else {
    let from = parts.map((p) => (q.seek === 'offset' ? clamp(p, q.offset) : p.low))
    if (q.seek === 'timestamp') {
      const found = await log.offsetsForTimes(parts.map((p) => ({ topic: topic.name, partition: p.partition, timestamp: q.timestamp })))
      from = parts.map((p, i) => clamp(p, found[i].offset))
    }
    r = await forward(log, topic.name, parts.map((p, i) => ({ ...p, from: from[i] })), q.limit, match, budget)
  }
  return {
    messages: r.shown,
    prev: r.prev,
    next: r.next,
    atStart: parts.every((p) => r.prev[p.partition] <= p.low),
    atEnd: parts.every((p) => r.next[p.partition] >= p.high),
    scanned: MAX_SCAN - budget.left,
    partial: budget.left <= 0
  }
}

/** One whole record, or null when there is none at that offset (removed, compacted). */
async function one (log, topic, partition, offset) {
  let found = null
  await scan(log, topic, partition, offset, offset + 1, { left: 1 }, (m) => { if (m.offset === offset) found = record(m, Infinity) })
  return found
}

// Following: at most this many records an event, an event every TAIL_GAP_MS at most; a
// partition more than MAX_BEHIND behind jumps to its end (a browser shows the newest).
const TAIL_BATCH = 100
const TAIL_GAP_MS = 250
const MAX_BEHIND = 10_000

/**
 * Follows `topic` from the ends it had when read (q as for page: partition, key,
 * keyMatch, value): emits ('ready', { from }) once, then ('records', { records, skipped })
 * as matching records arrive; `skipped` counts those left out to keep up. Sleeps on the
 * log's wake word in between. Returns stop().
 */
function tail (log, topic, q, emit) {
  const parts = topic.partitions.filter((p) => q.partition === undefined || p.partition === q.partition)
  // Fixed offsets, not 'latest': a record written after the page asked must not be missed.
  const from = parts.map((p) => ({ topic: topic.name, partition: p.partition, offset: p.high }))
  const c = log.consumer({ assign: from })
  const match = matcher(q)
  let skipped = 0
  emit('ready', { from: from.map(({ partition, offset }) => ({ partition, offset })) })
  ;(async () => {
    for await (const batch of c.batches({ maxMessages: 1000 })) {
      const found = batch.filter(match)
      if (!found.length) continue
      skipped += Math.max(0, found.length - TAIL_BATCH)
      emit('records', { records: found.slice(-TAIL_BATCH).map((m) => record(m)), skipped })
      await new Promise((resolve) => setTimeout(resolve, TAIL_GAP_MS))
      for (const l of await c.lag()) {
        if (l.lag > MAX_BEHIND) {
          c.seek({ topic: l.topic, partition: l.partition, offset: 'latest' })
          skipped += l.lag
        }
      }
    }
  })().catch((err) => emit('failure', { code: err.code, message: err.message }))
  return () => c.close()
}

module.exports = { page, one, tail, MAX_SCAN }
