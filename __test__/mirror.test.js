'use strict'
// caldo mirror: every case copies from a local log through a middle log and back to a
// local one, compared record by record. The middle is a local log, and a real
// single-node Kafka (KRaft) that this file starts and stops (each case keeps its topics,
// groups and mirror id apart there with a prefix of its own). The Kafka cases fail,
// never skip, when the broker cannot start.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const readline = require('node:readline')
const { spawn, spawnSync } = require('node:child_process')
const caldo = require('../index.js')
const { tmpdir, rng } = require('./helpers.js')
const { startBroker } = require('../scripts/kafka-broker.js')

const BIN = path.join(__dirname, '..', 'bin', 'caldo.js')
const env = { ...process.env, NO_COLOR: '1', CALDO_DIR: '' }
const MIDDLES = ['local', 'kafka']
let broker = null
test.before(async () => { broker = await startBroker() }, { timeout: 180_000 })
test.after(() => broker?.stop())
const STATE_TOPIC = '_caldo_mirror'

let seq = 0
// Where a case's logs live, and the names and mirror options that keep it apart.
function setup (t, middle) {
  const prefix = `m${process.pid}-${seq++}-`
  const name = (n) => prefix + n
  return {
    a: tmpdir(t),
    b: middle === 'kafka' ? broker.url : tmpdir(t),
    c: tmpdir(t),
    name,
    // The source id defaults to the source's path or URL; a shared cluster needs one per case.
    opts: (from) => ({ topics: [prefix + '*'], groups: [prefix + '*'], id: prefix + (broker && from === broker.url ? 'kafka' : 'local') })
  }
}

async function withLog (where, fn) {
  const log = await caldo.open(where)
  try { return await fn(log) } finally { await log.close() }
}

const hex = (b) => (b === null ? null : b.toString('hex'))

// Every committed record of the topics, per partition in offset order, without offsets.
async function readAll (where, names) {
  return withLog(where, async (log) => {
    const out = {}
    for (const t of (await log.topics()).filter((t) => names.includes(t.name))) {
      out[t.name] = []
      for (const p of t.partitions) out[t.name].push((await readPartition(log, t.name, p.partition, p.lso)).map((m) => m.rec))
    }
    return out
  })
}

async function readPartition (log, topic, partition, end, from = 'earliest') {
  const recs = []
  const c = log.consumer({ assign: [{ topic, partition, offset: from }] })
  if ((await c.lag())[0].offset >= end) { await c.close(); return recs }
  for await (const b of c.batches({ maxWaitMs: 100 })) {
    for (const m of b) {
      const headers = {}
      for (const [k, v] of Object.entries(m.headers)) headers[k] = hex(v)
      recs.push({ offset: m.offset, rec: { key: hex(m.key), value: hex(m.value), headers, timestamp: m.timestamp } })
    }
    if ((await c.lag())[0].offset >= end) break
  }
  await c.close()
  return recs
}

// Keys, keyless records, tombstones, headers (empty and null ones), timestamps out of
// order, a committed and an aborted transaction; a compacted topic with its config.
async function fillSource (dir, name) {
  const r = rng(7)
  await withLog(dir, async (log) => {
    await log.createTopic(name('orders'), { partitions: 3, retentionMs: 3_600_000, segmentBytes: 1 << 20 })
    await log.createTopic(name('users'), { partitions: 2, cleanupPolicy: 'compact', minCompactionLagMs: 60_000, maxMessageBytes: 100_000 })
    const p = log.producer()
    const recs = Array.from({ length: 3000 }, (_, i) => ({
      key: i % 10 === 0 ? null : `k${r(50)}`,
      value: i % 97 === 0 ? null : Buffer.from(Array.from({ length: r(200) }, () => r(256))),
      headers: i % 3 === 0 ? { trace: `t${i}`, empty: '', none: null } : undefined,
      timestamp: 1_700_000_000_000 + r(1_000_000)
    }))
    await p.sendBatch(name('orders'), recs)
    await p.sendBatch(name('users'), recs.filter((x) => x.key !== null).map((x, i) => ({ ...x, partition: i % 2 })))
    const tp = log.producer({ transactionalId: name('txn') })
    await tp.transaction((tx) => tx.sendBatch(name('orders'), [{ key: 'in', value: 'committed' }, { key: 'in2', value: 'committed' }]))
    await tp.transaction(async (tx) => { await tx.send(name('orders'), { key: 'out', value: 'aborted' }); throw new Error('abort') }).catch(() => {})
    await p.sendBatch(name('orders'), [{ key: 'after', value: 'the aborted one', partition: 0 }])
    await tp.close()
    await p.close()
  })
}

