'use strict'
// The consumer's engine hears what JS handed out on every call, even one that fails,
// and a record its serde cannot read ends the loop but not the consumer.
const test = require('node:test')
const assert = require('node:assert/strict')
const { open, serde } = require('..')
const { tmpdir } = require('./helpers')

async function setup (t, partitions = 2) {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('t', { partitions })
  await log.producer().sendBatch('t', Array.from({ length: 10 }, (_, i) => ({ value: String(i), partition: 0 })))
  return log
}

for (const [what, poke] of [
  ['resume() of another partition', (c) => c.resume([{ topic: 't', partition: 1 }])],
  ['a seek that fails', (c) => assert.throws(() => c.seek({ topic: 't', partition: 0, offset: -1 }), { code: 'ERR_INVALID_ARG' })],
  ['a pause of a partition not assigned', (c) => assert.throws(() => c.pause([{ topic: 't', partition: 7 }]), { code: 'ERR_INVALID_PARTITION' })],
  ['lag()', (c) => c.lag()]
]) {
  test(`${what} in the middle of a buffer delivers each record once`, async (t) => {
    const log = await setup(t)
    const c = log.consumer({ assign: [0, 1].map((partition) => ({ topic: 't', partition, offset: 'earliest' })), value: serde.string })
    const got = []
    for await (const m of c) {
      got.push(m.offset)
      if (m.offset === 3) await poke(c)
      if (m.offset === 9) break
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })
}

test('a group commit after a failed call stores what was handed out, not less', async (t) => {
  const log = await setup(t, 1)
  const c = log.consumer({ groupId: 'g', topics: ['t'], startFrom: 'earliest', autoCommit: false })
  for await (const m of c) {
    if (m.offset === 4) {
      assert.throws(() => c.seek({ topic: 't', partition: 9, offset: 0 }), { code: 'ERR_INVALID_PARTITION' })
      await c.commit()
      assert.deepEqual(await c.committed(), [{ topic: 't', partition: 0, offset: 5 }])
      break
    }
  }
})

test('a record the serde cannot read ends the loop, not the consumer: seek past it and go on', async (t) => {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  await log.createTopic('t')
  await log.producer().sendBatch('t', ['{"a":1}', 'not json', '{"a":3}'].map((value) => ({ value })))
  for (const opts of [{ assign: [{ topic: 't', partition: 0, offset: 'earliest' }] }, { groupId: 'g', topics: ['t'], startFrom: 'earliest' }]) {
    const c = log.consumer({ ...opts, value: serde.json })
    const got = []
    const err = await (async () => { for await (const m of c) got.push(m.value.a) })().catch((e) => e)
    assert.equal(err.code, 'ERR_DESERIALIZE')
    assert.equal(err.offset, 1)
    assert.deepEqual(got, [1])
    c.seek({ topic: 't', partition: 0, offset: err.offset + 1 })
    for await (const m of c) { got.push(m.value.a); break }
    assert.deepEqual(got, [1, 3])
    await c.close()
  }
})
