'use strict'
// The web console (log.ui(), caldo ui) in a real browser: Debian's chromium driven by
// playwright-core, on real logs with producers and consumers in child processes.
// Screenshots go to __test__/artifacts/.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { chromium } = require('playwright-core')
const { open, CaldoError } = require('..')
const { tmpdir, child, until } = require('./helpers.js')
const { request, events, waitFor, cpuSeconds, descendants, localInput } = require('./ui-helpers.js')

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const ARTIFACTS = path.join(__dirname, 'artifacts')
const BIN = path.join(__dirname, '..', 'bin', 'caldo.js')
// Bounded waits for conditions; the machine is shared, so generous.
const WAIT = { timeout: 45_000 }

let browser
test.before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`)
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
})
test.after(() => browser && browser.close())

// A page that fails the test on any script error of the console.
async function pageOf (t, url) {
  const page = await browser.newPage({ viewport: { width: 1366, height: 900 } })
  const errors = []
  page.on('pageerror', (e) => errors.push(e.message))
  // The event stream reconnecting once a test has stopped its server is no error of the page.
  page.on('console', (m) => { if (m.type() === 'error' && !/ERR_CONNECTION_(REFUSED|RESET)/.test(m.text())) errors.push(m.text()) })
  t.after(async () => {
    await page.close()
    assert.deepEqual(errors, [], 'the console page logged no errors')
  })
  await page.goto(url)
  return page
}

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true })

// 'orders': 3 partitions of 100 records each, value {"p":p,"i":i}, key key-p-i; partition 0
// stamped a second apart from 2026-01-01 (so kept forever: retentionMs -1).
const T0 = Date.parse('2026-01-01T00:00:00Z')
async function seed (t) {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('orders', { partitions: 3, retentionMs: -1 })
  await log.createTopic('clicks', { partitions: 1 })
  const p = log.producer()
  for (let part = 0; part < 3; part++) {
    await p.sendBatch('orders', Array.from({ length: 100 }, (_, i) => ({
      key: `key-${part}-${i}`,
      value: JSON.stringify({ p: part, i }),
      partition: part,
      headers: { source: 'seed' },
      timestamp: part === 0 ? T0 + i * 1000 : undefined
    })))
  }
  return { dir, log }
}

test('the overview shows the topics; a live chart gains points while a child process produces', async (t) => {
  const { dir, log } = await seed(t)
  const ui = await log.ui({ port: 0 })
  const page = await pageOf(t, ui.url)
  const row = page.locator('#topics tr[data-topic="orders"]')
  await row.waitFor(WAIT)
  assert.equal(await row.locator('td').nth(1).textContent(), '3')
  assert.equal(await row.locator('td').nth(2).textContent(), '300')
  assert.equal(await page.locator('#topics tr[data-topic="clicks"] td').nth(2).textContent(), '0')
  // The partitions of a topic, with their offsets.
  await row.locator('button.toggle').click()
  const sub = page.locator('#topics tr.sub tbody tr')
  await sub.first().waitFor(WAIT)
  assert.deepEqual(await sub.evaluateAll((rows) => rows.map((r) => [...r.cells].slice(0, 4).map((c) => c.textContent))),
    [['0', '0', '100', '100'], ['1', '0', '100', '100'], ['2', '0', '100', '100']])

  // The filter narrows the table.
  await page.fill('input[name=filter]', 'ord')
  await page.waitForFunction(() => document.querySelectorAll('#topics tr[data-topic]').length === 1, null, WAIT)
  await page.fill('input[name=filter]', '')
  await page.waitForFunction(() => document.querySelectorAll('#topics tr[data-topic]').length === 2, null, WAIT)

  const chart = page.locator('.chart').first()
  const points = async () => Number(await chart.getAttribute('data-points') || 0)
  const before = await points()
  const producer = child('trickle.js', [dir, 'clicks', '100', '5'])
  await until(producer, (m) => m.sent >= 5)
  // Points come while records arrive, and the rate of 'clicks' is above zero.
  await page.waitForFunction((n) => {
    const el = document.querySelector('.chart')
    return Number(el.dataset.points || 0) >= n + 3 && JSON.parse(el.dataset.last || '{}').clicks > 0
  }, before, WAIT)
  await page.locator('#topics tr[data-topic="clicks"]').waitFor(WAIT)
  await waitFor(async () => Number((await page.locator('#topics tr[data-topic="clicks"] td').nth(2).textContent()).replace(/,/g, '')) > 0, WAIT)
  await shot(page, 'overview-live')
  producer.proc.send('stop')
  const { messages } = await producer.done
  const sent = messages.find((m) => m.done !== undefined).done
  // Once the child stops, the chart's last point for it goes back to zero and the count is exact.
  await page.waitForFunction(() => JSON.parse(document.querySelector('.chart').dataset.last || '{}').clicks === 0, null, WAIT)
  await waitFor(async () => (await page.locator('#topics tr[data-topic="clicks"] td').nth(2).textContent()) === sent.toLocaleString('en-US'), WAIT)
  assert.ok(await points() > before + 3)
  await ui.close()
})

test('the group page shows lag falling while a consumer runs, with its pid', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  t.after(() => log.close())
  await log.createTopic('jobs', { partitions: 2 })
  const p = log.producer()
  for (let part = 0; part < 2; part++) {
    await p.sendBatch('jobs', Array.from({ length: 3000 }, (_, i) => ({ value: `job ${i}`, partition: part })))
  }
  await log.setGroupOffsets('workers', [{ topic: 'jobs', partition: 0, offset: 0 }, { topic: 'jobs', partition: 1, offset: 0 }])
  const ui = await log.ui({ port: 0 })
  const page = await pageOf(t, `${ui.url}#/group/workers`)
  const lag = async () => Number((await page.locator('#total-lag').textContent()).replace(/,/g, ''))
  await page.locator('#total-lag').waitFor(WAIT)
  assert.equal(await lag(), 6000)
  assert.match(await page.locator('.note').first().textContent(), /read-only/)

  // A slow member: 50 records per 40 ms, committing every second.
  const member = child('member.js', [dir, 'workers', 'jobs', 'm1', JSON.stringify({ batch: 50, handlerMs: 40 })])
  await until(member, (m) => m.ready)
  await page.locator(`td.num:text-is("${member.proc.pid}")`).waitFor(WAIT)
  const seen = [6000]
  await waitFor(async () => {
    const now = await lag()
    if (now !== seen[seen.length - 1]) seen.push(now)
    return now === 0
  }, { timeout: 90_000 })
  assert.ok(seen.length >= 3, `lag went down in steps: ${seen.join(' → ')}`)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] < seen[i - 1], `lag only fell: ${seen.join(' → ')}`)
  // The lag chart has the fall in it.
  const chart = page.locator('.chart').first()
  assert.equal(JSON.parse(await chart.getAttribute('data-last')).jobs, 0)
  assert.ok(Number(await chart.getAttribute('data-points')) >= 3)
  assert.equal(await page.locator('#offsets tbody tr').count(), 2)
  await shot(page, 'group-lag')
  // The topic's page lists the group among its consumers.
  await page.goto(`${ui.url}#/topic/jobs`)
  await page.locator('.tabs button:text-is("Consumers")').click()
  const consumer = page.locator('#consumers tr[data-group="workers"] td')
  await consumer.first().waitFor(WAIT)
  assert.deepEqual(await consumer.evaluateAll((tds) => [tds[1].textContent, tds[3].textContent, tds[5].textContent]), ['Stable', '0', '0: 0 · 1: 0'])
  await page.goto(`${ui.url}#/group/workers`)
  member.proc.send('stop')
  await member.done
  await page.waitForFunction(() => document.querySelector('h1 small')?.textContent === 'Empty', null, WAIT)
  await ui.close()
})

