'use strict'
// caldo's recovery benchmark (`node benchmark/recovery.js`): how long `open(dir)`
// plus `log.topics()` (which opens every topic, so recovers every partition)
// takes after an unclean stop, on a log of 1,000 partitions holding several GB, and
// after a power loss of a log of one partition written with durability 'none'.
// Writes benchmark/results/recovery.json and recovery.md. Node built-ins and caldo only.
//
//   node benchmark/recovery.js [--gb 3] [--baseline results-of-another-build.json]
//
// With --baseline, the figures of that file (the same benchmark run on another
// build) are shown beside these as "before".

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork, execFileSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { open } = require('..')
const { median, machine, machineLine } = require('./common')

const RUNS = 3 // each figure is the median of this many runs
const TOPICS = 10
const PARTITIONS = 100 // per topic
const MIN_VALUE = 100
const MAX_VALUE = 1024
const PER_APPEND = 500 // records per sendBatch, all to one partition
const KILL_AFTER_MS = 1500 // the crashing writer runs this long before SIGKILL
const NONE_SEGMENT_BYTES = 64 << 20 // scenario (c): one partition rolled many times
// state file layout (crates/caldo-core/src/state.rs)
const AT_APPENDING = 40
const AT_BOOT = 56


function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}

const topicName = (t) => `t${t}`
const stateFiles = (dir) => {
  const out = []
  for (let t = 0; t < TOPICS; t++) {
    for (let p = 0; p < PARTITIONS; p++) out.push(path.join(dir, 'topics', topicName(t), String(p), 'state'))
  }
  return out
}

function writeEach (files, at, bytes) {
  for (const f of files) {
    const fd = fs.openSync(f, 'r+')
    fs.writeSync(fd, bytes, 0, bytes.length, at)
    fs.closeSync(fd)
  }
}

// Values of 100 B to 1 KiB cut from one random block, each starting with its partition's count.
const block = Buffer.alloc(1 << 20)
for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24
let cursor = 0
function records (partition, n) {
  const out = new Array(n)
  let bytes = 0
  for (let i = 0; i < n; i++) {
    const len = MIN_VALUE + Math.floor(Math.random() * (MAX_VALUE - MIN_VALUE + 1))
    if (cursor + len > block.length) cursor = 0
    out[i] = { partition, value: block.subarray(cursor, cursor + len) }
    cursor += len
    bytes += len
  }
  return { records: out, bytes }
}

// Appends round after round over every partition until `target` bytes of values are stored.
async function fill (dir, target) {
  const log = await open(dir, { durability: 'interval' })
  for (let t = 0; t < TOPICS; t++) await log.createTopic(topicName(t), { partitions: PARTITIONS })
  const producer = log.producer()
  let bytes = 0
  let count = 0
  while (bytes < target) {
    for (let t = 0; t < TOPICS && bytes < target; t++) {
      for (let p = 0; p < PARTITIONS; p++) {
        const r = records(p, PER_APPEND)
        await producer.sendBatch(topicName(t), r.records)
        bytes += r.bytes
        count += PER_APPEND
      }
    }
  }
  await producer.flush()
  await log.close()
  return { bytes, records: count }
}

// A log written with durability 'none' and never flushed: one partition of `target`
// bytes of values, in segments of NONE_SEGMENT_BYTES.
async function fillNone (dir, target) {
  const log = await open(dir, { durability: 'none' })
  await log.createTopic('none', { segmentBytes: NONE_SEGMENT_BYTES })
  const producer = log.producer()
  let bytes = 0
  let count = 0
  while (bytes < target) {
    const r = records(0, PER_APPEND)
    await producer.sendBatch('none', r.records)
    bytes += r.bytes
    count += PER_APPEND
  }
  await producer.close()
  await log.close()
  return { bytes, records: count }
}

// Child: appends to every partition until killed (so some append is in flight).
async function crashingWriter (dir) {
  const log = await open(dir, { durability: 'interval' })
  const producer = log.producer()
  process.send({ ready: true })
  for (;;) {
    for (let t = 0; t < TOPICS; t++) {
      for (let p = 0; p < PARTITIONS; p++) await producer.sendBatch(topicName(t), records(p, 20).records)
    }
  }
}

// Child: the measured step, in a fresh process.
async function measureChild (dir) {
  const t0 = performance.now()
  const log = await open(dir)
  const topics = await log.topics()
  const ms = performance.now() - t0
  const high = topics.reduce((s, t) => s + t.partitions.reduce((a, p) => a + p.high, 0), 0)
  await log.close()
  process.send({ ms, high, topics: topics.length })
}

