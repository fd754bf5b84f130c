'use strict'
// The Kafka client's errors as caldo errors: a caldo code, a message that says what
// happened, and the client's error kept as the cause.

const { coded } = require('../errors.js')

// Kafka's protocol error names (the client's `apiId`) with a caldo code of their own.
const BY_API_ID = {
  UNKNOWN_TOPIC_OR_PARTITION: 'ERR_UNKNOWN_TOPIC',
  UNKNOWN_TOPIC_ID: 'ERR_UNKNOWN_TOPIC',
  TOPIC_ALREADY_EXISTS: 'ERR_TOPIC_EXISTS',
  INVALID_TOPIC_EXCEPTION: 'ERR_INVALID_TOPIC',
  MESSAGE_TOO_LARGE: 'ERR_MESSAGE_TOO_LARGE',
  RECORD_LIST_TOO_LARGE: 'ERR_MESSAGE_TOO_LARGE',
  INVALID_PARTITIONS: 'ERR_INVALID_ARG',
  INVALID_REPLICATION_FACTOR: 'ERR_INVALID_ARG',
  INVALID_CONFIG: 'ERR_INVALID_ARG',
  POLICY_VIOLATION: 'ERR_INVALID_ARG',
  INVALID_RECORD: 'ERR_INVALID_ARG',
  CORRUPT_MESSAGE: 'ERR_CORRUPT',
  OFFSET_OUT_OF_RANGE: 'ERR_OFFSET_OUT_OF_RANGE',
  GROUP_ID_NOT_FOUND: 'ERR_UNKNOWN_GROUP',
  NON_EMPTY_GROUP: 'ERR_GROUP_ACTIVE',
  INVALID_GROUP_ID: 'ERR_INVALID_GROUP',
  PRODUCER_FENCED: 'ERR_FENCED',
  INVALID_PRODUCER_EPOCH: 'ERR_FENCED',
  FENCED_INSTANCE_ID: 'ERR_FENCED',
  ILLEGAL_GENERATION: 'ERR_FENCED',
  UNKNOWN_MEMBER_ID: 'ERR_FENCED',
  INVALID_TXN_STATE: 'ERR_INVALID_TXN_STATE',
  TRANSACTIONAL_ID_NOT_FOUND: 'ERR_INVALID_TXN_STATE'
}

// The innermost protocol error of an error tree (the client nests retries in MultipleErrors).
function protocolError (err) {
  if (!err || typeof err !== 'object') return null
  if (err.apiId) return err
  return typeof err.findBy === 'function' ? err.findBy('code', 'PLT_KFK_PROTOCOL') : null
}

function networkError (err) {
  if (!err || typeof err !== 'object') return false
  if (err.code === 'PLT_KFK_NETWORK' || err.code === 'PLT_KFK_TIMEOUT') return true
  return typeof err.findBy === 'function' && !!(err.findBy('code', 'PLT_KFK_NETWORK') || err.findBy('code', 'PLT_KFK_TIMEOUT'))
}

// The most specific message the client has: the broker's own words when it sent some.
function detail (err) {
  const p = protocolError(err)
  if (p) return `${p.apiId}${p.message ? ': ' + p.message : ''}`
  const inner = err?.errors?.[err.errors.length - 1]
  return inner?.message ? `${err.message} (${inner.message})` : (err?.message ?? String(err))
}

/** `err` from the Kafka client, while doing `what`, as a caldo error (caldo errors pass through). */
function fromKafka (err, what, brokers) {
  if (err && typeof err.code === 'string' && err.code.startsWith('ERR_')) return err
  // The client reports an unknown topic in its metadata lookups as a plain message.
  const unknown = err?.code === 'PLT_KFK_USER' && /^Unknown topic (.*)\.$/.exec(err.message)
  if (unknown) return coded('ERR_UNKNOWN_TOPIC', `${what}: unknown topic '${unknown[1]}': create it with createTopic first`, { cause: err })
  const p = protocolError(err)
  const code = p ? BY_API_ID[p.apiId] : undefined
  if (code) return coded(code, `${what}: Kafka said ${detail(err)}`, { cause: err })
  if (networkError(err)) {
    return coded('ERR_CONNECT', `${what}: cannot reach the Kafka cluster at ${brokers} (${detail(err)}); check that the brokers run and that the address is right`, { cause: err })
  }
  return coded('ERR_KAFKA', `${what}: the Kafka client failed: ${detail(err)}`, { cause: err })
}

const unsupported = (option, why) => coded('ERR_UNSUPPORTED', `${option} is not supported on Kafka: ${why}`, { option })

module.exports = { fromKafka, unsupported, protocolError }
