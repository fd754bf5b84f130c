'use strict'
// One driver per system, all with the same shape, used by run.js (admin calls) and
// worker.js (the measured work, one OS process per producer or consumer).
//
// Every record's value starts with the send time in µs (CLOCK_MONOTONIC, which all processes
// of a machine share) as a float64, then a uint32 sequence number; the rest is filler up to
// the value size.

const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const path = require('node:path')
const { setTimeout: sleep } = require('node:timers/promises')

const WORK = path.join(__dirname, '.work')
const BATCH = 1000 // records per produce call / pipeline / transaction
const BIG_BATCH = 16 // the same for values over 16 KiB (1 MiB per call at 64 KiB)
const POOL_BYTES = 64 << 20 // distinct value bytes a producer builds before its clock starts
const IN_FLIGHT = 4 // produce batches awaited together
// BENCH_KAFKA_PORT: set by run.js (and inherited by its workers) when the Kafka API is
// served by the tansu fallback instead of Apache Kafka.
const PORTS = { kafka: Number(process.env.BENCH_KAFKA_PORT) || 19092, redis: 16379, nats: 14222 }

// Not performance.timeOrigin + now(): each process fixes its own origin at start-up, and on a
// loaded machine two processes' origins disagreed by up to 0.2 ms (a floor run showed a
// negative p50).
const nowUs = () => Number(process.hrtime.bigint()) / 1000

function makeValue (bytes, seq) {
  const v = Buffer.alloc(bytes, 0x61)
  v.writeDoubleLE(nowUs(), 0)
  v.writeUInt32LE(seq >>> 0, 8)
  return v
}
const sentAt = (buf) => buf.readDoubleLE(0)

// The values of a produce run, built before the clock starts so that every system is timed
// without the harness's allocation: views into one block (reused round-robin past
// POOL_BYTES), each stamped with its sequence number.
function valuePool (count, bytes, seq0 = 0) {
  const distinct = Math.max(1, Math.min(count, Math.floor(POOL_BYTES / bytes)))
  const block = Buffer.alloc(distinct * bytes, 0x61)
  const pool = Array.from({ length: distinct }, (_, i) => {
    const v = block.subarray(i * bytes, (i + 1) * bytes)
    v.writeDoubleLE(nowUs(), 0)
    v.writeUInt32LE((seq0 + i) >>> 0, 8)
    return v
  })
  return Array.from({ length: count }, (_, i) => pool[i % distinct])
}
const batchOf = (bytes) => bytes > 16384 ? BIG_BATCH : BATCH

// Runs fn(i) for i in [0, batches) with at most `window` calls outstanding.
async function pool (batches, window, fn) {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(window, batches) }, async () => {
    while (next < batches) await fn(next++)
  }))
}

// fn(slice) for each batch of `values`, IN_FLIGHT batches outstanding: every driver's produce loop.
function eachBatch (values, fn) {
  const n = batchOf(values[0].length)
  return pool(Math.ceil(values.length / n), IN_FLIGHT, (b) => fn(values.slice(b * n, (b + 1) * n)))
}

