'use strict'
// One list of error codes: the engine's, which index.d.ts and the README must name.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { errorCodes, CaldoError, open } = require('..')
const { tmpdir } = require('./helpers.js')

const root = path.join(__dirname, '..')

test("index.d.ts's ErrorCode and the README name exactly the codes caldo raises", () => {
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  const union = /export type ErrorCode =([\s\S]*?)\n\n/.exec(dts)[1]
  const typed = [...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1])
  assert.deepEqual([...typed].sort(), [...errorCodes].sort())
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  for (const code of errorCodes) assert.ok(readme.includes(`\`${code}\``), `README names ${code}`)
})

test('native errors arrive coded, as CaldoErrors, TypeErrors for bad arguments', async (t) => {
  const log = await open(tmpdir(t))
  t.after(() => log.close())
  const bad = await log.createTopic('a/b').catch((e) => e)
  assert.equal(bad.code, 'ERR_INVALID_TOPIC')
  assert.ok(bad instanceof TypeError && bad instanceof CaldoError)
  await log.createTopic('t')
  const exists = await log.createTopic('t').catch((e) => e)
  assert.equal(exists.code, 'ERR_TOPIC_EXISTS')
  assert.ok(exists instanceof CaldoError && !(exists instanceof TypeError))
  assert.ok(!(new Error('x') instanceof CaldoError))
})

test('a panic in the engine is ERR_INTERNAL, and the process goes on', async () => {
  const native = require('../lib/native.js')
  for (const onWorker of [false, true]) {
    const err = await native.__panicForTests(onWorker).then(() => null, (e) => e)
    assert.equal(err?.code, 'ERR_INTERNAL')
    assert.match(err.message, /on purpose/)
  }
})
