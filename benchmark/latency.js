'use strict'
// Cross-process latency and the idle consumer's CPU (part of `npm run bench`; also alone:
// `node benchmark/latency.js [--quick] [--runs N] [--baseline DIR [--baseline-name NAME]]`).
//
// One process sends 100 B records at a fixed 1,000/s or 10,000/s (a 1 ms timer sends
// whatever is due, each value stamped with its send time in µs of CLOCK_MONOTONIC, which
// every process of a machine shares); another waits at the end of the log and records
// receive time minus send time. The floor is the same pair of processes over a raw Unix
// socket, measured in the same rounds. `--baseline DIR` adds another build of caldo (a
// checkout with its addon built) as a third system, for before/after figures taken back
// to back (`--baseline-name` labels it). Writes results/latency.{json,md} (not with --quick).

const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const path = require('node:path')
const { fork } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { median, percentile, fmt, machine, machineLine } = require('./common')

const VALUE_BYTES = 100
const RATES = [1000, 10_000]
const nowUs = () => Number(process.hrtime.bigint()) / 1000

// ---------------------------------------------------------------- child processes
// `node latency.js --child <json>`: a sender ('paced') or a receiver ('tail') of one system.

function stamped (seq) {
  const v = Buffer.alloc(VALUE_BYTES, 0x61)
  v.writeDoubleLE(nowUs(), 0)
  v.writeUInt32LE(seq, 8)
  return v
}

const systems = {
  floor: {
    async paced ({ sock }) {
      const socket = net.connect(sock)
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      return {
        send: (values) => { socket.write(values.length === 1 ? values[0] : Buffer.concat(values)) },
        close: () => new Promise((resolve) => socket.end(resolve))
      }
    },
    // Resolves once `count` values came; `ready` is called when listening.
    tail ({ sock, count }, onValue, ready) {
      return new Promise((resolve, reject) => {
        const server = net.createServer((socket) => {
          let buf = Buffer.alloc(0)
          let n = 0
          socket.on('data', (chunk) => {
            buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
            let at = 0
            for (; at + VALUE_BYTES <= buf.length; at += VALUE_BYTES) {
              onValue(buf.subarray(at, at + VALUE_BYTES))
              if (++n === count) { server.close(); socket.destroy(); return resolve() }
            }
            buf = buf.subarray(at)
          })
        })
        server.on('error', reject)
        server.listen(sock, ready)
      })
    },
    idle ({ sock }, ready) {
      const server = net.createServer(() => {})
      server.listen(sock, ready)
      return new Promise(() => {})
    }
  },
  caldo: {
    async paced ({ module, dir, topic }) {
      const log = await require(module).open(dir)
      const producer = log.producer()
      let error = null
      return {
        send: (values) => { for (const value of values) producer.send(topic, { value }).catch((e) => { error = e }) },
        close: async () => { await producer.close(); await log.close(); if (error) throw error }
      }
    },
    async tail ({ module, dir, topic, count }, onValue, ready) {
      const log = await require(module).open(dir)
      const consumer = log.consumer({ assign: [{ topic, partition: 0, offset: 0 }] })
      ready()
      let n = 0
      for await (const m of consumer) {
        onValue(m.value)
        if (++n === count) break
      }
      await log.close()
    },
    async idle ({ module, dir, topic }, ready) {
      const log = await require(module).open(dir)
      const consumer = log.consumer({ assign: [{ topic, partition: 0, offset: 'latest' }] })
      const loop = (async () => { for await (const m of consumer) throw new Error(`idle consumer got offset ${m.offset}`) })()
      setTimeout(ready, 200) // once it sleeps in the wait
      return loop
    }
  }
}

const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

