'use strict'
// The producer: sends in the same tick (and while an append is in flight) go
// down in one native call.

const { coded, invalid } = require('./errors.js')
const serdes = require('./serde.js')
const v = require('./validate.js')
const { encodeAppend, MAX_RECORD_BYTES } = require('./wire.js')
const { CLIENT, asyncDispose } = require('./client.js')

const MAX_U32 = 0xffffffff
// Errors raised by checking a batch's records, before the engine writes any of them.
const REFUSED_BEFORE_WRITING = new Set(['ERR_MESSAGE_TOO_LARGE', 'ERR_INVALID_PARTITION', 'ERR_INVALID_ARG'])
// Appends up to this size (without 'always' durability) are written on the calling thread.
const SYNC_APPEND_BYTES = 1 << 20
const REC_KEYS = ['key', 'value', 'headers', 'partition', 'timestamp']

// One record, its JS types checked, turned into bytes.
function encodeRecord (what, r, keySerde, valueSerde) {
  v.object(what, r)
  for (const k of Object.keys(r)) {
    if (!REC_KEYS.includes(k)) throw invalid(`${what} has an unknown field '${k}'; known: ${REC_KEYS.join(', ')}`)
  }
  if (r.value === undefined) throw invalid(`${what}.value is required (null is a tombstone)`)
  const key = r.key === undefined ? null : serdes.toBytes(`${what}.key`, r.key, keySerde)
  const value = serdes.toBytes(`${what}.value`, r.value, valueSerde)
  // Lengths travel as int32: refuse what no topic takes before encoding it.
  if ((key ? key.length : 0) + (value ? value.length : 0) > MAX_RECORD_BYTES) {
    throw coded('ERR_MESSAGE_TOO_LARGE', `${what} is over ${MAX_RECORD_BYTES} bytes; no topic takes records that large (maxMessageBytes)`)
  }
  // The partition travels as an int32; the engine checks it against the topic.
  const partition = r.partition === undefined ? -1 : v.int(`${what}.partition`, r.partition, 0, 2 ** 31 - 1)
  const timestamp = r.timestamp === undefined ? Date.now() : v.number(`${what}.timestamp`, r.timestamp)
  let headers = null
  if (r.headers !== undefined) {
    v.object(`${what}.headers`, r.headers)
    headers = Object.entries(r.headers).map(([k, h]) => [Buffer.from(k, 'utf8'), serdes.toBytes(`${what}.headers.${k}`, h, null)])
  }
  return { key, value, headers, partition, timestamp }
}

class Producer {
  #client
  #key
  #value
  #queue = []
  #draining = null
  #rr = Math.floor(Math.random() * 1024)
  #closed = false

  constructor (client, opts) {
    if (!client || client[CLIENT] !== true) throw invalid('create producers with log.producer()')
    v.readingArgs('producer options', () => {
      opts = v.options('producer options', opts, ['key', 'value'])
      this.#key = serdes.check('key', opts.key)
      this.#value = serdes.check('value', opts.value)
    })
    this.#client = client
  }

  send (topic, record) {
    return this.#enqueue(topic, () => [record], 'record', true)
  }

  sendBatch (topic, records) {
    return this.#enqueue(topic, () => {
      if (!Array.isArray(records) || records.length === 0) throw invalid('sendBatch takes a non-empty array of records')
      return Array.from(records)
    }, 'records', false)
  }

  #enqueue (topic, list, what, single) {
    try {
      if (this.#closed) throw coded('ERR_CLOSED', 'the producer is closed; create another with log.producer()')
      this.#client.check()
      v.string('topic', topic, 'ERR_INVALID_TOPIC')
      const recs = v.readingArgs(what, () => list().map((r, i) => encodeRecord(single ? what : `${what}[${i}]`, r, this.#key, this.#value)))
      return new Promise((resolve, reject) => {
        this.#queue.push({ topic, recs, single, resolve, reject })
        if (!this.#draining) this.#draining = new Promise((done) => queueMicrotask(() => this.#drain().then(done)))
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async #drain () {
    while (this.#queue.length) {
      const items = this.#queue
      this.#queue = []
      const byTopic = new Map()
      for (const it of items) {
        if (!byTopic.has(it.topic)) byTopic.set(it.topic, [])
        byTopic.get(it.topic).push(it)
      }
      for (const [topic, group] of byTopic) await this.#append(topic, group)
    }
    this.#draining = null
  }

  // One native call for the whole group of sends. A record refused by the
  // engine's checks fails the call before anything is written, so then each
  // send is tried alone and only the bad one fails; any other error fails
  // them all (part may be written).
  async #append (topic, group) {
    const recs = group.length === 1 ? group[0].recs : group.flatMap((it) => it.recs)
    const { data, meta, timestamps } = encodeAppend(recs)
    const native = this.#client.native
    let placed
    try {
      // A small append without fsync is a page-cache write: doing it here is
      // faster than a hop to a worker thread and back.
      placed = this.#client.durability !== 'always' && data.length <= SYNC_APPEND_BYTES
        ? native.appendNow(topic, data, meta, timestamps, this.#rr++ & MAX_U32)
        : await native.append(topic, data, meta, timestamps, this.#rr++ & MAX_U32)
    } catch (err) {
      if (group.length > 1 && REFUSED_BEFORE_WRITING.has(err.code)) {
        for (const it of group) await this.#append(topic, [it])
      } else for (const it of group) it.reject(err)
      return
    }
    let at = 0
    for (const it of group) {
      const out = it.recs.map((r) => {
        const md = { topic, partition: placed[at * 2], offset: placed[at * 2 + 1], timestamp: r.timestamp }
        at++
        return md
      })
      it.resolve(it.single ? out[0] : out)
    }
  }

  /** Resolves once every record sent so far is written (and synced, as durability says). */
  async flush () {
    while (this.#draining) await this.#draining
  }

  async close () {
    this.#closed = true
    await this.flush()
    this.#client.forget(this)
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { Producer }
