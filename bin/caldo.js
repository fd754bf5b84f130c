#!/usr/bin/env node
'use strict'
// The caldo command-line tool: topics, produce/consume like kcat, groups, offsets, dump, verify.
// Exit codes: 0 success, 1 failure, 2 usage error. Errors are one line, never a stack trace.

const path = require('node:path')
const readline = require('node:readline')
const { once } = require('node:events')
const { Command, InvalidArgumentError } = require('commander')
const Table = require('cli-table3')
const cliProgress = require('cli-progress')
const pc = require('picocolors')
const caldo = require('../index.js')
const binding = require('../lib/native.js')

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

function humanBytes (n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`
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

// --- commands ---------------------------------------------------------------

async function topics (opts) {
  await withLog(opts, async (log) => {
    const list = await log.topics({ internal: opts.internal === true })
    if (opts.json) return printJson(list)
    if (!list.length) return write('no topics\n')
    const rows = list.flatMap((t) => t.partitions.map((p) => [t.name, p.partition, p.low, p.high, p.high - p.low, humanBytes(p.bytes)]))
    await table(['TOPIC', 'PARTITION', 'LOW', 'HIGH', 'RECORDS', 'BYTES'], rows)
    for (const t of list.filter((t) => t.damage)) {
      await write(out.red(`damaged: topic ${t.name}: ${t.damage.code} ${t.damage.message}`) + '\n')
    }
  })
}

async function createTopic (name, opts) {
  await withLog(opts, async (log) => {
    const cfg = { partitions: opts.partitions }
    if (opts.segmentBytes !== undefined) cfg.segmentBytes = opts.segmentBytes
    if (opts.maxMessageBytes !== undefined) cfg.maxMessageBytes = opts.maxMessageBytes
    const t = await log.createTopic(name, cfg)
    if (opts.json) return printJson(t)
    return write(`created topic '${t.name}' with ${t.config.partitions} partition(s)\n`)
  }, { create: true })
}

async function deleteTopic (name, opts) {
  await withLog(opts, async (log) => {
    await log.deleteTopic(name)
    return write(`deleted topic '${name}'\n`)
  })
}

const BATCH_RECORDS = 1000
const BATCH_BYTES = 1 << 20

async function produce (topic, opts) {
  if (opts.keySeparator === '') throw new UsageError('--key-separator must not be empty')
  await withLog(opts, async (log) => {
    const t = await findTopic(log, topic)
    if (opts.partition !== undefined && opts.partition >= t.partitions.length) {
      throw failure(`topic '${topic}' has partitions 0 to ${t.partitions.length - 1}, not ${opts.partition}`, 'ERR_INVALID_PARTITION')
    }
    const producer = log.producer()
    let written = 0
    let batch = []
    let bytes = 0
    const send = async () => {
      if (!batch.length) return
      try {
        written += (await producer.sendBatch(topic, batch)).length
      } catch (e) {
        e.message += `; ${written} record(s) were written before`
        throw e
      }
      batch = []
      bytes = 0
    }
    const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
    for await (const line of lines) {
      const rec = { value: line }
      const at = opts.keySeparator === undefined ? -1 : line.indexOf(opts.keySeparator)
      if (at >= 0) {
        rec.key = line.slice(0, at)
        rec.value = line.slice(at + opts.keySeparator.length)
      }
      if (opts.partition !== undefined) rec.partition = opts.partition
      batch.push(rec)
      bytes += line.length
      if (batch.length >= BATCH_RECORDS || bytes >= BATCH_BYTES) await send()
    }
    await send()
    await producer.close()
    return write(`wrote ${written} record(s) to '${topic}'\n`)
  })
}

// kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp (ms),
// %K / %S key / value length, %% a percent sign; \n and \t as escapes.
function formatter (fmt) {
  const fields = {
    t: (m) => m.topic,
    p: (m) => m.partition,
    o: (m) => m.offset,
    k: (m) => (m.key === null ? '' : m.key.toString('utf8')),
    s: (m) => (m.value === null ? '' : m.value.toString('utf8')),
    T: (m) => m.timestamp,
    K: (m) => (m.key === null ? -1 : m.key.length),
    S: (m) => (m.value === null ? -1 : m.value.length),
    '%': () => '%'
  }
  const parts = []
  const re = /%(.)|\\([nt\\])/g
  let last = 0
  for (let m = re.exec(fmt); m; m = re.exec(fmt)) {
    parts.push(fmt.slice(last, m.index))
    if (m[1] !== undefined) {
      if (!fields[m[1]]) throw new UsageError(`--format: unknown field %${m[1]} (known: %t %p %o %k %s %T %K %S %%)`)
      parts.push(fields[m[1]])
    } else {
      parts.push({ n: '\n', t: '\t', '\\': '\\' }[m[2]])
    }
    last = re.lastIndex
  }
  parts.push(fmt.slice(last))
  return (m) => parts.map((p) => (typeof p === 'function' ? p(m) : p)).join('') + '\n'
}

function jsonLine (m) {
  const headers = {}
  for (const [k, v] of Object.entries(m.headers)) headers[k] = v === null ? null : v.toString('utf8')
  return JSON.stringify({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    timestamp: m.timestamp,
    key: m.key === null ? null : m.key.toString('utf8'),
    value: m.value === null ? null : m.value.toString('utf8'),
    headers
  }) + '\n'
}

async function consume (topic, opts) {
  if (opts.group !== undefined && (opts.partition !== undefined || opts.offset !== undefined)) {
    throw new UsageError('--group gets its partitions from the group; drop --partition/--offset')
  }
  if (opts.offset !== undefined && opts.partition === undefined) throw new UsageError('--offset needs --partition')
  if (opts.offset !== undefined && opts.fromBeginning) throw new UsageError('give --offset or --from-beginning, not both')
  if (opts.json && opts.format !== undefined) throw new UsageError('give --json or --format, not both')
  const line = opts.json ? jsonLine : formatter(opts.format === undefined ? '%s' : opts.format)
  await withLog(opts, async (log) => {
    const t = await findTopic(log, topic)
    const endAt = new Map(t.partitions.map((p) => [p.partition, p.high]))
    const start = opts.offset !== undefined ? opts.offset : opts.fromBeginning ? 'earliest' : 'latest'
    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    const group = opts.group !== undefined
    let consumer
    if (group) {
      consumer = log.consumer({ groupId: opts.group, topics: [topic], startFrom: opts.fromBeginning ? 'earliest' : 'latest', autoCommit: false, signal: ac.signal })
    } else {
      const parts = opts.partition !== undefined ? [opts.partition] : t.partitions.map((p) => p.partition)
      if (opts.partition !== undefined && !endAt.has(opts.partition)) {
        throw failure(`topic '${topic}' has partitions 0 to ${t.partitions.length - 1}, not ${opts.partition}`, 'ERR_INVALID_PARTITION')
      }
      consumer = log.consumer({ assign: parts.map((partition) => ({ topic, partition, offset: start })), signal: ac.signal })
    }
    // Next offset per partition of what was printed: what a group commits.
    const printed = new Map()
    let count = 0
    const atEnd = async () => {
      const lag = await consumer.lag()
      return lag.every((l) => l.offset >= (endAt.get(l.partition) ?? l.high))
    }
    const commit = async () => {
      if (group && printed.size && !ac.signal.aborted) {
        await consumer.commit([...printed].map(([partition, offset]) => ({ topic, partition, offset })))
      }
    }
    try {
      const batches = consumer.batches({ maxMessages: BATCH_RECORDS, maxWaitMs: opts.follow ? undefined : 100 })
      for await (const b of batches) {
        let done = false
        for (const m of b) {
          if (!opts.follow && m.offset >= endAt.get(m.partition)) continue
          await write(line(m))
          printed.set(m.partition, m.offset + 1)
          if (opts.count !== undefined && ++count >= opts.count) { done = true; break }
        }
        await commit()
        if (done || (!opts.follow && (await atEnd()))) break
      }
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      await consumer.close()
    }
  })
}

async function groups (opts) {
  await withLog(opts, async (log) => {
    const list = await log.groups()
    if (opts.json) return printJson(list)
    if (!list.length) return write('no groups\n')
    return table(['GROUP', 'GENERATION', 'MEMBERS', 'TOPICS', 'LAG'], list.map((g) => [
      g.groupId,
      g.generation,
      g.members.length,
      [...new Set([...g.members.flatMap((m) => m.topics), ...g.offsets.map((o) => o.topic)])].sort().join(','),
      g.offsets.reduce((s, o) => s + o.lag, 0)
    ]))
  })
}

const tpName = (tp) => `${tp.topic}/${tp.partition}`

async function groupOffsetsTable (g) {
  const owner = new Map()
  for (const m of g.members) for (const tp of m.assignment) owner.set(tpName(tp), `${m.memberId} (pid ${m.pid})`)
  return table(['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH', 'LAG', 'OWNER'],
    g.offsets.map((o) => [o.topic, o.partition, o.committed, o.high, o.lag, owner.get(tpName(o))]))
}

async function group (id, opts) {
  await withLog(opts, async (log) => {
    const g = await findGroup(log, id)
    if (opts.json) return printJson(g)
    await write(`group ${out.bold(g.groupId)}  generation ${g.generation}  ${g.members.length} live member(s)\n\n`)
    if (g.members.length) {
      await table(['MEMBER', 'PID', 'TOPICS', 'ASSIGNMENT'], g.members.map((m) => [
        m.memberId, m.pid, m.topics.join(','), m.assignment.map(tpName).join(',')
      ]))
      await write('\n')
    }
    return groupOffsetsTable(g)
  })
}

async function resetOffsets (id, opts) {
  const to = opts.to === 'earliest' || opts.to === 'latest' ? opts.to : /^\d+$/.test(opts.to) ? Number(opts.to) : NaN
  if (Number.isNaN(to) || (typeof to === 'number' && !Number.isSafeInteger(to))) {
    throw new UsageError(`--to takes earliest, latest or an offset, not '${opts.to}'`)
  }
  if (opts.partition !== undefined && opts.topic === undefined) throw new UsageError('--partition needs --topic')
  await withLog(opts, async (log) => {
    let target = to
    if (opts.topic !== undefined) {
      const t = await findTopic(log, opts.topic)
      const parts = opts.partition !== undefined ? t.partitions.filter((p) => p.partition === opts.partition) : t.partitions
      if (!parts.length) {
        throw failure(`topic '${opts.topic}' has partitions 0 to ${t.partitions.length - 1}, not ${opts.partition}`, 'ERR_INVALID_PARTITION')
      }
      target = parts.map((p) => ({ topic: opts.topic, partition: p.partition, offset: to === 'earliest' ? p.low : to === 'latest' ? p.high : to }))
    } else {
      const g = await findGroup(log, id)
      if (typeof to === 'number') {
        if (!g.offsets.length) throw failure(`group '${id}' has no partitions yet; name one with --topic`)
        target = g.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: to }))
      }
    }
    await log.setGroupOffsets(id, target)
    const g = await findGroup(log, id)
    if (opts.json) return printJson(g.offsets)
    await write(`reset group '${id}' to ${to}\n`)
    return groupOffsetsTable(g)
  })
}

async function dump (topic, partition, opts) {
  const dir = existingDir(opts)
  const r = await binding.inspectPartition(dir, topic, partition, opts.offset ?? 0)
  if (opts.json) await printJson({ topic, partition, ...r })
  else {
    await table(['SEGMENT', 'POSITION', 'BASE', 'LAST', 'COUNT', 'SIZE', 'FIRST-TIMESTAMP', 'MAX-TIMESTAMP', 'CRC'], r.batches.map((b) => [
      b.segment, b.position, b.baseOffset, b.lastOffset, b.count, b.size, b.firstTimestamp, b.maxTimestamp, b.crcOk ? out.green('ok') : out.red('BAD')
    ]))
    for (const d of r.damage) {
      await write(out.red(`damaged: segment ${d.segment} position ${d.position} offset ${d.offset}: ${d.reason}`) + '\n')
    }
  }
  if (r.damage.length) process.exitCode = 1
}

async function verify (opts) {
  const dir = existingDir(opts)
  const work = []
  let total = 0
  for (const { topic, partition } of binding.inspectPartitions(dir)) {
    for (const s of binding.inspectFiles(dir, topic, partition).segments) {
      work.push({ topic, partition, segment: s })
      total += s.bytes
    }
  }
  const bar = !opts.json && process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'verifying |{bar}| {percentage}% {value}/{total} bytes', stream: process.stderr, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : null
  bar?.start(total, 0)
  const sum = { topics: new Set(), partitions: new Set(), segments: 0, batches: 0, records: 0, bytes: 0 }
  const damage = []
  try {
    for (const w of work) {
      const scan = await binding.verifySegment(dir, w.topic, w.partition, w.segment.base)
      sum.topics.add(w.topic)
      sum.partitions.add(`${w.topic}/${w.partition}`)
      sum.segments++
      sum.batches += scan.batches
      sum.records += scan.records
      sum.bytes += scan.bytes
      if (scan.damage) damage.push({ topic: w.topic, partition: w.partition, ...scan.damage })
      bar?.increment(w.segment.bytes)
    }
  } finally {
    bar?.stop()
  }
  const summary = { topics: sum.topics.size, partitions: sum.partitions.size, segments: sum.segments, batches: sum.batches, records: sum.records, bytes: sum.bytes }
  if (opts.json) await printJson({ ok: damage.length === 0, ...summary, damage })
  else {
    for (const d of damage) {
      await write(out.red(`damaged: topic ${d.topic} partition ${d.partition} segment ${d.segment} position ${d.position} offset ${d.offset}: ${d.reason}`) + '\n')
    }
    const what = `${summary.topics} topic(s), ${summary.partitions} partition(s), ${summary.segments} segment(s), ${summary.batches} batch(es), ${summary.records} record(s), ${humanBytes(summary.bytes)}`
    await write(damage.length ? out.red(`${damage.length} damaged segment(s); checked ${what}\n`) : `${out.green('ok')}: checked ${what}\n`)
  }
  if (damage.length) process.exitCode = 1
}

// --- wiring -----------------------------------------------------------------

function program () {
  const prog = new Command('caldo')
    .description('Inspect and use a caldo log directory (--dir, else $CALDO_DIR, else ./.caldo-data)')
    .version(require('../package.json').version)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
  const cmd = (spec, description) => prog.command(spec).description(description)
    .option('-d, --dir <path>', 'the log directory (default: $CALDO_DIR, else ./.caldo-data)')
  const json = '--json'

  cmd('topics', 'list topics with their partitions, low/high offsets and bytes on disk')
    .option('--internal', 'include __consumer_offsets')
    .option(json, 'print JSON')
    .action(topics)
  cmd('create-topic <name>', 'create a topic')
    .option('-p, --partitions <n>', 'number of partitions', intArg('partitions', 1), 1)
    .option('--segment-bytes <bytes>', 'roll segments at this size', intArg('segment bytes', 1))
    .option('--max-message-bytes <bytes>', 'largest record (key + value + headers)', intArg('max message bytes', 1))
    .option(json, 'print the topic as JSON')
    .action(createTopic)
  cmd('delete-topic <name>', 'delete a topic and its records').action(deleteTopic)
  cmd('produce <topic>', 'write one record per line of stdin (like kcat -P)')
    .option('-K, --key-separator <s>', 'split each line into key and value at the first <s>')
    .option('-p, --partition <n>', 'write to this partition (default: by key, else round-robin)', intArg('partition'))
    .action(produce)
  cmd('consume <topic>', 'print records (like kcat -C); stops at the end unless --follow')
    .option('-g, --group <id>', 'consume as a member of this group, committing what was printed')
    .option('--from-beginning', 'start at the earliest offset (a group: where it has no committed offset)')
    .option('-f, --follow', 'keep waiting for new records (Ctrl-C ends)')
    .option('-p, --partition <n>', 'only this partition', intArg('partition'))
    .option('-o, --offset <n>', 'start at this offset (with --partition)', intArg('offset'))
    .option('-c, --count <n>', 'stop after this many records', intArg('count', 1))
    .option('--format <fmt>', 'per record: %t topic %p partition %o offset %k key %s value %T timestamp %K/%S key/value length (default %s)')
    .option(json, 'one JSON object per record and line')
    .action(consume)
  cmd('groups', 'list consumer groups').option(json, 'print JSON').action(groups)
  cmd('group <id>', 'show a group: members (pid), assignment, committed offsets, lag')
    .option(json, 'print JSON').action(group)
  cmd('reset-offsets <group>', "move a stopped group's committed offsets")
    .requiredOption('--to <where>', 'earliest, latest, or an offset')
    .option('-t, --topic <topic>', 'only this topic (default: every partition the group has)')
    .option('-p, --partition <n>', 'only this partition (with --topic)', intArg('partition'))
    .option(json, 'print the new offsets as JSON')
    .action(resetOffsets)
  cmd('dump <topic>', "list a partition's batches: segment, position, offsets, size, timestamps, CRC")
    .argument('<partition>', 'partition number', intArg('partition'))
    .option('-o, --offset <n>', 'start at the batch holding this offset', intArg('offset'))
    .option(json, 'print JSON')
    .action(dump)
  cmd('verify', 'check the CRC of every batch of every segment; exit 1 on damage')
    .option(json, 'print JSON')
    .action(verify)
  return prog
}

async function main () {
  process.stdout.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  })
  try {
    await program().parseAsync(process.argv)
    return process.exitCode ?? 0
  } catch (e) {
    if (e && typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander has printed the message; --help and --version end here too.
      return e.exitCode === 0 ? 0 : 2
    }
    if (e instanceof UsageError) {
      process.stderr.write(`${err.red('error:')} ${e.message}\n`)
      return 2
    }
    const code = e && e.code ? ` (${e.code})` : ''
    process.stderr.write(`${err.red('caldo:')} ${String(e && e.message ? e.message : e).split('\n')[0]}${code}\n`)
    // A value the library refuses (a too small --segment-bytes, say) is a usage error too.
    return e && e.code === 'ERR_INVALID_ARG' ? 2 : 1
  }
}

main().then((code) => process.exit(code))
