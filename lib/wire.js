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
const EMPTY_HEADERS = Object.freeze({})
// The largest record any topic takes (the engine's limit of maxMessageBytes).
const MAX_RECORD_BYTES = L.maxRecordBytes

// recs: [{ key, value, headers: [[nameBytes, valueBytes]] | null, partition (-1: none), timestamp }];
// `alloc(size)` gives the buffer the bytes go into.
function encodeAppend (recs, alloc) {
  let size = 0
  for (const r of recs) {
    size += (r.key ? r.key.length : 0) + (r.value ? r.value.length : 0)
    if (r.headers) for (const [k, v] of r.headers) size += 8 + k.length + (v ? v.length : 0)
  }
  const data = alloc(size)
  const meta = new Int32Array(recs.length * A_STRIDE)
  const timestamps = new Float64Array(recs.length)
  let pos = 0
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]
    const m = i * A_STRIDE
    meta[m + A_PARTITION] = r.partition
    meta[m + A_KEY_LEN] = r.key ? r.key.length : -1
    meta[m + A_VALUE_LEN] = r.value ? r.value.length : -1
    meta[m + A_HEADERS] = r.headers ? r.headers.length : 0
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

// Fetched bytes handed out as Buffers: a Uint8Array subclass whose prototype chain is
// Buffer's (as Node's own Buffers are built), made with one constructor call, a
// fraction of the cost of `buffer.subarray()`, which looks up the species each time.
class Bytes extends Uint8Array {}
Object.setPrototypeOf(Bytes.prototype, Buffer.prototype)
Object.defineProperty(Bytes.prototype, 'constructor', { value: Buffer, writable: true, configurable: true })

// One fetch's records, laid out as src/wire.rs says, read in place.
class Fetch {
  constructor (f) {
    this.data = f.data
    this.meta = f.meta
    this.nums = f.nums
    this.ab = f.data.buffer
    this.base = f.data.byteOffset
    this.count = f.nums.length / 2
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

module.exports = { encodeAppend, Fetch, MAX_RECORD_BYTES }
