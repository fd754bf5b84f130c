'use strict'
// A single-node Apache Kafka (KRaft) for the Kafka half of the conformance suite and for
// benchmark/kafka-backend.js: the jars from Maven Central (scripts/kafka-jars.sh), its own
// ports and a temporary data dir, started within a bounded time and stopped by its caller.

const fs = require('node:fs')
const os = require('node:os')
const net = require('node:net')
const path = require('node:path')
const crypto = require('node:crypto')
const { execFileSync, spawn } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const START_MS = 90_000

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

// Low group and transaction timeouts, one partition for the internal topics: a test broker
// that rebalances in a second, not a production one.
function properties (dir, port, cport) {
  return `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${path.join(dir, 'data')}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=500
auto.create.topics.enable=false
delete.topic.enable=true
`
}

/** Starts a broker; resolves with { brokers: '127.0.0.1:port', url: 'kafka://...', stop() }. Rejects, with the broker's log, when it cannot. */
async function startBroker () {
  // Throws (with the reason on stderr) when Maven or Maven Central is not there.
  const lib = execFileSync(path.join(ROOT, 'scripts', 'kafka-jars.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-kafka-'))
  const [port, cport] = [await freePort(), await freePort()]
  const conf = path.join(dir, 'server.properties')
  fs.writeFileSync(conf, properties(dir, port, cport))
  const log4j = path.join(dir, 'log4j.properties')
  // WARN and above, plus the one INFO line that says the broker serves.
  fs.writeFileSync(log4j, `log4j.rootLogger=WARN, out
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
`)
  const jvm = ['-Xms256m', '-Xmx768m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j.configuration=file:${log4j}`, '-cp', path.join(lib, '*')]
  // base64url may begin with '-', which the tool's argument parser takes for an option: hence --cluster-id=.
  const clusterId = crypto.randomBytes(16).toString('base64url')
  execFileSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', conf], { stdio: 'pipe', timeout: START_MS })
  const proc = spawn('java', [...jvm, 'kafka.Kafka', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const exited = new Promise((resolve) => proc.on('exit', resolve))
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000)
      await exited
      clearTimeout(t)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the Kafka broker did not start within ${START_MS / 1000} s`)), START_MS)
      const onData = (chunk) => {
        output = (output + chunk).slice(-20_000)
        if (/Kafka Server started/.test(output)) { clearTimeout(timer); resolve() }
      }
      proc.stdout.on('data', onData)
      proc.stderr.on('data', onData)
      proc.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`the Kafka broker exited (${code ?? signal}) while starting`)) })
    })
  } catch (err) {
    await stop()
    err.message += `; its output:\n${output.slice(-4000)}`
    throw err
  }
  proc.stdout.resume()
  proc.stderr.resume()
  const brokers = `127.0.0.1:${port}`
  return { brokers, url: `kafka://${brokers}`, pid: proc.pid, stop }
}

module.exports = { startBroker }
