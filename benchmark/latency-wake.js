'use strict'
// The wake-up alone, without the record (a profile, not a benchmark row):
// `node benchmark/latency-wake.js [--module DIR] [--count N] [--rounds R]`.
//
// One process wakes another every 1 ms and the other stamps when its JS runs: caldo's
// wake word (the sender's `interrupt()`, a futex wake-up; the receiver's `wait()`, an
// io_uring futex wait its event loop polls, matched by the counter's value) against a
// raw Unix socket (a 1-byte `write`; the receiver's 'data'). Neither side writes,
// encodes, fetches or decodes a record, so this is what `latency.js` would measure if
// sending and reading cost nothing. The systems take turns, `rounds` times; prints
// p50 / p90 / p99 in µs per round, the first 300 wake-ups dropped.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { percentile, machine, machineLine, options } = require('./common')

const WARMUP = 300
const nowUs = () => Number(process.hrtime.bigint()) / 1000


// Each role sends the parent { times }: wake-up number → µs (sent, or seen by JS).
const roles = {
  async caldoSender ({ module, dir, count }) {
    const log = require(path.join(module, 'lib/native/binding.js')).openLog(dir, {})
    const times = {}
    for (let i = 0; i < count; i++) {
      await sleep(1)
      const t = nowUs()
      log.interrupt()
      times[log.wakeSeq()] = t
    }
    return times
  },
  async caldoReceiver ({ module, dir, count }, ready) {
    const log = require(path.join(module, 'lib/native/binding.js')).openLog(dir, {})
    const times = {}
    ready()
    for (let n = 0; n < count; n++) {
      if (!(await log.wait(log.wakeSeq(), 5000))) break
      times[log.wakeSeq()] = nowUs()
    }
    return times
  },
  async socketSender ({ sock, count }) {
    const s = net.connect(sock)
    await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject))
    const times = {}
    for (let i = 0; i < count; i++) {
      await sleep(1)
      times[i] = nowUs()
      s.write('x')
    }
    s.end()
    return times
  },
  socketReceiver ({ sock, count }, ready) {
    return new Promise((resolve) => {
      const times = {}
      let n = 0
      const server = net.createServer((s) => s.on('data', (chunk) => {
        const t = nowUs()
        for (let k = 0; k < chunk.length; k++) times[n++] = t
        if (n >= count) { s.destroy(); server.close(); resolve(times) }
      }))
      server.listen(sock, ready)
    })
  }
}

async function child (spec) {
  const times = await roles[spec.role](spec, () => process.send({ ready: true }))
  await new Promise((resolve) => process.send({ times }, resolve))
  process.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
}

function spawn (spec) {
  const c = fork(__filename, ['--child', JSON.stringify(spec)])
  return (key) => new Promise((resolve, reject) => {
    c.on('message', (m) => { if (key in m) resolve(m[key]) })
    c.on('exit', (code) => reject(new Error(`${spec.role} exited with code ${code} before '${key}'`)))
  })
}

async function once (system, spec) {
  const rx = spawn({ ...spec, role: `${system}Receiver` })
  const received = rx('times')
  await rx('ready')
  const sent = await spawn({ ...spec, role: `${system}Sender` })('times')
  const got = await received
  const keys = Object.keys(sent).sort((a, b) => a - b).slice(WARMUP)
  const d = keys.filter((k) => got[k] !== undefined).map((k) => got[k] - sent[k]).sort((a, b) => a - b)
  return [0.5, 0.9, 0.99].map((f) => percentile(d, f))
}

async function main (argv) {
  const o = options(argv, { module: path.join(__dirname, '..'), count: 4000, rounds: 3 })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-wake-'))
  try {
    const spec = { module: o.module, dir, sock: path.join(dir, 'sock'), count: o.count }
    console.log(machineLine(machine(dir)))
    console.log(`\n${o.module}: ${o.count - WARMUP} wake-ups 1 ms apart, µs\n`)
    console.log('| Round | System | p50 | p90 | p99 |\n|---:|---|---:|---:|---:|')
    for (let r = 1; r <= o.rounds; r++) {
      for (const [system, label] of [['caldo', "caldo's wake word"], ['socket', 'raw Unix socket']]) {
        const q = await once(system, spec)
        console.log(`| ${r} | ${label} | ${q.map((x) => x.toFixed(1)).join(' | ')} |`)
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') child(JSON.parse(process.argv[3]))
else main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1) })