const mirror = (from, to, opts) => caldo.mirror({ from, to, ...opts })

for (const middle of MIDDLES) {
  test(`local → ${middle} → local: topics with their config and partitions, records with keys, headers and timestamps in order`, async (t) => {
    const s = setup(t, middle)
    await fillSource(s.a, s.name)
    const names = [s.name('orders'), s.name('users')]
    const there = await mirror(s.a, s.b, s.opts(s.a))
    assert.equal(there.records, 3000 + 2700 + 3, 'the aborted record is not copied')
    assert.deepEqual(there.topics.map((x) => [x.name, x.partitions, x.created]), [[names[0], 3, true], [names[1], 2, true]])
    const back = await mirror(s.b, s.c, s.opts(s.b))
    assert.equal(back.records, there.records)
    const a = await readAll(s.a, names)
    assert.equal(a[names[0]].flat().length, 3003)
    assert.deepEqual(await readAll(s.b, names), a)
    assert.deepEqual(await readAll(s.c, names), a)
    const configs = (where) => withLog(where, async (log) => (await log.topics()).filter((x) => names.includes(x.name)).map((x) => x.config))
    assert.deepEqual(await configs(s.b), await configs(s.a))
    assert.deepEqual(await configs(s.c), await configs(s.a))
    // Again: nothing new at the source, nothing copied.
    assert.equal((await mirror(s.a, s.b, s.opts(s.a))).records, 0)
    assert.deepEqual(await readAll(s.b, names), a)
    // The mirror's own topic never travels on: the last log's holds its own mirror's progress only.
    const ids = await withLog(s.c, async (log) => {
      const end = (await log.topics()).find((x) => x.name === STATE_TOPIC).partitions[0].lso
      return (await readPartition(log, STATE_TOPIC, 0, end)).map((m) => JSON.parse(Buffer.from(m.rec.key, 'hex'))[0])
    })
    assert.ok(ids.length > 0)
    assert.deepEqual(new Set(ids), new Set([s.opts(s.b).id]))
  })

  test(`local → ${middle} → local: group offsets translated across gaps (deleted records, markers, aborted records, compaction) and a target that had records`, async (t) => {
    const s = setup(t, middle)
    const topic = s.name('events')
    const compacted = s.name('latest')
    const sources = new Map()
    await withLog(s.a, async (log) => {
      await log.createTopic(topic, { partitions: 2 })
      await log.createTopic(compacted, { partitions: 1, cleanupPolicy: 'compact', segmentBytes: 4096 })
      const p = log.producer()
      await p.sendBatch(topic, Array.from({ length: 50 }, (_, i) => ({ value: `a${i}`, partition: 0 })))
      await p.sendBatch(topic, Array.from({ length: 5 }, (_, i) => ({ value: `b${i}`, partition: 1 })))
      await log.deleteRecords(topic, 0, 20)
      const tp = log.producer({ transactionalId: s.name('txn') })
      await tp.transaction((tx) => tx.sendBatch(topic, Array.from({ length: 10 }, (_, i) => ({ value: `c${i}`, partition: 0 })))) // 50..59, marker 60
      await tp.transaction(async (tx) => { await tx.sendBatch(topic, [{ value: 'x', partition: 0 }, { value: 'y', partition: 0 }]); throw new Error('abort') }).catch(() => {}) // 61, 62, marker 63
      await tp.close()
      await p.sendBatch(topic, Array.from({ length: 10 }, (_, i) => ({ value: `d${i}`, partition: 0 }))) // 64..73
      // Appends of 20 records, so that segments roll.
      for (let i = 0; i < 400; i += 20) await p.sendBatch(compacted, Array.from({ length: 20 }, (_, j) => ({ key: `k${(i + j) % 20}`, value: `v${i + j}`.padEnd(60, '.') })))
      await log.clean()
      // The copies keep every record they get, so that this test can read them at the translated offsets.
      await log.alterTopic(compacted, { cleanupPolicy: 'delete' })
      const low = (await log.topics()).find((x) => x.name === compacted).partitions[0]
      assert.ok(low.high === 400)
      // Where each group stands at the source: below the log start, at it, in the middle,
      // on the commit marker, on an aborted record, on the abort marker, at the end.
      const at = { below: 5, start: 20, middle: 33, marker: 60, aborted: 62, abortMarker: 63, end: 74 }
      for (const [g, offset] of Object.entries(at)) await log.setGroupOffsets(s.name(g), [{ topic, partition: 0, offset }, { topic, partition: 1, offset: 3 }])
      // Compaction left gaps: a group on an offset it removed.
      const kept = (await readPartition(log, compacted, 0, 400)).map((m) => m.offset)
      const removed = [...Array(400).keys()].filter((o) => !kept.includes(o)).at(-1)
      assert.ok(removed !== undefined, 'compaction removed records')
      await log.setGroupOffsets(s.name('compacted'), [{ topic: compacted, partition: 0, offset: removed }])
      for (const g of (await log.groups()).filter((x) => x.groupId.startsWith(s.name('')))) sources.set(g.groupId, g.offsets)
      // A group with a live member at the target keeps its offsets.
      await log.setGroupOffsets(s.name('active'), [{ topic, partition: 0, offset: 40 }])
    })
    // The target had records of its own: offsets there differ from the source's.
    await withLog(s.b, async (log) => {
      await log.createTopic(topic, { partitions: 2 })
      await log.producer().sendBatch(topic, Array.from({ length: 7 }, (_, i) => ({ value: `z${i}`, partition: 0 })))
    })
    const member = await caldo.open(s.b)
    t.after(() => member.close())
    const live = member.consumer({ groupId: s.name('active'), topics: [topic] })
    // Joined: a Kafka member joins after the constructor returns.
    await live.committed()
    const there = await mirror(s.a, s.b, s.opts(s.a))
    assert.deepEqual(there.groups.skipped.map((x) => x.groupId), [s.name('active')])
    assert.match(there.groups.skipped[0].reason, /live members at the target/)
    await live.close()
    await mirror(s.b, s.c, s.opts(s.b))
    // At the target, each group stands on the first copied record at or after its source
    // offset: the same value. Past the last one, at the end.
    for (const where of [s.b, s.c]) {
      await withLog(where, async (log) => {
        const target = new Map((await log.groups()).map((g) => [g.groupId, g.offsets]))
        if (where === s.b) assert.ok(target.get(s.name('active')).every((x) => x.committed === null), 'not copied while live')
        for (const [g, offsets] of sources) {
          for (const o of offsets) {
            const got = target.get(g).find((x) => x.topic === o.topic && x.partition === o.partition)
            const srcFirst = await withLog(s.a, async (a) => (await readPartition(a, o.topic, o.partition, o.high, o.committed))[0]?.rec)
            const dstFirst = (await readPartition(log, o.topic, o.partition, got.high, got.committed))[0]?.rec
            assert.deepEqual(dstFirst, srcFirst, `${g} ${o.topic}/${o.partition}: source ${o.committed}, target ${got.committed}`)
          }
        }
      })
    }
  })

  test(`local → ${middle}: kill -9 of the mirror process at random moments, then resume: no record twice, none lost`, async (t) => {
    const s = setup(t, middle)
    const topic = s.name('bulk')
    await withLog(s.a, async (log) => {
      await log.createTopic(topic, { partitions: 3 })
      const p = log.producer()
      for (let i = 0; i < 60; i++) await p.sendBatch(topic, Array.from({ length: 2000 }, (_, j) => ({ key: `k${j % 101}`, value: `${i}-${j}`.padEnd(100, '#') })))
    })
    const expected = await readAll(s.a, [topic])
    const o = s.opts(s.a)
    const args = ['mirror', '--from', s.a, '--to', s.b, '--topics', o.topics[0], '--id', o.id, '--json']
    const r = rng(11)
    let partial = 0
    for (let kill = 0; kill < 4; kill++) {
      // Kill once the target has committed a random number of steps more.
      const before = await stateRecords(s.b)
      const c = run(t, args)
      if (await c.line((l) => l.event === 'start').catch(() => null)) await waitStateRecords(s.b, before + 1 + r(8), c.exit)
      c.proc.kill('SIGKILL')
      const { code, signal } = await c.exit
      // It may have finished first; it must not have failed.
      if (signal !== 'SIGKILL') { assert.equal(code, 0, c.err()); continue }
      // What is there is a prefix of each source partition: nothing twice, nothing skipped.
      const got = (await readAll(s.b, [topic]))[topic]
      got.forEach((recs, p) => assert.deepEqual(recs, expected[topic][p].slice(0, recs.length), `partition ${p} after kill ${kill}`))
      if (got.flat().length < expected[topic].flat().length) partial++
    }
    assert.ok(partial > 0, 'some kill landed in the middle of the copy')
    const c = run(t, args)
    const { code } = await c.exit
    assert.equal(code, 0, c.err())
    const lines = c.lines()
    assert.equal(lines[0].event, 'start')
    assert.equal(lines.at(-1).event, 'done')
    assert.deepEqual(await readAll(s.b, [topic]), expected)
  })

  test(`local → ${middle}: --follow copies records as they come, group offsets on stop, and stops cleanly on SIGTERM; --json`, async (t) => {
    const s = setup(t, middle)
    const topic = s.name('live')
    await withLog(s.a, (log) => log.createTopic(topic, { partitions: 2, retentionMs: 86_400_000 }))
    const o = s.opts(s.a)
    const c = run(t, ['mirror', '--from', s.a, '--to', s.b, '--topics', o.topics[0], '--groups', o.groups[0], '--id', o.id, '--follow', '--json'])
    await c.line((l) => l.event === 'start')
    const src = await caldo.open(s.a)
    t.after(() => src.close())
    const p = src.producer()
    for (let i = 0; i < 5; i++) await p.sendBatch(topic, Array.from({ length: 200 }, (_, j) => ({ key: `k${j}`, value: `${i}-${j}`, headers: { n: String(j) } })))
    // The target's topic fills up: a consumer there sleeps until the mirror writes.
    await withLog(s.b, async (log) => {
      const cons = log.consumer({ assign: [0, 1].map((partition) => ({ topic, partition, offset: 'earliest' })) })
      let n = 0
      for await (const b of cons.batches()) if ((n += b.length) >= 1000) break
    })
    await src.setGroupOffsets(s.name('g'), [{ topic, partition: 0, offset: 10 }, { topic, partition: 1, offset: 0 }])
    c.proc.kill('SIGTERM')
    const { code } = await c.exit
    assert.equal(code, 0, c.err())
    const lines = c.lines()
    const done = lines.at(-1)
    assert.equal(done.event, 'done')
    assert.equal(done.stopped, true)
    assert.equal(done.records, 1000)
    assert.deepEqual(done.groups.synced, [s.name('g')])
    assert.ok(lines.every((l) => typeof l.event === 'string'))
    assert.deepEqual(await readAll(s.b, [topic]), await readAll(s.a, [topic]))
    const g = await withLog(s.b, async (log) => (await log.groups()).find((x) => x.groupId === s.name('g')))
    const first = await withLog(s.a, async (log) => (await readPartition(log, topic, 0, 20, 10))[0].rec)
    const there = await withLog(s.b, async (log) => (await readPartition(log, topic, 0, g.offsets[0].high, g.offsets.find((x) => x.partition === 0).committed))[0].rec)
    assert.deepEqual(there, first)
  })
}

