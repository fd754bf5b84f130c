'use strict'
// The console's HTTP handler (node:http): static assets, a JSON API, and server-sent
// events. Every request must name the served host (against DNS rebinding); writes need
// allowWrite, the page's CSRF token and a same-origin request. URLs name topics and
// groups only, which are looked up in the log's own lists: no request names a path.
// Refusals of the HTTP layer carry codes without ERR_ (READ_ONLY, BAD_CSRF, NOT_FOUND,
// METHOD_NOT_ALLOWED); errors of the log keep theirs.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const binding = require('../native.js')
const { Live } = require('./live.js')
const browse = require('./browse.js')
const { resetTarget } = require('../reset.js')

const ASSETS = {
  '/assets/view.js': [path.join(__dirname, 'assets', 'view.js'), 'text/javascript'],
  '/assets/topic.js': [path.join(__dirname, 'assets', 'topic.js'), 'text/javascript'],
  '/assets/app.js': [path.join(__dirname, 'assets', 'app.js'), 'text/javascript'],
  '/assets/app.css': [path.join(__dirname, 'assets', 'app.css'), 'text/css'],
  '/assets/format.js': [path.join(__dirname, '..', 'format.js'), 'text/javascript'],
  '/assets/uPlot.js': [require.resolve('uplot/dist/uPlot.iife.min.js'), 'text/javascript'],
  '/assets/uPlot.css': [require.resolve('uplot/dist/uPlot.min.css'), 'text/css'],
  '/favicon.svg': [path.join(__dirname, 'assets', 'favicon.svg'), 'image/svg+xml']
}
const INDEX = path.join(__dirname, 'assets', 'index.html')
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
const SECURITY = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'cross-origin-resource-policy': 'same-origin' }
const MAX_BODY = 2 << 20
const MAX_LIMIT = 500

class HttpError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

// HTTP status for a caldo error code.
function statusOf (code) {
  if (code === 'ERR_UNKNOWN_TOPIC' || code === 'ERR_UNKNOWN_GROUP') return 404
  if (code === 'ERR_GROUP_ACTIVE' || code === 'ERR_TOPIC_EXISTS') return 409
  if (/^ERR_(INVALID|OFFSET_OUT_OF_RANGE|MESSAGE_TOO_LARGE)/.test(code)) return 400
  return 500
}

const bad = (message) => new HttpError(400, 'ERR_INVALID_ARG', message)

// Query values: whole numbers only, as written.
function intParam (q, name, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const s = q.get(name)
  if (s === null || s === '') return undefined
  const n = /^\d+$/.test(s) ? Number(s) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw bad(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(s)}`)
  return n
}

function oneOf (q, name, allowed, dflt) {
  const s = q.get(name) ?? dflt
  if (!allowed.includes(s)) throw bad(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`)
  return s
}

// A page cursor: "partition:offset,..."
function cursorParam (q) {
  const s = q.get('cursor')
  if (!s) return null
  const m = new Map()
  for (const part of s.split(',')) {
    const [p, o] = part.split(':')
    if (!/^\d+$/.test(p ?? '') || !/^\d+$/.test(o ?? '')) throw bad(`cursor must be partition:offset,..., got ${JSON.stringify(s)}`)
    m.set(Number(p), Number(o))
  }
  return m
}

function decode (s) {
  try {
    return decodeURIComponent(s)
  } catch {
    throw bad('the URL is not well encoded')
  }
}

