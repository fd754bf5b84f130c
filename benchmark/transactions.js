'use strict'
// caldo's exactly-once benchmark (`node benchmark/transactions.js`, also run at the end of
// `npm run bench`): writes benchmark/results/transactions.json and transactions.md. Node
// built-ins and caldo only.
//
//   1. produce: sendBatch of 1,000 records, plain against one transaction per 1,000 records.
//   2. consume: batches() over a topic written in transactions (none aborted),
//      read_committed against read_uncommitted.
//   3. small transactions (10 records) from one producer, durability 'none': what a commit
//      itself costs; the same at the default, 'interval', where the coordinator's state is
//      fdatasynced twice a transaction. Then durability 'always': 1 producer, and 16 at once, committing
//      transactions of 10 records; the markers share the records' group-commit fsync.
//   4. an exactly-once pipeline in one process: consume → transform → produce with the
//      offsets in the transaction, 1,000 records per transaction.
//
// Each figure is the median of RUNS runs, with the range.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open } = require('..')
const { median, fmt, machine, machineLine } = require('./common')

const QUICK = require.main === module && process.argv.includes('--quick')
const RUNS = QUICK ? 1 : 5
const RECORDS = QUICK ? 100_000 : 500_000
const BATCH = 1000
const VALUE_BYTES = 100
const DURABLE_PRODUCERS = 16
const DURABLE_BATCH = 10
const DURABLE_MS = QUICK ? 1000 : 3000

const perSecond = (n, ms) => n / ms * 1000
const value = Buffer.alloc(VALUE_BYTES, 0x61)
const batch = Array.from({ length: BATCH }, () => ({ value }))

function expect (what, got, want) {
  if (got !== want) throw new Error(`${what}: expected ${want}, got ${got}`)
}

async function produce (log, topic, transactional) {
  await log.createTopic(topic)
  const producer = log.producer(transactional ? { transactionalId: topic } : undefined)
  const t0 = performance.now()
  for (let i = 0; i < RECORDS; i += BATCH) {
    if (transactional) await producer.transaction((tx) => tx.sendBatch(topic, batch))
    else await producer.sendBatch(topic, batch)
  }
  const ms = performance.now() - t0
  await producer.close()
  return perSecond(RECORDS, ms)
}

async function consume (log, topic, isolation) {
  const c = log.consumer({ isolation, assign: [{ topic, partition: 0, offset: 'earliest' }] })
  let n = 0
  const t0 = performance.now()
  for await (const b of c.batches({ maxMessages: 10_000 })) {
    n += b.length
    if (n >= RECORDS) break
  }
  const ms = performance.now() - t0
  expect(`${isolation} records`, n, RECORDS)
  return perSecond(RECORDS, ms)
}

// Transactions of DURABLE_BATCH records from `n` producers at once, for DURABLE_MS.
async function commits (log, run, n) {
  const topic = `small-${n}-${run}`
  await log.createTopic(topic, { partitions: 4 })
  const producers = Array.from({ length: n }, (_, i) => log.producer({ transactionalId: `${topic}-${i}` }))
  const small = Array.from({ length: DURABLE_BATCH }, (_, i) => ({ key: `k${i}`, value }))
  let commits = 0
  const end = performance.now() + DURABLE_MS
  const t0 = performance.now()
  await Promise.all(producers.map(async (p) => {
    while (performance.now() < end) {
      await p.transaction((tx) => tx.sendBatch(topic, small))
      commits++
    }
  }))
  const ms = performance.now() - t0
  await Promise.all(producers.map((p) => p.close()))
  return { commitsPerSec: perSecond(commits, ms), recordsPerSec: perSecond(commits * DURABLE_BATCH, ms) }
}

async function pipeline (log, run) {
  const input = `in-${run}`
  const output = `out-${run}`
  await log.createTopic(input, { partitions: 4 })
  await log.createTopic(output, { partitions: 4 })
  const feeder = log.producer()
  for (let i = 0; i < RECORDS; i += BATCH) await feeder.sendBatch(input, batch.map((r, j) => ({ key: `k${(i + j) % 64}`, value })))
  await feeder.close()
  const consumer = log.consumer({ groupId: `eos-${run}`, topics: [input], startFrom: 'earliest' })
  const producer = log.producer({ transactionalId: `eos-${run}` })
  let n = 0
  const t0 = performance.now()
  for await (const b of consumer.batches({ maxMessages: BATCH })) {
    await producer.transaction(async (tx) => {
      await tx.sendBatch(output, b.map((m) => ({ key: m.key, value: m.value })))
      await tx.sendOffsets(consumer)
    })
    n += b.length
    if (n >= RECORDS) break
  }
  const ms = performance.now() - t0
  await producer.close()
  expect('pipeline records', n, RECORDS)
  return perSecond(RECORDS, ms)
}

