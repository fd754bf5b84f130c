'use strict'
// One measured process: `node worker.js '<json spec>'`, forked by run.js with an IPC channel.
// Sends { ready } when set up, waits for { go } where the role needs a common start, then
// sends { result } (or { error }) and exits.

const { EventEmitter } = require('node:events')
const { setTimeout: sleep } = require('node:timers/promises')
const { drivers, nowUs, makeValue, valuePool, sentAt, batchOf, BATCH } = require('./drivers')

const WARM_BATCHES = 50

const spec = JSON.parse(process.argv[2])
const d = drivers[spec.system]
const control = new EventEmitter()
const go = new Promise((resolve) => control.once('go', resolve))
process.on('message', (m) => control.emit(m.cmd, m))
const send = (m) => new Promise((resolve) => process.send(m, resolve))

const roles = {
  // Scenario 1: `count` records as fast as the driver's batching allows, after a warm-up
  // of WARM_BATCHES batches into the same topic, off the clock: a fast system's run is
  // a fraction of a second, which a cold client (JIT tiers, connections, buffers) would
  // otherwise dominate, and more so with 4 processes warming up on 2 cores at once.
  async produce (c) {
    const values = valuePool(spec.count, spec.valueBytes, spec.seq0)
    await d.produce(c, { ...spec, values: values.slice(0, WARM_BATCHES * batchOf(spec.valueBytes)) })
    await send({ ready: true })
    await go
    const t0 = nowUs()
    await d.produce(c, { ...spec, values })
    return { t0, t1: nowUs(), count: spec.count }
  },
  // Scenario 2: read `count` records back from the start, after a warm-up replay of
  // WARM_BATCHES batches' worth, off the clock, for the reason scenario 1 warms up: a fast
  // system replays the topic in tens of milliseconds, which a cold client would dominate.
  async replay (c) {
    await d.replay(c, { ...spec, count: Math.min(spec.count, WARM_BATCHES * BATCH) })
    return d.replay(c, spec)
  },
  // Scenario 3, receiving side: `count` records, latency = receive time - send time in the value.
  async tail (c) {
    const lat = new Float64Array(spec.count)
    let n = 0
    await d.tail(c, spec, (value) => {
      lat[n++] = nowUs() - sentAt(value)
      return n === spec.count
    }, () => process.send({ ready: true }))
    return { latencies: Array.from(lat) }
  },
  // Scenario 3, sending side: `rate` records/s for `seconds`, each stamped when sent; a
  // 1 ms timer sends whatever is due, so at 10,000/s about 10 records go per tick.
  async paced (c) {
    await send({ ready: true })
    await go
    const total = Math.round(spec.rate * spec.seconds)
    const state = {}
    const t0 = performance.now()
    let sent = 0
    while (sent < total) {
      const due = Math.min(total, Math.floor((performance.now() - t0) * spec.rate / 1000) + 1)
      if (spec.spread) { // round-robin over the partitions, one call per partition
        const by = Array.from({ length: spec.spread }, () => [])
        for (; sent < due; sent++) by[sent % spec.spread].push(makeValue(spec.valueBytes, sent))
        for (let p = 0; p < spec.spread; p++) if (by[p].length) await d.sendNow(c, state, spec.topic, by[p], spec.system === 'redis' ? undefined : p)
      } else {
        const values = []
        for (; sent < due; sent++) values.push(makeValue(spec.valueBytes, sent))
        if (values.length) await d.sendNow(c, state, spec.topic, values, spec.partition)
      }
      if (state.error) throw state.error
      await sleep(1)
    }
    if (state.producer) await state.producer.flush()
    return { sent }
  },
  // Scenario 5: `senders` loops, each awaiting one durable send at a time, for `ms`.
  async durable (c) {
    const t0 = performance.now()
    const sent = await d.durable(c, spec)
    return { sent, ms: performance.now() - t0 }
  },
  // Scenario 4: a group member that reports its assignments and what it consumed.
  async member (c) {
    await d.groupMember(c, spec, (m) => process.send(m), () => process.send({ ready: true }), control)
    return {}
  }
}

async function main () {
  const c = await d.connect(spec)
  try {
    const result = await roles[spec.role](c)
    await send({ result })
  } finally {
    await Promise.race([d.close(c), sleep(5000)]).catch(() => {})
  }
  process.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
}

main().catch(async (err) => {
  await send({ error: String(err && err.stack || err) }).catch(() => {})
  process.exit(1)
})
