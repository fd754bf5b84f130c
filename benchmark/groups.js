'use strict'
// caldo's consumer-group benchmark (`node benchmark/groups.js`, also run at the end of
// `npm run bench`): writes benchmark/results/groups.json and groups.md. Node built-ins
// and caldo only.
//
//   1. one consumer in one process reading an 8-partition topic: manual assignment of all
//      8 partitions against a group of one (same topic, same records), `for await` and
//      `batches()`.
//   2. a group of 4 processes on the same topic: records/s from the first record any
//      member gets to the last one.
//   3. rebalance latency: join, graceful leave and kill -9, p50/p99 over many runs.
//
// Members of 2 and 3 are child processes (this file with `child` as its argument) that
// report over IPC with process.hrtime.bigint() timestamps (CLOCK_MONOTONIC on Linux, so
// comparable across processes on one machine).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { open } = require('..')
const { median, percentile, fmt, machine, machineLine } = require('./common')

// --quick (for trying changes): fewer records and runs; the results files are not written.
const QUICK = require.main === module && process.argv.includes('--quick')
const RUNS = QUICK ? 1 : 7 // in-process throughput figures: median of this many runs
const GROUP_RUNS = QUICK ? 1 : 5 // group-of-4 throughput: median of this many runs
const RECORDS = QUICK ? 200_000 : 1_000_000
const PARTITIONS = 8
const BATCH = 1000
const VALUE_BYTES = 100
const MEMBERS = 4
const LATENCY_RUNS = QUICK ? 5 : 50 // per rebalance kind
const STEP_TIMEOUT_MS = 15_000

const hr = () => process.hrtime.bigint()
const ms = (ns) => Number(ns) / 1e6
const perSecond = (n, ns) => n / Number(ns) * 1e9

function expect (what, got, want) {
  if (got !== want) throw new Error(`${what}: expected ${want}, got ${got}`)
}

// ------------------------------------------------------------------ child process
// Commands from the parent: { cmd: 'drain', groupId, topic } consumes until { cmd: 'stop' };
// { cmd: 'join', groupId, topic } becomes a member that reports its rebalance events until
// { cmd: 'leave' }; { cmd: 'exit' }.
async function child (dir) {
  const log = await open(dir, { durability: 'none' })
  const send = (m) => process.send(m)
  let stop = null
  const cmds = []
  let wake = null
  process.on('message', (m) => {
    if ((m.cmd === 'stop' || m.cmd === 'leave') && stop) stop(m)
    else { cmds.push(m); if (wake) wake() }
  })
  process.on('disconnect', () => process.exit(0))
  send({ ready: true })
  for (;;) {
    if (!cmds.length) await new Promise((resolve) => { wake = resolve })
    wake = null
    const m = cmds.shift()
    if (m.cmd === 'exit') break
    if (m.cmd === 'drain') {
      // Scenario 2: count records; progress every 100 ms; first/last record times.
      const consumer = log.consumer({ groupId: m.groupId, topics: [m.topic], startFrom: 'earliest' })
      let n = 0; let first = 0n; let last = 0n; let stopped = false
      stop = () => { stopped = true }
      const progress = setInterval(() => send({ progress: n }), 100)
      for await (const batch of consumer.batches({ maxMessages: 10_000, maxWaitMs: 50 })) {
        if (batch.length) {
          last = hr()
          if (!first) first = last
          for (const r of batch) if (r.value.length !== VALUE_BYTES) throw new Error(`bad record at ${r.partition}/${r.offset}`)
          n += batch.length
        }
        if (stopped) break
      }
      clearInterval(progress)
      stop = null
      send({ drained: { n, first, last } })
    } else if (m.cmd === 'join') {
      // Scenario 3: t0 just before the consumer is created; iteration starts right after.
      let left = null
      stop = () => {
        left = hr()
        consumer.close()
      }
      const t0 = hr()
      const consumer = log.consumer({ groupId: m.groupId, topics: [m.topic], startFrom: 'earliest' })
      consumer.on('rebalance', ({ assigned, revoked }) => send({
        rebalance: { t: hr(), assigned: assigned.map((tp) => tp.partition), revoked: revoked.map((tp) => tp.partition) }
      }))
      send({ joining: t0 })
      // No maxWaitMs: the member sleeps in caldo's own wait and must be woken by the group.
      for await (const batch of consumer.batches()) { if (batch.length === 0) continue }
      stop = null
      send({ left })
    }
  }
  await log.close()
  process.disconnect()
}

