'use strict'
// A table: a topic read into a live, read-only, Map-like view, the last value
// per key. Built on the public consumer: manual assignment of every partition
// from 'earliest', read with batches(), sleeping on the log's wake word when
// caught up. Keys are compared by their bytes in the log, so any serde works.

const { EventEmitter } = require('node:events')
const { coded, invalid } = require('./errors.js')
const serdes = require('./serde.js')
const v = require('./validate.js')
const { CLIENT, SKIPPED, asyncDispose } = require('./client.js')

const MAX_BATCH = 2048

// A deserialized key or value must not keep the whole fetch buffer alive: a view
// into it (what serde.buffer, or no serde, returns) is copied.
function own (x, raw) {
  return x instanceof Uint8Array && x.buffer === raw.buffer ? Buffer.from(x) : x
}

const closedError = () => coded('ERR_CLOSED', 'the table is closed; create another with log.table()')

class Table extends EventEmitter {
  #client
  #log
  #topic
  #key
  #value
  // id (the key's bytes as a latin1 string) -> [key, value]
  #entries = new Map()
  // partition -> the offset after the last record applied
  #pos = new Map()
  #consumer = null
  #started
  #startedCtl
  #running = null
  #waiters = []
  #error = null
  #closed = false

  constructor (client, log, topic, opts) {
    super()
    if (!client || client[CLIENT] !== true) throw invalid('create tables with log.table()')
    v.readingArgs('table', () => {
      v.string('topic', topic, 'ERR_INVALID_TOPIC')
      opts = v.options('table options', opts, ['key', 'value'])
      this.#key = serdes.check('key', opts.key)
      this.#value = serdes.check('value', opts.value)
    })
    this.#client = client
    this.#log = log
    this.#topic = topic
    this.#started = new Promise((resolve, reject) => { this.#startedCtl = { resolve, reject } })
    this.#started.catch(() => {}) // a failure is reported by ready() and 'error'
    this.#running = this.#run(this.#startedCtl)
  }

  get topic () { return this.#topic }

  async #run (started) {
    try {
      const topic = this.#topic
      const info = (await this.#log.topics({ internal: true })).find((t) => t.name === topic)
      if (this.#closed) return
      if (info && info.config === null) {
        throw coded(info.damage.code, `table ${topic}: the topic cannot be read: ${info.damage.message}`)
      }
      // An unknown or invalid name: the engine says which, with its code.
      const assign = info
        ? info.partitions.map((p) => ({ topic, partition: p.partition, offset: 'earliest' }))
        : [{ topic, partition: 0, offset: 'earliest' }]
      this.#consumer = this.#log.consumer({ assign })
      // Transaction markers and aborted records are offsets with no record: the
      // consumer's positions pass them without a batch to apply.
      this.#consumer.on(SKIPPED, () => { this.#catchUp().catch((err) => this.#fail(err)) })
      if (!info) throw coded('ERR_UNKNOWN_TOPIC', `unknown topic ${JSON.stringify(topic)}`)
      started.resolve()
      for await (const batch of this.#consumer.batches({ maxMessages: MAX_BATCH })) {
        this.#apply(batch)
        await this.#catchUp()
      }
    } catch (err) {
      started.reject(err)
      await this.#fail(err)
    }
  }

  // Applies records in log order (per partition), emitting 'change' after each.
  #apply (batch) {
    const emit = this.listenerCount('change') > 0
    for (const m of batch) {
      this.#pos.set(m.partition, m.offset + 1)
      if (m.key === null) continue
      const id = m.key.toString('latin1')
      let e = this.#entries.get(id)
      const previous = e ? e[1] : undefined
      let value
      if (m.value === null) {
        if (!e) continue
        this.#entries.delete(id)
      } else {
        value = own(this.#deserialize(this.#value, m.value, m), m.value)
        if (e) e[1] = value
        else this.#entries.set(id, (e = [own(this.#deserialize(this.#key, m.key, m), m.key), value]))
      }
      if (emit) this.#emitChange({ key: e[0], value, previous, partition: m.partition, offset: m.offset })
    }
  }

  #deserialize (serde, raw, m) {
    if (!serde) return Buffer.from(raw)
    try {
      return serde.deserialize(raw)
    } catch (cause) {
      throw coded('ERR_DESERIALIZE', `table ${m.topic}: cannot deserialize partition ${m.partition} offset ${m.offset}: ${cause instanceof Error ? cause.message : v.describe(cause)}`,
        { cause, topic: m.topic, partition: m.partition, offset: m.offset })
    }
  }

  // A throwing listener is the caller's bug, not the table's: it surfaces as an
  // uncaught exception, as from any event emitted on I/O, and the table goes on.
  #emitChange (event) {
    try {
      this.emit('change', event)
    } catch (err) {
      process.nextTick(() => { throw err })
    }
  }

