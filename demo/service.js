'use strict'
// One downstream service instance: a member of the consumer group named after the
// service. It reads FeatureCreated events at its own pace and reports each one.
const { open, serde } = require('..')
const [dir, service, instance] = process.argv.slice(2)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const report = (m) => { if (process.connected) process.send(m) }

;(async () => {
  const log = await open(dir)
  const consumer = log.consumer({ groupId: service, topics: ['features'], startFrom: 'earliest', key: serde.string, value: serde.json })
  consumer.on('rebalance', ({ assigned, revoked }) => {
    report({ rebalance: { assigned: assigned.map((tp) => tp.partition), revoked: revoked.map((tp) => tp.partition) }, instance })
  })
  process.on('message', (m) => { if (m === 'stop') consumer.close() })
  process.on('SIGTERM', () => consumer.close())
  for await (const m of consumer) {
    await sleep(2) // the service's own work: send the email, update the index, ...
    report({ event: m.value.id, partition: m.partition, offset: m.offset, instance })
  }
  await log.close()
  if (process.connected) process.disconnect()
})().catch((err) => { console.error(`${service}/${instance}: ${err.message}`); process.exit(1) })
