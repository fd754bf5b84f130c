'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { open, serde } = require('..')
const { tmpdir, child, until } = require('./helpers')

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const nowUs = () => Number(process.hrtime.bigint() / 1000n)

function member (dir, name, opts = {}, topic = 't', group = 'g') {
  return child('member.js', [dir, group, topic, name, JSON.stringify(opts)])
}

// The member's assignment after its latest rebalance event.
const assignmentOf = (c) => {
  const evs = c.messages.filter((m) => m.assignment)
  return evs.length ? evs[evs.length - 1].assignment : []
}

async function eventually (what, pred, ms = 20_000) {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function produce (log, topic, n, partitions) {
  const p = log.producer()
  for (let i = 0; i < n; i += 1000) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ value: `v${j}`, partition: j % partitions })
    await p.sendBatch(topic, batch)
  }
}

async function stopAll (members) {
  for (const m of members) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.send('stop')
  for (const m of members) await m.done
}

test('scale up to 4 members of 8 partitions, 2 each, then back down to 1', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 8 })
  const first = member(dir, 'm0')
  await eventually('m0 owns all 8', () => assignmentOf(first).length === 8)
  const more = [1, 2, 3].map((i) => member(dir, `m${i}`))
  const all = [first, ...more]
  await eventually('2 partitions each', () => all.every((m) => assignmentOf(m).length === 2))
  const owned = all.flatMap((m) => assignmentOf(m).map((tp) => tp.partition)).sort()
  assert.deepEqual(owned, [0, 1, 2, 3, 4, 5, 6, 7])
  const groups = await log.groups()
  assert.equal(groups[0].members.length, 4)
  assert.deepEqual(groups[0].members.map((m) => m.assignment.length), [2, 2, 2, 2])
  await stopAll(more)
  await eventually('m0 owns all 8 again', () => assignmentOf(first).length === 8)
  assert.equal((await log.groups())[0].members.length, 1)
  await stopAll([first])
  assert.equal((await log.groups())[0].members.length, 0)
})

test('kill -9 of one of 4 members: every record processed, replays only after its last commit', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 8 })
  const opts = { autoCommit: false, commitEach: true, handlerMs: 5, batch: 50 }
  const members = [0, 1, 2, 3].map((i) => member(dir, `m${i}`, opts))
  await eventually('2 partitions each', () => members.every((m) => assignmentOf(m).length === 2))
  const total = 40_000
  await produce(log, 't', total, 8)
  const victim = members[0]
  await eventually('the victim made progress', () => victim.messages.some((m) => m.progress >= 2000))
  const victimParts = assignmentOf(victim).map((tp) => tp.partition)
  const killedAt = nowUs()
  victim.proc.kill('SIGKILL')
  assert.equal((await victim.done).signal, 'SIGKILL')

  const seen = new Map() // "p:o" -> times processed
  const count = () => {
    seen.clear()
    for (const m of members) {
      for (const msg of m.messages) {
        for (const [p, o] of msg.seen || []) seen.set(`${p}:${o}`, (seen.get(`${p}:${o}`) || 0) + 1)
      }
    }
    return seen.size
  }
  await eventually('every record processed', () => count() === total, 60_000)
  const survivors = members.slice(1)
  const takeover = survivors.flatMap((m) => m.messages)
    .filter((m) => m.rebalance && m.t > killedAt && m.rebalance.assigned.some((tp) => victimParts.includes(tp.partition)))
    .map((m) => m.t)
  assert.ok(takeover.length > 0, 'the dead member\'s partitions were taken over')
  t.diagnostic(`takeover after kill -9: ${((Math.max(...takeover) - killedAt) / 1000).toFixed(1)} ms (informational; see benchmark/)`)

  const lastCommit = {}
  for (const msg of victim.messages) if (msg.committed) Object.assign(lastCommit, msg.committed)
  for (const [key, times] of seen) {
    if (times === 1) continue
    const [p, o] = key.split(':').map(Number)
    assert.ok(victimParts.includes(p), `replay of ${key} is in a partition of the dead member`)
    assert.ok(o >= (lastCommit[p] || 0), `replay of ${key} comes after the dead member's last commit ${lastCommit[p]}`)
  }
  for (let p = 0; p < 8; p++) {
    for (let o = 0; o < total / 8; o++) assert.ok(seen.has(`${p}:${o}`), `record ${p}:${o} processed`)
  }
  await stopAll(survivors)
})

