'use strict'
// A Log on an Apache Kafka cluster: the same API as a local log directory, through
// @platformatic/kafka (loaded only here, when a kafka:// log is opened). Validation and
// serdes are the local ones; what Kafka cannot do fails with ERR_UNSUPPORTED.

const { coded, invalid } = require('../errors.js')
const v = require('../validate.js')
const { topicConfig } = require('../log.js')
const { asyncDispose } = require('../client.js')
const { fromKafka, unsupported } = require('./errors.js')

const CONNECT_TIMEOUT_MS = 10_000
const KAFKA_KEYS = ['brokers', 'clientId', 'ssl', 'sasl', 'connectTimeoutMs', 'sessionTimeoutMs']
// caldo's topic settings and Kafka's names for them.
const TOPIC_CONFIGS = {
  segmentBytes: 'segment.bytes',
  maxMessageBytes: 'max.message.bytes',
  retentionMs: 'retention.ms',
  retentionBytes: 'retention.bytes',
  segmentMs: 'segment.ms',
  cleanupPolicy: 'cleanup.policy',
  deleteRetentionMs: 'delete.retention.ms',
  minCompactionLagMs: 'min.compaction.lag.ms',
  minCleanableDirtyRatio: 'min.cleanable.dirty.ratio'
}
const EARLIEST = -2n
const LATEST = -1n
const READ_COMMITTED = 1
const TOPIC_RESOURCE = 2

// 'host:port' with a port from 1 to 65535 (IPv6 hosts in brackets).
function broker (what, s) {
  const m = typeof s === 'string' && /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(s)
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw invalid(`${what} must be host:port (port 1 to 65535), got ${v.describe(s)}`)
  return s
}

