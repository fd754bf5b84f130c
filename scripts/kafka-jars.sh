#!/usr/bin/env bash
# Fetches Apache Kafka's broker and tools jars from Maven Central (scripts/kafka/pom.xml)
# into .kafka/lib, once. The Kafka backend's tests and the peer benchmark start the
# broker from there. Fails loudly when Maven or Maven Central is not there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
lib="$root/.kafka/lib"
# .complete-<version>: a set fetched in full for this pom's Kafka version.
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/scripts/kafka/pom.xml")"
if [ -f "$lib/.complete-$version" ]; then echo "$lib"; exit 0; fi
rm -rf "$lib"
mkdir -p "$root/.kafka"
command -v mvn >/dev/null || { echo "kafka-jars.sh: maven (mvn) is not installed; Kafka's jars come from Maven Central through it" >&2; exit 1; }
command -v java >/dev/null || { echo "kafka-jars.sh: java (17 or later) is not installed; the Kafka broker needs it" >&2; exit 1; }
(cd "$root/scripts/kafka" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib") >"$root/.kafka/mvn.log" 2>&1 || {
  tail -20 "$root/.kafka/mvn.log" >&2
  echo "kafka-jars.sh: could not fetch Kafka $version from Maven Central (log: .kafka/mvn.log)" >&2; exit 1; }
touch "$lib/.complete-$version"
echo "$lib"
