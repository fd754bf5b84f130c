'use strict'
// The only module that loads the addon. Everything native goes through here.
//
// napi-rs's loader (native/binding.js) picks the file for this platform: in a
// checkout, the addon `npm run build` wrote next to it; once installed, the
// platform package npm chose from `optionalDependencies` (caldo-linux-x64-gnu, ...).
// When neither is there, the error says which platform was detected, which ones
// have packages and how to build from source; the loader's own errors stay in
// `cause`.

const pkg = require('../package.json')

/** The platform as napi-rs names its packages: linux-x64-gnu, darwin-arm64, win32-x64-msvc. */
function detectPlatform () {
  const { platform, arch } = process
  if (platform === 'linux') return `${platform}-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `${platform}-${arch}-msvc`
  return `${platform}-${arch}`
}

function isMusl () {
  try {
    const report = process.report && process.report.getReport()
    if (report && report.header && report.header.glibcVersionRuntime) return false
    if (report && Array.isArray(report.sharedObjects)) return report.sharedObjects.some((f) => /libc\.musl-|ld-musl-/.test(f))
  } catch {}
  return false
}

/** Platforms that have a package: the `optionalDependencies` named caldo-<platform>. */
function packagedPlatforms () {
  const prefix = `${pkg.name}-`
  return Object.keys(pkg.optionalDependencies || {})
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length))
}

function repositoryUrl () {
  const repo = pkg.repository
  const url = typeof repo === 'string' ? repo : repo && repo.url
  return url ? url.replace(/^git\+/, '') : null
}

function loadError (cause) {
  const platform = detectPlatform()
  const platforms = packagedPlatforms()
  const node = `Node ${process.version}`
  const clone = repositoryUrl() ? `git clone ${repositoryUrl()}` : 'clone the caldo repository'
  let lines
  if (platforms.length === 0) {
    // A checkout: the platform packages are listed only in the packed package.json.
    lines = [`caldo's native addon is not built for ${platform} (${node}). In a checkout of caldo, run npm run build (needs Rust).`]
  } else if (platforms.includes(platform)) {
    lines = [
      `caldo could not load its native addon for ${platform} (${node}): the package ${pkg.name}-${platform} is missing or incomplete.`,
      `Reinstall without omitting optional dependencies (no --no-optional, --omit=optional), so that npm installs ${pkg.name}-${platform}.`
    ]
  } else {
    lines = [
      `caldo has no native addon for this platform: ${platform} (${node}).`,
      `Prebuilt packages exist for: ${platforms.join(', ')}.`
    ]
  }
  if (platforms.length > 0) lines.push(`To build from source (needs Rust and Node >= 20): ${clone}, then npm install and npm run build in it.`)
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 50 // to reach past the module loader, to the caller's require
  const err = new Error(lines.join('\n'))
  Error.stackTraceLimit = limit
  err.code = 'ERR_CALDO_NATIVE'
  err.platform = platform
  // The loader's internals stay in `cause`, behind a getter so that printing the
  // error (an uncaught throw included) shows the message, not the loader's chain.
  Object.defineProperty(err, 'cause', { get: () => cause, enumerable: false, configurable: true })
  const frames = (err.stack || '').split('\n').filter((l) => /^\s+at /.test(l) && !l.includes('node:internal') && !l.includes(__dirname))
  err.stack = [`Error [${err.code}]: ${err.message}`, ...frames].join('\n')
  return err
}

function loadNative () {
  try {
    return require('./native/binding.js')
  } catch (cause) {
    throw loadError(cause)
  }
}

module.exports = loadNative()
