'use strict'
// caldo's quick benchmark (`npm run bench`): prints a Markdown table and writes
// benchmark/results/caldo.json and caldo.md, then runs the consumer-group benchmark
// (groups.js: results/groups.json and groups.md), the exactly-once benchmark
// (transactions.js: results/transactions.json and .md) and the latency benchmark
// (latency.js: results/latency.json and .md, with the raw-socket floor). Node built-ins and caldo only.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open } = require('..')
const { median, fmt, machine, machineLine } = require('./common')
const { replay, fill } = require('./consume')

const RUNS = 5 // throughput figures are the median of this many runs
const RECORDS = 1_000_000 // per throughput run
const REPLAY_RECORDS = 5_000_000 // per replay run: a second or more, so one GC more or less does not move it
const BATCH = 1000
const VALUE_BYTES = 100
const DURABLE_SENDERS = 64
const DURABLE_MS = 3000
const FDATASYNC_MS = 2000

const perSecond = (n, ms) => n / ms * 1000

function expect (what, got, want) {
  if (got !== want) throw new Error(`${what}: expected ${want}, got ${got}`)
}

async function stored (log, topic) {
  const info = (await log.topics()).find((t) => t.name === topic)
  return info.partitions.reduce((sum, p) => sum + p.high - p.low, 0)
}

// `n` records whose values start with their sequence number, so replays can check each one.
function records (start, n, keys) {
  const block = Buffer.alloc(n * VALUE_BYTES, 0x61)
  const out = new Array(n)
  for (let j = 0; j < n; j++) {
    const value = block.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES)
    value.writeUInt32LE(start + j)
    out[j] = keys ? { key: keys[(start + j) % keys.length], value } : { value }
  }
  return out
}

async function sendBatchRun (log, topic, partitions, keys) {
  await log.createTopic(topic, { partitions })
  const producer = log.producer()
  const t0 = performance.now()
  for (let i = 0; i < RECORDS; i += BATCH) {
    const placed = await producer.sendBatch(topic, records(i, BATCH, keys))
    expect('sendBatch results', placed.length, BATCH)
    if (partitions === 1) expect('sendBatch offset', placed[BATCH - 1].offset, i + BATCH - 1)
  }
  const ms = performance.now() - t0
  await producer.close()
  expect(`records stored in ${topic}`, await stored(log, topic), RECORDS)
  return perSecond(RECORDS, ms)
}

async function sendRun (log, topic) {
  await log.createTopic(topic)
  const producer = log.producer()
  const t0 = performance.now()
  for (let i = 0; i < RECORDS; i += BATCH) {
    const recs = records(i, BATCH)
    const sends = new Array(BATCH)
    for (let j = 0; j < BATCH; j++) sends[j] = producer.send(topic, recs[j])
    const placed = await Promise.all(sends)
    expect('send offset', placed[BATCH - 1].offset, i + BATCH - 1)
  }
  const ms = performance.now() - t0
  await producer.close()
  expect(`records stored in ${topic}`, await stored(log, topic), RECORDS)
  return perSecond(RECORDS, ms)
}

async function durableRun (log, topic) {
  await log.createTopic(topic)
  const producer = log.producer()
  const value = Buffer.alloc(VALUE_BYTES, 0x61)
  let sent = 0
  const t0 = performance.now()
  const end = t0 + DURABLE_MS
  await Promise.all(Array.from({ length: DURABLE_SENDERS }, async () => {
    while (performance.now() < end) {
      await producer.send(topic, { value })
      sent++
    }
  }))
  const ms = performance.now() - t0
  await producer.close()
  expect(`records stored in ${topic}`, await stored(log, topic), sent)
  return perSecond(sent, ms)
}

function fdatasyncRate (file) {
  const fd = fs.openSync(file, 'w')
  const buf = Buffer.alloc(VALUE_BYTES, 0x61)
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < FDATASYNC_MS) {
    fs.writeSync(fd, buf)
    fs.fdatasyncSync(fd)
    n++
  }
  const ms = performance.now() - t0
  fs.closeSync(fd)
  expect('fdatasync file size', fs.statSync(file).size, n * VALUE_BYTES)
  return perSecond(n, ms)
}

async function repeat (fn) {
  const runs = []
  for (let r = 0; r < RUNS; r++) runs.push(await fn(r))
  return { median: median(runs), runs }
}