test('a second mirror of the same source into the same target fences the first, which stops with ERR_FENCED', async (t) => {
  const a = tmpdir(t)
  const b = tmpdir(t)
  await withLog(a, (log) => log.createTopic('t'))
  const first = run(t, ['mirror', '--from', a, '--to', b, '--follow', '--json'])
  await first.line((l) => l.event === 'start')
  assert.equal((await caldo.mirror({ from: a, to: b })).records, 0)
  // The first one's next step finds itself fenced.
  await withLog(a, (log) => log.producer().send('t', { value: 'x' }))
  const { code } = await first.exit
  assert.equal(code, 1)
  assert.match(first.err(), /another mirror of '.*' into this target has started, so this one stops.*\(ERR_FENCED\)/)
  assert.equal((await caldo.mirror({ from: a, to: b })).records, 1)
})

// Runs the CLI; its stdout as JSON lines.
function run (t, args) {
  const proc = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  const lines = []
  const waiters = []
  let err = ''
  proc.stderr.on('data', (d) => { err += d })
  readline.createInterface({ input: proc.stdout }).on('line', (l) => {
    const v = JSON.parse(l)
    lines.push(v)
    for (const w of waiters) if (w.pred(v)) w.resolve(v)
  })
  const exit = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  return {
    proc,
    exit,
    lines: () => lines,
    err: () => err,
    line: (pred) => lines.find(pred) ?? new Promise((resolve, reject) => {
      waiters.push({ pred, resolve })
      exit.then(() => reject(new Error(`the mirror exited before the line expected: ${err}`)))
    })
  }
}

