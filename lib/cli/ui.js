'use strict'
// caldo ui: the web console (lib/ui) on a log directory, until SIGINT or SIGTERM.

const caldo = require('../../index.js')
const { out, err, existingDir, write } = require('./common.js')

async function ui (opts) {
  const dir = existingDir(opts)
  const log = await caldo.open(dir)
  try {
    const console_ = await log.ui({ port: opts.port, host: opts.host, allowWrite: opts.allowWrite === true })
    await write(`caldo console on ${out.bold(console_.url)} (${console_.allowWrite ? 'read-write' : 'read-only'}); Ctrl-C stops it\n`)
    if (console_.allowWrite && !/^(127\.|localhost$|::1$)/.test(console_.host)) {
      process.stderr.write(err.yellow(`warning: --allow-write on ${console_.host}: anyone who can reach this address can change the log\n`))
    }
    await new Promise((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await console_.close()
  } finally {
    await log.close()
  }
}

module.exports = { ui }