// ---------------------------------------------------------------- caldo
const caldo = {
  name: 'caldo',
  async connect ({ durable } = {}) {
    const { open } = require('../..')
    const dir = path.join(WORK, durable ? 'caldo-durable' : 'caldo-data')
    // Default durability ('interval': fdatasync every second in the background) except
    // for the durable scenario, where send() resolves only after fdatasync.
    return open(dir, durable ? { durability: 'always' } : {})
  },
  close: (log) => log.close(),
  async create (log, topic, partitions) {
    await log.createTopic(topic, { partitions, maxMessageBytes: 1 << 20 })
  },
  async drop (log, topic) { await log.deleteTopic(topic) },
  async produce (log, { topic, values, partition }) {
    const producer = log.producer()
    await eachBatch(values, (vs) => producer.sendBatch(topic, vs.map(partition === undefined ? (value) => ({ value }) : (value) => ({ value, partition }))))
    await producer.close()
  },
  async sendNow (log, state, topic, values, partition) {
    state.producer ??= log.producer()
    for (const value of values) state.producer.send(topic, partition === undefined ? { value } : { value, partition }).catch((e) => { state.error = e })
  },
  consumeModes: ['batch', 'each'],
  async replay (log, { topic, count, mode }) {
    const first = nowUs()
    const consumer = log.consumer({ assign: [{ topic, partition: 0, offset: 'earliest' }] })
    let n = 0
    if (mode === 'each') {
      for await (const m of consumer) { if (m.value && ++n >= count) break }
    } else {
      for await (const batch of consumer.batches({ maxMessages: 10_000 })) {
        n += batch.length
        if (n >= count) break
      }
    }
    const last = nowUs()
    await consumer.close()
    return { n, first, last }
  },
  async tail (log, { topic }, onMessage, ready) {
    const consumer = log.consumer({ assign: [{ topic, partition: 0, offset: 0 }] })
    ready()
    for await (const m of consumer) { if (onMessage(m.value)) break }
  },
  async durable (log, { topic, senders, ms, valueBytes }) {
    const producer = log.producer()
    let sent = 0
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: senders }, async () => {
      while (performance.now() < end) { await producer.send(topic, { value: makeValue(valueBytes, sent) }); sent++ }
    }))
    await producer.close()
    return sent
  },
  // A group member (log.consumer({ groupId, topics })): reports each rebalance event's
  // partitions (cooperative: only what moved) and, per batch, what it consumed.
  async groupMember (log, { topic, groupId }, report, ready) {
    const consumer = log.consumer({ groupId, topics: [topic], startFrom: 'earliest' })
    consumer.on('rebalance', ({ assigned, revoked }) => report({
      assigned: assigned.map((tp) => tp.partition), revoked: revoked.map((tp) => tp.partition)
    }))
    ready()
    for await (const batch of consumer.batches({ maxMessages: 1000, maxWaitMs: 100 })) {
      const byPartition = {}
      for (const m of batch) byPartition[m.partition] = (byPartition[m.partition] || 0) + 1
      if (batch.length) report({ consumed: byPartition, t: nowUs() })
    }
  },
  // Group consumers in caldo live in the same directory: nothing to set up. The probe
  // (a join and a leave) keeps the row honest for builds without groups.
  groupSupported (log, topic) {
    try {
      const c = log.consumer({ groupId: 'probe', topics: [topic], startFrom: 'earliest' })
      c.close().catch(() => {})
      return true
    } catch { return false }
  }
}