function child (mode, dir) {
  return fork(__filename, [mode, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

function measureOnce (dir) {
  return new Promise((resolve, reject) => {
    const c = child('measure', dir)
    let result = null
    c.on('message', (m) => { result = m })
    c.on('exit', (code) => {
      if (code === 0 && result) resolve(result)
      else reject(new Error(`measuring child exited with code ${code}`))
    })
  })
}

async function killMidAppend (dir) {
  const c = child('writer', dir)
  await new Promise((resolve, reject) => {
    c.on('message', (m) => { if (m.ready) resolve() })
    c.on('exit', (code) => reject(new Error(`writer exited early with code ${code}`)))
  })
  await sleep(KILL_AFTER_MS)
  const exited = new Promise((resolve) => c.on('exit', resolve))
  c.kill('SIGKILL')
  await exited
}

function canDropCaches () {
  try {
    fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK)
    execFileSync('sync')
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3')
    return true
  } catch {
    return false
  }
}

// `prepare` damages the states before each run; every run must find the same records.
async function scenario (dir, prepare, minHigh, topics = TOPICS) {
  const runs = []
  let high = null
  for (let r = 0; r < RUNS; r++) {
    prepare()
    const m = await measureOnce(dir)
    if (m.topics !== topics) throw new Error(`expected ${topics} topics, got ${m.topics}`)
    if (m.high < minHigh) throw new Error(`records lost: ${m.high} < ${minHigh} acknowledged`)
    if (high !== null && m.high !== high) throw new Error(`runs disagree: ${m.high} vs ${high} records`)
    high = m.high
    runs.push(m.ms)
  }
  return { medianMs: median(runs), runsMs: runs, records: high }
}


const ms = (x) => (x === undefined ? '—' : `${x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US')} ms`)

function table (m, fillInfo, r, before) {
  const rows = [
    ['(a) process crash: writer killed mid-append, every state left `appending`', 'processCrash'],
    ['(b) power loss: boot id overwritten in every state, page cache warm', 'powerLoss'],
    ['(b) power loss, page cache dropped before each run', 'powerLossCold'],
    [`(c) power loss of a log written with durability 'none' and never flushed`, 'powerLossNone']
  ].filter(([, k]) => r[k] || (before && before[k]))
  const spread = (x) => x ? `${x.runsMs.map((v) => Math.round(v)).join(', ')}` : '—'
  return [
    machineLine(m, 'data on'),
    '',
    `${TOPICS} topics × ${PARTITIONS} partitions, ${(fillInfo.bytes / 1e9).toFixed(2)} GB of values (${fillInfo.records.toLocaleString('en-US')} records of ${MIN_VALUE} B–${MAX_VALUE} B), durability 'interval', flushed; then a writer appending to every partition is killed with SIGKILL after ${KILL_AFTER_MS} ms. (c): another log, one partition of ${(fillInfo.none.bytes / 1e9).toFixed(2)} GB of the same values in ${NONE_SEGMENT_BYTES >> 20} MiB segments, written with durability 'none', closed without a flush. Time of \`open(dir)\` + \`log.topics()\` in a fresh process, median of ${RUNS}, page cache warm but for the cold row.`,
    '',
    before ? '| Unclean stop | Before | After | After, runs (ms) |' : '| Unclean stop | Median | Runs (ms) |',
    before ? '|---|---:|---:|---|' : '|---|---:|---|',
    ...rows.map(([label, k]) => before
      ? `| ${label} | ${ms(before[k]?.medianMs)} | ${ms(r[k]?.medianMs)} | ${spread(r[k])} |`
      : `| ${label} | ${ms(r[k]?.medianMs)} | ${spread(r[k])} |`)
  ].join('\n')
}

async function main () {
  const gb = Number(arg('--gb', '3'))
  const baselineFile = arg('--baseline')
  const before = baselineFile ? JSON.parse(fs.readFileSync(baselineFile, 'utf8')).results : null
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-recovery-'))
  try {
    const m = machine(tmp)
    const dir = path.join(tmp, 'log')
    console.log(`filling ${TOPICS * PARTITIONS} partitions with ${gb} GB…`)
    const t0 = performance.now()
    const fillInfo = await fill(dir, gb * 1e9)
    console.log(`filled in ${((performance.now() - t0) / 1000).toFixed(1)} s; killing a writer mid-append…`)
    await killMidAppend(dir)
    const states = stateFiles(dir)
    const r = {}
    r.processCrash = await scenario(dir, () => writeEach(states, AT_APPENDING, Buffer.from([1, 0, 0, 0])), fillInfo.records)
    console.log(`(a) process crash: ${ms(r.processCrash.medianMs)}`)
    const otherBoot = () => writeEach(states, AT_BOOT, Buffer.alloc(16, 0x5a))
    r.powerLoss = await scenario(dir, otherBoot, fillInfo.records)
    console.log(`(b) power loss: ${ms(r.powerLoss.medianMs)}`)
    if (canDropCaches()) {
      r.powerLossCold = await scenario(dir, () => { otherBoot(); canDropCaches() }, fillInfo.records)
      console.log(`(b) power loss, cold cache: ${ms(r.powerLossCold.medianMs)}`)
    } else {
      console.log('(b) with a cold page cache: skipped (cannot write /proc/sys/vm/drop_caches)')
    }

    const noneDir = path.join(tmp, 'none')
    fillInfo.none = await fillNone(noneDir, gb * 1e9)
    const noneState = [path.join(noneDir, 'topics', 'none', '0', 'state')]
    r.powerLossNone = await scenario(noneDir, () => writeEach(noneState, AT_BOOT, Buffer.alloc(16, 0x5a)), fillInfo.none.records, 1)
    console.log(`(c) power loss, durability 'none': ${ms(r.powerLossNone.medianMs)}`)

    const md = table(m, fillInfo, r, before)
    console.log(md)
    const out = path.join(__dirname, 'results')
    fs.mkdirSync(out, { recursive: true })
    const settings = { runs: RUNS, topics: TOPICS, partitionsPerTopic: PARTITIONS, minValue: MIN_VALUE, maxValue: MAX_VALUE, perAppend: PER_APPEND, killAfterMs: KILL_AFTER_MS, fill: fillInfo }
    fs.writeFileSync(path.join(out, 'recovery.json'), JSON.stringify({ machine: m, settings, results: r, before }, null, 2) + '\n')
    fs.writeFileSync(path.join(out, 'recovery.md'), md + '\n')
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const [mode, modeDir] = process.argv.slice(2)
const run = mode === 'writer' ? () => crashingWriter(modeDir) : mode === 'measure' ? () => measureChild(modeDir) : main
run().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
