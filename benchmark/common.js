'use strict'
// Helpers shared by the benchmarks: statistics, number formatting, machine facts.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const util = require('node:util')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank percentile of an ascending array. */
const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]

const fmt = (x) => Math.round(x).toLocaleString('en-US')

/** "median (min–max)" of `xs`, each formatted by `f`. */
const cell = (xs, f = fmt) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`

/**
 * Runs `run(repo, case)` for every case over `--rounds` rounds (default 5) of `argv`, for
 * this checkout and, with `--baseline DIR`, another build (`--baseline-name` labels it),
 * case by case, the builds taking turns in each of the case's rounds, so that a change
 * in the machine's load falls on all alike. Returns the rounds, the builds and res[build][case],
 * each a list of what `run` returned.
 */
async function backToBack (argv, cases, run) {
  const arg = (name) => { const i = argv.indexOf(name); return i < 0 ? null : argv[i + 1] }
  const rounds = Number(arg('--rounds') ?? 5)
  const builds = [{ name: 'this build', repo: path.join(__dirname, '..') }]
  if (arg('--baseline')) builds.push({ name: arg('--baseline-name') ?? 'baseline', repo: path.resolve(arg('--baseline')) })
  const res = builds.map(() => cases.map(() => []))
  // Case by case: a case that frees a lot of memory (or leaves writeback behind) would
  // otherwise slow the next case's first touches, whichever build ran it.
  for (let c = 0; c < cases.length; c++) {
    for (let r = 0; r < rounds; r++) {
      // Which build goes first alternates by round, for the same reason within a case.
      for (let i = 0; i < builds.length; i++) {
        const b = (i + r) % builds.length
        res[b][c].push(await run(builds[b].repo, cases[c], c))
      }
    }
    console.error(`case ${c + 1}/${cases.length} done`)
  }
  return { rounds, builds, res }
}

/** Cores, memory, Node, kernel, and the disk under `dir`. */
/** `argv`'s `--name value` options over `defaults` (a path for `module`, else a
 * number); an option not in `defaults` is refused. */
function options (argv, defaults) {
  const spec = Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' }]))
  const o = { ...defaults }
  for (const [k, v] of Object.entries(util.parseArgs({ args: argv, options: spec }).values)) {
    o[k] = k === 'module' ? path.resolve(v) : Number(v)
  }
  return o
}

function machine (dir) {
  let disk = null
  try {
    const [device, fsType, , , , , mount] = execFileSync('df', ['-T', dir], { encoding: 'utf8' }).trim().split('\n').pop().split(/\s+/)
    disk = { device, fsType, mount }
  } catch {}
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    totalMemBytes: os.totalmem(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpDisk: disk,
    date: new Date().toISOString()
  }
}

/** The "Machine: ..." line of a results file; `where` names the data's disk ('tmp on', 'data on'). */
function machineLine (m, where = 'tmp on') {
  const disk = m.tmpDisk ? `, ${where} ${m.tmpDisk.device} (${m.tmpDisk.fsType})` : ''
  return `Machine: ${m.cpus} × ${m.cpuModel}, ${(m.totalMemBytes / 2 ** 30).toFixed(1)} GiB RAM, Node ${m.node}, ${m.platform}${disk}, ${m.date}`
}

/** Prints `md` and writes results/<name>.md and results/<name>.json (`json`). */
function writeResults (name, json, md) {
  console.log(md)
  const out = path.join(__dirname, 'results')
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(json, null, 2) + '\n')
  fs.writeFileSync(path.join(out, `${name}.md`), md + '\n')
}

module.exports = { median, percentile, fmt, cell, backToBack, writeResults, machine, machineLine, options }
