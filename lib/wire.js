'use strict'
// The packed layout records cross the native boundary in (see src/wire.rs,
// which hands over the same named offsets): one native call per batch.

const native = require('./native.js')

const L = native.wireLayout()
const A_STRIDE = L.appendStride
const A_PARTITION = L.appendPartition
const A_KEY_LEN = L.appendKeyLen
const A_VALUE_LEN = L.appendValueLen
const A_HEADERS = L.appendHeaders
const F_STRIDE = L.fetchStride
const F_SLOT = L.fetchSlot
const F_KEY = L.fetchKey
const F_VALUE = L.fetchValue
const F_HEADERS = L.fetchHeaders
const F_HEADER = L.fetchHeader
const F_SKIPPED = L.fetchSkipped
const F_RESETS = L.fetchResets
const EMPTY_HEADERS = Object.freeze({})
// The largest record any topic takes (the engine's limit of maxMessageBytes).
const MAX_RECORD_BYTES = L.maxRecordBytes

// An append's metadata: its own arrays, for an append that runs on another thread.
const appendArrays = (n) => ({ meta: new Int32Array(n * A_STRIDE), timestamps: new Float64Array(n) })

// The arrays of appends the engine runs on the calling thread, reused, with `placed`
// for the [partition, offset] of each record: views over memory off V8's heap. V8 keeps
// typed arrays of up to 64 bytes on its heap, and moves one out (an allocation and a
// copy) each time native code reads it, which was a one-record send's largest cost.
class AppendScratch {
  static MAX_RECORDS = 1024
  #meta = new ArrayBuffer(0)
  #timestamps = new ArrayBuffer(0)
  #placed = new ArrayBuffer(0)
  // The views of the last call: sends of one record each ask for the same ones.
  #views = null

  arrays (n) {
    if (n > AppendScratch.MAX_RECORDS) return { ...appendArrays(n), placed: new Float64Array(n * 2) }
    if (this.#views !== null && this.#views.timestamps.length === n) return this.#views
    if (this.#timestamps.byteLength < n * 8) {
      // Twice what is asked, so that sends growing a record at a time do not reallocate each time.
      const room = Math.min(AppendScratch.MAX_RECORDS, Math.max(16, n * 2))
      this.#meta = new ArrayBuffer(room * A_STRIDE * 4)
      this.#timestamps = new ArrayBuffer(room * 8)
      this.#placed = new ArrayBuffer(room * 16)
    }
    this.#views = { meta: new Int32Array(this.#meta, 0, n * A_STRIDE), timestamps: new Float64Array(this.#timestamps, 0, n), placed: new Float64Array(this.#placed, 0, n * 2), data: null }
    return this.#views
  }
}

// `lists`: the producer's Records (keys, values, and partitions, timestamps and headers
// by record), packed in order; `alloc(size)` gives the buffer the bytes go into, then
// `arrays(count)` the metadata's (`appendArrays`, or an `AppendScratch`'s).
function encodeAppend (lists, alloc, arrays) {
  let size = 0
  let count = 0
  for (const recs of lists) {
    count += recs.length
    for (let j = 0; j < recs.length; j++) {
      const key = recs.keys[j]
      const value = recs.values[j]
      size += (key ? key.length : 0) + (value ? value.length : 0)
      const headers = recs.headersOf(j)
      if (headers) for (const [k, v] of headers) size += 8 + k.length + (v ? v.length : 0)
    }
  }
  const data = alloc(size)
  const out = arrays(count)
  const { meta, timestamps } = out
  let pos = 0
  let i = 0
  for (const recs of lists) {
    for (let j = 0; j < recs.length; j++, i++) {
      const key = recs.keys[j]
      const value = recs.values[j]
      const headers = recs.headersOf(j)
      const m = i * A_STRIDE
      meta[m + A_PARTITION] = recs.partition(j)
      meta[m + A_KEY_LEN] = key ? key.length : -1
      meta[m + A_VALUE_LEN] = value ? value.length : -1
      meta[m + A_HEADERS] = headers ? headers.length : 0
      timestamps[i] = recs.timestamp(j)
      if (key) { data.set(key, pos); pos += key.length }
      if (value) { data.set(value, pos); pos += value.length }
      if (headers) {
        for (const [k, v] of headers) {
          pos = data.writeUInt32LE(k.length, pos)
          data.set(k, pos); pos += k.length
          pos = data.writeInt32LE(v ? v.length : -1, pos)
          if (v) { data.set(v, pos); pos += v.length }
        }
      }
    }
  }
  out.data = data
  return out
}

// Fetched bytes handed out as Buffers: a Uint8Array subclass whose prototype chain is
// Buffer's (as Node's own Buffers are built), made with one constructor call, a
// fraction of the cost of `buffer.subarray()`, which looks up the species each time.
class Bytes extends Uint8Array {}
Object.setPrototypeOf(Bytes.prototype, Buffer.prototype)
Object.defineProperty(Bytes.prototype, 'constructor', { value: Buffer, writable: true, configurable: true })

// One fetch's records, laid out in one Buffer as src/wire.rs says, read in place.
class Fetch {
  constructor (buf) {
    const ab = buf.buffer
    const count = buf.readUInt32LE(0)
    const metaLen = buf.readUInt32LE(4)
    const flags = buf.readUInt32LE(8)
    const nums = buf.byteOffset + F_HEADER
    const meta = nums + count * 16
    this.count = count
    /** Positions moved past skipped records (markers, aborted ones). */
    this.skipped = (flags & F_SKIPPED) !== 0
    /** Some positions fell below the log start: the reader's takeResets() says which. */
    this.resets = (flags & F_RESETS) !== 0
    this.nums = new Float64Array(ab, nums, count * 2)
    this.meta = new Int32Array(ab, meta, metaLen)
    this.ab = ab
    this.base = meta + metaLen * 4
    this.data = new Bytes(ab, this.base, buf.byteOffset + buf.length - this.base)
  }

