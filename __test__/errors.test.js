'use strict'
// Bad input to every public method: a stable code, a message, and nothing written.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { open } = require('..')
const { tmpdir, child } = require('./helpers')

const TYPE_ERRORS = ['ERR_INVALID_ARG', 'ERR_INVALID_TOPIC', 'ERR_INVALID_PARTITION']

/** `fn` fails (by throwing or by rejecting) with `code` and a message. */
async function rejectsWith (fn, code, what) {
  let failed = false
  try {
    await fn()
  } catch (err) {
    failed = true
    assert.equal(err.code, code, `${what}: code (message: ${err.message})`)
    assert.equal(typeof err.message, 'string', what)
    assert.ok(err.message.length > 0, `${what}: the message says something`)
    assert.ok(!err.message.startsWith('['), `${what}: the native "[CODE]" prefix is stripped: ${err.message}`)
    if (TYPE_ERRORS.includes(code)) assert.ok(err instanceof TypeError, `${what}: ${code} is a TypeError`)
  }
  assert.ok(failed, `${what}: should fail with ${code}`)
}

const snapshot = async (log) => (await log.topics()).map((t) => ({ name: t.name, partitions: t.partitions }))

async function readAll (log, topic, partitions, count) {
  const want = count ?? (await log.topics()).find((t) => t.name === topic).partitions.reduce((s, p) => s + p.high, 0)
  const out = []
  if (want === 0) return out
  const c = log.consumer({ assign: Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 'earliest' })) })
  for await (const m of c) {
    out.push(`${m.partition}:${m.offset}:${m.value}`)
    if (out.length === want) break
  }
  return out.sort()
}

