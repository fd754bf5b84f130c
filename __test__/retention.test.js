'use strict'
// Retention with real files and processes: by time and by size, the log
// start, a lagging consumer in another process, deleteRecords, alterTopic
// seen elsewhere, two cleaners at once, and a cleaner killed mid-clean.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { open } = require('..')
const { tmpdir, child, until } = require('./helpers')

const DAY = 86_400_000
const value = 'x'.repeat(500)

/** `n` records of 500 bytes stamped `ts`, one send each (so 4 KiB segments roll often). */
// Keys are unique, so that compaction would keep every record.
async function fill (log, topic, n, ts, partition = 0) {
  const p = log.producer()
  for (let i = 0; i < n; i++) await p.send(topic, { key: `${ts}-${i}`, value, timestamp: ts, partition })
}

const segments = (dir, topic, p = 0) =>
  fs.readdirSync(path.join(dir, 'topics', topic, String(p))).filter((f) => f.endsWith('.log')).sort()
const part = async (log, topic, p = 0) => (await log.topics()).find((t) => t.name === topic).partitions[p]

async function offsets (c, n) {
  const out = []
  for await (const m of c) {
    out.push(m.offset)
    if (out.length === n) break
  }
  return out
}

test('retention by time: old segments go, the active one stays, the log start moves, a consumer below it is told', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('t', { segmentBytes: 4096, retentionMs: DAY })
  await fill(log, 't', 40, Date.now() - 3 * DAY)
  const before = segments(dir, 't')
  assert.ok(before.length > 3, before.join(' '))
  const r = await log.clean()
  assert.equal(r.segments, before.length - 1)
  assert.deepEqual(segments(dir, 't'), [before.at(-1)], 'the active segment stays')
  const start = Number(before.at(-1).slice(0, 20))
  assert.deepEqual(r.partitions, [{ topic: 't', partition: 0, segments: before.length - 1, bytes: r.bytes, recordsRemoved: 0, logStart: start }])
  const p = await part(log, 't')
  assert.equal(p.low, start)
  assert.equal(p.high, 40)
  // A consumer asked for offset 0 starts at the log start, and says so.
  const c = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 0 }] })
  const events = []
  c.on('offsetOutOfRange', (e) => events.push(e))
  assert.deepEqual(await offsets(c, 1), [start])
  assert.deepEqual(events, [{ topic: 't', partition: 0, from: 0, to: start }])
  assert.equal((await log.clean()).segments, 0, 'nothing left to do')
})

test('retention by size keeps at least retentionBytes; compact alone keeps every segment of unique keys', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('s', { segmentBytes: 4096, retentionBytes: 8192 })
  await log.createTopic('c', { segmentBytes: 4096, retentionBytes: 1, retentionMs: 1, cleanupPolicy: 'compact' })
  await fill(log, 's', 60, Date.now())
  await fill(log, 'c', 60, Date.now() - DAY)
  await log.clean()
  const s = await part(log, 's')
  assert.ok(s.bytes >= 8192 && s.bytes < 8192 + 4096, `${s.bytes} bytes kept`)
  assert.ok(s.low > 0)
  const c = await part(log, 'c')
  assert.equal(c.low, 0)
  assert.ok(segments(dir, 'c').length > 5)
  const info = (await log.topics()).find((x) => x.name === 'c')
  assert.equal(info.config.cleanupPolicy, 'compact')
  assert.equal(info.config.retentionBytes, 1)
})

test('a lagging consumer in another process goes on from the new log start and gets the event', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('t', { segmentBytes: 4096, retentionMs: DAY })
  await fill(log, 't', 40, Date.now() - 3 * DAY)
  const reader = child('retention.js', [dir, 'lagging', 't'])
  assert.equal((await until(reader, (m) => m.ready !== undefined)).ready, 0)
  const r = await log.clean()
  assert.ok(r.segments > 0)
  const start = (await part(log, 't')).low
  reader.proc.send('go')
  const got = await until(reader, (m) => m.next !== undefined)
  assert.equal(got.next, start)
  assert.deepEqual(got.events, [{ topic: 't', partition: 0, from: 1, to: start }])
  assert.equal((await reader.done).code, 0)
})

test('deleteRecords moves the log start by hand; refused past the high watermark', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('t', { segmentBytes: 4096 })
  await fill(log, 't', 30, Date.now())
  await assert.rejects(log.deleteRecords('t', 0, 31), { code: 'ERR_OFFSET_OUT_OF_RANGE' })
  await assert.rejects(log.deleteRecords('nope', 0, 1), { code: 'ERR_UNKNOWN_TOPIC' })
  await assert.rejects(log.deleteRecords('t', 5, 1), { code: 'ERR_INVALID_PARTITION' })
  const n = segments(dir, 't').length
  assert.deepEqual(await log.deleteRecords('t', 0, 20), { topic: 't', partition: 0, lowWatermark: 20 })
  assert.ok(segments(dir, 't').length < n, 'whole segments below it are removed')
  assert.equal((await part(log, 't')).low, 20)
  const c = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  assert.deepEqual(await offsets(c, 1), [20])
  // Commits below the log start are kept; setGroupOffsets clamps to it.
  await log.setGroupOffsets('g', [{ topic: 't', partition: 0, offset: 3 }])
  const g = (await log.groups()).find((x) => x.groupId === 'g')
  assert.equal(g.offsets[0].committed, 20)
})

