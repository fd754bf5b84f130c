'use strict'
// Exactly once with real processes and real kill -9: idempotent retries, transactions,
// fencing across processes, transactions of killed or stuck processes, read_committed and
// read_uncommitted consumers, and a consume → transform → produce pipeline killed at random.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const native = require('../lib/native.js')
const { open } = require('..')
const { tmpdir, child, until, rng } = require('./helpers.js')

// Every record of `topic` (all partitions) that a consumer of that isolation returns now.
async function readAll (log, topic, isolation) {
  const { partitions } = (await log.topics()).find((t) => t.name === topic)
  const c = log.consumer({ isolation, assign: partitions.map((p) => ({ topic, partition: p.partition, offset: 'earliest' })) })
  const out = []
  let lag
  for await (const batch of c.batches({ maxMessages: 10_000, maxWaitMs: 50 })) {
    if (batch.length === 0) { lag = await c.lag(); break }
    for (const m of batch) out.push({ partition: m.partition, offset: m.offset, key: m.key?.toString(), value: m.value.toString() })
  }
  return { records: out, lag }
}

const values = (r) => r.records.map((m) => m.value)

test('a batch retried after a failure past its write is written once', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t')
  const producer = log.producer()
  await producer.send('t', { value: 'a' })
  // The next append fails after it was written and published: the producer retries it,
  // and the partition knows the retry (same producer id, epoch and sequence).
  native.__failAppendsForTests(dir, 't', 0, 1)
  const md = await producer.sendBatch('t', [{ value: 'b' }, { value: 'c' }])
  assert.deepEqual(md.map((m) => m.offset), [1, 2])
  await producer.send('t', { value: 'd' })
  assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')), ['a', 'b', 'c', 'd'])
  // Three failures in a row exhaust the retries: the error reaches the caller, and the
  // record is still there once.
  native.__failAppendsForTests(dir, 't', 0, 3)
  await assert.rejects(producer.send('t', { value: 'e' }), { code: 'ERR_IO' })
  assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')), ['a', 'b', 'c', 'd', 'e'])
})

test('read_committed sees committed transactions only, read_uncommitted every data record, neither a marker', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  const producer = log.producer({ transactionalId: 'writer' })
  const result = await producer.transaction(async (tx) => {
    await tx.sendBatch('t', [{ key: 'a', value: 'c1' }, { key: 'b', value: 'c2' }])
    tx.send('t', { key: 'a', value: 'c3' }) // not awaited: still part of it
    return 42
  })
  assert.equal(result, 42)
  const boom = new Error('boom')
  await assert.rejects(producer.transaction(async (tx) => {
    await tx.send('t', { key: 'a', value: 'x1' })
    throw boom
  }), (err) => err === boom)
  await producer.transaction(async (tx) => { await tx.send('t', { key: 'b', value: 'c4' }) })
  const committed = await readAll(log, 't', 'read_committed')
  assert.deepEqual(values(committed).sort(), ['c1', 'c2', 'c3', 'c4'])
  assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')).sort(), ['c1', 'c2', 'c3', 'c4', 'x1'])
  // Positions and lag move past the markers: nothing is left to read.
  const topics = await log.topics()
  for (const p of topics[0].partitions) assert.equal(p.lso, p.high)
  for (const l of committed.lag) assert.equal(l.lag, 0)
  assert.equal(committed.lag.reduce((n, l) => n + l.offset, 0), topics[0].partitions.reduce((n, p) => n + p.high, 0))
})

test('a second process with the same transactionalId fences the first: nothing of the first becomes visible', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t')
  const holder = child('txn-holder.js', [dir, 'shared', 'a', '3'])
  await until(holder, (m) => m.sent)
  const producer = log.producer({ transactionalId: 'shared' })
  await producer.transaction(async (tx) => { await tx.send('t', { key: 'k', value: 'b0' }) })
  holder.proc.send('go')
  assert.equal((await until(holder, (m) => m.late)).late, 'ERR_FENCED')
  assert.equal((await until(holder, (m) => m.outcome)).outcome, 'ERR_FENCED')
  await holder.done
  assert.deepEqual(values(await readAll(log, 't', 'read_committed')), ['b0'])
  assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')), ['a0', 'a1', 'a2', 'b0'])
})

