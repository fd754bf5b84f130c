'use strict'
// caldo against what users would pick instead, side by side on this machine.
//   node benchmark/peers/run.js [--quick] [--only floor,caldo,kafka,...] [--scenarios 1,2,3,4,5,6,7] [--runs N] [--merge]
//                               [--kafka-broker kafka|tansu]
// Starts each peer through its script here (loopback only), stops it afterwards even on
// failure, and writes benchmark/results/peers.{json,md,svg}. See benchmark/README.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork, execFileSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { drivers, nowUs, WORK, PORTS } = require('./drivers')
const { producePerf, consumePerf } = require('./kafka-tools')
const { renderSvg } = require('./chart')
const { median, percentile } = require('../common')

// floor: the harness alone (and a raw Unix socket for latency); kafkajava: Kafka's own perf
// tools; rdkafka: librdkafka through @confluentinc/kafka-javascript.
const SYSTEMS = ['floor', 'caldo', 'kafka', 'kafkajava', 'rdkafka', 'redis', 'sqlite', 'nats', 'hypercore']
const SERVICES = { kafka: 'kafka.sh', tansu: 'tansu.sh', redis: 'redis.sh', nats: 'nats.sh' }
// Which server each system needs; the three Kafka clients share one broker.
const SERVICE_OF = { kafka: 'kafka', kafkajava: 'kafka', rdkafka: 'kafka', redis: 'redis', nats: 'nats' }
const KAFKA_BROKERS = ['kafka', 'tansu']

function parseArgs (argv) {
  const o = { quick: false, only: SYSTEMS, scenarios: [1, 2, 3, 4, 5, 6, 7], runs: null, out: null, merge: false, kafkaBroker: 'kafka' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') o.quick = true
    else if (a === '--only') o.only = argv[++i].split(',').map((s) => s.trim())
    else if (a === '--scenarios') o.scenarios = argv[++i].split(',').map(Number)
    else if (a === '--runs') o.runs = Number(argv[++i])
    else if (a === '--out') o.out = argv[++i]
    else if (a === '--merge') o.merge = true
    else if (a === '--render') o.render = true
    else if (a === '--kafka-broker') o.kafkaBroker = argv[++i]
    else throw new Error(`unknown argument ${a}; see benchmark/README.md`)
  }
  for (const s of o.only) if (!SYSTEMS.includes(s)) throw new Error(`unknown system ${s}; one of ${SYSTEMS.join(', ')}`)
  if (!KAFKA_BROKERS.includes(o.kafkaBroker)) throw new Error(`unknown --kafka-broker ${o.kafkaBroker}; one of ${KAFKA_BROKERS.join(', ')}`)
  return o
}

const opts = parseArgs(process.argv.slice(2))
const Q = opts.quick
const CFG = {
  runs: opts.runs ?? (Q ? 2 : 5),
  sizes: [100, 1024, 65536],
  consumeSizes: [100, 1024],
  records: { 100: Q ? 50_000 : 200_000, 1024: Q ? 20_000 : 100_000, 65536: Q ? 1024 : 4096 },
  producers: 4,
  latencySizes: [100],
  latencyRates: [1000, 10_000],
  latencySeconds: Q ? 2 : 5,
  latencyWarmupSeconds: 0.5,
  idleSeconds: Q ? 2 : 5,
  durableSizes: [100, 1024],
  groupMembers: 4,
  groupPartitions: 8,
  groupRecords: Q ? 40_000 : 200_000,
  groupRate: 2000,
  durableSenders: 64,
  durableMs: Q ? 1500 : 3000,
  diskBytes: Q ? 128 << 20 : 256 << 20,
  fsyncMs: 2000,
  memcpyBytes: 64 << 20,
  bigValueBytes: 64 << 10
}

// A figure from several runs: the median and every run (the table shows min–max).
const stat = (runs, unit) => ({ unit, median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs })
const log = (...a) => console.log(...a)

// ------------------------------------------------------------------ processes
const children = new Set()

function worker (spec, { timeoutMs = 180_000 } = {}) {
  const child = fork(path.join(__dirname, 'worker.js'), [JSON.stringify(spec)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.add(child)
  const msgs = []
  const listeners = new Set()
  let settle
  const result = new Promise((resolve, reject) => { settle = { resolve, reject } })
  const timer = setTimeout(() => { settle.reject(new Error(`${spec.system} ${spec.role}: no result after ${timeoutMs / 1000} s`)); child.kill('SIGKILL') }, timeoutMs)
  child.on('message', (m) => {
    msgs.push(m)
    for (const fn of listeners) fn(m)
    if (m.result) settle.resolve(m.result)
    if (m.error) settle.reject(new Error(`${spec.system} ${spec.role}: ${m.error}`))
  })
  child.on('exit', (code, signal) => {
    clearTimeout(timer)
    children.delete(child)
    settle.reject(new Error(`${spec.system} ${spec.role} exited (${signal || code}) before a result`))
  })
  result.catch(() => {})
  const waitFor = (pred) => new Promise((resolve, reject) => {
    const hit = msgs.find(pred)
    if (hit) return resolve(hit)
    const fn = (m) => { if (pred(m)) { listeners.delete(fn); resolve(m) } }
    listeners.add(fn)
    result.catch(reject)
  })
  // Roles that never say ready (a replay) leave this unawaited: its rejection is not a crash.
  const ready = waitFor((m) => m.ready)
  ready.catch(() => {})
  return { child, result, ready, waitFor, on: (fn) => listeners.add(fn), send: (m) => child.connected && child.send(m) }
}

function killAll () { for (const c of children) { try { c.kill('SIGKILL') } catch {} } }

// ------------------------------------------------------------------ services
const started = new Set()
function service (name, cmd, timeout = 900_000) {
  return execFileSync(path.join(__dirname, SERVICES[name]), [cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout }).trim()
}
function stopServices () {
  for (const name of started) {
    try { service(name, 'stop') } catch (e) { console.error(`stopping ${name}: ${e.message}`) }
    started.delete(name)
  }
}
const whyOf = (e) => (e.stderr || e.message || '').toString().trim().split('\n').slice(-3).join(' ')

// Which broker serves the Kafka API in this run: 'kafka' (Apache Kafka), or 'tansu', a
// Kafka-compatible broker built from its Rust crate, when Kafka cannot be set up or started or
// when --kafka-broker tansu forces it. Never silent: the switch is printed and noted.
let kafkaBroker = null

function startKafkaApi (notes) {
  let msg
  if (opts.kafkaBroker === 'kafka') {
    try {
      service('kafka', 'setup'); service('kafka', 'start'); started.add('kafka')
      return 'kafka'
    } catch (e) {
      msg = `Apache Kafka could not be set up or started (${whyOf(e)}); falling back to tansu, a Kafka-compatible broker built from its Rust crate, driven by the same kafkajs code`
    }
  } else {
    msg = 'Apache Kafka not set up (--kafka-broker tansu): the Kafka API is served by tansu, a Kafka-compatible broker built from its Rust crate, driven by the same kafkajs code'
  }
  console.error('  ' + msg); notes.push(msg)
  try {
    log('  setting up tansu (the first time, cargo builds it: about 10 minutes on 2 cores) ...')
    service('tansu', 'setup', 7_200_000); service('tansu', 'start'); started.add('tansu')
  } catch (e) { throw new Error(`tansu could not be set up or started either (${whyOf(e)})`) }
  const port = service('tansu', 'port')
  process.env.BENCH_KAFKA_PORT = port // for the workers, forked with this environment
  PORTS.kafka = Number(port)
  LABEL.kafka = TANSU_LABEL
  const v = service('tansu', 'version')
  const note = `kafka: the Kafka column is tansu ${v} (storage engine memory://: nothing is written to disk), not Apache Kafka; its figures say nothing about Apache Kafka's`
  log('  ' + note); notes.push(note)
  return 'tansu'
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); stopServices(); process.exit(130) })
}

