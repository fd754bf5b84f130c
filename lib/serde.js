'use strict'
// Serdes turn keys and values into bytes and back.

const { invalid } = require('./errors.js')
const { describe } = require('./validate.js')

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

function check (what, s) {
  if (s === undefined) return null
  if (!s || typeof s.serialize !== 'function' || typeof s.deserialize !== 'function') {
    throw invalid(`${what} must be a serde: { serialize(v): Buffer, deserialize(b: Buffer) }, got ${describe(s)}`)
  }
  return s
}

// Bytes for a key, value or header: null stays null.
function toBytes (what, v, s) {
  if (v === null) return null
  if (s) {
    try {
      v = s.serialize(v)
    } catch (cause) {
      throw invalid(`${what}: the serde could not serialize it: ${cause instanceof Error ? cause.message : describe(cause)}`, { cause })
    }
  }
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  throw invalid(s
    ? `${what}: the serde returned ${describe(v)}, not a Buffer`
    : `${what} must be a Buffer, Uint8Array, string or null (or give the producer a serde), got ${describe(v)}`)
}

module.exports = { serde, check, toBytes }
