'use strict'
// Crash safety through the JS API: producers killed with SIGKILL at random
// moments, a flipped bit in a sealed segment, and a full disk.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { open } = require('..')
const { tmpdir, child, until, rng } = require('./helpers')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// A record written by fixtures/crasher.js, or the test's own "after-" records;
// anything else (a torn or garbage record) fails.
function checkWellFormed (m) {
  const v = m.value.toString()
  if (v.startsWith('after-')) return
  const parts = v.split('|')
  assert.equal(parts.length, 5, `${m.partition}:${m.offset} is a whole record: ${v.slice(0, 60)}`)
  const len = Number(parts[3])
  assert.equal(parts[4], 'x'.repeat(len), `${m.partition}:${m.offset} has its full value`)
  if (Number(parts[2]) % 3 === 0) assert.equal(m.key.toString(), `${parts[0]}-${parts[1]}-${parts[2]}`)
  else assert.equal(m.key, null)
}

/** Reads [from[p], high[p]) of every partition; returns Map "p:offset" -> value. */
async function readRange (log, topic, from, high) {
  const assign = from.map((offset, partition) => ({ topic, partition, offset }))
  const want = high.reduce((s, h, p) => s + h - from[p], 0)
  const have = new Map()
  if (want === 0) return have
  const c = log.consumer({ assign })
  const next = [...from]
  for await (const batch of c.batches({ maxMessages: 5000, maxWaitMs: 5000 })) {
    assert.ok(batch.length > 0, `read ${have.size} of ${want} records before timing out`)
    for (const m of batch) {
      assert.equal(m.offset, next[m.partition], `partition ${m.partition}: offsets are dense`)
      next[m.partition]++
      checkWellFormed(m)
      have.set(`${m.partition}:${m.offset}`, m.value.toString())
    }
    if (have.size >= want) break
  }
  assert.equal(have.size, want)
  return have
}

async function highs (log, topic) {
  return (await log.topics()).find((x) => x.name === topic).partitions.map((p) => p.high)
}

test('producers killed with SIGKILL at random moments: 60 rounds, no acknowledged record lost, no torn record read', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  const topic = 'crash'
  await log.createTopic(topic, { partitions: 3, segmentBytes: 32 * 1024 })
  const random = rng(0xC0FFEE)
  const allAcked = []
  let killedBeforeAck = 0
  for (let round = 0; round < 60; round++) {
    const from = await highs(log, topic)
    // 'always' in every third round; two producers racing in every fourth.
    const durability = round % 3 === 0 ? 'always' : 'none'
    const n = round % 4 === 1 ? 2 : 1
    const kids = Array.from({ length: n }, (_, i) => child('crasher.js', [dir, topic, `r${round}p${i}`, durability]))
    if (random(5) === 0) {
      // Early: while opening, recovering, or during the first appends.
      await until(kids[0], (m) => m.ready)
      await sleep(random(15))
    } else {
      await until(kids[0], (m) => m.acked !== undefined)
      await sleep(random(40))
    }
    for (const k of kids) k.proc.kill('SIGKILL')
    const acked = []
    for (const k of kids) {
      const { signal } = await k.done
      assert.equal(signal, 'SIGKILL', `round ${round}: the producer was killed, not failed`)
      for (const m of k.messages) if (m.acked) acked.push(...m.acked)
    }
    if (acked.length === 0) killedBeforeAck++
    // Recover through this process: the next append cuts any torn tail.
    const after = await log.producer().send(topic, { value: `after-${round}`, partition: round % 3 })
    const high = await highs(log, topic)
    const have = await readRange(log, topic, from, high)
    for (const [p, o, v] of acked) {
      assert.equal(have.get(`${p}:${o}`), v, `round ${round} (${durability}): acknowledged ${p}:${o} is readable`)
    }
    assert.equal(have.get(`${after.partition}:${after.offset}`), `after-${round}`)
    allAcked.push(...acked)
  }
  t.diagnostic(`${allAcked.length} acknowledged records checked; ${killedBeforeAck} rounds killed before any ack`)

  // Everything, from the start, once more: dense, well formed, all acks there.
  const total = await readRange(log, topic, [0, 0, 0], await highs(log, topic))
  for (const [p, o, v] of allAcked) assert.equal(total.get(`${p}:${o}`), v)
})