// A process killed inside its transaction: read_committed readers stop at the last stable
// offset, then go on once the transaction is aborted, and never see its records.
for (const [how, endIt] of [
  ['by the next producer of its transactionalId', async (log) => { log.producer({ transactionalId: 'held' }) }],
  ['by the sweep of any process (its owner lock is gone)', async () => {}]
]) {
  test(`a transaction of a process killed inside it is aborted ${how}`, async (t) => {
    const dir = tmpdir(t)
    const log = await open(dir, { durability: 'none' })
    t.after(() => log.close())
    await log.createTopic('t')
    const plain = log.producer()
    await plain.send('t', { key: 'k', value: 'p0' })
    const holder = child('txn-holder.js', [dir, 'held', 'x', '5'])
    await until(holder, (m) => m.sent)
    await plain.send('t', { key: 'k', value: 'p1' })
    const reader = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
    const it = reader.batches({ maxMessages: 100, maxWaitMs: 300 })[Symbol.asyncIterator]()
    assert.deepEqual((await it.next()).value.map((m) => m.value.toString()), ['p0'])
    assert.deepEqual((await it.next()).value, [], 'waits at the last stable offset')
    assert.deepEqual(await reader.lag(), [{ topic: 't', partition: 0, offset: 1, high: 1, lag: 0 }])
    const [p] = (await log.topics())[0].partitions
    assert.deepEqual([p.lso, p.high], [1, 7])
    holder.proc.kill('SIGKILL')
    await holder.done
    await endIt(log)
    let next
    do next = (await it.next()).value; while (next.length === 0)
    assert.deepEqual(next.map((m) => m.value.toString()), ['p1'])
    await it.return()
    assert.deepEqual(values(await readAll(log, 't', 'read_committed')), ['p0', 'p1'])
    assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')), ['p0', 'x0', 'x1', 'x2', 'x3', 'x4', 'p1'])
  })
}

test('a live producer stuck in its transaction past transactionTimeoutMs is aborted and fenced', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t')
  const holder = child('txn-holder.js', [dir, 'slow', 's', '2', '500'])
  await until(holder, (m) => m.sent)
  await log.producer().send('t', { key: 'k', value: 'after' })
  const reader = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  for await (const m of reader) {
    assert.equal(m.value.toString(), 'after', 'the stuck transaction never shows')
    break
  }
  // It is still alive: its next send and its commit fail.
  holder.proc.send('go')
  assert.equal((await until(holder, (m) => m.late)).late, 'ERR_FENCED')
  assert.equal((await until(holder, (m) => m.outcome)).outcome, 'ERR_FENCED')
  assert.equal((await holder.done).code, 0)
  assert.deepEqual(values(await readAll(log, 't', 'read_uncommitted')), ['s0', 's1', 'after'])
})

test('offsets sent in a transaction count once it commits; the consumer commits no other way', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('in')
  await log.createTopic('out')
  await log.producer().sendBatch('in', Array.from({ length: 6 }, (_, i) => ({ value: `v${i}` })))
  const producer = log.producer({ transactionalId: 'svc' })
  const consumer = log.consumer({ groupId: 'g', topics: ['in'], startFrom: 'earliest', autoCommit: { intervalMs: 0 } })
  let n = 0
  for await (const m of consumer) {
    await producer.transaction(async (tx) => {
      await tx.send('out', { value: m.value })
      await tx.sendOffsets(consumer)
      if (n === 3) throw new Error('abort this one')
    }).catch(() => {})
    if (++n === 4) break
  }
  // Three committed transactions: offset 3. The aborted fourth sent 4, which does not count,
  // and leaving the loop committed nothing on its own.
  const [group] = await log.groups()
  assert.deepEqual(group.offsets.map((o) => o.committed), [3])
  assert.deepEqual(values(await readAll(log, 'out', 'read_committed')), ['v0', 'v1', 'v2'])
})