test('bad input to every method gets a coded error and writes nothing', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2, maxMessageBytes: 100 })
  const producer = log.producer()
  for (let i = 0; i < 10; i++) await producer.send('t', { value: `keep-${i}`, partition: i % 2 })
  const before = await snapshot(log)
  const recordsBefore = await readAll(log, 't', 2)
  assert.equal(recordsBefore.length, 10)

  const consumer = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  const big = 'x'.repeat(101)
  const notDir = path.join(dir, 'caldo.json')

  const cases = [
    // open
    ['open("")', () => open(''), 'ERR_INVALID_ARG'],
    ['open(42)', () => open(42), 'ERR_INVALID_ARG'],
    ['open(dir, "always")', () => open(dir, 'always'), 'ERR_INVALID_ARG'],
    ['open(dir, { durability: "sometimes" })', () => open(dir, { durability: 'sometimes' }), 'ERR_INVALID_ARG'],
    ['open(dir, { flushIntervalMs: 0 })', () => open(dir, { flushIntervalMs: 0 }), 'ERR_INVALID_ARG'],
    ['open(dir, { flushIntervalMs: 1.5 })', () => open(dir, { flushIntervalMs: 1.5 }), 'ERR_INVALID_ARG'],
    ['open(dir, { bogus: 1 })', () => open(dir, { bogus: 1 }), 'ERR_INVALID_ARG'],
    ['open(a file)', () => open(notDir), 'ERR_IO'],
    // createTopic
    ['createTopic("")', () => log.createTopic(''), 'ERR_INVALID_TOPIC'],
    ['createTopic("..")', () => log.createTopic('..'), 'ERR_INVALID_TOPIC'],
    ['createTopic("a/b")', () => log.createTopic('a/b'), 'ERR_INVALID_TOPIC'],
    ['createTopic("../escape")', () => log.createTopic('../escape'), 'ERR_INVALID_TOPIC'],
    ['createTopic(250 chars)', () => log.createTopic('x'.repeat(250)), 'ERR_INVALID_TOPIC'],
    ['createTopic("é")', () => log.createTopic('é'), 'ERR_INVALID_TOPIC'],
    ['createTopic(5)', () => log.createTopic(5), 'ERR_INVALID_TOPIC'],
    ['createTopic(existing)', () => log.createTopic('t'), 'ERR_TOPIC_EXISTS'],
    ['createTopic(partitions: 0)', () => log.createTopic('n1', { partitions: 0 }), 'ERR_INVALID_ARG'],
    ['createTopic(partitions: 1.5)', () => log.createTopic('n1', { partitions: 1.5 }), 'ERR_INVALID_ARG'],
    ['createTopic(partitions: 10001)', () => log.createTopic('n1', { partitions: 10001 }), 'ERR_INVALID_ARG'],
    ['createTopic(segmentBytes: 100)', () => log.createTopic('n1', { segmentBytes: 100 }), 'ERR_INVALID_ARG'],
    ['createTopic(maxMessageBytes: 0)', () => log.createTopic('n1', { maxMessageBytes: 0 }), 'ERR_INVALID_ARG'],
    ['createTopic(unknown option)', () => log.createTopic('n1', { retention: 1 }), 'ERR_INVALID_ARG'],
    ['createTopic(cfg "x")', () => log.createTopic('n1', 'x'), 'ERR_INVALID_ARG'],
    // deleteTopic
    ['deleteTopic("a/b")', () => log.deleteTopic('a/b'), 'ERR_INVALID_TOPIC'],
    ['deleteTopic(undefined)', () => log.deleteTopic(), 'ERR_INVALID_TOPIC'],
    ['deleteTopic(unknown)', () => log.deleteTopic('nope'), 'ERR_UNKNOWN_TOPIC'],
    // producer
    ['producer("x")', () => log.producer('x'), 'ERR_INVALID_ARG'],
    ['producer({ key: 5 })', () => log.producer({ key: 5 }), 'ERR_INVALID_ARG'],
    ['producer({ value: {} })', () => log.producer({ value: {} }), 'ERR_INVALID_ARG'],
    ['producer({ transactionalId: 42 })', () => log.producer({ transactionalId: 42 }), 'ERR_INVALID_ARG'],
    ['producer({ transactionalId: "a/b" })', () => log.producer({ transactionalId: 'a/b' }), 'ERR_INVALID_ARG'],
    ['producer({ transactionTimeoutMs: 0 })', () => log.producer({ transactionalId: 'x', transactionTimeoutMs: 0 }), 'ERR_INVALID_ARG'],
    ['consumer({ isolation: "x" })', () => log.consumer({ isolation: 'x', assign: [{ topic: 't', partition: 0 }] }), 'ERR_INVALID_ARG'],
    // send
    ['send(bad topic)', () => producer.send('../x', { value: 'a' }), 'ERR_INVALID_TOPIC'],
    ['send(unknown topic)', () => producer.send('nope', { value: 'a' }), 'ERR_UNKNOWN_TOPIC'],
    ['send(partition 2 of 2)', () => producer.send('t', { value: 'a', partition: 2 }), 'ERR_INVALID_PARTITION'],
    ['send(partition -1)', () => producer.send('t', { value: 'a', partition: -1 }), 'ERR_INVALID_ARG'],
    ['send(partition 0.5)', () => producer.send('t', { value: 'a', partition: 0.5 }), 'ERR_INVALID_ARG'],
    ['send(too large value)', () => producer.send('t', { value: big }), 'ERR_MESSAGE_TOO_LARGE'],
    ['send(too large key + value)', () => producer.send('t', { key: 'k'.repeat(60), value: 'v'.repeat(60) }), 'ERR_MESSAGE_TOO_LARGE'],
    ['send(too large headers)', () => producer.send('t', { value: 'a', headers: { h: big } }), 'ERR_MESSAGE_TOO_LARGE'],
    ['send(no value)', () => producer.send('t', {}), 'ERR_INVALID_ARG'],
    ['send(null)', () => producer.send('t', null), 'ERR_INVALID_ARG'],
    ['send("string")', () => producer.send('t', 'string'), 'ERR_INVALID_ARG'],
    ['send(value: 5)', () => producer.send('t', { value: 5 }), 'ERR_INVALID_ARG'],
    ['send(value: {})', () => producer.send('t', { value: {} }), 'ERR_INVALID_ARG'],
    ['send(key: 5)', () => producer.send('t', { key: 5, value: 'a' }), 'ERR_INVALID_ARG'],
    ['send(timestamp: -1)', () => producer.send('t', { value: 'a', timestamp: -1 }), 'ERR_INVALID_ARG'],
    ['send(timestamp: NaN)', () => producer.send('t', { value: 'a', timestamp: NaN }), 'ERR_INVALID_ARG'],
    ['send(timestamp: 2^53)', () => producer.send('t', { value: 'a', timestamp: 2 ** 53 }), 'ERR_INVALID_ARG'],
    ['send(headers: "x")', () => producer.send('t', { value: 'a', headers: 'x' }), 'ERR_INVALID_ARG'],
    ['send(headers: { h: 5 })', () => producer.send('t', { value: 'a', headers: { h: 5 } }), 'ERR_INVALID_ARG'],
    ['send(unknown field)', () => producer.send('t', { value: 'a', offset: 3 }), 'ERR_INVALID_ARG'],
    // sendBatch: one bad record rejects the whole batch
    ['sendBatch([])', () => producer.sendBatch('t', []), 'ERR_INVALID_ARG'],
    ['sendBatch("x")', () => producer.sendBatch('t', 'x'), 'ERR_INVALID_ARG'],
    ['sendBatch(bad topic)', () => producer.sendBatch('', [{ value: 'a' }]), 'ERR_INVALID_TOPIC'],
    ['sendBatch(unknown topic)', () => producer.sendBatch('nope', [{ value: 'a' }]), 'ERR_UNKNOWN_TOPIC'],
    ['sendBatch(ok, too large)', () => producer.sendBatch('t', [{ value: 'ok' }, { value: big }]), 'ERR_MESSAGE_TOO_LARGE'],
    ['sendBatch(ok, bad partition)', () => producer.sendBatch('t', [{ value: 'ok', partition: 0 }, { value: 'a', partition: 7 }]), 'ERR_INVALID_PARTITION'],
    ['sendBatch(ok, no value)', () => producer.sendBatch('t', [{ value: 'ok' }, {}]), 'ERR_INVALID_ARG'],
    ['sendBatch(ok, null)', () => producer.sendBatch('t', [{ value: 'ok' }, null]), 'ERR_INVALID_ARG'],
    // consumer
    ['consumer()', () => log.consumer(), 'ERR_INVALID_ARG'],
    ['consumer("x")', () => log.consumer('x'), 'ERR_INVALID_ARG'],
    ['consumer({ assign: [] })', () => log.consumer({ assign: [] }), 'ERR_INVALID_ARG'],
    ['consumer(assign not an array)', () => log.consumer({ assign: { topic: 't', partition: 0 } }), 'ERR_INVALID_ARG'],
    ['consumer(assign bad topic)', () => log.consumer({ assign: [{ topic: '../x', partition: 0 }] }), 'ERR_INVALID_TOPIC'],
    ['consumer(assign unknown topic)', () => log.consumer({ assign: [{ topic: 'nope', partition: 0 }] }), 'ERR_UNKNOWN_TOPIC'],
    ['consumer(assign partition 2 of 2)', () => log.consumer({ assign: [{ topic: 't', partition: 2 }] }), 'ERR_INVALID_PARTITION'],
    ['consumer(assign partition -1)', () => log.consumer({ assign: [{ topic: 't', partition: -1 }] }), 'ERR_INVALID_ARG'],
    ['consumer(assign offset "middle")', () => log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'middle' }] }), 'ERR_INVALID_ARG'],
    ['consumer(assign offset -5)', () => log.consumer({ assign: [{ topic: 't', partition: 0, offset: -5 }] }), 'ERR_INVALID_ARG'],
    ['consumer(assign twice)', () => log.consumer({ assign: [{ topic: 't', partition: 0 }, { topic: 't', partition: 0 }] }), 'ERR_INVALID_ARG'],
    ['consumer(assign unknown field)', () => log.consumer({ assign: [{ topic: 't', partition: 0, group: 'g' }] }), 'ERR_INVALID_ARG'],
    ['consumer(groupId + assign)', () => log.consumer({ groupId: 'g', topics: ['t'], assign: [{ topic: 't', partition: 0 }] }), 'ERR_INVALID_ARG'],
    ['consumer(groupId "../g")', () => log.consumer({ groupId: '../g', topics: ['t'] }), 'ERR_INVALID_GROUP'],
    ['consumer(group, unknown topic)', () => log.consumer({ groupId: 'g', topics: ['nope'] }), 'ERR_UNKNOWN_TOPIC'],
    ['consumer(group, maxPollIntervalMs 0)', () => log.consumer({ groupId: 'g', topics: ['t'], maxPollIntervalMs: 0 }), 'ERR_INVALID_ARG'],
    ['setGroupOffsets("a/b")', () => log.setGroupOffsets('a/b', 'earliest'), 'ERR_INVALID_GROUP'],
    ['setGroupOffsets(g, "first")', () => log.setGroupOffsets('g', 'first'), 'ERR_INVALID_ARG'],
    ['setGroupOffsets(g, past the end)', () => log.setGroupOffsets('g', [{ topic: 't', partition: 0, offset: 1e9 }]), 'ERR_OFFSET_OUT_OF_RANGE'],
    ['deleteGroup()', () => log.deleteGroup(), 'ERR_INVALID_GROUP'],
    ['deleteGroup("a/b")', () => log.deleteGroup('a/b'), 'ERR_INVALID_GROUP'],
    ['deleteGroup(unknown)', () => log.deleteGroup('never-was'), 'ERR_UNKNOWN_GROUP'],
    ['consumer(signal: {})', () => log.consumer({ assign: [{ topic: 't', partition: 0 }], signal: {} }), 'ERR_INVALID_ARG'],
    ['consumer(value serde: {})', () => log.consumer({ assign: [{ topic: 't', partition: 0 }], value: {} }), 'ERR_INVALID_ARG'],
    ['consumer(unknown option)', () => log.consumer({ assign: [{ topic: 't', partition: 0 }], isolation: 'x' }), 'ERR_INVALID_ARG'],
    // seek, pause, resume, batches on a live consumer
    ['seek(null)', () => consumer.seek(null), 'ERR_INVALID_ARG'],
    ['seek(unassigned partition)', () => consumer.seek({ topic: 't', partition: 1, offset: 0 }), 'ERR_INVALID_PARTITION'],
    ['seek(unassigned topic)', () => consumer.seek({ topic: 'nope', partition: 0, offset: 0 }), 'ERR_INVALID_PARTITION'],
    ['seek(no offset)', () => consumer.seek({ topic: 't', partition: 0 }), 'ERR_INVALID_ARG'],
    ['seek(offset -1)', () => consumer.seek({ topic: 't', partition: 0, offset: -1 }), 'ERR_INVALID_ARG'],
    ['seek(offset "soon")', () => consumer.seek({ topic: 't', partition: 0, offset: 'soon' }), 'ERR_INVALID_ARG'],
    ['seek(offset 2^53)', () => consumer.seek({ topic: 't', partition: 0, offset: 2 ** 53 }), 'ERR_INVALID_ARG'],
    ['pause("x")', () => consumer.pause('x'), 'ERR_INVALID_ARG'],
    ['pause([null])', () => consumer.pause([null]), 'ERR_INVALID_ARG'],
    ['pause(unassigned)', () => consumer.pause([{ topic: 't', partition: 1 }]), 'ERR_INVALID_PARTITION'],
    ['resume(undefined)', () => consumer.resume(), 'ERR_INVALID_ARG'],
    ['resume(unassigned)', () => consumer.resume([{ topic: 'x', partition: 0 }]), 'ERR_INVALID_PARTITION'],
    ['batches({ maxMessages: 0 })', () => consumer.batches({ maxMessages: 0 }).next(), 'ERR_INVALID_ARG'],
    ['batches({ maxWaitMs: -1 })', () => consumer.batches({ maxWaitMs: -1 }).next(), 'ERR_INVALID_ARG'],
    ['batches({ bogus: 1 })', () => consumer.batches({ bogus: 1 }).next(), 'ERR_INVALID_ARG'],
    ['batches("x")', () => consumer.batches('x').next(), 'ERR_INVALID_ARG']
  ]
  for (const [what, fn, code] of cases) await rejectsWith(fn, code, what)

  // The consumer survived its bad calls and still reads from where it was.
  const first = await consumer[Symbol.asyncIterator]().next()
  assert.equal(first.value.value.toString(), 'keep-0')

  // Nothing was written, nothing was created, nothing changed.
  assert.deepEqual(await snapshot(log), before)
  assert.deepEqual(await readAll(log, 't', 2), recordsBefore)
  const names = fs.readdirSync(path.join(dir, 'topics')).filter((n) => !n.startsWith('.'))
  assert.deepEqual(names, ['t'])
  assert.ok(!fs.existsSync(path.join(dir, 'escape')))
})

