'use strict'
// log.table(): a topic read into a live, read-only, Map-like view, following appends
// from other processes, rebuilt on restart, with coded errors for bad input.
const test = require('node:test')
const assert = require('node:assert/strict')
const { open, serde, Table, CaldoError } = require('..')
const { tmpdir, child, until } = require('./helpers')

// The last value per key, from records in log order; tombstones delete, keyless records do not count.
function model (records) {
  const byPartition = new Map()
  for (const r of records) {
    if (!byPartition.has(r.partition)) byPartition.set(r.partition, [])
    byPartition.get(r.partition).push(r)
  }
  const state = new Map()
  for (const rs of byPartition.values()) {
    for (const r of rs.sort((a, b) => a.offset - b.offset)) {
      if (r.key === null) continue
      if (r.value === null) state.delete(r.key)
      else state.set(r.key, r.value)
    }
  }
  return state
}
const sorted = (entries) => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
const written = (c) => c.messages.filter((m) => m.offset !== undefined)

test('a table follows appends from another process: change events in log order, get() reflects them', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('state', { partitions: 3 })
  const table = log.table('state', { key: serde.string, value: serde.json })
  assert.ok(table instanceof Table)
  assert.equal(await table.ready(), table)
  assert.equal(table.size, 0)

  const changes = []
  table.on('change', (e) => {
    // The table already holds the change when the event is emitted.
    assert.deepEqual(table.get(e.key), e.value)
    changes.push(e)
  })
  const writer = child('table-writer.js', [dir, 'state', '7', '400'])
  assert.equal((await writer.done).code, 0)
  await table.ready()
  const records = written(writer)
  assert.equal(records.length, 400)
  const expected = model(records)
  assert.deepEqual(sorted(table), sorted(expected))
  assert.equal(table.size, expected.size)
  for (const [k, v] of expected) {
    assert.ok(table.has(k))
    assert.deepEqual(table.get(k), v)
  }
  assert.equal(table.get('never-written'), undefined)

  // One event per record that changed the table, in offset order per partition.
  const lastOffset = new Map()
  for (const e of changes) {
    assert.ok((lastOffset.get(e.partition) ?? -1) < e.offset, 'events in log order per partition')
    lastOffset.set(e.partition, e.offset)
  }
  const byId = new Map(records.map((r) => [`${r.partition}:${r.offset}`, r]))
  for (const e of changes) {
    const r = byId.get(`${e.partition}:${e.offset}`)
    assert.equal(e.key, r.key)
    assert.deepEqual(e.value, r.value === null ? undefined : r.value)
  }
  // Replaying the events gives the table: each carries what it replaced.
  const replay = new Map()
  for (const e of changes) {
    assert.deepEqual(e.previous, replay.get(e.key))
    if (e.value === undefined) replay.delete(e.key)
    else replay.set(e.key, e.value)
  }
  assert.deepEqual(sorted(replay), sorted(expected))
  // Every keyed record is an event, except a tombstone for a key the table did not hold.
  const held = new Set()
  let events = 0
  for (const r of [...records].sort((x, y) => x.partition - y.partition || x.offset - y.offset)) {
    if (r.key === null || (r.value === null && !held.has(r.key))) continue
    events++
    if (r.value === null) held.delete(r.key)
    else held.add(r.key)
  }
  assert.equal(changes.length, events)
})

test('a table in a process killed with SIGKILL is rebuilt on restart to the same state', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('state', { partitions: 4 })
  const first = child('table-follower.js', [dir, 'state'])
  assert.deepEqual((await until(first, (m) => m.ready)).entries, [])

  const a = child('table-writer.js', [dir, 'state', '11', '600'])
  assert.equal((await a.done).code, 0)
  first.proc.send('dump')
  const { dump } = await until(first, (m) => m.dump)
  assert.deepEqual(sorted(dump), sorted(model(written(a))), 'the follower holds the last value per key')
  first.proc.kill('SIGKILL')
  assert.equal((await first.done).signal, 'SIGKILL')

  // More writes while no table runs, then a restart reads everything from the log again.
  const b = child('table-writer.js', [dir, 'state', '12', '600'])
  assert.equal((await b.done).code, 0)
  const expected = sorted(model([...written(a), ...written(b)]))
  const second = child('table-follower.js', [dir, 'state'])
  const { entries } = await until(second, (m) => m.ready)
  assert.deepEqual(sorted(entries), expected)
  // And an in-process table agrees.
  const here = await log.table('state', { key: serde.string, value: serde.json }).ready()
  assert.deepEqual(sorted(here), expected)
  second.proc.send('stop')
  assert.equal((await second.done).code, 0)
})

