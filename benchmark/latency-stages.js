'use strict'
// Where one record's cross-process latency goes, stage by stage (a profile, not a
// benchmark row): `node benchmark/latency-stages.js [--module DIR] [--count N] [--rate R]`.
//
// A sender sends 100 B records at `rate`/s (default 1,000) from a 1 ms timer, awaiting
// each send; a receiver waits at the end of the partition with `for await`. Both wrap the
// addon's methods (appendNow, wait, fetch) to stamp the clock (CLOCK_MONOTONIC through
// process.hrtime, shared by the processes) on the way in and out, and the stages are:
// the value's stamp → the native append; the append; its end → the receiver's wait
// resolving in JS; that → the fetch; the fetch; its end → the record in the loop.
// `--module` measures another build (a checkout with its addon built). Prints a table
// of p50/p90/p99/p99.9 per stage; the first 500 records are dropped as warm-up.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const { setTimeout: sleep } = require('node:timers/promises')
const { percentile, machine, machineLine, options } = require('./common')

const WARMUP = 500
const nowUs = () => Number(process.hrtime.bigint()) / 1000


// Wraps `Class.prototype[name]` so that `after(start, end, result)` sees each call's times.
function stamp (Class, name, after) {
  const original = Class.prototype[name]
  Class.prototype[name] = function (...args) {
    const start = nowUs()
    const result = original.apply(this, args)
    after(start, nowUs(), result)
    return result
  }
}

async function sender ({ module, dir, count, rate }) {
  const binding = require(path.join(module, 'lib/native/binding.js'))
  const times = []
  let current = null
  stamp(binding.NativeProducer, 'appendNow', (start, end) => current.push(start, end))
  const log = await require(module).open(dir)
  const producer = log.producer()
  const t0 = performance.now()
  for (let sent = 0; sent < count;) {
    const due = Math.min(count, Math.floor((performance.now() - t0) * rate / 1000) + 1)
    for (; sent < due; sent++) {
      const value = Buffer.alloc(100, 0x61)
      current = times[sent] = [nowUs()]
      value.writeUInt32LE(sent, 0)
      await producer.send('t', { value })
    }
    await sleep(1)
  }
  await producer.close()
  await log.close()
  return times
}

async function receiver ({ module, dir, count }, ready) {
  const binding = require(path.join(module, 'lib/native/binding.js'))
  let resolved = 0
  let fetched = [0, 0]
  const wait = binding.NativeLog.prototype.wait
  binding.NativeLog.prototype.wait = function (...args) {
    return wait.apply(this, args).then((moved) => { resolved = nowUs(); return moved })
  }
  stamp(binding.NativeConsumer, 'fetch', (start, end, result) => { if (result) fetched = [start, end] })
  const log = await require(module).open(dir)
  const consumer = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 0 }] })
  ready()
  const times = []
  let n = 0
  for await (const m of consumer) {
    times[m.value.readUInt32LE(0)] = [resolved, ...fetched, nowUs()]
    if (++n === count) break
  }
  await log.close()
  return times
}

async function child (spec) {
  const send = (m) => new Promise((resolve) => process.send(m, resolve))
  const times = spec.role === 'sender' ? await sender(spec) : await receiver(spec, () => process.send({ ready: true }))
  await send({ times })
  process.disconnect()
}

// The child's first message carrying `key`; rejects if it exits first.
function spawn (spec) {
  const c = fork(__filename, ['--child', JSON.stringify(spec)])
  return (key) => new Promise((resolve, reject) => {
    c.on('message', (m) => { if (key in m) resolve(m[key]) })
    c.on('exit', (code) => reject(new Error(`${spec.role} exited with code ${code} before '${key}'`)))
  })
}

const STAGES = ['stamp → native append', 'native append', 'append end → wait resolved', 'wait resolved → fetch', 'fetch', 'fetch end → in the loop', 'total']

async function main (argv) {
  const o = options(argv, { module: path.join(__dirname, '..'), count: 5000, rate: 1000 })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-stages-'))
  try {
    const log = await require(o.module).open(dir)
    await log.createTopic('t')
    await log.close()
    const spec = { module: o.module, dir, count: o.count, rate: o.rate }
    const rx = spawn({ ...spec, role: 'receiver' })
    const received = rx('times')
    await rx('ready')
    const tx = spawn({ ...spec, role: 'sender' })
    const [sent, got] = await Promise.all([tx('times'), received])
    const rows = STAGES.map(() => [])
    for (let i = WARMUP; i < o.count; i++) {
      // A record the receiver found without waiting (it came with an earlier one) has no wake-up stage.
      const [stampAt, appendStart, appendEnd] = sent[i]
      const [resolved, fetchStart, fetchEnd, inLoop] = got[i]
      const woke = resolved > appendEnd
      const d = [appendStart - stampAt, appendEnd - appendStart, woke ? resolved - appendEnd : NaN, woke ? fetchStart - resolved : NaN, fetchEnd - fetchStart, inLoop - fetchEnd, inLoop - stampAt]
      d.forEach((x, k) => { if (!Number.isNaN(x)) rows[k].push(x) })
    }
    console.log(machineLine(machine(dir)))
    console.log(`\n${o.module}: ${o.count - WARMUP} records at ${o.rate}/s, µs\n`)
    console.log('| Stage | n | p50 | p90 | p99 | p99.9 |\n|---|---:|---:|---:|---:|---:|')
    STAGES.forEach((name, k) => {
      const s = rows[k].sort((a, b) => a - b)
      const q = (f) => s.length ? percentile(s, f).toFixed(1) : '–'
      console.log(`| ${name} | ${s.length} | ${q(0.5)} | ${q(0.9)} | ${q(0.99)} | ${q(0.999)} |`)
    })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === '--child') child(JSON.parse(process.argv[3]))
else main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1) })
