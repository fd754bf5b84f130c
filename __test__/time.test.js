'use strict'
// Offsets by time: offsetsForTimes, seek({ timestamp }), the CLI's --from-time and
// --to-datetime, over several segments of records sent with explicit past timestamps,
// some of them going backwards; a reader in another process; bad input.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { open } = require('..')
const { tmpdir } = require('./helpers.js')

const BIN = path.join(__dirname, '..', 'bin', 'caldo.js')
const env = { ...process.env, NO_COLOR: '1', CALDO_DIR: '' }
const T0 = Date.parse('2020-01-01T00:00:00Z')
const N = 600

// Record i's timestamp: one second apart, every 10th one ten minutes in the past.
const tsOf = (i) => T0 + i * 1000 - (i % 10 === 5 ? 600_000 : 0)
// Kafka's rule: the first offset whose timestamp is at or after `ts`, else the end.
const expected = (ts) => { for (let i = 0; i < N; i++) if (tsOf(i) >= ts) return i; return N }

async function filled (t) {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  // Stamped in 2020: kept past the default retention.
  await log.createTopic('ev', { partitions: 2, segmentBytes: 8192, retentionMs: -1 })
  const p = log.producer()
  for (let i = 0; i < N; i += 50) {
    await p.sendBatch('ev', Array.from({ length: 50 }, (_, k) => ({ partition: 0, value: `event ${i + k} ${'x'.repeat(60)}`, timestamp: tsOf(i + k) })))
  }
  return { dir, log }
}

const TARGETS = [
  ['before the first', 0],
  ['the first', T0],
  ['exact', tsOf(123)],
  ['between two', tsOf(200) + 500],
  ['a record that went back', tsOf(305)],
  ['just after a jump back', tsOf(304) + 1],
  ['the last', tsOf(N - 1)],
  ['after the last', tsOf(N - 1) + 1]
]

test('offsetsForTimes over several segments: before, exact, between, after', async (t) => {
  const { dir, log } = await filled(t)
  const parts = (await log.topics())[0].partitions
  assert.ok(parts[0].bytes > 4 * 8192, 'several segments')
  for (const [what, ts] of TARGETS) {
    const [r] = await log.offsetsForTimes([{ topic: 'ev', partition: 0, timestamp: ts }])
    assert.deepEqual(r, { topic: 'ev', partition: 0, offset: expected(ts) }, what)
  }
  assert.equal(expected(tsOf(N - 1) + 1), N, 'past the last record: the high watermark')
  // An empty partition answers its end; several partitions in one call, in order.
  const both = await log.offsetsForTimes([{ topic: 'ev', partition: 1, timestamp: 0 }, { topic: 'ev', partition: 0, timestamp: tsOf(10) }])
  assert.deepEqual(both, [{ topic: 'ev', partition: 1, offset: 0 }, { topic: 'ev', partition: 0, offset: 10 }])

  // A reader in another process gets the same answers.
  const script = `
    const { open } = require(${JSON.stringify(path.join(__dirname, '..'))})
    ;(async () => {
      const log = await open(process.argv[1])
      const q = JSON.parse(process.argv[2]).map((timestamp) => ({ topic: 'ev', partition: 0, timestamp }))
      const r = await log.offsetsForTimes(q)
      const c = log.consumer({ assign: [{ topic: 'ev', partition: 0 }] })
      c.seek({ topic: 'ev', partition: 0, timestamp: q[2].timestamp })
      for await (const m of c) { r.push(m.offset); break }
      await log.close()
      process.stdout.write(JSON.stringify(r.map((x) => typeof x === 'number' ? x : x.offset)))
    })()`
  const ts = TARGETS.map(([, ts]) => ts)
  const out = spawnSync(process.execPath, ['-e', script, dir, JSON.stringify(ts)], { encoding: 'utf8', timeout: 30_000 })
  assert.equal(out.status, 0, out.stderr)
  assert.deepEqual(JSON.parse(out.stdout), [...ts.map(expected), expected(ts[2])])
})

test('seek({ timestamp }) moves a consumer to the first record at or after it', async (t) => {
  const { log } = await filled(t)
  const c = log.consumer({ assign: [{ topic: 'ev', partition: 0, offset: 'earliest' }] })
  t.after(() => c.close())
  const it = c[Symbol.asyncIterator]() // one iterator: leaving a for-await loop would close c
  const first = async () => (await it.next()).value
  for (const [what, ts] of TARGETS.slice(0, -1)) {
    c.seek({ topic: 'ev', partition: 0, timestamp: ts })
    const m = await first()
    assert.equal(m.offset, expected(ts), what)
    assert.ok(m.timestamp >= ts, what)
  }
  // After the last record: the end, where the next record sent is read.
  c.seek({ topic: 'ev', partition: 0, timestamp: tsOf(N - 1) + 1 })
  assert.deepEqual((await c.lag()).map((l) => [l.offset, l.lag]), [[N, 0]])
  await log.producer().send('ev', { partition: 0, value: 'late', timestamp: T0 })
  const m = await first()
  assert.deepEqual([m.offset, m.value.toString()], [N, 'late'])
})