test('alterTopic: another process sees the change; bad settings and unknown topics are refused', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('t', { segmentBytes: 4096 })
  const watcher = child('retention.js', [dir, 'watch', 't', String(DAY)])
  await until(watcher, (m) => m.ready)
  const info = await log.alterTopic('t', { retentionMs: DAY, segmentMs: 60_000 })
  assert.equal(info.config.retentionMs, DAY)
  assert.equal(info.config.segmentBytes, 4096, 'other settings kept')
  const seen = (await until(watcher, (m) => m.seen)).seen
  assert.equal(seen.segmentMs, 60_000)
  assert.equal((await watcher.done).code, 0)
  await assert.rejects(log.alterTopic('t', { partitions: 2 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(log.alterTopic('t', { retentionMs: 0 }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(log.alterTopic('t', { cleanupPolicy: 'shred' }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(log.alterTopic('nope', { retentionMs: 5 }), { code: 'ERR_UNKNOWN_TOPIC' })
  await assert.rejects(log.alterTopic('__consumer_offsets', { retentionMs: 5 }), { code: 'ERR_INVALID_TOPIC' })
})

test('the background cleaner: a segment roll triggers it; an idle log costs no CPU', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 50 })
  t.after(() => log.close())
  await log.createTopic('t', { segmentBytes: 4096, retentionMs: DAY })
  await fill(log, 't', 40, Date.now() - 3 * DAY)
  for (let i = 0; i < 100 && (await part(log, 't')).low === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.ok((await part(log, 't')).low > 0, 'cleaned without a call')
  // Idle: a cleaner waking every 50 ms over a log with nothing to do.
  const cpu = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const used = process.cpuUsage(cpu)
  const ms = (used.user + used.system) / 1000
  t.diagnostic(`idle process with a 50 ms cleaner: ${ms.toFixed(1)} ms CPU in 1 s`)
  assert.ok(ms < 50, `${ms} ms CPU`)
})

test('two processes cleaning at once never both remove a segment', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 4, segmentBytes: 4096, retentionMs: DAY })
  for (let round = 0; round < 3; round++) {
    for (let p = 0; p < 4; p++) await fill(log, 't', 60, Date.now() - 3 * DAY, p)
    const want = [0, 1, 2, 3].reduce((s, p) => s + segments(dir, 't', p).length - 1, 0)
    const a = child('retention.js', [dir, 'clean', 't', '5'])
    const b = child('retention.js', [dir, 'clean', 't', '5'])
    const [ra, rb] = await Promise.all([a.done, b.done])
    assert.equal(ra.code, 0)
    assert.equal(rb.code, 0)
    const removed = [...ra.messages, ...rb.messages].filter((m) => m.result).reduce((s, m) => s + m.result.segments, 0)
    assert.equal(removed, want, `round ${round}: each segment removed once`)
    for (let p = 0; p < 4; p++) assert.equal(segments(dir, 't', p).length, 1)
  }
})

test('a cleaner killed with SIGKILL mid-clean leaves a log that reopens and reads', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { cleanIntervalMs: 0 })
  await log.createTopic('t', { partitions: 4, segmentBytes: 4096, retentionMs: DAY })
  for (let round = 0; round < 8; round++) {
    for (let p = 0; p < 4; p++) {
      await fill(log, 't', 40, Date.now() - 3 * DAY, p)
      await fill(log, 't', 2, Date.now(), p)
    }
    const c = child('retention.js', [dir, 'clean', 't', '1'])
    await until(c, (m) => m.ready)
    await new Promise((resolve) => setTimeout(resolve, round))
    c.proc.kill('SIGKILL')
    await c.done
  }
  await log.close()
  const again = await open(dir, { cleanIntervalMs: 0 })
  t.after(() => again.close())
  for (const p of (await again.topics()).find((x) => x.name === 't').partitions) {
    const first = Number(segments(dir, 't', p.partition)[0].slice(0, 20))
    assert.ok(first <= p.low, `partition ${p.partition}: the log start ${p.low} is in a segment on disk (${first})`)
    const c = again.consumer({ assign: [{ topic: 't', partition: p.partition, offset: 'earliest' }] })
    const got = await offsets(c, p.high - p.low)
    assert.deepEqual(got, Array.from({ length: p.high - p.low }, (_, i) => p.low + i), `partition ${p.partition} reads densely`)
  }
  await again.clean()
  for (let p = 0; p < 4; p++) {
    const names = fs.readdirSync(path.join(dir, 'topics', 't', String(p)))
    const logs = names.filter((f) => f.endsWith('.log'))
    const indexes = names.filter((f) => f.endsWith('.index'))
    assert.deepEqual(indexes.map((f) => f.slice(0, 20)), logs.map((f) => f.slice(0, 20)), 'no index left without its segment')
  }
})
