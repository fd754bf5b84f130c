'use strict'
// The producer: sends in the same tick (and while an append is in flight) go
// down in one native call. Idempotent always (the engine numbers its batches);
// with a transactionalId, its sends go inside transaction(), which commits on
// resolve and aborts on throw.

const native = require('./native.js')
const { coded, invalid } = require('./errors.js')
const serdes = require('./serde.js')
const v = require('./validate.js')
const { encodeAppend, appendArrays, AppendScratch, MAX_RECORD_BYTES } = require('./wire.js')
const { CLIENT, TXN_OFFSETS, asyncDispose } = require('./client.js')

const MAX_U32 = 0xffffffff
// Errors raised by checking a batch's records, before the engine writes any of them.
const REFUSED_BEFORE_WRITING = new Set(['ERR_MESSAGE_TOO_LARGE', 'ERR_INVALID_PARTITION', 'ERR_INVALID_ARG'])
// Appends up to this size (without 'always' durability) are written on the calling thread.
const SYNC_APPEND_BYTES = 1 << 20
const REC_KEYS = ['key', 'value', 'headers', 'partition', 'timestamp']
const SETTLED = Promise.resolve()

// The names a record's fields go by in error messages.
function labelsOf (what) {
  return LABELS[what] ?? { what, key: `${what}.key`, value: `${what}.value`, partition: `${what}.partition`, timestamp: `${what}.timestamp`, headers: `${what}.headers` }
}
// Those of send() and sendBatch(), made once: a send of one record would pay for five strings.
const LABELS = { __proto__: null }
LABELS.record = labelsOf('record')
LABELS.records = labelsOf('records')

// A send's records, checked and turned into bytes, column by column: an object per
// record was an eighth of a batch's time. Partitions, timestamps and headers get their
// column only when a record has one.
class Records {
  constructor (n, now) {
    this.length = n
    this.keys = new Array(n)
    this.values = new Array(n)
    this.partitions = null
    this.timestamps = null
    this.headers = null
    this.now = now
  }

  /** Record i's partition, -1 when the engine picks it. */
  partition (i) { return this.partitions === null ? -1 : this.partitions[i] }
  timestamp (i) { return this.timestamps === null ? this.now : this.timestamps[i] }
  /** Record i's headers as [[nameBytes, valueBytes | null]], or null. */
  headersOf (i) { return this.headers === null ? null : this.headers[i] }
}

// Record `r`, its JS types checked, into row `i` of `out`.
function encodeRecord (l, r, keySerde, valueSerde, out, i) {
  v.object(l.what, r)
  // for-in, not Object.keys(): no array allocated per record.
  for (const k in r) {
    if (k !== 'value' && k !== 'key' && k !== 'headers' && k !== 'partition' && k !== 'timestamp' && Object.hasOwn(r, k)) {
      throw invalid(`${l.what} has an unknown field '${k}'; known: ${REC_KEYS.join(', ')}`)
    }
  }
  if (r.value === undefined) throw invalid(`${l.value} is required (null is a tombstone)`)
  const key = r.key === undefined || r.key === null ? null : serdes.toBytes(l.key, r.key, keySerde)
  const value = serdes.toBytes(l.value, r.value, valueSerde)
  // Lengths travel as int32: refuse what no topic takes before encoding it.
  if ((key ? key.length : 0) + (value ? value.length : 0) > MAX_RECORD_BYTES) {
    throw coded('ERR_MESSAGE_TOO_LARGE', `${l.what} is over ${MAX_RECORD_BYTES} bytes; no topic takes records that large (maxMessageBytes)`)
  }
  out.keys[i] = key
  out.values[i] = value
  // The partition travels as an int32; the engine checks it against the topic.
  if (r.partition !== undefined) {
    const partition = v.int(l.partition, r.partition, 0, 2 ** 31 - 1)
    ;(out.partitions ??= new Array(out.length).fill(-1))[i] = partition
  }
  if (r.timestamp !== undefined) {
    const timestamp = v.number(l.timestamp, r.timestamp)
    ;(out.timestamps ??= new Array(out.length).fill(out.now))[i] = timestamp
  }
  if (r.headers !== undefined) {
    v.object(l.headers, r.headers)
    const headers = Object.entries(r.headers).map(([k, h]) => [Buffer.from(k, 'utf8'), serdes.toBytes(`${l.headers}.${k}`, h, null)])
    ;(out.headers ??= new Array(out.length).fill(null))[i] = headers
  }
}

