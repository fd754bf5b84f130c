'use strict'
// One suite, two backends: every behaviour below is written once and runs against a
// local log directory and against a real single-node Apache Kafka (KRaft) that this
// file starts and stops. The Kafka half fails, never skips, when the broker cannot start.
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { open, serde } = require('..')
const { tmpdir, child, until } = require('./helpers')
const { startBroker } = require('../scripts/kafka-broker')

// Low session timeouts: a killed member's partitions move within seconds on Kafka.
const SESSION_MS = 3000

const BACKENDS = [
  {
    name: 'local',
    async start () {},
    async stop () {},
    target: (t) => tmpdir(t)
  },
  {
    name: 'kafka',
    broker: null,
    async start () { this.broker = await startBroker() },
    async stop () { if (this.broker) await this.broker.stop() },
    target () { return { kafka: { brokers: [this.broker.brokers], sessionTimeoutMs: SESSION_MS } } }
  }
]

let seq = 0
// Topic and group names unique to each test: the Kafka half shares one broker.
const name = (what) => `${what}-${process.pid}-${++seq}`

// Resolves with the first `n` messages a consumer hands out (it is closed after).
async function take (c, n) {
  const out = []
  if (n === 0) return out
  for await (const m of c) {
    out.push(m)
    if (out.length === n) break
  }
  return out
}

// Resolves once `emitter` emits `event` with a value passing `pred`.
function when (emitter, event, pred = () => true) {
  return new Promise((resolve) => {
    const on = (e) => { if (pred(e)) { emitter.off(event, on); resolve(e) } }
    emitter.on(event, on)
  })
}

const errCode = (p) => p.then(() => null, (e) => e.code)

