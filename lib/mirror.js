'use strict'
// mirror(): copies topics, records and group offsets from one log to another through
// the Log API only (topics, a manual read_committed consumer, a transactional
// producer, groups, setGroupOffsets), so either side may be a directory or a
// kafka:// log. Each copy step is one transaction at the target holding the records
// and the mirror's own progress for them, so a killed mirror resumes exactly once.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const native = require('./native.js')
const { coded, invalid } = require('./errors.js')
const v = require('./validate.js')

// The mirror's progress and offset syncs, at the target. One partition: each step
// appends one record per source partition it moved.
const STATE_TOPIC = '_caldo_mirror'
// A step: at most this many records (and the consumer's ~4 MiB per fetch).
const STEP_RECORDS = 5000
// A record's framing in a batch, over its key, value and headers (a bound for Kafka's).
const RECORD_OVERHEAD = 32
// While following, group offsets are copied this often (and once more on stop).
const GROUP_SYNC_MS = 5000
const KAFKA_URL = /^kafka:\/\/[A-Za-z0-9.[\]:_-]+(?:,[A-Za-z0-9.[\]:_-]+)*\/?$/i
const KEYS = ['from', 'to', 'topics', 'groups', 'follow', 'id', 'signal', 'onProgress']

const isKafka = (s) => /^kafka:\/\//i.test(s)