/** 'kafka://host:port[,host:port]' or { kafka: { brokers, clientId, ssl, sasl, connectTimeoutMs, sessionTimeoutMs } }, checked. */
function parseTarget (target, opts) {
  return v.readingArgs('open', () => {
    if (opts !== undefined) {
      const first = Object.keys(v.object('open options', opts)).find((k) => opts[k] !== undefined)
      if (first) {
        throw first === 'durability' || first === 'flushIntervalMs' || first === 'cleanIntervalMs'
          ? unsupported(first, 'the brokers decide durability (acks=all, min.insync.replicas) and run retention themselves')
          : invalid(`open('kafka://...') takes no options; give { kafka: { ... } } for client settings, got '${first}'`)
      }
    }
    if (typeof target === 'string') {
      const m = /^kafka:\/\/([^/?#]+)\/?$/i.exec(target)
      if (!m) throw invalid(`a Kafka log is opened with 'kafka://host:port[,host:port]', got ${v.describe(target)}`)
      return { brokers: m[1].split(',').map((b, i) => broker(`broker ${i + 1} of ${v.describe(target)}`, b)) }
    }
    const k = v.options('open({ kafka })', v.object('open({ kafka })', target), ['kafka'])
    const o = v.options('kafka options', v.object('kafka options', k.kafka), KAFKA_KEYS)
    let brokers = o.brokers
    if (typeof brokers === 'string') brokers = brokers.split(',')
    if (!Array.isArray(brokers) || brokers.length === 0) throw invalid(`kafka.brokers must be ['host:port', ...], got ${v.describe(o.brokers)}`)
    const out = { brokers: v.array('kafka.brokers', brokers).map((b, i) => broker(`kafka.brokers[${i}]`, b)) }
    if (o.clientId !== undefined) out.clientId = v.string('kafka.clientId', o.clientId)
    if (o.ssl !== undefined && o.ssl !== true) v.object('kafka.ssl (true or tls.connect options)', o.ssl)
    if (o.ssl !== undefined) out.tls = o.ssl === true ? {} : o.ssl
    if (o.sasl !== undefined) {
      const s = v.options('kafka.sasl', v.object('kafka.sasl', o.sasl), ['mechanism', 'username', 'password', 'token'])
      v.string('kafka.sasl.mechanism', s.mechanism)
      out.sasl = s
    }
    for (const key of ['connectTimeoutMs', 'sessionTimeoutMs']) {
      if (o[key] !== undefined) out[key] = v.int(`kafka.${key}`, o[key], 1, 2 ** 31 - 1)
    }
    return out
  })
}

// One partition's info in the local shape; Kafka reports no per-partition bytes nor dirty ratio here.
const partitionInfo = (partition, low, high, lso) => ({ partition, low, high, lso, bytes: null, dirtyRatio: null })

class KafkaLog {
  #admin
  #closed = false
  #clients = new Set()
  #client

  constructor (kafka, conn, admin) {
    this.#admin = admin
    this.#client = Object.freeze({
      kafka,
      conn,
      admin,
      check: () => this.#check(),
      forget: (c) => this.#clients.delete(c),
      has: (c) => this.#clients.has(c),
      fail: (err, what) => fromKafka(err, what, conn.bootstrapBrokers.join(',')),
      partitions: (topic) => this.#partitionCount(topic),
      ends: (tps, isolation) => this.#ends(tps, isolation)
    })
  }

  #check () {
    if (this.#closed) throw coded('ERR_CLOSED', 'the log is closed; open it again with open(url)')
  }

  async #call (what, fn) {
    this.#check()
    try {
      return await fn()
    } catch (err) {
      throw this.#client.fail(err, what)
    }
  }

  async #partitionCount (topic) {
    const md = await this.#call(`topic '${topic}'`, () => this.#admin.metadata({ topics: [topic] }))
    return md.topics.get(topic).partitionsCount
  }

  // Per partition: the offset at `ts` (EARLIEST or LATEST), or at each one's own `timestamp`; a Map 'topic:partition' -> number.
  async #offsets (tps, ts, isolation) {
    const byTopic = new Map()
    for (const { topic, partition, timestamp } of tps) {
      if (!byTopic.has(topic)) byTopic.set(topic, [])
      // Kafka refuses a request naming a partition twice.
      const list = byTopic.get(topic)
      if (!list.some((p) => p.partitionIndex === partition)) list.push({ partitionIndex: partition, timestamp: ts ?? BigInt(timestamp) })
    }
    if (byTopic.size === 0) return new Map()
    const res = await this.#admin.listOffsets({
      topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })),
      isolationLevel: isolation === 'read_uncommitted' ? 0 : READ_COMMITTED
    })
    const out = new Map()
    for (const t of res) for (const p of t.partitions) out.set(`${t.name}:${p.partitionIndex}`, Number(p.offset))
    return out
  }

  // Where reading ends for each partition: the high watermark, or the last stable offset when read committed.
  #ends (tps, isolation) { return this.#offsets(tps, LATEST, isolation) }

  async #topicInfos (names) {
    if (names.length === 0) return []
    const md = await this.#admin.metadata({ topics: names })
    const tps = names.flatMap((topic) => Array.from({ length: md.topics.get(topic).partitionsCount }, (_, partition) => ({ topic, partition })))
    const [low, high, lso, configs] = await Promise.all([
      this.#offsets(tps, EARLIEST, 'read_uncommitted'),
      this.#ends(tps, 'read_uncommitted'),
      this.#ends(tps, 'read_committed'),
      this.#admin.describeConfigs({ resources: names.map((resourceName) => ({ resourceType: TOPIC_RESOURCE, resourceName, configurationKeys: Object.values(TOPIC_CONFIGS) })) })
    ])
    return names.map((name) => {
      const kafkaCfg = new Map(configs.find((c) => c.resourceName === name).configs.map((c) => [c.name, c.value]))
      const config = { partitions: md.topics.get(name).partitionsCount }
      for (const [key, kname] of Object.entries(TOPIC_CONFIGS)) {
        const raw = kafkaCfg.get(kname)
        config[key] = key === 'cleanupPolicy' ? raw.split(',').sort().join(',') : Number(raw)
      }
      const partitions = Array.from({ length: config.partitions }, (_, p) => {
        const k = `${name}:${p}`
        return partitionInfo(p, low.get(k), high.get(k), lso.get(k))
      })
      return { name, partitions, config }
    })
  }

  async createTopic (name, cfg) {
    this.#check()
    v.string('topic', name, 'ERR_INVALID_TOPIC')
    const o = topicConfig(cfg)
    const partitions = o.partitions === undefined ? 1 : v.int('partitions', o.partitions, 1, 1_000_000)
    const configs = Object.entries(o).filter(([k]) => k !== 'partitions').map(([k, val]) => ({ name: TOPIC_CONFIGS[k], value: String(val) }))
    return this.#call(`createTopic('${name}')`, async () => {
      await this.#admin.createTopics({ topics: [name], partitions, replicas: -1, configs })
      return (await this.#topicInfos([name]))[0]
    })
  }

  async alterTopic (name, cfg) {
    this.#check()
    v.string('topic', name, 'ERR_INVALID_TOPIC')
    if (cfg === undefined) throw invalid('alterTopic(name, cfg) takes the settings to change')
    const o = topicConfig(cfg)
    if (o.partitions !== undefined) throw invalid('a topic\'s partitions are fixed at creation; alterTopic changes every other setting')
    return this.#call(`alterTopic('${name}')`, async () => {
      await this.#admin.incrementalAlterConfigs({
        resources: [{ resourceType: TOPIC_RESOURCE, resourceName: name, configs: Object.entries(o).map(([k, val]) => ({ name: TOPIC_CONFIGS[k], configOperation: 0, value: String(val) })) }]
      })
      return (await this.#topicInfos([name]))[0]
    })
  }

  async deleteRecords (topic, partition, beforeOffset) {
    this.#check()
    v.string('topic', topic, 'ERR_INVALID_TOPIC')
    v.number('partition', partition)
    v.number('beforeOffset', beforeOffset)
    const res = await this.#call(`deleteRecords('${topic}', ${partition})`, () =>
      this.#admin.deleteRecords({ topics: [{ name: topic, partitions: [{ partition, offset: BigInt(beforeOffset) }] }] }))
    return { topic, partition, lowWatermark: Number(res[0].partitions[0].lowWatermark) }
  }

  async clean () {
    this.#check()
    throw unsupported('log.clean()', 'the brokers apply retention and compaction on their own schedule (log.retention.check.interval.ms)')
  }

  async deleteTopic (name) {
    v.string('topic', name, 'ERR_INVALID_TOPIC')
    await this.#call(`deleteTopic('${name}')`, () => this.#admin.deleteTopics({ topics: [name] }))
  }

  async topics (opts) {
    this.#check()
    const o = v.readingArgs('topics options', () => v.options('topics options', opts, ['internal']))
    const internal = o.internal === undefined ? false : v.boolean('internal', o.internal)
    return this.#call('topics()', async () => {
      const names = (await this.#admin.listTopics({ includeInternals: internal }))
        .filter((n) => internal ? n !== '__transaction_state' : !n.startsWith('__')).sort()
      return this.#topicInfos(names)
    })
  }

  async groups () {
    return this.#call('groups()', async () => {
      const ids = [...(await this.#admin.listGroups()).values()].filter((g) => g.protocolType === 'consumer' || g.protocolType === '').map((g) => g.id).sort()
      if (ids.length === 0) return []
      const [described, offsets] = await Promise.all([
        this.#admin.describeGroups({ groups: ids }),
        this.#admin.listConsumerGroupOffsets({ groups: ids })
      ])
      const committed = offsets.flatMap((g) => g.topics.flatMap((t) => t.partitions.map((p) => ({ groupId: g.groupId, topic: t.name, partition: p.partitionIndex, committed: p.committedOffset < 0n ? null : Number(p.committedOffset) }))))
      const highs = await this.#ends(committed, 'read_uncommitted')
      return ids.map((groupId) => {
        const g = described.get(groupId)
        const members = [...(g?.members.values() ?? [])].map((m) => ({
          memberId: m.id,
          // Kafka knows a member by its session, not its process.
          pid: null,
          clientId: m.clientId,
          host: m.clientHost,
          topics: m.metadata?.topics ?? [],
          assignment: [...(m.assignments?.values() ?? [])].flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition })))
        }))
        const offs = committed.filter((c) => c.groupId === groupId).map(({ topic, partition, committed: c }) => {
          const high = highs.get(`${topic}:${partition}`)
          return { topic, partition, committed: c, high, lag: high - (c ?? 0) }
        }).sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)
        return { groupId, generation: null, members, offsets: offs }
      })
    })
  }

  async offsetsForTimes (query) {
    this.#check()
    const list = v.readingArgs('offsetsForTimes', () => Array.from(v.array('offsetsForTimes', query), (q, i) => {
      const tp = v.topicPartition(`offsetsForTimes[${i}]`, q)
      tp.timestamp = v.number(`offsetsForTimes[${i}].timestamp`, q.timestamp)
      return tp
    }))
    return this.#call('offsetsForTimes()', async () => {
      // Kafka takes each partition once per request: the n-th query of a partition goes in request n.
      const rounds = []
      const times = new Map()
      list.forEach((q, i) => {
        const k = `${q.topic}:${q.partition}`
        const n = times.get(k) ?? 0
        times.set(k, n + 1)
        ;(rounds[n] ??= []).push(i)
      })
      const at = []
      for (const round of rounds) {
        const got = await this.#offsets(round.map((i) => list[i]))
        for (const i of round) at[i] = got.get(`${list[i].topic}:${list[i].partition}`)
      }
      const high = await this.#ends(list, 'read_uncommitted')
      // No record that recent: Kafka says -1, caldo the high watermark (where a seek to that time starts).
      return list.map(({ topic, partition }, i) => ({ topic, partition, offset: at[i] < 0 ? high.get(`${topic}:${partition}`) : at[i] }))
    })
  }

  async #members (groupId) {
    const g = (await this.#admin.describeGroups({ groups: [groupId] })).get(groupId)
    return g ? g.members.size : 0
  }

  async setGroupOffsets (groupId, to) {
    this.#check()
    v.string('groupId', groupId, 'ERR_INVALID_GROUP')
    const target = v.readingArgs('setGroupOffsets', () => {
      if (to === 'earliest' || to === 'latest') return to
      if (!Array.isArray(to)) throw invalid(`setGroupOffsets takes 'earliest', 'latest' or [{ topic, partition, offset }, ...], got ${v.describe(to)}`)
      return Array.from(to, (o, i) => v.topicPartitionOffset(`offsets[${i}]`, o))
    })
    await this.#call(`setGroupOffsets('${groupId}')`, async () => {
      if (await this.#members(groupId) > 0) throw coded('ERR_GROUP_ACTIVE', `group '${groupId}' has live members; stop them, then set its offsets`)
      let list = target
      if (typeof target === 'string') {
        const [g] = await this.#admin.listConsumerGroupOffsets({ groups: [groupId] })
        const tps = g.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })))
        const at = await this.#offsets(tps, target === 'earliest' ? EARLIEST : LATEST, 'read_uncommitted')
        list = tps.map((tp) => ({ ...tp, offset: at.get(`${tp.topic}:${tp.partition}`) }))
      }
      const byTopic = new Map()
      for (const { topic, partition, offset } of list) {
        if (!byTopic.has(topic)) byTopic.set(topic, [])
        byTopic.get(topic).push({ partition, offset: BigInt(offset) })
      }
      if (byTopic.size) await this.#admin.alterConsumerGroupOffsets({ groupId, topics: [...byTopic].map(([name, partitionOffsets]) => ({ name, partitionOffsets })) })
    })
  }

  async deleteGroup (groupId) {
    v.string('groupId', groupId, 'ERR_INVALID_GROUP')
    await this.#call(`deleteGroup('${groupId}')`, () => this.#admin.deleteGroups({ groups: [groupId] }))
  }

  producer (opts) {
    this.#check()
    const { KafkaProducer } = require('./producer.js')
    const p = new KafkaProducer(this.#client, opts)
    this.#clients.add(p)
    return p
  }

  consumer (opts) {
    this.#check()
    const { KafkaConsumer } = require('./consumer.js')
    const c = new KafkaConsumer(this.#client, opts)
    this.#clients.add(c)
    return c
  }

  async ui () {
    this.#check()
    throw unsupported('log.ui()', 'the web console reads a local log directory; use a Kafka console for a cluster')
  }

  table () {
    this.#check()
    throw unsupported('log.table()', 'tables follow a local log directory')
  }

  async close () {
    if (this.#closed) return
    await Promise.all([...this.#clients].map((c) => c.close()))
    this.#closed = true
    await this.#admin.close().catch(() => {})
  }

  [asyncDispose] () { return this.close() }
}

async function open (target, opts) {
  const t = parseTarget(target, opts)
  let kafka
  try {
    kafka = await import('@platformatic/kafka')
  } catch (cause) {
    throw coded('ERR_UNSUPPORTED', `the Kafka client (@platformatic/kafka) could not be loaded: ${cause.message}`, { cause })
  }
  const timeout = t.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
  const conn = {
    clientId: t.clientId ?? `caldo-${process.pid}`,
    bootstrapBrokers: t.brokers,
    connectTimeout: timeout,
    timeout,
    retries: 3,
    retryDelay: 250,
    ...(t.tls ? { tls: t.tls } : {}),
    ...(t.sasl ? { sasl: t.sasl } : {}),
    sessionTimeout: t.sessionTimeoutMs ?? 10_000
  }
  const { sessionTimeout, ...base } = conn
  const admin = new kafka.Admin(base)
  // Bounded: an unreachable cluster is ERR_CONNECT after `timeout`, never a hang.
  let timer
  try {
    await Promise.race([
      admin.metadata({ topics: [] }),
      new Promise((resolve, reject) => { timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeout} ms`), { code: 'PLT_KFK_NETWORK' })), timeout) })
    ])
  } catch (err) {
    admin.close().catch(() => {})
    throw fromKafka(err, 'open', t.brokers.join(','))
  } finally {
    clearTimeout(timer)
  }
  return new KafkaLog(kafka, { ...base, sessionTimeout }, admin)
}

module.exports = { open, KafkaLog, parseTarget }
