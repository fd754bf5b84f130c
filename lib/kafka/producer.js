'use strict'
// The producer on Kafka: records checked and encoded as locally (lib/producer.js), placed
// on partitions as locally (murmur2 of the key, as Kafka's Java client does; round robin
// without a key), sends of one tick in one request. Idempotent always; with a
// transactionalId, Kafka transactions.

const { coded, invalid } = require('../errors.js')
const serdes = require('../serde.js')
const v = require('../validate.js')
const { Transaction, SendQueue, txnState } = require('../producer.js')
const { TXN_OFFSETS, asyncDispose } = require('../client.js')
const { unsupported, protocolError } = require('./errors.js')

// @platformatic/kafka zigzag-encodes a record's timestamp delta (from its batch's first
// record) with a 32-bit sign shift, so a delta of 2^31 ms (24.8 days) or more is sent changed.
const MAX_TS_DELTA = 2 ** 31 - 1

// How long a transaction waits for the brokers to abort a dead producer's open one.
const BEGIN_WAIT_MS = 30_000

class KafkaProducer {
  #client
  #producer
  #sends
  #rr = Math.floor(Math.random() * 1024)
  #counts = new Map()
  #closed = false
  #transactional = false
  #txn = null
  // Whether the open transaction sent anything to the brokers.
  #txnSent = false
  #newClient