// ---------------------------------------------------------------- Apache Kafka via kafkajs
const kafka = {
  name: 'kafka',
  async connect () {
    const { Kafka, logLevel } = require('kafkajs')
    const k = new Kafka({ clientId: 'caldo-bench', brokers: [`127.0.0.1:${PORTS.kafka}`], logLevel: logLevel.NOTHING, retry: { retries: 10 } })
    const producer = k.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    return { k, producer, admin: null, consumers: [] }
  },
  async close (c) {
    for (const x of c.consumers) await x.disconnect().catch(() => {})
    if (c.admin) await c.admin.disconnect()
    await c.producer.disconnect()
  },
  async admin (c) {
    if (!c.admin) { c.admin = c.k.admin(); await c.admin.connect() }
    return c.admin
  },
  async create (c, topic, partitions, { durable } = {}) {
    const admin = await kafka.admin(c)
    const configEntries = [{ name: 'max.message.bytes', value: String(2 << 20) }]
    if (durable) configEntries.push({ name: 'flush.messages', value: '1' })
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1, configEntries }] })
    // Leaders in the metadata can precede the partition being hosted; wait until offsets answer.
    for (let i = 0; ; i++) {
      try { await admin.fetchTopicOffsets(topic); break } catch (e) { if (i >= 100) throw e; await sleep(100) }
    }
  },
  async drop (c, topic) { await (await kafka.admin(c)).deleteTopics({ topics: [topic] }) },
  async produce (c, { topic, values, partition }) {
    await eachBatch(values, (vs) => c.producer.send({ topic, acks: 1, messages: vs.map((value) => ({ value, partition })) }))
  },
  async sendNow (c, state, topic, values, partition) {
    c.producer.send({ topic, acks: 1, messages: values.map((value) => ({ value, partition })) }).catch((e) => { state.error = e })
  },
  consumer (c, opts) {
    const consumer = c.k.consumer({
      maxBytes: 50 << 20, maxBytesPerPartition: 10 << 20, maxWaitTimeInMs: 100, ...opts
    })
    c.consumers.push(consumer)
    return consumer
  },
  consumeModes: ['batch', 'each'],
  async replay (c, { topic, count, mode }) {
    const consumer = kafka.consumer(c, { groupId: `replay-${process.pid}-${Date.now()}` })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    // The clock starts when the group join completes (fetching starts right after it).
    let n = 0; let first = 0
    consumer.on(consumer.events.GROUP_JOIN, () => { first = nowUs() })
    await new Promise((resolve, reject) => {
      consumer.run(mode === 'each'
        ? { autoCommit: false, eachMessage: async () => { if (++n === count) resolve() } }
        : {
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              n += batch.messages.length
              if (n >= count) resolve()
            }
          }).catch(reject)
    })
    const last = nowUs()
    await consumer.stop()
    return { n, first, last }
  },
  async tail (c, { topic }, onMessage, ready) {
    const consumer = kafka.consumer(c, { groupId: `tail-${process.pid}-${Date.now()}`, minBytes: 1 })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await new Promise((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => ready())
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) if (onMessage(m.value)) { resolve(); break }
        }
      }).catch(reject)
    })
    await consumer.stop()
  },
  async durable (c, { topic, senders, ms, valueBytes }) {
    let sent = 0
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: senders }, async () => {
      while (performance.now() < end) {
        await c.producer.send({ topic, acks: -1, messages: [{ value: makeValue(valueBytes, sent) }] })
        sent++
      }
    }))
    return sent
  },
  // Eager rebalancing (kafkajs has no cooperative protocol); the broker's minimum
  // session timeout is 6 s, which bounds how fast a SIGKILLed member is noticed.
  async groupMember (c, { topic, groupId }, report, ready) {
    const consumer = kafka.consumer(c, { groupId, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      report({ assigned: (payload.memberAssignment[topic] || []).slice(), revoked: [], full: true })
    })
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    ready()
    await consumer.run({
      eachBatch: async ({ batch }) => {
        report({ consumed: { [batch.partition]: batch.messages.length }, t: nowUs() })
      }
    })
    await new Promise(() => {})
  },
  groupSupported: () => true
}

