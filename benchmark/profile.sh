#!/usr/bin/env bash
# Profiles caldo's produce, consume (for await, batches(), batch views) and cross-process latency paths with
# perf, and writes where the time goes to benchmark/results/profile/*.txt (see benchmark/README.md).
#   bash benchmark/profile.sh [records]      needs perf (Debian: linux-perf) and root or perf_event_paranoid <= 1
# Node runs with --perf-basic-prof so that JIT-compiled JS shows by function name; the addon
# keeps its symbols. Self time grouped (profile-summary.js), then per symbol; system calls from perf trace.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="$here/results/profile"
n="${1:-2000000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cd "$tmp" # --perf-basic-prof leaves V8 logs (isolate-*.log) in the working directory
command -v perf >/dev/null || { echo "profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

node=(node --perf-basic-prof "$here/profile.js")
# (head closes the pipe early: `|| true` keeps pipefail from ending the script there.)
report () { # name: flat self-time by shared object and by symbol, top entries
  perf report -i "$tmp/$1.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | node "$here/profile-summary.js" >"$out/$1.txt"
  echo >>"$out/$1.txt"
  # Symbols of JIT code name their file: keep them relative to the checkout.
  { perf report -i "$tmp/$1.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -45 || true; } | sed "s|$root/||g" >>"$out/$1.txt"
}
syscalls () { # a perf trace summary: calls per syscall over all threads, most first
  awk '$1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ { c[$1] += $2 } END { for (k in c) print c[k], k }' "$1" | sort -rn | head -12 || true
}

node "$here/profile.js" fill "$tmp/log" "$n" >/dev/null
BYTES=65536 node "$here/profile.js" fill "$tmp/log64" 16 >/dev/null
for mode in produce each batches view; do
  echo "== $mode"
  perf record -F 4999 -o "$tmp/$mode.data" -- "${node[@]}" "$mode" "$tmp/log" "$n" 2>/dev/null | tee "$out/$mode.rate"
  report "$mode"
  # System calls per record.
  perf trace -s -o "$tmp/$mode.trace" -- node "$here/profile.js" "$mode" "$tmp/log" "$n" >/dev/null 2>&1 || true
  syscalls "$tmp/$mode.trace" >"$out/$mode.syscalls"
done

# Produce with 64 KiB values (batches of 16), 8,192 records (512 MiB).
echo "== produce-64k"
BYTES=65536 perf record -F 4999 -o "$tmp/produce-64k.data" -- "${node[@]}" produce "$tmp/log64" 8192 2>/dev/null | tee "$out/produce-64k.rate"
report produce-64k
BYTES=65536 perf trace -s -o "$tmp/produce-64k.trace" -- node "$here/profile.js" produce "$tmp/log64" 8192 >/dev/null 2>&1 || true
syscalls "$tmp/produce-64k.trace" >"$out/produce-64k.syscalls"
rm -rf "$tmp/log64"

# Latency: a consumer waits at the end of the log while a second process sends 10,000/s for 5 s.
lat=50000
echo "== latency (consumer and sender, 10,000/s)"
# -D: leave out the first second (process start-up); perf stat: context switches and CPU per record.
perf record -D 1000 -F 4999 -o "$tmp/latency-tail.data" -- "${node[@]}" tail "$tmp/log" "$lat" >"$out/latency-tail.rate" 2>/dev/null &
tailpid=$!
sleep 1.5
perf record -D 1000 -F 4999 -o "$tmp/latency-send.data" -- "${node[@]}" paced "$tmp/log" "$lat" 10000 >"$out/latency-send.rate" 2>/dev/null
wait "$tailpid"
report latency-tail
report latency-send
perf stat -x, -e task-clock,context-switches,cpu-migrations -o "$out/latency-tail.stat" -- node "$here/profile.js" tail "$tmp/log" "$lat" >/dev/null 2>&1 &
tailpid=$!
sleep 1.5
node "$here/profile.js" paced "$tmp/log" "$lat" 10000 >/dev/null
wait "$tailpid" || true
perf trace -s -o "$tmp/lat.trace" -- node "$here/profile.js" tail "$tmp/log" "$lat" >/dev/null 2>&1 &
tailpid=$!
sleep 1.5
node "$here/profile.js" paced "$tmp/log" "$lat" 10000 >/dev/null
wait "$tailpid" || true
syscalls "$tmp/lat.trace" >"$out/latency-tail.syscalls"
echo "wrote ${out#"$PWD/"}/"