test('a table reads committed records only, and is ready past the markers at the end', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t')
  const producer = log.producer({ transactionalId: 'tbl' })
  await producer.transaction((tx) => tx.send('t', { key: 'a', value: '1' }))
  const table = await log.table('t').ready()
  assert.deepEqual([...table.entries()].map(([k, v]) => [k.toString(), v.toString()]), [['a', '1']])
  // Ready once more after a transaction that ends in an abort marker, then a commit marker.
  await producer.transaction(async (tx) => { await tx.send('t', { key: 'a', value: 'x' }); throw new Error('no') }).catch(() => {})
  await table.ready()
  await producer.transaction((tx) => tx.send('t', { key: 'b', value: '2' }))
  await table.ready()
  assert.deepEqual([...table.entries()].map(([k, v]) => [k.toString(), v.toString()]), [['a', '1'], ['b', '2']])
  await producer.transaction(async (tx) => { await tx.send('t', { key: 'b', value: 'y' }); throw new Error('no') }).catch(() => {})
  await table.ready()
  assert.equal(table.get(Buffer.from('b')).toString(), '2')
  await table.close()
})

test('misuse gets coded errors', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  const other = await open(tmpdir(t), { durability: 'none' })
  t.after(() => Promise.all([log.close(), other.close()]))
  await log.createTopic('t')
  await other.createTopic('t')
  const producer = log.producer({ transactionalId: 'tx' })
  await assert.rejects(producer.send('t', { value: 'x' }), { code: 'ERR_INVALID_TXN_STATE', message: /inside producer\.transaction/ })
  await assert.rejects(producer.transaction(async () => {
    await producer.transaction(async () => {})
  }), { code: 'ERR_INVALID_TXN_STATE', message: /do not nest/ })
  await assert.rejects(log.producer().transaction(async () => {}), { code: 'ERR_INVALID_TXN_STATE', message: /transactionalId/ })
  await assert.rejects(producer.transaction('not a function'), { name: 'TypeError', code: 'ERR_INVALID_ARG' })
  let kept
  await producer.transaction(async (tx) => { kept = tx })
  await assert.rejects(kept.send('t', { value: 'late' }), { code: 'ERR_INVALID_TXN_STATE', message: /over/ })
  const manual = log.consumer({ assign: [{ topic: 't', partition: 0 }] })
  await assert.rejects(producer.transaction((tx) => tx.sendOffsets(manual)), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /group consumer/ })
  const foreign = other.consumer({ groupId: 'g', topics: ['t'] })
  await assert.rejects(producer.transaction((tx) => tx.sendOffsets(foreign)), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /same log/ })
  await assert.rejects(producer.transaction((tx) => tx.sendOffsets({})), { code: 'ERR_INVALID_ARG' })
  await Promise.all([manual.close(), foreign.close()])
  for (const bad of ['', 'a/b', '..', 42, null]) {
    assert.throws(() => log.producer({ transactionalId: bad }), { name: 'TypeError', code: 'ERR_INVALID_ARG' }, String(bad))
  }
  for (const bad of [0, -1, 1.5, 15 * 60_000 + 1, NaN, '1000']) {
    assert.throws(() => log.producer({ transactionalId: 'tx2', transactionTimeoutMs: bad }), { name: 'TypeError', code: 'ERR_INVALID_ARG' }, String(bad))
  }
  assert.throws(() => log.producer({ transactionTimeoutMs: 1000 }), { code: 'ERR_INVALID_ARG', message: /needs a transactionalId/ })
  assert.throws(() => log.consumer({ isolation: 'serializable', assign: [{ topic: 't', partition: 0 }] }), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /read_committed/ })
  // Fenced: every later use fails with ERR_FENCED.
  log.producer({ transactionalId: 'tx' })
  await assert.rejects(producer.transaction(async () => {}), { code: 'ERR_FENCED' })
  await assert.rejects(producer.send('t', { value: 'x' }), { code: 'ERR_FENCED' })
  await producer.close()
  await assert.rejects(producer.transaction(async () => {}), { code: 'ERR_CLOSED' })
})