test('bad input gets coded errors', async (t) => {
  const { log } = await filled(t)
  const q = (o) => log.offsetsForTimes([{ topic: 'ev', partition: 0, timestamp: 0, ...o }])
  const rejects = (p, code) => assert.rejects(p, (e) => { assert.equal(e.code, code, e.message); return true })
  await rejects(log.offsetsForTimes('ev'), 'ERR_INVALID_ARG')
  await rejects(log.offsetsForTimes([null]), 'ERR_INVALID_ARG')
  for (const timestamp of [NaN, -1, 1.5, 2 ** 53, Infinity, '5', undefined, 5n]) {
    await rejects(q({ timestamp }), 'ERR_INVALID_ARG')
  }
  await rejects(q({ topic: 'nope' }), 'ERR_UNKNOWN_TOPIC')
  await rejects(q({ topic: 5 }), 'ERR_INVALID_TOPIC')
  await rejects(q({ partition: 9 }), 'ERR_INVALID_PARTITION')
  await rejects(q({ partition: -1 }), 'ERR_INVALID_ARG')
  assert.deepEqual(await log.offsetsForTimes([]), [])

  const c = log.consumer({ assign: [{ topic: 'ev', partition: 0 }] })
  t.after(() => c.close())
  const throws = (to, code) => assert.throws(() => c.seek(to), (e) => { assert.equal(e.code, code, e.message); return true })
  for (const timestamp of [NaN, -1, 0.5, 'soon', null]) throws({ topic: 'ev', partition: 0, timestamp }, 'ERR_INVALID_ARG')
  throws({ topic: 'ev', partition: 0, timestamp: 0, offset: 0 }, 'ERR_INVALID_ARG')
  throws({ topic: 'ev', partition: 1, timestamp: 0 }, 'ERR_INVALID_PARTITION')
  throws({ topic: 'nope', partition: 0, timestamp: 0 }, 'ERR_INVALID_PARTITION')
})

function caldo (dir, args) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--dir', dir], { env, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('caldo consume --from-time and reset-offsets --to-datetime', async (t) => {
  const { dir, log } = await filled(t)
  const iso = (ms) => new Date(ms).toISOString()
  const ts = tsOf(590)
  const r = caldo(dir, ['consume', 'ev', '--from-time', iso(ts), '--format', '%p:%o'])
  assert.equal(r.code, 0, r.err)
  assert.deepEqual(r.out.trim().split('\n'), Array.from({ length: N - expected(ts) }, (_, i) => `0:${expected(ts) + i}`))
  // A date alone is UTC midnight: every record of partition 0.
  const all = caldo(dir, ['consume', 'ev', '-p', '0', '--from-time', '2019-12-31', '--format', '%o'])
  assert.equal(all.code, 0, all.err)
  assert.equal(all.out.trim().split('\n').length, N)
  for (const bad of ['yesterday', '2020-13-45T00:00:00Z', '1969-12-31T23:59:59Z', '12345', '']) {
    const f = caldo(dir, ['consume', 'ev', '--from-time', bad])
    assert.equal(f.code, 2, `${bad}: ${f.err}`)
    assert.match(f.err, /--from-time must/)
  }
  assert.equal(caldo(dir, ['consume', 'ev', '--from-time', iso(ts), '--from-beginning']).code, 2)

  // A stopped group, moved to a time.
  const g = log.consumer({ groupId: 'audit', topics: ['ev'], startFrom: 'earliest', autoCommit: false })
  for await (const m of g) { await g.commit([{ topic: 'ev', partition: m.partition, offset: m.offset + 1 }]); break }
  await g.close()
  const moved = caldo(dir, ['reset-offsets', 'audit', '--to-datetime', iso(tsOf(300)), '--json'])
  assert.equal(moved.code, 0, moved.err)
  const committed = JSON.parse(moved.out).find((o) => o.partition === 0).committed
  assert.equal(committed, expected(tsOf(300)))
  const late = caldo(dir, ['reset-offsets', 'audit', '--to-datetime', '2030-01-01T00:00:00+02:00', '-t', 'ev', '-p', '0'])
  assert.equal(late.code, 0, late.err)
  assert.match(late.out, /reset group 'audit' to 2029-12-31T22:00:00.000Z/)
  assert.equal((await log.groups())[0].offsets.find((o) => o.partition === 0).committed, N, 'after the last record: the end')
  for (const args of [['--to-datetime', 'noon'], ['--to', '0', '--to-datetime', iso(ts)], []]) {
    const f = caldo(dir, ['reset-offsets', 'audit', ...args])
    assert.equal(f.code, 2, `${args}: ${f.err}`)
  }
})
