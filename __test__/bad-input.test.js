'use strict'
// Random bad values to every public method, option and field, and as serde outputs, from a
// fixed seed (SEED=<n> to replay or vary): every call works or fails with an Error that has
// an ERR_* code and a message, the process survives, and what was written before (records
// and a committed group offset) reads back the same afterwards.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { open, serde } = require('..')
const { tmpdir, rng } = require('./helpers')

const SEED = process.env.SEED === undefined ? 0x5EED0BAD : Number(process.env.SEED) >>> 0
const CALLS = 3000
const CODE = /^ERR_[A-Z_]+$/

// What the test's own getters, Proxy traps and serdes throw. caldo may pass it through
// unchanged (it is the caller's own exception); anything else must carry a code.
const OWN = new Error("thrown by the caller's own getter, trap or serde")
const throwOwn = () => { throw OWN }
const HUGE = 'x'.repeat(1 << 20)
const TRAPS = ['get', 'set', 'has', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'defineProperty', 'deleteProperty', 'apply', 'construct']

// [label, make]: `make` builds a fresh value each time.
const BAD = [
  ['10n', () => 10n], ['-1n', () => -1n], ['2n**64n', () => 2n ** 64n],
  ['Symbol()', () => Symbol('bad')], ['Symbol.iterator', () => Symbol.iterator],
  ['function', () => function f () {}], ['arrow', () => () => 'x'], ['class', () => class K {}],
  ['NaN', () => NaN], ['Infinity', () => Infinity], ['-Infinity', () => -Infinity],
  ['-1', () => -1], ['-0', () => -0], ['0.5', () => 0.5], ['2**31', () => 2 ** 31], ['2**32', () => 2 ** 32],
  ['2**53', () => 2 ** 53], ['2**64', () => 2 ** 64], ['1e308', () => 1e308], ['Number.MIN_VALUE', () => Number.MIN_VALUE],
  ['huge string (1 MiB)', () => HUGE], ["''", () => ''], ["' '", () => ' '], ["'\\0'", () => '\0'],
  ["'\\uD800'", () => '\uD800'], ["'../up'", () => '../up'], ["'a/b'", () => 'a/b'], ["'é'", () => 'é'],
  ["'earliest '", () => 'earliest '], ["'1'", () => '1'],
  ['null', () => null], ['undefined', () => undefined], ['true', () => true], ['false', () => false], ['0', () => 0],
  ['[]', () => []], ['[1, 2]', () => [1, 2]], ['[[[]]]', () => [[[]]]], ['[null]', () => [null]], ['new Array(3)', () => new Array(3)],
  ['[10n]', () => [10n]], ['[Symbol()]', () => [Symbol('in-array')]],
  ['{}', () => ({})], ['{ a: { b: { c: 10n } } }', () => ({ a: { b: { c: 10n } } })],
  ['{ topic: {}, partition: [] }', () => ({ topic: {}, partition: [] })],
  ['Object.create(null)', () => Object.create(null)], ['Object.freeze({})', () => Object.freeze({})],
  ['new Date(0)', () => new Date(0)], ['/x/', () => /x/], ['new Map()', () => new Map()], ['new Set([1])', () => new Set([1])],
  ['Promise.resolve(1)', () => Promise.resolve(1)], ["new Error('e')", () => new Error('e')],
  ['new Number(1)', () => new Number(1)], ["new String('data')", () => new String('data')], // eslint-disable-line no-new-wrappers
  ['{ toString, valueOf } that throw', () => ({ toString: throwOwn, valueOf: throwOwn })],
  ['{ [Symbol.toPrimitive] } that throws', () => ({ [Symbol.toPrimitive]: throwOwn })],
  ['{ valueOf: () => 10n }', () => ({ valueOf: () => 10n })],
  ['{ get value/topic/partition } that throw', () => Object.defineProperties({}, Object.fromEntries(
    ['value', 'topic', 'partition', 'offset', 'key'].map((k) => [k, { get: throwOwn, enumerable: true }])))],
  ['Proxy whose every trap throws', () => new Proxy(function () {}, Object.fromEntries(TRAPS.map((k) => [k, throwOwn])))],
  ['Proxy of {}', () => new Proxy({}, {})], ['Proxy of []', () => new Proxy([], {})],
  ["Buffer.from('data')", () => Buffer.from('data')], ['Buffer.alloc(0)', () => Buffer.alloc(0)],
  ['new Uint8Array(3)', () => new Uint8Array(3)], ['new Float64Array(2)', () => new Float64Array(2)],
  ['new ArrayBuffer(4)', () => new ArrayBuffer(4)], ['new DataView(...)', () => new DataView(new ArrayBuffer(2))],
  ['AbortSignal.abort()', () => AbortSignal.abort()], ['globalThis', () => globalThis]
]

