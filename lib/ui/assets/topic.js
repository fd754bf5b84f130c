// caldo console: a topic's page: partitions and segments, settings, the message
// browser, and (with allowWrite) a test record and deleting the topic.
'use strict'
;(function () {
  const { config, state, main, humanBytes, humanMs, h, fill, num, rate, sum, enc, time, table, api, ask, decodeB64, show, chart, colorOf, seriesOf, lastPoint, partitionsTable, tabs } = window.caldoView

  function topicPage (name) {
    const title = h('h1', name)
    const cards = h('div.cards')
    const produced = chart('Produced and consumed (records/s)', '/s', undefined, 150)
    const body = h('section.panel')
    const panes = { Messages: browser(name), Partitions: h('div'), Consumers: h('div'), Config: h('div') }
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

    // The groups with offsets in this topic: their lag and pace here.
    function renderConsumers (readers, last) {
      fill(panes.Consumers, readers.length
        ? table(['Group', 'State', ['Members', 'num'], ['Lag', 'num'], ['Consumed', 'num'], 'Lag by partition'], readers.map((g) => {
          const mine = g.offsets.filter((o) => o.topic === name)
          return h('tr', { 'data-group': g.groupId }, h('td', h('a', { href: `#/group/${enc(g.groupId)}` }, g.groupId)), h('td', g.state),
            h('td.num', g.members.length), h('td.num', num(sum(mine, (o) => o.lag))),
            h('td.num', last && last.consume[g.groupId] ? rate(last.consume[g.groupId][name] ?? 0) : '–'),
            h('td.mono', mine.map((o) => `${o.partition}: ${num(o.lag)}`).join(' · ')))
        }), { id: 'consumers' })
        : h('p.muted', 'No group has offsets in this topic.'))
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
      if (current === 'Consumers') renderConsumers(readers, last)
      if (current === 'Config') {
        fill(panes.Config, topic.config
          ? table(['Setting', 'Value', ['Raw', 'num']], Object.entries(topic.config).map(([k, v]) =>
            h('tr', h('td.mono', k), h('td', /Ms$/.test(k) ? humanMs(v) : /Bytes$/.test(k) ? (v < 0 ? 'no limit' : humanBytes(v)) : String(v)), h('td.num.mono', String(v)))))
          : h('p.error', `topic.json cannot be read: ${topic.damage.message}`))
      }
    }
    return { update, destroy () { produced.destroy(); panes.Messages.stop() } }
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
    const follow = h('button.btn', { type: 'button', name: 'follow', title: 'show records as they are written' }, 'Follow')
    const status = h('span.muted')
    const results = h('div')
    let last = null
    // Following: an event stream of new records, the newest MAX_FOLLOWED kept.
    const MAX_FOLLOWED = 500
    let tail = null
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
    function stopFollowing () {
      if (!tail) return
      tail.close()
      tail = null
      follow.textContent = 'Follow'
      follow.classList.remove('primary')
    }
    follow.addEventListener('click', () => {
      if (tail) { stopFollowing(); return render() }
      const q = params({})
      q.delete('limit')
      last = { messages: [], following: true, ready: false, skipped: 0 }
      tail = new EventSource(`/api/topics/${enc(name)}/tail?${q}`)
      tail.addEventListener('ready', () => { last.ready = true; render() })
      tail.addEventListener('records', (e) => {
        const d = JSON.parse(e.data)
        last.messages.push(...d.records)
        last.messages.splice(0, Math.max(0, last.messages.length - MAX_FOLLOWED))
        last.skipped = d.skipped
        render()
      })
      tail.addEventListener('failure', (e) => { stopFollowing(); fill(results, h('p.error', JSON.parse(e.data).message)) })
      follow.textContent = 'Stop following'
      follow.classList.add('primary')
      render()
    })

    async function load (q) {
      stopFollowing()
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
      older.disabled = Boolean(tail) || last.following || last.atStart
      newer.disabled = Boolean(tail) || last.following
      status.textContent = last.following
        ? `${tail ? 'following: ' : ''}${num(last.messages.length)} new record(s)${last.skipped ? `; ${num(last.skipped)} left out to keep up` : ''}`
        : `${last.messages.length} record(s)${last.atEnd ? ', at the end' : ''}${last.scanned ? `; read ${num(last.scanned)}` : ''}${last.partial ? ' (stopped at the read limit: page on to go further)' : ''}`
      const rows = []
      // Followed records newest first, as they come; pages in log order.
      for (const m of last.following ? [...last.messages].reverse() : last.messages) {
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
        : h('p.muted', last.following ? (last.ready ? 'Waiting for records…' : 'Connecting…') : 'No records here.'))
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
      h('div.pager', older, newer, follow, status), results)
    // Partitions come with the first snapshot; the first page is the latest records.
    el.setPartitions = (n) => {
      if (partitionSel.options.length === n + 1) return
      fill(partitionSel, h('option', { value: 'all' }, 'All'), ...Array.from({ length: n }, (_, i) => h('option', { value: String(i) }, String(i))))
      if (!last) start()
    }
    el.stop = stopFollowing
    return el
  }

  window.caldoPages = { ...window.caldoPages, topic: topicPage }
})()