test('every method fails with ERR_CLOSED after close, and writes nothing', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  await log.createTopic('t')
  const producer = log.producer()
  await producer.send('t', { value: 'kept' })
  const transactional = log.producer({ transactionalId: 'tx' })
  const consumer = log.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  const closedProducer = log.producer()
  await closedProducer.close()
  await rejectsWith(() => closedProducer.send('t', { value: 'x' }), 'ERR_CLOSED', 'send on a closed producer')
  const closedConsumer = log.consumer({ assign: [{ topic: 't', partition: 0 }] })
  await closedConsumer.close()
  await rejectsWith(() => closedConsumer.seek({ topic: 't', partition: 0, offset: 0 }), 'ERR_CLOSED', 'seek on a closed consumer')
  await log.close()
  await log.close() // twice is fine

  const cases = [
    ['createTopic', () => log.createTopic('u'), 'ERR_CLOSED'],
    ['deleteTopic', () => log.deleteTopic('t'), 'ERR_CLOSED'],
    ['topics', () => log.topics(), 'ERR_CLOSED'],
    ['deleteGroup', () => log.deleteGroup('g'), 'ERR_CLOSED'],
    ['producer', () => log.producer(), 'ERR_CLOSED'],
    ['consumer', () => log.consumer({ assign: [{ topic: 't', partition: 0 }] }), 'ERR_CLOSED'],
    ['send', () => producer.send('t', { value: 'x' }), 'ERR_CLOSED'],
    ['sendBatch', () => producer.sendBatch('t', [{ value: 'x' }]), 'ERR_CLOSED'],
    ['transaction', () => transactional.transaction(async (tx) => { await tx.send('t', { value: 'x' }) }), 'ERR_CLOSED'],
    ['seek', () => consumer.seek({ topic: 't', partition: 0, offset: 0 }), 'ERR_CLOSED'],
    ['pause', () => consumer.pause([{ topic: 't', partition: 0 }]), 'ERR_CLOSED'],
    ['resume', () => consumer.resume([{ topic: 't', partition: 0 }]), 'ERR_CLOSED'],
    ['lag', () => consumer.lag(), 'ERR_CLOSED'],
    ['batches', () => consumer.batches().next(), 'ERR_CLOSED'],
    ['iterate', () => consumer[Symbol.asyncIterator]().next(), 'ERR_CLOSED']
  ]
  for (const [what, fn, code] of cases) await rejectsWith(fn, code, `${what} after close`)
  // Closing what is already closed is not an error.
  await producer.close()
  await consumer.close()

  const again = await open(dir)
  t.after(() => again.close())
  const [info] = await again.topics()
  assert.ok(info.partitions[0].bytes > 0, 'the record is on disk')
  assert.deepEqual(info.partitions, [{ partition: 0, low: 0, high: 1, lso: 1, bytes: info.partitions[0].bytes, dirtyRatio: 0 }])
  assert.deepEqual(await readAll(again, 't', 1), ['0:0:kept'])
})

