// caldo console: what every page shares: the settings, the state the event stream
// fills, DOM helpers, bytes as text, JSON or hex, and charts (uPlot). Plain script, no build.
'use strict'
;(function () {
  const config = JSON.parse(document.getElementById('caldo-config').textContent)
  const { humanBytes, humanMs } = window.caldoFormat
  const main = document.getElementById('main')
  const dialog = document.getElementById('dialog')
  const COLORS = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#db2777', '#0891b2', '#ca8a04', '#4b5563', '#dc2626', '#65a30d']
  // A topic or group keeps its color on every chart and page: topics by their place in
  // the sorted list, groups likewise from another start.
  const palette = new Map()
  const colorOf = (name) => palette.get(name) ?? COLORS[[...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % COLORS.length]
  function paint (snap) {
    palette.clear()
    snap.topics.map((t) => t.name).sort().forEach((n, i) => palette.set(n, COLORS[i % COLORS.length]))
    snap.groups.map((g) => g.groupId).sort().forEach((n, i) => palette.set(n, COLORS[(i + 3) % COLORS.length]))
  }
  // `now`: when the server last spoke (the values charted hold until then).
  const state = { snapshot: null, history: [], now: 0 }

  // --- DOM helpers -----------------------------------------------------------

  // h('td.num', { title }, child, ...): an element; strings become text, never HTML.
  function h (spec, attrs, ...kids) {
    const [tag, ...classes] = spec.split('.')
    const el = document.createElement(tag)
    if (classes.length) el.className = classes.join(' ')
    if (attrs !== undefined && (attrs === null || Object.getPrototypeOf(attrs) !== Object.prototype)) { kids.unshift(attrs); attrs = null }
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
      else if (k in el && k !== 'list') el[k] = v
      else el.setAttribute(k, v === true ? '' : v)
    }
    el.append(...nodes(kids))
    return el
  }

  // Children as nodes: arrays flattened; null, undefined and false left out.
  const nodes = (kids) => kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false).map((k) => (k instanceof Node ? k : String(k)))
  const fill = (el, ...kids) => el.replaceChildren(...nodes(kids))

  const num = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'))
  const rate = (n) => (n === null || n === undefined ? '–' : `${num(n)}/s`)
  const sum = (list, f) => list.reduce((s, x) => s + f(x), 0)
  const enc = encodeURIComponent

  function time (ms) {
    const d = new Date(ms)
    const p = (n, w = 2) => String(n).padStart(w, '0')
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  }

  function table (head, rows, opts = {}) {
    return h('table', opts,
      h('thead', h('tr', head.map((c) => (typeof c === 'string' ? h('th', c) : h('th.' + c[1], c[0]))))),
      h('tbody', rows))
  }

  async function api (method, path, body) {
    const res = await fetch(path, {
      method,
      headers: body === undefined ? { 'x-caldo-csrf': config.csrf || '' } : { 'content-type': 'application/json', 'x-caldo-csrf': config.csrf || '' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const out = await res.json().catch(() => ({}))
    if (!res.ok) throw new Error(out.error ? `${out.error.message} (${out.error.code})` : `HTTP ${res.status}`)
    return out
  }

  // A dialog with `content` and buttons; resolves with the value of the button pressed.
  function ask (title, content, buttons) {
    fill(dialog, h('h2', title), h('div.scroll', content), h('div.actions', buttons.map(([label, value, cls]) =>
      h('button.btn' + (cls ? '.' + cls : ''), { type: 'button', onclick: () => dialog.close(value) }, label))))
    dialog.returnValue = ''
    dialog.showModal()
    return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }))
  }

  // --- bytes as text, JSON or hex ------------------------------------------

  function decodeB64 (b64) {
    const s = atob(b64)
    const out = new Uint8Array(s.length)
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
    return out
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  const lossy = new TextDecoder('utf-8')

  function hex (bytes) {
    const lines = []
    for (let i = 0; i < bytes.length; i += 16) {
      const row = bytes.subarray(i, i + 16)
      const hx = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ')
      const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('')
      lines.push(`${i.toString(16).padStart(8, '0')}  ${hx.padEnd(47)}  ${asc}`)
    }
    return lines.join('\n')
  }

  // { size, b64 } as `fmt` ('auto', 'text', 'json', 'hex'); `pretty` for the detail view.
  function show (field, fmt, pretty) {
    if (field === null) return { text: 'null', cls: 'muted' }
    const bytes = decodeB64(field.b64)
    const cut = field.size > bytes.length ? ` … (${humanBytes(field.size)}, first ${humanBytes(bytes.length)} shown)` : ''
    let text = null
    try { text = utf8.decode(bytes) } catch {}
    if (fmt === 'hex' || (fmt === 'auto' && text === null)) return { text: (pretty ? hex(bytes) : Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, '0')).join(' ')) + cut, cls: 'mono' }
    if (fmt === 'json' || fmt === 'auto') {
      try {
        const v = JSON.parse(text ?? lossy.decode(bytes))
        if (fmt === 'json' || (v !== null && typeof v === 'object')) return { text: JSON.stringify(v, null, pretty ? 2 : 0) + cut, cls: 'mono' }
      } catch {
        if (fmt === 'json') return { text: `(not JSON) ${text ?? lossy.decode(bytes)}${cut}`, cls: 'mono bad' }
      }
    }
    return { text: (text ?? lossy.decode(bytes)) + cut, cls: 'mono' }
  }

  // --- charts (uPlot) --------------------------------------------------------

  // A line chart that keeps its uPlot while the series stay the same, and fits its box.
  function chart (title, unit, empty = 'No samples yet: the chart fills as the log changes.', height = 220) {
    const el = h('div.chart')
    let plot = null
    let key = ''
    const resize = new ResizeObserver(() => plot && plot.setSize({ width: el.clientWidth, height }))
    resize.observe(el)
    return {
      el,
      // xs: seconds; series: [{ name, values }]
      set (xs, series) {
        if (!series.length || xs.length < 2) {
          if (plot) { plot.destroy(); plot = null; key = '' }
          fill(el, h('div', title ? h('h2', title) : null, h('div.empty', empty)))
          return
        }
        const data = [xs, ...series.map((s) => s.values)]
        // What the chart shows, for tests and for a look in the inspector.
        el.dataset.points = xs.length
        el.dataset.last = JSON.stringify(Object.fromEntries(series.map((s) => [s.name, s.values[s.values.length - 1]])))
        const k = series.map((s) => s.name + (s.color || colorOf(s.name))).join('\0')
        if (plot && k === key) return plot.setData(data)
        if (plot) plot.destroy()
        fill(el, [])
        key = k
        plot = new window.uPlot({
          title,
          width: Math.max(300, el.clientWidth),
          height,
          cursor: { drag: { x: false, y: false } },
          // At least the last minute, so a few points do not fill the width.
          scales: { x: { range: (u, min, max) => [Math.min(min, max - 60), max] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          axes: [{ stroke: getComputedStyle(document.body).color }, { stroke: getComputedStyle(document.body).color, size: 60, values: (u, ticks) => ticks.map((v) => num(v)) }],
          series: [{}, ...series.map((s) => ({ label: s.name, stroke: s.color || colorOf(s.name), width: 1.5, value: (u, v) => (v === null ? '–' : `${num(v)}${unit}`) }))]
        }, data, el)
      },
      destroy () { resize.disconnect(); if (plot) plot.destroy() }
    }
  }

  // Chart data from the history: `pick(point)` gives { name: value } for one point. The
  // server sends nothing while nothing changes, so the last values hold until now.
  function seriesOf (names, pick) {
    const xs = []
    const values = names.map(() => [])
    for (const p of state.history) {
      xs.push(p.t / 1000)
      const got = p.gap ? null : pick(p)
      names.forEach((n, i) => values[i].push(got && got[n] !== undefined ? got[n] : null))
    }
    if (xs.length && state.now / 1000 > xs[xs.length - 1] + 1) {
      xs.push(state.now / 1000)
      for (const v of values) v.push(v[v.length - 1])
    }
    return [xs, names.map((name, i) => ({ name, values: values[i] }))]
  }

  const lastPoint = () => state.history.findLast((p) => !p.gap && p.produce)
  const groupRate = (p, g) => (p && p.consume && p.consume[g] ? sum(Object.values(p.consume[g]), (x) => x) : 0)

  function partitionsTable (t, extra) {
    return table([['Partition', 'num'], ['Low', 'num'], ['High', 'num'], ['Records', 'num'], ['Size', 'num'], ...(extra ? extra.head : [])],
      t.partitions.map((p) => h('tr', h('td.num', p.partition), h('td.num', num(p.low)), h('td.num', num(p.high)), h('td.num', num(p.high - p.low)),
        h('td.num', humanBytes(p.bytes)), extra ? extra.cells(p) : null)))
  }

  function tabs (names, onpick) {
    const bar = h('div.tabs')
    const pick = (n) => { for (const b of bar.children) b.classList.toggle('active', b.dataset.tab === n); onpick(n) }
    for (const n of names) bar.append(h('button', { type: 'button', 'data-tab': n, onclick: () => pick(n) }, n))
    return { bar, pick }
  }

  window.caldoView = { config, state, main, dialog, humanBytes, humanMs, h, fill, num, rate, sum, enc, time, table, api, ask, decodeB64, show, chart, paint, colorOf, seriesOf, lastPoint, groupRate, partitionsTable, tabs }
})()
