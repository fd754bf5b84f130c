'use strict'
// caldo against what users would pick instead, side by side on this machine.
//   node benchmark/peers/run.js [--quick] [--only caldo,kafka,redis,sqlite,nats] [--scenarios 1,2,3,4,5,6] [--runs N] [--merge]
//                               [--kafka-broker kafka|tansu]
// Starts each peer through its script here (loopback only), stops it afterwards even on
// failure, and writes benchmark/results/peers.{json,md,svg}. See benchmark/README.md.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork, execFileSync } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { drivers, nowUs, WORK, PORTS } = require('./drivers')
const { renderSvg } = require('./chart')

const SYSTEMS = ['caldo', 'kafka', 'redis', 'sqlite', 'nats']
const SERVICES = { kafka: 'kafka.sh', tansu: 'tansu.sh', redis: 'redis.sh', nats: 'nats.sh' }
const KAFKA_BROKERS = ['kafka', 'tansu']

function parseArgs (argv) {
  const o = { quick: false, only: SYSTEMS, scenarios: [1, 2, 3, 4, 5, 6], runs: null, out: null, merge: false, kafkaBroker: 'kafka' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') o.quick = true
    else if (a === '--only') o.only = argv[++i].split(',').map((s) => s.trim())
    else if (a === '--scenarios') o.scenarios = argv[++i].split(',').map(Number)
    else if (a === '--runs') o.runs = Number(argv[++i])
    else if (a === '--out') o.out = argv[++i]
    else if (a === '--merge') o.merge = true
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
  runs: opts.runs ?? (Q ? 1 : 3),
  sizes: [100, 1024],
  records: { 100: Q ? 50_000 : 200_000, 1024: Q ? 20_000 : 100_000 },
  producers: 4,
  latencyRates: [1000, 10_000],
  latencySeconds: Q ? 2 : 5,
  latencyWarmupSeconds: 0.5,
  groupMembers: 4,
  groupPartitions: 8,
  groupRecords: Q ? 40_000 : 200_000,
  groupRate: 2000,
  durableSenders: 64,
  durableMs: Q ? 1500 : 3000,
  diskBytes: Q ? 256 << 20 : 1 << 30,
  fsyncMs: 2000,
  bigValueBytes: 64 << 10
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
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
  return { child, result, ready: waitFor((m) => m.ready), waitFor, on: (fn) => listeners.add(fn), send: (m) => child.connected && child.send(m) }
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
let topicSeq = 0
const topicName = (what) => `b${Date.now().toString(36)}${(topicSeq++).toString(36)}-${what}`

async function producers (system, topic, count, procs, valueBytes, partition) {
  const per = Math.ceil(count / procs)
  const ws = Array.from({ length: procs }, (_, i) => worker({ system, role: 'produce', topic, count: per, valueBytes, seq0: i * per, partition }))
  await Promise.all(ws.map((w) => w.ready))
  for (const w of ws) w.send({ cmd: 'go' })
  const rs = await Promise.all(ws.map((w) => w.result))
  const t0 = Math.min(...rs.map((r) => r.t0))
  const t1 = Math.max(...rs.map((r) => r.t1))
  return per * procs / (t1 - t0) * 1e6
}

async function throughputScenarios (system, c, res) {
  const d = drivers[system]
  for (const size of CFG.sizes) {
    const N = CFG.records[size]
    let keep = null
    if (opts.scenarios.includes(1) || opts.scenarios.includes(2)) {
      const runs = []
      for (let r = 0; r < CFG.runs; r++) {
        const topic = topicName(`p1-${size}`)
        await d.create(c, topic, 1)
        runs.push(await producers(system, topic, N, 1, size))
        if (keep) await d.drop(c, keep)
        keep = topic
      }
      res[`produce1_${size}`] = { unit: 'rec/s', median: median(runs), runs }
      log(`  ${system} produce 1 proc ${size} B: ${fmt(median(runs))} rec/s`)
    }
    if (opts.scenarios.includes(2) && keep) {
      const runs = []
      for (let r = 0; r < CFG.runs; r++) {
        const x = await worker({ system, role: 'replay', topic: keep, count: N }).result
        if (x.n < N) throw new Error(`${system} replay got ${x.n} of ${N}`)
        runs.push(x.n / (x.last - x.first) * 1e6)
      }
      res[`consume_${size}`] = { unit: 'rec/s', median: median(runs), runs }
      log(`  ${system} consume replay ${size} B: ${fmt(median(runs))} rec/s`)
    }
    if (keep) await d.drop(c, keep)
    if (opts.scenarios.includes(1)) {
      const runs = []
      for (let r = 0; r < CFG.runs; r++) {
        const topic = topicName(`p4-${size}`)
        await d.create(c, topic, 1)
        runs.push(await producers(system, topic, N, CFG.producers, size))
        await d.drop(c, topic)
      }
      res[`produce4_${size}`] = { unit: 'rec/s', median: median(runs), runs }
      log(`  ${system} produce ${CFG.producers} procs ${size} B: ${fmt(median(runs))} rec/s`)
    }
  }
}

async function latencyScenario (system, c, res, notes) {
  const d = drivers[system]
  if (system === 'kafka' && kafkaBroker === 'tansu') {
    const msg = `kafka: scenario 3: tansu ${versions.tansu || ''} answers a fetch only after the client's whole max wait (kafkajs maxWaitTimeInMs, 100 ms here), even when records are there: its fetch loop sleeps out the remaining wait before it checks minBytes; the latency figures are mostly that wait`
    log(`  ${msg}`); notes.push(msg)
  }
  for (const size of CFG.sizes) {
    for (const rate of CFG.latencyRates) {
      const topic = topicName(`lat-${size}-${rate}`)
      await d.create(c, topic, 1)
      const total = Math.round(rate * CFG.latencySeconds)
      const tail = worker({ system, role: 'tail', topic, count: total })
      const paced = worker({ system, role: 'paced', topic, rate, seconds: CFG.latencySeconds, valueBytes: size, partition: 0 })
      await Promise.all([tail.ready, paced.ready])
      await sleep(300)
      paced.send({ cmd: 'go' })
      await paced.result
      const { latencies } = await tail.result
      const skip = Math.round(rate * CFG.latencyWarmupSeconds)
      const sorted = latencies.slice(skip).sort((a, b) => a - b)
      res[`latency_${size}_${rate}`] = { unit: 'µs', p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999), samples: sorted.length }
      log(`  ${system} latency ${size} B @ ${rate}/s: p50 ${fmt(percentile(sorted, 0.5))} p99 ${fmt(percentile(sorted, 0.99))} p99.9 ${fmt(percentile(sorted, 0.999))} µs`)
      await d.drop(c, topic)
    }
  }
}

async function durableScenario (system, res, notes) {
  const d = drivers[system]
  if (system === 'kafka' && kafkaBroker === 'tansu') {
    const msg = 'kafka: scenario 5 not run: tansu runs here with its memory:// storage engine (the only one that needs neither a database server nor SQLite), which never writes to disk, so flush.messages=1 with acks=-1 cannot mean an fsync'
    log(`  ${msg}`); notes.push(msg)
    return
  }
  if (!d.durable) {
    notes.push(`${system}: scenario 5 not run: nats-server ${versions.nats || ''} has no per-message fsync (sync_interval: always arrived in 2.10); its file store syncs every 2 minutes by default`)
    return
  }
  const c = await d.connect({ durable: true })
  try {
    for (const size of CFG.sizes) {
      const runs = []
      for (let r = 0; r < CFG.runs; r++) {
        const topic = topicName(`dur-${size}`)
        await d.create(c, topic, 1, { durable: true })
        const x = await worker({ system, role: 'durable', durable: true, topic, senders: CFG.durableSenders, ms: CFG.durableMs, valueBytes: size }).result
        runs.push(x.sent / x.ms * 1000)
        await d.drop(c, topic, { durable: true })
      }
      res[`durable_${size}`] = { unit: 'rec/s', median: median(runs), runs }
      log(`  ${system} durable ${CFG.durableSenders} senders ${size} B: ${fmt(median(runs))} rec/s`)
    }
  } finally { await d.close(c) }
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
    const msg = system === 'caldo' ? 'caldo: scenario 4 not run: consumer groups not available in this build'
      : system === 'sqlite' ? 'sqlite: scenario 4 not run: SQLite has no consumer groups (a queue table would need hand-written leases)'
        : `${system}: scenario 4 not run: not implemented here (JetStream has no partitions; workers share one pull consumer with ack-wait redelivery)`
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

// Scenario 6: what the disk under the benchmark directory can do, and caldo next to it.
async function physicalScenario (res) {
  const dir = path.join(WORK, 'disk')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const chunk = Buffer.alloc(1 << 20, 0x61)
  const file = path.join(dir, 'seq.bin')
  // Sequential write: 1 MiB writes, then one fdatasync; both rates reported.
  let fd = fs.openSync(file, 'w')
  let t0 = performance.now()
  for (let done = 0; done < CFG.diskBytes; done += chunk.length) fs.writeSync(fd, chunk)
  const tWrite = performance.now()
  fs.fdatasyncSync(fd)
  const tSync = performance.now()
  fs.closeSync(fd)
  res.disk = {
    bufferedWriteMBps: CFG.diskBytes / (tWrite - t0) / 1000,
    syncedWriteMBps: CFG.diskBytes / (tSync - t0) / 1000,
    bytes: CFG.diskBytes
  }
  fs.rmSync(file)
  // fdatasync rate: 4 KiB append + fdatasync.
  fd = fs.openSync(file, 'w')
  const page = Buffer.alloc(4096, 0x62)
  let n = 0
  t0 = performance.now()
  while (performance.now() - t0 < CFG.fsyncMs) { fs.writeSync(fd, page); fs.fdatasyncSync(fd); n++ }
  res.disk.fdatasyncPerSec = n / (performance.now() - t0) * 1000
  fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
  log(`  disk: sequential write ${fmt(res.disk.bufferedWriteMBps)} MB/s buffered, ${fmt(res.disk.syncedWriteMBps)} MB/s with the fdatasync; ${fmt(res.disk.fdatasyncPerSec)} fdatasync/s`)

  // caldo with 64 KiB values, default durability, then 'always'; same byte count.
  const { open } = require('../..')
  const count = Math.floor(CFG.diskBytes / CFG.bigValueBytes)
  const value = Buffer.alloc(CFG.bigValueBytes, 0x63)
  for (const durability of ['interval', 'always']) {
    const runs = []
    for (let r = 0; r < CFG.runs; r++) {
      const ldir = path.join(WORK, `caldo-big-${durability}`)
      fs.rmSync(ldir, { recursive: true, force: true })
      const l = await open(ldir, { durability })
      await l.createTopic('big', { maxMessageBytes: 1 << 20, segmentBytes: 1 << 30 })
      const p = l.producer()
      const tt = performance.now()
      for (let i = 0; i < count; i += 16) {
        await p.sendBatch('big', Array.from({ length: Math.min(16, count - i) }, () => ({ value })))
      }
      await p.flush()
      const ms = performance.now() - tt
      await p.close(); await l.close()
      fs.rmSync(ldir, { recursive: true, force: true })
      runs.push(count * CFG.bigValueBytes / ms / 1000)
    }
    const mbps = median(runs)
    const ref = durability === 'always' ? res.disk.syncedWriteMBps : res.disk.bufferedWriteMBps
    res[`caldoBig_${durability}`] = { unit: 'MB/s', median: mbps, runs, fractionOfDisk: mbps / ref }
    log(`  caldo 64 KiB values, durability '${durability}': ${fmt(mbps)} MB/s = ${(mbps / ref * 100).toFixed(0)}% of the ${durability === 'always' ? 'synced' : 'buffered'} sequential write rate`)
  }
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
  if (systems.includes('nats')) { versions.nats = service('nats', 'version'); versions['@nats-io/jetstream'] = pkgVersion('@nats-io/jetstream'); versions['@nats-io/transport-node'] = pkgVersion('@nats-io/transport-node') }
}

// ------------------------------------------------------------------ output
const fmt = (x) => x === null || x === undefined || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US')
const TANSU_LABEL = 'Kafka API (tansu, kafkajs)'
const LABEL = { caldo: 'caldo', kafka: 'Kafka (kafkajs)', redis: 'Redis Streams (ioredis)', sqlite: 'SQLite (better-sqlite3)', nats: 'NATS JetStream' }

function markdown (m, systems, results, notes) {
  const cols = systems
  const cell = (s, f) => { const r = results[s]; if (!r) return 'not run'; try { return f(r) } catch { return '–' } }
  const tput = (key) => (r) => r[key] ? fmt(r[key].median) : '–'
  const lat = (key) => (r) => r[key] ? `${fmt(r[key].p50)} / ${fmt(r[key].p99)} / ${fmt(r[key].p999)}` : '–'
  const rows = []
  for (const size of CFG.sizes) {
    rows.push([`1. produce, 1 process, ${size} B (rec/s)`, tput(`produce1_${size}`)])
    rows.push([`1. produce, ${CFG.producers} processes, ${size} B (rec/s)`, tput(`produce4_${size}`)])
    rows.push([`2. consume, replay from start, ${size} B (rec/s)`, tput(`consume_${size}`)])
  }
  for (const size of CFG.sizes) {
    for (const rate of CFG.latencyRates) rows.push([`3. latency p50 / p99 / p99.9 at ${rate.toLocaleString('en-US')}/s, ${size} B (µs)`, lat(`latency_${size}_${rate}`)])
  }
  rows.push([`4. group of ${CFG.groupMembers} on ${CFG.groupPartitions} partitions (rec/s)`, (r) => r.group ? (r.group.unavailable ? 'n/a' : fmt(r.group.throughput)) : '–'])
  rows.push(['4. takeover after SIGKILL of a member (ms)', (r) => r.group ? (r.group.unavailable ? 'n/a' : (r.group.takeoverMs === null ? '> 45,000' : fmt(r.group.takeoverMs))) : '–'])
  for (const size of CFG.sizes) rows.push([`5. durable produce, ${CFG.durableSenders} senders, ${size} B (rec/s)`, (r) => r[`durable_${size}`] ? fmt(r[`durable_${size}`].median) : 'n/a'])
  const lines = [
    `Machine: ${m.cpus} × ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, ${m.platform}` +
      (m.disk ? `; benchmark directory on ${m.disk.device} (${m.disk.fsType}${m.disk.model ? ', ' + m.disk.model : ''})` : '') + `; ${m.date}`,
    '',
    'Versions: ' + Object.entries(versions).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', '),
    '',
    `Throughput: median of ${CFG.runs} run(s); latency: one run of ${CFG.latencySeconds} s per rate, first ${CFG.latencyWarmupSeconds} s dropped. ` +
      `${CFG.records[100].toLocaleString('en-US')} records (100 B) / ${CFG.records[1024].toLocaleString('en-US')} (1 KiB) per throughput run.`,
    '',
    `| Scenario | ${cols.map((s) => LABEL[s]).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    ...rows.map(([name, f]) => `| ${name} | ${cols.map((s) => cell(s, f)).join(' | ')} |`)
  ]
  const phys = results.physical
  if (phys && phys.disk) {
    lines.push('', '6. Physical limit of the disk under the benchmark directory, same run:', '',
      '| Measure | Result |', '|---|---:|',
      `| sequential write, 1 MiB writes, ${phys.disk.bytes >> 20} MiB (page cache) | ${fmt(phys.disk.bufferedWriteMBps)} MB/s |`,
      `| same, including the final fdatasync | ${fmt(phys.disk.syncedWriteMBps)} MB/s |`,
      `| fdatasync rate (4 KiB append + fdatasync) | ${fmt(phys.disk.fdatasyncPerSec)} /s |`)
    for (const dur of ['interval', 'always']) {
      const x = phys[`caldoBig_${dur}`]
      if (x) lines.push(`| caldo, 64 KiB values, durability '${dur}' | ${fmt(x.median)} MB/s = ${(x.fractionOfDisk * 100).toFixed(0)}% of the ${dur === 'always' ? 'synced' : 'page-cache'} write rate |`)
    }
  }
  if (notes.length) lines.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`))
  return lines.join('\n')
}

