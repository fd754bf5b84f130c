'use strict'
// caldo mirror's throughput (`npm run bench:mirror`): writes benchmark/results/mirror.json
// and mirror.md. Node built-ins and caldo only.
//
// A source log of 4 partitions (keyed records with one header, 100-byte and 1 KiB values)
// is mirrored into a fresh directory with mirror() as `caldo mirror` runs it (both logs
// opened by path, default durability), RUNS times; records/s and MB/s (keys, values and
// headers) are the medians, with the range.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { open, mirror } = require('..')
const { median, fmt, machine, machineLine } = require('./common')

const QUICK = process.argv.includes('--quick')
const RUNS = QUICK ? 1 : 5
const SIZES = [[100, QUICK ? 100_000 : 1_000_000], [1024, QUICK ? 30_000 : 300_000]]
const PARTITIONS = 4
const BATCH = 1000

async function source (dir, valueBytes, records) {
  const log = await open(dir, { durability: 'none' })
  await log.createTopic('bench', { partitions: PARTITIONS })
  const p = log.producer()
  const value = Buffer.alloc(valueBytes, 0x61)
  for (let i = 0; i < records; i += BATCH) {
    await p.sendBatch('bench', Array.from({ length: BATCH }, (_, j) => ({ key: `k${(i + j) % 10007}`, value, headers: { source: 'bench' } })))
  }
  await log.close()
}

async function main () {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-bench-mirror-'))
  const rows = []
  try {
    for (const [valueBytes, records] of SIZES) {
      const from = path.join(root, `src-${valueBytes}`)
      await source(from, valueBytes, records)
      const rates = []
      const mbs = []
      for (let r = 0; r < RUNS; r++) {
        const to = path.join(root, `dst-${valueBytes}-${r}`)
        const t0 = performance.now()
        const s = await mirror({ from, to })
        const sec = (performance.now() - t0) / 1000
        if (s.records !== records) throw new Error(`mirrored ${s.records} records, expected ${records}`)
        rates.push(s.records / sec)
        mbs.push(s.bytes / 1e6 / sec)
        fs.rmSync(to, { recursive: true, force: true })
      }
      rows.push({ valueBytes, records, recordsPerSec: { median: median(rates), min: Math.min(...rates), max: Math.max(...rates) }, mbPerSec: { median: median(mbs), min: Math.min(...mbs), max: Math.max(...mbs) } })
      fs.rmSync(from, { recursive: true, force: true })
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
  const m = machine(os.tmpdir())
  const out = path.join(__dirname, 'results')
  fs.writeFileSync(path.join(out, 'mirror.json'), JSON.stringify({ machine: m, runs: RUNS, partitions: PARTITIONS, rows }, null, 2) + '\n')
  const range = (x, f = fmt) => `${f(x.median)} (${f(x.min)}–${f(x.max)})`
  const mb = (x) => x.toFixed(1)
  const md = [
    '# caldo: mirror',
    '',
    machineLine(m),
    `Medians of ${RUNS} runs (range in brackets): \`mirror()\` from one directory to a fresh one, both opened by path as \`caldo mirror\` opens them (durability 'interval'), ${PARTITIONS} partitions, keyed records with one header. MB/s counts keys, values and headers. The machine is shared and noisy: expect ±20%.`,
    '',
    '| Records | rec/s | MB/s |',
    '|---|---:|---:|',
    ...rows.map((r) => `| ${fmt(r.records)} × ${r.valueBytes} B values | ${range(r.recordsPerSec)} | ${range(r.mbPerSec, mb)} |`),
    ''
  ].join('\n')
  fs.writeFileSync(path.join(out, 'mirror.md'), md)
  process.stdout.write(md)
}

main().catch((err) => { console.error(err); process.exit(1) })
