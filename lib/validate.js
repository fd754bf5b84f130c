'use strict'
// Checks of JS types and shapes only: the engine checks values (names, limits,
// enum values) and says what is wrong with them.

const { CODES, invalid, coded } = require('./errors.js')

// A short description of any value, safe for BigInt, Symbol and Proxies.
function describe (v) {
  switch (typeof v) {
    case 'string': return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v)
    case 'bigint': return `${v}n (a BigInt)`
    case 'symbol': return 'a Symbol'
    case 'function': return 'a function'
    case 'object': return v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object'
    default: return String(v)
  }
}

// Runs `fn`; an uncoded error thrown while reading the caller's arguments
// (a throwing getter, a Proxy trap, a serde) becomes ERR_INVALID_ARG.
function readingArgs (what, fn) {
  try {
    return fn()
  } catch (err) {
    if (err instanceof Error && CODES.includes(err.code)) throw err
    throw invalid(`${what}: reading the arguments threw: ${err instanceof Error ? err.message : describe(err)}`, { cause: err })
  }
}

function options (what, opts, allowed) {
  if (opts === undefined) return {}
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw invalid(`${what} must be an object, got ${describe(opts)}`)
  }
  const out = {}
  for (const key of Object.keys(opts)) {
    if (!allowed.includes(key)) throw invalid(`${what} has an unknown option '${key}'; known: ${allowed.join(', ')}`)
    if (opts[key] !== undefined) out[key] = opts[key]
  }
  return out
}

function typed (type, what, v, code = 'ERR_INVALID_ARG') {
  if (typeof v !== type) throw coded(code, `${what} must be a ${type}, got ${describe(v)}`)
  return v
}

const string = (what, v, code) => typed('string', what, v, code)
const number = (what, v) => typed('number', what, v)
const boolean = (what, v) => typed('boolean', what, v)

// Numbers the JS layer itself uses (timers, batch sizes).
function int (what, v, min, max) {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}, got ${describe(v)}`)
  }
  return v
}

// A dense copy: holes in a sparse array become undefined, and are checked as such.
function array (what, v) {
  if (!Array.isArray(v)) throw invalid(`${what} must be an array, got ${describe(v)}`)
  return Array.from(v)
}

function object (what, v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${what} must be an object, got ${describe(v)}`)
  return v
}

// { topic, partition } with JS types checked; values are the engine's to check.
function topicPartition (what, tp) {
  object(what, tp)
  return { topic: string(`${what}.topic`, tp.topic, 'ERR_INVALID_TOPIC'), partition: number(`${what}.partition`, tp.partition) }
}

function topicPartitionOffset (what, tp) {
  const out = topicPartition(what, tp)
  out.offset = number(`${what}.offset`, tp.offset)
  return out
}

// An offset, or 'earliest' / 'latest'.
function position (what, v) {
  if (typeof v !== 'number' && typeof v !== 'string') {
    throw invalid(`${what} must be an offset or 'earliest' / 'latest', got ${describe(v)}`)
  }
  return v
}

module.exports = { describe, readingArgs, options, string, number, boolean, int, array, object, topicPartition, topicPartitionOffset, position }