test('a flipped bit in a sealed segment is ERR_CORRUPT naming topic, partition and offset; later segments still read', async (t) => {
  const dir = tmpdir(t)
  const topic = 'flip'
  let log = await open(dir)
  await log.createTopic(topic, { segmentBytes: 4096 })
  const producer = log.producer()
  for (let i = 0; i < 40; i++) {
    await producer.sendBatch(topic, Array.from({ length: 5 }, (_, k) => ({ value: `v-${i * 5 + k}-${'y'.repeat(80)}` })))
  }
  await log.close()

  const pdir = path.join(dir, 'topics', topic, '0')
  const segments = fs.readdirSync(pdir).filter((f) => f.endsWith('.log')).sort()
  assert.ok(segments.length >= 3, `segments rolled: ${segments}`)
  const first = path.join(pdir, segments[0])
  const bytes = fs.readFileSync(first)
  bytes[Math.floor(bytes.length / 2)] ^= 0x20
  fs.writeFileSync(first, bytes)

  log = await open(dir)
  t.after(() => log.close())
  const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }] })
  let seen = 0
  await assert.rejects(async () => {
    for await (const m of c) {
      assert.equal(m.value.toString(), `v-${m.offset}-${'y'.repeat(80)}`, 'only intact records are returned')
      seen++
    }
  }, (err) => {
    assert.equal(err.code, 'ERR_CORRUPT')
    assert.match(err.message, /topic 'flip'/)
    assert.match(err.message, /partition 0/)
    assert.match(err.message, /offset \d+/)
    return true
  })
  t.diagnostic(`${seen} records before the damaged batch were delivered`)

  // Reading from an offset in a later segment works, to the end.
  const base = Number(segments[segments.length - 1].replace('.log', ''))
  const later = log.consumer({ assign: [{ topic, partition: 0, offset: base + 1 }] })
  const got = []
  for await (const m of later) {
    assert.equal(m.value.toString(), `v-${m.offset}-${'y'.repeat(80)}`)
    got.push(m.offset)
    if (m.offset === 199) break
  }
  assert.deepEqual(got, Array.from({ length: 199 - base }, (_, i) => base + 1 + i))
  // And the log takes appends.
  const md = await log.producer().send(topic, { value: 'after' })
  assert.equal(md.offset, 200)
})

test('a full disk gives a coded error, damages nothing, and appends work again once there is room', async (t) => {

  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'ignore' })
  } catch {
    fs.rmSync(mnt, { recursive: true, force: true })
    return t.skip('needs a small filesystem: mounting a tmpfs requires root')
  }
  let log
  t.after(async () => {
    if (log) await log.close().catch(() => {})
    execFileSync('umount', ['-l', mnt]) // lazily: the addon drops its mappings at garbage collection
    fs.rmSync(mnt, { recursive: true, force: true })
  })
  const filler = path.join(mnt, 'filler')
  fs.writeFileSync(filler, Buffer.alloc(512 * 1024))
  log = await open(path.join(mnt, 'log'))
  await log.createTopic('t', { segmentBytes: 256 * 1024 })
  const p = log.producer()
  const value = Buffer.alloc(1000, 7)
  let acked = 0
  let err
  for (;;) {
    try {
      await p.sendBatch('t', Array.from({ length: 50 }, (_, i) => ({ value: Buffer.concat([Buffer.from(`${acked + i};`), value]) })))
      acked += 50
    } catch (e) { err = e; break }
  }
  assert.equal(err.code, 'ERR_IO')
  assert.ok(err.message.length > 0)
  assert.equal(err.ioCode, 'ENOSPC', `the OS error is named (message: ${err.message})`)
  assert.ok(acked > 1000, `wrote ${acked} records before the disk filled`)
  fs.rmSync(filler) // room again
  const md = await p.send('t', { value: 'after' })
  assert.equal(md.offset, acked, 'offsets stay dense: the failed batch left nothing behind')
  const c = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  let n = 0
  for await (const m of c) {
    if (n < acked) assert.equal(m.value.toString().split(';')[0], String(n))
    else assert.equal(m.value.toString(), 'after')
    if (++n === acked + 1) break
  }
})
