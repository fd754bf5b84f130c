// caldo console: a page per route (#/, #/groups, #/topic/NAME, #/group/ID), fed by
// server-sent events. No timers: an idle page does nothing until the server says
// something changed.
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
  let view = null

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

  // --- pages -------------------------------------------------------------------

  function overview () {
    const cards = h('div.cards')
    const produced = chart('Produced (records/s, by topic)', '/s')
    const consumed = chart('Consumed (records/s, by group)', '/s', 'No consumer groups yet.')
    const topics = h('section.panel')
    const groups = h('section.panel')
    const open = new Set()
    main.append(h('h1', 'Overview'), cards, h('section.panel.charts', produced.el, consumed.el), topics, groups)

    function update (snap) {
      const last = lastPoint()
      const parts = sum(snap.topics, (t) => t.partitions.length)
      const records = sum(snap.topics, (t) => sum(t.partitions, (p) => p.high - p.low))
      const bytes = sum(snap.topics, (t) => sum(t.partitions, (p) => p.bytes))
      const card = (label, value) => h('div.card', h('div.label', label), h('div.value', value))
      fill(cards, card('Topics', num(snap.topics.length)), card('Partitions', num(parts)), card('Records', num(records)),
        card('On disk', humanBytes(bytes)), card('Groups', num(snap.groups.length)),
        card('Produced', last ? rate(sum(Object.values(last.produce), (x) => x)) : '–'),
        card('Consumed', last ? rate(sum(snap.groups, (g) => groupRate(last, g.groupId))) : '–'))

      const names = snap.topics.map((t) => t.name)
      produced.set(...seriesOf(names, (p) => p.produce))
      const gnames = snap.groups.map((g) => g.groupId)
      consumed.set(...seriesOf(gnames, (p) => p.consume && Object.fromEntries(gnames.map((g) => [g, groupRate(p, g)]))))

      const rows = []
      for (const t of snap.topics) {
        const isOpen = open.has(t.name)
        rows.push(h('tr', { 'data-topic': t.name },
          h('td', h('button.toggle', { title: 'partitions', onclick: () => { isOpen ? open.delete(t.name) : open.add(t.name); update(state.snapshot) } }, isOpen ? '▾' : '▸'),
            h('a', { href: `#/topic/${enc(t.name)}` }, t.name), t.damage ? h('span.bad', ` damaged: ${t.damage.message}`) : null),
          h('td.num', num(t.partitions.length)),
          h('td.num', num(sum(t.partitions, (p) => p.high - p.low))),
          h('td.num', num(Math.min(...t.partitions.map((p) => p.low)))),
          h('td.num', num(sum(t.partitions, (p) => p.high))),
          h('td.num', humanBytes(sum(t.partitions, (p) => p.bytes))),
          h('td', t.config ? humanMs(t.config.retentionMs) : '–'),
          h('td', t.config ? t.config.cleanupPolicy : '–'),
          h('td.num', last ? rate(last.produce[t.name]) : '–')))
        if (isOpen) rows.push(h('tr.sub', h('td', { colSpan: 9 }, partitionsTable(t))))
      }
      fill(topics, h('h2', 'Topics'), snap.topics.length
        ? table(['Topic', ['Partitions', 'num'], ['Records', 'num'], ['Low', 'num'], ['High (sum)', 'num'], ['Size', 'num'], 'Retention', 'Policy', ['In', 'num']], rows, { id: 'topics' })
        : h('p.muted', 'No topics yet: create one with caldo create-topic or log.createTopic().'))
      fill(groups, h('h2', 'Consumer groups'), groupsTable(snap, last))
    }
    return { update, destroy () { produced.destroy(); consumed.destroy() } }
  }

  function partitionsTable (t, extra) {
    return table([['Partition', 'num'], ['Low', 'num'], ['High', 'num'], ['Records', 'num'], ['Size', 'num'], ...(extra ? extra.head : [])],
      t.partitions.map((p) => h('tr', h('td.num', p.partition), h('td.num', num(p.low)), h('td.num', num(p.high)), h('td.num', num(p.high - p.low)),
        h('td.num', humanBytes(p.bytes)), extra ? extra.cells(p) : null)))
  }

  function groupsTable (snap, last) {
    if (!snap.groups.length) return h('p.muted', 'No consumer groups yet.')
    return table(['Group', 'State', ['Members', 'num'], ['Generation', 'num'], 'Topics', ['Lag', 'num'], ['Consumed', 'num']],
      snap.groups.map((g) => h('tr', { 'data-group': g.groupId },
        h('td', h('a', { href: `#/group/${enc(g.groupId)}` }, g.groupId)),
        h('td', h(g.state === 'Stable' ? 'span.ok' : 'span.muted', g.state)),
        h('td.num', g.members.length), h('td.num', g.generation),
        h('td', [...new Set([...g.members.flatMap((m) => m.topics), ...g.offsets.map((o) => o.topic)])].sort().join(', ')),
        h('td.num.lag', num(g.lag)), h('td.num', last ? rate(groupRate(last, g.groupId)) : '–'))), { id: 'groups' })
  }

  function groupsPage () {
    const panel = h('section.panel')
    main.append(h('h1', 'Consumer groups'), panel)
    return { update (snap) { fill(panel, groupsTable(snap, lastPoint())) } }
  }

  function tabs (names, onpick) {
    const bar = h('div.tabs')
    const pick = (n) => { for (const b of bar.children) b.classList.toggle('active', b.dataset.tab === n); onpick(n) }
    for (const n of names) bar.append(h('button', { type: 'button', 'data-tab': n, onclick: () => pick(n) }, n))
    return { bar, pick }
  }

  function topicPage (name) {
    const title = h('h1', name)
    const cards = h('div.cards')
    const produced = chart('Produced and consumed (records/s)', '/s', undefined, 150)
    const body = h('section.panel')
    const panes = { Messages: browser(name), Partitions: h('div'), Config: h('div') }
    if (config.allowWrite) panes.Produce = producePane(name)
    let current = 'Messages'
    let segments = null
    let segmentsKey = ''
    const t = tabs(Object.keys(panes), (n) => { current = n; fill(body, t.bar, panes[n]); if (state.snapshot) update(state.snapshot) })
    main.append(title, cards, h('section.panel', produced.el), body)
    t.pick('Messages')

    async function loadSegments (topic) {
      // Segments come from the directory: fetched when the partitions' sizes change.
      const k = JSON.stringify(topic.partitions)
      if (k === segmentsKey) return
      segmentsKey = k
      try { segments = (await api('GET', `/api/topics/${enc(name)}`)).segments } catch { segments = null }
      if (current === 'Partitions') renderPartitions(topic)
    }

    function renderPartitions (topic) {
      const seg = (p) => (segments && segments[p.partition]) || []
      fill(panes.Partitions, partitionsTable(topic, {
        head: [['Segments', 'num'], 'Segment files (base offset: size)'],
        cells: (p) => [h('td.num', seg(p).length), h('td.mono', seg(p).map((s) => `${s.base}: ${humanBytes(s.bytes)}`).join(' · '))]
      }))
    }

    function update (snap) {
      const topic = snap.topics.find((x) => x.name === name)
      if (!topic) {
        fill(cards, [])
        fill(body, h('p.note', `There is no topic '${name}' (any more).`), h('p', h('a', { href: '#/' }, 'Back to the overview')))
        return
      }
      panes.Messages.setPartitions(topic.partitions.length)
      const last = lastPoint()
      const readers = snap.groups.filter((g) => g.offsets.some((o) => o.topic === name))
      const card = (label, value) => h('div.card', h('div.label', label), h('div.value', value))
      fill(cards, card('Partitions', num(topic.partitions.length)), card('Records', num(sum(topic.partitions, (p) => p.high - p.low))),
        card('On disk', humanBytes(sum(topic.partitions, (p) => p.bytes))), card('Produced', last ? rate(last.produce[name]) : '–'),
        card('Groups', num(readers.length)), card('Retention', topic.config ? humanMs(topic.config.retentionMs) : '–'))
      fill(title, name, h('small', topic.config ? `cleanup policy: ${topic.config.cleanupPolicy}` : 'damaged'),
        config.allowWrite ? h('button.btn.danger', { type: 'button', onclick: () => deleteTopic(name) }, 'Delete topic') : null)
      const gs = readers.map((g) => g.groupId)
      const [xs, series] = seriesOf(['produced', ...gs.map((g) => `consumed by ${g}`)], (p) => p.produce && Object.fromEntries([
        ['produced', p.produce[name]], ...gs.map((g) => [`consumed by ${g}`, p.consume[g] ? p.consume[g][name] : undefined])]))
      series.forEach((s, i) => { s.color = colorOf(i ? gs[i - 1] : name) })
      produced.set(xs, series)
      if (current === 'Partitions') { renderPartitions(topic); loadSegments(topic) }
      if (current === 'Config') {
        fill(panes.Config, topic.config
          ? table(['Setting', 'Value', ['Raw', 'num']], Object.entries(topic.config).map(([k, v]) =>
            h('tr', h('td.mono', k), h('td', /Ms$/.test(k) ? humanMs(v) : /Bytes$/.test(k) ? (v < 0 ? 'no limit' : humanBytes(v)) : String(v)), h('td.num.mono', String(v)))))
          : h('p.error', `topic.json cannot be read: ${topic.damage.message}`))
      }
    }
    return { update, destroy () { produced.destroy() } }
  }

  async function deleteTopic (name) {
    const input = h('input', { type: 'text', placeholder: name, 'aria-label': 'topic name' })
    const ok = await ask(`Delete topic ${name}?`, [h('p', 'Every record of every partition is removed. Consumers of it fail with ERR_UNKNOWN_TOPIC. Type the topic\'s name to confirm.'), input],
      [['Cancel', ''], ['Delete', 'delete', 'danger']])
    if (ok !== 'delete') return
    if (input.value !== name) return ask('Not deleted', h('p', 'The name typed did not match.'), [['OK', '']])
    try {
      await api('DELETE', `/api/topics/${enc(name)}`)
      location.hash = '#/'
    } catch (err) { ask('Delete failed', h('p.error', err.message), [['OK', '']]) }
  }

  function producePane (name) {
    const key = h('input', { type: 'text', placeholder: '(no key)', name: 'key' })
    const value = h('textarea', { rows: 5, name: 'value', placeholder: '{"hello": "caldo"}' })
    const headers = h('textarea', { rows: 2, name: 'headers', placeholder: 'name=value, one a line' })
    const partition = h('input', { type: 'number', min: 0, placeholder: 'by key', name: 'partition' })
    const result = h('p')
    const send = async () => {
      const hs = {}
      for (const line of headers.value.split('\n').filter((l) => l.trim())) {
        const at = line.indexOf('=')
        hs[at < 0 ? line.trim() : line.slice(0, at).trim()] = at < 0 ? '' : line.slice(at + 1)
      }
      try {
        const md = await api('POST', `/api/topics/${enc(name)}/messages`, {
          key: key.value === '' ? null : key.value,
          value: value.value,
          headers: hs,
          partition: partition.value === '' ? undefined : Number(partition.value)
        })
        fill(result, h('span.ok', `written to partition ${md.partition} at offset ${md.offset}`))
      } catch (err) { fill(result, h('span.error', err.message)) }
    }
    return h('div', h('p.muted', 'Write one test record (text) to this topic.'),
      h('div.controls', h('label', 'Key', key), h('label', 'Partition', partition)), h('label.muted', 'Value', value), h('label.muted', 'Headers', headers),
      h('p', h('button.btn.primary', { type: 'button', onclick: send }, 'Produce')), result)
  }

  // The message browser of a topic.
  function browser (name) {
    const sel = (nm, opts, label) => h('label', label, h('select', { name: nm }, opts.map(([v, l]) => h('option', { value: v }, l))))
    const partitionSel = h('select', { name: 'partition' }, h('option', { value: 'all' }, 'All'))
    const seek = sel('seek', [['latest', 'Latest'], ['earliest', 'Earliest'], ['offset', 'Offset'], ['timestamp', 'Time']], 'Start from')
    const offset = h('input', { type: 'number', name: 'offset', min: 0, value: 0 })
    const when = h('input', { type: 'datetime-local', name: 'timestamp', step: 1 })
    const key = h('input', { type: 'text', name: 'key', placeholder: 'any key' })
    const keyMatch = sel('keyMatch', [['exact', 'is'], ['contains', 'contains']], 'Key')
    const value = h('input', { type: 'text', name: 'value', placeholder: 'any value' })
    const limit = sel('limit', [['20', '20'], ['50', '50'], ['100', '100'], ['200', '200']], 'Per page')
    const keyFmt = sel('keyFormat', [['auto', 'Auto'], ['text', 'Text'], ['json', 'JSON'], ['hex', 'Hex']], 'Show key as')
    const valFmt = sel('valueFormat', [['auto', 'Auto'], ['text', 'Text'], ['json', 'JSON'], ['hex', 'Hex']], 'Show value as')
    limit.querySelector('select').value = '50'
    const offsetBox = h('label', 'Offset', offset)
    const timeBox = h('label', 'Time (local)', when)
    const older = h('button.btn', { type: 'button', name: 'older', disabled: true }, '◀ Older')
    const newer = h('button.btn', { type: 'button', name: 'newer', disabled: true }, 'Newer ▶')
    const status = h('span.muted')
    const results = h('div')
    let last = null
    const seekSel = seek.querySelector('select')
    const showBoxes = () => { offsetBox.hidden = seekSel.value !== 'offset'; timeBox.hidden = seekSel.value !== 'timestamp' }
    seekSel.addEventListener('change', showBoxes)
    showBoxes()

    function params (extra) {
      const q = new URLSearchParams({ partition: partitionSel.value, limit: limit.querySelector('select').value, keyMatch: keyMatch.querySelector('select').value, ...extra })
      if (key.value) q.set('key', key.value)
      if (value.value) q.set('value', value.value)
      return q
    }
    async function load (q) {
      status.textContent = 'reading…'
      try {
        last = await api('GET', `/api/topics/${enc(name)}/messages?${q}`)
        render()
      } catch (err) {
        status.textContent = ''
        fill(results, h('p.error', err.message))
      }
    }
    const cursor = (c) => Object.entries(c).map(([p, o]) => `${p}:${o}`).join(',')
    function start () {
      const s = seekSel.value
      const extra = { seek: s }
      if (s === 'offset') extra.offset = offset.value || '0'
      if (s === 'timestamp') {
        const ms = new Date(when.value).getTime()
        if (!when.value || Number.isNaN(ms)) { fill(results, h('p.error', 'Pick a date and time.')); return }
        extra.timestamp = String(Math.max(0, ms))
      }
      load(params(extra))
    }
    older.addEventListener('click', () => last && load(params({ dir: 'backward', cursor: cursor(last.prev) })))
    newer.addEventListener('click', () => last && load(params({ dir: 'forward', cursor: cursor(last.next) })))

    function render () {
      if (!last) return
      const kf = keyFmt.querySelector('select').value
      const vf = valFmt.querySelector('select').value
      older.disabled = last.atStart
      newer.disabled = false
      status.textContent = `${last.messages.length} record(s)${last.atEnd ? ', at the end' : ''}${last.scanned ? `; read ${num(last.scanned)}` : ''}${last.partial ? ' (stopped at the read limit: page on to go further)' : ''}`
      const rows = []
      for (const m of last.messages) {
        const k = show(m.key, kf, false)
        const v = show(m.value, vf, false)
        const row = h('tr.clickable', { 'data-offset': m.offset, 'data-partition': m.partition },
          h('td.num', m.partition), h('td.num', m.offset), h('td.mono', { title: new Date(m.timestamp).toISOString() }, time(m.timestamp)),
          h('td.cell', { className: 'cell ' + k.cls }, k.text), h('td.cell', { className: 'cell ' + v.cls }, v.text),
          h('td.num', m.headers.length || ''))
        row.addEventListener('click', () => {
          if (row.nextSibling && row.nextSibling.classList.contains('sub')) return row.nextSibling.remove()
          row.after(h('tr.sub', h('td', { colSpan: 6 }, detail(m, kf, vf))))
        })
        rows.push(row)
      }
      fill(results, last.messages.length
        ? table([['Partition', 'num'], ['Offset', 'num'], 'Timestamp', 'Key', 'Value', ['Headers', 'num']], rows, { id: 'messages' })
        : h('p.muted', 'No records here.'))
    }

    function detail (m, kf, vf) {
      const box = h('div.detail')
      const showRecord = (rec) => {
        const pre = (f, fmt) => { const s = show(f, fmt, true); return h('pre.view', { className: 'view ' + s.cls }, s.text) }
        fill(box, h('h3', 'Key'), pre(rec.key, kf), h('h3', 'Value'), pre(rec.value, vf),
          rec.headers.length ? [h('h3', 'Headers'), table(['Name', 'Value'], rec.headers.map(([hk, hv]) => h('tr', h('td.mono', hk), h('td', pre(hv, 'auto')))))] : null)
        const cut = [rec.key, rec.value, ...rec.headers.map((x) => x[1])].some((f) => f && f.size > decodeB64(f.b64).length)
        if (cut) {
          box.append(h('button.btn', { type: 'button', onclick: async () => showRecord(await api('GET', `/api/topics/${enc(name)}/messages/${m.partition}/${m.offset}`)) }, 'Load the whole record'))
        }
      }
      showRecord(m)
      return box
    }
    keyFmt.addEventListener('change', render)
    valFmt.addEventListener('change', render)

    const el = h('div',
      h('form.controls', { onsubmit: (e) => { e.preventDefault(); start() } },
        h('label', 'Partition', partitionSel), seek, offsetBox, timeBox, keyMatch, h('label', '\u00a0', key), h('label', 'Value contains', value), limit,
        h('button.btn.primary', { type: 'submit', name: 'load' }, 'Load')),
      h('div.controls', keyFmt, valFmt),
      h('div.pager', older, newer, status), results)
    // Partitions come with the first snapshot; the first page is the latest records.
    el.setPartitions = (n) => {
      if (partitionSel.options.length === n + 1) return
      fill(partitionSel, h('option', { value: 'all' }, 'All'), ...Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, String(i))))
      if (!last) start()
    }
    return el
  }

  function groupPage (id) {
    const title = h('h1', id)
    const cards = h('div.cards')
    const lagChart = chart('Lag (records, by topic)', '')
    const rateChart = chart('Consumed (records/s, by topic)', '/s')
    const members = h('section.panel')
    const offsets = h('section.panel')
    const reset = h('section.panel')
    main.append(title, cards, h('section.panel.charts', lagChart.el, rateChart.el), members, offsets, reset)
    const form = resetForm(id)

    function update (snap) {
      const g = snap.groups.find((x) => x.groupId === id)
      if (!g) {
        fill(cards, [])
        fill(members, h('p.note', `There is no group '${id}' (any more).`))
        fill(offsets, [])
        fill(reset, [])
        return
      }
      const last = lastPoint()
      const card = (label, value) => h('div.card', h('div.label', label), h('div.value', value))
      fill(title, id, h('small', h(g.state === 'Stable' ? 'span.ok' : 'span.muted', g.state)),
        config.allowWrite && !g.members.length ? h('button.btn.danger', { type: 'button', onclick: () => deleteGroup(id) }, 'Delete group') : null)
      fill(cards, card('State', g.state), card('Members', num(g.members.length)), card('Generation', num(g.generation)),
        card('Lag', h('span', { id: 'total-lag' }, num(g.lag))), card('Consumed', last ? rate(groupRate(last, id)) : '–'))
      const topics = [...new Set(g.offsets.map((o) => o.topic))].sort()
      lagChart.set(...seriesOf(topics, (p) => p.lag && p.lag[id]))
      rateChart.set(...seriesOf(topics, (p) => p.consume && p.consume[id]))
      const owner = new Map()
      for (const m of g.members) for (const tp of m.assignment) owner.set(`${tp.topic}/${tp.partition}`, m)
      fill(members, h('h2', 'Members'), g.members.length
        ? table(['Member', ['PID', 'num'], 'Topics', 'Assignment'], g.members.map((m) => h('tr',
          h('td.mono', m.memberId), h('td.num', m.pid), h('td', m.topics.join(', ')), h('td', m.assignment.map((tp) => `${tp.topic}/${tp.partition}`).join(', ') || '–'))))
        : h('p.muted', 'No live members: the group is stopped. Its committed offsets stay until they are reset or the group is deleted.'))
      fill(offsets, h('h2', 'Offsets'), g.offsets.length
        ? table(['Topic', ['Partition', 'num'], ['Committed', 'num'], ['High', 'num'], ['Lag', 'num'], 'Owner'], g.offsets.map((o) => {
          const m = owner.get(`${o.topic}/${o.partition}`)
          return h('tr', h('td', h('a', { href: `#/topic/${enc(o.topic)}` }, o.topic)), h('td.num', o.partition), h('td.num', num(o.committed)), h('td.num', num(o.high)),
            h('td.num', { className: 'num' + (o.lag ? ' warn' : '') }, num(o.lag)), h('td.mono', m ? `${m.memberId} (pid ${m.pid})` : '–'))
        }), { id: 'offsets' })
        : h('p.muted', 'No partitions yet.'))
      form.update(g)
      if (!reset.contains(form.el)) fill(reset, h('h2', 'Reset offsets'), form.el)
    }
    return { update, destroy () { lagChart.destroy(); rateChart.destroy() } }
  }

  async function deleteGroup (id) {
    const ok = await ask(`Delete group ${id}?`, h('p', 'Its committed offsets and its state are removed. A consumer that joins it later starts from its startFrom.'), [['Cancel', ''], ['Delete', 'delete', 'danger']])
    if (ok !== 'delete') return
    try {
      await api('DELETE', `/api/groups/${enc(id)}`)
      location.hash = '#/groups'
    } catch (err) { ask('Delete failed', h('p.error', err.message), [['OK', '']]) }
  }

  function resetForm (id) {
    const topic = h('select', { name: 'topic' })
    const partition = h('select', { name: 'partition' })
    const to = h('select', { name: 'to' }, [['earliest', 'Earliest'], ['latest', 'Latest'], ['offset', 'Offset'], ['timestamp', 'Time']].map(([v, l]) => h('option', { value: v }, l)))
    const offset = h('input', { type: 'number', min: 0, value: 0, name: 'offset' })
    const when = h('input', { type: 'datetime-local', step: 1, name: 'timestamp' })
    const offsetBox = h('label', 'Offset', offset)
    const timeBox = h('label', 'Time (local)', when)
    const why = h('p.note')
    const message = h('p')
    const preview = h('button.btn.primary', { type: 'button', name: 'preview' }, 'Reset…')
    const boxes = () => { offsetBox.hidden = to.value !== 'offset'; timeBox.hidden = to.value !== 'timestamp' }
    to.addEventListener('change', boxes)
    boxes()
    let topicsKey = ''
    let group = null
    const fillPartitions = () => {
      const t = state.snapshot.topics.find((x) => x.name === topic.value)
      fill(partition, h('option', { value: '' }, 'all'), ...(t ? t.partitions.map((p) => h('option', { value: String(p.partition) }, String(p.partition))) : []))
    }
    topic.addEventListener('change', fillPartitions)

    function request () {
      const b = { to: to.value }
      if (topic.value) b.topic = topic.value
      if (topic.value && partition.value !== '') b.partition = Number(partition.value)
      if (to.value === 'offset') b.offset = Number(offset.value || 0)
      if (to.value === 'timestamp') b.timestamp = new Date(when.value).getTime()
      return b
    }
    preview.addEventListener('click', async () => {
      fill(message, [])
      try {
        const b = request()
        if (b.to === 'timestamp' && Number.isNaN(b.timestamp)) throw new Error('Pick a date and time.')
        const { plan } = await api('POST', `/api/groups/${enc(id)}/offsets`, { ...b, dryRun: true })
        const changes = table(['Topic', ['Partition', 'num'], ['Committed now', 'num'], ['After the reset', 'num'], ['Change', 'num']],
          plan.map((p) => h('tr', h('td', p.topic), h('td.num', p.partition), h('td.num', num(p.committed)), h('td.num', num(p.offset)),
            h('td.num', p.committed === null ? '' : (p.offset - p.committed >= 0 ? '+' : '') + num(p.offset - p.committed)))))
        const ok = await ask(`Reset the offsets of ${id}?`, [h('p', `${plan.length} partition(s) of the stopped group move as below. Members that join later start from there.`), changes],
          [['Cancel', ''], [`Reset ${plan.length} partition(s)`, 'reset', 'primary']])
        if (ok !== 'reset') return
        await api('POST', `/api/groups/${enc(id)}/offsets`, b)
        fill(message, h('span.ok', `Reset ${plan.length} partition(s).`))
      } catch (err) { fill(message, h('span.error', err.message)) }
    })

    const el = h('div', why, h('div.controls',
      h('label', 'Topic', topic), h('label', 'Partition', partition), h('label', 'To', to), offsetBox, timeBox, preview), message)
    return {
      el,
      update (g) {
        group = g
        const names = [...new Set([...g.offsets.map((o) => o.topic), ...g.members.flatMap((m) => m.topics)])].sort()
        const k = names.join('\0')
        if (k !== topicsKey) {
          topicsKey = k
          const was = topic.value
          fill(topic, h('option', { value: '' }, 'every partition of the group'), ...names.map((n) => h('option', { value: n }, n)))
          topic.value = names.includes(was) ? was : ''
          fillPartitions()
        }
        const reason = !config.allowWrite
          ? 'This console is read-only. Start it with caldo ui --allow-write to reset offsets.'
          : group.members.length ? `The group has ${group.members.length} live member(s): stop them first (offsets of a running group cannot be reset).` : null
        why.hidden = !reason
        why.textContent = reason || ''
        preview.disabled = Boolean(reason)
      }
    }
  }

  // --- routing and the event stream ---------------------------------------

  function route () {
    const [, page, arg] = /^#\/([a-z]*)\/?(.*)$/.exec(location.hash) || [null, '', '']
    if (view && view.destroy) view.destroy()
    fill(main, [])
    dialog.open && dialog.close()
    const name = arg ? decodeURIComponent(arg) : ''
    if (page === 'topic' && name) view = topicPage(name)
    else if (page === 'group' && name) view = groupPage(name)
    else if (page === 'groups') view = groupsPage()
    else view = overview()
    for (const a of document.querySelectorAll('nav a')) {
      a.classList.toggle('active', a.dataset.nav === (page === 'topic' || page === '' ? 'overview' : page === 'group' ? 'groups' : page))
    }
    refresh()
  }

  function refresh () {
    if (state.snapshot) paint(state.snapshot)
    if (state.snapshot && view) view.update(state.snapshot)
  }

  function connect () {
    const status = document.getElementById('status')
    const es = new EventSource('/api/events')
    es.addEventListener('hello', (e) => {
      const d = JSON.parse(e.data)
      state.history = d.history
      state.snapshot = d.snapshot
      state.now = d.now
      status.dataset.state = 'live'
      status.textContent = 'live'
      refresh()
    })
    es.addEventListener('snapshot', (e) => {
      const d = JSON.parse(e.data)
      state.snapshot = d.snapshot
      state.history.push(d.point)
      state.now = d.point.t
      if (state.history.length > 600) state.history.splice(0, state.history.length - 600)
      refresh()
    })
    es.addEventListener('failure', (e) => { status.dataset.state = 'down'; status.textContent = JSON.parse(e.data).message })
    es.onerror = () => { status.dataset.state = 'down'; status.textContent = 'reconnecting…' }
  }

  document.getElementById('dir').textContent = config.dir
  document.getElementById('dir').title = `caldo ${config.version}: ${config.dir}`
  const mode = document.getElementById('mode')
  mode.textContent = config.allowWrite ? 'read-write' : 'read-only'
  mode.classList.toggle('write', config.allowWrite)
  window.addEventListener('hashchange', route)
  route()
  connect()
})()
