'use strict'
// What every command shares: output, colors, errors, the log directory.

const path = require('node:path')
const { once } = require('node:events')
const Table = require('cli-table3')
const pc = require('picocolors')
const caldo = require('../../index.js')
const binding = require('../native.js')
const { InvalidArgumentError } = require('commander')
const { humanBytes } = require('../format.js')

const useColor = (stream) => stream.isTTY === true && !process.env.NO_COLOR
const out = pc.createColors(useColor(process.stdout))
const err = pc.createColors(useColor(process.stderr))

class UsageError extends Error {}

// A failure of the command itself (exit 1), optionally with a caldo-style code.
function failure (message, code) {
  const e = new Error(message)
  if (code) e.code = code
  return e
}

function intArg (what, min = 0) {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be a whole number${min ? ` from ${min}` : ''}.`)
    return n
  }
}

// An ISO-8601 date and time ('2026-11-25T10:00:00Z', '2026-11-25T10:00:00.5+01:00', or a
// date alone, '2026-11-25', as UTC midnight) as milliseconds since the epoch.
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i

function dateArg (what) {
  return (v) => {
    const ms = ISO.test(v) ? Date.parse(v) : NaN
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`${what} must be an ISO-8601 date and time, such as 2026-11-25T10:00:00Z.`)
    if (ms < 0) throw new InvalidArgumentError(`${what} must not be before 1970-01-01T00:00:00Z.`)
    return ms
  }
}

// A number as written (-1 included); its range is the engine's to check.
function numberArg (what) {
  return (v) => {
    const n = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number.`)
    return n
  }
}

function dirOf (opts) {
  return path.resolve(opts.dir || process.env.CALDO_DIR || '.caldo-data')
}

// Every command but create-topic works only on an existing log directory.
function existingDir (opts) {
  const dir = dirOf(opts)
  if (!binding.isLog(dir)) {
    throw failure(`no caldo log in ${dir}: give --dir or set CALDO_DIR (create-topic creates one)`)
  }
  return dir
}

async function withLog (opts, fn, { create = false } = {}) {
  const dir = create ? dirOf(opts) : existingDir(opts)
  const log = await caldo.open(dir)
  try {
    return await fn(log, dir)
  } finally {
    await log.close()
  }
}

function write (s) {
  if (!process.stdout.write(s)) return once(process.stdout, 'drain')
}

function printJson (v) {
  return write(JSON.stringify(v, null, 2) + '\n')
}

// Kafka-tool style: aligned columns, no borders, a bold header on a terminal.
function table (head, rows) {
  const t = new Table({
    head: head.map((h) => out.bold(h)),
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  '
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 }
  })
  t.push(...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c)))))
  return write(t.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n')
}

async function findTopic (log, name) {
  const t = (await log.topics({ internal: true })).find((x) => x.name === name)
  if (!t) throw failure(`unknown topic '${name}': create it with caldo create-topic first`, 'ERR_UNKNOWN_TOPIC')
  return t
}

async function findGroup (log, id) {
  const g = (await log.groups()).find((x) => x.groupId === id)
  if (!g) throw failure(`unknown group '${id}'`)
  return g
}

module.exports = { useColor, out, err, UsageError, failure, intArg, dateArg, numberArg, dirOf, existingDir, withLog, write, printJson, table, humanBytes, findTopic, findGroup }
