'use strict'
// Runs before `npm test` and `npm run demo`: installs the dev tools and builds the
// native addon when it is missing or older than the Rust sources, so both commands
// work on a fresh clone.
const fs = require('node:fs')
const path = require('node:path')
const { execSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' })

function newest (p) {
  const st = fs.statSync(p)
  if (!st.isDirectory()) return st.mtimeMs
  return Math.max(0, ...fs.readdirSync(p).map((f) => newest(path.join(p, f))))
}

if (!fs.existsSync(path.join(root, 'node_modules', '@napi-rs', 'cli'))) run('npm ci')
const nativeDir = path.join(root, 'lib', 'native')
const addon = fs.readdirSync(nativeDir).find((f) => /^caldo\..*\.node$/.test(f))
const sources = ['src', 'crates/caldo-core/src', 'Cargo.toml', 'Cargo.lock', 'crates/caldo-core/Cargo.toml']
const stale = !addon || Math.max(...sources.map((s) => newest(path.join(root, s)))) > fs.statSync(path.join(nativeDir, addon)).mtimeMs
if (stale) run('npm run build')
