#!/usr/bin/env bash
# Debian's redis-server on loopback for the peer benchmark (Redis Streams).
#   redis.sh setup|start|stop|version   (idempotent; state in benchmark/peers/.work/redis)
# No RDB snapshots, no AOF: the durable scenario switches AOF with appendfsync always on at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work"
data="$work/redis"
pidf="$work/redis.pid"
port="${REDIS_PORT:-16379}"
mkdir -p "$data"

setup () {
  command -v redis-server >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq redis-server >"$work/redis-apt.log" 2>&1 || {
    echo "redis.sh: apt-get install redis-server failed (see .work/redis-apt.log)" >&2; return 1; }
  # The Debian package starts a system-wide server on 6379; this benchmark runs its own.
  command -v systemctl >/dev/null && systemctl stop redis-server 2>/dev/null || true
}

running () { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }

start () {
  setup
  if running; then return 0; fi
  rm -f "$data"/*.aof "$data"/*.rdb; rm -rf "$data/appendonlydir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$data" --save '' --appendonly no \
    --daemonize yes --pidfile "$pidf" --logfile "$work/redis.log" --protected-mode yes
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis.sh: server did not answer on 127.0.0.1:$port" >&2; return 1
}

stop () {
  if ! running; then rm -f "$pidf"; return 0; fi
  local pid; pid="$(cat "$pidf")"
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true; rm -f "$pidf"
}

version () { redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p'; }

"${1:?usage: redis.sh setup|start|stop|version}"