// A send's records, encoded with one clock read. A refused record of a batch is encoded
// again under its own label, records[i], to say which one: labels per record cost time.
function encodeRecords (what, list, single, keySerde, valueSerde) {
  const l = labelsOf(what)
  const out = new Records(list.length, Date.now())
  for (let i = 0; i < list.length; i++) {
    try {
      encodeRecord(l, list[i], keySerde, valueSerde, out, i)
    } catch (err) {
      if (single) throw err
      encodeRecord(labelsOf(`${what}[${i}]`), list[i], keySerde, valueSerde, out, i)
      throw err
    }
  }
  return out
}

// The buffers appends are encoded into, reused: fresh memory for each large append
// costs page faults that are most of a 64 KiB record's copy. An append holds its buffer
// until the engine is done with it (several may be in flight); a few are kept, none huge.
class Buffers {
  static KEEP = 4
  static MAX_BYTES = 4 << 20
  #free = []

  take (size) {
    const i = this.#free.findIndex((b) => b.length >= size)
    if (i >= 0) {
      const buffer = this.#free[i]
      this.#free[i] = this.#free[this.#free.length - 1]
      this.#free.pop()
      return buffer
    }
    return Buffer.allocUnsafeSlow(Math.max(size, 64 << 10))
  }

  give (buffer) {
    if (buffer && buffer.length <= Buffers.MAX_BYTES && this.#free.length < Buffers.KEEP) this.#free.push(buffer)
  }
}

const txnState = (message) => coded('ERR_INVALID_TXN_STATE', message)

// A producer's sends, for either backend: those of one tick (and those made while a
// write is in flight) go to `write(items)` together, each item a send's
// { topic, recs (its Records), single, resolve, reject }. `write` returns a promise only
// if it has to wait: one done on this thread costs no async frame. `check()` runs before
// a send is taken.
class SendQueue {
  #items = []
  #draining = false
  #flushed = []
  #check
  #write
  #key
  #value

  constructor ({ check, write, key, value }) {
    this.#check = check
    this.#write = write
    this.#key = key
    this.#value = value
  }

  send (topic, record) {
    return this.#add(topic, record, 'record', true)
  }

  sendBatch (topic, records) {
    return this.#add(topic, records, 'records', false)
  }

