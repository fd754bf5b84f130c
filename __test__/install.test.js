'use strict'
// `npm install caldo` as a new user does it, from the packed tarballs: `npm run pack`
// writes the main tarball and this machine's platform tarball; both go into a fresh
// app in the temp directory, outside the repository, installed and run with cargo and
// rustc off PATH. The app uses caldo from CommonJS, from an ES module, from TypeScript
// (node16 and bundler resolution) and through `npx caldo`. Every process reports the
// addon it mapped (/proc/self/maps): it must be the platform package's, never a file
// of the repository. Everything is removed at the end.
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')
const inside = (dir, p) => { const r = path.relative(dir, p); return r === '' || (!r.startsWith('..') && !path.isAbsolute(r)) }
const skip = process.platform !== 'linux' && 'the install check reads /proc/self/maps (Linux)'

test('the packed tarballs install and run in a fresh app, without Rust', { skip, timeout: 300_000 }, async (t) => {
  const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'caldo-install-')))
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }))
  const repo = fs.realpathSync(root)
  assert.ok(!inside(repo, tmp) && !inside(tmp, repo), `the app (${tmp}) must be outside the repository (${repo})`)
  const packDir = path.join(tmp, 'pack')
  const app = path.join(tmp, 'app')
  const data = path.join(tmp, 'data')
  fs.mkdirSync(app)

  // 1. `npm run pack` into a folder of this test's own.
  const printed = execFileSync('npm', ['run', '--silent', 'pack'], { cwd: root, encoding: 'utf8', env: { ...process.env, CALDO_PACK_DIR: packDir }, stdio: ['ignore', 'pipe', 'inherit'] })
  const tarballs = printed.trim().split('\n').filter((l) => l.endsWith('.tgz'))
  assert.deepEqual(fs.readdirSync(packDir).sort(), tarballs.map((f) => path.basename(f)).sort(), 'pack writes exactly the two tarballs')
  const [mainTgz, platformTgz] = tarballs
  const platform = path.basename(platformTgz).slice(pkg.name.length + 1, -`-${pkg.version}.tgz`.length)
  const addonFile = `${pkg.napi.binaryName}.${platform}.node`
  const platformPackage = `${pkg.name}-${platform}`

  await t.test('the tarballs hold what an install needs, and the addon only in the platform package', () => {
    const list = (tgz) => execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''))
    const main = list(mainTgz)
    assert.deepEqual(main.filter((f) => f.endsWith('.node')), [], 'no addon in the main package')
    for (const f of main) assert.doesNotMatch(f, /^(__test__|benchmark|crates|src|target|fuzz|demo|npm|scripts)\/|\.rs$|Cargo|\.d\.ts\.map$/, `${f} does not belong in the package`)
    for (const f of ['index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'lib/native.js', 'lib/native/binding.js', 'bin/caldo.js', 'package.json']) assert.ok(main.includes(f), `main package holds ${f}`)
    assert.deepEqual(list(platformTgz).sort(), ['README.md', addonFile, 'package.json'])
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', mainTgz, 'package/package.json'], { encoding: 'utf8' }))
    assert.equal(manifest.optionalDependencies[platformPackage], pkg.version)
    assert.deepEqual(Object.keys(manifest.optionalDependencies).length, pkg.napi.targets.length)
    assert.equal(manifest.scripts.install, undefined, 'no build step at install')
    assert.equal(manifest.scripts.postinstall, undefined, 'no build step at install')
  })

  // 2. An environment without Rust and without anything that points back at the repository.
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|INIT_CWD$|NODE_PATH$|NODE_OPTIONS$|NAPI_RS_)/.test(k) && !/^npm_config_(cache|registry|userconfig)$/.test(k)) continue
    env[k] = v
  }
  const rusty = /^(cargo|rustc|rustup|rustdoc|rustfmt|rust-|clippy|rls)/
  const shim = path.join(tmp, 'bin')
  fs.mkdirSync(shim)
  const dirs = []
  for (const dir of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
    let entries
    try { entries = fs.readdirSync(dir) } catch { continue }
    if (!entries.some((e) => e === 'cargo' || e === 'rustc')) { dirs.push(dir); continue }
    // A directory with Rust in it: keep the rest of it (node may live there too).
    for (const e of entries) {
      if (!rusty.test(e) && !fs.existsSync(path.join(shim, e))) fs.symlinkSync(path.join(dir, e), path.join(shim, e))
    }
  }
  env.PATH = [shim, ...dirs].join(path.delimiter)
  for (const tool of ['cargo', 'rustc']) {
    assert.equal(spawnSync(tool, ['--version'], { env }).error?.code, 'ENOENT', `${tool} must be off PATH`)
  }
  const sh = (cmd, args, opts = {}) => spawnSync(cmd, args, { cwd: app, env, encoding: 'utf8', timeout: 120_000, ...opts })
  const ok = (r, what) => { assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`); return r.stdout }

  // 3. Install: the two tarballs, and @types/node for the TypeScript check (the
  // version the repository uses, so npm's cache usually serves it).
  const typesNode = require('@types/node/package.json').version
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'caldo-install-check', version: '1.0.0', private: true }, null, 2))
  ok(sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', mainTgz, platformTgz, `@types/node@${typesNode}`]), 'npm install')
  const installed = path.join(app, 'node_modules', pkg.name)
  const addon = path.join(app, 'node_modules', platformPackage, addonFile)
  assert.ok(fs.existsSync(addon), `${platformPackage} holds ${addonFile}`)
  assert.ok(!fs.lstatSync(installed).isSymbolicLink(), 'caldo is installed as files, not linked')
  assert.deepEqual(fs.readdirSync(path.join(installed, 'lib', 'native')), ['binding.js'], 'no addon next to the loader')

  // 4. The scripts: each reports the addons its process mapped and whether the CLI's
  // libraries were loaded (the library must not need them).
  const report = `
    function loaded () {
      const maps = require('node:fs').readFileSync('/proc/self/maps', 'utf8')
      const addons = [...new Set(maps.split('\\n').map((l) => l.slice(l.indexOf('/'))).filter((p) => p.endsWith('.node')))]
      const cli = Object.keys(require.cache).filter((k) => /node_modules[\\\\/](commander|cli-table3|cli-progress|picocolors)[\\\\/]/.test(k))
      return { addons, cli }
    }`
  const body = (how) => `
    const [mode, dir, topic, n] = process.argv.slice(2)
    async function main () {
      const log = await open(dir, { durability: 'none' })
      let got = []
      if (mode === 'produce') {
        await log.createTopic(topic, { partitions: 3 })
        const p = log.producer({ key: serde.string, value: serde.json })
        const records = Array.from({ length: Number(n) }, (_, i) => ({ key: 'k' + i, value: { i, from: '${how}' } }))
        await p.sendBatch(topic, records)
        await p.close()
      } else {
        const c = log.consumer({ groupId: 'g-' + topic, topics: [topic], startFrom: 'earliest', key: serde.string, value: serde.json })
        for await (const m of c) {
          got.push({ key: m.key, ...m.value })
          if (got.length === Number(n)) break
        }
        await c.close()
      }
      await log.close()
      console.log(JSON.stringify({ how: '${how}', got, exports: Object.keys(caldo).sort(), ...loaded() }))
    }
    main().catch((e) => { console.error(e); process.exit(1) })`
  fs.writeFileSync(path.join(app, 'app.cjs'), `'use strict'\nconst caldo = require('caldo')\nconst { open, serde } = caldo\n${report}\n${body('cjs')}\n`)
  fs.writeFileSync(path.join(app, 'app.mjs'), `import { open, serde, Log, Producer, Consumer, CaldoError, errorCodes } from 'caldo'\nimport * as named from 'caldo'\nimport { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\nconst caldo = Object.fromEntries(Object.entries(named).filter(([k]) => k !== 'default'))\nif (named.default.open !== open || !Log || !Producer || !Consumer || !CaldoError || !errorCodes.length) throw new Error('named exports')\n${report}\n${body('esm')}\n`)
  const run = (file, ...args) => JSON.parse(ok(sh(process.execPath, [file, ...args]), `node ${file} ${args[0]}`).trim().split('\n').pop())
  const expected = (how, n) => Array.from({ length: n }, (_, i) => ({ key: 'k' + i, i, from: how }))
  const sorted = (got) => [...got].sort((a, b) => a.i - b.i)
  const realAddon = fs.realpathSync(addon)
  const checkAddon = (r) => {
    assert.deepEqual(r.addons, [realAddon], `the addon is the platform package's, nothing from the repository: ${r.addons}`)
    assert.deepEqual(r.cli, [], 'the library loads none of the CLI\'s libraries')
    // The ES-module entry names exactly what the CommonJS entry exports.
    assert.deepEqual(r.exports, Object.keys(require('..')).sort())
  }

  await t.test('CommonJS produces, an ES module consumes, in other processes', () => {
    checkAddon(run('app.cjs', 'produce', data, 'from-cjs', '50'))
    const r = run('app.mjs', 'consume', data, 'from-cjs', '50')
    checkAddon(r)
    assert.deepEqual(sorted(r.got), expected('cjs', 50))
  })

  await t.test('an ES module produces, CommonJS consumes', () => {
    checkAddon(run('app.mjs', 'produce', data, 'from-esm', '40'))
    const r = run('app.cjs', 'consume', data, 'from-esm', '40')
    checkAddon(r)
    assert.deepEqual(sorted(r.got), expected('esm', 40))
  })

  await t.test('npx caldo --help and npx caldo topics', () => {
    assert.match(ok(sh('npx', ['--no', '--', 'caldo', '--help']), 'npx caldo --help'), /topics/)
    const out = ok(sh('npx', ['--no', '--', 'caldo', 'topics', '--dir', data, '--json']), 'npx caldo topics')
    const names = JSON.parse(out).map((tp) => tp.name).sort()
    assert.deepEqual(names, ['from-cjs', 'from-esm'])
  })

  await t.test('tsc --strict over the typings, moduleResolution node16 and bundler', () => {
    fs.writeFileSync(path.join(app, 'typed.mts'), `
import { open, serde, CaldoError, errorCodes, type Message, type Serde } from 'caldo'
import caldo from 'caldo'

interface Order { id: number; total: number }
const orders: Serde<Order> = { serialize: (o) => Buffer.from(JSON.stringify(o)), deserialize: (b) => JSON.parse(b.toString()) as Order }

export async function main (dir: string): Promise<number> {
  const log = await caldo.open(dir)
  const producer = log.producer({ key: serde.string, value: orders })
  const md = await producer.send('orders', { key: 'c1', value: { id: 1, total: 9.5 } })
  // @ts-expect-error a string is not an Order
  await producer.send('orders', { value: 'nope' })
  const consumer = log.consumer({ groupId: 'billing', topics: ['orders'], key: serde.string, value: orders })
  for await (const m of consumer) {
    const msg: Message<string, Order> = m
    const key: string | null = msg.key
    // @ts-expect-error the value may be null (a tombstone)
    const total: number = m.value.total
    if (m.value) return m.value.total + md.offset + (key ?? '').length + total
  }
  const codes: readonly string[] = errorCodes
  try { await open(dir) } catch (e) { if (e instanceof CaldoError) return codes.indexOf(e.code) }
  return 0
}
`)
    fs.writeFileSync(path.join(app, 'typed.cts'), `
import caldo = require('caldo')
export async function topics (dir: string): Promise<string[]> {
  const log = await caldo.open(dir)
  const names = (await log.topics()).map((t) => t.name)
  // @ts-expect-error open takes a directory
  await caldo.open(42)
  return names
}
`)
    const base = { strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'esnext.disposable'], types: ['node'], skipLibCheck: false }
    const configs = {
      'tsconfig.node16.json': { compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['typed.mts', 'typed.cts'] },
      'tsconfig.bundler.json': { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['typed.mts'] }
    }
    const tsc = require.resolve('typescript/bin/tsc')
    for (const [file, config] of Object.entries(configs)) {
      fs.writeFileSync(path.join(app, file), JSON.stringify(config, null, 2))
      const trace = ok(sh(process.execPath, [tsc, '-p', file, '--noEmit', '--strict', '--traceResolution']), `tsc -p ${file}`)
      const resolved = [...trace.matchAll(/Module name 'caldo' was successfully resolved to '([^']+)'/g)].map((m) => m[1])
      assert.ok(resolved.length > 0, `${file}: tsc resolved 'caldo'`)
      for (const r of resolved) assert.ok(inside(installed, r), `${file}: 'caldo' resolves into the app (${r})`)
    }
  })

  await t.test('without the platform package\'s addon, loading fails clearly; nothing falls back to the repository', () => {
    const aside = addon + '.aside'
    fs.renameSync(addon, aside)
    try {
      const r = sh(process.execPath, ['-e', "require('caldo')"])
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, new RegExp(`ERR_CALDO_NATIVE.*${platform}.*the package ${platformPackage} is missing`))
      assert.match(r.stderr, /npm run build/)
      assert.doesNotMatch(r.stderr, /binding\.js|Cannot find native binding|wasi/, 'no loader internals')
    } finally {
      fs.renameSync(aside, addon)
    }
  })

  await t.test('an unsupported platform names itself, the platforms with packages, and how to build', () => {
    const r = sh(process.execPath, ['-e', "Object.defineProperty(process, 'platform', { value: 'aix' }); require('caldo')"])
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /no native addon for this platform: aix-/)
    const listed = /Prebuilt packages exist for: (.*)\./.exec(r.stderr)
    assert.ok(listed, r.stderr)
    assert.deepEqual(listed[1].split(', ').sort(), Object.keys(JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).optionalDependencies).map((n) => n.slice(pkg.name.length + 1)).sort())
    assert.match(r.stderr, /clone .*npm run build/)
    assert.doesNotMatch(r.stderr, /binding\.js|Cannot find native binding|wasi/, 'no loader internals')
  })
})
