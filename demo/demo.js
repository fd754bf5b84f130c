'use strict'
// `npm run demo`: a features service publishes FeatureCreated events; five services
// each read them as their own consumer group, in their own processes. No service calls
// another: each reads the shared log at its own pace. The demo shows fan-out, a crash
// (kill -9) and the replay that follows, a group scaling from 1 to 3 processes, a
// rewind to offset 0, a catalog service that keeps its state in a table read from the
// log and rebuilds it after a kill -9, a billing service that is exactly once through a
// kill -9 inside a transaction, then a table of what each service did.
const fs = require('node:fs')
const path = require('node:path')
const { fork } = require('node:child_process')
const { styleText } = require('node:util')
const { open, serde } = require('..')

const DIR = path.resolve(process.env.CALDO_DIR || '.caldo-data')
const MARKER = path.join(DIR, 'demo-was-here')
const EVENTS = 240
const PER_SECOND = 40
const SERVICES = ['email', 'push', 'search', 'jira', 'salesforce']
const HUES = { email: 'magenta', push: 'cyan', search: 'yellow', jira: 'blue', salesforce: 'green', features: 'white', catalog: 'redBright', billing: 'greenBright' }
const STATUSES = ['planned', 'building', 'shipped']

const useColor = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (style, text) => (useColor ? styleText(style, text) : text)
const started = Date.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
function say (who, text) {
  const t = paint('dim', `+${((Date.now() - started) / 1000).toFixed(1)}s`.padStart(7))
  console.log(`${t} ${paint(HUES[who] || 'white', who.padEnd(11))} ${text}`)
}
const heading = (text) => console.log(`\n${paint(['bold', 'underline'], text)}`)

// What each service has seen: offsets per partition, deliveries, replays.
const stats = Object.fromEntries(SERVICES.map((s) => [s, { seen: new Set(), deliveries: 0, replays: 0, reread: 0, rewound: false, replayed: [] }]))
const instances = new Map() // "service/instance" -> child process
let finished = false

// Asks a child to finish. One already stopping may have closed its channel before its exit
// removed it from `instances`: it needs no asking, and the send must not throw (EPIPE).
function stop (proc) {
  if (proc.connected) proc.send('stop', () => {})
}

