'use strict'
// Produce throughput, one partition, 1 and 4 writer processes, 100 B and 64 KiB values,
// optionally against another build taken back to back:
//   node benchmark/produce.js [--rounds N] [--baseline DIR [--baseline-name NAME]]
// Each writer builds its values before the clock (views into one block), warms up with
// WARM_BATCHES batches (JIT tiers, and a heap grown to its working size, which four fresh
// processes on 2 cores would otherwise spend much of a short run on), then sends batches
// (1,000 records, 16 at 64 KiB) with up to 4 in flight for the case's seconds after a
// common start, all writers stopping at the same time. Case by case, each round runs
// every build once, so load on the shared machine falls on all alike. Figures: median
// (min–max) of the rounds: records/s over the wall clock, CPU time per record (user +
// system of the writers), and where the writers' JS threads spent the run. Writes
// results/produce.{json,md}.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork, execFileSync } = require('node:child_process')
const { cell, backToBack, writeResults, machine, machineLine } = require('./common')

// 64 KiB values run for 1 s (1–2 GB in all): long enough to roll several 128 MiB segments,
// whose fdatasync stalled every writer until it moved out of the lock, so each run
// includes what a long stream of large values meets. They go first: after the 100 B cases
// have written and freed gigabytes, first touches of memory cost more for a while on this
// virtual machine.
const CASES = [
  { procs: 1, valueBytes: 65536, seconds: 1 },
  { procs: 4, valueBytes: 65536, seconds: 1 },
  { procs: 1, valueBytes: 100, seconds: 2 },
  { procs: 4, valueBytes: 100, seconds: 2 }
]
const WARM_BATCHES = 100

// The calling thread's time on a CPU and waiting for one (ns), from the scheduler; the
// rest of a run it was asleep (a lock, a promise).
function schedstat () {
  const [run, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number)
  return { run, wait }
}

async function writer ([repo, dir, vb, seconds]) {
  const { open } = require(repo)
  const V = Number(vb)
  const batch = V >= 65536 ? 16 : 1000
  const log = await open(dir)
  const p = log.producer()
  const block = Buffer.alloc(64 << 20, 0x61)
  const values = Array.from({ length: Math.floor(block.length / V) }, (_, i) => block.subarray(i * V, (i + 1) * V))
  let next = 0
  // The longest a send took to resolve, in the timed part.
  let longest = 0
  // Sends batches, up to 4 in flight, while more() says so; resolves with the records sent.
  async function sendWhile (more) {
    const inflight = new Set()
    let sent = 0
    while (more()) {
      const recs = new Array(batch)
      for (let j = 0; j < batch; j++) recs[j] = { value: values[next++ % values.length] }
      sent += batch
      const t = performance.now()
      const pr = p.sendBatch('t', recs).then(() => {
        longest = Math.max(longest, performance.now() - t)
        inflight.delete(pr)
      })
      inflight.add(pr)
      if (inflight.size >= 4) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    return sent
  }
  let warm = 0
  await sendWhile(() => warm++ < WARM_BATCHES)
  process.send('ready')
  await new Promise((resolve) => process.once('message', resolve))
  const cpu = process.cpuUsage()
  const sched = schedstat()
  longest = 0
  const t0 = performance.now()
  const end = t0 + Number(seconds) * 1000
  const records = await sendWhile(() => performance.now() < end)
  const ms = performance.now() - t0
  const used = process.cpuUsage(cpu)
  const { run, wait } = schedstat()
  await p.close()
  await log.close()
  // Shares of the run for the JS thread: on a CPU, waiting for one.
  const js = { onCpu: (run - sched.run) / 1e4 / ms, waitingForCpu: (wait - sched.wait) / 1e4 / ms }
  process.send({ records, ms, cpuUs: used.user + used.system, js, longestMs: longest })
}

async function run (repo, c) {
  const { open } = require(repo)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-produce-'))
  try {
    const log = await open(dir)
    await log.createTopic('t', { partitions: 1 })
    await log.close()
    const kids = Array.from({ length: c.procs }, () => fork(__filename, ['writer', repo, dir, String(c.valueBytes), String(c.seconds)]))
    const next = (k) => new Promise((resolve, reject) => {
      k.once('message', resolve)
      k.once('exit', (code) => reject(new Error(`writer exited with ${code}`)))
    })
    await Promise.all(kids.map(next))
    for (const k of kids) k.send('go')
    const rs = await Promise.all(kids.map(next))
    for (const k of kids) k.kill()
    const total = rs.reduce((a, r) => a + r.records, 0)
    const ms = Math.max(...rs.map((r) => r.ms))
    const mean = (f) => rs.reduce((a, r) => a + f(r), 0) / rs.length
    return {
      recPerSec: total / ms * 1000,
      mbPerSec: total * c.valueBytes / ms / 1000,
      cpuNsPerRec: rs.reduce((a, r) => a + r.cpuUs, 0) * 1000 / total,
      jsOnCpu: mean((r) => r.js.onCpu),
      jsWaitingForCpu: mean((r) => r.js.waitingForCpu),
      longestSendMs: Math.max(...rs.map((r) => r.longestMs))
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    // What a run leaves to the kernel (freeing, writeback) is done before the next starts.
    execFileSync('sync')
  }
}

async function main () {
  const { rounds, builds, res } = await backToBack(process.argv.slice(2), CASES, run)
  const m = machine(os.tmpdir())
  const rows = []
  for (let c = 0; c < CASES.length; c++) {
    const { procs, valueBytes } = CASES[c]
    for (let b = 0; b < builds.length; b++) {
      const xs = res[b][c]
      const js = (x) => `${Math.round(x.jsOnCpu)} / ${Math.round(x.jsWaitingForCpu)} / ${Math.max(0, Math.round(100 - x.jsOnCpu - x.jsWaitingForCpu))}`
      const mid = xs.map((x) => x.recPerSec).sort((a, b) => a - b)[xs.length >> 1]
      rows.push(`| ${procs} | ${valueBytes === 100 ? '100 B' : '64 KiB'} | ${builds[b].name} | ${cell(xs.map((x) => x.recPerSec))} | ${cell(xs.map((x) => x.mbPerSec))} | ${cell(xs.map((x) => x.cpuNsPerRec))} | ${js(xs.find((x) => x.recPerSec === mid))} | ${cell(xs.map((x) => x.longestSendMs))} |`)
    }
  }
  const md = [
    '# Produce, one partition, 1 and 4 writer processes',
    '',
    machineLine(m),
    '',
    `Median (min–max) of ${rounds} rounds, the builds taking turns in each. Each writer warms up with ${WARM_BATCHES} batches, then sends for 2 s (100 B) or 1 s (64 KiB) after a common start. CPU: user + system time of the writers per record. JS thread: the share of the run each writer's JS thread spent on a CPU / runnable but waiting for one / asleep (the partition's lock, an append on a worker thread), mean of the writers, in the median round. Longest send: the most any one \`sendBatch\` took to resolve, of all writers (up to 4 in flight each).`,
    '',
    '| Writers | Value | Build | rec/s | MB/s of values | CPU ns/record | JS thread: on CPU / waiting / asleep (%) | Longest send (ms) |',
    '|---:|---|---|---:|---:|---:|---:|---:|',
    ...rows
  ].join('\n')
  writeResults('produce', { machine: m, cases: CASES, builds: builds.map((b) => b.name), results: res }, md)
}

if (process.argv[2] === 'writer') writer(process.argv.slice(3))
else main().catch((err) => { console.error(err); process.exitCode = 1 })
