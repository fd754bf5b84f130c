'use strict'
// log.ui() and `caldo ui`: checks the options, listens (127.0.0.1 by default) and
// decides which Host headers name this server. The handler is server.js.

const http = require('node:http')
const net = require('node:net')
const { coded } = require('../errors.js')
const v = require('../validate.js')
const { handler } = require('./server.js')

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1'])
const ANY = new Set(['0.0.0.0', '::'])

function options (opts) {
  return v.readingArgs('ui options', () => {
    const o = v.options('ui options', opts, ['port', 'host', 'allowWrite'])
    const host = o.host === undefined ? '127.0.0.1' : v.string('host', o.host)
    if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw coded('ERR_INVALID_ARG', `host must be an address or a host name, such as 127.0.0.1, got ${v.describe(host)}`)
    return {
      port: o.port === undefined ? 0 : v.int('port', o.port, 0, 65535),
      host,
      allowWrite: o.allowWrite === undefined ? false : v.boolean('allowWrite', o.allowWrite)
    }
  })
}

// "name:port" from a Host header, the name lower-cased and IPv6 without brackets.
function parseHost (h) {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+)):(\d+)$/i.exec(h ?? '')
  return m ? { name: (m[1] ?? m[2]).toLowerCase(), port: Number(m[3]) } : null
}

// Which Host headers name this server: the address it listens on; for a loopback
// address any loopback name; for all interfaces any IP address or localhost, since a
// rebinding attack needs a DNS name of its own.
function servedBy (host, port) {
  const bound = host.toLowerCase()
  return (header) => {
    const h = parseHost(header)
    if (!h || h.port !== port) return false
    if (h.name === bound) return true
    if (LOOPBACK.has(bound) || bound.startsWith('127.')) return LOOPBACK.has(h.name) || h.name.startsWith('127.')
    if (ANY.has(bound)) return net.isIP(h.name) !== 0 || h.name === 'localhost'
    return false
  }
}

function urlOf (host, port) {
  const name = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${net.isIPv6(name) ? `[${name}]` : name}:${port}/`
}

/** Starts a console on `log` (whose directory is `dir`); resolves to { url, close() }. */
async function start (log, dir, opts) {
  const o = options(opts)
  let served = () => false
  const h = handler(log, dir, { allowWrite: o.allowWrite, served: (header) => served(header) })
  const server = http.createServer(h.handle)
  server.on('clientError', (err, socket) => socket.destroy(err))
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(o.port, o.host, () => { server.off('error', reject); resolve() })
    })
  } catch (err) {
    await h.close()
    const what = err.code === 'EADDRINUSE' ? `port ${o.port} is in use: pick another (--port, or { port }), or 0 for a free one` : `cannot listen on ${o.host}:${o.port}: ${err.message}`
    throw coded('ERR_IO', what, { ioCode: err.code, cause: err })
  }
  const port = server.address().port
  served = servedBy(o.host, port)
  let closing = null
  return {
    url: urlOf(o.host, port),
    host: o.host,
    port,
    allowWrite: o.allowWrite,
    close () {
      closing ??= (async () => {
        await h.close()
        await new Promise((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
      })()
      return closing
    }
  }
}

module.exports = { start, servedBy }