test('the message browser finds a record by its offset, by key and by time, and pages', async (t) => {
  const { log } = await seed(t)
  const ui = await log.ui({ port: 0 })
  const page = await pageOf(t, `${ui.url}#/topic/orders`)
  const rows = page.locator('#messages tbody tr:not(.sub)')
  // The latest records come first.
  await rows.first().waitFor(WAIT)
  assert.equal(await rows.count(), 50)
  const firstRow = async () => rows.first().evaluate((r) => [Number(r.dataset.partition), Number(r.dataset.offset), r.cells[4].textContent])

  await page.selectOption('select[name=partition]', '1')
  await page.selectOption('select[name=seek]', 'offset')
  await page.fill('input[name=offset]', '42')
  await page.click('button[name=load]')
  await page.waitForFunction(() => document.querySelector('#messages tbody tr')?.dataset.offset === '42', null, WAIT)
  assert.deepEqual(await firstRow(), [1, 42, '{"p":1,"i":42}'])
  assert.equal(await rows.count(), 50)
  await shot(page, 'browser-offset')

  // Pages: forward from 92, then back to the page that started at 42.
  await page.click('button[name=newer]')
  await page.waitForFunction(() => document.querySelector('#messages tbody tr')?.dataset.offset === '92', null, WAIT)
  assert.equal(await rows.count(), 8)
  await page.click('button[name=older]')
  await page.waitForFunction(() => document.querySelector('#messages tbody tr')?.dataset.offset === '42', null, WAIT)

  // By key, across partitions; the detail shows the value as JSON, headers too.
  await page.selectOption('select[name=partition]', 'all')
  await page.selectOption('select[name=seek]', 'earliest')
  await page.fill('input[name=key]', 'key-2-7')
  await page.click('button[name=load]')
  await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 1 && document.querySelector('#messages tbody tr').dataset.partition === '2', null, WAIT)
  assert.deepEqual(await firstRow(), [2, 7, '{"p":2,"i":7}'])
  await rows.first().click()
  const detail = page.locator('#messages tr.sub')
  assert.match(await detail.locator('pre').nth(1).textContent(), /"i": 7\n/)
  assert.match(await detail.textContent(), /source.*seed/)
  await page.selectOption('select[name=valueFormat]', 'hex')
  assert.match(await rows.first().locator('td').nth(4).textContent(), /^7b 22 70 22/)
  await page.selectOption('select[name=valueFormat]', 'auto')
  await page.selectOption('select[name=keyMatch]', 'contains')
  await page.fill('input[name=key]', '-1-')
  await page.click('button[name=load]')
  await page.waitForFunction(() => [...document.querySelectorAll('#messages tbody tr')].every((r) => r.dataset.partition === '1'), null, WAIT)
  assert.equal(await rows.count(), 50)

  // By time: partition 0's records are a second apart from T0.
  await page.fill('input[name=key]', '')
  await page.selectOption('select[name=partition]', '0')
  await page.selectOption('select[name=seek]', 'timestamp')
  await page.fill('input[name=timestamp]', localInput(T0 + 30_000))
  await page.click('button[name=load]')
  await page.waitForFunction(() => document.querySelector('#messages tbody tr')?.dataset.offset === '30', null, WAIT)
  assert.deepEqual(await firstRow(), [0, 30, '{"p":0,"i":30}'])

  // Following partition 0: a record written now shows up at the top, a keyless one too.
  await page.click('button[name=follow]')
  await page.locator('text=Waiting for records…').waitFor(WAIT)
  const p = log.producer()
  await p.send('orders', { key: 'fresh', value: 'just written', partition: 0 })
  await p.send('orders', { value: 'and another', partition: 0 })
  await p.send('orders', { key: 'elsewhere', value: 'not followed', partition: 1 })
  await page.waitForFunction(() => document.querySelectorAll('#messages tbody tr').length === 2, null, WAIT)
  assert.deepEqual(await firstRow(), [0, 101, 'and another'])
  assert.deepEqual(await rows.nth(1).evaluate((r) => [r.dataset.offset, r.cells[3].textContent, r.cells[4].textContent]), ['100', 'fresh', 'just written'])
  assert.equal(await page.locator('button[name=older]').isDisabled(), true)
  await page.click('button[name=follow]')
  assert.equal(await page.locator('button[name=follow]').textContent(), 'Follow')
  await ui.close()
})