  #add (topic, records, what, single) {
    try {
      this.#check()
      v.string('topic', topic, 'ERR_INVALID_TOPIC')
      const recs = v.readingArgs(what, () => encodeRecords(what, single ? [records] : listOf(records), single, this.#key, this.#value))
      return new Promise((resolve, reject) => {
        this.#items.push({ topic, recs, single, resolve, reject })
        if (!this.#draining) {
          this.#draining = true
          // A reaction on a settled promise: queueMicrotask costs an async resource a call.
          SETTLED.then(this.#drain)
        }
      })
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #drain = () => {
    while (this.#items.length) {
      const items = this.#items
      this.#items = []
      const pending = this.#write(items)
      if (pending) return void pending.then(this.#drain)
    }
    this.#draining = false
    const flushed = this.#flushed
    this.#flushed = []
    for (const resolve of flushed) resolve()
  }

  /** Resolves once every send taken so far is written. */
  flush () {
    return this.#draining ? new Promise((resolve) => this.#flushed.push(resolve)) : Promise.resolve()
  }
}

// sendBatch's records, copied: the caller may change its array once the call returned.
function listOf (records) {
  if (!Array.isArray(records) || records.length === 0) throw invalid('sendBatch takes a non-empty array of records')
  return Array.from(records)
}

// The `tx` a transaction's function gets: sends that belong to that transaction only.
// `txn` is the backend's handle of the transaction, if it has one (Kafka's).
class Transaction {
  #producer
  #sends
  #txn
  #done = false

  constructor (producer, sends, txn) {
    this.#producer = producer
    this.#sends = sends
    this.#txn = txn
  }

  #track (send) {
    if (this.#done) return Promise.reject(txnState('this transaction is over; send in the function given to producer.transaction()'))
    const promise = send()
    this.#sends.push(promise)
    return promise
  }

  send (topic, record) { return this.#track(() => this.#producer.send(topic, record)) }

  sendBatch (topic, records) { return this.#track(() => this.#producer.sendBatch(topic, records)) }

  /** Sends the consumer's positions (every message it handed out) with this transaction: they count once it commits. */
  sendOffsets (consumer) { return this.#track(() => this.#producer[TXN_OFFSETS](consumer, this.#txn)) }

  end () { this.#done = true }
}

// Resolves each send of `group` with its records' places: `placed` holds
// [partition, offset] per record, in order.
function settle (topic, group, placed) {
  // A plain loop: a map() callback counting `at` in its closure cost about a tenth of a batch's time.
  let at = 0
  for (const it of group) {
    const recs = it.recs
    const out = new Array(recs.length)
    for (let j = 0; j < recs.length; j++, at++) out[j] = { topic, partition: placed[at * 2], offset: placed[at * 2 + 1], timestamp: recs.timestamp(j) }
    it.resolve(it.single ? out[0] : out)
  }
}

class Producer {
  #client
  #native
  #sends
  #rr = Math.floor(Math.random() * 1024)
  #closed = false
  #transactional = false
  #inTxn = false
  #buffers = new Buffers()
  #scratch = new AppendScratch()

  constructor (client, opts) {
    if (!client || client[CLIENT] !== true) throw invalid('create producers with log.producer()')
    const o = v.readingArgs('producer options', () => {
      opts = v.options('producer options', opts, ['key', 'value', 'transactionalId', 'transactionTimeoutMs'])
      this.#sends = new SendQueue({
        check: () => this.#checkOpen(),
        write: (items) => this.#write(items),
        key: serdes.check('key', opts.key),
        value: serdes.check('value', opts.value)
      })
      if (opts.transactionTimeoutMs !== undefined && opts.transactionalId === undefined) throw invalid('transactionTimeoutMs needs a transactionalId')
      return {
        transactionalId: opts.transactionalId === undefined ? undefined : v.string('transactionalId', opts.transactionalId),
        transactionTimeoutMs: opts.transactionTimeoutMs === undefined ? undefined : v.number('transactionTimeoutMs', opts.transactionTimeoutMs)
      }
    })
    this.#client = client
    this.#native = native.createProducer(client.native, o)
    this.#transactional = o.transactionalId !== undefined
  }

  /**
   * Runs `fn(tx)` as one transaction: what it sends with `tx` (and the offsets it sends
   * with `tx.sendOffsets(consumer)`) becomes visible to read_committed consumers all at once
   * when `fn` resolves, and never if it throws. Resolves with what `fn` resolved.
   */
  async transaction (fn) {
    this.#checkOpen()
    if (typeof fn !== 'function') throw invalid(`transaction(fn) takes an async function (tx) => { ... }, got ${v.describe(fn)}`)
    if (!this.#transactional) throw txnState('transactions need a transactional producer: log.producer({ transactionalId })')
    if (this.#inTxn) throw txnState('a transaction is already open on this producer: transactions do not nest; await the first one')
    this.#native.begin()
    this.#inTxn = true
    const sends = []
    const tx = new Transaction(this, sends)
    try {
      const result = await fn(tx)
      tx.end()
      // A send the function did not await still belongs to it: it must have worked.
      for (const r of await Promise.allSettled(sends)) if (r.status === 'rejected') throw r.reason
      await this.#native.end(true)
      return result
    } catch (err) {
      tx.end()
      await Promise.allSettled(sends)
      // Fenced or not, nothing of it is visible: the error that ended it is the one to see.
      await this.#native.end(false).catch(() => {})
      throw err
    } finally {
      this.#inTxn = false
    }
  }

  [TXN_OFFSETS] (consumer) {
    try {
      this.#checkOpen()
      // A consumer of this log only; its engine side checks it is a group member holding its partitions.
      if (!this.#client.has(consumer) || typeof consumer[TXN_OFFSETS] !== 'function') {
        throw invalid('sendOffsets takes a consumer of the same log (log.consumer({ groupId, topics }))')
      }
      consumer[TXN_OFFSETS]((reader, handed, inHand) => this.#native.sendOffsets(reader, handed, inHand))
      return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #checkOpen () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the producer is closed; create another with log.producer()')
    this.#client.check()
  }

  send (topic, record) { return this.#sends.send(topic, record) }

  sendBatch (topic, records) { return this.#sends.sendBatch(topic, records) }

  // Queued sends, one native call per topic; a promise only if a call has to wait.
  #write (items) {
    const topic = items[0].topic
    if (items.every((it) => it.topic === topic)) return this.#append(topic, items)
    const byTopic = new Map()
    for (const it of items) {
      if (!byTopic.has(it.topic)) byTopic.set(it.topic, [])
      byTopic.get(it.topic).push(it)
    }
    const groups = byTopic.entries()
    const next = () => {
      for (const [topic, group] of groups) {
        const pending = this.#append(topic, group)
        if (pending) return pending.then(next)
      }
    }
    return next()
  }

  // One native call for the whole group of sends. A small append without fsync is a
  // page-cache write: doing it on this thread is faster than a hop to a worker thread
  // and back, and then nothing here is async.
  #append (topic, group) {
    let now = false
    let buffer = null
    const { data, meta, timestamps, placed: into } = encodeAppend(group.map((it) => it.recs), (size) => {
      now = this.#client.durability !== 'always' && size <= SYNC_APPEND_BYTES
      buffer = this.#buffers.take(size)
      return buffer.subarray(0, size)
    }, (n) => now ? this.#scratch.arrays(n) : appendArrays(n))
    const producer = this.#native
    if (!now) return this.#appendLater(topic, group, () => producer.append(topic, data, meta, timestamps, this.#rr++ & MAX_U32), buffer)
    try {
      producer.appendNow(topic, data, meta, timestamps, this.#rr++ & MAX_U32, into)
    } catch (err) {
      return this.#refused(topic, group, err)
    } finally {
      // The engine is done with the bytes once the call returned.
      this.#buffers.give(buffer)
    }
    settle(topic, group, into)
  }

  async #appendLater (topic, group, append, buffer) {
    let placed
    try {
      placed = await append()
    } catch (err) {
      return this.#refused(topic, group, err)
    } finally {
      this.#buffers.give(buffer)
    }
    settle(topic, group, placed)
  }

  // A record refused by the engine's checks fails the call before anything is
  // written, so then each send is tried alone and only the bad one fails; any other
  // error fails them all (part may be written).
  #refused (topic, group, err) {
    if (group.length > 1 && REFUSED_BEFORE_WRITING.has(err.code)) return this.#eachAlone(topic, group)
    for (const it of group) it.reject(err)
  }

  async #eachAlone (topic, group) {
    for (const it of group) await this.#append(topic, [it])
  }

  /** Resolves once every record sent so far is written (and synced, as durability says). */
  flush () { return this.#sends.flush() }

  async close () {
    this.#closed = true
    await this.flush()
    this.#native.close()
    this.#client.forget(this)
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { Producer, Transaction, SendQueue, txnState }
