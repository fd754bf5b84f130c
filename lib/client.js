'use strict'
// What a Log hands its producers and consumers: the native handle, its
// settings, and its bookkeeping. Marked with a module-private Symbol, so that
// only a Log can create clients.

const CLIENT = Symbol('caldo client')
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

module.exports = { CLIENT, asyncDispose }
