'use strict'
// The consumer on Kafka: the local consumer's API (iterators, batches, seek, pause,
// groups, commits, lag) over Kafka's Fetch, kept here rather than in the client's
// stream so that positions, pauses and seeks are per partition, as locally. Groups
// use Kafka's classic protocol (eager rebalances, round robin assignment).

const { EventEmitter } = require('node:events')
const { coded, invalid } = require('../errors.js')
const serdes = require('../serde.js')
const v = require('../validate.js')
const { TXN_OFFSETS, asyncDispose } = require('../client.js')
const { unsupported, protocolError } = require('./errors.js')

const KEYS = ['assign', 'key', 'value', 'signal', 'groupId', 'topics', 'startFrom', 'autoCommit', 'assignor', 'maxPollIntervalMs', 'isolation']
const GROUP_KEYS = ['topics', 'startFrom', 'autoCommit', 'assignor', 'maxPollIntervalMs']
// A fetch waits at most this long for records: also how soon a seek or close is seen by an idle loop.
const FETCH_WAIT_MS = 500
const MAX_FETCH_BYTES = 4 << 20
const IS_CONTROL = 0x20
const key = (topic, partition) => `${topic}:${partition}`

function options (opts) {
  const o = v.options('consumer options', opts, KEYS)
  const out = { isolation: o.isolation === undefined ? 'read_committed' : v.string('isolation', o.isolation) }
  if (out.isolation !== 'read_committed' && out.isolation !== 'read_uncommitted') throw invalid(`isolation must be 'read_committed' or 'read_uncommitted', got ${v.describe(o.isolation)}`)
  out.key = serdes.check('key', o.key)
  out.value = serdes.check('value', o.value)
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw invalid('signal must be an AbortSignal')
  out.signal = o.signal
  if (o.groupId === undefined) {
    for (const k of GROUP_KEYS) if (o[k] !== undefined) throw invalid(`${k} needs a groupId`)
    if (!Array.isArray(o.assign) || o.assign.length === 0) throw invalid('consumer needs assign: [{ topic, partition, offset? }, ...], or groupId and topics')
    out.assign = v.array('assign', o.assign).map((a, i) => {
      const ao = v.options(`assign[${i}]`, v.object(`assign[${i}]`, a), ['topic', 'partition', 'offset'])
      const tp = v.topicPartition(`assign[${i}]`, ao)
      tp.offset = ao.offset === undefined ? 'latest' : v.position(`assign[${i}].offset`, ao.offset)
      return tp
    })
    return out
  }
  if (o.assign !== undefined) throw invalid('use either groupId + topics (a group) or assign (manual), not both')
  out.groupId = v.string('groupId', o.groupId, 'ERR_INVALID_GROUP')
  if (!Array.isArray(o.topics) || o.topics.length === 0) throw invalid('a group consumer needs topics: [name, ...]')
  out.topics = [...new Set(v.array('topics', o.topics).map((t, i) => v.string(`topics[${i}]`, t, 'ERR_INVALID_TOPIC')))]
  out.startFrom = o.startFrom === undefined ? 'latest' : v.string('startFrom', o.startFrom)
  if (out.startFrom !== 'earliest' && out.startFrom !== 'latest') throw invalid(`startFrom must be 'earliest' or 'latest', got ${v.describe(o.startFrom)}`)
  if (o.assignor !== undefined && v.string('assignor', o.assignor) !== 'roundrobin') {
    throw unsupported(`assignor '${o.assignor}'`, "Kafka groups here use the classic protocol with 'roundrobin' (eager rebalances)")
  }
  if (o.maxPollIntervalMs !== undefined) throw unsupported('maxPollIntervalMs', 'a Kafka member stays while it heartbeats (sessionTimeoutMs in open({ kafka }))')
  const ac = o.autoCommit
  out.autoCommitMs = 1000
  if (ac === false) out.autoCommitMs = undefined
  else if (ac !== undefined && ac !== true) out.autoCommitMs = v.number('autoCommit.intervalMs', v.options('autoCommit', ac, ['intervalMs']).intervalMs)
  return out
}