/** The request handler of a console on `log`; `served` checks a Host header. */
function handler (log, dir, { allowWrite, served }) {
  const live = new Live(log)
  const csrf = crypto.randomBytes(24).toString('base64url')
  const streams = new Set()
  const assets = new Map()
  let producer = null
  let index = null

  function send (res, status, body, headers = {}) {
    res.writeHead(status, { ...SECURITY, 'cache-control': 'no-store', ...headers })
    res.end(body)
  }
  const json = (res, value, status = 200) => send(res, status, JSON.stringify(value), { 'content-type': 'application/json; charset=utf-8' })

  function fail (res, err) {
    if (res.headersSent) return res.destroy()
    const status = err instanceof HttpError ? err.status : statusOf(err && err.code)
    json(res, { error: { code: (err && err.code) || 'ERR_INTERNAL', message: String((err && err.message) || err) } }, status)
  }

  function asset (res, req, file, type) {
    let a = assets.get(file)
    if (!a) {
      const body = fs.readFileSync(file)
      a = { body, etag: `"${crypto.createHash('sha1').update(body).digest('base64url')}"` }
      assets.set(file, a)
    }
    if (req.headers['if-none-match'] === a.etag) return send(res, 304, undefined, { etag: a.etag, 'cache-control': 'no-cache' })
    send(res, 200, a.body, { 'content-type': `${type}; charset=utf-8`, etag: a.etag, 'cache-control': 'no-cache' })
  }

  function page (res) {
    if (index === null) {
      // The page's settings, in a JSON block the browser reads (not run as script).
      const config = JSON.stringify({ allowWrite, csrf: allowWrite ? csrf : null, dir, version: require('../../package.json').version })
      index = fs.readFileSync(INDEX, 'utf8').replace('{{CONFIG}}', config.replace(/</g, '\\u003c'))
    }
    send(res, 200, index, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP })
  }

  // An event stream; `emit(event, text)` writes to it while it is open.
  function stream (req, res, onClose) {
    res.writeHead(200, { ...SECURITY, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.socket.setTimeout(0)
    streams.add(res)
    req.on('close', () => { streams.delete(res); onClose() })
    return (event, text) => { if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${text}\n\n`) }
  }

  async function events (req, res) {
    const emit = stream(req, res, () => live.remove(emit))
    const snapshot = await live.current()
    if (res.destroyed) return
    res.write('retry: 2000\n\n')
    emit('hello', JSON.stringify({ now: Date.now(), history: live.history, snapshot }))
    live.add(emit)
  }

  async function findTopic (_log, name) {
    const t = (await log.topics()).find((x) => x.name === name)
    if (!t) throw new HttpError(404, 'ERR_UNKNOWN_TOPIC', `unknown topic '${name}'`)
    if (!t.config) throw new HttpError(500, t.damage.code, `topic '${name}' cannot be read: ${t.damage.message}`)
    return t
  }

  async function findGroup (_log, id) {
    const g = (await log.groups()).find((x) => x.groupId === id)
    if (!g) throw new HttpError(404, 'ERR_UNKNOWN_GROUP', `unknown group '${id}'`)
    return g
  }

  async function topicDetail (res, name) {
    const t = await findTopic(log, name)
    const segments = {}
    for (const p of t.partitions) segments[p.partition] = binding.inspectFiles(dir, name, p.partition).segments
    json(res, { topic: t, segments })
  }

  // Which records: a partition (or all) and filters on key and value text.
  const filterOf = (t, q) => ({
    partition: q.get('partition') === 'all' ? undefined : intParam(q, 'partition', { max: t.partitions.length - 1 }),
    key: q.get('key') || undefined,
    keyMatch: oneOf(q, 'keyMatch', ['exact', 'contains'], 'exact'),
    value: q.get('value') || undefined
  })

  async function messages (res, name, q) {
    const t = await findTopic(log, name)
    const seek = oneOf(q, 'seek', ['latest', 'earliest', 'offset', 'timestamp'], 'latest')
    const query = {
      ...filterOf(t, q),
      limit: intParam(q, 'limit', { min: 1, max: MAX_LIMIT }) ?? 50,
      cursor: cursorParam(q),
      dir: oneOf(q, 'dir', ['forward', 'backward'], 'forward'),
      seek,
      offset: intParam(q, 'offset'),
      timestamp: intParam(q, 'timestamp')
    }
    if (seek === 'offset' && query.offset === undefined && !query.cursor) throw bad('seek=offset needs offset')
    if (seek === 'timestamp' && query.timestamp === undefined && !query.cursor) throw bad('seek=timestamp needs timestamp (ms since the epoch)')
    json(res, await browse.page(log, t, query))
  }

  async function tail (req, res, name, q) {
    const t = await findTopic(log, name)
    const filter = filterOf(t, q)
    let stop = null
    const emit = stream(req, res, () => stop && stop())
    if (res.destroyed) return
    res.write('retry: 2000\n\n')
    stop = browse.tail(log, t, filter, (event, data) => emit(event, JSON.stringify(data)))
  }

  async function message (res, name, partition, offset) {
    const t = await findTopic(log, name)
    const p = t.partitions.find((x) => String(x.partition) === partition)
    if (!p || !/^\d+$/.test(offset)) throw new HttpError(404, 'ERR_INVALID_PARTITION', `topic '${name}' has no partition ${partition} or no offset ${offset}`)
    const r = await browse.one(log, name, p.partition, Number(offset))
    if (!r) throw new HttpError(404, 'ERR_OFFSET_OUT_OF_RANGE', `no record at ${name}/${p.partition} offset ${offset}`)
    json(res, r)
  }

  // --- writes ---------------------------------------------------------------

  function checkWrite (req, hostHeader) {
    if (!allowWrite) throw new HttpError(403, 'READ_ONLY', 'this console is read-only: start it with --allow-write (log.ui({ allowWrite: true })) to change the log')
    const token = Buffer.from(String(req.headers['x-caldo-csrf'] ?? ''))
    const want = Buffer.from(csrf)
    if (token.length !== want.length || !crypto.timingSafeEqual(token, want)) {
      throw new HttpError(403, 'BAD_CSRF', 'missing or wrong CSRF token: reload the console page')
    }
    const origin = req.headers.origin
    if (origin !== undefined && origin !== `http://${hostHeader}`) throw new HttpError(403, 'BAD_CSRF', `requests from ${origin} may not change the log`)
    const site = req.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin') throw new HttpError(403, 'BAD_CSRF', 'cross-site requests may not change the log')
  }

  async function body (req) {
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw bad('send JSON (Content-Type: application/json)')
    const chunks = []
    let size = 0
    for await (const c of req) {
      size += c.length
      if (size > MAX_BODY) throw new HttpError(413, 'ERR_INVALID_ARG', `the request body is over ${MAX_BODY} bytes`)
      chunks.push(c)
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object')
      return v
    } catch (err) {
      throw bad(`the body must be a JSON object: ${err.message}`)
    }
  }

  // A reset request as resetTarget takes it: { to: 'earliest' | 'latest' | 'offset' | 'timestamp', offset, timestamp, topic, partition }.
  function resetRequest (b) {
    const req = { topic: b.topic ?? undefined, partition: b.partition ?? undefined }
    if (req.topic !== undefined && typeof req.topic !== 'string') throw bad('topic must be a string')
    if (req.partition !== undefined && (!Number.isSafeInteger(req.partition) || req.partition < 0)) throw bad('partition must be a whole number')
    if (req.partition !== undefined && req.topic === undefined) throw bad('partition needs topic')
    if (b.to === 'earliest' || b.to === 'latest') req.to = b.to
    else if (b.to === 'offset' && Number.isSafeInteger(b.offset) && b.offset >= 0) req.to = b.offset
    else if (b.to === 'timestamp' && Number.isSafeInteger(b.timestamp) && b.timestamp >= 0) req.time = b.timestamp
    else throw bad("to must be 'earliest', 'latest', 'offset' (with offset) or 'timestamp' (with timestamp, ms since the epoch)")
    return req
  }

  // What a reset would do: per partition, the committed offset now and the one it gets.
  async function resetPlan (id, b) {
    const g = await findGroup(log, id)
    const target = await resetTarget(log, id, resetRequest(b), { findTopic, findGroup, fail: (m, code) => new HttpError(400, code ?? 'ERR_INVALID_ARG', m) })
    const topics = new Map((await log.topics()).map((t) => [t.name, t]))
    const ends = (o) => topics.get(o.topic)?.partitions.find((p) => p.partition === o.partition)
    const list = typeof target === 'string'
      ? g.offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: target === 'earliest' ? ends(o)?.low ?? 0 : ends(o)?.high ?? o.high }))
      : target
    const now = new Map(g.offsets.map((o) => [`${o.topic}/${o.partition}`, o.committed]))
    return { group: g, target: list, plan: list.map((o) => ({ ...o, committed: now.get(`${o.topic}/${o.partition}`) ?? null })) }
  }

  async function resetOffsets (res, id, b) {
    const { group, target, plan } = await resetPlan(id, b)
    if (b.dryRun === true) return json(res, { plan, active: group.members.length > 0 })
    // The engine refuses a group with live members (ERR_GROUP_ACTIVE, 409).
    await log.setGroupOffsets(id, target)
    json(res, { plan, group: await findGroup(log, id) })
  }

  async function produce (res, name, b) {
    await findTopic(log, name)
    const rec = {}
    for (const k of ['key', 'value', 'partition', 'headers']) if (b[k] !== undefined) rec[k] = b[k]
    if (rec.value === undefined) rec.value = null
    producer ??= log.producer()
    json(res, await producer.send(name, rec), 201)
  }

  async function route (req, res, url, hostHeader) {
    const p = url.pathname
    const m = (re) => re.exec(p)
    let r
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (p === '/' || p === '/index.html') return page(res)
      if (ASSETS[p]) return asset(res, req, ...ASSETS[p])
      if (p === '/api/events' && req.method === 'GET') return events(req, res)
      if (p === '/api/snapshot') return json(res, await live.current())
      if ((r = m(/^\/api\/topics\/([^/]+)$/))) return topicDetail(res, decode(r[1]))
      if ((r = m(/^\/api\/topics\/([^/]+)\/messages$/))) return messages(res, decode(r[1]), url.searchParams)
      if ((r = m(/^\/api\/topics\/([^/]+)\/tail$/)) && req.method === 'GET') return tail(req, res, decode(r[1]), url.searchParams)
      if ((r = m(/^\/api\/topics\/([^/]+)\/messages\/([^/]+)\/([^/]+)$/))) return message(res, decode(r[1]), r[2], r[3])
      throw new HttpError(404, 'NOT_FOUND', `nothing at ${p}`)
    }
    if (req.method !== 'POST' && req.method !== 'DELETE') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not served`)
    checkWrite(req, hostHeader)
    if (req.method === 'POST' && (r = m(/^\/api\/groups\/([^/]+)\/offsets$/))) return resetOffsets(res, decode(r[1]), await body(req))
    if (req.method === 'POST' && (r = m(/^\/api\/topics\/([^/]+)\/messages$/))) return produce(res, decode(r[1]), await body(req))
    if (req.method === 'DELETE' && (r = m(/^\/api\/topics\/([^/]+)$/))) {
      const name = decode(r[1])
      await findTopic(log, name)
      await log.deleteTopic(name)
      return json(res, { deleted: name })
    }
    if (req.method === 'DELETE' && (r = m(/^\/api\/groups\/([^/]+)$/))) {
      const id = decode(r[1])
      await findGroup(log, id)
      await log.deleteGroup(id)
      return json(res, { deleted: id })
    }
    throw new HttpError(404, 'NOT_FOUND', `nothing at ${req.method} ${p}`)
  }

  function handle (req, res) {
    const hostHeader = req.headers.host
    if (!served(hostHeader)) {
      // DNS rebinding: a page on another name that resolves here.
      return send(res, 403, `caldo console: refused Host ${JSON.stringify(hostHeader ?? '')}; open the URL the console printed\n`, { 'content-type': 'text/plain; charset=utf-8' })
    }
    let url
    try {
      url = new URL(req.url, `http://${hostHeader}`)
    } catch {
      return fail(res, bad('bad URL'))
    }
    route(req, res, url, hostHeader).catch((err) => fail(res, err))
  }

  async function close () {
    for (const res of streams) res.end()
    streams.clear()
    await live.close()
    if (producer) await producer.close().catch(() => {})
  }

  return { handle, close }
}

module.exports = { handler, HttpError }