test('a tombstone removes its key; keyless records are skipped', async (t) => {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('users', { partitions: 2 })
  const p = log.producer({ key: serde.json, value: serde.json })
  await p.sendBatch('users', [
    { key: { id: 1 }, value: { name: 'ada' } },
    { key: { id: 2 }, value: { name: 'bob' } },
    { key: null, value: { name: 'nobody' } }
  ])
  const table = await log.table('users', { key: serde.json, value: serde.json }).ready()
  assert.equal(table.size, 2)
  assert.deepEqual(table.get({ id: 1 }), { name: 'ada' })
  const changes = []
  table.on('change', (e) => changes.push(e))
  const md = await p.send('users', { key: { id: 1 }, value: null })
  await table.ready()
  assert.equal(table.has({ id: 1 }), false)
  assert.equal(table.get({ id: 1 }), undefined)
  assert.equal(table.size, 1)
  assert.deepEqual([...table.keys()], [{ id: 2 }])
  assert.deepEqual(changes, [{ key: { id: 1 }, value: undefined, previous: { name: 'ada' }, partition: md.partition, offset: md.offset }])
  // A tombstone for a key the table does not hold changes nothing and emits nothing.
  await p.send('users', { key: { id: 9 }, value: null })
  await table.ready()
  assert.equal(changes.length, 1)
  // The key comes back with its next value.
  await p.send('users', { key: { id: 1 }, value: { name: 'ada 2' } })
  await table.ready()
  assert.deepEqual(table.get({ id: 1 }), { name: 'ada 2' })
  const seen = []
  table.forEach(function (value, key, map) { seen.push([key, value, map === table, this]) }, 'self')
  assert.deepEqual(seen.sort((x, y) => x[0].id - y[0].id), [[{ id: 1 }, { name: 'ada 2' }, true, 'self'], [{ id: 2 }, { name: 'bob' }, true, 'self']])
  assert.deepEqual(new Map(table.entries()).size, 2)
  assert.deepEqual([...table.values()].map((x) => x.name).sort(), ['ada 2', 'bob'])
})

test('ready() resolves on an empty topic, and on one whose partitions are partly empty', async (t) => {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('empty', { partitions: 3 })
  const empty = log.table('empty')
  assert.equal(await empty.ready(), empty)
  assert.deepEqual([...empty], [])
  await log.createTopic('some', { partitions: 3 })
  await log.producer().send('some', { key: 'k', value: 'v', partition: 1 })
  const some = await log.table('some').ready()
  // Without serdes, keys and values are Buffers, copied out of the fetch; a key can be given as bytes or a string.
  assert.deepEqual(some.get('k'), Buffer.from('v'))
  assert.ok(some.has(Buffer.from('k')))
  assert.ok(Buffer.isBuffer([...some.keys()][0]))
  // ready() called twice at once, and again when there is nothing new.
  await Promise.all([some.ready(), some.ready()])
  await some.ready()
})

test('closing the table or the log ends it: pending ready() rejects with ERR_CLOSED, reads keep the last state', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  await log.createTopic('t')
  await log.producer().send('t', { key: 'a', value: '1' })
  const table = await log.table('t', { key: serde.string, value: serde.string }).ready()
  const other = log.table('t')
  await log.close()
  await assert.rejects(table.ready(), { code: 'ERR_CLOSED' })
  await assert.rejects(other.ready(), { code: 'ERR_CLOSED' })
  assert.equal(table.get('a'), '1')
  assert.throws(() => log.table('t'), { code: 'ERR_CLOSED' })

  const log2 = await open(dir)
  t.after(() => log2.close())
  const t2 = log2.table('t', { value: serde.string })
  assert.equal((await t2.ready()).get('a'), '1')
  await t2[Symbol.asyncDispose]()
  await assert.rejects(t2.ready(), { code: 'ERR_CLOSED' })
  const t3 = log2.table('t')
  const pending = assert.rejects(t3.ready(), { code: 'ERR_CLOSED' })
  await t3.close()
  await t3.close()
  await pending
})

test('bad input gets coded errors', async (t) => {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  for (const topic of [undefined, null, 5, {}, [], Symbol('x'), 10n]) {
    assert.throws(() => log.table(topic), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_TOPIC', String(typeof topic))
  }
  for (const opts of [null, 5, 'x', [], { keys: serde.json }, { key: 5 }, { value: {} }, { value: { serialize () {} } }, { key: serde.json, value: () => {} }]) {
    assert.throws(() => log.table('t', opts), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG', JSON.stringify(opts))
  }
  const trap = new Proxy({}, { ownKeys () { throw new Error('trap') } })
  assert.throws(() => log.table('t', trap), { code: 'ERR_INVALID_ARG' })

  await assert.rejects(log.table('missing').ready(), (e) => e instanceof CaldoError && e.code === 'ERR_UNKNOWN_TOPIC')
  await assert.rejects(log.table('a/b').ready(), { code: 'ERR_INVALID_TOPIC' })
  await assert.rejects(log.table('').ready(), { code: 'ERR_INVALID_TOPIC' })

  const table = await log.table('t', { key: serde.json }).ready()
  assert.throws(() => table.get(undefined), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => table.has(10n), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => table.forEach(5), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => { table.size = 3 }, TypeError)

  // A record the value serde cannot read stops the table: ready() rejects with where it is,
  // 'error' is emitted to listeners, and the records before it were applied.
  const p = log.producer()
  await p.send('t', { key: '"good"', value: '{"n":1}', partition: 0 })
  const bad = await p.send('t', { key: '"bad"', value: 'not json', partition: 0 })
  const strict = log.table('t', { key: serde.json, value: serde.json })
  const emitted = new Promise((resolve) => strict.once('error', resolve))
  const err = await strict.ready().catch((e) => e)
  assert.equal(err.code, 'ERR_DESERIALIZE')
  assert.deepEqual([err.topic, err.partition, err.offset], ['t', 0, bad.offset])
  assert.ok(err.cause instanceof SyntaxError)
  assert.equal(await emitted, err)
  assert.deepEqual(strict.get('good'), { n: 1 })
  await assert.rejects(strict.ready(), { code: 'ERR_DESERIALIZE' })
})
