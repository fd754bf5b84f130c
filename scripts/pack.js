'use strict'
// `npm run pack`: builds the release addon and writes, to one folder (dist/, or
// $CALDO_PACK_DIR), the two tarballs an install on this machine needs:
//
//   caldo-<version>.tgz                  the main package: JS, typings, CLI, no .node;
//                                        optionalDependencies name every platform package
//   caldo-<platform>-<version>.tgz       this machine's platform package: one .node
//
// The platform package goes through napi's own steps, in a staging copy so that
// nothing in the checkout is rewritten: `napi artifacts` copies the addon into
// npm/<platform>/, `napi prepublish --skip-optional-publish` checks that package and
// writes the root's optionalDependencies. Nothing is published. The other targets in
// package.json's `napi.targets` are built and packed by the release workflow
// (.github/workflows/release.yml); their packages are named here all the same.
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { parseTriple } = require('@napi-rs/cli')

const root = path.join(__dirname, '..')
const out = path.resolve(process.env.CALDO_PACK_DIR || path.join(root, 'dist'))
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const { binaryName } = pkg.napi
const napiCli = require.resolve('@napi-rs/cli/package.json').replace(/package\.json$/, 'dist/cli.js')

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', process.stderr, 'inherit'] })

if (!process.argv.includes('--no-build')) run('npm', ['run', 'build'], root)

// The addon just built, and the target it is for.
const nativeDir = path.join(root, 'lib', 'native')
const built = fs.readdirSync(nativeDir).filter((f) => f.startsWith(`${binaryName}.`) && f.endsWith('.node'))
if (built.length !== 1) throw new Error(`expected one addon in lib/native, found: ${built.join(', ') || 'none'}`)
const platform = built[0].slice(binaryName.length + 1, -'.node'.length)
const targets = pkg.napi.targets.map(parseTriple)
const host = targets.find((t) => t.platformArchABI === platform)
if (!host) throw new Error(`${built[0]} is for ${platform}, which is not in package.json's napi.targets`)

fs.mkdirSync(out, { recursive: true })
// The staging copy lives in the checkout's dist/ (napi prepublish reads the git log).
fs.mkdirSync(path.join(root, 'dist'), { recursive: true })
const stage = fs.mkdtempSync(path.join(root, 'dist', '.stage-'))
try {
  // The main package: exactly what `npm pack` takes from the checkout (its `files`).
  const listed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }))[0].files
  for (const { path: file } of listed) {
    if (file.endsWith('.node')) throw new Error(`the main package must not hold an addon: ${file}`)
    fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
    fs.copyFileSync(path.join(root, file), path.join(stage, file))
  }
  // The platform packages' manifests (napi create-npm-dirs), and the addon as an artifact.
  for (const dir of fs.readdirSync(path.join(root, 'npm'))) {
    fs.mkdirSync(path.join(stage, 'npm', dir), { recursive: true })
    for (const f of ['package.json', 'README.md']) {
      const from = path.join(root, 'npm', dir, f)
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(stage, 'npm', dir, f))
    }
  }
  fs.mkdirSync(path.join(stage, 'artifacts'))
  fs.copyFileSync(path.join(nativeDir, built[0]), path.join(stage, 'artifacts', built[0]))
  // napi's steps for the target built here.
  const napi = (args) => run(process.execPath, [napiCli, ...args], stage)
  fs.writeFileSync(path.join(stage, 'napi.host.json'), JSON.stringify({ binaryName, targets: [host.triple] }))
  napi(['artifacts', '--config-path', 'napi.host.json', '--output-dir', 'artifacts', '--npm-dir', 'npm'])
  napi(['prepublish', '--config-path', 'napi.host.json', '-t', 'npm', '--skip-optional-publish'])

  // prepublish listed the package it checked; the release workflow's prepublish lists
  // every target, named the same way: <name>-<platform>.
  const staged = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'))
  const hostPackage = `${pkg.name}-${platform}`
  if (!staged.optionalDependencies || staged.optionalDependencies[hostPackage] !== pkg.version) {
    throw new Error(`napi prepublish did not list ${hostPackage}@${pkg.version}`)
  }
  staged.optionalDependencies = Object.fromEntries(targets.map((t) => [`${pkg.name}-${t.platformArchABI}`, pkg.version]))
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(staged, null, 2) + '\n')

  const platformDir = path.join(stage, 'npm', platform)
  if (!fs.existsSync(path.join(platformDir, built[0]))) throw new Error(`napi artifacts did not copy ${built[0]} into npm/${platform}`)
  for (const dir of [stage, platformDir]) run('npm', ['pack', '--ignore-scripts', '--pack-destination', out], dir)
} finally {
  fs.rmSync(stage, { recursive: true, force: true })
  if (out !== path.join(root, 'dist') && fs.readdirSync(path.join(root, 'dist')).length === 0) fs.rmdirSync(path.join(root, 'dist'))
}
const tarballs = [`${pkg.name}-${pkg.version}.tgz`, `${pkg.name}-${platform}-${pkg.version}.tgz`]
for (const t of tarballs) console.log(path.join(out, t))