/** What is wrong with `err` as a failure of a caldo call, or null when it is fine. */
function problem (err) {
  if (err === OWN) return null
  if (!(err instanceof Error)) return `threw a non-Error (${typeof err})`
  if (typeof err.code !== 'string' || !CODE.test(err.code)) {
    return `${err.name} without an ERR_* code (code: ${typeof err.code === 'string' ? err.code : typeof err.code}): ${err.message}`
  }
  if (typeof err.message !== 'string' || err.message.length === 0) return `${err.code} with an empty message`
  return null
}

function okLabel (v) {
  if (typeof v === 'string') return JSON.stringify(v)
  if (Buffer.isBuffer(v)) return `Buffer.from(${JSON.stringify(v.toString())})`
  if (v instanceof Uint8Array) return `new Uint8Array([${v.join(', ')}])`
  return String(v)
}

// Generators return [value, label, valid]: `valid` is false once any bad value went in.
function makeGen (random) {
  const chance = (p) => random(10_000) < p * 10_000
  const pick = (xs) => xs[random(xs.length)]
  const int = (lo, hi) => lo + random(hi - lo + 1)
  const bad = () => { const [label, make] = pick(BAD); return [make(), label, false] }
  const ok = (v, label) => [v, label ?? String(v), true]
  const slot = (valid, pBad = 0.25) => chance(pBad) ? bad() : valid()
  const okPick = (xs) => () => { const v = pick(xs); return ok(v, okLabel(v)) }

  // An object of fields (each present at random), then perhaps damaged: a field replaced by
  // a bad value, an unknown field, a field whose getter throws, frozen, behind a Proxy,
  // inherited, or the whole object swapped for a bad value.
  function obj (fields, { required = [], pBad = 0.4 } = {}) {
    if (chance(0.1)) return bad()
    const o = {}
    const labels = []
    let valid = true
    for (const [k, spec] of Object.entries(fields)) {
      // A field is a generator, or [generator, how often it is present].
      const [gen, pIn] = Array.isArray(spec) ? spec : [spec, 0.5]
      if (!required.includes(k) && !chance(pIn)) continue
      const [v, l, vOk] = gen()
      o[k] = v; labels.push(`${k}: ${l}`); valid = valid && vOk
    }
    let label = () => `{ ${labels.join(', ')} }`
    if (chance(pBad)) {
      const names = Object.keys(fields)
      const roll = random(100)
      if (roll < 55) {
        const k = pick(names)
        const [v, l] = bad()
        o[k] = v
        const i = labels.findIndex((x) => x.startsWith(`${k}: `))
        if (i >= 0) labels.splice(i, 1)
        labels.push(`${k}: ${l}`)
        valid = false
      } else if (roll < 65) {
        const [v, l] = bad()
        o.bogus = v; labels.push(`bogus: ${l}`); valid = false
      } else if (roll < 75) {
        const k = pick(names)
        Object.defineProperty(o, k, { get: throwOwn, enumerable: true, configurable: true })
        labels.push(`get ${k}() { throw }`); valid = false
      } else if (roll < 82) {
        Object.freeze(o); const inner = label(); label = () => `Object.freeze(${inner})`
        return [o, label(), valid]
      } else if (roll < 89) {
        const inner = label(); return [new Proxy(o, {}), `Proxy(${inner})`, valid]
      } else if (roll < 95) {
        const inner = label(); return [Object.create(o), `Object.create(${inner})`, false]
      } else {
        const inner = label(); return [[o], `[${inner}]`, false]
      }
    }
    return [o, label(), valid]
  }

  function array (gen, { min = 1, max = 3 } = {}) {
    if (chance(0.1)) return bad()
    const n = int(min, max)
    const out = []
    const labels = []
    let valid = true
    for (let i = 0; i < n; i++) {
      const [v, l, vOk] = gen()
      out.push(v); labels.push(l); valid = valid && vOk
    }
    if (chance(0.05)) return [Object.freeze(out), `Object.freeze([${labels.join(', ')}])`, valid]
    return [out, `[${labels.join(', ')}]`, valid]
  }

  const bytes = okPick(['k', '', Buffer.from('b'), Buffer.alloc(0), new Uint8Array([1, 2, 3])])
  const serdeOk = () => { const i = random(3); return ok([serde.string, serde.json, serde.buffer][i], ['serde.string', 'serde.json', 'serde.buffer'][i]) }
  // A serde with a bad member: serialize/deserialize missing or not functions.
  const aSerde = () => chance(0.15)
    ? obj({ serialize: () => ok((v) => v, 'v => v'), deserialize: () => ok((b) => b, 'b => b') }, { required: ['serialize', 'deserialize'] })
    : slot(serdeOk, 0.15)
  const headers = () => obj({
    h: bytes,
    empty: () => ok(null, 'null'),
    'ü-名': () => ok('värde-値', "'värde-値'"),
    b: () => ok(Buffer.from([0, 255]), 'Buffer')
  }, { pBad: 0.5 })
  const record = () => obj({
    key: () => slot(bytes, 0.15),
    value: () => slot(okPick(['v', '', null, Buffer.from('value')]), 0.15),
    headers: () => slot(headers, 0.15),
    partition: () => slot(okPick([0, 1]), 0.15),
    timestamp: () => slot(okPick([0, 1_700_000_000_000, Number.MAX_SAFE_INTEGER]), 0.15)
  }, { required: ['value'], pBad: 0.3 })
  const topicName = (names) => () => slot(okPick(names))
  const tp = (withOffset, topics = ['data']) => () => obj(Object.assign({
    topic: topicName(topics),
    partition: () => slot(okPick([0, 1]), 0.2)
  }, withOffset ? { offset: () => slot(okPick(withOffset), 0.2) } : {}), { required: ['topic', 'partition', ...(withOffset ? ['offset'] : [])], pBad: 0.25 })
  const signal = () => slot(() => chance(0.5) ? ok(new AbortController().signal, 'signal') : ok(AbortSignal.abort(), 'AbortSignal.abort()'), 0.25)
  const manualOpts = () => obj({
    assign: () => array(tp(['earliest', 'latest', 0, 3, 1e6], ['data', 'scratch']), { max: 2 }),
    key: aSerde,
    value: aSerde,
    signal,
    startFrom: [() => ok('earliest', "'earliest'"), 0.1] // only with a groupId
  }, { required: ['assign'], pBad: 0.3 })
  const groupOpts = () => obj({
    groupId: () => slot(okPick(['fz-g1', 'fz-g2'])),
    topics: () => array(topicName(['data', 'scratch']), { max: 2 }),
    startFrom: () => slot(okPick(['earliest', 'latest'])),
    autoCommit: () => chance(0.5) ? slot(okPick([true, false])) : obj({ intervalMs: () => slot(okPick([0, 100, 5000])) }, { required: ['intervalMs'] }),
    assignor: () => slot(okPick(['cooperative-sticky', 'range', 'roundrobin'])),
    maxPollIntervalMs: () => slot(okPick([1, 1000, 2 ** 31 - 1])),
    key: aSerde,
    value: aSerde,
    signal,
    assign: [() => array(tp(['earliest']), { max: 1 }), 0.1] // not with a groupId
  }, { required: ['groupId', 'topics'], pBad: 0.3 })
  const anything = () => chance(0.5) ? ok(undefined, 'undefined') : bad()
  const tpTime = () => obj({
    topic: topicName(['data', 'scratch']),
    partition: () => slot(okPick([0, 1]), 0.2),
    timestamp: () => slot(okPick([0, Date.now(), 2 ** 53 - 1]), 0.2)
  }, { required: ['topic', 'partition', 'timestamp'], pBad: 0.25 })

  return { chance, pick, int, bad, ok, slot, okPick, obj, array, record, headers, tp, tpTime, manualOpts, groupOpts, anything, topicName, signal, aSerde }
}

