'use strict'
// caldo's public API: validation, serdes, per-tick batching, async iterators.
// One native call per batch in each direction; storage lives in caldo-core.

const { EventEmitter } = require('node:events')
const { NativeLog, NativeConsumer } = require('./binding.js')

const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
const TYPE_ERRORS = new Set(['ERR_INVALID_ARG', 'ERR_INVALID_TOPIC', 'ERR_INVALID_PARTITION'])
const EMPTY_HEADERS = Object.freeze({})
const MAX_U32 = 0xffffffff
// Errors raised by checking a batch's records, before the engine writes any of them.
const REFUSED_BEFORE_WRITING = new Set(['ERR_MESSAGE_TOO_LARGE', 'ERR_INVALID_PARTITION', 'ERR_INVALID_ARG'])
// Appends up to this size (without 'always' durability) are written on the calling thread.
const SYNC_APPEND_BYTES = 1 << 20

function coded (code, message) {
  const err = TYPE_ERRORS.has(code) ? new TypeError(message) : new Error(message)
  err.code = code
  return err
}

// Native errors arrive as "[CODE] message".
function fromNative (err) {
  const m = /^\[(ERR_[A-Z_]+)\] ([\s\S]*)$/.exec(err && err.message)
  return m ? coded(m[1], m[2]) : err
}

function native (fn) {
  try {
    return fn()
  } catch (err) {
    throw fromNative(err)
  }
}

async function nativeAsync (promise) {
  try {
    return await promise
  } catch (err) {
    throw fromNative(err)
  }
}

const invalid = (message) => coded('ERR_INVALID_ARG', message)

function checkOptions (what, opts, allowed) {
  if (opts === undefined) return {}
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw invalid(`${what} must be an object`)
  }
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) {
      throw invalid(`${what} has an unknown option '${key}'; known: ${allowed.join(', ')}`)
    }
  }
  return opts
}

