'use strict'
// peers.svg, written by hand: one small horizontal bar chart per measure, one bar per system.
// Throughput panels are linear; latency panels are log-scaled (they span orders of magnitude).

const COLORS = { floor: '#adb5bd', caldo: '#d9480f', kafka: '#1c7ed6', kafkajava: '#1864ab', rdkafka: '#4dabf7', redis: '#c92a2a', sqlite: '#5c940d', nats: '#7048e8', hypercore: '#0ca678' }
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const fmt = (x) => Math.round(x).toLocaleString('en-US')

function renderSvg ({ systems, results, labels, cfg }) {
  const panels = [
    { title: 'Produce, 1 process, 100 B (records/s)', get: (r) => r.produce1_100?.median },
    { title: `Produce, ${cfg.producers} processes, one partition, 100 B (records/s)`, get: (r) => r.produceN_100?.median },
    { title: 'Produce, 1 process, 1 KiB (records/s)', get: (r) => r.produce1_1024?.median },
    { title: 'Produce, 1 process, 64 KiB (records/s)', get: (r) => r.produce1_65536?.median },
    { title: 'Consume, a batch at a time, 100 B (records/s)', get: (r) => r.consume_batch_100?.median },
    { title: 'Consume, one message at a time, 100 B (records/s)', get: (r) => r.consume_each_100?.median },
    { title: `Durable produce, ${cfg.durableSenders} senders, 100 B (records/s)`, get: (r) => r.durable_100?.median },
    { title: `Group of ${cfg.groupMembers} on ${cfg.groupPartitions} partitions (records/s)`, get: (r) => r.group?.throughput },
    { title: 'Latency p50 at 1,000/s, 100 B (µs, log)', get: (r) => r.latency_100_1000?.p50?.median, log: true },
    { title: 'Latency p99 at 1,000/s, 100 B (µs, log)', get: (r) => r.latency_100_1000?.p99?.median, log: true },
    { title: 'Latency p99 at 10,000/s, 100 B (µs, log)', get: (r) => r.latency_100_10000?.p99?.median, log: true },
    { title: 'Latency p99.9 at 10,000/s, 100 B (µs, log)', get: (r) => r.latency_100_10000?.p999?.median, log: true }
  ]
  const W = 460; const barH = 16; const gap = 4; const left = 170; const right = 80
  const ph = 34 + systems.length * (barH + gap) + 10
  const cols = 2
  const rows = Math.ceil(panels.length / cols)
  const width = cols * W + 20
  const height = 50 + rows * ph + 30
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">caldo and its peers on one machine (higher is better for throughput, lower for latency)</text>`]
  panels.forEach((p, k) => {
    const x0 = 10 + (k % cols) * W; const y0 = 44 + Math.floor(k / cols) * ph
    out.push(`<text x="${x0}" y="${y0 + 14}" font-weight="bold">${esc(p.title)}</text>`)
    const vals = systems.map((s) => { const v = p.get(results[s] || {}); return typeof v === 'number' && isFinite(v) && v > 0 ? v : null })
    const max = Math.max(...vals.filter((v) => v !== null), 1)
    const min = p.log ? Math.min(...vals.filter((v) => v !== null), max) : 0
    const lo = p.log ? Math.pow(10, Math.floor(Math.log10(min))) : 0
    const span = W - left - right
    const scale = (v) => p.log ? span * (Math.log10(v) - Math.log10(lo)) / Math.max(Math.log10(max) - Math.log10(lo), 1e-9) : span * v / max
    systems.forEach((s, i) => {
      const y = y0 + 24 + i * (barH + gap)
      out.push(`<text x="${x0 + left - 6}" y="${y + barH - 4}" text-anchor="end">${esc(labels[s])}</text>`)
      const v = vals[i]
      if (v === null) { out.push(`<text x="${x0 + left + 4}" y="${y + barH - 4}" fill="#868e96">n/a</text>`); return }
      const w = Math.max(2, scale(v))
      out.push(`<rect x="${x0 + left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[s] || '#495057'}"/>`)
      out.push(`<text x="${(x0 + left + w + 4).toFixed(1)}" y="${y + barH - 4}">${fmt(v)}</text>`)
    })
  })
  out.push(`<text x="10" y="${height - 10}" fill="#495057">Medians of ${cfg.runs} run(s) per throughput figure; data in peers.json, table in peers.md.</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

module.exports = { renderSvg }
