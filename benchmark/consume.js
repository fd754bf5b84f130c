'use strict'
// Consume speed (`node benchmark/consume.js`): replays of one partition from earliest with
// each way of reading, for 100 B and 1 KiB values. Every round runs each way once, one
// after the other (so that a change in the machine's load falls on all alike); the first
// round warms up (JIT, page cache, heap) and is not counted. Writes
// results/consume.{json,md}. Options: --runs N (counted rounds, default 5), --quick
// (fewer records, 3 rounds), --only batches,view,iterate, --sizes 100,1024.
// `run.js` uses `replay` for its replay rows.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { open } = require('..')
const { median, fmt, machine, machineLine } = require('./common')

// Records per run by value size: about 600 MB and 1 GB read per run, long enough that
// a garbage collection more or less does not move a run's figure.
const RECORDS = { 100: 5_000_000, 1024: 1_000_000 }
// Each run starts from a collected heap, whatever the run before left (Node's documented
// way to reach gc() without the command-line flag).
require('node:v8').setFlagsFromString('--expose-gc')
const gc = require('node:vm').runInNewContext('gc')
const MAX_MESSAGES = 10_000

function check (offset, value, n, bytes) {
  if (offset !== n || value.length !== bytes || value.readUInt32LE(0) !== n) {
    throw new Error(`replay: bad message at ${n}: offset ${offset}, ${value.length} bytes`)
  }
}

// Each way reads every record's offset and value (checking them) and nothing more.
const WAYS = {
  async batches (c, total, bytes) {
    let n = 0
    for await (const batch of c.batches({ maxMessages: MAX_MESSAGES })) {
      for (const m of batch) check(m.offset, m.value, n++, bytes)
      if (n >= total) break
    }
    return n
  },
  async view (c, total, bytes) {
    let n = 0
    for await (const batch of c.batches({ maxMessages: MAX_MESSAGES, view: true })) {
      for (let i = 0; i < batch.length; i++) check(batch.offset(i), batch.value(i), n++, bytes)
      if (n >= total) break
    }
    return n
  },
  async iterate (c, total, bytes) {
    let n = 0
    for await (const m of c) {
      check(m.offset, m.value, n, bytes)
      if (++n === total) break
    }
    return n
  }
}

const LABELS = {
  batches: '`batches({ maxMessages: 10000 })`, an object per message',
  view: '`batches({ maxMessages: 10000, view: true })`, read lazily',
  iterate: '`for await (const m of consumer)`'
}

/** One replay of `total` records of `bytes` from earliest with `way`: records per second
 * of wall time (`rate`) and per second of this process's CPU time (`cpuRate`, which
 * other work on a shared machine moves less). */
async function replay (log, topic, way, total, bytes) {
  // The signal closes the consumer (ending the loop) if records go missing, instead of hanging.
  const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], signal: AbortSignal.timeout(120_000) })
  gc()
  await new Promise((resolve) => setImmediate(resolve))
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const n = await WAYS[way](c, total, bytes)
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await c.close()
  if (n !== total) throw new Error(`${way} replay: expected ${total} records, got ${n}`)
  return { rate: n / ms * 1000, cpuRate: n / (cpu.user + cpu.system) * 1e6 }
}

/** Fills `topic` with `total` records of `bytes`, each value starting with its offset. */
async function fill (log, topic, total, bytes) {
  await log.createTopic(topic, { partitions: 1 })
  const p = log.producer()
  const per = 1000
  const block = Buffer.alloc(per * bytes, 0x61)
  const recs = Array.from({ length: per }, (_, j) => ({ value: block.subarray(j * bytes, (j + 1) * bytes) }))
  for (let i = 0; i < total; i += per) {
    for (let j = 0; j < per; j++) recs[j].value.writeUInt32LE(i + j)
    await p.sendBatch(topic, recs)
  }
  await p.close()
}

