'use strict'
// What a Log hands its producers and consumers: the native handle, its
// settings, and its bookkeeping. Marked with a module-private Symbol, so that
// only a Log can create clients.

const CLIENT = Symbol('caldo client')
// A consumer's hook for sendOffsets: hands its native reader and progress to a producer.
const TXN_OFFSETS = Symbol('caldo sendOffsets')
// Emitted by a consumer whose positions moved past skipped records (markers, aborted ones)
// with nothing to hand out: a table's ready() may be reached.
const SKIPPED = Symbol('caldo skipped')
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

module.exports = { CLIENT, TXN_OFFSETS, SKIPPED, asyncDispose }