// ------------------------------------------------------------------ scenarios
// Scenarios a system does not run, and why (null: nothing to say, as for the floor's rows).
const NOT_RUN = {
  floor: { 2: null, 4: null, 5: null },
  kafkajava: {
    3: 'the perf tools measure throughput; latency is measured with the kafkajs and librdkafka clients on the same broker',
    4: 'groups are measured with kafkajs on the same broker',
    5: 'durable produce is measured with kafkajs on the same broker',
    7: 'the idle consumer is measured with kafkajs and librdkafka on the same broker'
  },
  rdkafka: { 4: 'groups are measured with kafkajs on the same broker', 5: 'durable produce is measured with kafkajs on the same broker' },
  sqlite: { 4: 'SQLite has no consumer groups (a queue table would need hand-written leases)' },
  nats: {
    4: 'not implemented here (JetStream has no partitions; workers share one pull consumer with ack-wait redelivery)',
    5: 'nats-server (Debian 2.9) has no per-message fsync (sync_interval: always arrived in 2.10); its file store syncs every 2 minutes by default'
  },
  hypercore: {
    4: 'hypercore has no consumer groups',
    5: 'hypercore has no per-append fsync to wait for'
  }
}

let topicSeq = 0
const topicName = (what) => `b${Date.now().toString(36)}${(topicSeq++).toString(36)}-${what}`

async function producers (system, topic, count, procs, valueBytes, partition) {
  if (system === 'kafkajava') return producePerf({ topic, count, valueBytes, procs })
  // Each process writes `count` records: with count / procs each, a fast system's four
  // processes ran for a few tens of milliseconds, which the start and the stragglers dominated.
  const ws = Array.from({ length: procs }, (_, i) => worker({ system, role: 'produce', topic, count, valueBytes, seq0: i * count, partition }))
  await Promise.all(ws.map((w) => w.ready))
  for (const w of ws) w.send({ cmd: 'go' })
  const rs = await Promise.all(ws.map((w) => w.result))
  const t0 = Math.min(...rs.map((r) => r.t0))
  const t1 = Math.max(...rs.map((r) => r.t1))
  return count * procs / (t1 - t0) * 1e6
}

async function replay (system, topic, count, mode) {
  if (system === 'kafkajava') return consumePerf({ topic, count })
  const x = await worker({ system, role: 'replay', topic, count, mode }).result
  if (x.n < count) throw new Error(`${system} replay got ${x.n} of ${count}`)
  return x.n / (x.last - x.first) * 1e6
}


// Each scenario function below does one run and adds its figures to `acc` (figure -> runs);
// main() runs every system once per round, CFG.runs rounds, so that a change in the load of
// this shared machine falls on every system alike.
const add = (acc, key, v) => { (acc[key] ??= []).push(v) }

// Scenarios 1 and 2: for each value size, one producer process (its topic is then replayed
// by each of the system's consume modes), then CFG.producers processes on the same single
// partition.
async function throughputScenarios (system, c, acc, notes) {
  const d = drivers[system]
  for (const size of CFG.sizes) {
    const N = CFG.records[size]
    const consume = opts.scenarios.includes(2) && CFG.consumeSizes.includes(size) && d.consumeModes.length > 0
    if (opts.scenarios.includes(1) || consume) {
      const topic = topicName(`p1-${size}`)
      await d.create(c, topic, 1)
      add(acc, `produce1_${size}`, await producers(system, topic, N, 1, size))
      for (const mode of consume ? d.consumeModes : []) add(acc, `consume_${mode}_${size}`, await replay(system, topic, N, mode))
      await d.drop(c, topic)
    }
    if (opts.scenarios.includes(1) && d.singleWriter) {
      const msg = `${system}: scenario 1: ${CFG.producers} processes not run: one process owns a hypercore (its storage is locked); other processes replicate it, they do not append to it`
      if (!notes.includes(msg)) notes.push(msg)
    } else if (opts.scenarios.includes(1)) {
      const topic = topicName(`pN-${size}`)
      await d.create(c, topic, 1)
      add(acc, `produceN_${size}`, await producers(system, topic, N, CFG.producers, size))
      await d.drop(c, topic)
    }
  }
}

