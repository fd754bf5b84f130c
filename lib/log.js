'use strict'
// A log directory opened by this process: topics, groups, and the producers
// and consumers made from it.

const path = require('node:path')
const native = require('./native.js')
const { coded, invalid } = require('./errors.js')
const v = require('./validate.js')
const { Producer } = require('./producer.js')
const { Consumer } = require('./consumer.js')
const { Table } = require('./table.js')
const { CLIENT, asyncDispose } = require('./client.js')

const TOPIC_KEYS = ['partitions', 'segmentBytes', 'maxMessageBytes', 'retentionMs', 'retentionBytes', 'segmentMs',
  'cleanupPolicy', 'deleteRetentionMs', 'minCompactionLagMs', 'minCleanableDirtyRatio']

// The topic config's JS types; values (ranges, policy names) are the engine's to check.
function topicConfig (cfg) {
  return v.readingArgs('topic config', () => {
    const o = v.options('topic config', cfg, TOPIC_KEYS)
    for (const k of Object.keys(o)) {
      if (k === 'cleanupPolicy') v.string(k, o[k])
      else v.number(k, o[k])
    }
    return o
  })
}

class Log {
  #native
  #closed = false
  #clients = new Set()
  #client
  #dir

  constructor (handle, durability, dir) {
    if (!(handle instanceof native.NativeLog)) throw invalid('open a log with open(dir)')
    this.#native = handle
    this.#dir = dir
    this.#client = Object.freeze({
      [CLIENT]: true,
      native: handle,
      durability,
      check: () => this.#check(),
      forget: (c) => this.#clients.delete(c),
      has: (c) => this.#clients.has(c)
    })
  }

  #check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the log is closed; open it again with open(dir)')
  }

  async createTopic (name, cfg) {
    this.#check()
    v.string('topic', name, 'ERR_INVALID_TOPIC')
    return this.#native.createTopic(name, topicConfig(cfg))
  }

  /** Changes a topic's settings (every one but partitions); every process sees the change at its next use of the topic. */
  async alterTopic (name, cfg) {
    this.#check()
    v.string('topic', name, 'ERR_INVALID_TOPIC')
    if (cfg === undefined) throw invalid('alterTopic(name, cfg) takes the settings to change')
    return this.#native.alterTopic(name, topicConfig(cfg))
  }

  /** Moves a partition's log start forward to `beforeOffset` (Kafka's DeleteRecords); resolves to the new log start. */
  async deleteRecords (topic, partition, beforeOffset) {
    this.#check()
    v.string('topic', topic, 'ERR_INVALID_TOPIC')
    v.number('partition', partition)
    v.number('beforeOffset', beforeOffset)
    const lowWatermark = await this.#native.deleteRecords(topic, partition, beforeOffset)
    return { topic, partition, lowWatermark }
  }

  /** Runs retention now on every topic; resolves with what it removed. */
  async clean () {
    this.#check()
    return this.#native.clean()
  }

  async deleteTopic (name) {
    this.#check()
    await this.#native.deleteTopic(v.string('topic', name, 'ERR_INVALID_TOPIC'))
  }

  /** Every topic with its partitions' low and high offsets; `{ internal: true }` adds __consumer_offsets. */
  async topics (opts) {
    this.#check()
    const o = v.readingArgs('topics options', () => v.options('topics options', opts, ['internal']))
    return this.#native.topics(o.internal === undefined ? false : v.boolean('internal', o.internal))
  }

  /** Every group: live members (with pid) and their assignment, committed offsets and lag. */
  async groups () {
    this.#check()
    return this.#native.groups()
  }

  /**
   * Kafka's ListOffsets by time: per partition, the first offset whose record has a timestamp
   * at or after `timestamp` (ms), or the high watermark when no record is that recent.
   */
  async offsetsForTimes (query) {
    this.#check()
    const list = v.readingArgs('offsetsForTimes', () => Array.from(v.array('offsetsForTimes', query), (q, i) => {
      const tp = v.topicPartition(`offsetsForTimes[${i}]`, q)
      tp.timestamp = v.number(`offsetsForTimes[${i}].timestamp`, q.timestamp)
      return tp
    }))
    return this.#native.offsetsForTimes(list)
  }

  /** Rewinds or skips a stopped group: 'earliest', 'latest', or exact offsets. Refused while it has live members. */
  async setGroupOffsets (groupId, to) {
    this.#check()
    v.string('groupId', groupId, 'ERR_INVALID_GROUP')
    const target = v.readingArgs('setGroupOffsets', () => {
      if (typeof to === 'string') return to
      if (!Array.isArray(to)) throw invalid(`setGroupOffsets takes 'earliest', 'latest' or [{ topic, partition, offset }, ...], got ${v.describe(to)}`)
      return Array.from(to, (o, i) => v.topicPartitionOffset(`offsets[${i}]`, o))
    })
    await this.#native.setGroupOffsets(groupId, target)
  }

  /** Deletes a stopped group: its committed offsets (as tombstones) and its state. */
  async deleteGroup (groupId) {
    this.#check()
    await this.#native.deleteGroup(v.string('groupId', groupId, 'ERR_INVALID_GROUP'))
  }

  producer (opts) {
    this.#check()
    const p = new Producer(this.#client, opts)
    this.#clients.add(p)
    return p
  }

  consumer (opts) {
    this.#check()
    const c = new Consumer(this.#client, opts)
    this.#clients.add(c)
    return c
  }

  async close () {
    if (this.#closed) return
    await Promise.all([...this.#clients].map((c) => c.close()))
    this.#closed = true
    await this.#native.close()
  }

  [asyncDispose] () { return this.close() }

  /** A live web console on this log (lib/ui): resolves to { url, close() }. Closing the log closes it. */
  async ui (opts) {
    this.#check()
    const ui = await require('./ui/index.js').start(this, this.#dir, opts)
    const close = ui.close
    ui.close = () => { this.#clients.delete(ui); return close() }
    this.#clients.add(ui)
    return ui
  }

  /** A live, read-only, Map-like view of a topic: the last value per key (lib/table.js). */
  table (topic, opts) {
    this.#check()
    const t = new Table(this.#client, this, topic, opts)
    this.#clients.add(t)
    return t
  }
}

async function open (dir, opts) {
  if (typeof dir !== 'string' || dir.length === 0) throw invalid(`open(dir) takes a directory path, got ${v.describe(dir)}`)
  const o = v.readingArgs('open options', () => {
    const o = v.options('open options', opts, ['durability', 'flushIntervalMs', 'cleanIntervalMs'])
    if (o.durability !== undefined) v.string('durability', o.durability)
    if (o.flushIntervalMs !== undefined) v.number('flushIntervalMs', o.flushIntervalMs)
    if (o.cleanIntervalMs !== undefined) v.number('cleanIntervalMs', o.cleanIntervalMs)
    return o
  })
  return new Log(native.openLog(dir, o), o.durability ?? 'interval', path.resolve(dir))
}

module.exports = { open, Log }
