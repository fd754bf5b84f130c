'use strict'
// A wide log under a small descriptor limit: a process allowed 1,024 open
// files creates a topic of 10,000 partitions, writes to every partition and
// reads every one back (a manual consumer, then a group consumer). The
// engine's file cache keeps the descriptors it holds to half the limit.

const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')

const LIMIT = 1024
const PARTITIONS = 10000
const PER_PARTITION = 2

/** Runs fixtures/wide.js under `ulimit -n LIMIT`; resolves with its JSON line. */
function wide (dir, partitions, perPartition) {
  const script = path.join(__dirname, 'fixtures', 'wide.js')
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, process.execPath, script, dir, String(partitions), String(perPartition)],
      { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop()
        try { resolve(JSON.parse(line)) } catch { reject(err || new Error(`no result: ${stdout} ${stderr}`)) }
      })
  })
}

/** A log directory in memory where there is one: the test is about descriptors, and
 * 10,000 partitions' directories on a disk that other work keeps busy take minutes. */
function memdir (t) {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = fs.mkdtempSync(path.join(base, 'caldo-wide-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test(`${PARTITIONS} partitions are written and read back by a process limited to ${LIMIT} descriptors`, async (t) => {
  const r = await wide(memdir(t), PARTITIONS, PER_PARTITION)
  assert.strictEqual(r.error, undefined)
  assert.strictEqual(r.ok, true)
  assert.strictEqual(r.limit, LIMIT)
  // Every record was read back in order with its value (the fixture checks each one).
  assert.strictEqual(r.manualRead, PARTITIONS * PER_PARTITION)
  assert.strictEqual(r.groupRead, PARTITIONS * PER_PARTITION)
  // Sampled from /proc/self/fd after every step: the cache's half of the limit, plus Node's own.
  assert.ok(r.peakFds < LIMIT, `peak ${r.peakFds} descriptors`)
  assert.ok(r.peakFds < LIMIT / 2 + 64, `peak ${r.peakFds} descriptors: more than the cache's budget`)
})