// ------------------------------------------------------------------ parent side helpers
const members = new Set()

function member (dir) {
  const proc = fork(__filename, ['child', dir], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  members.add(proc)
  const listeners = new Set()
  let exited = null
  proc.on('message', (m) => { for (const fn of [...listeners]) fn(m) })
  proc.on('exit', (code, signal) => {
    members.delete(proc)
    exited = `member ${proc.pid} exited (${signal || code})`
    for (const fn of [...listeners]) fn({ exited })
  })
  // Resolves with the first message (from now on) that `pred` accepts.
  const next = (pred, what = 'a message', timeoutMs = STEP_TIMEOUT_MS) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { listeners.delete(fn); reject(new Error(`member ${proc.pid}: no ${what} within ${timeoutMs} ms`)) }, timeoutMs)
    const fn = (m) => {
      if (m.exited && !pred(m)) { clearTimeout(timer); listeners.delete(fn); reject(new Error(`${m.exited} while waiting for ${what}`)); return }
      if (pred(m)) { clearTimeout(timer); listeners.delete(fn); resolve(m) }
    }
    listeners.add(fn)
  })
  const ready = next((m) => m.ready, 'ready')
  return { proc, ready, next, on: (fn) => listeners.add(fn), off: (fn) => listeners.delete(fn), send: (m) => proc.send(m), exited: () => exited }
}

async function fill (log, topic) {
  await log.createTopic(topic, { partitions: PARTITIONS })
  const producer = log.producer()
  const per = RECORDS / PARTITIONS
  const block = Buffer.alloc(BATCH * VALUE_BYTES, 0x61)
  for (let i = 0; i < per; i += BATCH) {
    for (let p = 0; p < PARTITIONS; p++) {
      const recs = new Array(BATCH)
      for (let j = 0; j < BATCH; j++) recs[j] = { value: block.subarray(j * VALUE_BYTES, (j + 1) * VALUE_BYTES), partition: p }
      await producer.sendBatch(topic, recs)
    }
  }
  await producer.close()
  const info = (await log.topics()).find((t) => t.name === topic)
  expect(`records in ${topic}`, info.partitions.reduce((s, p) => s + p.high - p.low, 0), RECORDS)
}

// ------------------------------------------------------------------ 1. in-process
let groupSeq = 0
const newGroup = (what) => `bench-${what}-${process.pid}-${groupSeq++}`

function consumerFor (log, topic, kind) {
  const signal = AbortSignal.timeout(60_000) // ends the loop instead of hanging if records go missing
  return kind === 'manual'
    ? log.consumer({ assign: Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 'earliest' })), signal })
    : log.consumer({ groupId: newGroup('one'), topics: [topic], startFrom: 'earliest', signal })
}

// The clock starts before the consumer is created, so a group's join is included.
async function forAwaitRun (log, topic, kind) {
  const t0 = hr()
  const consumer = consumerFor(log, topic, kind)
  let n = 0; let first = 0n
  for await (const m of consumer) {
    if (!first) first = hr()
    if (m.value.length !== VALUE_BYTES) throw new Error(`bad record at ${m.partition}/${m.offset}`)
    if (++n === RECORDS) break
  }
  const t = hr() - t0
  expect(`${kind} for-await count`, n, RECORDS)
  return { rate: perSecond(n, t), firstMs: ms(first - t0) }
}

async function batchesRun (log, topic, kind) {
  const t0 = hr()
  const consumer = consumerFor(log, topic, kind)
  let n = 0; let first = 0n
  for await (const batch of consumer.batches({ maxMessages: 10_000 })) {
    if (!first) first = hr()
    for (const m of batch) if (m.value.length !== VALUE_BYTES) throw new Error(`bad record at ${m.partition}/${m.offset}`)
    n += batch.length
    if (n >= RECORDS) break
  }
  const t = hr() - t0
  expect(`${kind} batches count`, n, RECORDS)
  return { rate: perSecond(n, t), firstMs: ms(first - t0) }
}

