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

// recs: [{ key, value, headers: [[nameBytes, valueBytes]] | null, partition (-1: none), timestamp }]
function encodeAppend (recs) {
  let size = 0
  for (const r of recs) {
    size += (r.key ? r.key.length : 0) + (r.value ? r.value.length : 0)
    if (r.headers) for (const [k, v] of r.headers) size += 8 + k.length + (v ? v.length : 0)
  }
  const data = Buffer.allocUnsafe(size)
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

const bytes = (data, meta, at) => meta[at + 1] < 0 ? null : data.subarray(meta[at], meta[at] + meta[at + 1])

// Record `i` of a fetch as a message of the partitions `tps` (indexed by slot),
// with raw key and value bytes.
function fetched (f, i, tps) {
  const { data, meta, nums } = f
  const m = i * F_STRIDE
  const hc = meta[m + F_HEADERS + 1]
  const tp = tps[meta[m + F_SLOT]]
  return {
    topic: tp.topic,
    partition: tp.partition,
    offset: nums[i * 2],
    timestamp: nums[i * 2 + 1],
    key: bytes(data, meta, m + F_KEY),
    value: bytes(data, meta, m + F_VALUE),
    headers: hc ? readHeaders(data, meta[m + F_HEADERS], hc) : EMPTY_HEADERS
  }
}

const fetchedCount = (f) => f.nums.length / 2
const fetchedSlot = (f, i) => f.meta[i * F_STRIDE + F_SLOT]

module.exports = { encodeAppend, fetched, fetchedCount, fetchedSlot, MAX_RECORD_BYTES }