test('the CLI consumes read_committed by default, --isolation read_uncommitted shows aborted records, topics shows the LSO', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t')
  const producer = log.producer({ transactionalId: 'cli' })
  await producer.transaction((tx) => tx.send('t', { value: 'kept' }))
  await producer.transaction(async (tx) => { await tx.send('t', { value: 'dropped' }); throw new Error('abort') }).catch(() => {})
  const holder = child('txn-holder.js', [dir, 'open', 'o', '1'])
  await until(holder, (m) => m.sent)
  const caldo = (...args) => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'caldo.js'), ...args, '--dir', dir], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout
  }
  // It stops at the open transaction instead of waiting for it.
  assert.equal(caldo('consume', 't', '--from-beginning'), 'kept\n')
  assert.equal(caldo('consume', 't', '--from-beginning', '--isolation', 'read_uncommitted'), 'kept\ndropped\no0\n')
  const [p] = JSON.parse(caldo('topics', '--json'))[0].partitions
  assert.deepEqual([p.lso, p.high], [4, 5])
  assert.match(caldo('topics'), /^t\s+0\s+0\s+5\s+4\s/m)
  const bad = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'caldo.js'), 'consume', 't', '--isolation', 'dirty', '--dir', dir], { encoding: 'utf8' })
  assert.equal(bad.status, 2)
  holder.proc.kill('SIGKILL')
  await holder.done
})

// Resolves at `s`'s next { inTxn } message, or after 2 s (a member may hold no partition).
function insideTransaction (s) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, 2000)
    function done () {
      clearTimeout(timer)
      s.proc.off('message', seen)
      resolve()
    }
    function seen (m) { if (m.inTxn) done() }
    s.proc.on('message', seen)
  })
}

test('a consume → transform → produce pipeline of three processes killed at random for 30 s: each input exactly once', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('in', { partitions: 4 })
  await log.createTopic('out', { partitions: 4 })
  const random = rng(12)
  const services = new Map()
  const start = (i) => {
    const s = child('eos-service.js', [dir, String(i)])
    services.set(i, s)
    return until(s, (m) => m.ready !== undefined)
  }
  await Promise.all([0, 1, 2].map(start))
  const KEYS = 16
  const feeder = log.producer()
  let sent = 0
  let kills = 0
  const end = Date.now() + 30_000
  let nextKill = Date.now() + 500 + random(1500)
  while (Date.now() < end) {
    await feeder.sendBatch('in', Array.from({ length: 10 }, () => {
      const k = sent % KEYS
      return { key: `k${k}`, value: `k${k}:${Math.floor(sent++ / KEYS)}` }
    }))
    if (Date.now() >= nextKill) {
      const i = random(3)
      // Every other kill lands inside a transaction, after its send (the service pauses
      // there): its records must then show read_uncommitted only. The others land anywhere.
      if (kills % 2 === 1) await insideTransaction(services.get(i))
      services.get(i).proc.kill('SIGKILL')
      await services.get(i).done
      kills++
      await start(i)
      nextKill = Date.now() + 500 + random(1500)
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  // Let the survivors drain the input: every input's output committed.
  let committed
  for (;;) {
    committed = await readAll(log, 'out', 'read_committed')
    if (committed.records.length >= sent) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  for (const s of services.values()) s.proc.kill('SIGKILL')
  assert.ok(kills >= 10, `killed ${kills} times`)
  const seen = new Map()
  const lastPerKey = new Map()
  for (const m of committed.records) {
    seen.set(m.value, (seen.get(m.value) ?? 0) + 1)
    const [key, n] = m.value.split(':')
    assert.equal(m.key, key.toLowerCase())
    const prev = lastPerKey.get(key) ?? -1
    assert.equal(Number(n), prev + 1, `${key}: in order, no gap, no repeat`)
    lastPerKey.set(key, Number(n))
  }
  assert.equal(seen.size, sent, 'every input has its output')
  for (const [v, n] of seen) assert.equal(n, 1, `${v} once`)
  const all = await readAll(log, 'out', 'read_uncommitted')
  t.diagnostic(`${sent} inputs, ${kills} kills, ${all.records.length - committed.records.length} aborted outputs`)
  assert.ok(all.records.length > committed.records.length, `the aborted attempts show read_uncommitted (${all.records.length} against ${committed.records.length})`)
})