test('two groups on one topic each see every record (fan-out)', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 4 })
  await produce(log, 't', 2000, 4)
  for (const groupId of ['email', 'search']) {
    const c = log.consumer({ groupId, topics: ['t'], startFrom: 'earliest', value: serde.string })
    const got = new Set()
    for await (const m of c) {
      got.add(m.value)
      if (got.size === 2000) break
    }
    assert.equal(got.size, 2000, `${groupId} saw every record`)
  }
  const groups = await log.groups()
  assert.deepEqual(groups.map((g) => g.groupId), ['email', 'search'])
  for (const g of groups) {
    // The record the loop broke on is not processed yet: it is delivered again next time.
    assert.equal(g.offsets.reduce((s, o) => s + o.committed, 0), 1999, `${g.groupId} committed what it processed`)
  }
})

test('offsets survive a restart: a restarted member gets only new records', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  await produce(log, 't', 1000, 2)
  const a = member(dir, 'first')
  await eventually('first run consumed everything', () => a.messages.some((m) => m.progress === 1000))
  await stopAll([a])
  await produce(log, 't', 10, 2) // offsets 500..504 in each partition, values v0..v9
  const b = member(dir, 'second')
  await eventually('second run consumed the new records', () => b.messages.some((m) => m.progress >= 10))
  // A marker after the point of interest in each partition: a partition is read in offset
  // order, so once both markers are in, anything else the member was going to get is in too.
  const markers = await log.producer().sendBatch('t', [{ value: 'marker', partition: 0 }, { value: 'marker', partition: 1 }])
  const seenAll = () => b.messages.flatMap((m) => m.seen || [])
  await eventually('second run reached both markers', () => markers.every((md) => seenAll().some(([p, o]) => p === md.partition && o === md.offset)))
  await stopAll([b])
  const seen = seenAll()
  for (const md of markers) {
    assert.deepEqual(seen.filter(([p]) => p === md.partition).map(([, o]) => o), [500, 501, 502, 503, 504, md.offset],
      `partition ${md.partition}: the records written after the first run, each once, then the marker`)
  }
  assert.equal(seen.length, 12)
})

test('a graceful leave hands partitions over; break commits what was processed', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  const stay = member(dir, 'stay')
  await eventually('stay owns both', () => assignmentOf(stay).length === 2)
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest' })
  const events = []
  c.on('rebalance', (e) => events.push(e))
  await produce(log, 't', 100, 2)
  let got = 0
  let leftAt
  for await (const m of c) {
    assert.equal(c.assignment().length, 1)
    assert.ok(c.assignment().some((tp) => tp.partition === m.partition), 'only assigned partitions are read')
    leftAt = nowUs()
    if (++got === 10) break
  }
  assert.deepEqual(events[events.length - 1].assigned, [])
  assert.equal(c.assignment().length, 0)
  const back = () => stay.messages.filter((m) => m.rebalance && m.t > leftAt && m.rebalance.assigned.length)
  await eventually('stay takes the partition back', () => back().length > 0)
  assert.equal(assignmentOf(stay).length, 2)
  t.diagnostic(`takeover after a graceful leave: ${((back()[0].t - leftAt) / 1000).toFixed(1)} ms (informational)`)
  await stopAll([stay])
  // Everything got processed exactly once by someone, except the record the loop broke on.
  const all = new Set(stay.messages.flatMap((m) => (m.seen || []).map(([p, o]) => `${p}:${o}`)))
  assert.equal(all.size, 100 - 10 + 1)
})