test('a missing or damaged topic.json is a coded error, not a crash', async (t) => {
  const dir = tmpdir(t)
  let log = await open(dir)
  for (const name of ['good', 'gone', 'garbage', 'invalid']) {
    await log.createTopic(name)
    await log.producer().send(name, { value: `in-${name}` })
  }
  await log.close()
  const topicJson = (name) => path.join(dir, 'topics', name, 'topic.json')
  fs.rmSync(topicJson('gone'))
  fs.writeFileSync(topicJson('garbage'), '{"partitions": 1, "segm\0\0\0')
  fs.writeFileSync(topicJson('invalid'), JSON.stringify({ partitions: 0, segmentBytes: 4096, maxMessageBytes: 1 }))

  log = await open(dir)
  t.after(() => log.close())
  const p = log.producer()
  await rejectsWith(() => p.send('gone', { value: 'x' }), 'ERR_UNKNOWN_TOPIC', 'send to a topic without topic.json')
  await rejectsWith(() => log.consumer({ assign: [{ topic: 'gone', partition: 0 }] }), 'ERR_UNKNOWN_TOPIC', 'consumer of a topic without topic.json')
  for (const name of ['garbage', 'invalid']) {
    await rejectsWith(() => p.send(name, { value: 'x' }), 'ERR_CORRUPT', `send to ${name} topic.json`)
    await rejectsWith(() => log.consumer({ assign: [{ topic: name, partition: 0 }] }), 'ERR_CORRUPT', `consumer of ${name} topic.json`)
  }
  // topics() lists what it can or says which is damaged; either way, coded.
  try {
    const names = (await log.topics()).map((x) => x.name)
    assert.ok(names.includes('good'))
  } catch (err) {
    assert.equal(err.code, 'ERR_CORRUPT')
    assert.match(err.message, /garbage|invalid/)
  }
  // The healthy topic is untouched (read without topics(), which may fail above).
  assert.deepEqual(await readAll(log, 'good', 1, 1), ['0:0:in-good'])
  assert.equal((await p.send('good', { value: 'more' })).offset, 1)
})

