#!/usr/bin/env bash
# Wall time of the CNI plugin executable per JVM option set: VERSION, ADD of a pod that is not
# enrolled (agent present, answers SKIP), and — as root — ADD of an enrolled pod (agent installs the
# rules in a scratch netns). Prints median and p99 (nearest rank) over N runs.
#
#   cni-plugin/src/test/sh/startup-bench.sh [N]      (after ./mvnw -pl cni-plugin verify; JDK 25)
set -euo pipefail
cd "$(dirname "$0")/../../.."            # cni-plugin/
N=${1:-50}
JAVA=${JAVA:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
JAR=$(ls target/cni-plugin-*.jar | grep -v sources | head -1)
work=$(mktemp -d /tmp/ambj-cni-bench.XXXXXX)
ns=ambj-bench-$RANDOM
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

(cd .. && ./mvnw -B -q -pl cni-plugin dependency:build-classpath -Dmdep.outputFile="$work/cp.txt" >/dev/null)
"$JAVA" -cp "target/classes:target/test-classes:$(cat "$work/cp.txt")" \
  dev.ambientj.cni.agent.BenchAgent "$work/agent.sock" >"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 100); do grep -q ready "$work/agent.log" && break; sleep 0.1; done

enrolled=false
if [ "$(id -u)" = 0 ] && command -v iptables >/dev/null; then
  ip netns add "$ns" && ip -n "$ns" link set lo up && enrolled=true
fi

conf="{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"ambientj-cni\",\"agentSocket\":\"$work/agent.sock\",\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.250.9.2/24\"}]}}"
export CNI_CONTAINERID=bench CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin CNI_NETNS=/var/run/netns/$ns

# Runs one operation ($1: VERSION|ADD-plain|ADD-enrolled) with the command "${@:2}"; prints µs.
once() {
  local what=$1; shift
  local cmd=ADD pod=bench-plain
  case $what in VERSION) cmd=VERSION;; ADD-enrolled) pod=bench-enrolled;; esac
  local t0=$EPOCHREALTIME
  CNI_COMMAND=$cmd CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=$pod" "$@" <<<"$conf" >"$work/out" 2>"$work/err" \
    || { echo "failed: $what: $(cat "$work/out" "$work/err")" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  echo $(( ${t1/./} - ${t0/./} ))
}

# "median p99" in ms of the µs numbers on stdin (p99 by nearest rank).
stats() {
  sort -n | awk '{a[NR]=$1} END { n=NR;
    m = (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2; p = a[int(n*0.99 + 0.999999)];
    printf "%6.1f %6.1f", m/1000, p/1000 }'
}

base=(-Xlog:disable -Xlog:all=warning:stderr)
fast=("${base[@]}" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData -Xss512k -Xmx64m)
main=(-cp "$JAR" dev.ambientj.cni.plugin.CniPlugin)

# Training runs (one ADD each) for the archives.
CNI_COMMAND=ADD CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-plain" \
  "$JAVA" "${fast[@]}" -XX:ArchiveClassesAtExit="$work/app.jsa" "${main[@]}" <<<"$conf" >/dev/null 2>&1
CNI_COMMAND=ADD CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-plain" \
  "$JAVA" "${fast[@]}" -XX:AOTCacheOutput="$work/app.aot" "${main[@]}" <<<"$conf" >/dev/null 2>&1

inst=$work/bin; mkdir -p "$inst/ambientj-cni.d"
cp src/main/sh/ambientj-cni "$inst/"; cp -p "$JAR" "$inst/ambientj-cni.d/ambientj-cni.jar"
cp "$work/app.aot" "$inst/ambientj-cni.d/ambientj-cni.aot"
export AMBIENTJ_CNI_JAVA=$JAVA

# The payload as a node gets it (PluginPayloadBuilder: jlink'd runtime, AOT cache; installed by the
# agent's installer), and the same without the AOT cache. Their runtime wins over AMBIENTJ_CNI_JAVA.
cp_all="target/classes:target/test-classes:$(cat "$work/cp.txt")"
"$JAVA" -cp "$cp_all" dev.ambientj.cni.install.PluginPayloadBuilder "$work/payload" src/main/sh/ambientj-cni
mkdir -p "$work/node" "$work/node-no-aot"
"$JAVA" -cp "$cp_all" dev.ambientj.cni.install.BenchInstall "$work/payload" "$work/node" >/dev/null
rm "$work/payload/ambientj-cni.d/ambientj-cni.aot"
"$JAVA" -cp "$cp_all" dev.ambientj.cni.install.BenchInstall "$work/payload" "$work/node-no-aot" >/dev/null

names=(1-no-CDS 2-default-CDS 3-C1+SerialGC 4-C1+SerialGC+AppCDS 5-C1+SerialGC+AOTCache 6-ambientj-cni-script
  7-installed-payload 8-installed-no-AOT 9-/bin/true)
declare -A cmds=(
  [1-no-CDS]="$JAVA -Xshare:off ${base[*]} ${main[*]}"
  [2-default-CDS]="$JAVA ${base[*]} ${main[*]}"
  [3-C1+SerialGC]="$JAVA ${fast[*]} ${main[*]}"
  [4-C1+SerialGC+AppCDS]="$JAVA ${fast[*]} -XX:SharedArchiveFile=$work/app.jsa ${main[*]}"
  [5-C1+SerialGC+AOTCache]="$JAVA ${fast[*]} -XX:AOTCache=$work/app.aot ${main[*]}"
  [6-ambientj-cni-script]="$inst/ambientj-cni"
  [7-installed-payload]="$work/node/ambientj-cni"
  [8-installed-no-AOT]="$work/node-no-aot/ambientj-cni"
  [9-/bin/true]="/bin/true"
)
ops=(VERSION ADD-plain)
$enrolled && ops+=(ADD-enrolled)
# Interleaved: every round runs each variant once, so load from other processes hits all alike.
for _ in $(seq "$N"); do
  for v in "${names[@]}"; do
    read -r -a c <<<"${cmds[$v]}"
    for op in "${ops[@]}"; do
      [ "$v" = 9-/bin/true ] && [ "$op" != VERSION ] && continue
      once "$op" "${c[@]}" >>"$work/t.${v//\//_}.$op"
    done
  done
done
printf '%-26s %15s %15s %15s\n' "(ms, N=$N)" "VERSION med/p99" "ADD-skip med/p99" "ADD-enrol med/p99"
for v in "${names[@]}"; do
  line=$(printf '%-26s' "$v")
  for op in VERSION ADD-plain ADD-enrolled; do
    f="$work/t.${v//\//_}.$op"
    if [ -s "$f" ]; then line+=$(printf ' %15s' "$(stats <"$f")"); else line+=$(printf ' %15s' -); fi
  done
  echo "$line"
done