function table (m, r) {
  const tput = (x) => `${fmt(x.median)} rec/s`
  const spread = (x, extra) => `median of ${x.runs.length} (${fmt(Math.min(...x.runs))}–${fmt(Math.max(...x.runs))})${extra ? ', ' + extra : ''}`
  const per = `${RECORDS.toLocaleString('en-US')} records/run`
  const perReplay = `${REPLAY_RECORDS.toLocaleString('en-US')} records/run`
  const rows = [
    ['1. `sendBatch` ×1000, 1 partition', tput(r.sendBatch1p), spread(r.sendBatch1p, per)],
    ['1. `sendBatch` ×1000, 4 partitions, keyed', tput(r.sendBatch4pKeyed), spread(r.sendBatch4pKeyed, per)],
    ['2. `send` ×1000 per tick, then `Promise.all`', tput(r.send), spread(r.send, per)],
    ['3. `for await` replay from earliest', tput(r.forAwaitReplay), spread(r.forAwaitReplay, perReplay)],
    ['4. `batches({ maxMessages: 10000 })` replay', tput(r.batchesReplay), spread(r.batchesReplay, perReplay)],
    ['4. `batches({ maxMessages: 10000, view: true })` replay', tput(r.viewReplay), spread(r.viewReplay, perReplay)],
    [`6. durability 'always', ${DURABLE_SENDERS} concurrent \`send\` loops`, tput(r.durableAlways), spread(r.durableAlways, `${DURABLE_MS / 1000} s/run`)],
    ['6. raw `fdatasync` rate, same disk', `${fmt(r.fdatasyncPerSec)} syncs/s`, `write 100 B + fdatasync loop, ${FDATASYNC_MS / 1000} s`]
  ]
  return [
    machineLine(m),
    '',
    `${VALUE_BYTES}-byte values; durability 'none' except scenario 6. Replays (3, 4): one warm-up round, then the three ways take turns, each run reading the whole topic (benchmark/consume.js has more).`,
    '',
    '| Scenario | Result | Detail |',
    '|---|---:|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ].join('\n')
}

async function main () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-bench-'))
  try {
    const m = machine(tmp)
    const r = {}
    const mainDir = path.join(tmp, 'main')
    const log = await open(mainDir, { durability: 'none' })
    const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`key-${i}`))
    const drop = (topic) => log.deleteTopic(topic)

    r.sendBatch1p = await repeat(async (i) => {
      const rate = await sendBatchRun(log, `batch-1p-${i}`, 1)
      await drop(`batch-1p-${i}`)
      return rate
    })
    r.sendBatch4pKeyed = await repeat(async (i) => {
      const rate = await sendBatchRun(log, `batch-4p-${i}`, 4, keys)
      await drop(`batch-4p-${i}`)
      return rate
    })
    r.send = await repeat(async (i) => {
      const rate = await sendRun(log, `send-${i}`)
      await drop(`send-${i}`)
      return rate
    })
    // Replays alternate between the ways of reading, after one warm-up round (see consume.js).
    const replayTopic = 'replay'
    await fill(log, replayTopic, REPLAY_RECORDS, VALUE_BYTES)
    const ways = { forAwaitReplay: 'iterate', batchesReplay: 'batches', viewReplay: 'view' }
    for (const key of Object.keys(ways)) r[key] = { runs: [] }
    for (let round = 0; round <= RUNS; round++) {
      for (const [key, way] of Object.entries(ways)) {
        const { rate } = await replay(log, replayTopic, way, REPLAY_RECORDS, VALUE_BYTES)
        if (round > 0) r[key].runs.push(rate)
      }
    }
    for (const key of Object.keys(ways)) r[key].median = median(r[key].runs)
    await drop(replayTopic)
    await log.close()

    r.fdatasyncPerSec = fdatasyncRate(path.join(tmp, 'fdatasync.bin'))
    const durable = await open(path.join(tmp, 'always'), { durability: 'always' })
    r.durableAlways = await repeat((i) => durableRun(durable, `durable-${i}`))
    await durable.close()

    const md = table(m, r)
    console.log(md)
    const out = path.join(__dirname, 'results')
    fs.mkdirSync(out, { recursive: true })
    const settings = { runs: RUNS, recordsPerRun: RECORDS, replayRecordsPerRun: REPLAY_RECORDS, batch: BATCH, valueBytes: VALUE_BYTES, durableSenders: DURABLE_SENDERS, durableMs: DURABLE_MS, fdatasyncMs: FDATASYNC_MS }
    fs.writeFileSync(path.join(out, 'caldo.json'), JSON.stringify({ machine: m, settings, results: r }, null, 2) + '\n')
    fs.writeFileSync(path.join(out, 'caldo.md'), md + '\n')
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  console.log('\nConsumer groups (benchmark/groups.js):\n')
  await require('./groups').main()
  console.log('\nExactly once (benchmark/transactions.js):\n')
  await require('./transactions').main()
  console.log('\nCross-process latency and the idle consumer (benchmark/latency.js):\n')
  await require('./latency').main()
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
