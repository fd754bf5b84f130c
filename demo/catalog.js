'use strict'
// The catalog service: the current status of every feature, kept in a table read from
// the feature-status topic (the last value per feature id; a tombstone removes the
// feature). It keeps no state of its own: after a crash it rebuilds the table from the log.
const { open, serde } = require('..')
const [dir, instance] = process.argv.slice(2)
const report = (m) => { if (process.connected) process.send(m) }

function summary (table) {
  const byStatus = {}
  for (const { status } of table.values()) byStatus[status] = (byStatus[status] || 0) + 1
  return { features: table.size, byStatus }
}

;(async () => {
  const started = performance.now()
  const log = await open(dir)
  const table = log.table('feature-status', { key: serde.string, value: serde.json })
  let changes = 0
  table.on('change', () => changes++)
  await table.ready()
  report({ ready: true, ms: performance.now() - started, changes, ...summary(table), instance })
  process.on('message', async (m) => {
    if (m === 'summary') {
      await table.ready()
      report({ summary: true, changes, ...summary(table), instance })
    }
    if (m === 'stop') {
      await log.close()
      if (process.connected) process.disconnect()
    }
  })
})().catch((err) => { console.error(`catalog/${instance}: ${err.message}`); process.exit(1) })
