'use strict'
// What ui.test.js needs besides a browser: raw HTTP (any Host header), a server-sent
// events reader, bounded waits, and CPU time of processes from /proc.
const fs = require('node:fs')
const http = require('node:http')

/**
 * A request with full control of its headers (Host included) and of its path (`raw`: sent as
 * written, dot segments too); a connection of its own. Resolves with status, headers, text and JSON.
 */
function request (url, { method = 'GET', headers = {}, body, raw } = {}) {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const h = { host: u.host, ...headers }
    const req = http.request({ hostname: u.hostname, port: u.port, path: raw ?? u.pathname + u.search, method, headers: h, setHost: false, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json = null
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, headers: res.headers, text, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Reads a server-sent event stream: `received` fills with { event, data }; `ended` once the server ends it. */
function events (url) {
  const s = { received: [], ended: false, close: () => req.destroy() }
  let buf = ''
  const req = http.get(url, (res) => {
    res.setEncoding('utf8')
    res.on('data', (d) => {
      buf += d
      let at
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at)
        buf = buf.slice(at + 2)
        const event = /^event: (.*)$/m.exec(block)
        const data = /^data: (.*)$/m.exec(block)
        if (event && data) s.received.push({ event: event[1], data: JSON.parse(data[1]) })
      }
    })
    res.on('close', () => { s.ended = true })
  })
  req.on('error', () => { s.ended = true })
  return s
}

/** Polls `fn` every 100 ms until it returns something truthy, or fails after `timeout` ms. */
async function waitFor (fn, { timeout }) {
  const end = Date.now() + timeout
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`condition not met within ${timeout} ms: ${fn.toString().slice(0, 200)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

// Linux's clock ticks per second for /proc times (USER_HZ, 100 everywhere Linux runs).
const TICKS = 100

function stat (pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/** CPU seconds (user + system) the processes have used so far. */
function cpuSeconds (pids) {
  let ticks = 0
  for (const pid of pids) {
    const f = stat(pid)
    if (f) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / TICKS
}

/** Every process below `pid`. */
function descendants (pid) {
  const children = new Map()
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const f = stat(name)
    if (!f) continue
    const parent = Number(f[1])
    if (!children.has(parent)) children.set(parent, [])
    children.get(parent).push(Number(name))
  }
  const out = []
  const todo = [pid]
  while (todo.length) {
    for (const c of children.get(todo.pop()) || []) { out.push(c); todo.push(c) }
  }
  return out
}

/** A time as a datetime-local input takes it, in this machine's time zone (the browser's too). */
function localInput (ms) {
  const d = new Date(ms)
  const p = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

module.exports = { request, events, waitFor, cpuSeconds, descendants, localInput }
