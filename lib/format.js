// Sizes and durations as people read them. Shared by the command line and the web
// console, which serves this file to the browser as it is (no build step), hence the
// wrapper: CommonJS in Node, `window.caldoFormat` in a page.
;(function (root, make) {
  if (typeof module === 'object' && module.exports) module.exports = make()
  else root.caldoFormat = make()
})(this, function () {
  'use strict'

  function humanBytes (n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`
  }

  function humanMs (ms) {
    if (ms < 0) return 'forever'
    for (const [unit, n] of [['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000]]) {
      if (ms >= n && ms % n === 0) return `${ms / n}${unit}`
    }
    return `${ms}ms`
  }

  return { humanBytes, humanMs }
})