// Manual and group runs alternate, so that noise from the shared machine hits both alike;
// pairRatio is the median of group/manual over those pairs (less sensitive to drifts in
// the machine's load than the ratio of the medians). firstMs: clock start to first message.
async function compare (log, topic, fn) {
  const manual = []; const group = []
  for (let r = 0; r < RUNS; r++) {
    manual.push(await fn(log, topic, 'manual'))
    group.push(await fn(log, topic, 'group'))
  }
  const sum = (xs) => ({ median: median(xs.map((x) => x.rate)), runs: xs.map((x) => x.rate), firstMsMedian: median(xs.map((x) => x.firstMs)) })
  const m = sum(manual)
  const g = sum(group)
  return { manual: m, group: g, ratio: g.median / m.median, pairRatio: median(group.map((x, i) => x.rate / manual[i].rate)) }
}

// ------------------------------------------------------------------ 2. group of 4 processes
async function groupOfFour (dir, topic) {
  const ws = Array.from({ length: MEMBERS }, () => member(dir))
  try {
    await Promise.all(ws.map((w) => w.ready))
    const runs = []
    for (let r = 0; r < GROUP_RUNS; r++) {
      const groupId = newGroup('four')
      const progress = new Array(MEMBERS).fill(0)
      const fns = []
      const done = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`group of ${MEMBERS}: ${progress.reduce((a, b) => a + b)} of ${RECORDS} in 120 s`)), 120_000)
        ws.forEach((w, i) => {
          fns[i] = (m) => {
            if (m.exited) { clearTimeout(timer); reject(new Error(m.exited)) }
            if (m.progress === undefined) return
            progress[i] = m.progress
            if (progress.reduce((a, b) => a + b) >= RECORDS) { clearTimeout(timer); resolve() }
          }
          w.on(fns[i])
        })
      })
      const drained = ws.map((w) => w.next((m) => m.drained, 'drain result', 180_000))
      const go = hr()
      for (const w of ws) w.send({ cmd: 'drain', groupId, topic })
      await done
      for (const w of ws) w.send({ cmd: 'stop' })
      const res = (await Promise.all(drained)).map((m) => m.drained)
      ws.forEach((w, i) => w.off(fns[i]))
      const n = res.reduce((a, x) => a + x.n, 0)
      const first = res.filter((x) => x.n).reduce((a, x) => (x.first < a ? x.first : a), res.find((x) => x.n).first)
      const last = res.reduce((a, x) => (x.last > a ? x.last : a), 0n)
      runs.push({
        recPerSec: perSecond(RECORDS, last - first),
        recPerSecFromStart: perSecond(RECORDS, last - go),
        joinToFirstRecordMs: ms(first - go),
        delivered: n,
        perMember: res.map((x) => x.n)
      })
    }
    return {
      median: median(runs.map((x) => x.recPerSec)),
      medianFromStart: median(runs.map((x) => x.recPerSecFromStart)),
      runs
    }
  } finally {
    for (const w of ws) w.proc.kill('SIGKILL')
  }
}

// ------------------------------------------------------------------ 3. rebalance latency
// Tracks one member's partitions from its rebalance events.
function tracker (w) {
  const owned = new Set()
  const waiters = new Set()
  const fn = (m) => {
    if (!m.rebalance) return
    for (const p of m.rebalance.revoked) owned.delete(p)
    for (const p of m.rebalance.assigned) owned.add(p)
    for (const x of [...waiters]) x(m.rebalance)
  }
  w.on(fn)
  // Resolves with the event after which `pred(owned)` holds (at once, with null, if it holds now).
  const until = (pred, what) => new Promise((resolve, reject) => {
    if (pred(owned)) return resolve(null)
    const timer = setTimeout(() => { waiters.delete(fn); reject(new Error(`no ${what} within ${STEP_TIMEOUT_MS} ms (owns ${[...owned]})`)) }, STEP_TIMEOUT_MS)
    const fn = (ev) => { if (pred(owned)) { clearTimeout(timer); waiters.delete(fn); resolve(ev) } }
    waiters.add(fn)
  })
  return { owned, until, stop: () => w.off(fn) }
}

