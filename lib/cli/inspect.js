'use strict'
// dump and verify: read-only looks at segment files.

const cliProgress = require('cli-progress')
const binding = require('../native.js')
const { out, existingDir, write, printJson, table, humanBytes } = require('./common.js')

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

module.exports = { dump, verify }
