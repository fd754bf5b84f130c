'use strict'
// MessageBatch: a batch of fetched messages read lazily, field by field, from the
// fetch's one buffer (`consumer.batches({ view: true })`). Nothing is built per
// message until it is asked for; key(i) and value(i) are Buffers over that buffer
// (through the consumer's serdes when it has them).

const { coded, invalid } = require('./errors.js')
const v = require('./validate.js')

/** The error for a record `m` ({ topic, partition, offset }) its serde cannot read; `then` says what to do. */
function deserializeError (cause, m, then) {
  return coded('ERR_DESERIALIZE', `cannot deserialize ${m.topic}/${m.partition} offset ${m.offset}: ${cause instanceof Error ? cause.message : v.describe(cause)}; ${then}`,
    { cause, topic: m.topic, partition: m.partition, offset: m.offset })
}

class MessageBatch {
  #fetch
  #order
  #from
  #length
  #tps
  #key
  #value

  // Records `from` .. `from + length` of `fetch` in hand-out order (`order`: indices, or null for all in order).
  constructor (fetch, order, from, length, tps, key, value) {
    this.#fetch = fetch
    this.#order = order
    this.#from = from
    this.#length = length
    this.#tps = tps
    this.#key = key
    this.#value = value
  }

  get length () { return this.#length }

  // The fetch's index of message `i`, checked.
  #at (i, what) {
    if (!Number.isInteger(i) || i < 0 || i >= this.#length) {
      throw invalid(`${what}(i) needs an index from 0 to length - 1 (${this.#length - 1}), got ${v.describe(i)}`)
    }
    const k = this.#from + i
    return this.#order ? this.#order[k] : k
  }

  // (Each method checks `i` before it touches the fetch: the empty view has none.)
  topic (i) {
    const k = this.#at(i, 'topic')
    return this.#tps[this.#fetch.slot(k)].topic
  }

  partition (i) {
    const k = this.#at(i, 'partition')
    return this.#tps[this.#fetch.slot(k)].partition
  }

  offset (i) {
    const k = this.#at(i, 'offset')
    return this.#fetch.offset(k)
  }

  timestamp (i) {
    const k = this.#at(i, 'timestamp')
    return this.#fetch.timestamp(k)
  }

  headers (i) {
    const k = this.#at(i, 'headers')
    return this.#fetch.headers(k)
  }

  key (i) {
    const k = this.#at(i, 'key')
    return this.#deserialized(this.#key, this.#fetch.key(k), k)
  }

  value (i) {
    const k = this.#at(i, 'value')
    return this.#deserialized(this.#value, this.#fetch.value(k), k)
  }

  #deserialized (serde, bytes, k) {
    if (bytes === null || !serde) return bytes
    try {
      return serde.deserialize(bytes)
    } catch (cause) {
      const tp = this.#tps[this.#fetch.slot(k)]
      throw deserializeError(cause, { topic: tp.topic, partition: tp.partition, offset: this.#fetch.offset(k) },
        'the batch counts as handed out: skip the record or stop')
    }
  }

  /** Message `i` as an object, as batches() without `view` gives it. */
  message (i) {
    const k = this.#at(i, 'message')
    const m = this.#fetch.message(k, this.#tps)
    m.key = this.#deserialized(this.#key, m.key, k)
    m.value = this.#deserialized(this.#value, m.value, k)
    return m
  }

  * [Symbol.iterator] () {
    for (let i = 0; i < this.#length; i++) yield this.message(i)
  }
}

// What a batches({ view: true, maxWaitMs }) loop gets after that long with nothing.
MessageBatch.EMPTY = Object.freeze(new MessageBatch(null, null, 0, 0, [], null, null))

module.exports = { MessageBatch, deserializeError }
