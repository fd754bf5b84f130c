'use strict'
// Repairs: a damaged group state.json, with no member alive and with one alive in another
// process, and a damaged topic.json among healthy topics.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { open, serde } = require('..')
const { tmpdir, child } = require('./helpers')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits for `pred`; fails at once if one of `members` exits meanwhile. */
async function eventually (what, pred, members = [], ms = 20_000) {
  const end = Date.now() + ms
  while (!pred()) {
    for (const m of members) {
      if (m.proc.exitCode !== null || m.proc.signalCode !== null) {
        throw new Error(`waiting for ${what}: member ${m.proc.spawnargs.at(-2)} exited (${m.proc.exitCode ?? m.proc.signalCode})`)
      }
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

function member (dir, name, opts = {}) {
  return child('member.js', [dir, 'g', 't', name, JSON.stringify(opts)])
}

const assignmentOf = (c) => {
  const evs = c.messages.filter((m) => m.assignment)
  return evs.length ? evs[evs.length - 1].assignment : []
}

async function stopAll (members) {
  for (const m of members) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.send('stop')
  for (const m of members) await m.done
}

const DAMAGE = {
  'truncated to zero length': (file) => fs.truncateSync(file, 0),
  'filled with garbage bytes': (file) => {
    const size = Math.max(64, fs.statSync(file).size)
    const bytes = Buffer.alloc(size)
    for (let i = 0; i < size; i++) bytes[i] = (i * 131 + 7) & 0xff // not JSON, not UTF-8
    fs.writeFileSync(file, bytes)
  }
}

const PARTITIONS = 4
const PER_PARTITION = 10
const COMMITTED = 3

for (const [how, damage] of Object.entries(DAMAGE)) {
  test(`a group's state.json ${how} while no member is alive: the next member gets every partition from the committed offsets`, { timeout: 60_000 }, async (t) => {
    const dir = tmpdir(t)
    let log = await open(dir)
    await log.createTopic('t', { partitions: PARTITIONS })
    const batch = []
    for (let i = 0; i < PARTITIONS * PER_PARTITION; i++) batch.push({ value: `v${i}`, partition: i % PARTITIONS })
    await log.producer().sendBatch('t', batch)
    // A first member joins (writing the group's state.json), reads, and leaves; then the
    // group's offsets are set to COMMITTED in every partition.
    const first = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false })
    for await (const b of first.batches({ maxWaitMs: 5000 })) {
      assert.ok(b.length > 0, 'the first member reads')
      assert.equal(first.assignment().length, PARTITIONS)
      break
    }
    await log.setGroupOffsets('g', Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 't', partition, offset: COMMITTED })))
    const before = (await log.groups()).find((g) => g.groupId === 'g')
    assert.deepEqual(before.offsets.map((o) => o.committed), Array(PARTITIONS).fill(COMMITTED))
    await log.close()

    const state = path.join(dir, 'groups', 'g', 'state.json')
    assert.ok(fs.existsSync(state), 'the group keeps its state in groups/g/state.json')
    damage(state)

    log = await open(dir)
    t.after(() => log.close())
    const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false, value: serde.string })
    const got = []
    let owned
    for await (const m of c) {
      got.push([m.partition, m.offset, m.value])
      owned = c.assignment().map((tp) => tp.partition).sort()
      if (got.length === PARTITIONS * (PER_PARTITION - COMMITTED)) break
    }
    assert.deepEqual(owned, [0, 1, 2, 3], 'the new member owns every partition')
    for (let p = 0; p < PARTITIONS; p++) {
      const mine = got.filter(([q]) => q === p)
      assert.deepEqual(mine.map(([, o]) => o), Array.from({ length: PER_PARTITION - COMMITTED }, (_, i) => COMMITTED + i),
        `partition ${p}: from the committed offset, in order, each once`)
      for (const [, o, v] of mine) assert.equal(v, `v${o * PARTITIONS + p}`)
    }
    const groups = await log.groups()
    const g = groups.find((x) => x.groupId === 'g')
    assert.ok(g, `log.groups() reports the repaired group: ${JSON.stringify(groups.map((x) => x.groupId))}`)
    assert.equal(g.members.length, 0, 'the member that broke out of its loop has left')
    assert.deepEqual(g.offsets.map((o) => [o.partition, o.committed]).sort(), [[0, COMMITTED], [1, COMMITTED], [2, COMMITTED], [3, COMMITTED]],
      'the committed offsets are kept (autoCommit off, nothing new committed)')
  })
}