async function child (spec) {
  const sys = systems[spec.system]
  const send = (m) => new Promise((resolve) => process.send(m, resolve))
  const go = new Promise((resolve) => process.once('message', resolve))
  if (spec.role === 'tail') {
    const lat = new Float64Array(spec.count)
    let n = 0
    await sys.tail(spec, (v) => { lat[n++] = nowUs() - v.readDoubleLE(0) }, () => process.send({ ready: true }))
    await send({ result: Array.from(lat) })
  } else if (spec.role === 'paced') {
    const s = await sys.paced(spec)
    await send({ ready: true })
    await go
    const t0 = performance.now()
    let sent = 0
    while (sent < spec.count) {
      const due = Math.min(spec.count, Math.floor((performance.now() - t0) * spec.rate / 1000) + 1)
      const values = []
      for (; sent < due; sent++) values.push(stamped(sent))
      if (values.length) s.send(values)
      await sleep(1)
    }
    await s.close()
    await send({ result: sent })
  } else { // idle: CPU time of this process (every thread) while it waits for `seconds`
    let cpu0
    const waiting = sys.idle(spec, () => { cpu0 = cpuSeconds(); process.send({ ready: true }) })
    await Promise.race([go, waiting])
    await send({ result: cpuSeconds() - cpu0 })
  }
  process.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
}

// ---------------------------------------------------------------- the parent

function spawn (spec, execArgv = []) {
  const c = fork(__filename, ['--child', JSON.stringify(spec)], { execArgv })
  const message = (key) => new Promise((resolve, reject) => {
    c.on('message', (m) => { if (key in m) resolve(m[key]) })
    c.on('exit', (code) => reject(new Error(`${spec.system} ${spec.role} exited with code ${code} before '${key}'`)))
  })
  return { child: c, ready: message('ready'), result: message('result') }
}

async function latencyRun (sys, base, rate, cfg) {
  const count = Math.round(rate * cfg.seconds)
  const topic = `lat-${rate}-${base.n++}`
  if (sys.log) await sys.log.createTopic(topic)
  const spec = { system: sys.kind, module: sys.module, dir: sys.dir, topic, sock: path.join(base.tmp, `${topic}.sock`), rate, count }
  const tail = spawn({ ...spec, role: 'tail' })
  await tail.ready
  const paced = spawn({ ...spec, role: 'paced' })
  await paced.ready
  await sleep(300)
  paced.child.send({ go: true })
  await paced.result
  const got = await Promise.race([tail.result, sleep(30_000, null)])
  if (!got) {
    tail.child.kill('SIGKILL')
    throw new Error(`${sys.name}: at ${rate}/s the consumer did not have every record 30 s after the sender finished`)
  }
  if (sys.log) await sys.log.deleteTopic(topic)
  const sorted = got.slice(Math.round(rate * cfg.warmup)).sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), p999: percentile(sorted, 0.999) }
}

// `execArgv` ['--no-memory-reducer'] tells V8's one heap collection after a process goes
// idle apart from what the system itself costs while it waits.
async function idleRun (sys, base, cfg, execArgv) {
  const topic = `idle-${base.n++}`
  if (sys.log) await sys.log.createTopic(topic)
  const c = spawn({ system: sys.kind, module: sys.module, dir: sys.dir, topic, sock: path.join(base.tmp, `${topic}.sock`), role: 'idle' }, execArgv)
  await c.ready
  await sleep(cfg.idleSeconds * 1000)
  c.child.send({ go: true })
  const cpu = await c.result
  if (sys.log) await sys.log.deleteTopic(topic)
  return cpu * 1000
}

function parseArgs (argv) {
  const o = { quick: false, runs: null, baseline: null, baselineName: null }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') o.quick = true
    else if (argv[i] === '--runs') o.runs = Number(argv[++i])
    else if (argv[i] === '--baseline') o.baseline = path.resolve(argv[++i])
    else if (argv[i] === '--baseline-name') o.baselineName = argv[++i]
    else throw new Error(`unknown argument ${argv[i]}; see benchmark/README.md`)
  }
  return o
}

