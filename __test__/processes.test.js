'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const { open } = require('..')
const { tmpdir, child, until } = require('./helpers')

test('4 producer processes x 25,000 records: dense, unique, each producer in order', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  await log.createTopic('race', { partitions: 4, segmentBytes: 256 * 1024 })
  await log.close()
  const producers = [0, 1, 2, 3].map((id) => child('producer.js', [dir, String(id), '25000']))
  for (const p of producers) assert.equal((await p.done).code, 0)

  const reader = child('reader.js', [dir, 'race'])
  const { code, messages } = await reader.done
  assert.equal(code, 0)
  const { total, perPartition } = messages[0]
  assert.equal(total, 100_000)
  const seen = new Set()
  for (const [partition, records] of Object.entries(perPartition)) {
    const lastSeq = new Map()
    records.forEach(([offset, producer, seq], i) => {
      assert.equal(offset, i, `partition ${partition}: offsets are dense`)
      const id = `${producer}-${seq}`
      assert.ok(!seen.has(id), `record ${id} appears once`)
      seen.add(id)
      assert.ok(!(lastSeq.get(producer) > seq), `producer ${producer} keeps its order in partition ${partition}`)
      lastSeq.set(producer, seq)
    })
  }
  assert.equal(seen.size, 100_000)
})

// Whether this process may wait in io_uring (FUTEX_WAIT came in Linux 6.7; the sysctl can
// limit io_uring to privileged processes or turn it off): true, false, or null where a
// seccomp filter is on, which may refuse it without saying.
function ioUringFutex () {
  if (process.platform !== 'linux') return false
  const [major, minor] = os.release().split('.').map(Number)
  const read = (file, fallback) => { try { return fs.readFileSync(file, 'utf8') } catch { return fallback } }
  const disabled = read('/proc/sys/kernel/io_uring_disabled', '0').trim()
  const allowed = disabled === '0' || (disabled === '1' && process.getuid() === 0)
  if (!(major > 6 || (major === 6 && minor >= 7)) || !allowed) return false
  return /^Seccomp:\s*0$/m.test(read('/proc/self/status', '')) ? true : null
}

// Both ways a reader sleeps: in an io_uring its event loop polls, and on a thread.
for (const [how, env] of [['io_uring', {}], ['a thread (CALDO_IO_URING=0)', { CALDO_IO_URING: '0' }]]) {
  test(`a consumer waiting in another process wakes on append and idles without CPU: waiting in ${how}`, async (t) => {
    const dir = tmpdir(t)
    const log = await open(dir)
    t.after(() => log.close())
    await log.createTopic('wake')
    const waiter = child('waiter.js', [dir, 'wake', '50'], null, { ...process.env, ...env })
    const ready = await until(waiter, (m) => m.ready)
    // Idle for two seconds: a sleep-and-poll loop or a spin would burn CPU here.
    await new Promise((resolve) => setTimeout(resolve, 2000))
    waiter.proc.send('cpu')
    const { cpu, rings } = await until(waiter, (m) => m.cpu && !m.ready)
    const idleMs = (cpu.user + cpu.system - ready.cpu.user - ready.cpu.system) / 1000
    assert.ok(idleMs < 50, `waiting consumer used ${idleMs} ms of CPU in 2 s idle`)
    const can = ioUringFutex()
    // Under a seccomp filter either is right, but never more than one ring per log.
    const expected = env.CALDO_IO_URING === '0' || can === false ? 0 : can ? 1 : Math.min(rings, 1)
    assert.equal(rings, expected, 'io_uring rings the waiting process holds')

    const producer = log.producer()
    for (let i = 0; i < 50; i++) {
      await producer.send('wake', { value: String((performance.timeOrigin + performance.now()) * 1000) })
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    const { code, messages } = await waiter.done
    assert.equal(code, 0)
    const arrivals = messages.filter((m) => m.offset !== undefined)
    assert.deepEqual(arrivals.map((m) => m.offset), [...Array(50).keys()])
    const sorted = arrivals.map((m) => m.latencyUs).sort((a, b) => a - b)
    t.diagnostic(`cross-process wake-up p50 ${sorted[25].toFixed(0)} us (informational; see benchmark/)`)
    // Closing the log let the ring go: the waiter exited by itself, with nothing left to wait for.
    assert.equal(messages.at(-1).ringsAfterClose, 0)
  })
}

test('a producer killed with SIGKILL mid-stream loses no acknowledged record', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('crash', { partitions: 2, segmentBytes: 64 * 1024 })
  for (let round = 0; round < 10; round++) {
    const acked = []
    const c = child('acker.js', [dir, 'crash', String(round)])
    await until(c, (m) => m.acked !== undefined && m.acked.length > 0)
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 30))
    c.proc.kill('SIGKILL')
    const { signal } = await c.done
    assert.equal(signal, 'SIGKILL')
    for (const m of c.messages) if (m.acked) acked.push(...m.acked)
    // Everything acknowledged is readable, offsets are dense, and appends go on.
    const producer = log.producer()
    const after = await producer.send('crash', { value: `after-${round}`, partition: 0 })
    const consumer = log.consumer({ assign: [0, 1].map((partition) => ({ topic: 'crash', partition, offset: 'earliest' })) })
    const have = new Map()
    const high = (await log.topics()).find((x) => x.name === 'crash').partitions.map((p) => p.high)
    let n = 0
    for await (const m of consumer) {
      have.set(`${m.partition}:${m.offset}`, m.value.toString())
      if (++n === high[0] + high[1]) break
    }
    for (const [partition, hi] of high.entries()) {
      for (let o = 0; o < hi; o++) assert.ok(have.has(`${partition}:${o}`), `offset ${partition}:${o} is readable`)
    }
    for (const [partition, offset, value] of acked) assert.equal(have.get(`${partition}:${offset}`), value)
    assert.equal(have.get(`0:${after.offset}`), `after-${round}`)
  }
})