test('writes: refused without allowWrite; with it, a CSRF token and the same origin; a stopped group is reset after confirmation', async (t) => {
  const { dir, log } = await seed(t)
  await log.setGroupOffsets('billing', [{ topic: 'orders', partition: 0, offset: 80 }, { topic: 'orders', partition: 1, offset: 90 }])
  const ro = await log.ui({ port: 0 })
  const resetBody = JSON.stringify({ to: 'earliest' })
  const json = { 'content-type': 'application/json' }
  for (const [method, p, body] of [['POST', 'api/groups/billing/offsets', resetBody], ['DELETE', 'api/topics/orders'], ['DELETE', 'api/groups/billing'],
    ['POST', 'api/topics/orders/messages', '{"value":"x"}']]) {
    const r = await request(ro.url + p, { method, headers: json, body })
    assert.equal(r.status, 403, `${method} ${p}`)
    assert.equal(r.json.error.code, 'READ_ONLY')
    assert.match(r.json.error.message, /--allow-write/)
  }
  assert.deepEqual((await log.groups())[0].offsets.map((o) => o.committed), [80, 90])
  assert.equal((await log.topics()).length, 2)
  const roPage = await pageOf(t, `${ro.url}#/group/billing`)
  await roPage.locator('.note:text-matches("read-only")').waitFor(WAIT)
  assert.equal(await roPage.locator('button[name=preview]').isDisabled(), true)
  assert.equal(await roPage.locator('button:text-is("Delete group")').count(), 0)

  const rw = await log.ui({ port: 0, allowWrite: true })
  const page = await pageOf(t, `${rw.url}#/group/billing`)
  const csrf = await page.evaluate(() => JSON.parse(document.getElementById('caldo-config').textContent).csrf)
  assert.match(csrf, /^[\w-]{32}$/)
  // No token, a wrong one, or the right one from another origin: refused, nothing written.
  const tries = [{}, { 'x-caldo-csrf': 'x'.repeat(32) }, { 'x-caldo-csrf': csrf, origin: 'http://evil.example' }, { 'x-caldo-csrf': csrf, 'sec-fetch-site': 'cross-site' }]
  for (const headers of tries) {
    const r = await request(rw.url + 'api/groups/billing/offsets', { method: 'POST', headers: { ...json, ...headers }, body: resetBody })
    assert.equal(r.status, 403, JSON.stringify(headers))
    assert.equal(r.json.error.code, 'BAD_CSRF')
  }
  const notJson = await request(rw.url + 'api/groups/billing/offsets', { method: 'POST', headers: { 'x-caldo-csrf': csrf, 'content-type': 'text/plain' }, body: resetBody })
  assert.equal(notJson.status, 400)
  const badTo = await request(rw.url + 'api/groups/billing/offsets', { method: 'POST', headers: { ...json, 'x-caldo-csrf': csrf }, body: '{"to":"yesterday"}' })
  assert.equal(badTo.status, 400)
  assert.equal(badTo.json.error.code, 'ERR_INVALID_ARG')
  assert.deepEqual((await log.groups())[0].offsets.map((o) => o.committed), [80, 90])

  // In the page: the plan first, then the reset.
  await page.selectOption('select[name=to]', 'earliest')
  await page.click('button[name=preview]')
  const dialog = page.locator('dialog[open]')
  await dialog.waitFor(WAIT)
  assert.deepEqual(await dialog.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.cells].map((c) => c.textContent))),
    [['orders', '0', '80', '0', '-80'], ['orders', '1', '90', '0', '-90']])
  await shot(page, 'group-reset-confirm')
  // Cancel changes nothing.
  await dialog.locator('button:text-is("Cancel")').click()
  assert.deepEqual((await log.groups())[0].offsets.map((o) => o.committed), [80, 90])
  await page.click('button[name=preview]')
  await dialog.locator('button:text-is("Reset 2 partition(s)")').click()
  await page.locator('text=Reset 2 partition(s).').waitFor(WAIT)
  assert.deepEqual((await log.groups())[0].offsets.map((o) => o.committed), [0, 0])
  await page.waitForFunction(() => document.getElementById('total-lag').textContent === '200', null, WAIT)

  // A group with a live member is not reset: the page says so, the engine refuses.
  const member = child('member.js', [dir, 'billing', 'orders', 'm1', JSON.stringify({ startFrom: 'earliest' })])
  await until(member, (m) => m.ready)
  await page.locator('.note:text-matches("live member")').waitFor(WAIT)
  assert.equal(await page.locator('button[name=preview]').isDisabled(), true)
  const active = await request(rw.url + 'api/groups/billing/offsets', { method: 'POST', headers: { ...json, 'x-caldo-csrf': csrf }, body: resetBody })
  assert.equal(active.status, 409)
  assert.equal(active.json.error.code, 'ERR_GROUP_ACTIVE')
  member.proc.send('stop')
  await member.done
  // Once stopped, the group can be deleted, after a confirmation.
  await page.locator('button:text-is("Delete group")').click()
  await page.locator('dialog button:text-is("Delete")').click()
  await page.waitForFunction(() => location.hash === '#/groups', null, WAIT)
  assert.deepEqual((await log.groups()).map((g) => g.groupId), [])

  // A test record from the topic page, then deleting the topic after typing its name.
  await page.goto(`${rw.url}#/topic/clicks`)
  await page.locator('.tabs button:text-is("Produce")').click()
  await page.fill('input[name=key]', 'k1')
  await page.fill('textarea[name=value]', 'hello from the console')
  await page.fill('textarea[name=headers]', 'via=ui')
  await page.locator('button:text-is("Produce")').last().click()
  await page.locator('text=written to partition 0 at offset 0').waitFor(WAIT)
  const [m] = await log.consumer({ assign: [{ topic: 'clicks', partition: 0, offset: 'earliest' }] }).batches().next().then((r) => r.value)
  assert.deepEqual([m.key.toString(), m.value.toString(), m.headers.via.toString()], ['k1', 'hello from the console', 'ui'])
  await page.locator('button:text-is("Delete topic")').click()
  await page.fill('dialog input', 'clicks')
  await page.locator('dialog button:text-is("Delete")').click()
  await page.waitForFunction(() => location.hash === '#/', null, WAIT)
  assert.deepEqual((await log.topics()).map((x) => x.name), ['orders'])
  await rw.close()
  await ro.close()
})