class KafkaConsumer extends EventEmitter {
  #client
  #o
  #pc
  #tps = []
  #paused = new Set()
  // Per partition: the next offset to fetch, and the next to hand out (what a commit commits).
  #fetchAt = new Map()
  #deliver = new Map()
  // Positions asked for but not resolved yet ('earliest', 'latest', or { timestamp }).
  #pending = new Map()
  // Positions whose messages were handed out and the next one asked for: auto-commit commits these.
  #processed = new Map()
  #committedSent = new Map()
  #inHand = []
  // The last record a fetch got of a partition -> where that fetch ended, when markers or
  // aborted records follow it: handing it out moves the position past them, as locally.
  #skipTo = new WeakMap()
  #buffer = []
  #at = 0
  #closed = false
  #stalled = false
  #pendingError = null
  #ready
  #wake = null
  #commitTimer = null
  #generation = 0
  #signal
  #onAbort

  constructor (client, opts) {
    super()
    this.#o = v.readingArgs('consumer options', () => options(opts))
    this.#client = client
    const o = this.#o
    this.#pc = new client.kafka.Consumer({
      ...client.conn,
      groupId: o.groupId ?? `caldo-manual-${process.pid}-${Math.random().toString(36).slice(2)}`,
      heartbeatInterval: Math.max(100, Math.floor(client.conn.sessionTimeout / 3)),
      rebalanceTimeout: client.conn.sessionTimeout * 2,
      autocommit: false
    })
    if (o.groupId) {
      this.#pc.on('consumer:group:join', (e) => this.#joined(e))
      // A rebalance starts: what was processed is committed while this generation still counts.
      this.#pc.on('consumer:group:rebalance', () => { this.#autoCommit().catch(() => {}) })
      this.#pc.on('error', (err) => { this.#pendingError = client.fail(err, 'consumer group') })
      this.#ready = this.#join()
    } else {
      this.#tps = o.assign.map(({ topic, partition }) => Object.freeze({ topic, partition }))
      for (const a of o.assign) this.#pending.set(key(a.topic, a.partition), a.offset)
      this.#ready = Promise.resolve()
    }
    this.#ready.catch(() => {})
    if (o.autoCommitMs !== undefined && o.groupId) {
      this.#commitTimer = setInterval(() => { this.#autoCommit().catch((err) => { this.#pendingError ??= err }) }, o.autoCommitMs)
      this.#commitTimer.unref()
    }
    if (o.signal) {
      this.#signal = o.signal
      this.#onAbort = () => { this.close() }
      if (o.signal.aborted) queueMicrotask(this.#onAbort)
      else o.signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  async #join () {
    try {
      // Topics must exist, as locally.
      await this.#pc.metadata({ topics: this.#o.topics })
      this.#pc.topics.trackAll(...this.#o.topics)
      await this.#pc.joinGroup({})
    } catch (err) {
      throw this.#client.fail(err, `joining group '${this.#o.groupId}'`)
    }
  }

  // A new generation: the partitions that moved stop here, the new ones start from the group's commits.
  #joined (e) {
    const next = (e.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })))
    const now = new Set(next.map((t) => key(t.topic, t.partition)))
    const before = new Set(this.#tps.map((t) => key(t.topic, t.partition)))
    const revoked = this.#tps.filter((t) => !now.has(key(t.topic, t.partition)))
    const assigned = next.filter((t) => !before.has(key(t.topic, t.partition)))
    this.#generation++
    this.#tps = next.map((t) => Object.freeze(t))
    // Offsets processed on the revoked partitions still count: commit them with this generation
    // (the commit takes its offsets now), then forget those partitions.
    if (revoked.length) this.#commitMap(this.#processed, revoked).catch(() => {})
    for (const t of revoked) this.#forget(t)
    for (const t of assigned) this.#pending.set(key(t.topic, t.partition), 'committed')
    if (revoked.length || assigned.length) {
      this.emit('rebalance', { assigned: assigned.map((t) => ({ ...t })), revoked: revoked.map((t) => ({ ...t })) })
    }
    this.#poke()
  }

  #forget (t) {
    const k = key(t.topic, t.partition)
    this.#dropBuffered(t)
    this.#fetchAt.delete(k)
    this.#deliver.delete(k)
    this.#pending.delete(k)
    this.#paused.delete(k)
    // Its next owner commits it from now on.
    this.#processed.delete(k)
    this.#committedSent.delete(k)
  }

  #check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the consumer is closed; create another with log.consumer()')
  }

  #poke () {
    if (this.#wake) { const w = this.#wake; this.#wake = null; w() }
  }

  #dropBuffered (t) {
    const rest = this.#buffer.slice(this.#at).filter((m) => m.topic !== t.topic || m.partition !== t.partition)
    this.#buffer = rest
    this.#at = 0
  }

  // Turns pending positions ('committed', 'earliest', 'latest', timestamps) into offsets.
  async #resolvePending () {
    if (this.#pending.size === 0) return
    const pending = [...this.#pending]
    this.#pending.clear()
    const tps = pending.map(([k, to]) => { const i = k.lastIndexOf(':'); return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), to } })
    const committed = tps.some((t) => t.to === 'committed') ? await this.#committedMap(tps.filter((t) => t.to === 'committed')) : new Map()
    const [low, high] = await Promise.all([
      this.#listOffsets(tps, -2n),
      this.#client.ends(tps, 'read_uncommitted')
    ])
    const byTime = tps.filter((t) => typeof t.to === 'object')
    const atTime = byTime.length ? await this.#listOffsets(byTime.map((t) => ({ ...t, timestamp: t.to.timestamp }))) : new Map()
    for (const t of tps) {
      const k = key(t.topic, t.partition)
      let to = t.to
      if (to === 'committed') to = committed.has(k) ? committed.get(k) : this.#o.startFrom
      let offset
      if (to === 'earliest') offset = low.get(k)
      else if (to === 'latest') offset = high.get(k)
      else if (typeof to === 'object') offset = atTime.get(k) < 0 ? high.get(k) : atTime.get(k)
      else if (to < low.get(k)) {
        offset = low.get(k)
        this.emit('offsetOutOfRange', { topic: t.topic, partition: t.partition, from: to, to: offset })
      } else offset = Math.min(to, high.get(k))
      this.#fetchAt.set(k, offset)
      this.#deliver.set(k, offset)
    }
  }

  async #listOffsets (tps, ts) {
    const res = await this.#client.admin.listOffsets({
      topics: [...new Set(tps.map((t) => t.topic))].map((name) => ({
        name,
        partitions: tps.filter((t) => t.topic === name).map((t) => ({ partitionIndex: t.partition, timestamp: t.timestamp === undefined ? ts : BigInt(t.timestamp) }))
      }))
    })
    const out = new Map()
    for (const t of res) for (const p of t.partitions) out.set(key(t.name, p.partitionIndex), Number(p.offset))
    return out
  }

  async #committedMap (tps) {
    const topics = [...new Set(tps.map((t) => t.topic))].map((topic) => ({ topic, partitions: tps.filter((t) => t.topic === topic).map((t) => t.partition) }))
    const res = await this.#pc.listCommittedOffsets({ topics })
    const out = new Map()
    for (const [topic, offsets] of res) {
      offsets.forEach((o, partition) => { if (o !== undefined && o >= 0n) out.set(key(topic, partition), Number(o)) })
    }
    return out
  }

  #readable () {
    return this.#tps.filter((t) => !this.#paused.has(key(t.topic, t.partition)) && this.#fetchAt.has(key(t.topic, t.partition)))
  }

  // Nothing to read (all paused, or no partitions yet): sleeps until a change or `ms` (Infinity: no timer).
  #idle (ms) {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? null : setTimeout(resolve, ms)
      this.#wake = () => { clearTimeout(timer); resolve() }
    })
  }

  // One Fetch per leader for every readable partition; resolves with the messages in offset order per partition.
  async #fetchOnce (tps, waitMs) {
    const topics = [...new Set(tps.map((t) => t.topic))]
    const md = await this.#pc.metadata({ topics })
    const byLeader = new Map()
    const ids = new Map()
    const asked = new Map()
    for (const t of tps) {
      const tm = md.topics.get(t.topic)
      ids.set(tm.id, t.topic)
      const leader = tm.partitions[t.partition].leader
      if (!byLeader.has(leader)) byLeader.set(leader, [])
      const fetchOffset = this.#fetchAt.get(key(t.topic, t.partition))
      asked.set(key(t.topic, t.partition), fetchOffset)
      byLeader.get(leader).push({ topicId: tm.id, partitions: [{ partition: t.partition, fetchOffset: BigInt(fetchOffset), partitionMaxBytes: MAX_FETCH_BYTES, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] })
    }
    const gen = this.#generation
    const responses = await Promise.all([...byLeader].map(([node, topicsReq]) => this.#pc.fetch({
      node,
      topics: topicsReq,
      minBytes: 1,
      maxBytes: MAX_FETCH_BYTES,
      maxWaitTime: waitMs,
      isolationLevel: this.#o.isolation === 'read_committed' ? 1 : 0
    }).catch((err) => {
      // A position outside the log: the next round clamps it to the log's ends.
      if (protocolError(err)?.apiId === 'OFFSET_OUT_OF_RANGE') {
        for (const t of tps) this.#pending.set(key(t.topic, t.partition), this.#fetchAt.get(key(t.topic, t.partition)))
        return null
      }
      throw err
    })))
    const out = []
    for (const res of responses) {
      if (!res) continue
      for (const tr of res.responses) {
        const topic = ids.get(tr.topicId)
        for (const p of tr.partitions) {
          const k = key(topic, p.partitionIndex)
          // Seeked, paused or revoked while the fetch was out: its records are stale.
          if (gen !== this.#generation || asked.get(k) !== this.#fetchAt.get(k) || this.#paused.has(k) || !p.records) continue
          const from = asked.get(k)
          const got = out.length
          let next = from
          for (const batch of p.records) {
            const last = Number(batch.firstOffset) + batch.lastOffsetDelta
            if (last + 1 > next) next = last + 1
            if (batch.attributes & IS_CONTROL) continue
            for (const r of batch.records) {
              const offset = Number(batch.firstOffset) + r.offsetDelta
              if (offset < from) continue
              const headers = {}
              for (const [hk, hv] of r.headers) headers[hk.toString('utf8')] = hv ?? null
              out.push({ topic, partition: p.partitionIndex, offset, timestamp: Number(batch.firstTimestamp + r.timestampDelta), key: r.key ?? null, value: r.value ?? null, headers })
            }
          }
          this.#fetchAt.set(k, next)
          // Only markers or aborted records: what is handed out next moves past them too.
          if (out.length === got) this.#deliver.set(k, next)
          else if (out.at(-1).offset + 1 < next) this.#skipTo.set(out.at(-1), next)
        }
      }
    }
    return out
  }

  async #fill (maxWaitMs) {
    const deadline = maxWaitMs === undefined ? Infinity : Date.now() + maxWaitMs
    try {
      await this.#ready
      for (;;) {
        if (this.#pendingError) { const e = this.#pendingError; this.#pendingError = null; throw e }
        if (this.#closed) return false
        await this.#resolvePending()
        const left = Math.max(0, deadline - Date.now())
        const tps = this.#readable()
        if (tps.length === 0) {
          // Positions named while resolving (a new assignment, a seek) are resolved first.
          if (this.#pending.size) continue
          if (left === 0) return false
          await this.#idle(left)
          continue
        }
        const got = await this.#fetchOnce(tps, Math.min(left, FETCH_WAIT_MS))
        if (this.#closed) return false
        if (got.length) {
          this.#buffer = got
          this.#at = 0
          return true
        }
        if (deadline - Date.now() <= 0) return false
      }
    } catch (err) {
      if (this.#closed) return false
      throw this.#client.fail(err, 'consumer')
    }
  }

  #message (m) {
    const out = { ...m }
    try {
      if (out.key !== null && this.#o.key) out.key = this.#o.key.deserialize(out.key)
      if (out.value !== null && this.#o.value) out.value = this.#o.value.deserialize(out.value)
    } catch (cause) {
      this.#stalled = true
      throw coded('ERR_DESERIALIZE', `cannot deserialize ${m.topic}/${m.partition} offset ${m.offset}: ${cause instanceof Error ? cause.message : v.describe(cause)}; the consumer stays open: seek past it and iterate again, or close it`,
        { cause, topic: m.topic, partition: m.partition, offset: m.offset })
    }
    return out
  }

  // The next message or batch is asked for: what was in hand is processed.
  #asked () {
    for (const m of this.#inHand) {
      const k = key(m.topic, m.partition)
      // A partition revoked while its message was in hand is no longer this consumer's to commit.
      if (this.#deliver.has(k)) this.#processed.set(k, this.#next(m))
    }
    this.#inHand = []
  }

  #next (m) { return this.#skipTo.get(m) ?? m.offset + 1 }

  #handOut (m) {
    this.#deliver.set(key(m.topic, m.partition), this.#next(m))
    this.#inHand.push(m)
  }

  async * [Symbol.asyncIterator] () {
    this.#check()
    try {
      for (;;) {
        this.#asked()
        if (this.#at >= this.#buffer.length && !(await this.#fill())) return
        const raw = this.#buffer[this.#at]
        const m = this.#message(raw)
        this.#at++
        this.#handOut(raw)
        yield m
      }
    } finally {
      await this.#loopEnded()
    }
  }

  async * batches (opts) {
    let max, wait
    v.readingArgs('batches options', () => {
      opts = v.options('batches options', opts, ['maxMessages', 'maxWaitMs'])
      max = opts.maxMessages === undefined ? 1000 : v.int('maxMessages', opts.maxMessages, 1, 1_000_000)
      wait = opts.maxWaitMs === undefined ? undefined : v.int('maxWaitMs', opts.maxWaitMs, 0, 2 ** 31 - 1)
    })
    this.#check()
    try {
      for (;;) {
        this.#asked()
        if (this.#at >= this.#buffer.length) {
          const got = await this.#fill(wait)
          if (this.#closed) return
          if (!got) { yield []; continue }
        }
        const out = []
        const end = Math.min(this.#buffer.length, this.#at + max)
        try {
          while (this.#at < end) {
            const raw = this.#buffer[this.#at]
            out.push(this.#message(raw))
            this.#at++
            this.#handOut(raw)
          }
        } catch (err) {
          if (out.length === 0) throw err
          this.#stalled = false
        }
        yield out
      }
    } finally {
      await this.#loopEnded()
    }
  }

  async #loopEnded () {
    if (this.#stalled) { this.#stalled = false; return }
    // The message in hand when the loop ended is not processed.
    this.#inHand = []
    await this.close()
  }

  seek (to) {
    this.#check()
    let tp, target
    v.readingArgs('seek', () => {
      tp = v.topicPartition('seek', to)
      if (to.timestamp === undefined) target = v.position('seek offset', to.offset)
      else if (to.offset !== undefined) throw invalid('seek takes an offset or a timestamp, not both')
      else target = { timestamp: v.number('seek timestamp', to.timestamp) }
    })
    const k = key(tp.topic, tp.partition)
    if (!this.#tps.some((t) => key(t.topic, t.partition) === k)) throw coded('ERR_INVALID_PARTITION', `${tp.topic}/${tp.partition} is not assigned to this consumer`)
    this.#dropBuffered(tp)
    this.#fetchAt.delete(k)
    this.#pending.set(k, target)
    this.#poke()
  }

  #setPaused (what, tps, paused) {
    this.#check()
    const list = v.readingArgs(what, () => v.array(what, tps).map((tp, i) => v.topicPartition(`${what}[${i}]`, tp)))
    for (const tp of list) {
      const k = key(tp.topic, tp.partition)
      if (paused) {
        this.#paused.add(k)
        this.#dropBuffered(tp)
        if (this.#deliver.has(k)) this.#fetchAt.set(k, this.#deliver.get(k))
      } else this.#paused.delete(k)
    }
    this.#poke()
  }

  pause (tps) { this.#setPaused('pause', tps, true) }

  resume (tps) { this.#setPaused('resume', tps, false) }

  assignment () {
    return this.#tps.map((t) => ({ ...t }))
  }

  // Commits `positions` (Map 'topic:partition' -> offset), only those of `only` when given, and only what moved.
  async #commitMap (positions, only) {
    const keep = only ? new Set(only.map((t) => key(t.topic, t.partition))) : null
    const offsets = []
    for (const [k, offset] of positions) {
      if ((keep && !keep.has(k)) || this.#committedSent.get(k) === offset) continue
      const i = k.lastIndexOf(':')
      offsets.push({ topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset: BigInt(offset), leaderEpoch: -1 })
    }
    if (offsets.length === 0) return
    try {
      await this.#pc.commit({ offsets })
    } catch (err) {
      throw this.#client.fail(err, 'commit')
    }
    for (const o of offsets) this.#committedSent.set(key(o.topic, o.partition), Number(o.offset))
  }

  #autoCommit () {
    if (this.#o.autoCommitMs === undefined || !this.#pc.memberId) return Promise.resolve()
    return this.#commitMap(this.#processed)
  }

  async commit (offsets) {
    this.#check()
    if (!this.#o.groupId) throw invalid('commit needs a group consumer (groupId); manual consumers keep their own positions')
    const list = offsets === undefined
      ? undefined
      : v.readingArgs('commit', () => v.array('commit', offsets).map((o, i) => v.topicPartitionOffset(`commit[${i}]`, o)))
    await this.#ready
    const positions = list ? new Map(list.map((o) => [key(o.topic, o.partition), o.offset])) : new Map(this.#deliver)
    await this.#commitMap(positions)
  }

  async committed () {
    this.#check()
    if (!this.#o.groupId) throw invalid('committed needs a group consumer (groupId)')
    await this.#ready
    try {
      const m = await this.#committedMap(this.#tps)
      return this.#tps.filter((t) => m.has(key(t.topic, t.partition))).map((t) => ({ ...t, offset: m.get(key(t.topic, t.partition)) }))
    } catch (err) {
      throw this.#client.fail(err, 'committed')
    }
  }

  // For a transaction's sendOffsets: the group's identity and every position handed out.
  [TXN_OFFSETS] () {
    this.#check()
    if (!this.#o.groupId) throw invalid('sendOffsets takes a group consumer (groupId)')
    const pc = this.#pc
    const offsets = [...this.#deliver].map(([k, offset]) => { const i = k.lastIndexOf(':'); return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset } })
    // Committed through the transaction: auto-commit must not commit them again outside it.
    for (const o of offsets) { this.#processed.delete(key(o.topic, o.partition)); this.#committedSent.set(key(o.topic, o.partition), o.offset) }
    return { groupId: pc.groupId, generationId: pc.generationId, memberId: pc.memberId, coordinatorId: pc.coordinatorId, offsets }
  }

  async lag () {
    this.#check()
    try {
      await this.#ready
      await this.#resolvePending()
      const ends = await this.#client.ends(this.#tps, this.#o.isolation)
      return this.#tps.map((t) => {
        const k = key(t.topic, t.partition)
        const high = ends.get(k)
        const offset = this.#deliver.get(k) ?? high
        return { topic: t.topic, partition: t.partition, offset, high, lag: Math.max(0, high - offset) }
      })
    } catch (err) {
      throw this.#client.fail(err, 'lag')
    }
  }

  async close () {
    if (this.#closed) return
    this.#closed = true
    this.#poke()
    if (this.#commitTimer) clearInterval(this.#commitTimer)
    if (this.#signal) this.#signal.removeEventListener('abort', this.#onAbort)
    this.#client.forget(this)
    try {
      await this.#ready.catch(() => {})
      if (this.#o.groupId && this.#pc.memberId) {
        this.#asked()
        await this.#autoCommit().catch(() => {})
        const revoked = this.#tps
        this.#tps = []
        if (revoked.length) this.emit('rebalance', { assigned: [], revoked: revoked.map((t) => ({ ...t })) })
        await this.#pc.leaveGroup(true).catch(() => {})
      }
    } finally {
      await this.#pc.close(true).catch(() => {})
    }
  }

  [asyncDispose] () { return this.close() }
}

module.exports = { KafkaConsumer }