// Scenario 3: one run per rate; each percentile ends up the median of the runs' percentiles.
async function latencyScenario (system, c, acc, notes) {
  const d = drivers[system]
  if (system === 'kafka' && kafkaBroker === 'tansu') {
    const msg = `kafka: scenario 3: tansu ${versions.tansu || ''} answers a fetch only after the client's whole max wait (kafkajs maxWaitTimeInMs, 100 ms here), even when records are there: its fetch loop sleeps out the remaining wait before it checks minBytes; the latency figures are mostly that wait`
    if (!notes.includes(msg)) notes.push(msg)
  }
  for (const size of CFG.latencySizes) {
    for (const rate of CFG.latencyRates) {
      const topic = topicName(`lat-${size}-${rate}`)
      await d.create(c, topic, 1)
      const total = Math.round(rate * CFG.latencySeconds)
      const tail = worker({ system, role: 'tail', topic, count: total, valueBytes: size })
      const paced = worker({ system, role: 'paced', topic, rate, seconds: CFG.latencySeconds, valueBytes: size, partition: 0 })
      await Promise.all([tail.ready, paced.ready])
      await sleep(300)
      paced.send({ cmd: 'go' })
      await paced.result
      // A consumer that falls behind for good (it happens) must not hold the run for the worker's whole timeout.
      const got = await Promise.race([tail.result, sleep(30_000, null)])
      if (!got) {
        tail.child.kill('SIGKILL'); await d.drop(c, topic).catch(() => {})
        throw new Error(`at ${rate}/s the consumer did not have every record 30 s after the sender finished`)
      }
      const sorted = got.latencies.slice(Math.round(rate * CFG.latencyWarmupSeconds)).sort((a, b) => a - b)
      for (const [q, at] of [['p50', 0.5], ['p99', 0.99], ['p999', 0.999]]) add(acc, `latency_${size}_${rate}.${q}`, percentile(sorted, at))
      await d.drop(c, topic)
    }
  }
}

// Scenario 7: CPU time (user + system, from /proc/<pid>/stat) of a consumer waiting at the end
// of an empty topic for CFG.idleSeconds, and of the system's server over the same seconds.
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100
function cpuMs (pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ') // fields from the 3rd on
    return (Number(x[11]) + Number(x[12])) / TICKS * 1000
  } catch { return null }
}
const serverPid = (svc) => { try { return Number(fs.readFileSync(path.join(WORK, `${svc}.pid`), 'utf8')) } catch { return null } }

async function idleScenario (system, c, acc) {
  const d = drivers[system]
  const topic = topicName('idle')
  await d.create(c, topic, 1)
  const tail = worker({ system, role: 'tail', topic, count: 1, valueBytes: 100 })
  try {
    await tail.ready
    await sleep(1000)
    const svc = SERVICE_OF[system] && (SERVICE_OF[system] === 'kafka' ? kafkaBroker : SERVICE_OF[system])
    const pids = [tail.child.pid, svc ? serverPid(svc) : null]
    const before = pids.map((p) => p && cpuMs(p))
    await sleep(CFG.idleSeconds * 1000)
    const after = pids.map((p) => p && cpuMs(p))
    add(acc, 'idle.consumerMs', after[0] - before[0])
    if (after[1] !== null && before[1] !== null) add(acc, 'idle.serverMs', after[1] - before[1])
  } finally {
    tail.child.kill('SIGKILL')
    await d.drop(c, topic).catch(() => {})
  }
}

async function durableScenario (system, acc, notes) {
  const d = drivers[system]
  if (system === 'kafka' && kafkaBroker === 'tansu') {
    const msg = 'kafka: scenario 5 not run: tansu runs here with its memory:// storage engine (the only one that needs neither a database server nor SQLite), which never writes to disk, so flush.messages=1 with acks=-1 cannot mean an fsync'
    if (!notes.includes(msg)) notes.push(msg)
    return
  }
  const c = await d.connect({ durable: true })
  try {
    for (const size of CFG.durableSizes) {
      const topic = topicName(`dur-${size}`)
      await d.create(c, topic, 1, { durable: true })
      const x = await worker({ system, role: 'durable', durable: true, topic, senders: CFG.durableSenders, ms: CFG.durableMs, valueBytes: size }).result
      add(acc, `durable_${size}`, x.sent / x.ms * 1000)
      await d.drop(c, topic, { durable: true })
    }
  } finally { await d.close(c) }
}

// The figures of a system from its runs: { key: stat }, latency and idle as nested objects.
function figures (acc) {
  const res = {}
  for (const [key, runs] of Object.entries(acc)) {
    const [k, q] = key.split('.')
    const unit = k.startsWith('latency') ? 'µs' : k === 'idle' ? 'ms CPU' : 'rec/s'
    if (q) (res[k] ??= { unit })[q] = stat(runs, unit)
    else res[k] = stat(runs, unit)
  }
  if (res.idle) res.idle.seconds = CFG.idleSeconds
  return res
}

