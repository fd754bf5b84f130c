'use strict'
// The batch layout across the native boundary, through the public API: records of every
// shape, sent with send and sendBatch in one tick, read back field for field with
// `for await`, with batches() and with batches({ view: true }).
const test = require('node:test')
const assert = require('node:assert/strict')
const { open } = require('..')
const { tmpdir } = require('./helpers')

const PARTITIONS = 3

// Deterministic bytes of every value 0..255.
const bytes = (n, seed) => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff
  return b
}

function shapes (round, big) {
  const many = {}
  for (let i = 0; i < 100; i++) many[`h-${i}`] = i % 10 === 0 ? null : bytes(i, i + round)
  const recs = [
    { key: null, value: `null key ${round}` },
    { key: Buffer.alloc(0), value: `empty key ${round}` },
    { key: `tombstone-${round}`, value: null },
    { key: `empty-value-${round}`, value: Buffer.alloc(0) },
    { key: null, value: null },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: {} },
    { key: `unicode-${round}`, value: 'ünïcödé 値 🎉', headers: { 'ключ-名-🔑': 'значение-値-🎉', é: Buffer.from([0, 1, 2, 255]) } },
    { value: 'empty header values', headers: { empty: '', 'empty-buffer': Buffer.alloc(0), none: null, u8: new Uint8Array([9, 8, 7]) } },
    { value: 'many headers', headers: many },
    { key: 'explicit partition', value: bytes(300, round), partition: 2 },
    { key: 'ts 0', value: 'timestamp zero', timestamp: 0, partition: 1 },
    { key: 'ts max', value: 'timestamp 2**53-1', timestamp: 2 ** 53 - 1, partition: 0 },
    { key: bytes(50, round), value: bytes(70, round + 1), headers: { a: 'b' }, partition: 1, timestamp: 1_234_567_890_123 }
  ]
  if (big) recs.push({ key: 'big', value: bytes((1 << 20) - 4096, round), headers: { size: 'about 1 MiB' } })
  return recs
}

// What a record reads back as: keys and values as Buffers (or null), every header value a Buffer (or null).
const asBuf = (v) => v === null || v === undefined ? null : Buffer.from(typeof v === 'string' ? Buffer.from(v, 'utf8') : v)
function expected (r, md, topic) {
  const headers = {}
  for (const [k, v] of Object.entries(r.headers || {})) headers[k] = asBuf(v)
  return { topic, partition: md.partition, offset: md.offset, timestamp: md.timestamp, key: asBuf(r.key), value: asBuf(r.value), headers }
}

function same (m, want, how) {
  const where = `${how} ${m.partition}:${m.offset}`
  assert.equal(m.topic, want.topic, where)
  assert.equal(m.partition, want.partition, where)
  assert.equal(m.offset, want.offset, where)
  assert.equal(m.timestamp, want.timestamp, `${where}: timestamp`)
  for (const f of ['key', 'value']) {
    if (want[f] === null) assert.equal(m[f], null, `${where}: ${f} is null`)
    else {
      assert.ok(Buffer.isBuffer(m[f]), `${where}: ${f} is a Buffer`)
      assert.ok(m[f].equals(want[f]), `${where}: ${f} bytes (${m[f].length} against ${want[f].length})`)
    }
  }
  assert.deepEqual(Object.keys(m.headers), Object.keys(want.headers), `${where}: header names, in order`)
  for (const [k, v] of Object.entries(want.headers)) {
    if (v === null) assert.equal(m.headers[k], null, `${where}: header ${k} is null`)
    else {
      assert.ok(Buffer.isBuffer(m.headers[k]), `${where}: header ${k} is a Buffer`)
      assert.ok(m.headers[k].equals(v), `${where}: header ${k} bytes`)
    }
  }
}

