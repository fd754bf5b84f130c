'use strict'
// caldo's public API: validation, serdes, per-tick batching, async iterators.
// One native call per batch in each direction; storage lives in caldo-core.

const { NativeLog, NativeReader } = require('./binding.js')

const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
const TYPE_ERRORS = new Set(['ERR_INVALID_ARG', 'ERR_INVALID_TOPIC', 'ERR_INVALID_PARTITION'])
const EMPTY_HEADERS = Object.freeze({})
const MAX_U32 = 0xffffffff

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
  if (typeof name !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(name) || name === '.' || name === '..') {
    throw coded('ERR_INVALID_TOPIC',
      `invalid topic name ${JSON.stringify(name)}: use 1 to 249 of a-z A-Z 0-9 . _ - (not '.' or '..')`)
  }
  return name
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
      for (const [topic, group] of byTopic) {
        const recs = group.length === 1 ? group[0].recs : group.flatMap((it) => it.recs)
        const { data, meta, timestamps } = encodeBatch(recs)
        let placed
        try {
          placed = await nativeAsync(this.#log._native.append(topic, data, meta, timestamps, this.#rr++ & MAX_U32))
        } catch (err) {
          for (const it of group) it.reject(err)
          continue
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
    }
    this.#draining = null
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
const CONSUMER_KEYS = ['assign', 'key', 'value', 'signal', 'groupId', 'topics']

function startOf (what, offset) {
  if (offset === undefined || offset === 'latest') return -2
  if (offset === 'earliest') return -1
  return checkInt(what, offset, 0, Number.MAX_SAFE_INTEGER)
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

class Consumer {
  #log
  #reader
  #tps
  #key
  #value
  #buffer = []
  #at = 0
  #closed = false
  #signal
  #onAbort

  constructor (log, opts) {
    opts = checkOptions('consumer options', opts, CONSUMER_KEYS)
    if (opts.groupId !== undefined || opts.topics !== undefined) {
      throw invalid('consumer groups (groupId, topics) are not in this version yet; assign partitions with { assign: [{ topic, partition, offset }] }')
    }
    if (!Array.isArray(opts.assign) || opts.assign.length === 0) {
      throw invalid('consumer needs assign: [{ topic, partition, offset? }, ...]')
    }
    const seen = new Set()
    const starts = opts.assign.map((a, i) => {
      checkOptions(`assign[${i}]`, a, ASSIGN_KEYS)
      checkTopic(a.topic)
      checkInt(`assign[${i}].partition`, a.partition, 0, MAX_U32)
      const id = `${a.topic}/${a.partition}`
      if (seen.has(id)) throw invalid(`assign lists ${id} twice`)
      seen.add(id)
      return startOf(`assign[${i}].offset`, a.offset)
    })
    this.#key = checkSerde('key', opts.key)
    this.#value = checkSerde('value', opts.value)
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    this.#log = log
    this.#tps = opts.assign.map((a) => Object.freeze({ topic: a.topic, partition: a.partition }))
    this.#reader = native(() => new NativeReader(log._native, this.#tps.map((t) => t.topic), this.#tps.map((t) => t.partition), starts))
    if (opts.signal) {
      this.#signal = opts.signal
      this.#onAbort = () => { this.close() }
      if (opts.signal.aborted) this.#closed = true
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

  #pendingError = null

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

  // Drops buffered, undelivered messages of assignment `idx`, rewinding its cursor to them.
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

  // Fetches into the buffer, sleeping on the log's wake-up word when there is nothing.
  async #fill (maxMessages, maxWaitMs) {
    const deadline = maxWaitMs === undefined ? Infinity : Date.now() + maxWaitMs
    for (;;) {
      if (this.#pendingError) {
        const err = this.#pendingError
        this.#pendingError = null
        throw err
      }
      if (this.#closed) return false
      const seq = this.#log._native.wakeSeq()
      const f = native(() => this.#reader.fetch(maxMessages, 4 << 20))
      if (f) {
        this.#decode(f)
        if (this.#buffer.length) return true
        continue
      }
      const left = deadline - Date.now()
      if (left <= 0) return false
      await this.#log._native.wait(seq, Math.min(left, 60_000))
    }
  }

  async * [Symbol.asyncIterator] () {
    this.#check()
    try {
      for (;;) {
        if (this.#at >= this.#buffer.length && !(await this.#fill(2048))) return
        yield this.#buffer[this.#at++]
      }
    } finally {
      await this.close()
    }
  }

  /** Yields arrays of messages as they arrive; with maxWaitMs, an empty array after that long idle. */
  async * batches (opts) {
    opts = checkOptions('batches options', opts, ['maxMessages', 'maxWaitMs'])
    const max = opts.maxMessages === undefined ? 1000 : checkInt('maxMessages', opts.maxMessages, 1, 1_000_000)
    const wait = opts.maxWaitMs === undefined ? undefined : checkInt('maxWaitMs', opts.maxWaitMs, 0, 2 ** 31 - 1)
    this.#check()
    try {
      for (;;) {
        if (this.#at >= this.#buffer.length) {
          const got = await this.#fill(max, wait)
          if (this.#closed) return
          if (!got) { yield []; continue }
        }
        const out = this.#at === 0 && this.#buffer.length <= max ? this.#buffer : this.#buffer.slice(this.#at, this.#at + max)
        this.#at += out.length
        yield out
      }
    } finally {
      await this.close()
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

  /** Next offset to be delivered and the high watermark, per assigned partition. */
  lag () {
    this.#check()
    const pos = this.#reader.positions()
    for (let i = this.#at; i < this.#buffer.length; i++) {
      const m = this.#buffer[i]
      const idx = this.#index(m, 'lag')
      pos[idx] = Math.min(pos[idx], m.offset)
    }
    const high = this.#reader.highWatermarks()
    return Promise.resolve(this.#tps.map((t, i) => ({ ...t, offset: pos[i], high: high[i], lag: high[i] - pos[i] })))
  }

  async close () {
    if (this.#closed && !this.#log._has(this)) return
    this.#closed = true
    if (this.#signal) this.#signal.removeEventListener('abort', this.#onAbort)
    this.#log._forget(this)
    this.#log._native.interrupt()
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
  #closed = false
  #clients = new Set()

  constructor (nativeLog) {
    this.#native = nativeLog
  }

  get _native () { return this.#native }
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

  async topics () {
    this._check()
    return (await nativeAsync(this.#native.topics())).map(topicInfo)
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
  return new Log(native(() => new NativeLog(dir, durability, flush)))
}

module.exports = { open, serde, Log, Producer, Consumer }
