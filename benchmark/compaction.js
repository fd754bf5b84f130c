'use strict'
// Compaction's benchmark (`npm run bench:compaction`): the cleaner's speed, produce
// throughput while it runs, and a fresh process's group join after 1, 10^3 and 10^6
// commits. Writes benchmark/results/compaction.json and compaction.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { open } = require('..')
const { median, fmt, machine, machineLine } = require('./common')

const RUNS = 5
const VALUE_BYTES = 100
const CLEAN_RECORDS = 2_000_000 // about 270 MB on disk
const LIVE_SHARE = 0.1
const PRODUCE_MS = 4000
const COMMITS = [1, 1_000, 1_000_000]

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-bench-'))
const range = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`

function batch (start, n, keys) {
  const block = Buffer.alloc(n * VALUE_BYTES, 0x61)
  const out = new Array(n)
  for (let j = 0; j < n; j++) out[j] = { key: `key-${(start + j) % keys}`, value: block.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES) }
  return out
}

const sealedBytes = (dir, topic) => {
  const d = path.join(dir, 'topics', topic, '0')
  const logs = fs.readdirSync(d).filter((f) => f.endsWith('.log')).sort()
  return logs.slice(0, -1).reduce((s, f) => s + fs.statSync(path.join(d, f)).size, 0)
}

// MB/s of sealed input a forced clean compacts, 100 B values, 10% of keys live.
async function cleanerRun () {
  const dir = tmp()
  try {
    const log = await open(dir, { durability: 'none', cleanIntervalMs: 0 })
    await log.createTopic('c', { cleanupPolicy: 'compact', segmentBytes: 64 << 20 })
    const p = log.producer()
    const keys = CLEAN_RECORDS * LIVE_SHARE
    for (let i = 0; i < CLEAN_RECORDS; i += 1000) await p.sendBatch('c', batch(i, 1000, keys))
    const input = sealedBytes(dir, 'c')
    const t0 = performance.now()
    const r = await log.clean()
    const s = (performance.now() - t0) / 1000
    await log.close()
    return { mbps: input / 1e6 / s, input, freed: r.bytes }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// Records/s a producer appends to a compacted topic for PRODUCE_MS, with or
// without another process cleaning that topic all the while.
async function produceRun (withCleaner) {
  const dir = tmp()
  let cleaner = null
  try {
    const log = await open(dir, { durability: 'none', cleanIntervalMs: 0 })
    await log.createTopic('c', { cleanupPolicy: 'compact', segmentBytes: 8 << 20, minCleanableDirtyRatio: 0.01 })
    if (withCleaner) {
      cleaner = fork(__filename, ['clean-loop', dir], { stdio: 'inherit' })
      await new Promise((resolve) => cleaner.once('message', resolve))
    }
    const p = log.producer()
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < PRODUCE_MS) {
      await p.sendBatch('c', batch(n, 1000, 50_000))
      n += 1000
    }
    const rate = n / (performance.now() - t0) * 1000
    await log.close()
    return rate
  } finally {
    if (cleaner) cleaner.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function cleanLoop (dir) {
  const log = await open(dir, { durability: 'none', cleanIntervalMs: 0 })
  process.send('ready')
  for (;;) {
    await log.clean()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

// ms for a fresh process to open the log, join group g and get its first record.
function joinOnce (dir) {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['join', dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    c.once('message', resolve)
    c.once('exit', (code) => code && reject(new Error(`join exited ${code}`)))
  })
}

async function join (dir) {
  const t0 = performance.now()
  const log = await open(dir, { cleanIntervalMs: 0 })
  const c = log.consumer({ groupId: 'g', topics: ['t'], autoCommit: false })
  for await (const m of c) { if (m) break }
  process.send(performance.now() - t0)
  await log.close()
}

async function joinAfter (commits) {
  const dir = tmp()
  try {
    const log = await open(dir, { durability: 'none' })
    await log.createTopic('t')
    const p = log.producer()
    await p.sendBatch('t', Array.from({ length: 10 }, (_, i) => ({ value: `r${i}` })))
    const c = log.consumer({ groupId: 'g', topics: ['t'], autoCommit: false, startFrom: 'earliest' })
    const it = c[Symbol.asyncIterator]()
    await it.next()
    for (let i = 0; i < commits; i++) await c.commit([{ topic: 't', partition: 0, offset: i % 2 }])
    await c.close()
    await log.close()
    const bytes = fs.readdirSync(path.join(dir, 'topics', '__consumer_offsets')).reduce((s, p) => {
      const d = path.join(dir, 'topics', '__consumer_offsets', p)
      return fs.statSync(d).isDirectory() ? s + fs.readdirSync(d).filter((f) => f.endsWith('.log')).reduce((t, f) => t + fs.statSync(path.join(d, f)).size, 0) : s
    }, 0)
    const ms = []
    for (let i = 0; i < RUNS; i++) ms.push(await joinOnce(dir))
    return { commits, ms, bytes }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function main () {
  const m = machine(os.tmpdir())
  const cleaner = []
  for (let i = 0; i < RUNS; i++) cleaner.push(await cleanerRun())
  const plain = []
  const cleaning = []
  for (let i = 0; i < RUNS; i++) {
    plain.push(await produceRun(false))
    cleaning.push(await produceRun(true))
  }
  const joins = []
  for (const n of COMMITS) joins.push(await joinAfter(n))
  const mbps = cleaner.map((r) => r.mbps)
  const results = { machine: m, cleaner, produce: { plain, cleaning }, joins }
  const lines = [
    '# Compaction', '', machineLine(m), '', `Each figure is the median of ${RUNS} runs, with the range.`, '',
    '| measure | median | range |', '|---|---:|---|',
    `| cleaner, 100 B values, 10% of keys live: MB/s of input | ${fmt(median(mbps))} | ${range(mbps)} |`,
    `| produce to a compacted topic, rec/s, no cleaner | ${fmt(median(plain))} | ${range(plain)} |`,
    `| the same while another process cleans it all along | ${fmt(median(cleaning))} (${Math.round(median(cleaning) / median(plain) * 100)}%) | ${range(cleaning)} |`,
    ...joins.map((j) => `| fresh process: open, join, first record, after ${fmt(j.commits)} commit(s) (ms; __consumer_offsets ${fmt(j.bytes / 1024)} KiB) | ${median(j.ms).toFixed(1)} | ${Math.min(...j.ms).toFixed(1)}–${Math.max(...j.ms).toFixed(1)} |`),
    ''
  ]
  const out = path.join(__dirname, 'results')
  fs.writeFileSync(path.join(out, 'compaction.json'), JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(path.join(out, 'compaction.md'), lines.join('\n'))
  console.log(lines.join('\n'))
}

const [role, dir] = process.argv.slice(2)
const run = role === 'clean-loop' ? cleanLoop(dir) : role === 'join' ? join(dir) : main()
run.catch((e) => { console.error(e); process.exit(1) })