for (const backend of BACKENDS) {
  describe(`conformance: ${backend.name}`, () => {
    before(() => backend.start(), { timeout: 180_000 })
    after(() => backend.stop())

    const openLog = async (t) => {
      const log = await open(backend.target(t))
      t.after(() => log.close())
      return log
    }

    test('createTopic, topics, deleteTopic', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      const info = await log.createTopic(topic, { partitions: 3, retentionMs: 3_600_000 })
      assert.equal(info.name, topic)
      assert.deepEqual(info.partitions.map((p) => [p.partition, p.low, p.high, p.lso]), [[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]])
      assert.equal(info.config.partitions, 3)
      assert.equal(info.config.retentionMs, 3_600_000)
      assert.equal(await errCode(log.createTopic(topic)), 'ERR_TOPIC_EXISTS')
      assert.ok((await log.topics()).some((ti) => ti.name === topic))
      await log.deleteTopic(topic)
      assert.ok(!(await log.topics()).some((ti) => ti.name === topic))
      assert.equal(await errCode(log.deleteTopic(topic)), 'ERR_UNKNOWN_TOPIC')
    })

    test('send and sendBatch: offsets, keys, values, headers, timestamps and serdes come back', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic, { partitions: 2 })
      const p = log.producer({ key: serde.string, value: serde.json })
      const first = await p.send(topic, { key: 'a', value: { n: 0 }, partition: 1, timestamp: 1_700_000_000_000, headers: { h: 'x' } })
      assert.deepEqual(first, { topic, partition: 1, offset: 0, timestamp: 1_700_000_000_000 })
      const batch = await p.sendBatch(topic, [1, 2, 3].map((n) => ({ key: 'a', value: { n }, partition: 1 })))
      assert.deepEqual(batch.map((m) => m.offset), [1, 2, 3])
      // Sends of one tick: each resolves with its own offset.
      const many = await Promise.all([4, 5, 6].map((n) => p.send(topic, { value: { n }, partition: 1 })))
      assert.deepEqual(many.map((m) => m.offset), [4, 5, 6])
      await p.send(topic, { key: 'tomb', value: null, partition: 1 })
      await p.flush()
      await p.close()
      const c = log.consumer({ assign: [{ topic, partition: 1, offset: 'earliest' }], key: serde.string, value: serde.json })
      const got = await take(c, 8)
      assert.deepEqual(got.map((m) => m.offset), [0, 1, 2, 3, 4, 5, 6, 7])
      assert.deepEqual(got[0].value, { n: 0 })
      assert.equal(got[0].key, 'a')
      assert.equal(got[0].timestamp, 1_700_000_000_000)
      assert.equal(got[0].headers.h.toString(), 'x')
      assert.equal(got[4].key, null)
      assert.equal(got[7].value, null)
      const [info] = (await log.topics()).filter((ti) => ti.name === topic)
      assert.deepEqual(info.partitions.map((x) => x.high), [0, 8])
    })

    test('timestamps years apart in one sendBatch come back as sent', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic)
      const p = log.producer({ value: serde.string })
      const stamps = [1_000_000_000_000, 1_700_000_000_000, 1_700_000_000_001, 1_000_000_000_001, 1_700_000_000_002]
      const sent = await p.sendBatch(topic, stamps.map((timestamp, i) => ({ value: `v${i}`, timestamp })))
      assert.deepEqual(sent.map((m) => m.offset), [0, 1, 2, 3, 4])
      await p.close()
      const got = await take(log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], value: serde.string }), 5)
      assert.deepEqual(got.map((m) => [m.offset, m.value, m.timestamp]), stamps.map((ts, i) => [i, `v${i}`, ts]))
    })

    test('keys land on the partition Kafka\'s Java client picks: murmur2(key) & 0x7fffffff % partitions', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic, { partitions: 7 })
      const p = log.producer()
      // Kafka's own murmur2 vectors (the Java client's Utils.murmur2).
      const vectors = [['0', 971027396], ['1', -1993445489], ['128', -326012175], ['100:48069', 1009543857]]
      const placed = await p.sendBatch(topic, vectors.map(([key]) => ({ key, value: 'v' })))
      assert.deepEqual(placed.map((m) => m.partition), vectors.map(([, h]) => (h & 0x7fffffff) % 7))
      await p.close()
    })

    if (backend.name === 'kafka') {
      test('10,000 keys land on the same partitions locally and on Kafka', async (t) => {
        const log = await openLog(t)
        const topic = name('t')
        await log.createTopic(topic, { partitions: 12 })
        const keys = Array.from({ length: 10_000 }, (_, i) => `key-${i}-${(i * 2654435761) >>> 0}`)
        const onKafka = (await log.producer().sendBatch(topic, keys.map((key) => ({ key, value: '' })))).map((m) => m.partition)
        const local = await open(tmpdir(t))
        await local.createTopic(topic, { partitions: 12 })
        const here = (await local.producer().sendBatch(topic, keys.map((key) => ({ key, value: '' })))).map((m) => m.partition)
        await local.close()
        assert.deepEqual(onKafka, here)
        assert.equal(new Set(here).size, 12, 'the keys spread over every partition')
        // And the Kafka consumer reads each key back from that partition.
        const c = log.consumer({ assign: Array.from({ length: 12 }, (_, partition) => ({ topic, partition, offset: 'earliest' })), key: serde.string })
        const read = await take(c, keys.length)
        const where = new Map(keys.map((k, i) => [k, here[i]]))
        assert.ok(read.every((m) => where.get(m.key) === m.partition))
      })
    }

    test('manual consumer: seek by offset, earliest, latest and time; pause and resume; batches', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic, { partitions: 2 })
      const p = log.producer({ value: serde.string })
      for (const partition of [0, 1]) {
        await p.sendBatch(topic, Array.from({ length: 10 }, (_, i) => ({ value: `${partition}-${i}`, partition, timestamp: 1_000_000 + i * 1000 })))
      }
      const c = log.consumer({ assign: [{ topic, partition: 0, offset: 5 }, { topic, partition: 1, offset: 'latest' }], value: serde.string })
      assert.deepEqual(c.assignment(), [{ topic, partition: 0 }, { topic, partition: 1 }])
      const it = c.batches({ maxMessages: 100, maxWaitMs: 200 })
      let b = (await it.next()).value
      assert.deepEqual(b.map((m) => m.value), ['0-5', '0-6', '0-7', '0-8', '0-9'])
      b = (await it.next()).value
      assert.deepEqual(b, [], 'idle: an empty batch after maxWaitMs')
      c.seek({ topic, partition: 0, offset: 'earliest' })
      c.seek({ topic, partition: 1, timestamp: 1_000_000 + 7000 })
      const seen = []
      while (seen.length < 13) seen.push(...(await it.next()).value)
      assert.deepEqual(seen.filter((m) => m.partition === 0).map((m) => m.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].slice(0, 10))
      assert.deepEqual(seen.filter((m) => m.partition === 1).map((m) => m.offset), [7, 8, 9])
      c.pause([{ topic, partition: 0 }])
      await p.sendBatch(topic, [{ value: '0-10', partition: 0 }, { value: '1-10', partition: 1 }])
      b = (await it.next()).value
      assert.deepEqual(b.map((m) => m.value), ['1-10'], 'a paused partition is not read')
      c.resume([{ topic, partition: 0 }])
      b = (await it.next()).value
      assert.deepEqual(b.map((m) => m.value), ['0-10'])
      const lag = await c.lag()
      assert.deepEqual(lag.map((l) => [l.partition, l.offset, l.high, l.lag]), [[0, 11, 11, 0], [1, 11, 11, 0]])
      await it.return()
      assert.equal(await errCode(Promise.resolve().then(() => c.seek({ topic, partition: 0, offset: 0 }))), 'ERR_CLOSED')
      await p.close()
    })

    test('an AbortSignal and Symbol.asyncDispose close consumers and producers', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic)
      const ac = new AbortController()
      const c = log.consumer({ assign: [{ topic, partition: 0 }], signal: ac.signal })
      const loop = (async () => { let n = 0; for await (const m of c) n += m ? 1 : 0; return n })()
      ac.abort()
      assert.equal(await loop, 0)
      const p = log.producer()
      await p[Symbol.asyncDispose]()
      assert.equal(await errCode(p.send(topic, { value: 'x' })), 'ERR_CLOSED')
    })

    test('a group: rebalance events, commit, committed, lag, groups(), setGroupOffsets', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      const groupId = name('g')
      await log.createTopic(topic, { partitions: 4 })
      const p = log.producer({ value: serde.string })
      await p.sendBatch(topic, Array.from({ length: 40 }, (_, i) => ({ value: `v${i}`, partition: i % 4 })))
      const a = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', autoCommit: false, value: serde.string })
      const aAll = when(a, 'rebalance', () => a.assignment().length === 4)
      const it = a.batches({ maxMessages: 1000, maxWaitMs: 100 })
      let got = []
      const pull = (async () => { while (got.length < 40) got.push(...(await it.next()).value) })()
      await aAll
      await pull
      assert.equal(new Set(got.map((m) => m.value)).size, 40)
      assert.deepEqual(await a.committed(), [])
      await a.commit()
      assert.deepEqual((await a.committed()).map((o) => o.offset), [10, 10, 10, 10])
      assert.deepEqual((await a.lag()).map((l) => l.lag), [0, 0, 0, 0])
      assert.equal(await errCode(log.setGroupOffsets(groupId, 'earliest')), 'ERR_GROUP_ACTIVE')
      // A second member: the partitions are shared, and each side hears of its change.
      const b = log.consumer({ groupId, topics: [topic], startFrom: 'earliest', autoCommit: false })
      const bGot = when(b, 'rebalance', (e) => e.assigned.length === 2)
      const aLost = when(a, 'rebalance', (e) => e.revoked.length === 2)
      const bIt = b.batches({ maxWaitMs: 100 })
      const bPull = (async () => { while (b.assignment().length < 2) await bIt.next() })()
      const aPull = (async () => { while (a.assignment().length > 2) await it.next() })()
      await Promise.all([bGot, aLost, bPull, aPull])
      const groups = (await log.groups()).filter((g) => g.groupId === groupId)
      assert.equal(groups.length, 1)
      assert.equal(groups[0].members.length, 2)
      assert.deepEqual(groups[0].members.map((m) => m.assignment.length).sort(), [2, 2])
      assert.deepEqual(groups[0].offsets.map((o) => [o.partition, o.committed, o.lag]), [[0, 10, 0], [1, 10, 0], [2, 10, 0], [3, 10, 0]])
      await it.return()
      await bIt.return()
      await log.setGroupOffsets(groupId, [{ topic, partition: 0, offset: 3 }])
      await log.setGroupOffsets(groupId, 'earliest')
      const c = log.consumer({ groupId, topics: [topic], value: serde.string })
      got = await take(c, 40)
      assert.equal(new Set(got.map((m) => m.value)).size, 40, 'rewound to the start')
      await p.close()
    })

    test('transactions: committed ones are read, aborted ones are not; offsets go with them', async (t) => {
      const log = await openLog(t)
      const [input, output, groupId] = [name('in'), name('out'), name('g')]
      await log.createTopic(input)
      await log.createTopic(output)
      const p = log.producer({ value: serde.string })
      await p.sendBatch(input, [{ value: 'a' }, { value: 'b' }])
      const txp = log.producer({ transactionalId: name('tx'), value: serde.string })
      assert.equal(await errCode(txp.send(output, { value: 'outside' })), 'ERR_INVALID_TXN_STATE')
      const c = log.consumer({ groupId, topics: [input], startFrom: 'earliest', autoCommit: false, value: serde.string })
      const [m] = await (async () => { const it = c.batches({ maxMessages: 1, maxWaitMs: 100 }); for (;;) { const b = (await it.next()).value; if (b.length) return b } })()
      assert.equal(m.value, 'a')
      await txp.transaction(async (tx) => {
        await tx.send(output, { value: 'A' })
        await tx.sendOffsets(c)
      })
      const boom = new Error('boom')
      await assert.rejects(txp.transaction(async (tx) => {
        await tx.send(output, { value: 'never' })
        throw boom
      }), boom)
      await txp.transaction(async (tx) => { await tx.send(output, { value: 'B' }) })
      const committed = log.consumer({ assign: [{ topic: output, partition: 0, offset: 'earliest' }], value: serde.string })
      assert.deepEqual((await take(committed, 2)).map((x) => x.value), ['A', 'B'])
      const all = log.consumer({ assign: [{ topic: output, partition: 0, offset: 'earliest' }], value: serde.string, isolation: 'read_uncommitted' })
      assert.deepEqual((await take(all, 3)).map((x) => x.value), ['A', 'never', 'B'])
      assert.deepEqual((await c.committed()).map((o) => o.offset), [1], 'the offset went with the transaction')
      await c.close()
      await txp.close()
      await p.close()
    })

    test('after a committed and an aborted transaction are read, the position is past their markers: lag 0, at the end', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic)
      const txp = log.producer({ transactionalId: name('tx'), value: serde.string })
      await txp.transaction((tx) => tx.sendBatch(topic, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]))
      await assert.rejects(txp.transaction(async (tx) => { await tx.send(topic, { value: 'never' }); throw new Error('abort') }), /abort/)
      await txp.close()
      const [info] = (await log.topics()).filter((ti) => ti.name === topic)
      // Three records, a commit marker, an aborted record and its marker.
      assert.deepEqual([info.partitions[0].high, info.partitions[0].lso], [6, 6])
      const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], value: serde.string })
      const got = []
      let lag
      for await (const b of c.batches({ maxWaitMs: 100 })) {
        got.push(...b.map((m) => m.value))
        if (got.length >= 3) { lag = await c.lag(); break }
      }
      assert.deepEqual(got, ['a', 'b', 'c'])
      assert.deepEqual(lag, [{ topic, partition: 0, offset: 6, high: 6, lag: 0 }])
    })

    test('a transaction whose send failed rejects with that error and is aborted; the next one commits', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic, { partitions: 2 })
      const txp = log.producer({ transactionalId: name('tx'), value: serde.string })
      // The failed send alone, and after a send that went out (so the transaction is open at the broker).
      for (const before of [[], [{ value: 'lost', partition: 0 }]]) {
        await assert.rejects(txp.transaction(async (tx) => {
          for (const r of before) await tx.send(topic, r)
          await tx.send(topic, { value: 'x', partition: 5 })
        }), { code: 'ERR_INVALID_PARTITION' })
        await txp.transaction((tx) => tx.send(topic, { value: 'kept', partition: 0 }))
      }
      await txp.close()
      const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], value: serde.string })
      assert.deepEqual((await take(c, 2)).map((m) => m.value), ['kept', 'kept'])
    })

    test('a producer killed with kill -9 inside a transaction: the next producer of its transactionalId aborts it and commits', async (t) => {
      const where = backend.target(t)
      const log = await open(where)
      t.after(() => log.close())
      const topic = name('t')
      const id = name('tx')
      await log.createTopic(topic)
      const holder = child('txn-holder.js', [typeof where === 'string' ? where : JSON.stringify(where), id, 'dead', '3', '', topic])
      await until(holder, (m) => m.sent)
      holder.proc.kill('SIGKILL')
      await holder.done
      const txp = log.producer({ transactionalId: id, value: serde.string })
      await txp.transaction((tx) => tx.send(topic, { value: 'after' }))
      await txp.close()
      const [info] = (await log.topics()).filter((ti) => ti.name === topic)
      const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], value: serde.string })
      const got = []
      for await (const b of c.batches({ maxWaitMs: 100 })) {
        got.push(...b.map((m) => m.value))
        if ((await c.lag())[0].offset >= info.partitions[0].lso) break
      }
      assert.deepEqual(got, ['after'], 'the dead one\'s records were aborted')
    })

    test('alterTopic, deleteRecords, offsetsForTimes, deleteGroup', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic)
      const altered = await log.alterTopic(topic, { retentionMs: 7_200_000, cleanupPolicy: 'compact,delete' })
      assert.equal(altered.config.retentionMs, 7_200_000)
      assert.equal(altered.config.cleanupPolicy, 'compact,delete')
      await assert.rejects(log.alterTopic(topic, { partitions: 3 }), { code: 'ERR_INVALID_ARG' })
      const p = log.producer()
      await p.sendBatch(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, timestamp: 5_000_000 + i * 1000 })))
      assert.deepEqual(await log.offsetsForTimes([{ topic, partition: 0, timestamp: 5_003_500 }, { topic, partition: 0, timestamp: 9_000_000 }]),
        [{ topic, partition: 0, offset: 4 }, { topic, partition: 0, offset: 10 }])
      assert.deepEqual(await log.deleteRecords(topic, 0, 3), { topic, partition: 0, lowWatermark: 3 })
      assert.equal((await log.topics()).find((ti) => ti.name === topic).partitions[0].low, 3)
      assert.equal(await errCode(log.deleteRecords(topic, 0, 11)), 'ERR_OFFSET_OUT_OF_RANGE')
      // A position below the log start moves to it, and says so.
      const behind = log.consumer({ assign: [{ topic, partition: 0, offset: 1 }] })
      const moved = when(behind, 'offsetOutOfRange')
      assert.equal((await take(behind, 1))[0].offset, 3)
      assert.deepEqual(await moved, { topic, partition: 0, from: 1, to: 3 })
      const groupId = name('g')
      const c = log.consumer({ groupId, topics: [topic], startFrom: 'earliest' })
      assert.equal((await take(c, 1))[0].offset, 3, 'a group starts at the log start')
      assert.ok((await log.groups()).some((g) => g.groupId === groupId))
      await log.deleteGroup(groupId)
      assert.ok(!(await log.groups()).some((g) => g.groupId === groupId))
      assert.equal(await errCode(log.deleteGroup(groupId)), 'ERR_UNKNOWN_GROUP')
      await p.close()
    })

    test('a record the serde cannot read ends the loop with ERR_DESERIALIZE, not the consumer: seek past it and go on', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic)
      const p = log.producer()
      await p.sendBatch(topic, [{ value: '{"n":0}' }, { value: 'not json' }, { value: '{"n":2}' }])
      const c = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }], value: serde.json })
      const got = []
      const err = await (async () => { for await (const m of c) got.push(m.value) })().then(() => null, (e) => e)
      assert.deepEqual(got, [{ n: 0 }])
      assert.equal(err.code, 'ERR_DESERIALIZE')
      assert.deepEqual([err.topic, err.partition, err.offset], [topic, 0, 1])
      c.seek({ topic, partition: 0, offset: 2 })
      assert.deepEqual((await take(c, 1)).map((m) => m.value), [{ n: 2 }])
      await p.close()
    })

    test('bad input: coded errors', async (t) => {
      const log = await openLog(t)
      const topic = name('t')
      await log.createTopic(topic, { partitions: 2 })
      const p = log.producer()
      assert.equal(await errCode(p.send(name('missing'), { value: 'x' })), 'ERR_UNKNOWN_TOPIC')
      assert.equal(await errCode(p.send(topic, { value: 'x', partition: 5 })), 'ERR_INVALID_PARTITION')
      assert.equal(await errCode(p.send(topic, { value: 1 })), 'ERR_INVALID_ARG')
      assert.equal(await errCode(p.send(topic, { value: 'x', nope: 1 })), 'ERR_INVALID_ARG')
      // A consumer of a topic that does not exist: from consumer() locally, from its first read on Kafka.
      const firstRead = async (opts) => {
        try {
          for await (const m of log.consumer(opts)) return m
        } catch (e) { return e.code }
      }
      assert.equal(await firstRead({ groupId: name('g'), topics: [name('missing')] }), 'ERR_UNKNOWN_TOPIC')
      assert.equal(await firstRead({ assign: [{ topic: name('missing'), partition: 0 }] }), 'ERR_UNKNOWN_TOPIC')
      assert.throws(() => log.consumer({ assign: [] }), { code: 'ERR_INVALID_ARG' })
      assert.throws(() => log.consumer({ topics: [topic] }), { code: 'ERR_INVALID_ARG' })
      assert.equal(await errCode(log.createTopic(topic, { nope: 1 })), 'ERR_INVALID_ARG')
      await p.close()
      await log.close()
      assert.equal(await errCode(log.topics()), 'ERR_CLOSED')
    })

    if (backend.name === 'kafka') {
      test('Kafka: what has no meaning there fails with ERR_UNSUPPORTED naming it; Kafka\'s errors keep their cause', async (t) => {
        const log = await openLog(t)
        const topic = name('t')
        await log.createTopic(topic)
        const unsupported = (fn, option) => assert.throws(fn, (e) => e.code === 'ERR_UNSUPPORTED' && e.option === option && e.message.includes(option))
        unsupported(() => log.producer({ transactionalId: 'x', transactionTimeoutMs: 1000 }), 'transactionTimeoutMs')
        unsupported(() => log.consumer({ groupId: 'g', topics: [topic], maxPollIntervalMs: 1000 }), 'maxPollIntervalMs')
        unsupported(() => log.consumer({ groupId: 'g', topics: [topic], assignor: 'range' }), "assignor 'range'")
        unsupported(() => log.table(topic), 'log.table()')
        await assert.rejects(log.clean(), (e) => e.code === 'ERR_UNSUPPORTED' && e.option === 'log.clean()')
        await assert.rejects(open(`kafka://${backend.broker.brokers}`, { durability: 'always' }), (e) => e.code === 'ERR_UNSUPPORTED' && e.option === 'durability')
        // A broker-side refusal: the caldo code, and the client's error as the cause.
        const bad = await log.createTopic(name('t'), { retentionMs: -5 }).catch((e) => e)
        assert.equal(bad.code, 'ERR_INVALID_ARG')
        assert.ok(bad.cause instanceof Error && /PLT_KFK/.test(bad.cause.code), 'the client\'s error is the cause')
      })

      test('Kafka: an unreachable cluster is ERR_CONNECT within the connect timeout; a malformed URL is ERR_INVALID_ARG', async () => {
        for (const target of ['kafka://127.0.0.1:1', { kafka: { brokers: ['10.255.255.1:9092'], connectTimeoutMs: 1000 } }]) {
          const err = await open(target).then(() => null, (e) => e)
          assert.equal(err?.code, 'ERR_CONNECT')
          assert.match(err.message, /cannot reach the Kafka cluster at/)
          assert.ok(err.cause instanceof Error)
        }
        for (const url of ['kafka://', 'kafka://host', 'kafka://host:0', 'kafka://a:1/x?y', 'kafka://a:1,,b:2']) {
          await assert.rejects(open(url), { code: 'ERR_INVALID_ARG' }, url)
        }
        await assert.rejects(open({ kafka: {} }), { code: 'ERR_INVALID_ARG' })
        await assert.rejects(open({ kafka: { brokers: ['a:1'], nope: 1 } }), { code: 'ERR_INVALID_ARG' })
      })
    } else {
      test('a local log never loads the Kafka client', async (t) => {
        // A fresh process: nothing else in it could have loaded lib/kafka.
        const script = `const { open } = require(${JSON.stringify(require.resolve('..'))})
open(${JSON.stringify(tmpdir(t))}).then(async (log) => { await log.close(); console.log(Object.keys(require.cache).filter((f) => /[\\/]lib[\\/]kafka[\\/]|@platformatic/.test(f)).length) })`
        const out = require('node:child_process').execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
        assert.equal(out.trim(), '0')
      })
    }

    test('a group of 3 processes, one killed with kill -9: every record is processed, its partitions move', { timeout: 120_000 }, async (t) => {
      const where = backend.target(t)
      const log = await open(where)
      t.after(() => log.close())
      const topic = name('t')
      const groupId = name('g')
      await log.createTopic(topic, { partitions: 6 })
      const target = typeof where === 'string' ? where : JSON.stringify(where)
      const members = [0, 1, 2].map((i) => child('member.js', [target, groupId, topic, `m${i}`, JSON.stringify({ autoCommit: false, commitEach: true, batch: 20 })]))
      const owned = (m) => { const evs = m.messages.filter((x) => x.assignment); return evs.length ? evs[evs.length - 1].assignment.length : 0 }
      // Resolves once `pred` holds, checked on each message any of `ms` sends.
      const whenAll = (ms, pred) => new Promise((resolve) => {
        const check = () => { if (pred()) resolve() }
        for (const m of ms) m.proc.on('message', check)
        check()
      })
      await whenAll(members, () => members.every((x) => owned(x) === 2))
      const total = 3000
      const p = log.producer()
      for (let i = 0; i < total; i += 500) await p.sendBatch(topic, Array.from({ length: 500 }, (_, j) => ({ value: `v${i + j}`, partition: (i + j) % 6 })))
      const victim = members[0]
      await until(victim, (x) => x.progress >= 100)
      victim.proc.kill('SIGKILL')
      assert.equal((await victim.done).signal, 'SIGKILL')
      const survivors = members.slice(1)
      const seen = () => new Set(members.flatMap((m) => m.messages.flatMap((x) => (x.seen || []).map(([pt, o]) => `${pt}:${o}`)))).size
      // The survivors take the dead member's partitions, and every record is processed.
      await whenAll(survivors, () => survivors.every((x) => owned(x) === 3) && seen() === total)
      assert.equal(seen(), total)
      for (const m of members.slice(1)) m.proc.send('stop')
      for (const m of members.slice(1)) assert.equal((await m.done).code, 0)
      await p.close()
    })
  })
}
