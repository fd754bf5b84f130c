'use strict'
// The features service: publishes FeatureCreated events, keyed by feature id, then exits.
const { open, serde } = require('..')
const [dir, count, perSecond] = process.argv.slice(2).map((x, i) => (i ? Number(x) : x))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const NAMES = ['dark mode', 'export to CSV', 'SSO', 'audit log', 'webhooks', 'bulk edit', 'offline sync', '2FA']

;(async () => {
  const log = await open(dir)
  const producer = log.producer({ key: serde.string, value: serde.json })
  for (let id = 1; id <= count; id++) {
    const name = `${NAMES[id % NAMES.length]} #${id}`
    await producer.send('features', { key: `feature-${id}`, value: { type: 'FeatureCreated', id, name, at: Date.now() } })
    await sleep(1000 / perSecond)
  }
  await log.close()
})().catch((err) => { console.error(`features: ${err.message}`); process.exit(1) })
