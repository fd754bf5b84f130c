#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, no ZooKeeper) on loopback for the peer benchmark.
#   kafka.sh setup    fetch the broker and tools jars from Maven Central once (scripts/kafka-jars.sh)
#   kafka.sh start    format the data dir (once) and start the broker; waits until it listens
#   kafka.sh stop     stop it (SIGTERM, then SIGKILL after 20 s)
#   kafka.sh version
# Every step is idempotent. State lives in benchmark/peers/.work/kafka-*, the jars in .kafka/lib.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/.work"
root="$(cd "$here/../.." && pwd)"
lib="$root/.kafka/lib"
data="$work/kafka-data"
conf="$work/kafka.properties"
pidf="$work/kafka.pid"
port="${KAFKA_PORT:-19092}"
cport="${KAFKA_CONTROLLER_PORT:-19093}"
mkdir -p "$work"

setup () { "$root/scripts/kafka-jars.sh" >/dev/null; }

running () { [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; }

listening () { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

start () {
  setup
  if running; then return 0; fi
  cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
message.max.bytes=2097152
PROPS
  cat >"$work/kafka-log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$work/kafka-server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
  local cp="$lib/*"
  if [ ! -f "$data/meta.properties" ]; then
    rm -rf "$data"
    local id
    id="$(java -cp "$cp" -Dlog4j.configuration="file:$work/kafka-log4j.properties" kafka.tools.StorageTool random-uuid)"
    java -cp "$cp" -Dlog4j.configuration="file:$work/kafka-log4j.properties" kafka.tools.StorageTool format -t "$id" -c "$conf" --ignore-formatted >"$work/kafka-format.log" 2>&1
  fi
  nohup java -Xms1g -Xmx2g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$work/kafka-log4j.properties" \
    -cp "$cp" kafka.Kafka "$conf" >"$work/kafka-stdout.log" 2>&1 &
  echo $! >"$pidf"
  for _ in $(seq 1 120); do
    if listening; then return 0; fi
    if ! running; then echo "kafka.sh: broker exited; see .work/kafka-stdout.log" >&2; tail -20 "$work/kafka-stdout.log" >&2; return 1; fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not listen on 127.0.0.1:$port within 60 s" >&2
  stop; return 1
}

stop () {
  if ! running; then rm -f "$pidf"; return 0; fi
  local pid; pid="$(cat "$pidf")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

version () { ls "$lib" 2>/dev/null | sed -n 's/^kafka_2\.13-\(.*\)\.jar$/\1/p'; }

# Fresh data dir (between whole benchmark runs).
reset () { stop; rm -rf "$data"; }

"${1:?usage: kafka.sh setup|start|stop|reset|version}"