test('requests naming another host, a path or bad values are refused', async (t) => {
  const { log } = await seed(t)
  const ui = await log.ui({ port: 0 })
  const base = ui.url
  // DNS rebinding: a name that resolves here but is not what the console serves.
  for (const host of ['evil.example', `evil.example:${ui.port}`, `127.0.0.1:${ui.port + 1}`, '']) {
    for (const p of ['', 'api/snapshot', 'api/events']) {
      const r = await request(base + p, { headers: { host } })
      assert.equal(r.status, 403, `Host ${host} ${p}`)
      assert.match(r.text, /refused Host/)
    }
  }
  for (const host of [`localhost:${ui.port}`, `127.0.0.1:${ui.port}`]) assert.equal((await request(base, { headers: { host } })).status, 200)
  const page = await request(base)
  assert.match(page.headers['content-security-policy'], /script-src 'self'/)
  assert.equal(page.headers['x-frame-options'], 'DENY')
  assert.doesNotMatch(page.text, /"csrf":"/, 'a read-only page carries no token')

  const cases = [
    ['api/topics/..%2F..%2Fetc', 404, 'ERR_UNKNOWN_TOPIC'],
    ['api/topics/.%2E', 404, 'NOT_FOUND'],
    ['api/topics/%2E%2E/messages', 404, 'NOT_FOUND'],
    ['api/topics/%E0%A4%A', 400, 'ERR_INVALID_ARG'],
    ['api/topics/nope/messages', 404, 'ERR_UNKNOWN_TOPIC'],
    ['api/topics/orders/messages?limit=abc', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages?limit=100000', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages?partition=3', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages?seek=sideways', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages?seek=offset', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages?cursor=zz', 400, 'ERR_INVALID_ARG'],
    ['api/topics/orders/messages/0/100', 404, 'ERR_OFFSET_OUT_OF_RANGE'],
    ['api/topics/orders/messages/9/1', 404, 'ERR_INVALID_PARTITION'],
    ['assets/../../package.json', 404, 'NOT_FOUND'],
    ['api/nothing', 404, 'NOT_FOUND']
  ]
  for (const [p, status, code] of cases) {
    const r = await request(base, { raw: '/' + p })
    assert.equal(r.status, status, p)
    assert.equal(r.json.error.code, code, p)
  }
  const put = await request(base + 'api/topics/orders', { method: 'PUT' })
  assert.equal(put.status, 405)
  // One whole record; the page's assets.
  const one = await request(base + 'api/topics/orders/messages/2/5')
  assert.equal(Buffer.from(one.json.value.b64, 'base64').toString(), '{"p":2,"i":5}')
  for (const a of ['assets/view.js', 'assets/topic.js', 'assets/app.js', 'assets/app.css', 'assets/uPlot.js', 'assets/uPlot.css', 'assets/format.js', 'favicon.svg']) {
    assert.equal((await request(base + a)).status, 200, a)
  }
  await ui.close()
})

test('log.ui() checks its options; a busy port is ERR_IO; close() and closing the log stop it', async (t) => {
  const dir = tmpdir(t)
  const log = await open(dir)
  const bad = [5, null, { port: -1 }, { port: 1.5 }, { port: 70000 }, { port: '80' }, { host: 5 }, { host: 'a b' }, { host: '' },
    { allowWrite: 'yes' }, { prot: 1 }, new Proxy({}, { ownKeys () { throw new Error('trap') } })]
  for (const opts of bad) {
    await assert.rejects(log.ui(opts), (err) => err instanceof CaldoError && err.code === 'ERR_INVALID_ARG' && err instanceof TypeError, JSON.stringify(String(opts)))
  }
  const ui = await log.ui()
  assert.match(ui.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  assert.equal(ui.allowWrite, false)
  await assert.rejects(log.ui({ port: ui.port }), (err) => err instanceof CaldoError && err.code === 'ERR_IO' && err.ioCode === 'EADDRINUSE' && /in use/.test(err.message))
  assert.equal((await request(ui.url + 'api/snapshot')).status, 200)
  await ui.close()
  await ui.close()
  await assert.rejects(request(ui.url), { code: 'ECONNREFUSED' })
  // A console with a browser listening ends with the log.
  const ui2 = await log.ui({ port: 0 })
  const stream = events(ui2.url + 'api/events')
  await waitFor(() => stream.received.some((e) => e.event === 'hello'), WAIT)
  await log.close()
  await waitFor(() => stream.ended, WAIT)
  await assert.rejects(request(ui2.url), { code: 'ECONNREFUSED' })
  await assert.rejects(log.ui(), { code: 'ERR_CLOSED' })
})

test('caldo ui prints its URL and stops on SIGTERM; an idle page on an idle log sends nothing and costs next to no CPU', async (t) => {
  const { dir, log } = await seed(t)
  await log.setGroupOffsets('billing', [{ topic: 'orders', partition: 0, offset: 10 }])
  const proc = spawn(process.execPath, [BIN, 'ui', '--dir', dir, '--port', '0'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => proc.kill('SIGKILL'))
  let out = ''
  proc.stdout.on('data', (d) => { out += d })
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  await waitFor(() => /http:\/\/127\.0\.0\.1:\d+\//.test(out), WAIT)
  const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(out)[0]
  assert.match(out, /read-only/)
  // Usage errors and a missing log, as every command.
  const { spawnSync } = require('node:child_process')
  const cli = (args) => spawnSync(process.execPath, [BIN, 'ui', ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CALDO_DIR: '' }, timeout: 30_000 })
  const busy = cli(['--dir', dir, '--port', /:(\d+)\//.exec(out)[1]])
  assert.equal(busy.status, 1)
  assert.match(busy.stderr, /^caldo: port \d+ is in use.*\(ERR_IO\)\n$/)
  assert.equal(cli(['--dir', dir, '--port', '70000']).status, 2)
  assert.equal(cli(['--dir', dir, '--port', 'x']).status, 2)
  assert.match(cli(['--dir', path.join(dir, 'none')]).stderr, /^caldo: no caldo log in/)

  const page = await pageOf(t, url)
  await page.locator('#topics tr[data-topic="orders"]').waitFor(WAIT)
  const stream = events(url + 'api/events')
  await waitFor(() => stream.received.some((e) => e.event === 'hello'), WAIT)
  // Let the first samples (rates from nothing to zero) go out, then count what is sent.
  const settled = await waitFor(async () => {
    const n = stream.received.length
    await new Promise((resolve) => setTimeout(resolve, 3000))
    return stream.received.length === n
  }, WAIT)
  assert.ok(settled)
  const seconds = Number(process.env.CALDO_UI_IDLE_SECONDS || 10)
  const browserPids = () => descendants(process.pid).filter((pid) => pid !== proc.pid)
  const before = { server: cpuSeconds([proc.pid]), browser: cpuSeconds(browserPids()), events: stream.received.length }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const after = { server: cpuSeconds([proc.pid]), browser: cpuSeconds(browserPids()), events: stream.received.length }
  assert.equal(after.events, before.events, 'nothing is sent while nothing changes')
  t.diagnostic(`idle ${seconds} s: server ${(after.server - before.server).toFixed(2)} s CPU, chromium ${(after.browser - before.browser).toFixed(2)} s CPU`)
  await shot(page, 'overview-idle')
  // An append wakes it at once: the new high watermark is sent.
  await log.producer().send('orders', { value: 'wake', partition: 0 })
  await waitFor(() => stream.received.slice(before.events).some((e) => e.event === 'snapshot' && e.data.snapshot.topics.find((x) => x.name === 'orders').partitions[0].high === 101), WAIT)
  stream.close()
  proc.kill('SIGTERM')
  assert.deepEqual(await exited, { code: 0, signal: null })
})

test("the package ships the console's page, its assets and uPlot as a dependency", () => {
  const { execFileSync } = require('node:child_process')
  const root = path.join(__dirname, '..')
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))
  const files = packed.files.map((f) => f.path)
  for (const f of ['lib/ui/index.js', 'lib/ui/server.js', 'lib/ui/live.js', 'lib/ui/browse.js', 'lib/ui/assets/index.html', 'lib/ui/assets/view.js', 'lib/ui/assets/topic.js', 'lib/ui/assets/app.js',
    'lib/ui/assets/app.css', 'lib/ui/assets/favicon.svg', 'lib/format.js', 'lib/reset.js', 'lib/cli/ui.js']) {
    assert.ok(files.includes(f), `the package holds ${f}`)
  }
  const pkg = require('../package.json')
  assert.ok(pkg.dependencies.uplot, 'uplot is a runtime dependency')
  assert.ok(require.resolve('uplot/dist/uPlot.iife.min.js'))
  for (const dep of ['uplot', 'playwright-core']) assert.ok(pkg.dependencyReasons[dep], `package.json says why it depends on ${dep}`)
})
