'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { fork } = require('node:child_process')
const test = require('node:test')

/** A fresh log directory, removed when the test ends. */
function tmpdir (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-test-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

const running = new Set()
// A failed test must not leave children behind: they would keep the test file from ending.
test.after(() => { for (const proc of running) proc.kill('SIGKILL') })

/** Runs a fixture in a child process; resolves with its exit code and the JSON lines it sent. */
function child (name, args, onMessage, env = process.env) {
  const proc = fork(path.join(__dirname, 'fixtures', name), args, { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  running.add(proc)
  proc.on('exit', () => running.delete(proc))
  const messages = []
  proc.on('message', (m) => { messages.push(m); if (onMessage) onMessage(m, proc) })
  const done = new Promise((resolve, reject) => {
    proc.on('error', reject)
    proc.on('exit', (code, signal) => resolve({ code, signal, messages }))
  })
  return { proc, done, messages }
}

/** Resolves with the first message that passes `pred`. */
function until (c, pred) {
  return new Promise((resolve, reject) => {
    const found = c.messages.find(pred)
    if (found) return resolve(found)
    c.proc.on('message', (m) => { if (pred(m)) resolve(m) })
    c.proc.on('exit', (code) => reject(new Error(`child exited (${code}) before the expected message`)))
  })
}

/** A fixed-seed xorshift32, so a failing run can be replayed: `random(n)` is an integer in [0, n). */
function rng (seed) {
  let s = seed >>> 0 || 1
  return (n) => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s % n
  }
}

module.exports = { tmpdir, child, until, rng }
