#!/usr/bin/env bash
# tansu, a Kafka-compatible broker written in Rust, on loopback: the peer benchmark's
# fallback when Apache Kafka cannot be fetched (run.js --kafka-broker tansu forces it).
#   tansu.sh setup    cargo install the `tansu` crate (pinned version) once
#   tansu.sh start    start the broker with in-memory storage; waits until it listens
#   tansu.sh stop     stop it (SIGTERM, then SIGKILL after 10 s)
#   tansu.sh version
# Every step is idempotent. State lives in benchmark/peers/.work/tansu*.
#
# Features: only `dynostore` (it pulls in the broker, CLI and storage crates; it is the
# feature that provides the memory:// storage engine). The default features build no
# storage engine that works without a server (memory:// needs dynostore; the local-file
# engines, libsql and turso, build SQLite), and the data-lake features (parquet, iceberg,
# delta) are not needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work"
root="$work/tansu"
bin="$root/bin/tansu"
pidf="$work/tansu.pid"
log="$work/tansu-broker.log"
port="${TANSU_PORT:-19192}"
crate_version="${TANSU_VERSION:-0.6.0}"
mkdir -p "$work"

setup () {
  if [ -x "$bin" ]; then return 0; fi
  command -v cargo >/dev/null || { echo "tansu.sh: cargo is not installed (needed to build tansu)" >&2; return 1; }
  echo "tansu.sh: building tansu $crate_version with cargo install (takes a while on few cores; log in .work/tansu-cargo.log)"
  cargo install tansu --version "$crate_version" --locked --no-default-features --features dynostore \
    --root "$root" >"$work/tansu-cargo.log" 2>&1 || {
    echo "tansu.sh: cargo install tansu $crate_version failed (see .work/tansu-cargo.log):" >&2
    tail -5 "$work/tansu-cargo.log" >&2; return 1; }
}

running () { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }

listening () { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start () {
  setup
  if running; then return 0; fi
  if listening; then echo "tansu.sh: 127.0.0.1:$port is already taken by another process" >&2; return 1; fi
  # memory://: every topic lives in the broker's memory and is gone when it stops.
  RUST_LOG="${RUST_LOG:-warn}" nohup "$bin" broker \
    --cluster-id caldo-bench \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "memory://tansu/" >"$log" 2>&1 &
  echo $! >"$pidf"
  for _ in $(seq 1 100); do
    if listening; then return 0; fi
    if ! running; then echo "tansu.sh: broker exited; see .work/tansu-broker.log" >&2; tail -20 "$log" >&2; rm -f "$pidf"; return 1; fi
    sleep 0.2
  done
  echo "tansu.sh: broker did not listen on 127.0.0.1:$port within 20 s" >&2
  stop; return 1
}

stop () {
  if ! running; then rm -f "$pidf"; return 0; fi
  local pid; pid="$(cat "$pidf")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

version () {
  local v
  v="$("$bin" --version 2>/dev/null | awk '{print $NF}' | head -1)" || true
  echo "${v:-$crate_version}"
}

port () { echo "$port"; }

"${1:?usage: tansu.sh setup|start|stop|version|port}"