// Waits (not timed) until A and B own every partition between them, both some, none twice.
async function split (ta, tb) {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  const ok = () => ta.owned.size > 0 && tb.owned.size > 0 && ta.owned.size + tb.owned.size === PARTITIONS &&
    [...ta.owned].every((p) => !tb.owned.has(p))
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`partitions not split within ${STEP_TIMEOUT_MS} ms: A ${[...ta.owned]}, B ${[...tb.owned]}`)
    await sleep(2)
  }
}

const stats = (samples) => {
  const s = [...samples].sort((a, b) => a - b)
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1], min: s[0], samples: s.length, runs: samples.map((x) => Math.round(x * 1000) / 1000) }
}

async function rebalanceLatency (dir, topic) {
  const groupId = newGroup('rebalance')
  const a = member(dir)
  const b = member(dir)
  const join = []; const leave = []; const kill = []; const killJoin = []
  try {
    await Promise.all([a.ready, b.ready])
    const ta = tracker(a)
    const all = (s) => s.size === PARTITIONS
    a.send({ cmd: 'join', groupId, topic })
    await ta.until(all, 'assignment of all partitions to A')

    // Join (B: a long-lived process joining again each run) then graceful leave.
    for (let r = 0; r < LATENCY_RUNS; r++) {
      const tb = tracker(b)
      const joining = b.next((m) => m.joining, 'join start')
      const firstAssign = b.next((m) => m.rebalance && m.rebalance.assigned.length, 'first assignment')
      b.send({ cmd: 'join', groupId, topic })
      const t0 = (await joining).joining
      join.push(ms((await firstAssign).rebalance.t - t0))
      // Settled: A and B split the partitions between them.
      await split(ta, tb)
      const left = b.next((m) => m.left !== undefined, 'left')
      const back = ta.until(all, 'A getting B\'s partitions after a leave')
      b.send({ cmd: 'leave' })
      const ev = await back
      leave.push(ms(ev.t - (await left).left))
      tb.stop()
    }
    b.send({ cmd: 'exit' })

    // kill -9: a fresh process joins, gets its share, and is killed.
    for (let r = 0; r < LATENCY_RUNS; r++) {
      const v = member(dir)
      await v.ready
      const tv = tracker(v)
      const joining = v.next((m) => m.joining, 'join start')
      const firstAssign = v.next((m) => m.rebalance && m.rebalance.assigned.length, 'first assignment')
      v.send({ cmd: 'join', groupId, topic })
      const t0 = (await joining).joining
      killJoin.push(ms((await firstAssign).rebalance.t - t0))
      await split(ta, tv)
      const back = ta.until(all, 'A getting the killed member\'s partitions')
      const exited = v.next((m) => m.exited, 'exit')
      const killedAt = hr()
      v.proc.kill('SIGKILL')
      const ev = await back
      kill.push(ms(ev.t - killedAt))
      await exited
    }
    a.send({ cmd: 'leave' })
    await a.next((m) => m.left !== undefined, 'A leaving')
    a.send({ cmd: 'exit' })
  } finally {
    for (const proc of [...members]) proc.kill('SIGKILL')
  }
  return { joinMs: stats(join), freshProcessJoinMs: stats(killJoin), leaveMs: stats(leave), killMs: stats(kill) }
}

// ------------------------------------------------------------------ output

const fmtMs = (x) => x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : fmt(x)