test('every record shape, sent with send and sendBatch in one tick, reads back identical with for await, batches() and batch views', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  const topic = 'wire'
  await log.createTopic(topic, { partitions: PARTITIONS, maxMessageBytes: 2 << 20 })
  const p = log.producer()
  const want = new Map() // "p:o" -> expected message

  // Round 0 carries a 1 MiB value (the large-append path), round 1 only small records.
  for (const [round, big] of [[0, true], [1, false]]) {
    const recs = shapes(round, big)
    // In one tick: alternately single sends and batches of 1 to 3 records.
    const pending = []
    for (let i = 0; i < recs.length;) {
      if (i % 2 === 0) {
        const r = recs[i]
        pending.push(p.send(topic, r).then((md) => [[r, md]]))
        i++
      } else {
        const chunk = recs.slice(i, i + 1 + (i % 3))
        pending.push(p.sendBatch(topic, chunk).then((mds) => mds.map((md, k) => [chunk[k], md])))
        i += chunk.length
      }
    }
    for (const [r, md] of (await Promise.all(pending)).flat()) {
      assert.equal(md.topic, topic)
      if (r.partition !== undefined) assert.equal(md.partition, r.partition, 'an explicit partition is kept')
      if (r.timestamp !== undefined) assert.equal(md.timestamp, r.timestamp, 'an explicit timestamp is kept')
      const id = `${md.partition}:${md.offset}`
      assert.ok(!want.has(id), `${id} placed once`)
      want.set(id, expected(r, md, topic))
    }
  }
  const total = want.size
  assert.equal(total, shapes(0, true).length + shapes(1, false).length)
  const highs = (await log.topics()).find((x) => x.name === topic).partitions.map((x) => x.high)
  assert.equal(highs.reduce((s, h) => s + h, 0), total, 'nothing else was written')

  const assign = Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition, offset: 'earliest' }))

  const viaIterator = new Map()
  const c1 = log.consumer({ assign })
  for await (const m of c1) {
    same(m, want.get(`${m.partition}:${m.offset}`) ?? assert.fail(`unexpected ${m.partition}:${m.offset}`), 'for await')
    viaIterator.set(`${m.partition}:${m.offset}`, m)
    if (viaIterator.size === total) break
  }

  for (const maxMessages of [1, 3, 1000]) {
    const viaBatches = new Map()
    const c2 = log.consumer({ assign })
    for await (const batch of c2.batches({ maxMessages })) {
      assert.ok(batch.length >= 1 && batch.length <= maxMessages, `a batch of 1 to ${maxMessages}`)
      for (const m of batch) {
        same(m, want.get(`${m.partition}:${m.offset}`) ?? assert.fail(`unexpected ${m.partition}:${m.offset}`), `batches(${maxMessages})`)
        assert.ok(!viaBatches.has(`${m.partition}:${m.offset}`), 'each record once')
        viaBatches.set(`${m.partition}:${m.offset}`, m)
      }
      if (viaBatches.size === total) break
    }
    assert.deepEqual([...viaBatches.keys()].sort(), [...want.keys()].sort())
  }
  for (const maxMessages of [1, 3, 1000]) {
    const viaView = new Map()
    const c3 = log.consumer({ assign })
    for await (const view of c3.batches({ maxMessages, view: true })) {
      assert.ok(view.length >= 1 && view.length <= maxMessages, `a view of 1 to ${maxMessages}`)
      const iterated = [...view]
      assert.equal(iterated.length, view.length, 'iterating a view gives its length of messages')
      for (let i = 0; i < view.length; i++) {
        const lazy = { topic: view.topic(i), partition: view.partition(i), offset: view.offset(i), timestamp: view.timestamp(i), key: view.key(i), value: view.value(i), headers: view.headers(i) }
        const id = `${lazy.partition}:${lazy.offset}`
        same(lazy, want.get(id) ?? assert.fail(`unexpected ${id}`), `view(${maxMessages}) fields`)
        same(view.message(i), want.get(id), `view(${maxMessages}).message(i)`)
        same(iterated[i], want.get(id), `view(${maxMessages}) iterated`)
        assert.ok(!viaView.has(id), 'each record once')
        viaView.set(id, lazy)
      }
      if (viaView.size === total) break
    }
    assert.deepEqual([...viaView.keys()].sort(), [...want.keys()].sort())
  }
  assert.deepEqual([...viaIterator.keys()].sort(), [...want.keys()].sort())
  // Offsets in each partition are dense from 0.
  for (let q = 0; q < PARTITIONS; q++) {
    const offs = [...want.keys()].filter((k) => k.startsWith(`${q}:`)).map((k) => Number(k.split(':')[1])).sort((a, b) => a - b)
    assert.deepEqual(offs, Array.from({ length: highs[q] }, (_, i) => i), `partition ${q}: offsets 0..${highs[q] - 1}`)
  }
})

test('appends of growing and shrinking size, one after another, each report their own partition and offsets', async (t) => {
  // Sync appends share the producer's reused arrays (grown past 16 records, left for fresh
  // ones past 1,024): each send's placements must be its own, read before the next send.
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('sizes', { partitions: PARTITIONS })
  const p = log.producer()
  const next = [0, 0, 0]
  for (const [k, n] of [1, 3, 17, 1024, 1025, 2, 5000, 1].entries()) {
    const recs = Array.from({ length: n }, (_, i) => ({ value: `${k}:${i}`, partition: (k + i) % PARTITIONS }))
    const mds = n === 1 ? [await p.send('sizes', recs[0])] : await p.sendBatch('sizes', recs)
    assert.equal(mds.length, n)
    mds.forEach((md, i) => {
      assert.equal(md.partition, recs[i].partition, `send ${k}, record ${i}: its partition`)
      assert.equal(md.offset, next[md.partition]++, `send ${k}, record ${i}: the next offset of its partition`)
    })
  }
  const highs = (await log.topics()).find((x) => x.name === 'sizes').partitions.map((x) => x.high)
  assert.deepEqual(highs, next)
})
