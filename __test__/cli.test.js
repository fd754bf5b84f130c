'use strict'
// The caldo command-line tool, driven as a child process: output, --json, exit codes.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { tmpdir } = require('./helpers.js')

const BIN = path.join(__dirname, '..', 'bin', 'caldo.js')
const env = { ...process.env, NO_COLOR: '1', CALDO_DIR: '' }

function caldo (dir, args, input) {
  const r = spawnSync(process.execPath, [BIN, ...args, ...(dir ? ['--dir', dir] : [])], { input, env, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function ok (dir, args, input) {
  const r = caldo(dir, args, input)
  assert.equal(r.code, 0, `caldo ${args.join(' ')}: ${r.err}`)
  return r.out
}

const json = (dir, args, input) => JSON.parse(ok(dir, args, input))
const jsonLines = (out) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))

/** A failure: the exit code, and one readable line on stderr with no stack trace. */
function fails (dir, args, code, pattern, input) {
  const r = caldo(dir, args, input)
  assert.equal(r.code, code, `caldo ${args.join(' ')} exited ${r.code}: ${r.err}`)
  assert.match(r.err, pattern)
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace')
  return r
}

test('help, usage errors and a missing log', (t) => {
  const dir = tmpdir(t)
  assert.match(ok(null, ['--help']), /Commands:[\s\S]*consume/)
  for (const cmd of ['topics', 'consume', 'reset-offsets', 'dump', 'verify']) {
    assert.match(ok(null, [cmd, '--help']), /--dir/)
  }
  fails(dir, ['bogus'], 2, /unknown command/)
  fails(dir, ['create-topic', 't', '--partitions', 'x'], 2, /partitions must be a whole number/)
  fails(dir, ['create-topic'], 2, /missing required argument/)
  fails(dir, ['create-topic', 't', '--segment-bytes', '10'], 2, /segmentBytes.*ERR_INVALID_ARG/)
  fails(dir, ['consume', 't', '--offset', '3'], 2, /--offset needs --partition/)
  fails(dir, ['consume', 't', '--group', 'g', '--partition', '0'], 2, /--group/)
  fails(dir, ['reset-offsets', 'g'], 2, /--to/)
  fails(dir, ['reset-offsets', 'g', '--to', 'soon'], 2, /--to takes/)
  fails(dir, ['dump', 't', 'zero'], 2, /partition must be a whole number/)
  fails(path.join(dir, 'none'), ['topics'], 1, /^caldo: no caldo log in .*none/)
  assert.equal(fs.existsSync(path.join(dir, 'none')), false, 'reading commands create nothing')
})

test('topics, produce from stdin and consume back', (t) => {
  const dir = tmpdir(t)
  assert.match(ok(dir, ['create-topic', 'events', '--partitions', '3']), /created topic 'events' with 3 partition/)
  fails(dir, ['create-topic', 'events'], 1, /ERR_TOPIC_EXISTS/)
  const lines = Array.from({ length: 30 }, (_, i) => `user${i % 5}:hello ${i}`)
  assert.match(ok(dir, ['produce', 'events', '--key-separator', ':'], lines.join('\n') + '\n'), /wrote 30 record\(s\) to 'events'/)
  assert.match(ok(dir, ['produce', 'events', '--partition', '2'], 'plain\n'), /wrote 1 record/)

  const topics = json(dir, ['topics', '--json'])
  assert.equal(topics.length, 1)
  assert.equal(topics[0].name, 'events')
  assert.deepEqual(topics[0].partitions.map((p) => p.partition), [0, 1, 2])
  assert.equal(topics[0].partitions.reduce((s, p) => s + p.high - p.low, 0), 31)
  assert.ok(topics[0].partitions.every((p) => p.high === 0 || p.bytes > 0))
  const table = ok(dir, ['topics'])
  assert.match(table, /^TOPIC\s+PARTITION\s+LOW\s+HIGH\s+LSO\s+RECORDS\s+BYTES$/m)
  assert.match(table, /^events\s+2\s+0\s+\d+/m)

  const got = jsonLines(ok(dir, ['consume', 'events', '--from-beginning', '--json']))
  assert.equal(got.length, 31)
  for (const m of got) assert.deepEqual(Object.keys(m), ['topic', 'partition', 'offset', 'timestamp', 'key', 'value', 'headers'])
  const produced = got.filter((m) => m.key !== null).sort((a, b) => Number(a.value.slice(6)) - Number(b.value.slice(6)))
  assert.deepEqual(produced.map((m) => `${m.key}:${m.value}`), lines)
  // Same key, same partition.
  const byKey = new Map()
  for (const m of produced) assert.equal(byKey.get(m.key) ?? (byKey.set(m.key, m.partition), m.partition), m.partition)
  assert.deepEqual(got.filter((m) => m.key === null).map((m) => [m.partition, m.value]), [[2, 'plain']])

  // Not from the beginning: starts at the end and stops there.
  assert.equal(ok(dir, ['consume', 'events']), '')
  const p2 = ok(dir, ['consume', 'events', '--partition', '2', '--from-beginning', '--format', '%t/%p:%o %k=%s %K'])
  assert.match(p2.trim().split('\n').at(-1), /^events\/2:\d+ =plain -1$/)
  const one = ok(dir, ['consume', 'events', '--partition', '2', '--offset', '1', '--count', '1', '--format', '%o'])
  assert.equal(one, '1\n')
  fails(dir, ['consume', 'nope'], 1, /^caldo: unknown topic 'nope'.*\(ERR_UNKNOWN_TOPIC\)\n$/)
  fails(dir, ['produce', 'nope'], 1, /ERR_UNKNOWN_TOPIC/)
  fails(dir, ['consume', 'events', '--partition', '7'], 1, /ERR_INVALID_PARTITION/)

  assert.match(ok(dir, ['delete-topic', 'events']), /deleted topic 'events'/)
  assert.deepEqual(json(dir, ['topics', '--json']), [])
  fails(dir, ['delete-topic', 'events'], 1, /ERR_UNKNOWN_TOPIC/)
})

test('consume --group commits; groups, group and reset-offsets', async (t) => {
  const dir = tmpdir(t)
  ok(dir, ['create-topic', 'jobs', '--partitions', '2'])
  ok(dir, ['produce', 'jobs'], Array.from({ length: 20 }, (_, i) => `job ${i}`).join('\n'))
  const first = jsonLines(ok(dir, ['consume', 'jobs', '--group', 'workers', '--from-beginning', '--json']))
  assert.equal(first.length, 20)
  assert.equal(ok(dir, ['consume', 'jobs', '--group', 'workers', '--from-beginning']), '', 'nothing new')

  const groups = json(dir, ['groups', '--json'])
  assert.deepEqual(groups.map((g) => g.groupId), ['workers'])
  assert.match(ok(dir, ['groups']), /^workers\s+\d+\s+0\s+jobs\s+0$/m)
  const g = json(dir, ['group', 'workers', '--json'])
  assert.deepEqual(g.members, [])
  assert.equal(g.offsets.reduce((s, o) => s + o.committed, 0), 20)
  assert.ok(g.offsets.every((o) => o.lag === 0))
  assert.match(ok(dir, ['group', 'workers']), /^TOPIC\s+PARTITION\s+COMMITTED\s+HIGH\s+LAG\s+OWNER$/m)
  fails(dir, ['group', 'nobody'], 1, /^caldo: unknown group 'nobody'\n$/)

  const reset = json(dir, ['reset-offsets', 'workers', '--to', 'earliest', '--json'])
  assert.ok(reset.every((o) => o.committed === 0))
  assert.equal(jsonLines(ok(dir, ['consume', 'jobs', '--group', 'workers', '--json'])).length, 20)
  // Records without keys from one call all land on one partition.
  const full = json(dir, ['topics', '--json'])[0].partitions.find((p) => p.high === 20).partition
  const one = json(dir, ['reset-offsets', 'workers', '--to', '1', '--topic', 'jobs', '--partition', String(full), '--json'])
  assert.equal(one.find((o) => o.partition === full).committed, 1)
  assert.equal(json(dir, ['group', 'workers', '--json']).offsets.find((o) => o.partition === full).lag, 19)
  assert.match(ok(dir, ['reset-offsets', 'workers', '--to', '0']), /reset group 'workers' to 0/)
  fails(dir, ['reset-offsets', 'workers', '--to', '999'], 1, /ERR_OFFSET_OUT_OF_RANGE/)

  // A live member (another process) blocks the reset; Ctrl-C ends it cleanly.
  const member = spawn(process.execPath, [BIN, 'consume', 'jobs', '--group', 'workers', '--follow', '--format', '%s', '--dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => member.kill('SIGKILL'))
  let printed = ''
  let stderr = ''
  member.stderr.on('data', (d) => { stderr += d })
  await new Promise((resolve, reject) => {
    member.stdout.on('data', (d) => { printed += d; if (printed.split('\n').length > 20) resolve() })
    member.on('exit', (code) => reject(new Error(`member exited ${code}: ${stderr}`)))
  })
  const live = json(dir, ['group', 'workers', '--json'])
  assert.deepEqual(live.members.map((m) => m.pid), [member.pid])
  assert.match(ok(dir, ['group', 'workers']), new RegExp(`\\(pid ${member.pid}\\)`))
  fails(dir, ['reset-offsets', 'workers', '--to', 'earliest'], 1, /^caldo: group 'workers' has 1 live member\(s\) \(pid \d+\).*\(ERR_GROUP_ACTIVE\)\n$/)
  const exited = new Promise((resolve) => member.on('exit', (code, signal) => resolve({ code, signal })))
  member.kill('SIGINT')
  assert.deepEqual(await exited, { code: 0, signal: null })
  assert.equal(stderr, '')
  const after = json(dir, ['group', 'workers', '--json'])
  assert.deepEqual(after.members, [])
  assert.ok(after.offsets.every((o) => o.lag === 0), 'the member committed what it printed')
  // Stopped now: the group can go, and then it is unknown.
  assert.match(ok(dir, ['delete-group', 'workers']), /deleted group 'workers'/)
  assert.deepEqual(json(dir, ['groups', '--json']).map((g) => g.groupId), [])
  fails(dir, ['delete-group', 'workers'], 1, /group 'workers' does not exist.*\(ERR_UNKNOWN_GROUP\)/)
})

test('dump and verify; a flipped byte in a sealed segment is found and named', (t) => {
  const dir = tmpdir(t)
  ok(dir, ['create-topic', 'logs', '--segment-bytes', '4096'])
  const line = 'x'.repeat(60)
  // Each run is one batch of about 6 KiB, so every run rolls a segment.
  for (let i = 0; i < 4; i++) ok(dir, ['produce', 'logs'], Array(100).fill(line).join('\n'))
  ok(dir, ['create-topic', 'other'])
  ok(dir, ['produce', 'other'], 'a\nb\n')
  ok(dir, ['consume', 'other', '--group', 'g', '--from-beginning']) // writes __consumer_offsets

  const d = json(dir, ['dump', 'logs', '0', '--json'])
  assert.equal(d.batches.length, 4)
  assert.deepEqual(d.damage, [])
  assert.deepEqual(Object.keys(d.batches[0]).sort(), ['baseOffset', 'count', 'crcOk', 'firstTimestamp', 'lastOffset', 'maxTimestamp', 'position', 'segment', 'size'])
  assert.deepEqual(d.batches.map((b) => [b.baseOffset, b.lastOffset, b.count, b.position, b.crcOk]),
    [[0, 99, 100, 0, true], [100, 199, 100, 0, true], [200, 299, 100, 0, true], [300, 399, 100, 0, true]])
  assert.equal(d.batches[1].segment, '00000000000000000100.log')
  assert.deepEqual(json(dir, ['dump', 'logs', '0', '--offset', '250', '--json']).batches.map((b) => b.baseOffset), [200, 300])
  assert.match(ok(dir, ['dump', 'logs', '0']), /^SEGMENT\s+POSITION\s+BASE\s+LAST\s+COUNT\s+SIZE\s+FIRST-TIMESTAMP\s+MAX-TIMESTAMP\s+CRC\n00000000000000000000\.log\s+0\s+0\s+99\s+100\s+\d+\s+\d+\s+\d+\s+ok$/m)
  fails(dir, ['dump', 'nope', '0'], 1, /ERR_UNKNOWN_TOPIC/)
  fails(dir, ['dump', 'logs', '5'], 1, /ERR_INVALID_PARTITION/)

  const internal = json(dir, ['topics', '--internal', '--json']).find((x) => x.name === '__consumer_offsets')
  const n = internal.partitions.length
  const commits = internal.partitions.reduce((s, p) => s + p.high, 0)
  assert.ok(commits >= 1)
  const v = json(dir, ['verify', '--json'])
  assert.deepEqual({ ...v, bytes: 0 }, { ok: true, topics: 3, partitions: 2 + n, segments: 5 + n, batches: 5 + commits, records: 402 + commits, bytes: 0, damage: [] })
  assert.match(ok(dir, ['verify']), new RegExp(`^ok: checked 3 topic\\(s\\), ${2 + n} partition\\(s\\), ${5 + n} segment\\(s\\)`))

  // Flip a byte inside the records of the second (sealed) segment.
  const seg = path.join(dir, 'topics', 'logs', '0', '00000000000000000100.log')
  const bytes = fs.readFileSync(seg)
  bytes[500] ^= 0xff
  fs.writeFileSync(seg, bytes)
  const r = caldo(dir, ['verify'])
  assert.equal(r.code, 1, r.err)
  assert.match(r.out, /^damaged: topic logs partition 0 segment 00000000000000000100\.log position 0 offset 100: CRC mismatch$/m)
  assert.match(r.out, /1 damaged segment\(s\)/)
  const vj = caldo(dir, ['verify', '--json'])
  assert.equal(vj.code, 1)
  assert.deepEqual(JSON.parse(vj.out).damage, [{ topic: 'logs', partition: 0, segment: '00000000000000000100.log', position: 0, offset: 100, reason: 'CRC mismatch' }])
  const dr = caldo(dir, ['dump', 'logs', '0'])
  assert.equal(dr.code, 1)
  assert.match(dr.out, /^00000000000000000100\.log\s+0\s+100\s+199\s+100\s+\d+\s+\d+\s+\d+\s+BAD$/m)
  assert.match(dr.out, /damaged: segment 00000000000000000100\.log position 0 offset 100: CRC mismatch/)
  assert.deepEqual(fs.readFileSync(seg), bytes, 'verify and dump change nothing')
})

test('retention: create-topic and alter-topic settings, topics --config, delete-records, clean', (t) => {
  const dir = tmpdir(t)
  ok(dir, ['create-topic', 'r', '--segment-bytes', '4096', '--retention-ms', '-1', '--cleanup-policy', 'compact,delete'])
  // Four runs of ten lines: a batch of about 3 KiB each, a segment each;
  // keys are unique, so compaction keeps every record.
  for (let run = 0; run < 4; run++) {
    ok(dir, ['produce', 'r', '-K', ':'], Array.from({ length: 10 }, (_, i) => `${run}-${i}:${'x'.repeat(300)}`).join('\n') + '\n')
  }
  fails(dir, ['produce', 'r'], 2, /has no key, and topic 'r' is compacted.*ERR_INVALID_ARG/, 'no key\n')
  let [topic] = json(dir, ['topics', '--json'])
  assert.equal(topic.config.retentionMs, -1)
  assert.equal(topic.config.cleanupPolicy, 'compact,delete')
  assert.match(ok(dir, ['topics', '--config']), /r\s+1\s+forever\s+no limit\s+4\.0 KiB\s+7d\s+compact,delete\s+0\s+[\d.]+ KiB\s+\d+%/)
  fails(dir, ['alter-topic', 'r'], 2, /at least one setting/)
  fails(dir, ['alter-topic', 'r', '--retention-ms', '0'], 2, /retentionMs.*ERR_INVALID_ARG/)
  fails(dir, ['alter-topic', 'r', '--cleanup-policy', 'shred'], 2, /cleanupPolicy.*ERR_INVALID_ARG/)
  fails(dir, ['alter-topic', 'nope', '--retention-ms', '5'], 1, /ERR_UNKNOWN_TOPIC/)
  assert.match(ok(dir, ['alter-topic', 'r', '--retention-bytes', '8192']), /altered topic 'r'/)
  const cleaned = json(dir, ['clean', '--json'])
  assert.ok(cleaned.segments > 0, JSON.stringify(cleaned))
  ;[topic] = json(dir, ['topics', '--json'])
  assert.ok(topic.partitions[0].low > 0)
  fails(dir, ['delete-records', 'r', '0', '--before', '41'], 1, /ERR_OFFSET_OUT_OF_RANGE/)
  assert.match(ok(dir, ['delete-records', 'r', '0', '--before', '39']), /r\/0 now starts at offset 39/)
  assert.match(ok(dir, ['clean']), /removed \d+ segment\(s\)/)
  assert.equal(json(dir, ['topics', '--json'])[0].partitions[0].low, 39)
})
