'use strict'
// Durability 'always' from one producer awaiting each send: sendBatch of 10 keyed records
// over 1 and over 4 partitions, and the same sends each in a transaction; optionally
// against another build taken back to back:
//   node benchmark/durable.js [--rounds N] [--baseline DIR [--baseline-name NAME]]
// Each run warms up with 20 sends, then sends for 2 s in a fresh process. What it
// measures is how many fdatasyncs a send waits for, one after another. Figures: median
// (min–max) of the rounds, sends/s. Writes results/durable.{json,md}.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { cell, backToBack, writeResults, machine, machineLine } = require('./common')

const SECONDS = 2
const RECORDS = 10
const CASES = [
  { partitions: 1, transactional: false },
  { partitions: 4, transactional: false },
  { partitions: 1, transactional: true },
  { partitions: 4, transactional: true }
]
const label = (c) => `${c.transactional ? 'transactions of' : 'sendBatch of'} ${RECORDS} keyed records, ${c.partitions} partition${c.partitions > 1 ? 's' : ''}`

// `node durable.js sender <repo> <partitions> <transactional>`: one run; sends its figure.
async function sender (repo, partitions, transactional) {
  const { open } = require(repo)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-durable-'))
  let sendsPerSec
  try {
    const log = await open(dir, { durability: 'always' })
    await log.createTopic('t', { partitions: Number(partitions) })
    const value = Buffer.alloc(100, 0x61)
    const recs = Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i}`, value }))
    const p = log.producer(transactional === 'true' ? { transactionalId: 'bench' } : undefined)
    const send = transactional === 'true' ? () => p.transaction((tx) => tx.sendBatch('t', recs)) : () => p.sendBatch('t', recs)
    for (let i = 0; i < 20; i++) await send()
    let sends = 0
    const t0 = performance.now()
    const end = t0 + SECONDS * 1000
    while (performance.now() < end) { await send(); sends++ }
    const ms = performance.now() - t0
    await p.close()
    await log.close()
    sendsPerSec = sends / ms * 1000
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
  process.send({ sendsPerSec })
}

function run (repo, c) {
  const kid = fork(__filename, ['sender', repo, String(c.partitions), String(c.transactional)])
  return new Promise((resolve, reject) => {
    // Its IPC channel would keep it alive past its run.
    kid.once('message', (m) => { kid.kill(); resolve(m.sendsPerSec) })
    kid.once('exit', (code) => { if (code) reject(new Error(`sender exited with ${code}`)) })
  })
}

async function main () {
  const m = machine(os.tmpdir())
  const { rounds, builds, res } = await backToBack(process.argv.slice(2), CASES, run)
  const rows = []
  for (let c = 0; c < CASES.length; c++) {
    for (let b = 0; b < builds.length; b++) rows.push(`| ${label(CASES[c])} | ${builds[b].name} | ${cell(res[b][c])} |`)
  }
  const md = [
    '# Durability \'always\': sends awaited one at a time',
    '',
    machineLine(m),
    '',
    `Median (min–max) of ${rounds} rounds, the builds taking turns; 100 B values, one producer process, ${SECONDS} s a run.`,
    '',
    '| Case | Build | Sends/s |',
    '|---|---|---:|',
    ...rows
  ].join('\n')
  writeResults('durable', { machine: m, cases: CASES, builds: builds.map((b) => b.name), results: res }, md)
}

if (process.argv[2] === 'sender') sender(...process.argv.slice(3)).catch((e) => { console.error(e); process.exit(1) })
else main().catch((e) => { console.error(e); process.exit(1) })
