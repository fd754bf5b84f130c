// caldo console: a page per route (#/, #/groups, #/topic/NAME, #/group/ID), fed by
// server-sent events. No timers: an idle page does nothing until the server says
// something changed.
'use strict'
;(function () {
  const { config, state, main, dialog, humanBytes, humanMs, h, fill, num, rate, sum, enc, time, table, api, ask, chart, paint, seriesOf, lastPoint, groupRate, partitionsTable } = window.caldoView
  let view = null

  // --- pages -------------------------------------------------------------------

  function overview () {
    const cards = h('div.cards')
    const produced = chart('Produced (records/s, by topic)', '/s')
    const consumed = chart('Consumed (records/s, by group)', '/s', 'No consumer groups yet.')
    // The filter stays in place (and keeps focus) while the table under it is redrawn.
    const filter = h('input', { type: 'search', name: 'filter', placeholder: 'filter topics', 'aria-label': 'filter topics' })
    const topicsBody = h('div')
    const topics = h('section.panel', h('div.panel-head', h('h2', 'Topics'), filter), topicsBody)
    filter.addEventListener('input', () => update(state.snapshot))
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
      for (const t of snap.topics.filter((x) => x.name.includes(filter.value.trim()))) {
        const isOpen = open.has(t.name)
        rows.push(h('tr', { 'data-topic': t.name },
          h('td', h('button.toggle', { title: 'partitions', onclick: () => { isOpen ? open.delete(t.name) : open.add(t.name); update(state.snapshot) } }, isOpen ? '▾' : '▸'),
            h('a', { href: `#/topic/${enc(t.name)}` }, t.name), t.damage ? h('span.bad', ` damaged: ${t.damage.message}`) : null),
          h('td.num', num(t.partitions.length)),
          h('td.num', num(sum(t.partitions, (p) => p.high - p.low))),
          h('td.num', t.partitions.length ? num(Math.min(...t.partitions.map((p) => p.low))) : '–'),
          h('td.num', num(sum(t.partitions, (p) => p.high))),
          h('td.num', humanBytes(sum(t.partitions, (p) => p.bytes))),
          h('td', t.config ? humanMs(t.config.retentionMs) : '–'),
          h('td', t.config ? t.config.cleanupPolicy : '–'),
          h('td.num', last ? rate(last.produce[t.name]) : '–')))
        if (isOpen) rows.push(h('tr.sub', h('td', { colSpan: 9 }, partitionsTable(t))))
      }
      fill(topicsBody, rows.length
        ? table(['Topic', ['Partitions', 'num'], ['Records', 'num'], ['Low', 'num'], ['High (sum)', 'num'], ['Size', 'num'], 'Retention', 'Policy', ['In', 'num']], rows, { id: 'topics' })
        : h('p.muted', snap.topics.length ? 'No topic matches the filter.' : 'No topics yet: create one with caldo create-topic or log.createTopic().'))
      fill(groups, h('h2', 'Consumer groups'), groupsTable(snap, last))
    }
    return { update, destroy () { produced.destroy(); consumed.destroy() } }
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
    if (page === 'topic' && name) view = window.caldoPages.topic(name)
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
