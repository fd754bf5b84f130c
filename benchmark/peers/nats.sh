#!/usr/bin/env bash
# Debian's nats-server with JetStream on loopback for the peer benchmark.
#   nats.sh setup|start|stop|version   (idempotent; state in benchmark/peers/.work/nats)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work"
data="$work/nats"
pidf="$work/nats.pid"
port="${NATS_PORT:-14222}"
mkdir -p "$work"

setup () {
  command -v nats-server >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nats-server >"$work/nats-apt.log" 2>&1 || {
    echo "nats.sh: apt-get install nats-server failed (see .work/nats-apt.log)" >&2; return 1; }
}

running () { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }
listening () { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start () {
  setup
  if running; then return 0; fi
  rm -rf "$data"; mkdir -p "$data"
  nohup nats-server -a 127.0.0.1 -p "$port" -js -sd "$data" -P "$pidf" >"$work/nats.log" 2>&1 &
  for _ in $(seq 1 50); do listening && return 0; sleep 0.1; done
  echo "nats.sh: server did not listen on 127.0.0.1:$port" >&2; return 1
}

stop () {
  if ! running; then rm -f "$pidf"; return 0; fi
  local pid; pid="$(cat "$pidf")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$pidf"
}

version () { nats-server --version | sed -n 's/.*v\([0-9.]*\).*/\1/p'; }

"${1:?usage: nats.sh setup|start|stop|version}"