test('a member stuck past maxPollIntervalMs loses its partitions and its commits are fenced', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 1 })
  await produce(log, 't', 10, 1)
  const slow = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false, maxPollIntervalMs: 100 })
  const it = slow[Symbol.asyncIterator]()
  const first = await it.next()
  assert.equal(first.value.offset, 0)
  const other = member(dir, 'other')
  await sleep(300) // the handler is stuck on offset 0
  await eventually('the other member takes the partition', () => assignmentOf(other).length === 1)
  await assert.rejects(slow.commit(), { code: 'ERR_FENCED' })
  assert.deepEqual(slow.assignment(), [])
  await eventually('the other member read everything', () => other.messages.some((m) => m.progress === 10))
  await it.return()
  await stopAll([other])
})

test('setGroupOffsets rewinds a stopped group and is refused while members live', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  await produce(log, 't', 100, 2)
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest' })
  let n = 0
  for await (const b of c.batches({ maxMessages: 100 })) if ((n += b.length) === 100) break
  assert.ok(n === 100)
  const live = log.consumer({ groupId: 'g', topics: ['t'] })
  await assert.rejects(log.setGroupOffsets('g', 'earliest'), { code: 'ERR_GROUP_ACTIVE' })
  await live.close()
  await log.setGroupOffsets('g', 'earliest')
  let g = (await log.groups())[0]
  assert.deepEqual(g.offsets.map((o) => o.committed), [0, 0])
  assert.deepEqual(g.offsets.map((o) => o.lag), [50, 50])
  await log.setGroupOffsets('g', [{ topic: 't', partition: 1, offset: 40 }])
  g = (await log.groups())[0]
  assert.deepEqual(g.offsets.map((o) => o.committed), [0, 40])
  await assert.rejects(log.setGroupOffsets('g', [{ topic: 't', partition: 1, offset: 51 }]), { code: 'ERR_OFFSET_OUT_OF_RANGE' })
  await log.setGroupOffsets('g', 'latest')
  g = (await log.groups())[0]
  assert.deepEqual(g.offsets.map((o) => o.lag), [0, 0])
})

test('group input errors carry codes', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  await produce(log, 't', 10, 2)
  assert.throws(() => log.consumer({ groupId: '../x', topics: ['t'] }), { code: 'ERR_INVALID_GROUP' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: ['nope'] }), { code: 'ERR_UNKNOWN_TOPIC' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: [] }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: ['t'], assignor: 'sticky' }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: ['t'], startFrom: 3 }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: ['t'], autoCommit: { intervalMs: -1 } }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => log.consumer({ groupId: 'g', topics: ['t'], assign: [] }), { code: 'ERR_INVALID_ARG' })
  assert.throws(() => log.consumer({ topics: ['t'] }), { code: 'ERR_INVALID_ARG' })
  await assert.rejects(log.createTopic('__consumer_offsets'), { code: 'ERR_INVALID_TOPIC' })
  await assert.rejects(log.deleteTopic('__consumer_offsets'), { code: 'ERR_INVALID_TOPIC' })
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false })
  for await (const b of c.batches()) if (b.length) break
  const manual = log.consumer({ assign: [{ topic: 't', partition: 0 }] })
  await assert.rejects(manual.commit(), { code: 'ERR_INVALID_ARG' })
  await manual.close()
  await assert.rejects(c.commit(), { code: 'ERR_CLOSED' })
  const d = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false })
  const it = d[Symbol.asyncIterator]()
  await it.next()
  const p = d.assignment()[0].partition
  await assert.rejects(d.commit([{ topic: 't', partition: p, offset: 6 }]), { code: 'ERR_OFFSET_OUT_OF_RANGE' })
  await assert.rejects(d.commit([{ topic: 't', partition: 9, offset: 1 }]), { code: 'ERR_FENCED' })
  await assert.rejects(d.commit([{ topic: 't', partition: p, offset: -1 }]), { code: 'ERR_INVALID_ARG' })
  await d.commit([{ topic: 't', partition: p, offset: 5 }])
  assert.deepEqual((await d.committed()).find((o) => o.partition === p).offset, 5)
  await it.return()
  assert.ok(!(await log.topics()).some((x) => x.name === '__consumer_offsets'), 'internal topic hidden')
  assert.ok((await log.topics({ internal: true })).some((x) => x.name === '__consumer_offsets'))
})