// ---------------------------------------------------------------- Redis Streams via ioredis
const redis = {
  name: 'redis',
  async connect () {
    const Redis = require('ioredis')
    const r = new Redis({ host: '127.0.0.1', port: PORTS.redis, lazyConnect: true, maxRetriesPerRequest: 3 })
    await r.connect()
    return r
  },
  close: (r) => r.quit(),
  async create (r, topic, partitions, { durable } = {}) {
    await r.del(topic)
    if (durable) {
      await r.config('SET', 'appendfsync', 'always')
      await r.config('SET', 'appendonly', 'yes')
      // Switching AOF on rewrites it in the background; measure after that.
      for (let i = 0; i < 600; i++) {
        const info = await r.info('persistence')
        if (/aof_enabled:1/.test(info) && /aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) break
        await sleep(50)
      }
    }
  },
  async drop (r, topic, { durable } = {}) {
    await r.del(topic)
    if (durable) await r.config('SET', 'appendonly', 'no')
  },
  async produce (r, { topic, values }) {
    await eachBatch(values, async (vs) => {
      const p = r.pipeline()
      for (const v of vs) p.xadd(topic, '*', 'v', v)
      const res = await p.exec()
      for (const [err] of res) if (err) throw err
    })
  },
  async sendNow (r, state, topic, values) {
    const p = r.pipeline()
    for (const v of values) p.xadd(topic, '*', 'v', v)
    p.exec().catch((e) => { state.error = e })
  },
  consumeModes: ['batch'],
  async replay (r, { topic, count }) {
    let n = 0; let from = '-'
    const first = nowUs()
    while (n < count) {
      const rows = await r.xrangeBuffer(topic, from, '+', 'COUNT', 10_000)
      if (!rows.length) throw new Error(`redis replay: stream ended after ${n} entries`)
      n += rows.length
      from = '(' + rows[rows.length - 1][0].toString()
    }
    return { n, first, last: nowUs() }
  },
  async tail (r, { topic }, onMessage, ready) {
    const sub = r.duplicate()
    let last = '0-0'
    ready()
    for (;;) {
      const res = await sub.xreadBuffer('COUNT', 10_000, 'BLOCK', 0, 'STREAMS', topic, last)
      if (!res) continue
      const entries = res[0][1]
      for (const [id, fields] of entries) {
        last = id.toString()
        if (onMessage(fields[1])) { sub.disconnect(); return }
      }
    }
  },
  async durable (r, { topic, senders, ms, valueBytes }) {
    let sent = 0
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: senders }, async () => {
      while (performance.now() < end) { await r.xadd(topic, '*', 'v', makeValue(valueBytes, sent)); sent++ }
    }))
    return sent
  },
  // One stream (Redis groups have no partitions). A member that dies keeps its unacked
  // entries until a survivor claims them: every member runs XAUTOCLAIM (min idle 1 s) every 250 ms.
  async groupMember (r, { topic, groupId, name }, report, ready, control) {
    try { await r.xgroup('CREATE', topic, groupId, '0', 'MKSTREAM') } catch (e) { if (!/BUSYGROUP/.test(e.message)) throw e }
    let hold = false
    control.on('hold', () => { hold = true })
    const claimer = r.duplicate()
    const claim = setInterval(async () => {
      try {
        const [, entries] = await claimer.xautoclaim(topic, groupId, name, 1000, '0-0', 'COUNT', 1000)
        if (entries.length) {
          await claimer.xack(topic, groupId, ...entries.map((e) => e[0]))
          report({ claimed: entries.length, consumed: { 0: entries.length }, t: nowUs() })
        }
      } catch {}
    }, 250)
    claim.unref()
    ready()
    for (;;) {
      const res = await r.xreadgroupBuffer('GROUP', groupId, name, 'COUNT', 1000, 'BLOCK', 100, 'STREAMS', topic, '>')
      if (!res) continue
      const entries = res[0][1]
      if (hold) { report({ held: entries.length }); continue }
      await r.xack(topic, groupId, ...entries.map((e) => e[0]))
      report({ consumed: { 0: entries.length }, t: nowUs() })
    }
  },
  groupSupported: () => true
}