function start (service, instance) {
  const proc = fork(path.join(__dirname, 'service.js'), [DIR, service, instance], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  instances.set(`${service}/${instance}`, proc)
  proc.on('exit', () => instances.delete(`${service}/${instance}`))
  proc.on('message', (m) => {
    const st = stats[service]
    if (m.rebalance) {
      const { assigned, revoked } = m.rebalance
      if (!finished && (service === 'push' || st.rewound)) {
        say(service, `${instance} rebalance: ${assigned.length ? `+[${assigned}]` : ''}${revoked.length ? ` -[${revoked}]` : ''}`)
      }
      return
    }
    const id = `${m.partition}:${m.offset}`
    st.deliveries++
    if (!st.seen.has(id)) st.seen.add(id)
    else if (st.rewound) st.reread++
    else {
      st.replays++
      st.replayed.push(`p${m.partition}@${m.offset}`)
    }
  })
  return proc
}

// The catalog service, in its own process; resolves with its first message that passes `pred`.
function startCatalog (instance) {
  const proc = fork(path.join(__dirname, 'catalog.js'), [DIR, instance], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  instances.set(`catalog/${instance}`, proc)
  proc.on('exit', () => instances.delete(`catalog/${instance}`))
  const next = (pred) => new Promise((resolve, reject) => {
    const onMessage = (m) => { if (pred(m)) { proc.off('message', onMessage); resolve(m) } }
    proc.on('message', onMessage)
    proc.once('exit', () => reject(new Error(`catalog ${instance} exited early`)))
  })
  return { proc, next }
}

const byStatus = (o) => STATUSES.map((s) => `${o[s] || 0} ${s}`).join(', ')

const until = async (pred, ms = 20_000) => {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error('the demo took too long; is the machine very busy?')
    await sleep(20)
  }
}

async function main () {
  if (fs.existsSync(DIR) && fs.readdirSync(DIR).length && !fs.existsSync(MARKER)) {
    console.error(`${DIR} holds a log that is not the demo's; set CALDO_DIR to another directory`)
    process.exit(1)
  }
  fs.rmSync(DIR, { recursive: true, force: true })
  const log = await open(DIR)
  fs.writeFileSync(MARKER, '')
  await log.createTopic('features', { partitions: 6 })
  await log.createTopic('feature-status', { partitions: 3 })
  console.log(paint('bold', `caldo demo: one log in ${DIR}, six partitions, five services, no broker`))
  console.log('n services make n connections to one log, instead of n² connections to each other.')

  heading('1. Fan-out: every service receives every event')
  for (const s of SERVICES) start(s, `${s}-1`)
  const producer = fork(path.join(__dirname, 'features.js'), [DIR, String(EVENTS), String(PER_SECOND)])
  say('features', `publishing ${EVENTS} FeatureCreated events, ${PER_SECOND}/s, keyed by feature id`)
  await sleep(1500)
  for (const s of SERVICES) say(s, `has processed ${stats[s].seen.size} events so far`)

  heading('2. A crash: the email worker is killed with SIGKILL mid-stream')
  const before = stats.email.seen.size
  instances.get('email/email-1').kill('SIGKILL')
  say('email', paint('red', `email-1 killed (SIGKILL) after ${before} events; the others carry on`))
  await sleep(800)
  start('email', 'email-2')
  say('email', 'email-2 started: it resumes from the group\'s last committed offsets')
  await until(() => stats.email.seen.size > before + 20)
  const replayed = stats.email.replayed
  say('email', replayed.length
    ? `replayed ${replayed.length} event(s) processed but not yet committed when email-1 died: ${replayed.slice(0, 6).join(' ')}${replayed.length > 6 ? ' ...' : ''}`
    : 'replayed nothing: email-1 had committed everything it processed')
  say('email', 'that is at-least-once delivery, made visible')

  heading('3. Scaling: the push group grows from 1 to 3 processes while events flow')
  start('push', 'push-2')
  await sleep(500)
  start('push', 'push-3')
  await sleep(700)

  await new Promise((resolve) => producer.once('exit', resolve))
  say('features', `done: ${EVENTS} events published`)
  await until(() => SERVICES.every((s) => stats[s].seen.size === EVENTS))

  heading('4. Rewind: the search index is rebuilt from offset 0')
  for (const [key, proc] of instances) if (key.startsWith('search/')) stop(proc)
  await until(() => ![...instances.keys()].some((k) => k.startsWith('search/')))
  await log.setGroupOffsets('search', 'earliest')
  say('search', 'group offsets reset to earliest (allowed: the group has no live members)')
  stats.search.rewound = true
  start('search', 'search-2')
  await until(() => stats.search.reread === EVENTS)
  say('search', `index rebuilt: re-read all ${EVENTS} events from offset 0`)
  const rewound = Date.now()

  heading('5. State from the log: the catalog keeps a table, and rebuilds it after a crash')
  finished = true
  // Status updates keyed by feature id: the last one per feature is its status; a
  // tombstone (null) removes a feature. `model` is what the catalog must end up with.
  const model = new Map()
  const statusProducer = log.producer({ key: serde.string, value: serde.json })
  const update = (id, status) => {
    if (status === null) model.delete(`feature-${id}`)
    else model.set(`feature-${id}`, status)
    return { key: `feature-${id}`, value: status === null ? null : { status, at: Date.now() } }
  }
  const counts = () => {
    const out = {}
    for (const s of model.values()) out[s] = (out[s] || 0) + 1
    return out
  }
  const ids = Array.from({ length: EVENTS }, (_, i) => i + 1)
  const first = startCatalog('catalog-1')
  await first.next((m) => m.ready)
  say('catalog', 'catalog-1 keeps log.table(\'feature-status\'): the last status per feature')
  let records = 0
  for (const wave of [
    ids.map((id) => update(id, 'planned')),
    ids.filter((id) => id % 2 === 0).map((id) => update(id, 'building')),
    ids.filter((id) => id % 3 === 0).map((id) => update(id, 'shipped')),
    ids.filter((id) => id % 8 === 0).map((id) => update(id, null))
  ]) {
    await statusProducer.sendBatch('feature-status', wave)
    records += wave.length
    await sleep(60)
  }
  first.proc.send('summary')
  const live = await first.next((m) => m.summary)
  say('catalog', `followed ${live.changes} changes live: ${live.features} features (${byStatus(live.byStatus)}); every 8th was removed by a tombstone`)
  first.proc.kill('SIGKILL')
  say('catalog', paint('red', 'catalog-1 killed (SIGKILL): its table was only in memory'))
  const later = ids.filter((id) => id % 5 === 0 && model.has(`feature-${id}`)).map((id) => update(id, 'shipped'))
  await statusProducer.sendBatch('feature-status', later)
  records += later.length
  say('features', `${later.length} more features shipped while no catalog was running`)
  const second = startCatalog('catalog-2')
  const rebuilt = await second.next((m) => m.ready)
  const same = rebuilt.features === model.size && byStatus(rebuilt.byStatus) === byStatus(counts())
  say('catalog', `catalog-2 rebuilt its table of ${rebuilt.features} features from ${records} records in ${rebuilt.ms.toFixed(0)} ms: ${byStatus(rebuilt.byStatus)}`)
  say('catalog', same ? 'the same state as the log says, with nothing stored but the log' : paint('red', `expected ${model.size} features: ${byStatus(counts())}`))
  if (!same) throw new Error('the catalog did not rebuild the state the log holds')

  heading('6. Exactly once: billing writes one invoice per feature, through a kill -9 inside a transaction')
  await log.createTopic('invoices', { partitions: 6 })
  const billing = (instance) => {
    const proc = fork(path.join(__dirname, 'billing.js'), [DIR, instance], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    instances.set(`billing/${instance}`, proc)
    proc.on('exit', () => instances.delete(`billing/${instance}`))
    return proc
  }
  let sentBatches = 0
  const billing1 = billing('billing-1')
  await new Promise((resolve) => billing1.on('message', (m) => { if (m.sent && ++sentBatches === 3) resolve() }))
  billing1.kill('SIGKILL')
  say('billing', paint('red', 'billing-1 killed (SIGKILL) inside its third transaction: invoices written, offsets not yet'))
  let billed = 0
  const billing2 = billing('billing-2')
  billing2.on('message', (m) => { if (m.committed) billed += m.committed })
  say('billing', 'billing-2 opens the same transactionalId: billing-1 is fenced, its open transaction aborted')
  const invoices = async (isolation) => {
    const c = log.consumer({ isolation, assign: Array.from({ length: 6 }, (_, partition) => ({ topic: 'invoices', partition, offset: 'earliest' })), value: serde.json })
    const features = []
    for await (const batch of c.batches({ maxMessages: 1000, maxWaitMs: 100 })) {
      if (batch.length === 0) break
      for (const m of batch) features.push(m.value.feature)
    }
    return features
  }
  await until(() => billed > 0)
  let committed
  for (;;) {
    committed = await invoices('read_committed')
    if (committed.length >= EVENTS) break
    await sleep(100)
  }
  const once = new Set(committed).size === EVENTS && committed.length === EVENTS
  const uncommitted = await invoices('read_uncommitted')
  say('billing', `read_committed: ${committed.length} invoices, ${once ? 'one per feature' : paint('red', 'NOT one per feature')}`)
  say('billing', `read_uncommitted: ${uncommitted.length} invoices: the ${uncommitted.length - committed.length} more are billing-1's aborted transaction, which read_committed never shows`)
  if (!once) throw new Error('billing wrote an invoice twice or missed one')
  stop(billing2)

  heading('7. What each service did')
  await sleep(Math.max(0, 1200 - (Date.now() - rewound))) // let auto-commit record the last offsets
  const groups = new Map((await log.groups()).map((g) => [g.groupId, g]))
  const rows = [['service', 'processes', 'events', 'deliveries', 'replays', 'lag']]
  for (const s of SERVICES) {
    const g = groups.get(s)
    const lag = g.offsets.reduce((sum, o) => sum + o.lag, 0)
    rows.push([s, String(g.members.length), String(stats[s].seen.size), String(stats[s].deliveries), String(stats[s].replays), String(lag)])
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  rows.forEach((r, i) => {
    const line = r.map((c, j) => (j ? c.padStart(widths[j]) : c.padEnd(widths[j]))).join('  ')
    console.log(i ? line : paint('bold', line))
  })
  console.log(`\nEvery service got all ${EVENTS} events; deliveries above the count are the replays and the rebuild.`)
  console.log(`Look around with the CLI: npx caldo topics, npx caldo groups (directory ${path.relative(process.cwd(), DIR) || '.'})`)

  for (const proc of instances.values()) stop(proc)
  await until(() => instances.size === 0)
  await log.close()
}

main().catch((err) => {
  console.error(err.message)
  for (const proc of instances.values()) proc.kill('SIGKILL')
  process.exit(1)
})
