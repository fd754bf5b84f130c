'use strict'
// The consumer's JS side: async iterators, the fetched buffer it hands out
// from, serdes, AbortSignal, and the maxPollIntervalMs timer. Positions,
// pause, fairness, groups and commits live in the engine (caldo_core::Consumer);
// every call tells it how many records were handed out since the last call
// (`handed`) and how many are still in the caller's hands (`inHand`).

const { EventEmitter } = require('node:events')
const native = require('./native.js')
const { coded, invalid } = require('./errors.js')
const serdes = require('./serde.js')
const v = require('./validate.js')
const { Fetch } = require('./wire.js')
const { MessageBatch, deserializeError } = require('./batch.js')
const { CLIENT, TXN_OFFSETS, SKIPPED, asyncDispose } = require('./client.js')

const KEYS = ['assign', 'key', 'value', 'signal', 'groupId', 'topics', 'startFrom', 'autoCommit', 'assignor', 'maxPollIntervalMs', 'isolation']
const GROUP_KEYS = ['topics', 'startFrom', 'autoCommit', 'assignor', 'maxPollIntervalMs']
// How often (ms) a consumer handing out buffered messages looks for a new group generation.
const REBALANCE_CHECK_MS = 10
const MAX_FETCH_BYTES = 4 << 20
// States of a `for await` iterator, and its last result.
const FRESH = 0
const ITERATING = 1
const DONE = 2
const FINISHED = Object.freeze({ value: undefined, done: true })

// The native options for a group member, JS types checked; null in manual mode.
function groupOptions (opts) {
  if (opts.groupId === undefined) {
    for (const k of GROUP_KEYS) if (opts[k] !== undefined) throw invalid(`${k} needs a groupId`)
    return null
  }
  if (opts.assign !== undefined) throw invalid('use either groupId + topics (a group) or assign (manual), not both')
  const groupId = v.string('groupId', opts.groupId, 'ERR_INVALID_GROUP')
  if (!Array.isArray(opts.topics) || opts.topics.length === 0) throw invalid('a group consumer needs topics: [name, ...]')
  const topics = [...new Set(v.array('topics', opts.topics).map((t, i) => v.string(`topics[${i}]`, t, 'ERR_INVALID_TOPIC')))]
  const ac = opts.autoCommit
  let autoCommitMs = 1000
  if (ac === false) autoCommitMs = undefined
  else if (ac !== undefined && ac !== true) autoCommitMs = v.number('autoCommit.intervalMs', v.options('autoCommit', ac, ['intervalMs']).intervalMs)
  return {
    groupId,
    topics,
    startFrom: opts.startFrom === undefined ? undefined : v.string('startFrom', opts.startFrom),
    assignor: opts.assignor === undefined ? undefined : v.string('assignor', opts.assignor),
    autoCommitMs,
    maxPoll: opts.maxPollIntervalMs === undefined ? 0 : v.int('maxPollIntervalMs', opts.maxPollIntervalMs, 1, 2 ** 31 - 1)
  }
}

function assignOptions (assign) {
  if (!Array.isArray(assign) || assign.length === 0) {
    throw invalid('consumer needs assign: [{ topic, partition, offset? }, ...], or groupId and topics')
  }
  return v.array('assign', assign).map((a, i) => {
    const o = v.options(`assign[${i}]`, v.object(`assign[${i}]`, a), ['topic', 'partition', 'offset'])
    const tp = v.topicPartition(`assign[${i}]`, o)
    if (o.offset !== undefined) tp.offset = v.position(`assign[${i}].offset`, o.offset)
    return tp
  })
}

class Consumer extends EventEmitter {
  #client
  #reader
  #group
  #tps = []
  #key
  #value
  // The last fetch, and which of its records are left to hand out (null: all, in order).
  #fetched = null
  #order = null
  #count = 0
  #at = 0
  #reported = 0
  // How many of the latest handed-out records are still in the caller's hands.
  #inHand = 0
  #closed = false
  // The loop ended on a record its serde could not read: the consumer stays open.
  #stalled = false
  #pendingError = null
  #signal
  #onAbort
  #checkDue = false
  #checkTimer = null
  #asks = 0
  #asksSeen = 0
  #quietSince = 0
  #waiting = false
  #iterating = false
  #timer = null

