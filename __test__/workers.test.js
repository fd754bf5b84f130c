'use strict'
// Worker threads: the addon loads in several threads of one process at once; each
// worker opens the log, produces and joins one group. Terminating a worker releases
// its membership, and its partitions move to the workers that remain.
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { open } = require('..')
const { tmpdir } = require('./helpers.js')

const index = path.join(__dirname, '..', 'index.js')
const PARTITIONS = 6

// One worker: open, produce 10 records, join group `g` and report every assignment.
const member = `
const { parentPort, workerData } = require('node:worker_threads')
const { open } = require(workerData.index)
;(async () => {
  const log = await open(workerData.dir, { durability: 'none' })
  const p = log.producer()
  await p.sendBatch('t', Array.from({ length: 10 }, (_, i) => ({ key: workerData.name + i, value: 'v' })))
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest' })
  const report = () => parentPort.postMessage({ name: workerData.name, assignment: c.assignment().map((tp) => tp.partition) })
  c.on('rebalance', report)
  parentPort.postMessage({ name: workerData.name, joined: true })
  for await (const batch of c.batches({ maxMessages: 100, maxWaitMs: 50 })) report()
})().catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }) })
`

test('workers in one process: each opens, produces and joins; a terminated worker\'s partitions move', { timeout: 60_000 }, async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t', { partitions: PARTITIONS })

  const latest = new Map() // worker name -> its partitions
  const waiters = []
  const check = () => { for (const w of [...waiters]) if (w.pred()) { waiters.splice(waiters.indexOf(w), 1); w.resolve() } }
  const until = (pred, what) => new Promise((resolve, reject) => {
    if (pred()) return resolve()
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify([...latest])}`)), 20_000)
    waiters.push({ pred, resolve: () => { clearTimeout(timer); resolve() } })
  })
  const workers = new Map()
  for (const name of ['w0', 'w1', 'w2']) {
    const w = new Worker(member, { eval: true, workerData: { index, dir, name } })
    w.on('message', (m) => {
      if (m.error) throw new Error(`${name}: ${m.error}`)
      if (m.assignment) latest.set(m.name, m.assignment)
      check()
    })
    w.on('error', (e) => { throw e })
    workers.set(name, w)
  }
  t.after(() => Promise.all([...workers.values()].map((w) => w.terminate())))

  // Every partition has exactly one owner among the live workers.
  const covered = (names) => {
    const owned = names.flatMap((n) => latest.get(n) || [])
    return owned.length === PARTITIONS && new Set(owned).size === PARTITIONS && names.every((n) => (latest.get(n) || []).length > 0)
  }
  await until(() => covered(['w0', 'w1', 'w2']), 'three members sharing the partitions')
  const total = (await log.topics()).find((x) => x.name === 't').partitions.reduce((s, p) => s + p.high, 0)
  assert.equal(total, 30, 'each worker produced its 10 records')
  const groupBefore = (await log.groups()).find((g) => g.groupId === 'g')
  assert.equal(groupBefore.members.length, 3)

  // Terminating a worker ends its membership; the other two take its partitions.
  await workers.get('w1').terminate()
  workers.delete('w1')
  latest.delete('w1')
  await until(() => covered(['w0', 'w2']), 'the two remaining members taking over')
  const deadline = Date.now() + 10_000
  let members
  do {
    members = (await log.groups()).find((g) => g.groupId === 'g').members.length
    if (members !== 2) await new Promise((resolve) => setTimeout(resolve, 50))
  } while (members !== 2 && Date.now() < deadline)
  assert.equal(members, 2, 'the terminated worker is no longer a member')
})

test('the addon loads in many threads at once, and terminating them leaves the others working', { timeout: 60_000 }, async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('t', { partitions: 2 })
  const code = `
const { parentPort, workerData } = require('node:worker_threads')
const { open } = require(workerData.index)
;(async () => {
  const log = await open(workerData.dir, { durability: 'none' })
  const p = log.producer()
  for (let i = 0; ; i++) {
    await p.send('t', { value: 'x' })
    if (i === 20) parentPort.postMessage('busy')
  }
})()
`
  const workers = Array.from({ length: 8 }, () => new Worker(code, { eval: true, workerData: { index, dir } }))
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })))
  // Terminated mid-send, in the middle of native work on the runtime they share.
  await Promise.all(workers.map((w) => w.terminate()))
  const producer = log.producer()
  const md = await producer.send('t', { value: 'after' })
  assert.ok(md.offset > 0)
  const topics = await log.topics()
  assert.ok(topics[0].partitions.reduce((s, p) => s + p.high, 0) >= 8 * 21)
})

// A worker whose consumer waits at the end of the log holds a pending wait (an io_uring
// polled by its own event loop where the kernel has one): ending the worker mid-wait, by
// terminate(), by process.exit() or by closing its consumer, must neither crash the
// process nor stop the main thread's own waits.
test('workers that end while their consumer waits: terminate(), process.exit() and close(); the main thread still waits and wakes', { timeout: 60_000 }, async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  t.after(() => log.close())
  await log.createTopic('w')
  const code = `
const { parentPort, workerData } = require('node:worker_threads')
const { open } = require(workerData.index)
;(async () => {
  const log = await open(workerData.dir, { durability: 'none' })
  const c = log.consumer({ assign: [{ topic: 'w', partition: 0, offset: 'latest' }] })
  const next = c[Symbol.asyncIterator]().next()
  setTimeout(() => {
    parentPort.postMessage('waiting')
    if (workerData.how === 'exit') process.exit(3)
    if (workerData.how === 'close') c.close()
  }, 100)
  const { done } = await next
  parentPort.postMessage({ done })
})()
`
  const exits = {}
  for (const how of ['terminate', 'exit', 'close']) {
    const w = new Worker(code, { eval: true, workerData: { index, dir, how } })
    const exited = new Promise((resolve, reject) => { w.once('exit', resolve); w.once('error', reject) })
    const messages = []
    await new Promise((resolve) => w.on('message', (m) => { messages.push(m); if (m === 'waiting') resolve() }))
    if (how === 'terminate') await w.terminate()
    exits[how] = await exited
    if (how === 'close') assert.deepEqual(messages.at(-1), { done: true }, 'closing the consumer ends its loop')
  }
  assert.deepEqual(exits, { terminate: 1, exit: 3, close: 0 })
  // The main thread's consumer waits, and an append wakes it.
  const c = log.consumer({ assign: [{ topic: 'w', partition: 0, offset: 'latest' }] })
  t.after(() => c.close())
  const got = c[Symbol.asyncIterator]().next()
  await new Promise((resolve) => setTimeout(resolve, 50))
  await log.producer().send('w', { value: 'after' })
  const { value } = await got
  assert.equal(value.value.toString(), 'after')
})
