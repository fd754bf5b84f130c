'use strict'
// The wide-log benchmark (`node benchmark/wide.js`): what a process pays per
// partition. For 10, 1,000 and 10,000 partitions, a child process under a
// descriptor limit (`ulimit -n`) creates a topic, writes one record to every
// partition and reads every partition back, with a manual consumer and then a
// group consumer (__test__/fixtures/wide.js). Reported: the descriptors it
// held at most and its peak RSS, each over its start and per partition, and
// the time from creating the topic to having read it all. Writes
// benchmark/results/wide.json and wide.md. Node built-ins and caldo only.
//
//   node benchmark/wide.js [--limit 1024] [--runs 5] [--build <package root>]
//                          [--baseline results-of-another-build.json]
//
// --build runs another checkout's build (its own fixture); --baseline shows
// that file's figures (this benchmark run on another build) as "before".

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { median, fmt, machine, machineLine } = require('./common')

const SIZES = [10, 1000, 10000]

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}

const limit = Number(arg('--limit', 1024))
const runs = Number(arg('--runs', 5))
const build = path.resolve(arg('--build', path.join(__dirname, '..')))
const baseline = arg('--baseline')

/** One run of the fixture under the limit, in a fresh directory under the system's temp dir. */
function once (partitions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-wide-'))
  try {
    const script = path.join(build, '__test__', 'fixtures', 'wide.js')
    let out
    try {
      out = execFileSync('bash', ['-c', `ulimit -n ${limit} && exec "$0" "$@"`, process.execPath, script, dir, String(partitions), '1'],
        { encoding: 'utf8', maxBuffer: 1 << 20 })
    } catch (e) {
      out = e.stdout
    }
    return JSON.parse(out.trim().split('\n').pop())
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) })

function measure (partitions) {
  const results = []
  for (let i = 0; i < runs; i++) {
    const r = once(partitions)
    if (!r.ok) return { partitions, failed: r.error.trim() }
    results.push(r)
  }
  const t = (r) => r.times.create + r.times.write + r.times.readManual + r.times.readGroup
  return {
    partitions,
    fds: spread(results.map((r) => r.peakFds - r.baseFds)),
    fdsPerPartition: spread(results.map((r) => (r.peakFds - r.baseFds) / partitions)),
    rssPerPartitionKiB: spread(results.map((r) => (r.peakRss - r.baseRss) / 1024 / partitions)),
    peakRssMiB: spread(results.map((r) => r.peakRss / 2 ** 20)),
    totalMs: spread(results.map(t)),
    phasesMs: Object.fromEntries(['create', 'write', 'readManual', 'readGroup'].map((k) => [k, median(results.map((r) => r.times[k]))]))
  }
}

const range = (x, digits = 0) => {
  const f = (v) => digits ? v.toFixed(digits) : fmt(v)
  return `${f(x.median)} (${f(x.min)}–${f(x.max)})`
}

function rows (label, rs) {
  return rs.map((r) => r.failed
    ? `| ${fmt(r.partitions)} | ${label} | fails: \`${r.failed.replace(/\/\S+\/topics\//, '…/topics/')}\` | | | |`
    : `| ${fmt(r.partitions)} | ${label} | ${range(r.fds)} | ${range(r.fdsPerPartition, 2)} | ${range(r.rssPerPartitionKiB, 1)} | ${range(r.totalMs)} |`)
}

function main () {
  const m = machine(os.tmpdir())
  const results = SIZES.map(measure)
  const report = { machine: m, limit, runs, results }
  const before = baseline ? JSON.parse(fs.readFileSync(baseline, 'utf8')) : null
  if (before) report.baseline = before
  const lines = [
    machineLine(m),
    '',
    `Each child runs under \`ulimit -n ${limit}\`${before && before.limit !== limit ? ` (before: ${before.limit})` : ''}: creates a topic, writes one record to every partition, reads`,
    'them all with a manual consumer, then with a group consumer. Medians of ' + runs + ' runs (min–max).',
    'Descriptors and RSS: the most seen over the process\'s start. Time: create + write + both reads.',
    '',
    '| Partitions | Build | Descriptors held | per partition | RSS per partition (KiB) | Time (ms) |',
    '|---:|---|---:|---:|---:|---:|'
  ]
  for (let i = 0; i < SIZES.length; i++) {
    if (before) lines.push(...rows('before', [before.results[i]]))
    lines.push(...rows(before ? 'after' : 'this build', [results[i]]))
  }
  const md = lines.join('\n') + '\n'
  const dir = path.join(__dirname, 'results')
  fs.writeFileSync(path.join(dir, 'wide.json'), JSON.stringify(report, null, 2) + '\n')
  fs.writeFileSync(path.join(dir, 'wide.md'), md)
  process.stdout.write(md)
}

main()