  constructor (client, opts) {
    super()
    if (!client || client[CLIENT] !== true) throw invalid('create consumers with log.consumer()')
    let assign, isolation
    v.readingArgs('consumer options', () => {
      opts = v.options('consumer options', opts, KEYS)
      if (opts.isolation !== undefined) isolation = v.string('isolation', opts.isolation)
      this.#group = groupOptions(opts)
      if (!this.#group) assign = assignOptions(opts.assign)
      this.#key = serdes.check('key', opts.key)
      this.#value = serdes.check('value', opts.value)
      if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
    })
    this.#client = client
    const group = this.#group
    if (group) {
      const { maxPoll, ...native_ } = group
      this.#reader = native.joinGroup(client.native, { ...native_, isolation })
      if (maxPoll) {
        this.#quietSince = performance.now()
        this.#timer = setInterval(() => this.#checkPollInterval(), Math.max(10, maxPoll / 4))
        this.#timer.unref()
      }
    } else {
      this.#reader = native.assignConsumer(client.native, assign, isolation)
    }
    this.#tps = this.#reader.assignment().map((t) => Object.freeze(t))
    if (opts.signal) {
      this.#signal = opts.signal
      this.#onAbort = () => { this.close() }
      if (opts.signal.aborted) queueMicrotask(this.#onAbort)
      else opts.signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  #check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the consumer is closed; create another with log.consumer()')
  }

  // Records handed out since the engine last heard; it hears now.
  #handed () {
    const n = this.#at - this.#reported
    this.#reported = this.#at
    return n
  }

  #drop () {
    this.#fetched = null
    this.#order = null
    this.#count = this.#at = this.#reported = 0
  }

  // Keeps, of the records not handed out, those not in `tp` (the engine drops the same).
  #dropPartition (tp) {
    if (!this.#fetched) return
    const keep = []
    for (let k = this.#at; k < this.#count; k++) {
      const i = this.#order ? this.#order[k] : k
      const t = this.#tps[this.#fetched.slot(i)]
      if (t.topic !== tp.topic || t.partition !== tp.partition) keep.push(i)
    }
    this.#order = keep
    this.#count = keep.length
    this.#at = this.#reported = 0
  }

  // Message `k` of the buffer, deserialized; a failure leaves it to be handed out again.
  #message (k) {
    const m = this.#fetched.message(this.#order ? this.#order[k] : k, this.#tps)
    try {
      if (m.key !== null && this.#key) m.key = this.#key.deserialize(m.key)
      if (m.value !== null && this.#value) m.value = this.#value.deserialize(m.value)
    } catch (cause) {
      this.#stalled = true
      throw deserializeError(cause, m, 'the consumer stays open: seek past it and iterate again, or close it')
    }
    return m
  }

  #emitRebalance (change) {
    this.#tps = this.#reader.assignment().map((t) => Object.freeze(t))
    this.emit('rebalance', change)
  }

  // Runs every maxPollIntervalMs / 4: a consumer that neither waits for messages nor
  // asked for one since `#quietSince` is stuck in its handler.
  #checkPollInterval () {
    const now = performance.now()
    if (this.#waiting || this.#asks !== this.#asksSeen) {
      this.#asksSeen = this.#asks
      this.#quietSince = now
      return
    }
    if (this.#closed || now - this.#quietSince <= this.#group.maxPoll) return
    // The handler has held the last messages too long: let the group take the partitions.
    this.#drop()
    this.#inHand = 0
    try {
      const revoked = this.#reader.fence()
      if (revoked.length) this.#emitRebalance({ assigned: [], revoked })
    } catch (err) {
      // A timer has no caller to throw to: the next ask for messages gets it.
      this.#pendingError = err
    }
  }

  // Called each time the next message or batch is asked for: what was in hand is processed.
  #asked () {
    // Closed while a handler worked: commit what it held and let its partitions go.
    if (this.#closed) this.#reader.releaseHeld(this.#inHand > 0)
    this.#inHand = 0
    this.#asks++
    // Handing out a buffer in a group: look for a new generation every few ms (a
    // timer sets the flag), not per message, and put the buffer back if there is one.
    if (this.#checkDue) {
      this.#checkDue = false
      if (this.#at < this.#count) {
        if (this.#reader.rebalancing()) {
          this.#reader.putBack(this.#handed())
          this.#drop()
        } else this.#scheduleCheck()
      }
    }
  }

  #scheduleCheck () {
    if (this.#checkTimer) return
    this.#checkTimer = setTimeout(() => { this.#checkTimer = null; this.#checkDue = true }, REBALANCE_CHECK_MS)
    this.#checkTimer.unref()
  }

  // Fetches into the buffer, sleeping on the log's wake-up word when there is nothing.
  async #fill (maxMessages, maxWaitMs) {
    const deadline = maxWaitMs === undefined ? Infinity : Date.now() + maxWaitMs
    const log = this.#client.native
    this.#waiting = true
    try {
      for (;;) {
        if (this.#pendingError) {
          const err = this.#pendingError
          this.#pendingError = null
          throw err
        }
        if (this.#closed) return false
        const seq = log.wakeSeq()
        if (this.#group && this.#reader.changed()) {
          this.#reader.putBack(this.#handed())
          this.#drop()
          const change = this.#reader.sync()
          if (change) this.#emitRebalance(change)
        }
        const got = this.#reader.fetch(this.#handed(), maxMessages, MAX_FETCH_BYTES)
        this.#drop()
        const f = got && new Fetch(got)
        // Positions below the log start (removed by retention or deleteRecords) moved to it.
        if (f?.resets) for (const r of this.#reader.takeResets()) this.emit('offsetOutOfRange', r)
        if (f?.skipped) this.emit(SKIPPED)
        if (f?.count) {
          this.#fetched = f
          this.#count = f.count
          if (this.#group) this.#scheduleCheck()
          return true
        }
        const left = deadline - Date.now()
        if (left <= 0) return false
        // Sleep until an append, or until processed offsets are due for auto-commit.
        const due = this.#group ? this.#reader.commitDueMs() : -1
        await log.wait(seq, Math.min(left, 60_000, due < 0 ? Infinity : due + 1))
      }
    } finally {
      this.#waiting = false
    }
  }

  // A hand-written async iterator rather than an async generator: a message already
  // fetched comes back in a resolved promise at once, without the generator's extra
  // microtask turns per message; only a fetch goes the async way.
  [Symbol.asyncIterator] () {
    let state = FRESH
    // A next() waiting for a fetch: later calls queue behind it, as a generator's do.
    let pending = null
    const end = async () => {
      if (state !== ITERATING) { state = DONE; return }
      state = DONE
      await this.#loopEnded()
    }
    const failed = async (err) => { await end(); throw err }
    const give = () => {
      const m = this.#message(this.#at)
      this.#at++
      this.#inHand = 1
      return { value: m, done: false }
    }
    const fetchThenGive = async () => {
      try {
        if (await this.#fill(2048)) return give()
        await end()
        return FINISHED
      } catch (err) {
        return failed(err)
      }
    }
    const next = () => {
      if (pending) return pending.then(next, next)
      if (state === DONE) return Promise.resolve(FINISHED)
      try {
        if (state === FRESH) {
          // As a generator's body: a closed consumer ends the loop before it starts.
          state = DONE
          this.#check()
          this.#iterating = true
          state = ITERATING
        }
        this.#asked()
        if (this.#at < this.#count) return Promise.resolve(give())
      } catch (err) {
        return failed(err)
      }
      pending = fetchThenGive()
      const clear = () => { pending = null }
      pending.then(clear, clear)
      return pending
    }
    const stop = async (value) => {
      if (pending) await pending.catch(() => {})
      await end()
      return { value, done: true }
    }
    return {
      next,
      return: stop,
      async throw (err) {
        await stop()
        throw err
      },
      [Symbol.asyncIterator] () { return this }
    }
  }

  // The loop is over (break, return, throw, close): nothing is in the user's hands any more.
  async #loopEnded () {
    this.#iterating = false
    if (this.#stalled) {
      // Ended by a record that cannot be read: the caller decides (seek past it, or close).
      this.#stalled = false
      return
    }
    await this.close()
    this.#reader.releaseHeld(false)
  }

  /** Yields arrays of messages as they arrive (with `view`, MessageBatch views that read
   * them lazily); with maxWaitMs, an empty one after that long idle. */
  async * batches (opts) {
    let max, wait, view
    v.readingArgs('batches options', () => {
      opts = v.options('batches options', opts, ['maxMessages', 'maxWaitMs', 'view'])
      max = opts.maxMessages === undefined ? 1000 : v.int('maxMessages', opts.maxMessages, 1, 1_000_000)
      wait = opts.maxWaitMs === undefined ? undefined : v.int('maxWaitMs', opts.maxWaitMs, 0, 2 ** 31 - 1)
      view = opts.view === undefined ? false : v.boolean('view', opts.view)
    })
    this.#check()
    this.#iterating = true
    try {
      for (;;) {
        this.#asked()
        if (this.#at >= this.#count) {
          const got = await this.#fill(max, wait)
          if (this.#closed) return
          if (!got) { yield view ? MessageBatch.EMPTY : []; continue }
        }
        if (view) {
          const from = this.#at
          const n = Math.min(this.#count, from + max) - from
          this.#at = from + n
          this.#inHand = n
          yield new MessageBatch(this.#fetched, this.#order, from, n, this.#tps, this.#key, this.#value)
          continue
        }
        const out = []
        const end = Math.min(this.#count, this.#at + max)
        try {
          while (this.#at < end) { out.push(this.#message(this.#at)); this.#at++ }
        } catch (err) {
          // Hand out what came before the bad record; the next ask reports it.
          if (out.length === 0) throw err
          this.#stalled = false
        }
        this.#inHand = out.length
        yield out
      }
    } finally {
      await this.#loopEnded()
    }
  }

  seek (to) {
    this.#check()
    let tp, offset, timestamp
    v.readingArgs('seek', () => {
      tp = v.topicPartition('seek', to)
      timestamp = to.timestamp
      if (timestamp === undefined) offset = v.position('seek offset', to.offset)
      else if (to.offset !== undefined) throw invalid('seek takes an offset or a timestamp, not both')
      else v.number('seek timestamp', timestamp)
    })
    if (timestamp === undefined) this.#reader.seek(tp, offset, this.#handed(), this.#inHand)
    else this.#reader.seekToTime(tp, timestamp, this.#handed(), this.#inHand)
    this.#dropPartition(tp)
  }

  #setPaused (what, tps, paused) {
    this.#check()
    const list = v.readingArgs(what, () => v.array(what, tps).map((tp, i) => v.topicPartition(`${what}[${i}]`, tp)))
    for (const tp of list) {
      this.#reader.setPaused(tp, paused, this.#handed(), this.#inHand)
      if (paused) this.#dropPartition(tp)
    }
  }

  pause (tps) { this.#setPaused('pause', tps, true) }

  resume (tps) { this.#setPaused('resume', tps, false) }

  assignment () {
    return this.#tps.map((t) => ({ ...t }))
  }

  /** Commits the given offsets, or everything handed out so far. Group consumers only. */
  async commit (offsets) {
    this.#check()
    if (!this.#group) throw invalid('commit needs a group consumer (groupId); manual consumers keep their own positions')
    const list = offsets === undefined
      ? undefined
      : v.readingArgs('commit', () => v.array('commit', offsets).map((o, i) => v.topicPartitionOffset(`commit[${i}]`, o)))
    this.#reader.commit(list, this.#handed(), this.#inHand)
  }

  /** The group's committed offsets for the partitions assigned here. */
  async committed () {
    this.#check()
    if (!this.#group) throw invalid('committed needs a group consumer (groupId)')
    return this.#reader.committed()
  }

  // For a transaction's sendOffsets: `send(reader, handed, inHand)` writes this consumer's positions.
  [TXN_OFFSETS] (send) {
    this.#check()
    send(this.#reader, this.#handed(), this.#inHand)
  }

  /** Next offset to be delivered and where reading ends (the last stable offset when read committed), per partition. */
  async lag () {
    this.#check()
    return this.#reader.lag(this.#handed(), this.#inHand)
  }

  /** Commits what was processed (auto-commit), leaves the group at once, and ends the iterators.
   * Partitions whose messages a handler is still working on move once it asks for more. */
  async close () {
    if (this.#closed && !this.#client.has(this)) return
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    if (this.#checkTimer) clearTimeout(this.#checkTimer)
    if (this.#signal) this.#signal.removeEventListener('abort', this.#onAbort)
    this.#client.forget(this)
    try {
      const revoked = this.#reader.leave(this.#handed(), this.#inHand, this.#iterating)
      if (revoked.length) this.emit('rebalance', { assigned: [], revoked })
      this.#tps = []
      this.#drop()
      this.#reader.close()
    } finally {
      this.#client.native.interrupt()
    }
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { Consumer }