async function repeat (fn) {
  const all = []
  for (let i = 0; i < RUNS; i++) all.push(await fn(i))
  return all
}

const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs })
const cell = (s) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`

function table (m, r) {
  const ratio = (a, b) => (a.median / b.median).toFixed(2)
  return [
    '# caldo: exactly once',
    '',
    machineLine(m),
    `Medians of ${RUNS} runs (range in brackets), ${VALUE_BYTES}-byte values, ${RECORDS.toLocaleString('en-US')} records a run. The machine is shared and noisy: expect ±20%.`,
    '',
    '| Scenario | Result |',
    '|---|---:|',
    `| produce, plain \`sendBatch\` ×${BATCH} (rec/s) | ${cell(r.plain)} |`,
    `| produce, one transaction per ${BATCH} records (rec/s) | ${cell(r.transactional)} (${ratio(r.transactional, r.plain)} of plain) |`,
    `| consume \`batches()\`, read_uncommitted (rec/s) | ${cell(r.uncommitted)} |`,
    `| consume \`batches()\`, read_committed, no aborts (rec/s) | ${cell(r.committed)} (${ratio(r.committed, r.uncommitted)} of read_uncommitted) |`,
    `| durability 'none', 1 producer, ${DURABLE_BATCH} records a transaction (commits/s) | ${cell(r.smallNone)} |`,
    `| durability 'interval' (the default), 1 producer, ${DURABLE_BATCH} records a transaction (commits/s) | ${cell(r.smallInterval)} |`,
    `| durability 'always', 1 producer, ${DURABLE_BATCH} records a transaction (commits/s) | ${cell(r.durableOne)} |`,
    `| durability 'always', ${DURABLE_PRODUCERS} producers at once, ${DURABLE_BATCH} records a transaction (commits/s) | ${cell(r.durableCommits)} (${fmt(r.durableRecords.median)} rec/s) |`,
    `| exactly-once pipeline, one process, ${BATCH} records a transaction (rec/s) | ${cell(r.pipeline)} |`
  ].join('\n')
}

async function main () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-bench-txn-'))
  try {
    const m = machine(tmp)
    const r = {}
    const log = await open(path.join(tmp, 'none'), { durability: 'none' })
    const plain = []
    const transactional = []
    const uncommitted = []
    const committed = []
    for (let i = 0; i < RUNS; i++) {
      // Interleaved, so that a noisy moment hits both sides alike.
      plain.push(await produce(log, `plain-${i}`, false))
      transactional.push(await produce(log, `txn-${i}`, true))
      // The first read of a topic pays for the page cache: each isolation goes first every other run.
      const order = i % 2 ? ['read_committed', 'read_uncommitted'] : ['read_uncommitted', 'read_committed']
      for (const isolation of order) (isolation === 'read_committed' ? committed : uncommitted).push(await consume(log, `txn-${i}`, isolation))
    }
    Object.assign(r, { plain: stats(plain), transactional: stats(transactional), uncommitted: stats(uncommitted), committed: stats(committed) })
    r.pipeline = stats(await repeat((i) => pipeline(log, i)))
    r.smallNone = stats((await repeat((i) => commits(log, i, 1))).map((x) => x.commitsPerSec))
    await log.close()
    const interval = await open(path.join(tmp, 'interval'))
    r.smallInterval = stats((await repeat((i) => commits(interval, i, 1))).map((x) => x.commitsPerSec))
    await interval.close()
    const always = await open(path.join(tmp, 'always'), { durability: 'always' })
    const d = await repeat((i) => commits(always, i, DURABLE_PRODUCERS))
    r.durableOne = stats((await repeat((i) => commits(always, i, 1))).map((x) => x.commitsPerSec))
    await always.close()
    r.durableCommits = stats(d.map((x) => x.commitsPerSec))
    r.durableRecords = stats(d.map((x) => x.recordsPerSec))
    const md = table(m, r)
    console.log(md)
    if (!QUICK) {
      const out = path.join(__dirname, 'results')
      fs.mkdirSync(out, { recursive: true })
      const settings = { runs: RUNS, records: RECORDS, batch: BATCH, valueBytes: VALUE_BYTES, durableProducers: DURABLE_PRODUCERS, durableBatch: DURABLE_BATCH, durableMs: DURABLE_MS }
      fs.writeFileSync(path.join(out, 'transactions.json'), JSON.stringify({ machine: m, settings, results: r }, null, 2) + '\n')
      fs.writeFileSync(path.join(out, 'transactions.md'), md + '\n')
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}

module.exports = { main }
