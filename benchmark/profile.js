'use strict'
// The workloads that benchmark/profile.sh runs under perf, one caldo path each:
//   node benchmark/profile.js fill DIR N          N records of 100 B into topic 'p' (untimed setup)
//   node benchmark/profile.js produce DIR N       sendBatch ×1000 of values built beforehand (BYTES=65536: ×16)
//   node benchmark/profile.js each DIR N          for await over the topic
//   node benchmark/profile.js batches DIR N       batches({ maxMessages: 10000 }) over the topic
//   node benchmark/profile.js view DIR N          batches({ maxMessages: 10000, view: true }), each value read
//   node benchmark/profile.js tail DIR N          waits at the end of topic 'lat' for N records
//   node benchmark/profile.js paced DIR N RATE    sends N records to 'lat' at RATE/s (1 ms timer)
// Default durability ('interval'), as in the peer benchmark. Prints the rate it reached.

const { open } = require('..')
const { setTimeout: sleep } = require('node:timers/promises')

const [mode, dir, n, rate] = process.argv.slice(2)
const N = Number(n)
const BYTES = Number(process.env.BYTES) || 100 // value size; profile.sh uses 100 and 65536 for produce

function values (count) {
  const block = Buffer.alloc(count * BYTES, 0x61)
  return Array.from({ length: count }, (_, i) => ({ value: block.subarray(i * BYTES, (i + 1) * BYTES) }))
}

const modes = {
  async fill (log) {
    await log.createTopic('p').catch(() => {})
    await log.createTopic('lat').catch(() => {})
    await modes.produce(log)
  },
  async produce (log) {
    const recs = values(BYTES > 16384 ? 16 : 1000) // batches as in the peer benchmark
    const p = log.producer()
    const inFlight = []
    for (let i = 0; i < N; i += recs.length) {
      inFlight.push(p.sendBatch('p', recs))
      if (inFlight.length === 4) await inFlight.shift()
    }
    await Promise.all(inFlight)
    await p.close()
  },
  async each (log) {
    const c = log.consumer({ assign: [{ topic: 'p', partition: 0, offset: 'earliest' }] })
    let k = 0
    for await (const m of c) { if (m.value && ++k === N) break }
  },
  async batches (log) {
    const c = log.consumer({ assign: [{ topic: 'p', partition: 0, offset: 'earliest' }] })
    let k = 0
    for await (const b of c.batches({ maxMessages: 10_000 })) { k += b.length; if (k >= N) break }
  },
  async view (log) {
    const c = log.consumer({ assign: [{ topic: 'p', partition: 0, offset: 'earliest' }] })
    let k = 0
    for await (const b of c.batches({ maxMessages: 10_000, view: true })) {
      for (let i = 0; i < b.length; i++) if (b.value(i)) k++
      if (k >= N) break
    }
  },
  async tail (log) {
    const c = log.consumer({ assign: [{ topic: 'lat', partition: 0, offset: 'latest' }] })
    if (process.send) process.send({ ready: true })
    let k = 0
    for await (const m of c) { if (m.value && ++k === N) break }
  },
  async paced (log) {
    const p = log.producer()
    const value = Buffer.alloc(BYTES, 0x61)
    const t0 = performance.now()
    for (let sent = 0; sent < N;) {
      const due = Math.min(N, Math.floor((performance.now() - t0) * Number(rate) / 1000) + 1)
      for (; sent < due; sent++) p.send('lat', { value })
      await sleep(1)
    }
    await p.flush()
  }
}

async function main () {
  const log = await open(dir)
  const t0 = performance.now()
  await modes[mode](log)
  const ms = performance.now() - t0
  await log.close()
  console.log(`${mode}: ${N} records in ${ms.toFixed(0)} ms = ${Math.round(N / ms * 1000).toLocaleString('en-US')} rec/s`)
}

main().catch((e) => { console.error(e); process.exit(1) })