for (const [how, damage] of Object.entries(DAMAGE)) {
  test(`a group's state.json ${how} while a member is alive: a second member gets a fair share and every record is consumed once, by its owner`, { timeout: 90_000 }, async (t) => {
    const dir = tmpdir(t)
    const log = await open(dir)
    t.after(() => log.close())
    await log.createTopic('t', { partitions: PARTITIONS })
    const a = member(dir, 'a')
    await eventually('a owns every partition', () => assignmentOf(a).length === PARTITIONS, [a])
    const state = path.join(dir, 'groups', 'g', 'state.json')
    assert.ok(fs.existsSync(state))
    damage(state)

    const b = member(dir, 'b')
    await eventually('a fair share: 2 partitions each', () => assignmentOf(a).length === 2 && assignmentOf(b).length === 2, [a, b])
    const owner = new Map()
    for (const [name, m] of [['a', a], ['b', b]]) for (const tp of assignmentOf(m)) owner.set(tp.partition, name)
    assert.deepEqual([...owner.keys()].sort(), [0, 1, 2, 3], 'every partition has one owner')

    // Both go on: records written now are consumed, each once, by the partition's owner.
    const total = 400
    const batch = []
    for (let i = 0; i < total; i++) batch.push({ value: `v${i}`, partition: i % PARTITIONS })
    await log.producer().sendBatch('t', batch)
    const seen = () => {
      const out = new Map() // "p:o" -> [names]
      for (const [name, m] of [['a', a], ['b', b]]) {
        for (const msg of m.messages) for (const [p, o] of msg.seen || []) out.set(`${p}:${o}`, [...(out.get(`${p}:${o}`) || []), name])
      }
      return out
    }
    await eventually('every record consumed', () => seen().size === total, [a, b])
    await stopAll([a, b])
    assert.deepEqual([a.proc.exitCode, b.proc.exitCode], [0, 0], 'both members ran to a clean stop')
    const by = seen()
    for (let p = 0; p < PARTITIONS; p++) {
      for (let o = 0; o < total / PARTITIONS; o++) {
        assert.deepEqual(by.get(`${p}:${o}`), [owner.get(p)], `record ${p}:${o} consumed once, by the owner of partition ${p}`)
      }
    }
    assert.ok(['a', 'b'].every((name) => [...by.values()].some((names) => names[0] === name)), 'both members consumed')
  })
}

test('a damaged topic.json: topics() lists the healthy topics and marks the damaged one, naming it', async (t) => {
  const dir = tmpdir(t)
  let log = await open(dir)
  const names = ['alpha', 'broken-topic', 'gamma']
  for (const [i, name] of names.entries()) {
    await log.createTopic(name, { partitions: i + 1, segmentBytes: 65536, maxMessageBytes: 1000 + i })
    await log.producer().sendBatch(name, Array.from({ length: 3 + i }, (_, k) => ({ value: `${name}-${k}`, partition: 0 })))
  }
  const healthy = (await log.topics()).filter((x) => x.name !== 'broken-topic')
  await log.close()
  fs.writeFileSync(path.join(dir, 'topics', 'broken-topic', 'topic.json'), Buffer.from([0x7b, 0x22, 0xff, 0x00, 0x13, 0x37, 0x22, 0x3a]))

  log = await open(dir)
  t.after(() => log.close())
  const topics = await log.topics()
  assert.deepEqual(topics.map((x) => x.name).sort(), names, 'every topic is listed')
  for (const h of healthy) {
    assert.deepEqual(topics.find((x) => x.name === h.name), h, `${h.name} is listed as before`)
  }
  const broken = topics.find((x) => x.name === 'broken-topic')
  assert.equal(typeof broken.damage?.message, 'string', `the damaged topic says what is wrong: ${JSON.stringify(broken)}`)
  assert.match(broken.damage.message, /broken-topic/, 'the message names the topic')
  assert.deepEqual(broken, { name: 'broken-topic', partitions: [], config: null, damage: { code: 'ERR_CORRUPT', message: broken.damage.message } })
  // The healthy topics still take appends and read.
  assert.equal((await log.producer().send('gamma', { value: 'more', partition: 0 })).offset, 5)
})
