'use strict'
// Kafka's own Java clients at full speed: kafka-producer-perf-test and kafka-consumer-perf-test
// (ProducerPerformance and ConsumerPerformance in the kafka-tools jar that kafka.sh fetches with
// the broker), so that the Kafka columns show the engine and not only a JS client.

const path = require('node:path')
const { execFile } = require('node:child_process')
const { WORK, PORTS, batchOf } = require('./drivers')

// Fetched by scripts/kafka-jars.sh (kafka.sh setup).
const LIB = path.join(__dirname, '..', '..', '.kafka', 'lib')

function java (cls, args) {
  const jvm = ['-Xms256m', '-Xmx1g', `-Dlog4j.configuration=file:${path.join(WORK, 'kafka-log4j.properties')}`, '-cp', path.join(LIB, '*')]
  return new Promise((resolve, reject) => {
    execFile('java', [...jvm, cls, ...args], { encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cls}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' ')}`))
      else resolve(stdout)
    })
  })
}

const bootstrap = () => `bootstrap.servers=127.0.0.1:${PORTS.kafka}`

// `procs` JVMs started together, `count` records each (as every other system's processes);
// the figure is the sum of each one's own rate (each clocks itself from its first send, after
// its JVM has started), so with several processes it is an upper bound. acks=1 and batches of
// the same record count as the JS drivers.
async function producePerf ({ topic, count, valueBytes, procs }) {
  const props = [bootstrap(), 'acks=1', `batch.size=${batchOf(valueBytes) * (valueBytes + 70)}`, 'linger.ms=5', `max.request.size=${4 << 20}`]
  const outs = await Promise.all(Array.from({ length: procs }, () => java('org.apache.kafka.tools.ProducerPerformance',
    ['--topic', topic, '--num-records', String(count), '--record-size', String(valueBytes), '--throughput', '-1', '--producer-props', ...props])))
  let total = 0
  for (const out of outs) {
    const m = /(\d+) records sent, ([\d.]+) records\/sec/.exec(out.trim().split('\n').pop())
    if (!m || Number(m[1]) !== count) throw new Error(`ProducerPerformance: unexpected output: ${out.trim().split('\n').pop()}`)
    total += Number(m[2])
  }
  return total
}

// One consumer reading `count` records from the start; the rate is ConsumerPerformance's
// fetch.nMsg.sec, which leaves out the group join (as the kafkajs driver's clock does).
async function consumePerf ({ topic, count }) {
  const out = await java('org.apache.kafka.tools.ConsumerPerformance',
    ['--bootstrap-server', `127.0.0.1:${PORTS.kafka}`, '--topic', topic, '--messages', String(count), '--timeout', '60000',
      '--group', `perf-${Date.now()}`])
  const lines = out.trim().split('\n')
  const head = lines.findIndex((l) => l.includes('fetch.nMsg.sec'))
  if (head < 0 || !lines[head + 1]) throw new Error(`ConsumerPerformance: unexpected output: ${out.trim()}`)
  const cols = lines[head].split(',').map((x) => x.trim())
  const vals = lines[head + 1].split(',').map((x) => x.trim())
  const n = Number(vals[cols.indexOf('data.consumed.in.nMsg')])
  if (n < count) throw new Error(`ConsumerPerformance read ${n} of ${count}`)
  return Number(vals[cols.indexOf('fetch.nMsg.sec')])
}

module.exports = { producePerf, consumePerf }
