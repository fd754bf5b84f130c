'use strict'
// A replay of any length keeps the consumer's memory bounded: fetched batches
// live in native memory that V8 is told about, so it collects them as it goes.
const test = require('node:test')
const assert = require('node:assert/strict')
const { open } = require('..')
const { tmpdir, child } = require('./helpers')

const RECORDS = 1_100_000 // of 1 KiB: about 1.1 GB
const BOUND = 600 * 2 ** 20

test('replaying more than 1 GB keeps the RSS bounded, with batches(), batch views and for await', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir, { durability: 'none' })
  await log.createTopic('t', { partitions: 1 })
  const p = log.producer()
  const value = Buffer.alloc(1024, 0x61)
  const batch = Array.from({ length: 1000 }, () => ({ value }))
  for (let i = 0; i < RECORDS / 1000; i++) await p.sendBatch('t', batch)
  await log.close()
  for (const mode of ['batches', 'view', 'iterate']) {
    const c = child('replay-memory.js', [dir, mode])
    const { code, messages } = await c.done
    assert.equal(code, 0)
    const [{ n, peak }] = messages
    assert.equal(n, RECORDS, `${mode}: every record read`)
    t.diagnostic(`${mode}: peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB over ${(RECORDS * 1024 / 2 ** 30).toFixed(2)} GiB`)
    assert.ok(peak < BOUND, `${mode}: peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB stays under ${BOUND / 2 ** 20} MiB`)
  }
})