// The records written before the storm, and read back after it.
const BEFORE = Array.from({ length: 12 }, (_, i) => ({
  key: i % 3 === 2 ? null : Buffer.from(`key-${i}`),
  value: i % 4 === 3 ? null : Buffer.from(`value-${i}-${'z'.repeat(i * 7)}`),
  headers: { n: Buffer.from(String(i)), 'ü': Buffer.from('名'), empty: null },
  partition: i % 2,
  timestamp: 1_600_000_000_000 + i
}))
const KEEP_OFFSETS = [{ topic: 'data', partition: 0, offset: 4 }, { topic: 'data', partition: 1, offset: 5 }]

async function readBack (log) {
  const c = log.consumer({ assign: [0, 1].map((partition) => ({ topic: 'data', partition, offset: 'earliest' })) })
  const got = []
  for await (const m of c) {
    const per = got.filter((x) => x.partition === m.partition).length
    if (per < BEFORE.length / 2) got.push(m)
    if (got.length === BEFORE.length) break
  }
  return got.map((m) => ({
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key === null ? null : m.key.toString('hex'),
    value: m.value === null ? null : m.value.toString('hex'),
    headers: Object.entries(m.headers).map(([k, v]) => [k, v === null ? null : v.toString('hex')])
  })).sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

async function keepCommitted (log) {
  const g = (await log.groups()).find((x) => x.groupId === 'keep')
  return g.offsets.filter((o) => o.topic === 'data').map((o) => ({ topic: o.topic, partition: o.partition, offset: o.committed }))
}

test(`random bad values to every public method: coded errors, no crash, nothing written before changes (SEED=${SEED})`, async (t) => {
  const dir = tmpdir(t)
  const scratch = tmpdir(t)
  const sideDir = path.join(scratch, 'side')
  // Bad strings used as a log directory are relative paths: keep them inside the scratch directory.
  const cwd = path.join(scratch, 'cwd', 'inner')
  fs.mkdirSync(cwd, { recursive: true })
  const oldCwd = process.cwd()
  process.chdir(cwd)
  t.after(() => process.chdir(oldCwd))

  let log = await open(dir, { durability: 'none' })
  await log.createTopic('data', { partitions: 2 })
  await log.createTopic('scratch')
  const written = await log.producer().sendBatch('data', BEFORE)
  await log.setGroupOffsets('keep', KEEP_OFFSETS)
  const expected = BEFORE.map((r, i) => ({
    partition: written[i].partition,
    offset: written[i].offset,
    timestamp: r.timestamp,
    key: r.key === null ? null : r.key.toString('hex'),
    value: r.value === null ? null : r.value.toString('hex'),
    headers: Object.entries(r.headers).map(([k, v]) => [k, v === null ? null : v.toString('hex')])
  })).sort((a, b) => a.partition - b.partition || a.offset - b.offset)
  assert.deepEqual(await readBack(log), expected, 'written as sent')
  assert.deepEqual(await keepCommitted(log), KEEP_OFFSETS)

  const producer = log.producer()
  const manual = log.consumer({ assign: [{ topic: 'data', partition: 0, offset: 'earliest' }, { topic: 'data', partition: 1, offset: 3 }] })
  const member = log.consumer({ groupId: 'fz-g1', topics: ['data'], autoCommit: false, startFrom: 'earliest' })
  const consumers = { manual, member }

  const random = rng(SEED)
  const g = makeGen(random)
  const failures = []
  let counts = { works: 0, coded: 0, own: 0 }
  const perMethod = {}
  let label = ''

  // Runs one call: fine if it works or fails as `problem` allows; `then` checks a result.
  async function attempt (what, fn, then) {
    let value
    try {
      value = await fn()
    } catch (err) {
      const p = problem(err)
      if (p) failures.push(`#${label} ${what}: ${p}`)
      else counts[err === OWN ? 'own' : 'coded']++
      return
    }
    counts.works++
    if (then) {
      try {
        await then(value)
      } catch (err) {
        failures.push(`#${label} ${what}: worked, then: ${err && err.message}`)
      }
    }
  }

  const methods = [
    [3, 'open', async () => {
      const [d, dl] = g.slot(() => g.ok(sideDir, 'dir'), 0.6)
      const [o, ol] = g.chance(0.2) ? g.ok(undefined, 'undefined') : g.obj({
        durability: () => g.slot(g.okPick(['none', 'interval', 'always'])),
        flushIntervalMs: () => g.slot(g.okPick([1, 1000, 3_600_000])),
        cleanIntervalMs: () => g.slot(g.okPick([0, 1000, 30_000]))
      })
      await attempt(`open(${dl}, ${ol})`, () => open(d, o), (l) => l.close())
    }],
    [3, 'log.createTopic', async () => {
      const [n, nl] = g.topicName(['fz-a', 'fz-b', 'x'.repeat(249)])()
      const [c, cl] = g.chance(0.2) ? g.ok(undefined, 'undefined') : g.obj({
        partitions: () => g.slot(g.okPick([1, 2, 3])),
        segmentBytes: () => g.slot(g.okPick([4096, 1 << 20])),
        maxMessageBytes: () => g.slot(g.okPick([1, 1000, 256 * 2 ** 20]))
      })
      await attempt(`createTopic(${nl}, ${cl})`, () => log.createTopic(n, c))
    }],
    // Only the scratch topics: the records checked at the end must stay.
    [3, 'log.alterTopic', async () => {
      const [n, nl] = g.topicName(['fz-a', 'fz-b'])()
      const [c, cl] = g.obj({
        retentionMs: () => g.slot(g.okPick([-1, 1, 3_600_000])),
        retentionBytes: () => g.slot(g.okPick([-1, 1, 1 << 20])),
        segmentMs: () => g.slot(g.okPick([1, 60_000])),
        cleanupPolicy: () => g.slot(g.okPick(['delete', 'compact', 'compact,delete'])),
        deleteRetentionMs: () => g.slot(g.okPick([0, 1000])),
        minCompactionLagMs: () => g.slot(g.okPick([0, 1000])),
        minCleanableDirtyRatio: () => g.slot(g.okPick([0, 0.5, 1]))
      })
      await attempt(`alterTopic(${nl}, ${cl})`, () => log.alterTopic(n, c))
    }],
    [2, 'log.deleteRecords', async () => {
      const [n, nl] = g.topicName(['fz-a', 'fz-b'])()
      const [p, pl] = g.slot(g.okPick([0, 1]))
      const [o, ol] = g.slot(g.okPick([0, 1, 5]))
      await attempt(`deleteRecords(${nl}, ${pl}, ${ol})`, () => log.deleteRecords(n, p, o))
    }],
    [1, 'log.clean', async () => {
      await attempt('clean()', () => log.clean(), (r) => assert.ok(r.segments >= 0))
    }],
    [2, 'log.deleteTopic', async () => {
      const [n, nl] = g.topicName(['fz-a', 'fz-b'])()
      await attempt(`deleteTopic(${nl})`, () => log.deleteTopic(n))
    }],
    [2, 'log.topics', async () => {
      const [o, ol] = g.chance(0.2) ? g.anything() : g.obj({ internal: () => g.slot(g.okPick([true, false])) })
      await attempt(`topics(${ol})`, () => log.topics(o), (ts) => assert.ok(ts.some((x) => x.name === 'data')))
    }],
    [1, 'log.groups', async () => {
      const [o, ol] = g.anything()
      await attempt(`groups(${ol})`, () => log.groups(o), (gs) => assert.ok(gs.some((x) => x.groupId === 'keep')))
    }],
    [3, 'log.setGroupOffsets', async () => {
      const [id, il] = g.slot(g.okPick(['fz-g1', 'fz-g2']))
      const [to, tl] = g.chance(0.3) ? g.slot(g.okPick(['earliest', 'latest'])) : g.array(g.tp([0, 1, 2]), { max: 2 })
      await attempt(`setGroupOffsets(${il}, ${tl})`, () => log.setGroupOffsets(id, to))
    }],
    [2, 'log.offsetsForTimes', async () => {
      const [q, ql] = g.chance(0.2) ? g.anything() : g.array(g.tpTime, { max: 2 })
      await attempt(`offsetsForTimes(${ql})`, () => log.offsetsForTimes(q))
    }],
    [3, 'log.producer', async () => {
      const [o, ol] = g.chance(0.2) ? g.anything() : g.obj({ key: () => g.slot(() => g.ok(serde.string, 'serde.string')), value: () => g.slot(() => g.ok(serde.json, 'serde.json')) })
      await attempt(`producer(${ol})`, () => log.producer(o), (p) => p.close())
    }],
    [2, 'log.producer transactional', async () => {
      const [o, ol] = g.obj({
        transactionalId: () => g.slot(g.okPick(['fz-tx', 'fz-tx-2'])),
        transactionTimeoutMs: () => g.slot(g.okPick([1, 60_000, 900_000]))
      })
      await attempt(`producer(${ol})`, () => log.producer(o), (p) => p.close())
    }],
    [2, 'producer.transaction', async () => {
      const [fn, fl] = g.slot(() => g.ok(async (tx) => { await tx.send('scratch', { value: 'fz' }) }, 'fn'))
      const tp = log.producer({ transactionalId: 'fz-tx-run' })
      try {
        await attempt(`transaction(${fl})`, () => tp.transaction(fn))
      } finally {
        await tp.close()
      }
    }],
    [8, 'producer.send', async () => {
      const [topic, tl] = g.topicName(['data', 'scratch'])()
      const [r, rl] = g.record()
      await attempt(`send(${tl}, ${rl})`, () => producer.send(topic, r), (md) => {
        assert.equal(md.topic, topic)
        assert.ok(Number.isSafeInteger(md.offset) && Number.isSafeInteger(md.partition))
      })
    }],
    [6, 'producer.sendBatch', async () => {
      const [topic, tl] = g.topicName(['data', 'scratch'])()
      const [rs, rl] = g.array(g.record, { max: 4 })
      await attempt(`sendBatch(${tl}, ${rl})`, () => producer.sendBatch(topic, rs), (mds) => assert.equal(mds.length, rs.length))
    }],
    [4, 'send and sendBatch in one tick', async () => {
      // Sent together: a bad one fails alone, the valid ones go through.
      const calls = Array.from({ length: g.int(2, 5) }, () => {
        const [topic, tl, tOk] = g.topicName(['data'])()
        if (g.chance(0.5)) {
          const [r, rl, rOk] = g.record()
          return [`send(${tl}, ${rl})`, tOk && rOk, () => producer.send(topic, r)]
        }
        const [rs, rl, rOk] = g.array(g.record, { max: 3 })
        return [`sendBatch(${tl}, ${rl})`, tOk && rOk, () => producer.sendBatch(topic, rs)]
      })
      const promises = calls.map(([, , fn]) => { try { return fn() } catch (err) { return Promise.reject(err) } })
      const settled = await Promise.allSettled(promises)
      settled.forEach((s, i) => {
        const [what, valid] = calls[i]
        if (s.status === 'fulfilled') { counts.works++; return }
        const p = problem(s.reason)
        if (p) failures.push(`#${label} ${what} (in one tick): ${p}`)
        else if (valid) failures.push(`#${label} ${what} (in one tick): a valid send failed along with a bad one: ${s.reason.code} ${s.reason.message}`)
        else counts[s.reason === OWN ? 'own' : 'coded']++
      })
    }],
    [2, 'producer.flush', async () => {
      const [a, al] = g.anything()
      await attempt(`flush(${al})`, () => producer.flush(a))
    }],
    [1, 'producer.close', async () => {
      const p = log.producer()
      const [a, al] = g.anything()
      await attempt(`producer.close(${al})`, () => p.close(a), async () => {
        await assert.rejects(p.send('data', { value: 'x' }), { code: 'ERR_CLOSED' })
      })
    }],
    [8, 'log.consumer', async () => {
      const [o, ol] = g.chance(0.5) ? g.manualOpts() : g.groupOpts()
      await attempt(`consumer(${ol})`, () => log.consumer(o), (c) => c.close())
    }],
    [4, 'consumer.batches', async () => {
      const c = log.consumer({ assign: [{ topic: 'data', partition: 0, offset: 'earliest' }] })
      const [o, ol] = g.chance(0.2) ? g.anything() : g.obj({
        maxMessages: () => g.slot(g.okPick([1, 5, 1_000_000])),
        maxWaitMs: () => g.slot(g.okPick([0, 10, 2 ** 31 - 1])),
        view: () => g.slot(g.okPick([true, false]))
      })
      // The partition has records, so a valid call returns at once.
      const it = c.batches(o)
      await attempt(`batches(${ol}).next()`, () => it.next(), (r) => {
        const first = Array.isArray(r.value) ? r.value[0]?.offset : r.value.offset(0)
        assert.ok(r.value.length > 0 && first === 0)
      })
      await c.close()
    }],
    [4, 'consumer.seek', async () => {
      const c = consumers[g.pick(['manual', 'member'])]
      const [to, tl] = g.tp(['earliest', 'latest', 0, 2, 1e9])()
      await attempt(`seek(${tl})`, () => c.seek(to))
    }],
    [2, 'consumer.seek by time', async () => {
      const c = consumers[g.pick(['manual', 'member'])]
      const [to, tl] = g.tpTime()
      await attempt(`seek(${tl})`, () => c.seek(to))
    }],
    [3, 'consumer.pause', async () => {
      const c = consumers[g.pick(['manual', 'member'])]
      const [tps, tl] = g.array(g.tp(null), { max: 2 })
      await attempt(`pause(${tl})`, () => c.pause(tps))
    }],
    [3, 'consumer.resume', async () => {
      const c = consumers[g.pick(['manual', 'member'])]
      const [tps, tl] = g.array(g.tp(null), { max: 2 })
      await attempt(`resume(${tl})`, () => c.resume(tps))
    }],
    [4, 'consumer.commit', async () => {
      const c = consumers[g.pick(['member', 'member', 'manual'])]
      const [o, ol] = g.chance(0.15) ? g.ok(undefined, 'undefined') : g.array(g.tp([0, 1, 3]), { max: 2 })
      await attempt(`commit(${ol})`, () => c.commit(o))
    }],
    [2, 'consumer.committed', async () => {
      const c = consumers[g.pick(['member', 'manual'])]
      const [a, al] = g.anything()
      await attempt(`committed(${al})`, () => c.committed(a), (r) => assert.ok(Array.isArray(r)))
    }],
    [2, 'consumer.lag', async () => {
      const c = consumers[g.pick(['member', 'manual'])]
      const [a, al] = g.anything()
      await attempt(`lag(${al})`, () => c.lag(a), (r) => assert.ok(Array.isArray(r)))
    }],
    [1, 'consumer.assignment', async () => {
      const c = consumers[g.pick(['member', 'manual'])]
      const [a, al] = g.anything()
      await attempt(`assignment(${al})`, () => c.assignment(a), (r) => assert.ok(Array.isArray(r)))
    }],
    [1, 'consumer.close', async () => {
      const c = log.consumer({ assign: [{ topic: 'data', partition: 1 }] })
      const [a, al] = g.anything()
      await attempt(`consumer.close(${al})`, () => c.close(a), () => assert.throws(() => c.seek({ topic: 'data', partition: 1, offset: 0 }), { code: 'ERR_CLOSED' }))
    }],
    [3, 'log.table', async () => {
      const [topic, tl] = g.topicName(['data', 'scratch'])()
      const [o, ol] = g.chance(0.2) ? g.anything() : g.obj({ key: g.aSerde, value: g.aSerde })
      await attempt(`table(${tl}, ${ol}).ready()`, async () => {
        const table = log.table(topic, o)
        try {
          return await table.ready()
        } finally {
          await table.close()
        }
      })
    }],
    [1, 'log.close', async () => {
      const other = await open(sideDir, { durability: 'none' })
      const [a, al] = g.anything()
      await attempt(`log.close(${al})`, () => other.close(a), () => assert.throws(() => other.producer(), { code: 'ERR_CLOSED' }))
    }],
    [4, 'serialize output', async () => {
      // A serde whose serialize returns something random (or throws).
      const [out, outl] = g.chance(0.2) ? g.okPick([Buffer.from('s'), 's', new Uint8Array([7])])() : g.bad()
      const throws = g.chance(0.1)
      const s = { serialize: () => { if (throws) throw OWN; return out }, deserialize: (b) => b }
      const which = g.pick(['key', 'value'])
      const p = log.producer({ [which]: s })
      await attempt(`producer({ ${which}: serialize() ${throws ? 'throws' : `=> ${outl}`} }).send`, () => p.send('scratch', { key: 'k', value: 'v' }))
      await p.close()
    }],
    [4, 'deserialize output', async () => {
      // A serde whose deserialize returns something random: the message carries exactly that.
      const [out, outl] = g.bad()
      const throws = g.chance(0.2)
      const s = { serialize: (v) => v, deserialize: () => { if (throws) throw OWN; return out } }
      const c = log.consumer({ assign: [{ topic: 'data', partition: 0, offset: 'earliest' }], key: s, value: s })
      const what = `consumer({ key, value: deserialize() ${throws ? 'throws' : `=> ${outl}`} }) first message`
      try {
        const { value: m } = await c[Symbol.asyncIterator]().next()
        if (throws) failures.push(`#${label} ${what}: delivered although deserialize threw`)
        else if (!Object.is(m.value, out) || !Object.is(m.key, out) || m.offset !== 0) failures.push(`#${label} ${what}: not what deserialize returned`)
        else counts.works++
      } catch (err) {
        const p = problem(err)
        if (p) failures.push(`#${label} ${what}: ${p}`)
        else if (!throws) failures.push(`#${label} ${what}: failed though deserialize returned: ${err.code} ${err.message}`)
        else if (err.code !== 'ERR_DESERIALIZE' || err.cause !== OWN) failures.push(`#${label} ${what}: ${err.code}, cause kept: ${err.cause === OWN}`)
        else counts.coded++
      } finally {
        await c.close()
      }
    }]
  ]
  const weights = methods.reduce((s, [w]) => s + w, 0)
  for (let i = 0; i < CALLS; i++) {
    let r = random(weights)
    const [, name, run] = methods.find(([w]) => (r -= w) < 0)
    counts = perMethod[name] = perMethod[name] || { works: 0, coded: 0, own: 0 }
    label = `${i}`
    await run()
  }
  const total = (k) => Object.values(perMethod).reduce((s, c) => s + c[k], 0)
  t.diagnostic(`SEED=${SEED}: ${CALLS} rounds; worked ${total('works')}, coded errors ${total('coded')}, caller's own exception passed through ${total('own')}`)
  t.diagnostic(`per method (works/coded/own): ${Object.entries(perMethod).map(([k, c]) => `${k} ${c.works}/${c.coded}/${c.own}`).join(', ')}`)

  await t.test('every call works or fails with an Error carrying an ERR_* code and a message', () => {
    const kinds = new Map()
    for (const f of failures) {
      const kind = f.replace(/^#\d+ .*?: (?=\S*Error|threw|worked|delivered|failed|not what|ERR_)/s, '').split('\n')[0]
      kinds.set(kind, (kinds.get(kind) || 0) + 1)
    }
    assert.equal(failures.length, 0,
      `SEED=${SEED}: ${failures.length} of ${CALLS} rounds failed without a proper error (replay with SEED=${SEED}).\n` +
      `By kind:\n${[...kinds].map(([k, n]) => `  ${n} × ${k}`).join('\n')}\nFirst ones:\n${failures.slice(0, 12).join('\n')}`)
  })

  await t.test('the records and the committed offset written before read back the same', async () => {
    assert.deepEqual(await readBack(log), expected, `SEED=${SEED}`)
    assert.deepEqual(await keepCommitted(log), KEEP_OFFSETS, `SEED=${SEED}`)
    await log.close()
    log = await open(dir)
    try {
      assert.deepEqual(await readBack(log), expected, `SEED=${SEED}: after reopening`)
      assert.deepEqual(await keepCommitted(log), KEEP_OFFSETS, `SEED=${SEED}: after reopening`)
    } finally {
      await log.close()
    }
  })
})
