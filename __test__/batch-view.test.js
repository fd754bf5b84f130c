'use strict'
// batches({ view: true }): MessageBatch views read the same records as the object path
// (field equality across record shapes is in wire.test.js), count as handed out as a
// whole, apply the consumer's serdes lazily, and check their index arguments.
const test = require('node:test')
const assert = require('node:assert/strict')
const { open, serde } = require('..')
const { tmpdir } = require('./helpers')

async function setup (t, values) {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('t')
  if (values.length) await log.producer().sendBatch('t', values.map((value) => ({ value })))
  return log
}

const earliest = [{ topic: 't', partition: 0, offset: 'earliest' }]

test('a view checks its index: anything but an integer from 0 to length - 1 is ERR_INVALID_ARG', async (t) => {
  const log = await setup(t, ['a', 'b', 'c'])
  const c = log.consumer({ assign: earliest })
  for await (const view of c.batches({ view: true })) {
    assert.equal(view.length, 3)
    for (const method of ['topic', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers', 'message']) {
      for (const bad of [-1, 3, 1.5, '0', null, undefined, NaN, 2 ** 32]) {
        assert.throws(() => view[method](bad), (err) => err.code === 'ERR_INVALID_ARG' && /index from 0 to length - 1 \(2\)/.test(err.message), `${method}(${String(bad)})`)
      }
      assert.doesNotThrow(() => view[method](2))
    }
    assert.equal(view.value(2).toString(), 'c')
    break
  }
  await assert.rejects(async () => { for await (const b of log.consumer({ assign: earliest }).batches({ view: 1 })) assert.fail(b) }, { code: 'ERR_INVALID_ARG' })
})

test('a view applies the serdes when a field is read; a record they cannot read throws ERR_DESERIALIZE there, the rest still read', async (t) => {
  const log = await setup(t, ['{"a":1}', 'not json', '{"a":3}'])
  const c = log.consumer({ assign: earliest, value: serde.json, key: serde.string })
  for await (const view of c.batches({ view: true })) {
    assert.deepEqual(view.value(0), { a: 1 })
    assert.equal(view.key(0), null)
    let err
    try { view.value(1) } catch (e) { err = e }
    assert.deepEqual([err?.code, err?.topic, err?.partition, err?.offset], ['ERR_DESERIALIZE', 't', 0, 1])
    assert.ok(err.cause instanceof SyntaxError, 'the serde\'s error is the cause')
    assert.throws(() => view.message(1), { code: 'ERR_DESERIALIZE', offset: 1 })
    assert.throws(() => [...view], { code: 'ERR_DESERIALIZE', offset: 1 })
    assert.deepEqual(view.value(2), { a: 3 })
    assert.equal(view.offset(2), 2)
    break
  }
})

test('a group consumer reading views commits what the views handed out', async (t) => {
  const log = await setup(t, Array.from({ length: 10 }, (_, i) => String(i)))
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false })
  const seen = []
  for await (const view of c.batches({ maxMessages: 4, view: true })) {
    for (let i = 0; i < view.length; i++) seen.push(view.offset(i))
    if (seen.length === 8) {
      await c.commit()
      assert.deepEqual(await c.committed(), [{ topic: 't', partition: 0, offset: 8 }], 'both views of 4 count as processed')
      break
    }
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7])
  const next = log.consumer({ groupId: 'g', topics: ['t'], autoCommit: false })
  for await (const view of next.batches({ view: true })) {
    assert.deepEqual(Array.from({ length: view.length }, (_, i) => view.offset(i)), [8, 9], 'the next member goes on from the commit')
    break
  }
})

test('a seek between views drops the rest of the fetch; a view keeps reading its own records', async (t) => {
  const log = await setup(t, Array.from({ length: 10 }, (_, i) => String(i)))
  const c = log.consumer({ assign: earliest })
  const views = []
  for await (const view of c.batches({ maxMessages: 3, view: true })) {
    views.push(view)
    if (views.length === 1) c.seek({ topic: 't', partition: 0, offset: 7 })
    else break
  }
  assert.deepEqual([...views[0]].map((m) => m.value.toString()), ['0', '1', '2'], 'the first view still reads its records')
  assert.deepEqual([...views[1]].map((m) => m.offset), [7, 8, 9])
})

test('with maxWaitMs and nothing to read, a view loop gets an empty view', async (t) => {
  const log = await setup(t, [])
  const c = log.consumer({ assign: earliest })
  for await (const view of c.batches({ view: true, maxWaitMs: 0 })) {
    assert.equal(view.length, 0)
    assert.deepEqual([...view], [])
    assert.throws(() => view.offset(0), { code: 'ERR_INVALID_ARG' })
    break
  }
})