function checkInt (what, v, min, max) {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}, got ${String(v)}`)
  }
  return v
}

function checkTopic (name) {
  return checkName('ERR_INVALID_TOPIC', 'topic', name)
}

function checkSerde (what, s) {
  if (s === undefined) return null
  if (!s || typeof s.serialize !== 'function' || typeof s.deserialize !== 'function') {
    throw invalid(`${what} must be a serde: { serialize(v): Buffer, deserialize(b: Buffer) }`)
  }
  return s
}

const serde = Object.freeze({
  buffer: Object.freeze({ serialize: (b) => b, deserialize: (b) => b }),
  string: Object.freeze({
    serialize: (s) => Buffer.from(s, 'utf8'),
    deserialize: (b) => b.toString('utf8')
  }),
  json: Object.freeze({
    serialize: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
    deserialize: (b) => JSON.parse(b.toString('utf8'))
  })
})

function toBytes (what, v, s) {
  if (v === null) return null
  if (s) v = s.serialize(v)
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  throw invalid(s
    ? `${what}: the serde returned ${typeof v}, not a Buffer`
    : `${what} must be a Buffer, Uint8Array, string or null (or give the producer a serde), got ${v === undefined ? 'undefined' : typeof v}`)
}

const REC_KEYS = ['key', 'value', 'headers', 'partition', 'timestamp']

// One record, checked and turned into bytes; throws on bad input.
function encodeRecord (what, r, keySerde, valueSerde) {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw invalid(`${what} must be an object like { value }`)
  for (const k of Object.keys(r)) {
    if (!REC_KEYS.includes(k)) throw invalid(`${what} has an unknown field '${k}'; known: ${REC_KEYS.join(', ')}`)
  }
  if (r.value === undefined) throw invalid(`${what}.value is required (null is a tombstone)`)
  const key = r.key === undefined ? null : toBytes(`${what}.key`, r.key, keySerde)
  const value = toBytes(`${what}.value`, r.value, valueSerde)
  const partition = r.partition === undefined ? -1 : checkInt(`${what}.partition`, r.partition, 0, 2 ** 31 - 1)
  const timestamp = r.timestamp === undefined ? Date.now() : checkInt(`${what}.timestamp`, r.timestamp, 0, Number.MAX_SAFE_INTEGER)
  let headers = null
  if (r.headers !== undefined) {
    if (r.headers === null || typeof r.headers !== 'object') throw invalid(`${what}.headers must be an object`)
    headers = Object.entries(r.headers).map(([k, v]) => [Buffer.from(k, 'utf8'), toBytes(`${what}.headers.${k}`, v, null)])
  }
  return { key, value, headers, partition, timestamp }
}

// The native append layout: see NativeLog.append in src/lib.rs.
function encodeBatch (recs) {
  let size = 0
  for (const r of recs) {
    size += (r.key ? r.key.length : 0) + (r.value ? r.value.length : 0)
    if (r.headers) for (const [k, v] of r.headers) size += 8 + k.length + (v ? v.length : 0)
  }
  const data = Buffer.allocUnsafe(size)
  const meta = new Int32Array(recs.length * 4)
  const timestamps = new Float64Array(recs.length)
  let pos = 0
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]
    meta[i * 4] = r.partition
    meta[i * 4 + 1] = r.key ? r.key.length : -1
    meta[i * 4 + 2] = r.value ? r.value.length : -1
    meta[i * 4 + 3] = r.headers ? r.headers.length : 0
    timestamps[i] = r.timestamp
    if (r.key) { data.set(r.key, pos); pos += r.key.length }
    if (r.value) { data.set(r.value, pos); pos += r.value.length }
    if (r.headers) {
      for (const [k, v] of r.headers) {
        pos = data.writeUInt32LE(k.length, pos)
        data.set(k, pos); pos += k.length
        pos = data.writeInt32LE(v ? v.length : -1, pos)
        if (v) { data.set(v, pos); pos += v.length }
      }
    }
  }
  return { data, meta, timestamps }
}

class Producer {
  #log
  #key
  #value
  #queue = []
  #draining = null
  #rr = Math.floor(Math.random() * 1024)
  #closed = false

  constructor (log, opts) {
    opts = checkOptions('producer options', opts, ['key', 'value'])
    this.#log = log
    this.#key = checkSerde('key', opts.key)
    this.#value = checkSerde('value', opts.value)
  }

  send (topic, record) {
    return this.#enqueue(topic, [record], 'record', true)
  }

  sendBatch (topic, records) {
    if (!Array.isArray(records) || records.length === 0) {
      return Promise.reject(invalid('sendBatch takes a non-empty array of records'))
    }
    return this.#enqueue(topic, records, 'records', false)
  }

  #enqueue (topic, records, what, single) {
    try {
      if (this.#closed) throw coded('ERR_CLOSED', 'the producer is closed; create another with log.producer()')
      this.#log._check()
      checkTopic(topic)
      const recs = records.map((r, i) => encodeRecord(single ? what : `${what}[${i}]`, r, this.#key, this.#value))
      return new Promise((resolve, reject) => {
        this.#queue.push({ topic, recs, single, resolve, reject })
        // Everything sent in this tick, and while an append is in flight, goes down in one call.
        if (!this.#draining) this.#draining = new Promise((done) => queueMicrotask(() => this.#drain().then(done)))
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async #drain () {
    while (this.#queue.length) {
      const items = this.#queue
      this.#queue = []
      const byTopic = new Map()
      for (const it of items) {
        if (!byTopic.has(it.topic)) byTopic.set(it.topic, [])
        byTopic.get(it.topic).push(it)
      }
      for (const [topic, group] of byTopic) await this.#append(topic, group)
    }
    this.#draining = null
  }

  // One native call for the whole group of sends. A record refused by validation fails
  // the call before anything is written, so then each send is tried alone and only the
  // bad one fails; any other error fails them all (part may be written).
  async #append (topic, group) {
    const recs = group.length === 1 ? group[0].recs : group.flatMap((it) => it.recs)
    const { data, meta, timestamps } = encodeBatch(recs)
    let placed
    try {
      // A small append without fsync is a page-cache write: doing it here is faster
      // than a hop to a worker thread and back, and it halves cross-process latency.
      placed = this.#log._durability !== 'always' && data.length <= SYNC_APPEND_BYTES
        ? native(() => this.#log._native.appendNow(topic, data, meta, timestamps, this.#rr++ & MAX_U32))
        : await nativeAsync(this.#log._native.append(topic, data, meta, timestamps, this.#rr++ & MAX_U32))
    } catch (err) {
      if (group.length > 1 && REFUSED_BEFORE_WRITING.has(err.code)) {
        for (const it of group) await this.#append(topic, [it])
      } else for (const it of group) it.reject(err)
      return
    }
    let at = 0
    for (const it of group) {
      const out = it.recs.map((r) => {
        const md = { topic, partition: placed[at * 2], offset: placed[at * 2 + 1], timestamp: r.timestamp }
        at++
        return md
      })
      it.resolve(it.single ? out[0] : out)
    }
  }

  /** Resolves once every record sent so far is written (and synced, as durability says). */
  async flush () {
    while (this.#draining) await this.#draining
  }

  async close () {
    this.#closed = true
    await this.flush()
    this.#log._forget(this)
  }

  [asyncDispose] () { return this.close() }
}

const ASSIGN_KEYS = ['topic', 'partition', 'offset']
const CONSUMER_KEYS = ['assign', 'key', 'value', 'signal', 'groupId', 'topics', 'startFrom', 'autoCommit',
  'assignor', 'maxPollIntervalMs']
const ASSIGNORS = ['cooperative-sticky', 'range', 'roundrobin']
// How often (ms) a consumer handing out buffered messages looks for a new group generation.
const REBALANCE_CHECK_MS = 10

function startOf (what, offset) {
  if (offset === undefined || offset === 'latest') return -2
  if (offset === 'earliest') return -1
  return checkInt(what, offset, 0, Number.MAX_SAFE_INTEGER)
}

function checkName (code, what, name) {
  if (typeof name !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(name) || name === '.' || name === '..') {
    throw coded(code, `invalid ${what} name ${JSON.stringify(name)}: use 1 to 249 of a-z A-Z 0-9 . _ - (not '.' or '..')`)
  }
  return name
}

function checkTps (what, tps, withOffset) {
  if (!Array.isArray(tps)) throw invalid(`${what} takes an array of { topic, partition${withOffset ? ', offset' : ''} }`)
  return tps.map((tp, i) => {
    if (tp === null || typeof tp !== 'object') throw invalid(`${what}[${i}] must be { topic, partition${withOffset ? ', offset' : ''} }`)
    checkTopic(tp.topic)
    checkInt(`${what}[${i}].partition`, tp.partition, 0, MAX_U32)
    if (withOffset) checkInt(`${what}[${i}].offset`, tp.offset, 0, Number.MAX_SAFE_INTEGER)
    return tp
  })
}

function readHeaders (data, pos, count) {
  const out = {}
  for (let i = 0; i < count; i++) {
    const kl = data.readUInt32LE(pos); pos += 4
    const k = data.toString('utf8', pos, pos + kl); pos += kl
    const vl = data.readInt32LE(pos); pos += 4
    out[k] = vl < 0 ? null : data.subarray(pos, pos + vl)
    if (vl > 0) pos += vl
  }
  return out
}

// Group options, checked; null in manual mode.
function groupOptions (opts) {
  if (opts.groupId === undefined) {
    for (const k of ['topics', 'startFrom', 'autoCommit', 'assignor', 'maxPollIntervalMs']) {
      if (opts[k] !== undefined) throw invalid(`${k} needs a groupId`)
    }
    return null
  }
  if (opts.assign !== undefined) throw invalid('use either groupId + topics (a group) or assign (manual), not both')
  checkName('ERR_INVALID_GROUP', 'group', opts.groupId)
  if (!Array.isArray(opts.topics) || opts.topics.length === 0) throw invalid('a group consumer needs topics: [name, ...]')
  opts.topics.forEach(checkTopic)
  const startFrom = opts.startFrom === undefined ? 'latest' : opts.startFrom
  if (startFrom !== 'earliest' && startFrom !== 'latest') throw invalid("startFrom must be 'earliest' or 'latest'")
  const assignor = opts.assignor === undefined ? 'cooperative-sticky' : opts.assignor
  if (!ASSIGNORS.includes(assignor)) throw invalid(`assignor must be one of ${ASSIGNORS.join(', ')}`)
  let autoCommitMs = 1000
  const ac = opts.autoCommit
  if (ac === false) autoCommitMs = -1
  else if (ac !== undefined && ac !== true) {
    checkOptions('autoCommit', ac, ['intervalMs'])
    autoCommitMs = checkInt('autoCommit.intervalMs', ac.intervalMs, 0, 2 ** 31 - 1)
  }
  const maxPoll = opts.maxPollIntervalMs === undefined ? 0 : checkInt('maxPollIntervalMs', opts.maxPollIntervalMs, 1, 2 ** 31 - 1)
  return { group: opts.groupId, topics: [...new Set(opts.topics)], startFrom, assignor, autoCommitMs, maxPoll }
}

class Consumer extends EventEmitter {
  #log
  #reader
  #group
  #tps = []
  #key
  #value
  #buffer = []
  #at = 0
  // Messages handed out and not yet followed by a request for the next: not processed yet.
  #inHand = null
  #closed = false
  #pendingError = null
  #signal
  #onAbort
  #checkDue = false
  #checkTimer = null
  #asks = 0
  #asksSeen = 0
  #quietSince = 0
  #waiting = false
  #iterating = false
  #timer = null

  constructor (log, opts) {
    super()
    opts = checkOptions('consumer options', opts, CONSUMER_KEYS)
    const group = groupOptions(opts)
    let starts
    if (!group) {
      if (!Array.isArray(opts.assign) || opts.assign.length === 0) {
        throw invalid('consumer needs assign: [{ topic, partition, offset? }, ...], or groupId and topics')
      }
      const seen = new Set()
      starts = opts.assign.map((a, i) => {
        checkOptions(`assign[${i}]`, a, ASSIGN_KEYS)
        checkTopic(a.topic)
        checkInt(`assign[${i}].partition`, a.partition, 0, MAX_U32)
        const id = `${a.topic}/${a.partition}`
        if (seen.has(id)) throw invalid(`assign lists ${id} twice`)
        seen.add(id)
        return startOf(`assign[${i}].offset`, a.offset)
      })
    }
    this.#key = checkSerde('key', opts.key)
    this.#value = checkSerde('value', opts.value)
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    this.#log = log
    this.#group = group
    if (group) {
      this.#reader = native(() => NativeConsumer.join(log._native, group.group, group.topics, group.assignor, group.startFrom, group.autoCommitMs))
      if (group.maxPoll) {
        this.#quietSince = performance.now()
        this.#timer = setInterval(() => this.#checkPollInterval(), Math.max(10, group.maxPoll / 4))
        this.#timer.unref()
      }
    } else {
      this.#tps = opts.assign.map((a) => Object.freeze({ topic: a.topic, partition: a.partition }))
      this.#reader = native(() => new NativeConsumer(log._native, this.#tps.map((t) => t.topic), this.#tps.map((t) => t.partition), starts))
    }
    if (opts.signal) {
      this.#signal = opts.signal
      this.#onAbort = () => { this.close() }
      if (opts.signal.aborted) queueMicrotask(this.#onAbort)
      else opts.signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  #check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the consumer is closed; create another with log.consumer()')
  }

  #index (tp, what) {
    if (tp === null || typeof tp !== 'object') throw invalid(`${what} takes { topic, partition }`)
    const i = this.#tps.findIndex((t) => t.topic === tp.topic && t.partition === tp.partition)
    if (i < 0) throw coded('ERR_INVALID_PARTITION', `${tp.topic}/${tp.partition} is not assigned to this consumer`)
    return i
  }

  #decode (f) {
    const { data, meta, nums } = f
    const n = nums.length / 2
    const out = new Array(n)
    for (let i = 0, m = 0; i < n; i++, m += 7) {
      const tp = this.#tps[meta[m]]
      const kl = meta[m + 2]
      const vl = meta[m + 4]
      const hc = meta[m + 6]
      let key = kl < 0 ? null : data.subarray(meta[m + 1], meta[m + 1] + kl)
      let value = vl < 0 ? null : data.subarray(meta[m + 3], meta[m + 3] + vl)
      try {
        if (key !== null && this.#key) key = this.#key.deserialize(key)
        if (value !== null && this.#value) value = this.#value.deserialize(value)
      } catch (cause) {
        // Leave the position at the bad record so the caller can seek past it.
        const bad = coded('ERR_DESERIALIZE', `cannot deserialize ${tp.topic}/${tp.partition} offset ${nums[i * 2]}: ${cause.message}`)
        bad.cause = cause
        bad.topic = tp.topic
        bad.partition = tp.partition
        bad.offset = nums[i * 2]
        out.length = i
        this.#rewind(f, i)
        this.#buffer = out
        this.#at = 0
        this.#pendingError = bad
        return
      }
      out[i] = {
        topic: tp.topic,
        partition: tp.partition,
        offset: nums[i * 2],
        timestamp: nums[i * 2 + 1],
        key,
        value,
        headers: hc ? readHeaders(data, meta[m + 5], hc) : EMPTY_HEADERS
      }
    }
    this.#buffer = out
    this.#at = 0
  }

  // Puts each partition's cursor back to its first record at or after `from` in a fetch.
  #rewind (f, from) {
    const done = new Set()
    for (let i = from; i < f.nums.length / 2; i++) {
      const idx = f.meta[i * 7]
      if (!done.has(idx)) {
        done.add(idx)
        this.#reader.seek(idx, f.nums[i * 2])
      }
    }
  }

  // The first undelivered (and, with `inHand`, unprocessed) offset per assignment index.
  #undelivered (inHand) {
    const first = new Map()
    const note = (m) => {
      const idx = this.#index(m, 'position')
      if (!first.has(idx) || first.get(idx) > m.offset) first.set(idx, m.offset)
    }
    if (inHand && this.#inHand) this.#inHand.forEach(note)
    for (let i = this.#at; i < this.#buffer.length; i++) note(this.#buffer[i])
    return first
  }

  // Drops buffered messages (and the unprocessed ones in hand), moving cursors back to
  // them, so the native positions are exactly what was processed.
  #putBack () {
    for (const [idx, offset] of this.#undelivered(true)) this.#reader.seek(idx, offset)
    this.#buffer = []
    this.#at = 0
  }

  // Drops buffered, undelivered messages of assignment `idx`; returns the first one's offset or -1.
  #drop (idx) {
    let first = -1
    const keep = []
    for (let i = this.#at; i < this.#buffer.length; i++) {
      const m = this.#buffer[i]
      if (this.#tps[idx].topic === m.topic && this.#tps[idx].partition === m.partition) {
        if (first < 0) first = m.offset
      } else keep.push(m)
    }
    this.#buffer = keep
    this.#at = 0
    return first
  }

  #emitRebalance (change) {
    this.#tps = this.#reader.slots().map((t) => Object.freeze(t))
    this.emit('rebalance', change)
  }

  // Follows the group: revoked partitions are committed (auto-commit) and let go.
  #sync () {
    const change = native(() => this.#reader.sync())
    if (change) this.#emitRebalance(change)
  }

  // Runs every maxPollIntervalMs / 4: a consumer that neither waits for messages nor
  // asked for one since `#quietSince` is stuck in its handler.
  #checkPollInterval () {
    const now = performance.now()
    if (this.#waiting || this.#asks !== this.#asksSeen) {
      this.#asksSeen = this.#asks
      this.#quietSince = now
      return
    }
    if (this.#closed || now - this.#quietSince <= this.#group.maxPoll) return
    // The handler has held the last messages too long: let the group take the partitions.
    this.#buffer = []
    this.#at = 0
    this.#inHand = null
    try {
      const revoked = native(() => this.#reader.fence())
      if (revoked.length) this.#emitRebalance({ assigned: [], revoked })
    } catch (err) {
      // A timer has no caller to throw to: the next ask for messages gets it.
      this.#pendingError = err
    }
  }

  // Called each time the next message or batch is asked for.
  #asked () {
    // Closed while a handler worked: what it held is processed now; commit it and let go.
    if (this.#closed) native(() => this.#reader.releaseHeld(this.#inHand ? this.#nextOffsets(this.#inHand) : []))
    this.#inHand = null
    this.#asks++
    // Handing out a buffer in a group: look for a new generation every few ms (a
    // timer sets the flag), not per message, and put the buffer back if there is one.
    if (this.#checkDue) {
      this.#checkDue = false
      if (this.#at < this.#buffer.length) {
        if (this.#reader.rebalancing()) this.#putBack()
        else this.#scheduleCheck()
      }
    }
  }

  #scheduleCheck () {
    if (this.#checkTimer) return
    this.#checkTimer = setTimeout(() => { this.#checkTimer = null; this.#checkDue = true }, REBALANCE_CHECK_MS)
    this.#checkTimer.unref()
  }

  // Fetches into the buffer, sleeping on the log's wake-up word when there is nothing.
  async #fill (maxMessages, maxWaitMs) {
    const deadline = maxWaitMs === undefined ? Infinity : Date.now() + maxWaitMs
    this.#waiting = true
    try {
      for (;;) {
        if (this.#pendingError) {
          const err = this.#pendingError
          this.#pendingError = null
          throw err
        }
        if (this.#closed) return false
        const seq = this.#log._native.wakeSeq()
        if (this.#group && this.#reader.changed()) this.#sync()
        const f = native(() => this.#reader.fetch(maxMessages, 4 << 20))
        if (f) {
          this.#decode(f)
          if (this.#group) this.#scheduleCheck()
          if (this.#buffer.length) return true
          continue
        }
        const left = deadline - Date.now()
        if (left <= 0) return false
        // Sleep until an append, or until processed offsets are due for auto-commit.
        const due = this.#group ? this.#reader.commitDueMs() : -1
        await this.#log._native.wait(seq, Math.min(left, 60_000, due < 0 ? Infinity : due + 1))
      }
    } finally {
      this.#waiting = false
    }
  }

  async * [Symbol.asyncIterator] () {
    this.#check()
    this.#iterating = true
    try {
      for (;;) {
        this.#asked()
        if (this.#at >= this.#buffer.length && !(await this.#fill(2048))) return
        const m = this.#buffer[this.#at++]
        this.#inHand = [m]
        yield m
      }
    } finally {
      await this.#loopEnded()
    }
  }

  // The loop is over (break, return, throw, close): nothing is in the user's hands any more.
  async #loopEnded () {
    this.#iterating = false
    await this.close()
    this.#reader.releaseHeld([])
  }

  // The offset after the last of `msgs` in each partition.
  #nextOffsets (msgs) {
    const next = new Map()
    for (const m of msgs) {
      const k = `${m.partition}/${m.topic}`
      if (!next.has(k) || next.get(k).offset <= m.offset) next.set(k, { topic: m.topic, partition: m.partition, offset: m.offset + 1 })
    }
    return [...next.values()]
  }

  /** Yields arrays of messages as they arrive; with maxWaitMs, an empty array after that long idle. */
  async * batches (opts) {
    opts = checkOptions('batches options', opts, ['maxMessages', 'maxWaitMs'])
    const max = opts.maxMessages === undefined ? 1000 : checkInt('maxMessages', opts.maxMessages, 1, 1_000_000)
    const wait = opts.maxWaitMs === undefined ? undefined : checkInt('maxWaitMs', opts.maxWaitMs, 0, 2 ** 31 - 1)
    this.#check()
    this.#iterating = true
    try {
      for (;;) {
        this.#asked()
        if (this.#at >= this.#buffer.length) {
          const got = await this.#fill(max, wait)
          if (this.#closed) return
          if (!got) { yield []; continue }
        }
        const out = this.#at === 0 && this.#buffer.length <= max ? this.#buffer : this.#buffer.slice(this.#at, this.#at + max)
        this.#at += out.length
        this.#inHand = out
        yield out
      }
    } finally {
      await this.#loopEnded()
    }
  }

  seek (to) {
    this.#check()
    if (to === null || typeof to !== 'object') throw invalid('seek takes { topic, partition, offset }')
    const idx = this.#index(to, 'seek')
    const at = startOf('seek offset', to.offset === undefined ? NaN : to.offset)
    this.#drop(idx)
    native(() => this.#reader.seek(idx, at))
  }

  pause (tps) {
    this.#check()
    if (!Array.isArray(tps)) throw invalid('pause takes an array of { topic, partition }')
    for (const idx of tps.map((tp) => this.#index(tp, 'pause'))) {
      const first = this.#drop(idx)
      if (first >= 0) this.#reader.seek(idx, first)
      this.#reader.setPaused(idx, true)
    }
  }

  resume (tps) {
    this.#check()
    if (!Array.isArray(tps)) throw invalid('resume takes an array of { topic, partition }')
    for (const idx of tps.map((tp) => this.#index(tp, 'resume'))) this.#reader.setPaused(idx, false)
    this.#log._native.interrupt()
  }

  assignment () {
    return this.#tps.map((t) => ({ ...t }))
  }

  // Next offset to hand out per assignment index (buffered messages not counted as delivered).
  #delivered () {
    const pos = this.#reader.positions()
    for (const [idx, offset] of this.#undelivered(false)) pos[idx] = Math.min(pos[idx], offset)
    return pos
  }

  /** Commits the given offsets, or everything handed out so far. Group consumers only. */
  async commit (offsets) {
    this.#check()
    if (!this.#group) throw invalid('commit needs a group consumer (groupId); manual consumers keep their own positions')
    const list = offsets === undefined
      ? this.#delivered().map((offset, i) => ({ ...this.#tps[i], offset }))
      : checkTps('commit', offsets, true).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))
    native(() => this.#reader.commit(list))
  }

  /** The group's committed offsets for the partitions assigned here. */
  async committed () {
    this.#check()
    if (!this.#group) throw invalid('committed needs a group consumer (groupId)')
    return native(() => this.#reader.committed())
  }

  /** Next offset to be delivered and the high watermark, per assigned partition. */
  async lag () {
    this.#check()
    const pos = this.#delivered()
    const high = this.#reader.highWatermarks()
    return this.#tps.map((t, i) => ({ ...t, offset: pos[i], high: high[i], lag: high[i] - pos[i] }))
  }

  /** Commits what was processed (auto-commit), leaves the group at once, and ends the iterators.
   * Partitions whose messages a handler is still working on move once it asks for more. */
  async close () {
    if (this.#closed && !this.#log._has(this)) return
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#checkTimer) clearTimeout(this.#checkTimer)
    if (this.#signal) this.#signal.removeEventListener('abort', this.#onAbort)
    this.#log._forget(this)
    try {
      if (this.#group) {
        // A handler still working on messages keeps their partitions until it asks for more.
        const keep = this.#iterating && this.#inHand ? [...new Set(this.#inHand.map((m) => this.#index(m, 'close')))] : []
        this.#putBack()
        const revoked = native(() => this.#reader.leave(keep))
        if (revoked.length) this.emit('rebalance', { assigned: [], revoked })
        this.#tps = []
      }
      this.#buffer = []
      this.#reader.close()
    } finally {
      this.#log._native.interrupt()
    }
  }

  [asyncDispose] () { return this.close() }
}

const TOPIC_KEYS = ['partitions', 'segmentBytes', 'maxMessageBytes']

function topicInfo (t) {
  return {
    name: t.name,
    partitions: t.partitions.map((p) => ({ partition: p.partition, low: p.low, high: p.high })),
    config: { partitions: t.partitions.length, segmentBytes: t.segmentBytes, maxMessageBytes: t.maxMessageBytes }
  }
}

class Log {
  #native
  #durability
  #closed = false
  #clients = new Set()

  constructor (nativeLog, durability) {
    this.#native = nativeLog
    this.#durability = durability
  }

  get _native () { return this.#native }
  get _durability () { return this.#durability }
  _check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the log is closed; open it again with open(dir)')
  }

  _forget (c) { this.#clients.delete(c) }
  _has (c) { return this.#clients.has(c) }

  async createTopic (name, cfg) {
    this._check()
    checkTopic(name)
    cfg = checkOptions('topic config', cfg, TOPIC_KEYS)
    const partitions = cfg.partitions === undefined ? 1 : checkInt('partitions', cfg.partitions, 1, 10_000)
    const segmentBytes = cfg.segmentBytes === undefined ? 128 * 2 ** 20 : checkInt('segmentBytes', cfg.segmentBytes, 4096, 2 ** 30)
    const maxMessageBytes = cfg.maxMessageBytes === undefined ? 2 ** 20 : checkInt('maxMessageBytes', cfg.maxMessageBytes, 1, 256 * 2 ** 20)
    return topicInfo(await nativeAsync(this.#native.createTopic(name, partitions, segmentBytes, maxMessageBytes)))
  }

  async deleteTopic (name) {
    this._check()
    checkTopic(name)
    await nativeAsync(this.#native.deleteTopic(name))
  }

  /** Every topic with its partitions' low and high offsets; `{ internal: true }` adds __consumer_offsets. */
  async topics (opts) {
    this._check()
    opts = checkOptions('topics options', opts, ['internal'])
    if (opts.internal !== undefined && typeof opts.internal !== 'boolean') throw invalid('internal must be a boolean')
    return (await nativeAsync(this.#native.topics(opts.internal === true))).map(topicInfo)
  }

  /** Every group: live members (with pid) and their assignment, committed offsets and lag. */
  async groups () {
    this._check()
    const groups = await nativeAsync(this.#native.groups())
    return groups.map((g) => ({
      groupId: g.group,
      generation: g.generation,
      members: g.members.map((m) => ({ memberId: m.id, pid: m.pid, topics: m.topics, assignment: m.assignment })),
      offsets: g.offsets.map((o) => ({
        topic: o.topic,
        partition: o.partition,
        committed: o.committed < 0 ? null : o.committed,
        high: o.high,
        lag: o.high - (o.committed < 0 ? 0 : o.committed)
      }))
    }))
  }

  /** Rewinds or skips a stopped group: 'earliest', 'latest', or exact offsets. Refused while it has live members. */
  async setGroupOffsets (groupId, to) {
    this._check()
    checkName('ERR_INVALID_GROUP', 'group', groupId)
    if (to === 'earliest' || to === 'latest') return nativeAsync(this.#native.setGroupOffsets(groupId, to, []))
    if (!Array.isArray(to)) throw invalid("setGroupOffsets takes 'earliest', 'latest' or [{ topic, partition, offset }, ...]")
    const list = checkTps('offsets', to, true).map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))
    await nativeAsync(this.#native.setGroupOffsets(groupId, 'offsets', list))
  }

  producer (opts) {
    this._check()
    const p = new Producer(this, opts)
    this.#clients.add(p)
    return p
  }

  consumer (opts) {
    this._check()
    const c = new Consumer(this, opts)
    this.#clients.add(c)
    return c
  }

  async close () {
    if (this.#closed) return
    await Promise.all([...this.#clients].map((c) => c.close()))
    this.#closed = true
    await nativeAsync(this.#native.close())
  }

  [asyncDispose] () { return this.close() }
}

const DURABILITY = ['none', 'interval', 'always']

async function open (dir, opts) {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid('open(dir) takes a directory path')
  opts = checkOptions('open options', opts, ['durability', 'flushIntervalMs'])
  const durability = opts.durability === undefined ? 'interval' : opts.durability
  if (!DURABILITY.includes(durability)) throw invalid(`durability must be one of ${DURABILITY.join(', ')}`)
  const flush = opts.flushIntervalMs === undefined ? 1000 : checkInt('flushIntervalMs', opts.flushIntervalMs, 1, 3_600_000)
  return new Log(native(() => new NativeLog(dir, durability, flush)), durability)
}

module.exports = { open, serde, Log, Producer, Consumer }
