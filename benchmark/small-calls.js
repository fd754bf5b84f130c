'use strict'
// The cost of the small calls a lightly loaded service makes, optionally against another
// build taken back to back:
//   node benchmark/small-calls.js [--rounds N] [--baseline DIR [--baseline-name NAME]]
// Cases, one process, 100 B values:
// - `send` of one record, awaited, back to back (µs per send);
// - the same with a 1 ms pause before each send, as at 1,000 sends/s: the caches are cold;
// - `batches({ maxMessages: 1 })` and `batches({ maxMessages: 10 })`, replaying records
//   written in batches of 1,000 (µs per record); and `for await`, whose fetches are large,
//   as the common path's check.
// Case by case, each round runs every build once, each in a fresh process, so load on the
// shared machine falls on all alike. Figures: median (min–max) of the rounds, each round's
// figure itself the median (sends) or mean (replays) of its calls. Writes
// results/small-calls.{json,md}.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { median, cell, backToBack, writeResults, machine, machineLine } = require('./common')

const CASES = [
  { name: 'send, one record, awaited, back to back', unit: 'µs per send', kind: 'send', pauseMs: 0, count: 20_000 },
  { name: 'send, one record, awaited, 1 ms apart', unit: 'µs per send (p50)', kind: 'send', pauseMs: 1, count: 2_000 },
  { name: 'batches({ maxMessages: 1 }) over batches of 1,000', unit: 'µs per record', kind: 'replay', maxMessages: 1, count: 100_000 },
  { name: 'batches({ maxMessages: 10 }) over batches of 1,000', unit: 'µs per record', kind: 'replay', maxMessages: 10, count: 200_000 },
  { name: 'for await over batches of 1,000 (large fetches: the common path)', unit: 'µs per record', kind: 'replay', count: 1_000_000 }
]
const WARM_UP = 1_000

async function send (log, c) {
  await log.createTopic('t')
  const p = log.producer()
  const value = Buffer.alloc(100, 0x61)
  for (let i = 0; i < WARM_UP; i++) await p.send('t', { value })
  const took = new Float64Array(c.count)
  for (let i = 0; i < c.count; i++) {
    if (c.pauseMs) await new Promise((resolve) => setTimeout(resolve, c.pauseMs))
    const t0 = process.hrtime.bigint()
    await p.send('t', { value })
    took[i] = Number(process.hrtime.bigint() - t0) / 1000
  }
  return median(Array.from(took))
}

async function replay (log, c) {
  await log.createTopic('t')
  const p = log.producer()
  const block = Buffer.alloc(1000 * 100, 0x61)
  const recs = Array.from({ length: 1000 }, (_, j) => ({ value: block.subarray(j * 100, (j + 1) * 100) }))
  for (let i = 0; i < c.count + WARM_UP; i += 1000) await p.sendBatch('t', recs)
  const consumer = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 0 }] })
  let n = 0
  let t0
  const seen = (m) => {
    if (m.offset !== n++) throw new Error(`expected offset ${n - 1}, got ${m.offset}`)
    if (n === WARM_UP) t0 = process.hrtime.bigint()
  }
  const all = c.count + WARM_UP
  if (c.maxMessages) {
    for await (const batch of consumer.batches({ maxMessages: c.maxMessages })) {
      batch.forEach(seen)
      if (n >= all) break
    }
  } else {
    for await (const m of consumer) {
      seen(m)
      if (n >= all) break
    }
  }
  const us = Number(process.hrtime.bigint() - t0) / 1000
  await consumer.close()
  return us / c.count
}

// One case in this process, with the build at `repo`; prints the figure.
async function child (repo, c) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-small-'))
  try {
    const log = await require(repo).open(dir)
    const x = await (c.kind === 'send' ? send : replay)(log, c)
    await log.close()
    process.stdout.write(JSON.stringify(x))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const f1 = (x) => x.toFixed(x < 1 ? 2 : 1)

async function main () {
  // Each case in a fresh process: no JIT state or heap carried from one to the next.
  const one = (repo, c, i) => JSON.parse(execFileSync(process.execPath, [__filename, '--child', repo, String(i)], { encoding: 'utf8' }))
  const { rounds, builds, res } = await backToBack(process.argv.slice(2), CASES, one)
  const m = machine(os.tmpdir())
  const rows = []
  CASES.forEach((c, i) => builds.forEach((b, k) => rows.push(`| ${c.name} | ${c.unit} | ${b.name} | ${cell(res[k][i], f1)} |`)))
  const md = [
    '# Small calls: one-record sends, small replay batches',
    '',
    machineLine(m),
    '',
    `Median (min–max) of ${rounds} rounds, the builds taking turns in each; 100 B values, one process, each case in a fresh process.`,
    '',
    '| Case | Unit | Build | Figure |',
    '|---|---|---|---:|',
    ...rows
  ].join('\n')
  writeResults('small-calls', { machine: m, cases: CASES, builds: builds.map((b) => b.name), results: res }, md)
}

if (process.argv[2] === '--child') child(process.argv[3], CASES[Number(process.argv[4])]).catch((err) => { console.error(err); process.exit(1) })
else main().catch((err) => { console.error(err); process.exitCode = 1 })
