'use strict'
// The console's live view. While at least one browser listens, it samples topics() and
// groups() and sends a snapshot only when something changed:
// - after an append anywhere (a consumer at the end of every partition sleeps on the
//   log's wake word, so an idle log costs nothing), at most once a second while busy;
// - every QUIET_MS otherwise, because a group member joining or leaving, a new topic or
//   a retention clean append nothing.
// With no listener it does nothing at all.

const QUIET_MS = 2000
const MIN_GAP_MS = 1000
// Points kept for the charts: 10 minutes at one a second.
const HISTORY = 600
// Rates are taken over at least this long: commits come once a second per member, and
// samples a second apart would alias them into spikes and zeros.
const RATE_WINDOW_MS = 3000

const sum = (list, f) => list.reduce((s, x) => s + f(x), 0)

// Per-second rate of a counter, or 0 when it went down (a topic made again, a reset).
const rate = (now, before, ms) => (before === undefined || now < before ? 0 : Math.round((now - before) * 1000 / ms))

function groupState (g) {
  return g.members.length ? 'Stable' : 'Empty'
}

class Live {
  #log
  #clients = new Set()
  #run = null
  #stop = null
  #watcher = null
  #watchKey = ''
  #samples = []
  #lastJson = ''
  #lastPoint = null
  history = []
  snapshot = null

  constructor (log) {
    this.#log = log
  }

  /** Adds a listener `send(event, data)`; the first one starts sampling. */
  add (send) {
    this.#clients.add(send)
    if (!this.#run) this.#run = this.#loop()
  }

  remove (send) {
    this.#clients.delete(send)
    if (this.#clients.size === 0) this.#halt()
  }

  /** The latest snapshot, sampled now if sampling is not running. */
  async current () {
    if (this.snapshot && this.#run) return this.snapshot
    const [topics, groups] = await Promise.all([this.#log.topics({ internal: true }), this.#log.groups()])
    return this.#snapshotOf(topics, groups)
  }

  async close () {
    this.#clients.clear()
    this.#halt()
    await this.#run
  }

  #halt () {
    if (this.#stop) this.#stop()
  }

  #broadcast (event, data) {
    const text = JSON.stringify(data)
    for (const send of this.#clients) send(event, text)
  }

  async #loop () {
    let stopped = false
    let wake = null
    this.#stop = () => { stopped = true; if (wake) wake(); this.#closeWatcher() }
    // A gap in the charts: nothing was sampled while nobody looked.
    this.#samples = []
    if (this.history.length) this.#push({ t: Date.now(), gap: true })
    const pause = (ms) => new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => { clearTimeout(timer); resolve() }
    })
    try {
      while (!stopped) {
        const started = Date.now()
        let busy = false
        try {
          busy = await this.#tick()
        } catch (err) {
          this.#broadcast('failure', { code: err.code, message: err.message })
        }
        if (stopped) break
        await pause(MIN_GAP_MS - (Date.now() - started))
        if (stopped || busy) continue
        await this.#waitForAppend(pause)
      }
    } finally {
      this.#closeWatcher()
      this.#stop = null
      this.#run = null
      // A listener that came while this loop was ending needs a loop of its own.
      if (this.#clients.size) this.#run = this.#loop()
    }
  }

  // Sleeps until an append anywhere in the log, or QUIET_MS.
  async #waitForAppend (pause) {
    if (!this.#watcher) return pause(QUIET_MS)
    try {
      await this.#watcher.it.next()
    } catch {
      // Its topic was deleted, say: the next tick makes another.
      this.#closeWatcher()
    }
  }

  #closeWatcher () {
    const w = this.#watcher
    this.#watcher = null
    this.#watchKey = ''
    if (w) w.consumer.close().catch(() => {})
  }

  // A consumer at the end of every partition (internal ones too: commits are appends),
  // reading one record at a time: it only wakes the loop.
  #watch (topics) {
    const assign = topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, offset: 'latest' })))
    const key = assign.map((a) => `${a.topic}/${a.partition}`).join(',')
    if (key === this.#watchKey) return
    this.#closeWatcher()
    if (!assign.length) return
    const consumer = this.#log.consumer({ assign })
    this.#watcher = { consumer, assign, it: consumer.batches({ maxMessages: 1, maxWaitMs: QUIET_MS })[Symbol.asyncIterator]() }
    this.#watchKey = key
  }

  // One sample; true when the log moved (offsets, bytes, groups).
  async #tick () {
    // To the end before sampling: an append after this wakes the next wait.
    const w = this.#watcher
    if (w) {
      try {
        for (const a of w.assign) w.consumer.seek(a)
      } catch {
        this.#closeWatcher()
      }
    }
    const t = Date.now()
    const [topics, groups] = await Promise.all([this.#log.topics({ internal: true }), this.#log.groups()])
    this.#watch(topics.filter((x) => x.config))
    const snap = this.#snapshotOf(topics, groups, t)
    const point = this.#pointOf(snap)
    const json = JSON.stringify([snap.topics, snap.groups])
    const moved = json !== this.#lastJson
    this.#lastJson = json
    this.snapshot = snap
    const rates = JSON.stringify([point.produce, point.consume])
    if (moved || !this.#lastPoint || rates !== this.#lastPoint) {
      this.#lastPoint = rates
      this.#push(point)
      this.#broadcast('snapshot', { snapshot: snap, point })
    }
    return moved
  }

  #push (point) {
    this.history.push(point)
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY)
  }

  #snapshotOf (topics, groups, t = Date.now()) {
    return {
      t,
      topics: topics.filter((t) => !t.name.startsWith('__')),
      groups: groups.map((g) => ({ ...g, state: groupState(g), lag: sum(g.offsets, (o) => o.lag) }))
    }
  }

  // Rates since the newest sample at least RATE_WINDOW_MS old (else the oldest): records
  // appended per topic, and committed per group and topic (partitions with a commit in
  // both samples only).
  #pointOf (snap) {
    const t = snap.t
    const highs = new Map()
    for (const topic of snap.topics) highs.set(topic.name, sum(topic.partitions, (p) => p.high))
    const commits = new Map()
    const lag = {}
    for (const g of snap.groups) {
      lag[g.groupId] = {}
      for (const o of g.offsets) {
        lag[g.groupId][o.topic] = (lag[g.groupId][o.topic] ?? 0) + o.lag
        if (o.committed !== null) commits.set(`${g.groupId}\0${o.topic}\0${o.partition}`, o.committed)
      }
    }
    const samples = this.#samples
    const prev = samples.findLast((x) => x.t <= t - RATE_WINDOW_MS) ?? samples[0]
    samples.push({ t, highs, commits })
    while (samples.length > 2 && samples[1].t <= t - RATE_WINDOW_MS) samples.shift()
    if (!prev) return { t, produce: null, consume: null, lag }
    const ms = Math.max(1, t - prev.t)
    const produce = {}
    for (const [name, high] of highs) produce[name] = rate(high, prev.highs.get(name), ms)
    const consume = {}
    for (const g of snap.groups) {
      const byTopic = {}
      for (const o of g.offsets) {
        const k = `${g.groupId}\0${o.topic}\0${o.partition}`
        byTopic[o.topic] = (byTopic[o.topic] ?? 0) + (commits.has(k) && prev.commits.has(k) ? rate(commits.get(k), prev.commits.get(k), ms) : 0)
      }
      consume[g.groupId] = byTopic
    }
    return { t, produce, consume, lag }
  }
}

module.exports = { Live }