test('a read-only filesystem (EROFS, which stops root too) gives ERR_IO naming EROFS; the log is intact after', async (t) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-ro-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { stdio: 'ignore' })
  } catch {
    fs.rmSync(mnt, { recursive: true, force: true })
    return t.skip('needs a filesystem to remount read-only: mounting a tmpfs requires root (the chmod test covers other users)')
  }
  const dir = path.join(mnt, 'log')
  const opened = []
  try {
    // Written by another process, so that nothing here holds a file open for writing
    // (a filesystem with files open for writing cannot be remounted read-only).
    const w = await child('writer.js', [dir, 't', 'kept-0', 'kept-1']).done
    assert.equal(w.code, 0, 'the writer wrote the log')
    execFileSync('mount', ['-o', 'remount,ro', mnt])

    const isErofs = (what) => (err) => {
      assert.equal(err.code, 'ERR_IO', `${what}: ${err.code}: ${err.message}`)
      assert.equal(err.ioCode, 'EROFS', `${what}: the OS error is named (message: ${err.message})`)
      assert.ok(err.message.length > 0)
      return true
    }
    let ro = null
    try {
      ro = await open(dir)
      opened.push(ro)
    } catch (err) {
      isErofs('open')(err)
    }
    if (ro) {
      // Opened for reading: appends and new topics fail, reads work.
      await assert.rejects(ro.producer().send('t', { value: 'x' }), isErofs('send'))
      await assert.rejects(ro.createTopic('u'), isErofs('createTopic'))
      assert.deepEqual(await readAll(ro, 't', 1, 2), ['0:0:kept-0', '0:1:kept-1'])
      await ro.close()
    }

    // Writable again: what was there is intact, and appends go on from it.
    execFileSync('mount', ['-o', 'remount,rw', mnt])
    const log = await open(dir)
    opened.push(log)
    assert.deepEqual(await readAll(log, 't', 1), ['0:0:kept-0', '0:1:kept-1'])
    assert.equal((await log.producer().send('t', { value: 'after' })).offset, 2)
  } finally {
    for (const l of opened) await l.close().catch(() => {})
    execFileSync('umount', ['-l', mnt]) // lazily: the addon drops its mappings at garbage collection
    fs.rmSync(mnt, { recursive: true, force: true })
  }
})