test('rebalance storm: no record lost, no partition consumed by two live members at once', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 6 })
  const ledgerDir = path.join(dir, 'ledgers')
  fs.mkdirSync(ledgerDir)
  let produced = 0
  let producing = true
  const producer = (async () => {
    const p = log.producer()
    while (producing) {
      const batch = Array.from({ length: 60 }, (_, j) => ({ value: `v${produced + j}`, partition: (produced + j) % 6 }))
      await p.sendBatch('t', batch)
      produced += batch.length
      await sleep(5)
    }
  })()
  const live = []
  let k = 0
  const spawn = () => {
    const name = `s${k++}`
    const m = member(dir, name, { handlerMs: 1, batch: 20, ledger: path.join(ledgerDir, name) })
    live.push(m)
    return m
  }
  spawn(); spawn()
  const end = Date.now() + 10_000
  while (Date.now() < end) {
    await sleep(150 + Math.random() * 250)
    if (live.length < 2 || (live.length < 5 && Math.random() < 0.5)) spawn()
    else {
      const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]
      if (Math.random() < 0.3) victim.proc.kill('SIGKILL')
      else victim.proc.send('stop')
    }
  }
  producing = false
  await producer
  const last = spawn()
  const high = (await log.topics())[0].partitions.map((p) => p.high)
  const done = () => {
    const seen = new Set()
    for (const f of fs.readdirSync(ledgerDir)) {
      for (const line of fs.readFileSync(path.join(ledgerDir, f), 'utf8').split('\n')) {
        if (line) seen.add(line.split(' ').slice(1, 3).join(':'))
      }
    }
    return high.every((h, p) => seen.has(`${p}:${h - 1}`)) ? seen : null
  }
  await eventually('the last member caught up', () => done(), 60_000)
  await stopAll(live)
  assert.equal(last.proc.exitCode, 0)

  const seen = done()
  for (const [p, h] of high.entries()) {
    for (let o = 0; o < h; o++) assert.ok(seen.has(`${p}:${o}`), `record ${p}:${o} was processed`)
  }
  // Intervals during which a member handled a partition's records must never overlap another member's.
  const spans = new Map() // partition -> [[start, end, member]]
  for (const f of fs.readdirSync(ledgerDir)) {
    for (const line of fs.readFileSync(path.join(ledgerDir, f), 'utf8').split('\n')) {
      if (!line) continue
      const [name, p, , s, e] = line.split(' ')
      if (!spans.has(p)) spans.set(p, new Map())
      spans.get(p).set(`${name} ${s}`, [Number(s), Number(e), name])
    }
  }
  let members = 0
  for (const [p, m] of spans) {
    const list = [...m.values()].sort((a, b) => a[0] - b[0])
    const lastEnd = new Map() // member -> latest end of its spans so far
    for (const [start, stop, name] of list) {
      for (const [other, otherEnd] of lastEnd) {
        assert.ok(other === name || otherEnd <= start, `partition ${p}: ${other} and ${name} handled it at once`)
      }
      lastEnd.set(name, Math.max(lastEnd.get(name) || 0, stop))
    }
    members = Math.max(members, lastEnd.size)
  }
  assert.ok(members > 2, 'partitions moved between members during the storm')
  t.diagnostic(`${k} members came and went; ${produced} records`)
})

test('an aborted signal ends the loop, commits what was processed and leaves the group', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 1 })
  await produce(log, 't', 20, 1)
  const ac = new AbortController()
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', signal: ac.signal })
  const seen = []
  for await (const m of c) {
    seen.push(m.offset)
    if (m.offset === 4) ac.abort() // from inside the handler: the loop ends when it asks for the next
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4])
  const [g] = await log.groups()
  assert.equal(g.members.length, 0, 'left the group')
  assert.equal(g.offsets[0].committed, 5, 'offsets 0..4 were processed and committed')
  await assert.rejects(c.commit(), { code: 'ERR_CLOSED' })
})
