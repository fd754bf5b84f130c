'use strict'
// Every caldo error has a stable `code`. Native errors arrive already coded
// (and `ioCode` on I/O errors); this is the one list of codes.

const native = require('./native.js')

// The engine's codes, plus those the JS layer raises itself (ERR_CALDO_NATIVE: no
// addon could be loaded, thrown by lib/native.js before this list exists; ERR_CONNECT,
// ERR_UNSUPPORTED and ERR_KAFKA: the Kafka backend, lib/kafka).
const CODES = Object.freeze([...native.errorCodes(), 'ERR_DESERIALIZE', 'ERR_CALDO_NATIVE', 'ERR_CONNECT', 'ERR_UNSUPPORTED', 'ERR_KAFKA'])
// Bad-argument codes are TypeErrors: the engine says which.
const TYPE_CODES = new Set(native.typeErrorCodes())

// `err instanceof CaldoError` holds for every coded caldo error, TypeErrors included.
class CaldoError extends Error {
  constructor (code, message, props) {
    super(message)
    this.name = 'CaldoError'
    this.code = code
    if (props) Object.assign(this, props)
  }

  static [Symbol.hasInstance] (err) {
    return err instanceof Error && CODES.includes(err.code)
  }
}

function coded (code, message, props) {
  if (!TYPE_CODES.has(code)) return new CaldoError(code, message, props)
  const err = new TypeError(message)
  err.code = code
  if (props) Object.assign(err, props)
  return err
}

const invalid = (message, props) => coded('ERR_INVALID_ARG', message, props)

module.exports = { CODES, CaldoError, coded, invalid }