// Scenario 4. Phase 1: 4 members drain a pre-filled 8-partition topic (throughput from the
// first assignment to the last record consumed). Phase 2: records keep coming at CFG.groupRate/s; one
// member is SIGKILLed; takeover = kill until a survivor consumes a record the dead member
// owned (Kafka, caldo: a record of one of its partitions; Redis: one of its unacked entries).
async function groupScenario (system, c, res, notes) {
  const d = drivers[system]
  const topic = topicName('group')
  await d.create(c, topic, CFG.groupPartitions)
  if (!d.groupSupported(c, topic)) {
    const msg = 'caldo: scenario 4 not run: consumer groups not available in this build'
    log(`  ${msg}`); notes.push(msg); res.group = { unavailable: msg }
    await d.drop(c, topic)
    return
  }
  const N = CFG.groupRecords
  // Pre-fill, spread over the partitions.
  const per = Math.ceil(N / CFG.groupPartitions)
  if (system === 'redis') await producers(system, topic, N, 1, 100)
  else {
    for (let p = 0; p < CFG.groupPartitions; p++) await producers(system, topic, per, 1, 100, p)
  }
  const total = system === 'redis' ? N : per * CFG.groupPartitions
  const groupId = `g-${topic}`
  const owners = new Map() // member index -> partitions
  // Throughput clock: from the first assignment (Redis: the first member ready) to the last record.
  let consumed = 0; let first = 0; let last = 0; let start = 0
  let onConsume = null
  const members = Array.from({ length: CFG.groupMembers }, (_, i) => {
    const w = worker({ system, role: 'member', topic, groupId, name: `m${i}` }, { timeoutMs: 600_000 })
    w.on((m) => {
      if (m.ready && system === 'redis' && !start) start = nowUs()
      if (m.assigned && m.assigned.length && !start) start = nowUs()
      if (m.assigned) {
        const had = m.full ? new Set() : new Set(owners.get(i) || [])
        for (const p of m.assigned) had.add(p)
        for (const p of m.revoked || []) had.delete(p)
        owners.set(i, [...had])
      }
      if (m.consumed) {
        const n = Object.values(m.consumed).reduce((a, b) => a + b, 0)
        if (!first) first = m.t
        consumed += n; last = m.t
        if (onConsume) onConsume(i, m)
      }
    })
    return w
  })
  try {
    await Promise.all(members.map((w) => w.ready))
    const deadline = Date.now() + 120_000
    while (consumed < total && Date.now() < deadline) await sleep(50)
    if (consumed < total) throw new Error(`${system} group consumed ${consumed} of ${total} in 120 s`)
    const throughput = total / (last - (start || first)) * 1e6
    log(`  ${system} group of ${CFG.groupMembers} on ${CFG.groupPartitions} partitions: ${fmt(throughput)} rec/s`)

    // Phase 2.
    const feed = worker({ system, role: 'paced', topic, rate: CFG.groupRate, seconds: 60, valueBytes: 100, spread: CFG.groupPartitions }, { timeoutMs: 120_000 })
    await feed.ready; feed.send({ cmd: 'go' })
    await sleep(2000)
    const victim = 0
    const owned = new Set(owners.get(victim) || [])
    if (system === 'redis') {
      members[victim].send({ cmd: 'hold' })
      await members[victim].waitFor((m) => m.held > 0)
    }
    let takeover = null
    const taken = new Promise((resolve) => {
      onConsume = (i, m) => {
        if (i === victim) return
        const hit = system === 'redis' ? m.claimed > 0 : Object.keys(m.consumed).some((p) => owned.has(Number(p)))
        if (hit) resolve(nowUs())
      }
    })
    const killedAt = nowUs()
    members[victim].child.kill('SIGKILL')
    const t = await Promise.race([taken, sleep(45_000, null, { ref: false })])
    if (t) takeover = (t - killedAt) / 1000
    feed.child.kill('SIGKILL')
    log(`  ${system} takeover after SIGKILL: ${takeover === null ? 'none within 45 s' : fmt(takeover) + ' ms'} (victim owned partitions ${[...owned].join(',') || '-'})`)
    if (takeover === null && system === 'kafka' && kafkaBroker === 'tansu') {
      const msg = owned.size
        ? `kafka: scenario 4: tansu ${versions.tansu || ''} did not give the SIGKILLed member's partitions (${[...owned].join(',')}) to a surviving member within 45 s (kafkajs session timeout 6 s), so there is no takeover figure`
        : `kafka: scenario 4: no takeover figure: under tansu ${versions.tansu || ''} the member that was SIGKILLed had no partitions in its last assignment, so no record could show a takeover`
      log(`  ${msg}`); notes.push(msg)
    }
    res.group = { unit: 'rec/s', throughput, records: total, takeoverMs: takeover, victimPartitions: [...owned] }
  } finally {
    for (const w of members) w.child.kill('SIGKILL')
    await sleep(200)
    await d.drop(c, topic).catch(() => {})
  }
}

