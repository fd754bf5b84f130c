'use strict'
// The billing service, exactly once: for each FeatureCreated event it writes one invoice,
// and the invoice and the group's offsets go in one transaction per batch. Killed with
// SIGKILL inside a transaction, nothing of that transaction is ever visible; its successor
// (same transactionalId) fences it, aborts what it left open and goes on from the offsets
// its last committed transaction sent.
const { open, serde } = require('..')
const [dir, instance] = process.argv.slice(2)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const report = (m) => { if (process.connected) process.send(m) }

;(async () => {
  const log = await open(dir)
  const consumer = log.consumer({ groupId: 'billing', topics: ['features'], startFrom: 'earliest', value: serde.json })
  const producer = log.producer({ transactionalId: 'billing', key: serde.string, value: serde.json })
  process.on('message', async (m) => {
    if (m === 'stop') {
      await consumer.close()
      await log.close()
      if (process.connected) process.disconnect()
    }
  })
  for await (const batch of consumer.batches({ maxMessages: 20 })) {
    await producer.transaction(async (tx) => {
      await tx.sendBatch('invoices', batch.map((m) => ({ key: m.key, value: { feature: m.value.id, amount: 100 + m.value.id % 7 } })))
      report({ sent: batch.length, instance })
      await sleep(100) // the work between writing the invoices and committing them
      await tx.sendOffsets(consumer)
    })
    report({ committed: batch.length, instance })
  }
})().catch((err) => { console.error(`billing/${instance}: ${err.message}`); process.exit(1) })