async function stateRecords (where) {
  return withLog(where, async (log) => (await log.topics()).find((x) => x.name === STATE_TOPIC)?.partitions[0].lso ?? 0)
}

// Sleeps (on the log's wake-ups) until the mirror's state topic has a committed record
// at offset n - 1 or later, or the mirror has exited.
async function waitStateRecords (where, n, exit) {
  await withLog(where, async (log) => {
    const ac = new AbortController()
    exit.then(() => ac.abort())
    const c = log.consumer({ assign: [{ topic: STATE_TOPIC, partition: 0, offset: 'earliest' }], signal: ac.signal })
    for await (const b of c.batches()) if (b.length && b.at(-1).offset + 1 >= n) break
  })
}

test('bad arguments: ERR_INVALID_ARG with what to give; the same log on both sides; a target topic with fewer partitions', async (t) => {
  const a = tmpdir(t)
  const b = tmpdir(t)
  await withLog(a, async (log) => {
    await log.createTopic('wide', { partitions: 4 })
    await log.createTopic('other')
  })
  const bad = [
    [undefined, /mirror options must be an object/],
    [{ from: a }, /needs from and to/],
    [{ from: a, to: a }, /same log/],
    [{ from: a, to: path.join(a, '.') }, /same log/],
    [{ from: path.join(b, 'none'), to: b }, /no caldo log in .*none/],
    [{ from: a, to: 'http://x:1' }, /log directory or a kafka:\/\/host:port URL/],
    [{ from: a, to: 'kafka://' }, /not a Kafka URL; write kafka:\/\/host:port/],
    [{ from: a, to: 'kafka://a b' }, /not a Kafka URL/],
    [{ from: a, to: '' }, /empty string/],
    [{ from: a, to: 42 }, /a log directory, a kafka:\/\/host:port URL or a Log/],
    [{ from: a, to: b, topics: 'wide' }, /topics must be an array/],
    [{ from: a, to: b, follow: 'yes' }, /follow must be a boolean/],
    [{ from: a, to: b, signal: {} }, /signal must be an AbortSignal/],
    [{ from: a, to: b, bogus: 1 }, /unknown option 'bogus'/],
    [{ from: a, to: b, topics: ['__consumer_offsets'] }, /internal and never mirrored/],
    [{ from: a, to: b, topics: [STATE_TOPIC] }, /internal and never mirrored/]
  ]
  for (const [opts, message] of bad) {
    await assert.rejects(caldo.mirror(opts), (err) => err.code === 'ERR_INVALID_ARG' && err instanceof TypeError && message.test(err.message), `${JSON.stringify(opts)}`)
  }
  await assert.rejects(caldo.mirror({ from: a, to: b, topics: ['nope'] }), { code: 'ERR_UNKNOWN_TOPIC', message: /no topic 'nope' at the source/ })
  await withLog(b, (log) => log.createTopic('wide', { partitions: 2 }))
  await assert.rejects(caldo.mirror({ from: a, to: b, topics: ['w*'] }), { code: 'ERR_INVALID_PARTITION', message: /target topic 'wide' has 2 partition\(s\), the source 4: delete it/ })
  // A Log object needs an id: nothing else names the source.
  await withLog(a, (log) => assert.rejects(caldo.mirror({ from: log, to: b }), { code: 'ERR_INVALID_ARG', message: /needs an id/ }))
  // The command line: usage errors exit 2 with one line.
  const cli = (args) => spawnSync(process.execPath, [BIN, 'mirror', ...args], { env, encoding: 'utf8', timeout: 30_000 })
  for (const [args, message] of [
    [['--to', b], /required option '--from <log>'/],
    [['--from', a, '--to', a], /same log.*ERR_INVALID_ARG/],
    [['--from', path.join(b, 'none'), '--to', b], /no caldo log in/],
    [['--from', a, '--to', 'ftp://host'], /kafka:\/\/host:port URL/]
  ]) {
    const r = cli(args)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, message)
    assert.doesNotMatch(r.stderr, /\n\s+at /)
  }
  // The usage errors created nothing.
  assert.deepEqual(await withLog(b, async (log) => (await log.topics()).map((x) => x.name)), ['wide'])
})

test('caldo mirror prints a summary; --topics takes globs and lists; --no-groups', async (t) => {
  const a = tmpdir(t)
  const b = tmpdir(t)
  await withLog(a, async (log) => {
    for (const n of ['x.1', 'x.2', 'y']) await log.createTopic(n)
    await log.producer().sendBatch('x.1', [{ value: 'one' }, { value: 'two' }])
    await log.setGroupOffsets('g', [{ topic: 'x.1', partition: 0, offset: 1 }])
  })
  const r = spawnSync(process.execPath, [BIN, 'mirror', '--from', a, '--to', b, '--topics', 'x.*,nothing*', '--no-groups'], { env, encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^done: 2 record\(s\), 6 B in [\d.]+ s \(\d+ rec\/s\); 2 topic\(s\), 2 created; group offsets copied for 0 group\(s\)\n$/)
  await withLog(b, async (log) => {
    assert.deepEqual((await log.topics()).map((x) => x.name), [STATE_TOPIC, 'x.1', 'x.2'])
    assert.deepEqual(await log.groups(), [])
  })
})