// Scenario 6: the limits a produce row can be held against, measured the same way each run
// (CFG.runs runs, each on a fresh file after a sync): sequential 1 MiB writes of CFG.diskBytes
// into the page cache, with O_DIRECT, and with a final fdatasync (dd); small appends each
// followed by fdatasync; and one core's memory copy. Then caldo with 64 KiB values under
// durability 'always', against the synced rates.
function dd (file, flags) {
  execFileSync('sync')
  fs.rmSync(file, { force: true })
  const t0 = performance.now()
  execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${CFG.diskBytes >> 20}`, 'status=none', ...flags])
  const mbps = CFG.diskBytes / (performance.now() - t0) / 1000
  fs.rmSync(file, { force: true })
  return mbps
}

function fdatasyncRate (file) {
  fs.rmSync(file, { force: true })
  const fd = fs.openSync(file, 'w')
  const rec = Buffer.alloc(100, 0x62)
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < CFG.fsyncMs) { fs.writeSync(fd, rec); fs.fdatasyncSync(fd); n++ }
  const rate = n / (performance.now() - t0) * 1000
  fs.closeSync(fd)
  fs.rmSync(file)
  return rate
}

function memcpyRate () {
  const src = Buffer.alloc(CFG.memcpyBytes, 0x61)
  const dst = Buffer.allocUnsafe(CFG.memcpyBytes)
  src.copy(dst) // fault the pages in before the clock
  const t0 = performance.now()
  for (let i = 0; i < 8; i++) src.copy(dst)
  return 8 * CFG.memcpyBytes / (performance.now() - t0) / 1000
}

async function physicalScenario (res) {
  const dir = path.join(WORK, 'disk')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'seq.bin')
  const runs = { pageCacheMBps: [], directMBps: [], fdatasyncedMBps: [], fdatasyncPerSec: [], memcpyMBps: [] }
  // Untimed first: on a virtual machine the first touch of memory the host has not backed yet
  // costs far more than a write (page-cache runs here ranged 0.2–2.3 GB/s without this).
  dd(file, []); dd(file, ['oflag=direct'])
  for (let r = 0; r < CFG.runs; r++) {
    runs.pageCacheMBps.push(dd(file, []))
    runs.directMBps.push(dd(file, ['oflag=direct']))
    runs.fdatasyncedMBps.push(dd(file, ['conv=fdatasync']))
    runs.fdatasyncPerSec.push(fdatasyncRate(file))
    runs.memcpyMBps.push(memcpyRate())
  }
  fs.rmSync(dir, { recursive: true, force: true })
  res.limits = { bytes: CFG.diskBytes }
  for (const [k, v] of Object.entries(runs)) res.limits[k] = stat(v, k === 'fdatasyncPerSec' ? '/s' : 'MB/s')
  const L = res.limits
  log(`  disk: ${cellOf(L.pageCacheMBps)} MB/s into the page cache, ${cellOf(L.directMBps)} MB/s O_DIRECT, ${cellOf(L.fdatasyncedMBps)} MB/s with a final fdatasync; ${cellOf(L.fdatasyncPerSec)} fdatasync/s; memcpy ${cellOf(L.memcpyMBps)} MB/s`)

  // caldo, 64 KiB values in batches of 16, durability 'always' (acknowledged after fdatasync).
  const { open } = require('../..')
  const count = Math.floor(CFG.diskBytes / CFG.bigValueBytes)
  const value = Buffer.alloc(CFG.bigValueBytes, 0x63)
  const batch = Array.from({ length: 16 }, () => ({ value }))
  const big = []
  for (let r = 0; r < CFG.runs; r++) {
    const ldir = path.join(WORK, 'caldo-big-always')
    fs.rmSync(ldir, { recursive: true, force: true })
    execFileSync('sync')
    const l = await open(ldir, { durability: 'always' })
    await l.createTopic('big', { maxMessageBytes: 1 << 20, segmentBytes: 1 << 30 })
    const p = l.producer()
    const tt = performance.now()
    for (let i = 0; i < count; i += 16) await p.sendBatch('big', batch)
    const ms = performance.now() - tt
    await p.close(); await l.close()
    fs.rmSync(ldir, { recursive: true, force: true })
    big.push(count * CFG.bigValueBytes / ms / 1000)
  }
  res.caldoBig_always = stat(big, 'MB/s')
  log(`  caldo 64 KiB values, durability 'always': ${cellOf(res.caldoBig_always)} MB/s`)
}

// ------------------------------------------------------------------ facts
const versions = {}
const pkgVersion = (name) => {
  try { return JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version } catch { return null }
}

function machine () {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return null } }
  const df = sh('df', ['-T', '-B1', WORK])
  let disk = null
  if (df) {
    const [device, fsType, size] = df.split('\n').pop().split(/\s+/)
    const base = path.basename(device).replace(/[0-9]+$/, '')
    const rot = sh('cat', [`/sys/block/${base}/queue/rotational`])
    const model = sh('cat', [`/sys/block/${base}/device/model`]) || (base.startsWith('vd') ? 'virtio block device' : null)
    disk = { device, fsType, sizeBytes: Number(size), rotational: rot === null ? null : rot === '1', model }
  }
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    totalMemBytes: os.totalmem(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    disk,
    date: new Date().toISOString()
  }
}

function collectVersions (systems) {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return null } }
  versions.node = process.version
  versions.caldo = `${require('../../package.json').version} (${sh('git', ['-C', __dirname, 'rev-parse', '--short', 'HEAD']) || '?'})`
  if (systems.includes('kafka') && kafkaBroker === 'tansu') { versions.tansu = service('tansu', 'version'); versions.kafkajs = pkgVersion('kafkajs') }
  if (systems.includes('kafka') && kafkaBroker !== 'tansu') { versions.kafka = service('kafka', 'version'); versions.kafkajs = pkgVersion('kafkajs'); versions.java = (sh('java', ['-version']) || sh('sh', ['-c', 'java -version 2>&1 | head -1'])) }
  if (systems.includes('redis')) { versions.redis = service('redis', 'version'); versions.ioredis = pkgVersion('ioredis') }
  if (systems.includes('sqlite')) {
    versions['better-sqlite3'] = pkgVersion('better-sqlite3')
    try { const D = require('better-sqlite3'); versions.sqlite = new D(':memory:').prepare('select sqlite_version() v').get().v } catch {}
  }
  if (systems.includes('rdkafka')) {
    versions['@confluentinc/kafka-javascript'] = pkgVersion('@confluentinc/kafka-javascript')
    try { versions.librdkafka = require('@confluentinc/kafka-javascript').librdkafkaVersion } catch {}
  }
  if (systems.includes('hypercore')) versions.hypercore = pkgVersion('hypercore')
  if (systems.includes('nats')) { versions.nats = service('nats', 'version'); versions['@nats-io/jetstream'] = pkgVersion('@nats-io/jetstream'); versions['@nats-io/transport-node'] = pkgVersion('@nats-io/transport-node') }
}

// ------------------------------------------------------------------ output
const fmt = (x) => x === null || x === undefined || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US')
const TANSU_LABEL = 'Kafka API (tansu, kafkajs)'
const LABEL = {
  floor: 'floor: harness alone / raw Unix socket',
  caldo: 'caldo',
  kafka: 'Kafka (kafkajs)',
  kafkajava: 'Kafka (Java perf tools)',
  rdkafka: 'Kafka (librdkafka)',
  redis: 'Redis Streams (ioredis)',
  sqlite: 'SQLite (better-sqlite3)',
  nats: 'NATS JetStream',
  hypercore: 'hypercore'
}
// What "acknowledged" means in the produce, consume and latency rows (scenario 5 is fsync for all).
const DURABILITY = {
  caldo: "default durability 'interval' (page cache, fdatasync every second in the background)",
  kafka: 'acks=1: in the leader\'s page cache (Kafka never fsyncs by default)',
  kafkajava: 'acks=1, as kafkajs',
  rdkafka: 'acks=1, as kafkajs',
  redis: 'no RDB, no AOF: in memory only',
  sqlite: 'WAL, synchronous=NORMAL: in the page cache, fsync at checkpoints',
  nats: 'file store, synced every 2 minutes by default',
  hypercore: 'its storage\'s default (RocksDB, no sync per append)'
}

const short = (x) => x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e4 ? `${Math.round(x / 1e3)}k` : fmt(x)
// A figure as "median (min–max)".
const cellOf = (x) => !x ? '–' : x.runs.length > 1 ? `${fmt(x.median)} (${short(x.min)}–${short(x.max)})` : fmt(x.median)
const sizeName = (b) => b >= 1024 ? `${b / 1024} KiB` : `${b} B`

function markdown (m, systems, results, notes, rounds) {
  const cols = systems
  const cell = (s, f) => { const r = results[s]; if (!r) return 'not run'; try { return f(r) } catch { return '–' } }
  const tput = (key) => (r) => cellOf(r[key])
  const rows = []
  for (const size of CFG.sizes) rows.push([`1. produce, 1 process, ${sizeName(size)} (rec/s)`, tput(`produce1_${size}`)])
  for (const size of CFG.sizes) {
    rows.push([`1. produce, ${CFG.producers} processes, one partition, ${sizeName(size)} (rec/s)`, tput(`produceN_${size}`)])
    rows.push([`1. ${CFG.producers} processes ÷ 1 process, ${sizeName(size)}`, (r) => r[`produceN_${size}`] ? (r[`produceN_${size}`].median / r[`produce1_${size}`].median).toFixed(2) + '×' : '–'])
  }
  for (const [mode, what] of [['batch', 'a batch at a time'], ['each', 'one message at a time']]) {
    for (const size of CFG.consumeSizes) rows.push([`2. consume from the start, ${what}, ${sizeName(size)} (rec/s)`, tput(`consume_${mode}_${size}`)])
  }
  for (const size of CFG.latencySizes) {
    for (const rate of CFG.latencyRates) {
      for (const [q, name] of [['p50', 'p50'], ['p99', 'p99'], ['p999', 'p99.9']]) {
        rows.push([`3. latency ${name} at ${rate.toLocaleString('en-US')}/s, ${sizeName(size)} (µs)`, (r) => cellOf(r[`latency_${size}_${rate}`]?.[q])])
      }
    }
  }
  rows.push([`7. idle consumer, CPU ms in ${CFG.idleSeconds} s: consumer / server`, (r) => r.idle ? `${cellOf(r.idle.consumerMs)}${r.idle.serverMs ? ' / ' + cellOf(r.idle.serverMs) : ''}` : '–'])
  rows.push([`4. group of ${CFG.groupMembers} on ${CFG.groupPartitions} partitions (rec/s, one run)`, (r) => r.group ? (r.group.unavailable ? 'n/a' : fmt(r.group.throughput)) : '–'])
  rows.push(['4. takeover after SIGKILL of a member (ms, one run)', (r) => r.group ? (r.group.unavailable ? 'n/a' : (r.group.takeoverMs === null ? '> 45,000' : fmt(r.group.takeoverMs))) : '–'])
  for (const size of CFG.durableSizes) rows.push([`5. durable produce, ${CFG.durableSenders} senders, ${sizeName(size)} (rec/s)`, tput(`durable_${size}`)])
  const lines = [
    `Machine: ${m.cpus} × ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.platform}` +
      (m.disk ? `; benchmark directory on ${m.disk.device} (${m.disk.fsType}${m.disk.model ? ', ' + m.disk.model : ''}${m.disk.rotational === false ? ', not rotational' : ''})` : '') + `; ${m.date}`,
    '',
    'Versions: ' + Object.entries(versions).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', '),
    '',
    (rounds < CFG.runs ? `**A partial run: ${rounds} of ${CFG.runs} rounds.** ` : '') +
    `Each figure: median of ${rounds} run(s), (min–max) of the runs, the systems taking turns (one run of each per round). Latency: ${rounds} run(s) of ${CFG.latencySeconds} s per rate, first ${CFG.latencyWarmupSeconds} s dropped, each percentile the median of the runs' percentiles. ` +
      `Produce and consume runs: ${CFG.sizes.map((b) => `${CFG.records[b].toLocaleString('en-US')} records of ${sizeName(b)}`).join(', ')}; values built before the clock starts.`,
    '',
    `| Scenario | ${cols.map((s) => LABEL[s]).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...rows.map(([name, f]) => `| ${name} | ${cols.map((s) => cell(s, f)).join(' | ')} |`),
    '',
    'Acknowledged means, in scenarios 1–3:', '',
    ...cols.filter((s) => DURABILITY[s]).map((s) => `- ${LABEL[s]}: ${DURABILITY[s]}`)
  ]
  const L = results.physical?.limits
  if (L) {
    lines.push('', `6. Limits of this machine, measured in the same run (${L.bytes >> 20} MiB of 1 MiB writes, a fresh file after a \`sync\` each time):`, '',
      '| Measure | Result |', '|---|---:|',
      `| sequential write into the page cache (\`dd bs=1M\`, no sync) | ${cellOf(L.pageCacheMBps)} MB/s |`,
      `| sequential write with O_DIRECT (\`dd oflag=direct\`) | ${cellOf(L.directMBps)} MB/s |`,
      `| sequential write with a final fdatasync (\`dd conv=fdatasync\`) | ${cellOf(L.fdatasyncedMBps)} MB/s |`,
      `| 100 B append + fdatasync, one file | ${cellOf(L.fdatasyncPerSec)} syncs/s |`,
      `| memory copy, one core (\`Buffer.copy\` of ${CFG.memcpyBytes >> 20} MiB) | ${cellOf(L.memcpyMBps)} MB/s |`)
    // A limit is what the machine can do at best: the fastest run.
    const share = (mbps, ref) => `${(mbps / ref.max * 100).toFixed(0)}%`
    lines.push('', 'Produce rows (1 process, median) in MB/s of values, as a share of the limit that bounds them, taken as the fastest of its runs: ' +
      'these rows are all acknowledged before any fsync, so the limits are the page-cache write rate and the memory-copy rate.', '',
      `| System | ${CFG.sizes.filter((b) => b >= 1024).map((b) => `${sizeName(b)}: MB/s, % page cache, % memcpy`).join(' | ')} |`,
      `|---|${CFG.sizes.filter((b) => b >= 1024).map(() => '---:').join('|')}|`)
    for (const s of cols) {
      const r = results[s]
      if (!r || !r.produce1_1024 || s === 'floor') continue
      lines.push(`| ${LABEL[s]} | ${CFG.sizes.filter((b) => b >= 1024).map((b) => {
        const x = r[`produce1_${b}`]; if (!x) return '–'
        const mbps = x.median * b / 1e6
        return `${fmt(mbps)}, ${share(mbps, L.pageCacheMBps)}, ${share(mbps, L.memcpyMBps)}`
      }).join(' | ')} |`)
    }
    const big = results.physical.caldoBig_always
    if (big) {
      lines.push('', `Durable: caldo, 64 KiB values in batches of 16, durability 'always' (each batch acknowledged after its fdatasync): ` +
        `${cellOf(big)} MB/s = ${share(big.median, L.directMBps)} of the fastest O_DIRECT run, ${share(big.median, L.fdatasyncedMBps)} of the fastest fdatasync'd run.`)
    }
  }
  if (notes.length) lines.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