function table (m, r) {
  const spread = (x) => `median of ${x.runs.length} (${fmt(Math.min(...x.runs))}–${fmt(Math.max(...x.runs))})`
  const cmp = (name, c) => [
    [`1. ${name}, manual assignment of all ${PARTITIONS} partitions`, `${fmt(c.manual.median)} rec/s`, `${spread(c.manual)}; first message after ${fmtMs(c.manual.firstMsMedian)} ms`],
    [`1. ${name}, group of one`, `${fmt(c.group.median)} rec/s`,
      `${spread(c.group)}; first message after ${fmtMs(c.group.firstMsMedian)} ms; **group/manual ${c.ratio.toFixed(2)}** (median of per-pair ratios ${c.pairRatio.toFixed(2)})`]
  ]
  const g = r.groupOf4
  const lat = (x) => `${fmtMs(x.p50)} / ${fmtMs(x.p99)} ms`
  const latDetail = (x) => `${x.samples} runs, min ${fmtMs(x.min)}, max ${fmtMs(x.max)}`
  const rows = [
    ...cmp('`for await`', r.forAwait),
    ...cmp('`batches({ maxMessages: 10000 })`', r.batches),
    [`2. group of ${MEMBERS} processes, \`batches()\``, `${fmt(g.median)} rec/s`,
      `first to last record; median of ${g.runs.length} (${fmt(Math.min(...g.runs.map((x) => x.recPerSec)))}–${fmt(Math.max(...g.runs.map((x) => x.recPerSec))) }); from the join call: ${fmt(g.medianFromStart)} rec/s`],
    ['3. join: new member to its first assignment, p50 / p99', lat(r.rebalance.joinMs), `${latDetail(r.rebalance.joinMs)}; a long-lived process joining again`],
    ['3. join of a freshly started process, p50 / p99', lat(r.rebalance.freshProcessJoinMs), latDetail(r.rebalance.freshProcessJoinMs)],
    ['3. graceful leave: `close()` to the survivor\'s assignment, p50 / p99', lat(r.rebalance.leaveMs), latDetail(r.rebalance.leaveMs)],
    ['3. kill -9: SIGKILL to the survivor\'s assignment, p50 / p99', lat(r.rebalance.killMs), latDetail(r.rebalance.killMs)]
  ]
  return [
    machineLine(m),
    '',
    `One topic of ${PARTITIONS} partitions, ${RECORDS.toLocaleString('en-US')} records of ${VALUE_BYTES} B, durability 'none'; ` +
      'throughput clocks start before the consumer is created (a group\'s join included). Rebalances: cooperative-sticky (the default), 2 members.',
    '',
    '| Scenario | Result | Detail |',
    '|---|---:|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ].join('\n')
}

async function main () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-gbench-'))
  try {
    const m = machine(tmp)
    const r = {}
    const dir = path.join(tmp, 'log')
    const topic = 'groups-8p'
    const log = await open(dir, { durability: 'none' })
    await fill(log, topic)
    r.forAwait = await compare(log, topic, forAwaitRun)
    console.log(`groups: for await, manual ${fmt(r.forAwait.manual.median)} rec/s, group ${fmt(r.forAwait.group.median)} rec/s (${r.forAwait.ratio.toFixed(2)})`)
    r.batches = await compare(log, topic, batchesRun)
    console.log(`groups: batches, manual ${fmt(r.batches.manual.median)} rec/s, group ${fmt(r.batches.group.median)} rec/s (${r.batches.ratio.toFixed(2)})`)
    r.groupOf4 = await groupOfFour(dir, topic)
    console.log(`groups: group of ${MEMBERS} processes ${fmt(r.groupOf4.median)} rec/s`)
    await log.createTopic('rebalance-8p', { partitions: PARTITIONS })
    r.rebalance = await rebalanceLatency(dir, 'rebalance-8p')
    await log.close()

    const md = table(m, r)
    console.log(md)
    if (QUICK) return
    const out = path.join(__dirname, 'results')
    fs.mkdirSync(out, { recursive: true })
    const settings = { runs: RUNS, groupRuns: GROUP_RUNS, records: RECORDS, partitions: PARTITIONS, valueBytes: VALUE_BYTES, members: MEMBERS, latencyRuns: LATENCY_RUNS }
    const json = JSON.stringify({ machine: m, settings, results: r }, (k, v) => typeof v === 'bigint' ? Number(v) : v, 2)
    fs.writeFileSync(path.join(out, 'groups.json'), json + '\n')
    fs.writeFileSync(path.join(out, 'groups.md'), md + '\n')
  } finally {
    for (const proc of [...members]) proc.kill('SIGKILL')
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

module.exports = { main }

if (require.main === module) {
  const run = process.argv[2] === 'child' ? () => child(process.argv[3]) : main
  run().catch((err) => {
    console.error(err)
    process.exitCode = 1
    if (process.argv[2] === 'child') process.exit(1)
  })
}
