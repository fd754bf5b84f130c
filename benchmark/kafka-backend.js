'use strict'
// caldo on Kafka against the Kafka client it uses (@platformatic/kafka) used directly
// (`node benchmark/kafka-backend.js [--quick]`): what caldo's API costs on top of it.
// Writes benchmark/results/kafka-backend.json and kafka-backend.md.
//
//   produce: RECORDS records of VALUE_BYTES, BATCH per call, one call in flight (caldo:
//            producer.sendBatch; direct: producer.send({ messages })), idempotent, acks=all.
//   consume: the same records read back by a new group member from the earliest offset
//            (caldo: log.consumer({ groupId }).batches(); direct: consumer.consume() stream),
//            from creating the consumer to the last record in hand.
//
// One single-node broker (scripts/kafka-broker.js) serves both, each run on a fresh topic,
// caldo and direct alternating run by run. Each figure is the median of RUNS runs, with the range.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open } = require('..')
const { startBroker } = require('../scripts/kafka-broker')
const { median, fmt, machine, machineLine } = require('./common')

const QUICK = process.argv.includes('--quick')
const RUNS = QUICK ? 1 : 5
const RECORDS = QUICK ? 50_000 : 200_000
const BATCH = 1000
const VALUE_BYTES = 100
const PARTITIONS = 4

const value = Buffer.alloc(VALUE_BYTES, 0x61)
const perSecond = (n, ms) => n / ms * 1000

async function caldoProduce (log, topic) {
  const p = log.producer()
  const batch = Array.from({ length: BATCH }, () => ({ value }))
  const t0 = performance.now()
  for (let i = 0; i < RECORDS; i += BATCH) await p.sendBatch(topic, batch)
  const ms = performance.now() - t0
  await p.close()
  return ms
}

async function directProduce (kafka, brokers, topic) {
  const p = new kafka.Producer({ clientId: 'bench-direct', bootstrapBrokers: [brokers], idempotent: true })
  const messages = Array.from({ length: BATCH }, () => ({ topic, value }))
  const t0 = performance.now()
  for (let i = 0; i < RECORDS; i += BATCH) await p.send({ messages })
  const ms = performance.now() - t0
  await p.close()
  return ms
}

async function caldoConsume (log, topic, groupId) {
  const t0 = performance.now()
  const c = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', autoCommit: false })
  let n = 0
  for await (const b of c.batches({ maxMessages: 10_000 })) {
    n += b.length
    if (n >= RECORDS) break
  }
  return performance.now() - t0
}

async function directConsume (kafka, brokers, topic, groupId) {
  const t0 = performance.now()
  const c = new kafka.Consumer({ clientId: 'bench-direct', bootstrapBrokers: [brokers], groupId, sessionTimeout: 10_000, heartbeatInterval: 3000 })
  const stream = await c.consume({ topics: [topic], mode: 'earliest', autocommit: false, maxBytes: 4 << 20, maxWaitTime: 500 })
  let n = 0
  for await (const m of stream) {
    n += m ? 1 : 0
    if (n >= RECORDS) break
  }
  const ms = performance.now() - t0
  await stream.close()
  await c.close(true)
  return ms
}

const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs })
const rate = (s) => `${fmt(perSecond(RECORDS, s.median))} (${fmt(perSecond(RECORDS, s.max))}–${fmt(perSecond(RECORDS, s.min))})`
const overhead = (c, d) => `${((c.median / d.median - 1) * 100).toFixed(1)} %`

async function main () {
  const broker = await startBroker()
  const kafka = await import('@platformatic/kafka')
  const log = await open(broker.url)
  const r = { produce: { caldo: [], direct: [] }, consume: { caldo: [], direct: [] } }
  try {
    // Run -1 warms up the broker and both clients; it is not counted.
    for (let i = -1; i < RUNS; i++) {
      for (const who of i % 2 ? ['direct', 'caldo'] : ['caldo', 'direct']) {
        const topic = `bench-${who}-${i}`
        await log.createTopic(topic, { partitions: PARTITIONS })
        const produced = who === 'caldo' ? await caldoProduce(log, topic) : await directProduce(kafka, broker.brokers, topic)
        const groupId = `bench-${who}-${i}`
        const consumed = who === 'caldo' ? await caldoConsume(log, topic, groupId) : await directConsume(kafka, broker.brokers, topic, groupId)
        if (i >= 0) {
          r.produce[who].push(produced)
          r.consume[who].push(consumed)
        }
        await log.deleteTopic(topic)
      }
    }
  } finally {
    await log.close()
    await broker.stop()
  }
  const s = {}
  for (const op of ['produce', 'consume']) s[op] = { caldo: stats(r[op].caldo), direct: stats(r[op].direct) }
  const m = machine(os.tmpdir())
  const md = [
    '# caldo on Kafka against @platformatic/kafka used directly',
    '',
    machineLine(m, 'broker data on'),
    `Single-node Apache Kafka (KRaft) on loopback; ${fmt(RECORDS)} records of ${VALUE_BYTES} B, ${PARTITIONS} partitions, ${BATCH} per call; median of ${RUNS} runs (range), records/s. A 2-core machine shared with the broker's JVM: figures are noisy, compare the columns, which ran back to back.`,
    '',
    '| | caldo on Kafka | @platformatic/kafka directly | caldo\'s overhead (time) |',
    '|---|---:|---:|---:|',
    `| produce (sendBatch / send) | ${rate(s.produce.caldo)} | ${rate(s.produce.direct)} | ${overhead(s.produce.caldo, s.produce.direct)} |`,
    `| consume (group member, from earliest) | ${rate(s.consume.caldo)} | ${rate(s.consume.direct)} | ${overhead(s.consume.caldo, s.consume.direct)} |`
  ].join('\n')
  console.log(md)
  if (!QUICK) {
    const out = path.join(__dirname, 'results')
    fs.mkdirSync(out, { recursive: true })
    const settings = { runs: RUNS, records: RECORDS, batch: BATCH, valueBytes: VALUE_BYTES, partitions: PARTITIONS }
    fs.writeFileSync(path.join(out, 'kafka-backend.json'), JSON.stringify({ machine: m, settings, results: s }, null, 2) + '\n')
    fs.writeFileSync(path.join(out, 'kafka-backend.md'), md + '\n')
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
