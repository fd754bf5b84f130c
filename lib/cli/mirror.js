'use strict'
// caldo mirror: lib/mirror.js with a progress bar, or JSON lines for scripts.

const cliProgress = require('cli-progress')
const { mirror } = require('../mirror.js')
const { out, err, write, humanBytes } = require('./common.js')

// --topics a b, --topics a,b and repeated --topics all add up.
const list = (v, prev) => [...(prev ?? []), ...v.split(',').map((s) => s.trim()).filter(Boolean)]

const rate = (n, s) => (s > 0 ? Math.round(n / s) : 0)

async function mirrorCommand (opts) {
  const ac = new AbortController()
  const stop = () => ac.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const json = opts.json === true
  const bar = !json && process.stderr.isTTY
    ? new cliProgress.SingleBar({
      format: 'mirroring |{bar}| {value}/{total} records  {rate} rec/s  {mb}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true
    }, cliProgress.Presets.shades_classic)
    : null
  let lastLine = 0
  const onProgress = (e) => {
    if (e.event === 'progress') {
      if (bar) {
        if (!bar.isActive) bar.start(e.records + e.remaining, e.records, { rate: 0, mb: '' })
        bar.setTotal(e.records + e.remaining)
        bar.update(e.records, { rate: rate(e.records, e.seconds), mb: humanBytes(e.bytes) })
      }
      // At most one line a second: a script follows it, it does not need every step.
      if (json && e.seconds - lastLine >= 1) {
        lastLine = e.seconds
        write(JSON.stringify({ ...e, recordsPerSec: rate(e.records, e.seconds) }) + '\n')
      }
      return
    }
    if (e.event === 'done') return
    if (json) write(JSON.stringify(e) + '\n')
    else if (e.event === 'warning') {
      bar?.stop()
      process.stderr.write(err.yellow(`warning: ${e.message}`) + '\n')
    }
  }
  let summary
  try {
    summary = await mirror({
      from: opts.from,
      to: opts.to,
      topics: opts.topics,
      groups: opts.groups,
      follow: opts.follow === true,
      id: opts.id,
      signal: ac.signal,
      onProgress
    })
  } finally {
    bar?.stop()
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
  if (json) return write(JSON.stringify({ event: 'done', ...summary, recordsPerSec: rate(summary.records, summary.seconds), mbPerSec: summary.bytes / 1e6 / (summary.seconds || 1) }) + '\n')
  const created = summary.topics.filter((t) => t.created).length
  await write(`${summary.stopped ? 'stopped' : 'done'}: ${summary.records} record(s), ${humanBytes(summary.bytes)} in ${summary.seconds.toFixed(1)} s` +
    ` (${rate(summary.records, summary.seconds)} rec/s); ${summary.topics.length} topic(s)${created ? `, ${created} created` : ''}` +
    `; group offsets copied for ${summary.groups.synced.length} group(s)` +
    (summary.groups.skipped.length ? out.yellow(`, ${summary.groups.skipped.length} skipped`) : '') + '\n')
}

module.exports = { mirror: mirrorCommand, list }