// How far the run furthest from the median is from it, as a fraction of the median.
const farthest = (runs) => Math.max(...runs.map((x) => Math.abs(x / median(runs) - 1)))
const spread = (runs) => `median of ${runs.length} (${fmt(Math.min(...runs))}–${fmt(Math.max(...runs))})`

async function main () {
  const { values: opt } = parseArgs({
    options: { runs: { type: 'string' }, quick: { type: 'boolean' }, only: { type: 'string' }, sizes: { type: 'string' }, out: { type: 'string' } }
  })
  const runs = Number(opt.runs ?? (opt.quick ? 3 : 5))
  const ways = opt.only ? opt.only.split(',') : Object.keys(WAYS)
  for (const w of ways) if (!WAYS[w]) throw new Error(`unknown way ${w}; ways: ${Object.keys(WAYS).join(', ')}`)
  const sizes = (opt.sizes ? opt.sizes.split(',') : Object.keys(RECORDS)).map(Number)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-consume-'))
  const results = []
  try {
    const m = machine(tmp)
    // Other work on a shared machine moves these figures: say how busy it was.
    const load = [os.loadavg()[0]]
    const log = await open(tmp, { durability: 'none' })
    for (const bytes of sizes) {
      const total = opt.quick ? RECORDS[bytes] / 4 : RECORDS[bytes]
      const topic = `v${bytes}`
      await fill(log, topic, total, bytes)
      const byWay = Object.fromEntries(ways.map((w) => [w, { runs: [], cpuRuns: [] }]))
      for (let round = 0; round <= runs; round++) {
        for (const w of ways) {
          const { rate, cpuRate } = await replay(log, topic, w, total, bytes)
          if (round > 0) byWay[w].runs.push(rate)
          if (round > 0) byWay[w].cpuRuns.push(cpuRate)
          process.stderr.write(`${bytes} B ${w} ${round ? 'run ' + round : 'warm-up'}: ${fmt(rate)} rec/s, ${fmt(cpuRate)} rec/CPU-s\n`)
        }
      }
      for (const w of ways) {
        const { runs: rs, cpuRuns } = byWay[w]
        results.push({ bytes, way: w, records: total, median: median(rs), runs: rs, cpuMedian: median(cpuRuns), cpuRuns })
      }
      await log.deleteTopic(topic)
    }
    await log.close()
    load.push(os.loadavg()[0])
    const md = [
      machineLine(m),
      '',
      `Load average (1 min) at the start and the end: ${load.map((x) => x.toFixed(1)).join(', ')} on ${m.cpus} cores.`,
      '',
      'One partition replayed from earliest; each message\'s offset and value checked. Runs of each way alternate; a warm-up round first, not counted. Spread: how far the furthest run is from the median. Per CPU-second: records over the process\'s user + system CPU time, which other work on a shared machine moves less than wall time.',
      '',
      '| Value | Way | Result | Detail | Spread | Per CPU-second |',
      '|---:|---|---:|---|---:|---|',
      ...results.map((r) => `| ${r.bytes === 1024 ? '1 KiB' : r.bytes + ' B'} | ${LABELS[r.way]} | ${fmt(r.median)} rec/s | ${spread(r.runs)}, ${r.records.toLocaleString('en-US')} records/run | ${Math.round(farthest(r.runs) * 100)} % | ${fmt(r.cpuMedian)} (${fmt(Math.min(...r.cpuRuns))}–${fmt(Math.max(...r.cpuRuns))}) |`)
    ].join('\n')
    console.log(md)
    const out = opt.out ?? path.join(__dirname, 'results')
    fs.mkdirSync(out, { recursive: true })
    fs.writeFileSync(path.join(out, 'consume.json'), JSON.stringify({ machine: m, settings: { runs, maxMessages: MAX_MESSAGES }, load, results }, null, 2) + '\n')
    fs.writeFileSync(path.join(out, 'consume.md'), md + '\n')
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

module.exports = { replay, fill, WAYS }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