// ---------------------------------------------------------------- SQLite as a queue via better-sqlite3
const sqlite = {
  name: 'sqlite',
  async connect ({ durable } = {}) {
    const Database = require('better-sqlite3')
    const db = new Database(path.join(WORK, 'sqlite.db'))
    db.pragma('journal_mode = WAL')
    // WAL + NORMAL: commits go to the WAL without fsync (like page-cache-only peers);
    // FULL: every commit is fsynced.
    db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`)
    db.pragma('busy_timeout = 30000')
    return { db, stmts: new Map() }
  },
  async close (c) { c.db.close() },
  async create (c, topic) {
    c.db.exec(`DROP TABLE IF EXISTS "${topic}"; CREATE TABLE "${topic}" (id INTEGER PRIMARY KEY, v BLOB NOT NULL)`)
  },
  async drop (c, topic) { c.db.exec(`DROP TABLE IF EXISTS "${topic}"`); c.db.pragma('wal_checkpoint(TRUNCATE)') },
  insert (c, topic) {
    let s = c.stmts.get(topic)
    if (!s) {
      const ins = c.db.prepare(`INSERT INTO "${topic}" (v) VALUES (?)`)
      s = c.db.transaction((values) => { for (const v of values) ins.run(v) })
      c.stmts.set(topic, s)
    }
    return s
  },
  async produce (c, { topic, values }) {
    const tx = sqlite.insert(c, topic)
    await eachBatch(values, (vs) => tx.immediate(vs))
  },
  async sendNow (c, state, topic, values) { sqlite.insert(c, topic).immediate(values) },
  consumeModes: ['batch'],
  async replay (c, { topic, count }) {
    const q = c.db.prepare(`SELECT id, v FROM "${topic}" WHERE id > ? ORDER BY id LIMIT 10000`).raw()
    let n = 0; let last = 0
    const first = nowUs()
    while (n < count) {
      const rows = q.all(last)
      if (!rows.length) throw new Error(`sqlite replay: table ended after ${n} rows`)
      n += rows.length
      last = rows[rows.length - 1][0]
    }
    return { n, first, last: nowUs() }
  },
  // No change notification in SQLite: the consumer polls every 1 ms.
  async tail (c, { topic }, onMessage, ready) {
    const q = c.db.prepare(`SELECT id, v FROM "${topic}" WHERE id > ? ORDER BY id LIMIT 10000`).raw()
    let last = 0
    ready()
    for (;;) {
      const rows = q.all(last)
      for (const [id, v] of rows) { last = id; if (onMessage(v)) return }
      await sleep(1)
    }
  },
  // better-sqlite3 is synchronous: 64 "concurrent" senders in one process commit one at a time.
  async durable (c, { topic, senders, ms, valueBytes }) {
    const ins = c.db.prepare(`INSERT INTO "${topic}" (v) VALUES (?)`)
    let sent = 0
    const end = performance.now() + ms
    await Promise.all(Array.from({ length: senders }, async () => {
      while (performance.now() < end) { ins.run(makeValue(valueBytes, sent)); sent++; await null }
    }))
    return sent
  },
  groupSupported: () => false
}

// ---------------------------------------------------------------- NATS JetStream
const nats = {
  name: 'nats',
  async connect () {
    const { connect } = require('@nats-io/transport-node')
    const { jetstream, jetstreamManager } = require('@nats-io/jetstream')
    const nc = await connect({ servers: `127.0.0.1:${PORTS.nats}` })
    return { nc, js: jetstream(nc), jsm: await jetstreamManager(nc) }
  },
  async close (c) { await c.nc.drain() },
  async create (c, topic) {
    try { await c.jsm.streams.delete(topic) } catch {}
    await c.jsm.streams.add({ name: topic, subjects: [topic], storage: 'file', max_msg_size: 2 << 20 })
  },
  async drop (c, topic) { await c.jsm.streams.delete(topic) },
  async produce (c, { topic, values }) {
    await eachBatch(values, (vs) => Promise.all(vs.map((v) => c.js.publish(topic, v))))
  },
  async sendNow (c, state, topic, values) { for (const v of values) c.js.publish(topic, v).catch((e) => { state.error = e }) },
  consumeModes: ['each'], // an ordered consumer's iterator: one message at a time
  async replay (c, { topic, count }) {
    const first = nowUs()
    const consumer = await c.js.consumers.get(topic) // ordered consumer from the start
    const msgs = await consumer.consume({ max_messages: 10_000 })
    let n = 0
    for await (const m of msgs) {
      if (++n >= count) break
    }
    const last = nowUs()
    await msgs.close()
    return { n, first, last }
  },
  async tail (c, { topic }, onMessage, ready) {
    const consumer = await c.js.consumers.get(topic)
    const msgs = await consumer.consume({ max_messages: 10_000 })
    ready()
    for await (const m of msgs) { if (onMessage(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength))) break }
    await msgs.close()
  },
  groupSupported: () => false
}

// ---------------------------------------------------------------- Kafka's Java perf tools
// The measured work is run.js's (kafka-tools.js: one JVM per producer or consumer); the
// driver only creates and drops topics, with kafkajs's admin.
const kafkajava = {
  name: 'kafkajava',
  connect: () => kafka.connect(),
  close: (c) => kafka.close(c),
  create: (c, topic, partitions) => kafka.create(c, topic, partitions),
  drop: (c, topic) => kafka.drop(c, topic),
  consumeModes: ['batch'] // ConsumerPerformance polls batches
}

// ---------------------------------------------------------------- Kafka via librdkafka
// @confluentinc/kafka-javascript's KafkaJS-shaped API over librdkafka; topics are created
// and dropped with kafkajs's admin, on the same broker.
const rdkafka = {
  name: 'rdkafka',
  async connect (spec = {}) {
    const { KafkaJS } = require('@confluentinc/kafka-javascript')
    const c = await kafka.connect()
    c.rd = new KafkaJS.Kafka({ kafkaJS: { brokers: [`127.0.0.1:${PORTS.kafka}`], logLevel: KafkaJS.logLevel.NOTHING } })
    // librdkafka waits linger.ms (5 ms) to fill a batch; the latency sender sends at once, as the other clients do.
    c.rdProducer = c.rd.producer({ kafkaJS: { acks: 1 }, ...(spec.role === 'paced' ? { 'linger.ms': 0 } : {}) })
    await c.rdProducer.connect()
    return c
  },
  async close (c) {
    await c.rdProducer.disconnect()
    await kafka.close(c)
  },
  create: (c, topic, partitions) => kafka.create(c, topic, partitions),
  drop: (c, topic) => kafka.drop(c, topic),
  async produce (c, { topic, values, partition }) {
    await eachBatch(values, (vs) => c.rdProducer.send({ topic, messages: vs.map((value) => ({ value, partition })) }))
  },
  async sendNow (c, state, topic, values, partition) {
    c.rdProducer.send({ topic, messages: values.map((value) => ({ value, partition })) }).catch((e) => { state.error = e })
  },
  async consumer (c, groupId) {
    const consumer = c.rd.consumer({ kafkaJS: { groupId, fromBeginning: true, autoCommit: false } })
    c.consumers.push(consumer)
    await consumer.connect()
    return consumer
  },
  consumeModes: ['batch', 'each'],
  // The clock starts at the first message: librdkafka's consumer has no group-join event here.
  async replay (c, { topic, count, mode }) {
    const consumer = await rdkafka.consumer(c, `replay-${process.pid}-${Date.now()}`)
    await consumer.subscribe({ topics: [topic] })
    let n = 0; let first = 0
    await new Promise((resolve, reject) => {
      const seen = (k) => { if (!first) first = nowUs(); n += k; if (n >= count) resolve() }
      consumer.run(mode === 'each'
        ? { eachMessage: async () => seen(1) }
        : { eachBatch: async ({ batch }) => seen(batch.messages.length) }).catch(reject)
    })
    const last = nowUs()
    // Stopped, so that it does not go on fetching beside the next replay.
    await consumer.disconnect()
    return { n, first, last }
  },
  async tail (c, { topic }, onMessage, ready) {
    const consumer = await rdkafka.consumer(c, `tail-${process.pid}-${Date.now()}`)
    await consumer.subscribe({ topics: [topic] })
    await new Promise((resolve, reject) => {
      consumer.run({ eachMessage: async ({ message }) => { if (onMessage(message.value)) resolve() } }).catch(reject)
      // No join event in this API: wait until the group has assigned the partition.
      const poll = setInterval(() => { if (consumer.assignment().length) { clearInterval(poll); ready() } }, 20)
    })
  },
  groupSupported: () => false
}

// ---------------------------------------------------------------- hypercore
// One append-only log per topic, owned by one writer process (its storage is locked). A
// reader in another process holds its own copy and replicates from the writer over a Unix
// socket, as hypercore peers do.
const HC_DIR = path.join(WORK, 'hypercore')
const hcStore = (topic, who = 'writer') => path.join(HC_DIR, topic, who)
const hcSocket = (topic) => path.join(os.tmpdir(), `caldo-bench-hc-${topic}.sock`)
const hypercore = {
  name: 'hypercore',
  singleWriter: true,
  async open (topic, who, key) {
    const Hypercore = require('hypercore')
    const core = new Hypercore(hcStore(topic, who), key)
    await core.ready()
    return core
  },
  // The writer's storage, once the process that produced into it has let go of it: run.js
  // starts the replay as soon as the producer reports, while it may still be closing.
  async openWhenFree (topic) {
    for (let tries = 0; ; tries++) {
      try {
        return await hypercore.open(topic, 'writer')
      } catch (err) {
        if (tries >= 300 || !/could not be locked/.test(String(err && err.message))) throw err
        await sleep(100)
      }
    }
  },
  async connect (spec = {}) {
    const c = { cores: [] }
    // The latency sender serves replication to the reader, which listens on the socket.
    if (spec.role === 'paced') {
      c.core = await hypercore.open(spec.topic, 'writer')
      c.cores.push(c.core)
      c.socket = await connectRetry(hcSocket(spec.topic))
      const s = c.core.replicate(true)
      s.pipe(c.socket).pipe(s)
    }
    return c
  },
  async close (c) {
    // The reader downloads from this process: stay until it has every block (at most 30 s).
    for (let i = 0; c.core && i < 300 && !c.core.peers.some((p) => p.remoteContiguousLength >= c.core.length); i++) await sleep(100)
    for (const core of c.cores) await core.close()
    if (c.socket) c.socket.destroy()
  },
  async create (c, topic) {
    for (const old of fs.existsSync(HC_DIR) ? fs.readdirSync(HC_DIR) : []) {
      if (old.startsWith('.gone-')) fs.rm(path.join(HC_DIR, old), { recursive: true, force: true }, () => {})
    }
    fs.rmSync(path.join(HC_DIR, topic), { recursive: true, force: true })
    const core = await hypercore.open(topic, 'writer')
    fs.writeFileSync(path.join(HC_DIR, topic, 'key'), core.key)
    await core.close()
  },
  // A worker may still be closing its copy (RocksDB writes as it closes): move the topic out of
  // the way at once, remove it when nothing writes there any more.
  async drop (c, topic) {
    const gone = path.join(HC_DIR, `.gone-${topic}`)
    fs.renameSync(path.join(HC_DIR, topic), gone)
    setTimeout(() => fs.rm(gone, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 }, () => {}), 5000).unref()
  },
  // One writer core per topic and process (its storage is locked while open): the
  // warm-up's produce opens it, the measured one appends to it.
  async produce (c, { topic, values }) {
    c.writers ??= new Map()
    let core = c.writers.get(topic)
    if (!core) {
      core = await hypercore.open(topic, 'writer')
      c.cores.push(core)
      c.writers.set(topic, core)
    }
    await eachBatch(values, (vs) => core.append(vs))
  },
  async sendNow (c, state, topic, values) { c.core.append(values).catch((e) => { state.error = e }) },
  consumeModes: ['each'],
  async replay (c, { topic, count }) {
    // One core per process, opened before the clock, as the other systems connect before
    // it: its storage stays locked after close() for a while, so the warm-up replay's
    // core is also the timed one's.
    if (!c.replayCore) c.cores.push((c.replayCore = await hypercore.openWhenFree(topic)))
    const core = c.replayCore
    const first = nowUs()
    let n = 0
    for await (const v of core.createReadStream({ start: 0, end: count })) { if (v && ++n >= count) break }
    return { n, first, last: nowUs() }
  },
  async tail (c, { topic }, onMessage, ready) {
    const core = await hypercore.open(topic, `reader-${process.pid}`, fs.readFileSync(path.join(HC_DIR, topic, 'key')))
    c.cores.push(core)
    const server = net.createServer((socket) => {
      const s = core.replicate(false)
      s.pipe(socket).pipe(s)
      s.on('error', () => {})
    })
    fs.rmSync(hcSocket(topic), { force: true })
    await new Promise((resolve) => server.listen(hcSocket(topic), resolve))
    ready()
    // Not a for-await: leaving one awaits the live stream's close, which waits for a block that never comes.
    core.download({ start: 0, end: -1 }) // fetch every block as it appears, not one request per read
    await new Promise((resolve, reject) => {
      const rs = core.createReadStream({ start: 0, live: true })
      rs.on('data', (v) => { if (onMessage(v)) { resolve(); rs.destroy() } })
      rs.on('error', reject)
    })
    server.close()
  },
  groupSupported: () => false
}

// Connects to a Unix socket that another worker is about to listen on.
async function connectRetry (file) {
  for (let i = 0; ; i++) {
    try {
      return await new Promise((resolve, reject) => {
        const s = net.connect(file, () => { s.off('error', reject); resolve(s) })
        s.once('error', reject)
      })
    } catch (e) { if (i >= 200) throw e; await sleep(25) }
  }
}

// ---------------------------------------------------------------- the floor
// What the harness costs with no system under it: produce builds the same record objects
// and calls nothing; latency is two Node processes and a raw Unix socket (the sender writes
// the stamped values, the receiver cuts them out of the stream).
const floorSocket = (topic) => path.join(os.tmpdir(), `caldo-bench-floor-${topic}.sock`)
const floor = {
  name: 'floor',
  async connect (spec = {}) {
    return spec.role === 'paced' ? { socket: await connectRetry(floorSocket(spec.topic)) } : {}
  },
  // Ends once everything written has gone out: the worker exits soon after closing.
  async close (c) { if (c.socket) await new Promise((resolve) => c.socket.end(resolve)) },
  async create () {},
  async drop (c, topic) { fs.rmSync(floorSocket(topic), { force: true }) },
  async produce (c, { values, partition }) {
    let kept = 0
    await eachBatch(values, async (vs) => { kept += vs.map(partition === undefined ? (value) => ({ value }) : (value) => ({ value, partition })).length })
    if (kept !== values.length) throw new Error('floor: lost records')
  },
  async sendNow (c, state, topic, values) { c.socket.write(values.length === 1 ? values[0] : Buffer.concat(values)) },
  consumeModes: [],
  async tail (c, { topic, valueBytes }, onMessage, ready) {
    fs.rmSync(floorSocket(topic), { force: true })
    await new Promise((resolve, reject) => {
      const server = net.createServer((socket) => {
        let buf = Buffer.alloc(0)
        socket.on('data', (chunk) => {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk
          let at = 0
          for (; at + valueBytes <= buf.length; at += valueBytes) {
            if (onMessage(buf.subarray(at, at + valueBytes))) { server.close(); socket.destroy(); return resolve() }
          }
          buf = buf.subarray(at)
        })
      })
      server.on('error', reject)
      server.listen(floorSocket(topic), ready)
    })
  },
  groupSupported: () => false
}

module.exports = { drivers: { floor, caldo, kafka, kafkajava, rdkafka, redis, sqlite, nats, hypercore }, nowUs, makeValue, valuePool, batchOf, sentAt, WORK, PORTS, BATCH, IN_FLIGHT }