const stat = (runs) => ({ median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs })
const cell = (s) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`

// One row per system and rate, the floor's first: every build of caldo is read against it.
function table (m, cfg, systemsRun, r) {
  const Q = ['p50', 'p99', 'p999']
  const rows = []
  for (const rate of RATES) {
    const f = r.floor[rate]
    for (const s of systemsRun) {
      const x = r[s.name][rate]
      rows.push([s.label, rate.toLocaleString('en-US'), ...Q.map((q) => cell(x[q])),
        s.name === 'floor' ? '–' : Q.map((q) => (x[q].median / f[q].median).toFixed(2) + '×').join(' / ')])
    }
  }
  return [
    machineLine(m),
    '',
    `100 B values, caldo at its default durability ('interval'). Each figure: the median of ${cfg.runs} runs (min–max); ` +
      `a run sends for ${cfg.seconds} s at the rate, the first ${cfg.warmup} s dropped; the systems take turns within each round.`,
    '',
    '| System | Rate (/s) | p50 (µs) | p99 (µs) | p99.9 (µs) | ÷ floor: p50 / p99 / p99.9 |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    `Idle consumer: CPU time (user + system, every thread) of a process waiting at the end of an empty topic for ${cfg.idleSeconds} s.`,
    '',
    '| System | CPU ms | CPU ms, `node --no-memory-reducer` |',
    '|---|---:|---:|',
    ...systemsRun.map((s) => `| ${s.label} | ${cell(r[s.name].idle)} | ${cell(r[s.name].idleNoReducer)} |`)
  ].join('\n')
}

async function main (argv = []) {
  const o = parseArgs(argv)
  const cfg = { runs: o.runs ?? (o.quick ? 2 : 5), seconds: o.quick ? 2 : 5, warmup: 0.5, idleSeconds: o.quick ? 2 : 10 }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-latency-'))
  const base = { tmp, n: 0 }
  const list = [
    { name: 'floor', kind: 'floor', label: 'floor: raw Unix socket' },
    { name: 'caldo', kind: 'caldo', label: 'caldo', module: path.join(__dirname, '..') }
  ]
  if (o.baseline) list.push({ name: 'baseline', kind: 'caldo', label: `caldo, ${o.baselineName || 'baseline'}`, module: o.baseline })
  try {
    const m = machine(tmp)
    for (const s of list) {
      if (s.kind !== 'caldo') continue
      s.dir = path.join(tmp, s.name)
      s.log = await require(s.module).open(s.dir)
    }
    const acc = Object.fromEntries(list.map((s) => [s.name, { idle: [], idleNoReducer: [], ...Object.fromEntries(RATES.map((r) => [r, { p50: [], p99: [], p999: [] }])) }]))
    for (let round = 0; round < cfg.runs; round++) {
      for (const rate of RATES) {
        for (const s of list) {
          const x = await latencyRun(s, base, rate, cfg)
          for (const q in x) acc[s.name][rate][q].push(x[q])
          console.error(`round ${round + 1}, ${s.name} at ${rate}/s: p50 ${fmt(x.p50)} p99 ${fmt(x.p99)} p99.9 ${fmt(x.p999)} µs`)
        }
      }
      for (const s of list) {
        acc[s.name].idle.push(await idleRun(s, base, cfg, []))
        acc[s.name].idleNoReducer.push(await idleRun(s, base, cfg, ['--no-memory-reducer']))
      }
    }
    for (const s of list) if (s.log) await s.log.close()
    const r = Object.fromEntries(list.map((s) => [s.name, {
      idle: stat(acc[s.name].idle),
      idleNoReducer: stat(acc[s.name].idleNoReducer),
      ...Object.fromEntries(RATES.map((rate) => [rate, Object.fromEntries(['p50', 'p99', 'p999'].map((q) => [q, stat(acc[s.name][rate][q])]))]))
    }]))
    const md = table(m, cfg, list, r)
    console.log(md)
    if (!o.quick) {
      const out = path.join(__dirname, 'results')
      fs.writeFileSync(path.join(out, 'latency.json'), JSON.stringify({ machine: m, settings: { ...cfg, valueBytes: VALUE_BYTES, rates: RATES }, results: r }, null, 2) + '\n')
      fs.writeFileSync(path.join(out, 'latency.md'), md + '\n')
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') {
  child(JSON.parse(process.argv[3])).catch((err) => { console.error(err); process.exit(1) })
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => { console.error(err); process.exitCode = 1 })
}

module.exports = { main }