  // Resolves the ready() calls whose targets were reached. Positions come from the
  // consumer: they pass the markers and aborted records after the last record applied.
  async #catchUp () {
    if (this.#waiters.length === 0 || this.#closed) return
    for (const l of await this.#consumer.lag()) {
      if (l.offset > (this.#pos.get(l.partition) ?? 0)) this.#pos.set(l.partition, l.offset)
    }
    this.#settle()
  }

  #settle () {
    if (this.#waiters.length === 0) return
    this.#waiters = this.#waiters.filter((w) => {
      for (const [p, high] of w.target) if ((this.#pos.get(p) ?? 0) >= high) w.target.delete(p)
      if (w.target.size) return true
      w.resolve(this)
      return false
    })
  }

  async #fail (err) {
    if (this.#closed) return
    this.#error = err
    for (const w of this.#waiters) w.reject(err)
    this.#waiters = []
    await this.#stop()
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  async #stop () {
    this.#closed = true
    this.#startedCtl.reject(closedError())
    this.#client.forget(this)
    if (this.#consumer) await this.#consumer.close()
  }

  /**
   * Resolves (with the table) once it has applied every record below the high
   * watermark each partition had when ready() was called; at once if it had.
   */
  async ready () {
    if (this.#error) throw this.#error
    if (this.#closed) throw closedError()
    await this.#started
    if (this.#error) throw this.#error
    if (this.#closed) throw closedError()
    const lag = await this.#consumer.lag()
    if (this.#error) throw this.#error
    if (this.#closed) throw closedError()
    const target = new Map()
    for (const l of lag) {
      if (Math.max(this.#pos.get(l.partition) ?? 0, l.offset) < l.high) target.set(l.partition, l.high)
    }
    if (target.size === 0) return this
    return new Promise((resolve, reject) => this.#waiters.push({ target, resolve, reject }))
  }

  #id (key) {
    return v.readingArgs('table key', () => serdes.toBytes('key', key, this.#key)).toString('latin1')
  }

  get size () { return this.#entries.size }

  /** The value of the last record with this key, undefined if none or deleted. */
  get (key) {
    const e = this.#entries.get(this.#id(key))
    return e ? e[1] : undefined
  }

  has (key) { return this.#entries.has(this.#id(key)) }

  * keys () { for (const e of this.#entries.values()) yield e[0] }

  * values () { for (const e of this.#entries.values()) yield e[1] }

  * entries () { for (const e of this.#entries.values()) yield [e[0], e[1]] }

  [Symbol.iterator] () { return this.entries() }

  forEach (fn, thisArg) {
    if (typeof fn !== 'function') throw invalid(`forEach takes a function, got ${v.describe(fn)}`)
    for (const e of this.#entries.values()) fn.call(thisArg, e[1], e[0], this)
  }

  /** Stops following the topic; what was read stays readable. Pending ready() calls reject with ERR_CLOSED. */
  async close () {
    if (!this.#closed) {
      const waiters = this.#waiters
      this.#waiters = []
      await this.#stop()
      for (const w of waiters) w.reject(closedError())
    }
    await this.#running
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { Table }