  slot (i) { return this.meta[i * F_STRIDE + F_SLOT] }
  offset (i) { return this.nums[i * 2] }
  timestamp (i) { return this.nums[i * 2 + 1] }

  // The `at` bytes field (key or value) of record `i`: a Buffer over the fetch, or null.
  #bytes (i, at) {
    const m = i * F_STRIDE + at
    const len = this.meta[m + 1]
    return len < 0 ? null : new Bytes(this.ab, this.base + this.meta[m], len)
  }

  key (i) { return this.#bytes(i, F_KEY) }
  value (i) { return this.#bytes(i, F_VALUE) }

  headers (i) {
    const m = i * F_STRIDE + F_HEADERS
    const count = this.meta[m + 1]
    if (count === 0) return EMPTY_HEADERS
    const data = this.data
    let pos = this.meta[m]
    const out = {}
    for (let h = 0; h < count; h++) {
      const kl = data.readUInt32LE(pos); pos += 4
      const k = data.toString('utf8', pos, pos + kl); pos += kl
      const vl = data.readInt32LE(pos); pos += 4
      out[k] = vl < 0 ? null : new Bytes(this.ab, this.base + pos, vl)
      if (vl > 0) pos += vl
    }
    return out
  }

  // Record `i` as a message of the partitions `tps` (indexed by slot), with raw key and value bytes.
  message (i, tps) {
    const tp = tps[this.slot(i)]
    return {
      topic: tp.topic,
      partition: tp.partition,
      offset: this.nums[i * 2],
      timestamp: this.nums[i * 2 + 1],
      key: this.key(i),
      value: this.value(i),
      headers: this.headers(i)
    }
  }
}

module.exports = { encodeAppend, appendArrays, AppendScratch, Fetch, MAX_RECORD_BYTES }