  constructor (client, opts) {
    let transactionalId
    v.readingArgs('producer options', () => {
      opts = v.options('producer options', opts, ['key', 'value', 'transactionalId', 'transactionTimeoutMs'])
      this.#sends = new SendQueue({
        check: () => this.#checkSend(),
        write: (items) => this.#send(items),
        key: serdes.check('key', opts.key),
        value: serdes.check('value', opts.value)
      })
      if (opts.transactionTimeoutMs !== undefined) throw unsupported('transactionTimeoutMs', 'the brokers\' transaction.max.timeout.ms bounds transactions on Kafka')
      if (opts.transactionalId !== undefined) transactionalId = v.string('transactionalId', opts.transactionalId)
    })
    this.#client = client
    this.#transactional = transactionalId !== undefined
    // Producer id and epoch -1: a new producer, as Kafka's Java client says (the client's default,
    // 0, is a producer id the brokers may not know, and then fence as an old one).
    this.#newClient = () => new client.kafka.Producer({ ...client.conn, idempotent: true, producerId: -1n, producerEpoch: -1, ...(transactionalId !== undefined ? { transactionalId } : {}) })
    this.#producer = this.#newClient()
  }

  #checkOpen () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the producer is closed; create another with log.producer()')
    this.#client.check()
  }

  async transaction (fn) {
    this.#checkOpen()
    if (typeof fn !== 'function') throw invalid(`transaction(fn) takes an async function (tx) => { ... }, got ${v.describe(fn)}`)
    if (!this.#transactional) throw txnState('transactions need a transactional producer: log.producer({ transactionalId })')
    if (this.#txn) throw txnState('a transaction is already open on this producer: transactions do not nest; await the first one')
    // Sends made before the transaction go out first, outside it.
    await this.flush()
    let txn
    try {
      txn = await this.#begin()
    } catch (err) {
      throw this.#client.fail(err, 'transaction()')
    }
    this.#txn = txn
    this.#txnSent = false
    const sends = []
    const tx = new Transaction(this, sends, txn)
    try {
      const result = await fn(tx)
      tx.end()
      for (const r of await Promise.allSettled(sends)) if (r.status === 'rejected') throw r.reason
      await this.flush()
      try {
        await txn.commit()
      } catch (err) {
        throw this.#client.fail(err, 'transaction commit')
      }
      return result
    } catch (err) {
      tx.end()
      await Promise.allSettled(sends)
      if (!txn.completed) await this.#abort(txn)
      throw err
    } finally {
      this.#txn = null
    }
  }

  // A previous producer of this transactionalId died in a transaction: the brokers abort it
  // and answer CONCURRENT_TRANSACTIONS until it is done, and have no way to say when, so this
  // backs off and asks again (as Kafka's Java client does), for at most BEGIN_WAIT_MS.
  async #begin () {
    const deadline = Date.now() + BEGIN_WAIT_MS
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return await this.#producer.beginTransaction()
      } catch (err) {
        // The client keeps a transaction it could not begin: forgotten, or no other begins.
        await this.#producer.transaction?.cancel().catch(() => {})
        if (protocolError(err)?.apiId !== 'CONCURRENT_TRANSACTIONS' || Date.now() + wait > deadline) throw err
        await new Promise((resolve) => setTimeout(resolve, wait))
      }
    }
  }

  // The client must forget the transaction, or the next one cannot begin. Nothing sent: the
  // brokers know nothing to abort (and refuse to). An abort that fails: a new client, whose
  // InitProducerId with the same transactionalId aborts it at the brokers.
  async #abort (txn) {
    if (!this.#txnSent) return txn.cancel().catch(() => {})
    try {
      await txn.abort()
    } catch {
      const old = this.#producer
      this.#producer = this.#newClient()
      await old.close().catch(() => {})
    }
  }

  async [TXN_OFFSETS] (consumer, txn) {
    this.#checkOpen()
    if (!this.#client.has(consumer) || typeof consumer[TXN_OFFSETS] !== 'function') {
      throw invalid('sendOffsets takes a consumer of the same log (log.consumer({ groupId, topics }))')
    }
    const { groupId, generationId, memberId, coordinatorId, offsets } = consumer[TXN_OFFSETS]()
    this.#txnSent = true
    try {
      await txn.addConsumer({ groupId })
      const metadata = { consumer: { groupId, generationId, memberId, coordinatorId } }
      // addOffset commits the message's offset + 1: the next one to read.
      for (const { topic, partition, offset } of offsets) await txn.addOffset({ topic, partition, offset: BigInt(offset - 1), metadata })
    } catch (err) {
      throw this.#client.fail(err, 'sendOffsets')
    }
  }

  send (topic, record) { return this.#sends.send(topic, record) }

  sendBatch (topic, records) { return this.#sends.sendBatch(topic, records) }

  #checkSend () {
    this.#checkOpen()
    if (this.#transactional && !this.#txn) throw txnState('a transactional producer sends only inside producer.transaction(fn)')
  }

  async #partitions (topic) {
    let n = this.#counts.get(topic)
    if (n === undefined) {
      n = await this.#client.partitions(topic)
      this.#counts.set(topic, n)
    }
    return n
  }

  // The records of every queued send, in one request (more when timestamps lie too far apart
  // for one batch, see MAX_TS_DELTA); each send's records get their offsets from their
  // partition's base offset in their request, counted in the order they were sent.
  async #send (items) {
    const murmur2 = this.#client.kafka.murmur2
    const requests = [{ messages: [], first: new Map() }]
    // Per record: its partition and its request.
    const placed = []
    try {
      for (const it of items) {
        const n = this.#counts.get(it.topic) ?? await this.#partitions(it.topic)
        const recs = it.recs
        for (let j = 0; j < recs.length; j++) {
          const key = recs.keys[j]
          const timestamp = recs.timestamp(j)
          const headers = recs.headersOf(j)
          let partition = recs.partition(j)
          if (partition >= n) throw coded('ERR_INVALID_PARTITION', `topic '${it.topic}' has partitions 0 to ${n - 1}, not ${partition}`)
          if (partition < 0) partition = key ? (murmur2(key) & 0x7fffffff) % n : (this.#rr++ & 0x7fffffff) % n
          const k = `${it.topic}:${partition}`
          let req = requests[requests.length - 1]
          const first = req.first.get(k)
          if (first !== undefined && Math.abs(timestamp - first) > MAX_TS_DELTA) requests.push((req = { messages: [], first: new Map() }))
          if (!req.first.has(k)) req.first.set(k, timestamp)
          placed.push(partition, requests.length - 1)
          req.messages.push({
            topic: it.topic,
            partition,
            key: key ?? undefined,
            value: recs.values[j] ?? undefined,
            timestamp: BigInt(timestamp),
            headers: headers ? new Map(headers.map(([k, h]) => [k, h ?? undefined])) : undefined
          })
        }
      }
    } catch (err) {
      const e = this.#client.fail(err, 'send')
      for (const it of items) it.reject(e)
      return
    }
    // Per request, the next offset of each partition.
    const nexts = []
    if (this.#txn) this.#txnSent = true
    try {
      for (const { messages } of requests) {
        const res = this.#txn ? await this.#txn.send({ messages }) : await this.#producer.send({ messages })
        nexts.push(new Map((res.offsets ?? []).map((o) => [`${o.topic}:${o.partition}`, Number(o.offset)])))
      }
    } catch (err) {
      const e = this.#client.fail(err, 'send')
      for (const it of items) it.reject(e)
      return
    }
    let at = 0
    for (const it of items) {
      const recs = it.recs
      const out = new Array(recs.length)
      for (let j = 0; j < recs.length; j++) {
        const partition = placed[at++]
        const next = nexts[placed[at++]]
        const k = `${it.topic}:${partition}`
        const offset = next.get(k)
        next.set(k, offset + 1)
        out[j] = { topic: it.topic, partition, offset, timestamp: recs.timestamp(j) }
      }
      it.resolve(it.single ? out[0] : out)
    }
  }

  flush () { return this.#sends.flush() }

  async close () {
    if (this.#closed) return
    this.#closed = true
    await this.flush()
    await this.#producer.close().catch(() => {})
    this.#client.forget(this)
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { KafkaProducer }
