'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { tmpdir } = require('./helpers')

test('the demo runs on its own and ends with every service caught up', async (t) => {
  const dir = path.join(tmpdir(t), 'data')
  const { code, stdout, stderr } = await new Promise((resolve) => {
    execFile(process.execPath, [path.join(__dirname, '..', 'demo', 'demo.js')], { env: { ...process.env, CALDO_DIR: dir, NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }))
  })
  assert.equal(code, 0, stderr)
  assert.ok(!/\x1b\[/.test(stdout), 'plain output when piped')
  for (const step of ['1. Fan-out', '2. A crash', '3. Scaling', '4. Rewind', '5. State from the log', '6. Exactly once', '7. What each service did']) assert.match(stdout, new RegExp(step))
  assert.match(stdout, /email-1 killed \(SIGKILL\)/)
  assert.match(stdout, /push-3 rebalance: \+\[/)
  assert.match(stdout, /index rebuilt: re-read all 240 events from offset 0/)
  // The catalog keeps its state in a table: followed live, killed, rebuilt from the log alone.
  assert.match(stdout, /followed 470 changes live: 210 features \(80 planned, 60 building, 70 shipped\)/)
  assert.match(stdout, /catalog-1 killed \(SIGKILL\)/)
  assert.match(stdout, /catalog-2 rebuilt its table of 210 features from 512 records in \d+ ms: 64 planned, 48 building, 98 shipped/)
  assert.match(stdout, /the same state as the log says/)
  // Billing is exactly once through a kill -9 inside a transaction.
  assert.match(stdout, /billing-1 killed \(SIGKILL\) inside its third transaction/)
  assert.match(stdout, /read_committed: 240 invoices, one per feature/)
  const aborted = Number(stdout.match(/read_uncommitted: \d+ invoices: the (\d+) more are billing-1's aborted transaction/)[1])
  assert.ok(aborted > 0 && aborted <= 20, `the aborted transaction's invoices show read_uncommitted only (${aborted})`)
  const rows = Object.fromEntries(stdout.split('\n')
    .filter((l) => /^(email|push|search|jira|salesforce)\s+\d/.test(l))
    .map((l) => { const [name, ...n] = l.trim().split(/\s+/); return [name, n.map(Number)] }))
  assert.deepEqual(Object.keys(rows).sort(), ['email', 'jira', 'push', 'salesforce', 'search'])
  for (const [name, [processes, events, deliveries, replays, lag]] of Object.entries(rows)) {
    assert.equal(events, 240, `${name} processed every event`)
    assert.equal(lag, 0, `${name} has no lag`)
    assert.equal(deliveries, events + replays + (name === 'search' ? 240 : 0), `${name} deliveries add up`)
    assert.equal(processes, name === 'push' ? 3 : 1)
  }
})
