'use strict'
// Child of run.js: waits at the end of a partition and, for each record, records
// receive time minus the send time the parent wrote into the value (both in µs of
// CLOCK_MONOTONIC, process.hrtime, which all processes of a machine share).

const { open } = require('..')

const [dir, topic, count] = process.argv.slice(2)

async function main () {
  const log = await open(dir, { durability: 'none' })
  const consumer = log.consumer({ assign: [{ topic, partition: 0, offset: 0 }] })
  const latencies = new Float64Array(Number(count))
  process.send({ ready: true })
  let n = 0
  for await (const m of consumer) {
    const now = Number(process.hrtime.bigint()) / 1000
    if (m.offset !== n) throw new Error(`latency consumer: expected offset ${n}, got ${m.offset}`)
    latencies[n] = now - m.value.readDoubleLE(0)
    if (++n === latencies.length) break
  }
  await log.close()
  process.send({ latencies: Array.from(latencies) }, () => process.disconnect())
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