// ------------------------------------------------------------------ --merge
// The results keys each scenario writes, per system (scenario 6 writes results.physical).
const SCENARIO_KEYS = {
  1: [/^produce[14]_/],
  2: [/^consume_/],
  3: [/^latency_/],
  4: [/^group$/],
  5: [/^durable_/]
}

// Which system and scenarios a note is about, from its text ("<system>: scenario N ..."):
// null system for notes about the whole run; no scenarios for notes about a whole system.
function noteScope (note) {
  const lower = note.toLowerCase()
  const system = lower.startsWith('@platformatic') ? null
    : lower.startsWith('apache kafka') ? 'kafka'
      : SYSTEMS.find((s) => lower.startsWith(s))
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
function ensureDeps () {
  if (fs.existsSync(path.join(__dirname, 'node_modules', '.package-lock.json'))) return
  log('installing the peer clients (npm ci in benchmark/peers) ...')
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: __dirname, stdio: 'inherit' })
}

async function main () {
  fs.mkdirSync(WORK, { recursive: true })
  const systems = SYSTEMS.filter((s) => opts.only.includes(s))
  if (systems.some((s) => s !== 'caldo')) ensureDeps()
  const results = {}
  const notes = []
  const failed = {}
  log(`caldo peer benchmark${Q ? ' (quick)' : ''}: ${systems.join(', ')}; scenarios ${opts.scenarios.join(',')}`)
  notes.push('@platformatic/kafka: not run: it needs Node >= 22.22 (engines), this machine has ' + process.version + '; Kafka is driven by kafkajs only')
  try {
    for (const system of systems) {
      log(`\n== ${LABEL[system]}`)
      if (system === 'kafka') {
        try { kafkaBroker = startKafkaApi(notes) } catch (e) {
          const msg = `kafka: no broker for the Kafka API: ${e.message.split('\n')[0]}; Kafka rows are empty`
          console.error('  ' + msg); notes.push(msg); failed[system] = msg
          continue
        }
      } else if (SERVICES[system]) {
        try {
          service(system, 'setup')
          service(system, 'start')
          started.add(system)
        } catch (e) {
          const why = whyOf(e)
          const msg = `${system}: could not be set up or started: ${why}`
          console.error('  ' + msg); notes.push(msg); failed[system] = msg
          continue
        }
      }
      const svc = system === 'kafka' ? kafkaBroker : system
      if (SERVICES[system]) versions[svc] = service(svc, 'version')
      const d = drivers[system]
      const res = results[system] = {}
      if (system === 'caldo') fs.rmSync(path.join(WORK, 'caldo-data'), { recursive: true, force: true })
      if (system === 'sqlite') for (const f of ['sqlite.db', 'sqlite.db-wal', 'sqlite.db-shm']) fs.rmSync(path.join(WORK, f), { force: true })
      const c = await d.connect()
      try {
        const steps = [
          [[1, 2], () => throughputScenarios(system, c, res)],
          [[3], () => latencyScenario(system, c, res, notes)],
          [[4], () => groupScenario(system, c, res, notes)],
          [[5], () => durableScenario(system, res, notes)]
        ]
        for (const [sc, fn] of steps) {
          if (!sc.some((s) => opts.scenarios.includes(s))) continue
          try { await fn() } catch (e) {
            const msg = `${system}: scenario ${sc.join('/')} failed: ${e.message.split('\n')[0]}`
            console.error('  ' + msg); notes.push(msg)
            killAll()
          }
        }
      } finally {
        await d.close(c).catch(() => {})
      }
      if (started.has(svc)) { service(svc, 'stop'); started.delete(svc) }
    }
    if (opts.scenarios.includes(6) && systems.includes('caldo')) {
      log('\n== physical limit')
      results.physical = {}
      await physicalScenario(results.physical)
    }
  } finally {
    killAll()
    stopServices()
  }
  collectVersions(systems.filter((s) => !failed[s]))
  const out = opts.out || path.join(__dirname, '..', 'results')
  let m = machine()
  let settings = { ...CFG, quick: Q, only: systems, scenarios: opts.scenarios }
  // kafkaBroker: which broker served the Kafka API ('kafka' or 'tansu'), when Kafka ran.
  let doc = { machine: m, versions, settings, ...(results.kafka ? { kafkaBroker } : {}), results, notes }
  if (opts.merge) doc = merge(path.join(out, 'peers.json'), doc, systems)
  if (doc.kafkaBroker === 'tansu') LABEL.kafka = TANSU_LABEL
  m = doc.machine; settings = doc.settings
  Object.assign(versions, doc.versions)
  const md = markdown(m, settings.only, doc.results, doc.notes)
  log('\n' + md)
  fs.mkdirSync(out, { recursive: true })
  fs.writeFileSync(path.join(out, 'peers.json'), JSON.stringify(doc, null, 2) + '\n')
  fs.writeFileSync(path.join(out, 'peers.md'), md + '\n')
  fs.writeFileSync(path.join(out, 'peers.svg'), renderSvg({ systems: settings.only.filter((s) => doc.results[s]), results: doc.results, labels: LABEL, cfg: CFG }))
  log(`\nwrote ${path.relative(process.cwd(), out) || '.'}/peers.{json,md,svg}`)
}

main().catch((err) => {
  console.error(err)
  killAll()
  stopServices()
  process.exitCode = 1
})