test('a read-only log directory (chmod) gives coded errors, not a crash; as root, checked without root\'s override', async (t) => {
  // chmod does not stop root's CAP_DAC_OVERRIDE, so as root the check runs in a child
  // process started without it (setpriv): the same user, so it can still read the repository.
  const asRoot = process.getuid && process.getuid() === 0
  const dir = tmpdir(t)
  const log = await open(dir)
  await log.createTopic('t')
  await log.producer().send('t', { value: 'kept' })
  await log.close()
  const walk = (d, each) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name)
      if (e.isDirectory()) walk(f, each)
      each(f, e.isDirectory())
    }
    each(d, true)
  }
  const chmodAll = (mode, fileMode) => walk(dir, (f, isDir) => fs.chmodSync(f, isDir ? mode : fileMode))
  chmodAll(0o555, 0o444)
  // Restored here, not in t.after: those run after tmpdir's removal hook.
  try {
    const check = [process.execPath, path.join(__dirname, 'fixtures', 'readonly.js'), dir]
    const out = asRoot
      ? execFileSync('setpriv', ['--bounding-set=-dac_override,-dac_read_search', ...check])
      : execFileSync(check[0], check.slice(1))
    const r = JSON.parse(out.toString())
    assert.notEqual(r.step, 'none', 'an append to a read-only log directory failed')
    assert.ok(['ERR_IO', 'ERR_CORRUPT'].includes(r.code), `${r.step}: ${r.code}: ${r.message}`)
    assert.ok(r.message.length > 0)
  } finally {
    chmodAll(0o755, 0o644)
  }
  const again = await open(dir)
  const c = again.consumer({ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] })
  for await (const m of c) { assert.equal(m.value.toString(), 'kept'); break }
  await again.close()
})