// One side as given: a directory or a kafka:// URL (opened here), or a Log (any
// object with the Log API, opened by the caller).
function side (what, s) {
  if (typeof s === 'string') {
    if (s.length === 0) throw invalid(`${what} must be a log directory or a kafka://host:port URL, got an empty string`)
    if (isKafka(s)) {
      if (!KAFKA_URL.test(s)) throw invalid(`${what}: ${v.describe(s)} is not a Kafka URL; write kafka://host:port (several brokers: kafka://h1:9092,h2:9092)`)
      return { where: s.toLowerCase().replace(/\/$/, ''), kafka: true }
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw invalid(`${what} must be a log directory or a kafka://host:port URL, not ${v.describe(s)}`)
    const dir = path.resolve(s)
    let where = dir
    try { where = fs.realpathSync(dir) } catch {}
    return { where, dir }
  }
  if (s !== null && typeof s === 'object' && ['topics', 'groups', 'producer', 'consumer', 'createTopic', 'setGroupOffsets'].every((m) => typeof s[m] === 'function')) {
    return { log: s }
  }
  throw invalid(`${what} must be a log directory, a kafka://host:port URL or a Log, got ${v.describe(s)}`)
}

// Names or globs (* and ?) as one predicate; undefined: everything.
function selector (what, list) {
  if (list === undefined) return { all: true, match: () => true, names: [] }
  const names = v.array(what, list).map((n, i) => v.string(`${what}[${i}]`, n))
  const res = names.map((n) => new RegExp('^' + n.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'))
  return { all: false, match: (name) => res.some((re) => re.test(name)), names: names.filter((n) => !/[*?]/.test(n)) }
}

function checkArgs (opts) {
  return v.readingArgs('mirror options', () => {
    const o = v.options('mirror options', v.object('mirror options', opts), KEYS)
    if (o.from === undefined || o.to === undefined) throw invalid('mirror needs from and to: a log directory, a kafka://host:port URL or a Log each')
    const from = side('from', o.from)
    const to = side('to', o.to)
    if ((from.log && from.log === to.log) || (from.where !== undefined && from.where === to.where)) {
      throw invalid(`from and to are the same log (${from.where ?? 'one Log object'}); mirror to another directory or cluster`)
    }
    if (from.dir && !native.isLog(from.dir)) throw invalid(`from: no caldo log in ${from.dir}; give an existing log directory or a kafka://host:port URL`)
    const id = o.id !== undefined ? v.string('id', o.id) : from.where
    if (id === undefined || id.length === 0) throw invalid('mirror from a Log object needs an id: a stable name for the source (its progress at the target is kept under it)')
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalid(`onProgress must be a function, got ${v.describe(o.onProgress)}`)
    return {
      from,
      to,
      id,
      topics: selector('topics', o.topics),
      groups: o.groups === false ? null : selector('groups', o.groups),
      follow: o.follow === undefined ? false : v.boolean('follow', o.follow),
      signal: o.signal,
      onProgress: o.onProgress ?? (() => {})
    }
  })
}

const tpKey = (topic, partition) => `${topic}\u0000${partition}`

// What the target holds for one source: per source partition, the next source offset
// to copy, the target offset after the last record copied, and the runs [source,
// target, length] in which both sides' offsets were consecutive, in source order.
class Progress {
  #parts = new Map()

  add (topic, partition, rec) {
    const k = tpKey(topic, partition)
    let p = this.#parts.get(k)
    if (!p) this.#parts.set(k, (p = { next: 0, target: 0, runs: [] }))
    if (rec.next > p.next) p.next = rec.next
    if (rec.target > p.target) p.target = rec.target
    for (const r of rec.runs) p.runs.push(r)
  }

  // Runs arrive in source order within a run of the mirror; resumes and replays of the
  // state topic may interleave them.
  sort () { for (const p of this.#parts.values()) p.runs.sort((a, b) => a[0] - b[0]) }

  next (topic, partition) { return this.#parts.get(tpKey(topic, partition))?.next }

  /**
   * The target offset of the first mirrored record whose source offset is >= `s`;
   * past the last one, where the next will land. null when `s` is past what was copied.
   */
  translate (topic, partition, s) {
    const p = this.#parts.get(tpKey(topic, partition))
    if (!p || s > p.next || p.runs.length === 0) return null
    const runs = p.runs
    let lo = 0
    let hi = runs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (runs[mid][0] + runs[mid][2] <= s) lo = mid + 1
      else hi = mid
    }
    if (lo === runs.length) return p.target
    const [rs, rt] = runs[lo]
    return s <= rs ? rt : rt + (s - rs)
  }
}

// Adds source offset `s` copied to target offset `t` to [source, target, length] runs of
// offsets consecutive on both sides.
function extend (runs, s, t) {
  const cur = runs[runs.length - 1]
  if (cur && s === cur[0] + cur[2] && t === cur[1] + cur[2]) cur[2]++
  else runs.push([s, t, 1])
}

async function openSide (s) {
  if (s.log) return { log: s.log, close: async () => {} }
  // The backend is chosen by open(): a directory, or a kafka:// URL.
  const log = await require('./log.js').open(s.kafka ? s.where : s.dir)
  return { log, close: () => log.close() }
}

// The largest batch a topic takes: maxMessageBytes, or segmentBytes when smaller (Kafka
// refuses a batch larger than a segment).
const batchLimit = (config) => Math.min(config.maxMessageBytes, config.segmentBytes ?? Infinity)

// The selected topics at the target, created as at the source when missing; `limits`
// gets each one's batchLimit there.
async function ensureTopics (dst, selected, limits) {
  const have = new Map((await dst.topics()).map((t) => [t.name, t]))
  const out = []
  for (const t of selected) {
    const existing = have.get(t.name)
    if (existing) {
      if (existing.partitions.length < t.partitions.length) {
        throw coded('ERR_INVALID_PARTITION', `target topic '${t.name}' has ${existing.partitions.length} partition(s), the source ${t.partitions.length}: delete it at the target (or create it with at least ${t.partitions.length}) and mirror again`)
      }
      limits.set(t.name, batchLimit(existing.config ?? t.config))
      out.push({ name: t.name, partitions: t.partitions.length, created: false })
      continue
    }
    try {
      await dst.createTopic(t.name, { ...t.config })
      limits.set(t.name, batchLimit(t.config))
      out.push({ name: t.name, partitions: t.partitions.length, created: true })
    } catch (err) {
      // Created meanwhile by someone else: check it as an existing one.
      if (err.code !== 'ERR_TOPIC_EXISTS') throw err
      return ensureTopics(dst, selected, limits)
    }
  }
  return out
}

async function ensureStateTopic (dst) {
  if ((await dst.topics()).some((t) => t.name === STATE_TOPIC)) return
  try {
    await dst.createTopic(STATE_TOPIC, { partitions: 1, retentionMs: -1, retentionBytes: -1 })
  } catch (err) {
    if (err.code !== 'ERR_TOPIC_EXISTS') throw err
  }
}

// Reads the committed state records of source `id` up to the state topic's end now.
async function readProgress (dst, id) {
  const progress = new Progress()
  const t = (await dst.topics()).find((x) => x.name === STATE_TOPIC)
  const end = t.partitions[0].lso
  if (end > t.partitions[0].low) {
    const c = dst.consumer({ assign: [{ topic: STATE_TOPIC, partition: 0, offset: 'earliest' }], isolation: 'read_committed' })
    try {
      for await (const batch of c.batches({ maxMessages: 10000, maxWaitMs: 100 })) {
        for (const m of batch) {
          if (m.key === null || m.value === null) continue
          const [sid, topic, partition] = JSON.parse(m.key.toString('utf8'))
          if (sid === id) progress.add(topic, partition, JSON.parse(m.value.toString('utf8')))
        }
        if ((await c.lag())[0].offset >= end) break
      }
    } finally {
      await c.close()
    }
  }
  progress.sort()
  return progress
}

/**
 * Copies `from` to `to` (see README, Mirror). Resolves with a summary once the
 * source ends seen at start are copied, or, with `follow`, once `signal` aborts.
 */
async function mirror (opts) {
  const o = checkArgs(opts)
  const started = performance.now()
  const emit = (e) => o.onProgress(e)
  const src = await openSide(o.from)
  let dst
  try {
    dst = await openSide(o.to)
    return await run(o, src.log, dst.log, emit, started)
  } finally {
    await Promise.allSettled([src.close(), dst?.close()])
  }
}

async function run (o, src, dst, emit, started) {
  // Topics: the selected ones that are not internal, not damaged, not the mirror's own.
  const all = (await src.topics()).filter((t) => t.name !== STATE_TOPIC && !t.name.startsWith('__'))
  for (const n of o.topics.names) {
    if (n === STATE_TOPIC || n.startsWith('__')) throw invalid(`topic '${n}' is internal and never mirrored`)
    if (!all.some((t) => t.name === n)) throw coded('ERR_UNKNOWN_TOPIC', `no topic '${n}' at the source; list them with caldo topics`)
  }
  const selected = all.filter((t) => o.topics.match(t.name))
  for (const t of selected.filter((t) => !t.config)) emit({ event: 'warning', message: `topic '${t.name}' is damaged at the source (${t.damage?.message}); skipped` })
  const limits = new Map()
  const topics = await ensureTopics(dst, selected.filter((t) => t.config), limits)
  await ensureStateTopic(dst)
  // The producer first: opening it fences a killed mirror of this source and aborts its
  // open transaction, so what is read next is all there is.
  const txnId = 'caldo-mirror-' + crypto.createHash('sha256').update(o.id).digest('hex').slice(0, 24)
  const producer = dst.producer({ transactionalId: txnId })
  const summary = { records: 0, bytes: 0, steps: 0, lost: 0, topics, groups: { set: new Map(), skipped: [] }, stopped: false }
  let consumer = null
  try {
    const progress = await readProgress(dst, o.id)
    // Where each partition starts (its progress, else the earliest) and, without
    // follow, the end to reach: the last stable offset now.
    const assign = []
    const ends = new Map()
    let remaining = 0
    const now = new Map((await src.topics()).map((t) => [t.name, t]))
    for (const t of topics) {
      for (const p of now.get(t.name).partitions) {
        const next = progress.next(t.name, p.partition)
        if (!o.follow && (next ?? p.low) >= p.lso) continue
        assign.push({ topic: t.name, partition: p.partition, offset: next ?? 'earliest' })
        ends.set(tpKey(t.name, p.partition), p.lso)
        remaining += Math.max(0, p.lso - Math.max(next ?? 0, p.low))
      }
    }
    emit({ event: 'start', id: o.id, topics, partitions: assign.length, remaining })
    // Without follow, group offsets as they were when the copy began: all below the ends.
    const groupsAtStart = !o.follow && o.groups ? await src.groups() : null
    if (o.signal?.aborted) summary.stopped = true
    else if (assign.length) {
      consumer = src.consumer({ assign, isolation: 'read_committed' })
      consumer.on('offsetOutOfRange', (r) => {
        summary.lost += r.to - r.from
        emit({ event: 'warning', message: `${r.topic}/${r.partition}: offsets ${r.from} to ${r.to - 1} were removed at the source before they were mirrored` })
      })
      await copy(o, consumer, producer, progress, ends, limits, summary, emit, started, () => syncGroups(o, src, dst, null, progress, topics, summary, emit))
      summary.stopped = o.signal?.aborted === true
    }
    await syncGroups(o, src, dst, groupsAtStart, progress, topics, summary, emit)
  } finally {
    if (consumer) await consumer.close()
    await producer.close()
  }
  const result = { ...summary, groups: { synced: [...summary.groups.set.keys()], skipped: summary.groups.skipped }, seconds: (performance.now() - started) / 1000 }
  emit({ event: 'done', ...result })
  return result
}

async function copy (o, consumer, producer, progress, ends, limits, summary, emit, started, sync) {
  const done = new Set()
  let lastSync = performance.now()
  // An abort ends the wait for records at once, but never a step under way: that one
  // commits, and the loop stops after it.
  let busy = false
  const onAbort = () => { if (!busy) consumer.close() }
  o.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    for await (const batch of consumer.batches({ maxMessages: STEP_RECORDS, maxWaitMs: o.follow ? GROUP_SYNC_MS : 100 })) {
      busy = true
      // Where each partition is now: past this batch and the markers and aborted records after it.
      const positions = await consumer.lag()
      const moved = positions.filter((l) => l.offset > (progress.next(l.topic, l.partition) ?? 0))
      if (batch.length || moved.length) await step(o, batch, moved, producer, progress, limits, summary)
      let remaining = 0
      for (const l of positions) {
        const end = o.follow ? l.high : ends.get(tpKey(l.topic, l.partition))
        if (l.offset >= end) done.add(tpKey(l.topic, l.partition))
        remaining += Math.max(0, end - l.offset)
      }
      emit({ event: 'progress', records: summary.records, bytes: summary.bytes, remaining, seconds: (performance.now() - started) / 1000 })
      if (o.signal?.aborted || (!o.follow && done.size === ends.size)) break
      if (o.follow && o.groups && performance.now() - lastSync >= GROUP_SYNC_MS) {
        await sync()
        lastSync = performance.now()
      }
      busy = false
      if (o.signal?.aborted) break
    }
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
  }
}

// One transaction at the target: the batch's records, each to its source partition,
// and a state record per source partition that moved.
async function step (o, batch, moved, producer, progress, limits, summary) {
  const byTopic = new Map()
  // Per target partition: the [source, target, length] runs written.
  const copied = new Map()
  let bytes = 0
  // Sends of at most half the target's maxMessageBytes: Kafka checks a whole batch against
  // it, and a send there is a batch per partition.
  for (const m of batch) {
    let size = RECORD_OVERHEAD + (m.key ? m.key.length : 0) + (m.value ? m.value.length : 0)
    for (const k in m.headers) size += k.length + (m.headers[k] ? m.headers[k].length : 0)
    let chunks = byTopic.get(m.topic)
    if (!chunks) byTopic.set(m.topic, (chunks = []))
    let chunk = chunks[chunks.length - 1]
    if (!chunk || (chunk.bytes + size > limits.get(m.topic) / 2 && chunk.recs.length)) chunks.push((chunk = { recs: [], offsets: [], bytes: 0 }))
    chunk.recs.push({ key: m.key, value: m.value, headers: m.headers, partition: m.partition, timestamp: m.timestamp })
    chunk.offsets.push(m.offset)
    chunk.bytes += size
    bytes += size - RECORD_OVERHEAD
  }
  const states = await producer.transaction(async (tx) => {
    // One after the other, so that no backend puts two of them in one request.
    const written = []
    for (const [topic, chunks] of byTopic) {
      for (const c of chunks) written.push([topic, c.offsets, await tx.sendBatch(topic, c.recs)])
    }
    for (const [topic, offsets, md] of written) {
      for (let i = 0; i < md.length; i++) {
        const k = tpKey(topic, md[i].partition)
        let runs = copied.get(k)
        if (!runs) copied.set(k, (runs = []))
        extend(runs, offsets[i], md[i].offset)
      }
    }
    const states = moved.map((l) => {
      const runs = copied.get(tpKey(l.topic, l.partition)) ?? []
      const last = runs.at(-1)
      const rec = { next: l.offset, target: last ? last[1] + last[2] : 0, runs }
      return { topic: l.topic, partition: l.partition, rec }
    })
    await tx.sendBatch(STATE_TOPIC, states.map((s) => ({
      key: JSON.stringify([o.id, s.topic, s.partition]),
      value: JSON.stringify(s.rec),
      partition: 0
    })))
    return states
  }).catch((err) => {
    if (err.code !== 'ERR_FENCED') throw err
    throw coded('ERR_FENCED', `another mirror of '${o.id}' into this target has started, so this one stops; its last step was not written (a later run copies it)`, { cause: err })
  })
  // Committed: only now does this process count it as copied.
  for (const s of states) progress.add(s.topic, s.partition, s.rec)
  summary.records += batch.length
  summary.bytes += bytes
  summary.steps++
}

// Each selected group's committed source offsets, translated, set at the target when
// they changed; a group with live members there is skipped (setGroupOffsets refuses it).
async function syncGroups (o, src, dst, list, progress, topics, summary, emit) {
  if (!o.groups) return
  const mirrored = new Set(topics.map((t) => t.name))
  // By default every group but internal ones ('__' names); named ones even so.
  const groups = (list ?? await src.groups()).filter((g) => o.groups.match(g.groupId) && !(o.groups.all && g.groupId.startsWith('__')))
  for (const g of groups) {
    const offsets = []
    let pending = 0
    for (const c of g.offsets) {
      if (!mirrored.has(c.topic) || c.committed === null) continue
      const t = progress.translate(c.topic, c.partition, c.committed)
      if (t === null) pending++
      else offsets.push({ topic: c.topic, partition: c.partition, offset: t })
    }
    const seen = JSON.stringify(offsets)
    if (!offsets.length || summary.groups.set.get(g.groupId) === seen) continue
    try {
      await dst.setGroupOffsets(g.groupId, offsets)
      summary.groups.set.set(g.groupId, seen)
      // Partitions committed past what is mirrored so far wait for a later sync.
      emit({ event: 'group', groupId: g.groupId, offsets, pending })
    } catch (err) {
      if (err.code !== 'ERR_GROUP_ACTIVE') throw err
      const reason = `group '${g.groupId}' has live members at the target; its offsets were not copied (stop its consumers there and mirror again)`
      if (!summary.groups.skipped.some((s) => s.groupId === g.groupId)) summary.groups.skipped.push({ groupId: g.groupId, reason })
      emit({ event: 'warning', message: reason })
    }
  }
}

module.exports = { mirror, STATE_TOPIC }
