'use strict'
// Reads `perf report --no-children --sort dso,sym --stdio -g none` on stdin and prints self time
// grouped into the places an engine engineer would aim at (used by profile.sh).

const GROUPS = [
  // On a virtual machine a fault's cost shows at its return to user mode (irqentry_exit_to_user_mode).
  ['kernel: copying pages (page cache), page faults, zeroing new memory', (d, s) => d === '[kernel.kallsyms]' && /copy_|clear_page|fault|irqentry_exit|folio|filemap|ext4|do_anonymous_page|memcg|lru|__handle_mm|zap|rmqueue|page/.test(s)],
  ['kernel: scheduler, futex, wake-ups, epoll', (d, s) => d === '[kernel.kallsyms]' && /sched|switch|futex|wake|spin_unlock|epoll|ttwu|enqueue|dequeue|idle|irq|softirq|timer/.test(s)],
  ['kernel: other (syscall entry, locks, fs)', (d) => d === '[kernel.kallsyms]'],
  ['clock reads (vDSO gettimeofday / clock_gettime)', (d) => d === '[vdso]'],
  ['caldo engine (caldo_core)', (d, s) => /caldo/.test(d) && /caldo_core/.test(s)],
  ['caldo binding (caldo_node, napi crate)', (d, s) => /caldo/.test(d) && /caldo_node|napi/.test(s)],
  ['caldo addon: CRC32C', (d, s) => /caldo/.test(d) && /crc32/.test(s)],
  ['caldo addon: other Rust (std, core, alloc)', (d) => /caldo/.test(d)],
  ['libc: memcpy / memmove / memset', (d, s) => /libc/.test(d) && /mem(move|cpy|set|cmp)/.test(s)],
  ['libc: malloc / free', (d, s) => /libc/.test(d) && /malloc|free|_int_|chunk|tcache|brk/.test(s)],
  ['libc: locks (pthread)', (d, s) => /libc/.test(d) && /pthread|lll_|futex/.test(s)],
  ['libc: other', (d) => /libc/.test(d)],
  ['JS: caldo lib/*.js', (d, s) => /^\[JIT\]/.test(d) && /\/lib\/[a-z-]+\.js/.test(s) && !/node_modules/.test(s)],
  ['JS: the workload and Node internals', (d) => /^\[JIT\]/.test(d)],
  ['V8: garbage collection', (d, s) => /node/.test(d) && /Scaveng|Heap::|Evacuat|Mark|Sweep|RootScavenge|IterateObjectCache|SemiSpace|GC|Marking|Compactor|RememberedSet|MemoryChunk/.test(s)],
  ['V8: promises, async iteration, microtasks', (d, s) => /node/.test(d) && /Promise|Microtask|Async|Generator|Await|Resume/.test(s)],
  ['V8: typed arrays, Buffers, subarray', (d, s) => /node/.test(d) && /TypedArray|ArrayBuffer|Buffer|DataView/.test(s)],
  ['N-API / Node C++ glue', (d, s) => /node/.test(d) && /napi|v8impl|node::|v8::Function|v8::Object|v8::Value|Callback|Api/.test(s)],
  ['V8: other builtins and runtime (property loads, strings, calls)', (d) => /node/.test(d)],
  ['other', () => true]
]

const lines = require('node:fs').readFileSync(0, 'utf8').split('\n')
const totals = new Map(GROUPS.map(([name]) => [name, 0]))
for (const line of lines) {
  const m = /^\s+([\d.]+)%\s+(\[JIT\] tid \d+|\S+)\s+\[[.k]\]\s+(.*)$/.exec(line) // JIT code: "[JIT] tid N"
  if (!m) continue
  const [, pct, dso, sym] = m
  const [name] = GROUPS.find(([, test]) => test(dso, sym))
  totals.set(name, totals.get(name) + Number(pct))
}
for (const [name, pct] of [...totals].sort((a, b) => b[1] - a[1])) {
  if (pct >= 0.5) console.log(`${pct.toFixed(1).padStart(5)}%  ${name}`)
}