test('a bad record sent in the same tick as good ones fails alone', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('small', { maxMessageBytes: 10 })
  const p = log.producer()
  const sends = [p.send('small', { value: 'ok-1' }), p.send('small', { value: 'x'.repeat(11) }), p.send('small', { value: 'ok-2' })]
  const [a, b, c] = await Promise.allSettled(sends)
  assert.equal(a.status, 'fulfilled')
  assert.equal(b.status, 'rejected')
  assert.equal(b.reason.code, 'ERR_MESSAGE_TOO_LARGE')
  assert.equal(c.status, 'fulfilled')
  assert.deepEqual(await readAll(log, 'small', 1), ['0:0:ok-1', '0:1:ok-2'])
})

test('a symlink planted inside the log directory is refused, not followed', async (t) => {
  const dir = tmpdir(t)
  const outside = tmpdir(t)
  let log = await open(dir)
  await log.createTopic('real')
  await log.close()
  // A topic directory (and a group directory) replaced by links to a directory outside the log.
  fs.cpSync(path.join(dir, 'topics', 'real'), path.join(outside, 'real'), { recursive: true })
  fs.symlinkSync(path.join(outside, 'real'), path.join(dir, 'topics', 'evil'))
  fs.mkdirSync(path.join(dir, 'groups'), { recursive: true })
  fs.symlinkSync(outside, path.join(dir, 'groups', 'g'))
  log = await open(dir)
  t.after(() => log.close())
  await rejectsWith(() => log.producer().send('evil', { value: 'x' }), 'ERR_CORRUPT', 'send through a topic symlink')
  await rejectsWith(() => log.consumer({ groupId: 'g', topics: ['real'] }), 'ERR_CORRUPT', 'join through a group symlink')
  assert.deepEqual(fs.readdirSync(outside).sort(), ['real'], 'nothing written outside the log')
  assert.equal((await log.producer().send('real', { value: 'ok' })).offset, 0)
})
