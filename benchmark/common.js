'use strict'
// Helpers shared by the benchmarks: statistics, number formatting, machine facts.

const os = require('node:os')
const { execFileSync } = require('node:child_process')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank percentile of an ascending array. */
const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]

const fmt = (x) => Math.round(x).toLocaleString('en-US')

/** Cores, memory, Node, kernel, and the disk under `dir`. */
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

module.exports = { median, percentile, fmt, machine, machineLine }