// ------------------------------------------------------------------ --merge
// The results keys each scenario writes, per system (scenario 6 writes results.physical).
const SCENARIO_KEYS = {
  1: [/^produce/],
  2: [/^consume_/],
  3: [/^latency_/],
  4: [/^group$/],
  5: [/^durable_/],
  7: [/^idle$/]
}

// Which system and scenarios a note is about, from its text ("<system>: scenario N ..."):
// null system for notes about the whole run; no scenarios for notes about a whole system.
function noteScope (note) {
  const lower = note.toLowerCase()
  const system = lower.startsWith('@platformatic') ? null
    : lower.startsWith('apache kafka') ? 'kafka'
      : SYSTEMS.find((s) => lower.startsWith(s + ':') || lower.startsWith(s + ','))
  const scenarios = [...lower.matchAll(/scenarios? ([0-9/]+)/g)].flatMap((x) => x[1].split('/').map(Number))
  if (lower.startsWith('caldo groups')) scenarios.push(4) // older wording
  return { system: system || null, scenarios }
}

const stamp = (iso) => iso.replace('T', ' ').slice(0, 16) + ' UTC'

// Puts this run's figures for (systems × opts.scenarios) into the results file in `file`,
// keeping every other figure, note and fact of the run that wrote it.
function merge (file, fresh, systems) {
  if (!fs.existsSync(file)) throw new Error(`--merge: no ${file} to merge into`)
  const old = JSON.parse(fs.readFileSync(file, 'utf8'))
  const oldBroker = old.kafkaBroker || 'kafka'
  if (fresh.results.kafka && old.results.kafka && oldBroker !== fresh.kafkaBroker) {
    throw new Error(`--merge: the Kafka figures in ${file} come from ${oldBroker}, this run's from ${fresh.kafkaBroker}; not mixing them`)
  }
  for (const k of Object.keys(CFG)) {
    if (JSON.stringify(old.settings[k]) !== JSON.stringify(CFG[k])) {
      throw new Error(`--merge: setting ${k} differs from ${file} (${JSON.stringify(old.settings[k])} there, ${JSON.stringify(CFG[k])} here); run with the same options`)
    }
  }
  const rerun = opts.scenarios
  const results = { ...old.results }
  for (const s of systems) {
    if (!fresh.results[s]) continue
    const kept = {}
    for (const [k, v] of Object.entries(results[s] || {})) {
      if (!rerun.some((sc) => (SCENARIO_KEYS[sc] || []).some((re) => re.test(k)))) kept[k] = v
    }
    results[s] = { ...kept, ...fresh.results[s] }
  }
  if (fresh.results.physical) results.physical = fresh.results.physical
  const replaced = (n) => {
    const { system, scenarios } = noteScope(n)
    if (!system || !systems.includes(system)) return false
    return scenarios.length === 0 || scenarios.some((sc) => rerun.includes(sc))
  }
  const notes = old.notes.filter((n) => !replaced(n))
  for (const n of fresh.notes) if (!notes.includes(n)) notes.push(n)
  const runDate = fresh.machine.date
  const merged = [...(old.merged || []), { date: runDate, systems, scenarios: rerun, versions: { ...fresh.versions } }]
  const versions = { ...old.versions }
  for (const [k, v] of Object.entries(fresh.versions)) if (!(k in versions)) versions[k] = v
  notes.push(`${systems.join(', ')}, scenario${rerun.length > 1 ? 's' : ''} ${rerun.join(',')}: re-run on ${stamp(runDate)} with ${systems.map((s) => s === 'kafka' && fresh.kafkaBroker === 'tansu' ? `the Kafka API served by tansu ${fresh.versions.tansu}` : fresh.versions[s] ? `${s} ${fresh.versions[s]}` : s).join(', ')} and merged in (--merge); every other figure is from the run of ${stamp(old.machine.date)} with the versions above`)
  const only = SYSTEMS.filter((s) => old.settings.only.includes(s) || systems.includes(s))
  const kafkaBroker = fresh.results.kafka ? fresh.kafkaBroker : old.kafkaBroker
  return { machine: old.machine, versions, settings: { ...old.settings, only }, ...(kafkaBroker ? { kafkaBroker } : {}), results, notes, merged }
}

// ------------------------------------------------------------------ main
// The peer clients are this folder's own dependencies, not caldo's: install them on first use.
// librdkafka from source against Debian's libraries (the package's own build fetches them
// from their sites); a failed build only leaves that optional client out.
const RDKAFKA_DEBS = ['libssl-dev', 'zlib1g-dev', 'libzstd-dev', 'libsasl2-dev']
function ensureDeps () {
  if (fs.existsSync(path.join(__dirname, 'node_modules', '.package-lock.json'))) return
  if (process.getuid && process.getuid() === 0) {
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', ...RDKAFKA_DEBS], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    } catch { log('  (apt-get could not install the libraries librdkafka builds against; its column may stay empty)') }
  }
  log('installing the peer clients (npm ci in benchmark/peers; librdkafka builds from source: about 10 minutes on 2 cores) ...')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], {
    cwd: __dirname,
    stdio: 'inherit',
    env: { ...process.env, CKJS_LINKING: 'dynamic', npm_config_build_from_source: '@confluentinc/kafka-javascript' }
  })
}

// Why a system's client cannot run here, or null.
function unavailable (system) {
  if (system !== 'rdkafka') return null
  try { require('@confluentinc/kafka-javascript'); return null } catch (e) {
    return `@confluentinc/kafka-javascript is not installed (${e.message.split('\n')[0]}): its install script downloads a prebuilt binary from GitHub, and its source build's default configure (--install-deps) downloads zlib, OpenSSL, zstd and curl from their own sites; ensureDeps builds it from source against Debian's libraries instead (CKJS_LINKING=dynamic), which needs ${RDKAFKA_DEBS.join(', ')} and a C++ compiler`
  }
}

// Starts a system's server once (the Kafka clients share the broker); returns why it cannot.
function ensureService (svc, notes, svcFailed) {
  if (svc in svcFailed) return svcFailed[svc]
  if (started.has(svc) || (svc === 'kafka' && kafkaBroker && started.has(kafkaBroker))) return null
  try {
    if (svc === 'kafka') {
      kafkaBroker = startKafkaApi(notes)
      versions[kafkaBroker] = service(kafkaBroker, 'version')
    } else {
      service(svc, 'setup'); service(svc, 'start'); started.add(svc)
      versions[svc] = service(svc, 'version')
    }
    return null
  } catch (e) {
    svcFailed[svc] = svc === 'kafka' ? `no broker for the Kafka API: ${e.message.split('\n')[0]}` : `could not be set up or started: ${whyOf(e)}`
    return svcFailed[svc]
  }
}

// --render: peers.md and peers.svg again from the output folder's peers.json, measuring nothing.
function render () {
  const out = opts.out || path.join(__dirname, '..', 'results')
  const doc = JSON.parse(fs.readFileSync(path.join(out, 'peers.json'), 'utf8'))
  if (doc.kafkaBroker === 'tansu') LABEL.kafka = TANSU_LABEL
  Object.assign(versions, doc.versions)
  Object.assign(CFG, doc.settings)
  fs.writeFileSync(path.join(out, 'peers.md'), markdown(doc.machine, doc.settings.only, doc.results, doc.notes, doc.rounds ?? CFG.runs) + '\n')
  fs.writeFileSync(path.join(out, 'peers.svg'), renderSvg({ systems: doc.settings.only.filter((s) => doc.results[s]), results: doc.results, labels: LABEL, cfg: CFG }))
  log(`wrote ${path.relative(process.cwd(), out) || '.'}/peers.{md,svg} from peers.json`)
}

async function main () {
  if (opts.render) return render()
  fs.mkdirSync(WORK, { recursive: true })
  const systems = SYSTEMS.filter((s) => opts.only.includes(s))
  if (systems.some((s) => s !== 'caldo')) ensureDeps()
  const results = {}
  const notes = []
  const failed = {}
  log(`caldo peer benchmark${Q ? ' (quick)' : ''}: ${systems.join(', ')}; scenarios ${opts.scenarios.join(',')}`)
  notes.push('@platformatic/kafka: not a column here: it is the client of caldo\'s Kafka backend, measured against caldo on Kafka in benchmark/kafka-backend.js')
  const svcFailed = {} // service -> why it could not start
  try {
    if (opts.scenarios.includes(6)) {
      log('\n== limits of this machine')
      results.physical = {}
      await physicalScenario(results.physical)
    }
    // Every system is set up first (server, connection) and stays up for the whole run.
    const set = []
    for (const system of systems) {
      const why = unavailable(system) || (SERVICE_OF[system] && ensureService(SERVICE_OF[system], notes, svcFailed))
      if (why) {
        const msg = `${system}: not run: ${why}`
        console.error('  ' + msg); if (!notes.includes(msg)) notes.push(msg); failed[system] = msg
        continue
      }
      if (system === 'caldo') fs.rmSync(path.join(WORK, 'caldo-data'), { recursive: true, force: true })
      if (system === 'sqlite') for (const f of ['sqlite.db', 'sqlite.db-wal', 'sqlite.db-shm']) fs.rmSync(path.join(WORK, f), { force: true })
      set.push({ system, c: await drivers[system].connect(), acc: {}, group: {}, broken: new Set() })
      for (const sc of opts.scenarios) {
        const reason = NOT_RUN[system]?.[sc]
        if (reason) notes.push(`${system}: scenario ${sc} not run: ${reason}`)
      }
    }
    try {
      for (let r = 0; r < CFG.runs; r++) {
        log(`\n== round ${r + 1} of ${CFG.runs}`)
        for (const x of set) {
          const steps = [
            [[1, 2], () => throughputScenarios(x.system, x.c, x.acc, notes)],
            [[3], () => latencyScenario(x.system, x.c, x.acc, notes)],
            [[4], () => r === 0 && groupScenario(x.system, x.c, x.group, notes)], // one run: it is long
            [[5], () => durableScenario(x.system, x.acc, notes)],
            [[7], () => idleScenario(x.system, x.c, x.acc)]
          ]
          for (const [sc, fn] of steps) {
            const run = sc.filter((s) => opts.scenarios.includes(s) && NOT_RUN[x.system]?.[s] === undefined)
            if (!run.length || x.broken.has(sc[0])) continue
            try { await fn() } catch (e) {
              // A scenario whose worker timed out is not tried again in later rounds (it would
              // only time out again); any other failure costs that round's figure only.
              const msg = `${x.system}: scenario ${run.join('/')} failed in round ${r + 1}: ${e.message.split('\n')[0]}`
              console.error('  ' + msg); notes.push(msg)
              if (/no result after/.test(e.message)) x.broken.add(sc[0])
              killAll()
            }
          }
          log(`  ${x.system}: ${Object.entries(x.acc).map(([k, v]) => `${k} ${short(v[v.length - 1])}`).join(', ')}`)
        }
        if (r < CFG.runs - 1 && !opts.merge) {
          for (const x of set) results[x.system] = { ...figures(x.acc), ...x.group }
          write(systems, results, notes, failed, r + 1, false)
        }
      }
    } finally {
      for (const x of set) await drivers[x.system].close(x.c).catch(() => {})
    }
    for (const x of set) results[x.system] = { ...figures(x.acc), ...x.group }
  } finally {
    killAll()
    stopServices()
  }
  write(systems, results, notes, failed, CFG.runs, true)
}

// Writes peers.{json,md,svg}: after every round (so that a long run cut short keeps what it
// measured; `rounds` says how many) and at the end.
function write (systems, results, notes, failed, rounds, last) {
  collectVersions(systems.filter((s) => !failed[s]))
  const out = opts.out || path.join(__dirname, '..', 'results')
  let m = machine()
  let settings = { ...CFG, quick: Q, only: systems, scenarios: opts.scenarios }
  // kafkaBroker: which broker served the Kafka API ('kafka' or 'tansu'), when Kafka ran.
  let doc = { machine: m, versions, settings, rounds, ...(results.kafka ? { kafkaBroker } : {}), results, notes }
  if (opts.merge) doc = merge(path.join(out, 'peers.json'), doc, systems)
  if (doc.kafkaBroker === 'tansu') LABEL.kafka = TANSU_LABEL
  m = doc.machine; settings = doc.settings
  Object.assign(versions, doc.versions)
  const md = markdown(m, settings.only, doc.results, doc.notes, doc.rounds ?? CFG.runs)
  if (last) log('\n' + md)
  fs.mkdirSync(out, { recursive: true })
  fs.writeFileSync(path.join(out, 'peers.json'), JSON.stringify(doc, null, 2) + '\n')
  fs.writeFileSync(path.join(out, 'peers.md'), md + '\n')
  fs.writeFileSync(path.join(out, 'peers.svg'), renderSvg({ systems: settings.only.filter((s) => doc.results[s]), results: doc.results, labels: LABEL, cfg: CFG }))
  log(`\nwrote ${path.relative(process.cwd(), out) || '.'}/peers.{json,md,svg}${last ? '' : ` (${rounds} of ${CFG.runs} rounds)`}`)
}

main().catch((err) => {
  console.error(err)
  killAll()
  stopServices()
  process.exitCode = 1
})
