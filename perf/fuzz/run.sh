#!/usr/bin/env bash
# Fuzzes the Jazzer targets (@FuzzTest) for a given time each and keeps what they find.
#
#   perf/fuzz/run.sh TARGET...|all [--time 5m] [--timeout 1] [--jobs 1]
#   perf/fuzz/run.sh --list
#
# Per target, in perf/fuzz/out/TARGET/: corpus/ (inputs that reached new code; reused by the next
# run), findings/ (crash-*, timeout-*, leak... inputs: each one is a bug until it is fixed and its
# input is committed as a regression seed under the target's Inputs directory), fuzz.log (the whole
# run: libFuzzer's progress), test-output.txt (the test JVM's output: each finding's exception and
# stack trace), and a one-line summary appended to perf/fuzz/out/summary.tsv:
#   target  fuzz-seconds  wall-seconds  executions  exec/s  coverage  findings  segments
# (fuzz-seconds: executions / libFuzzer's average rate, summed; wall-seconds add Maven and JVM start.
# A timeout or out-of-memory ends libFuzzer's run: the target then resumes from its corpus for the
# fuzzing time left, each resumption one more segment.)
#
# A finding is an exception or AssertionError out of the target (unhandled errors, leaked buffers:
# see testing/FuzzInput), an input that runs longer than --timeout seconds, or an OutOfMemoryError
# (the JVM gets -Xmx1g). Each target runs in its own JVM through Maven (JAZZER_FUZZ=1); Jazzer
# fuzzes one @FuzzTest per JVM. Runs one target at a time unless --jobs says more (the machine is
# shared: the README says how loaded it may be).
set -euo pipefail
cd "$(dirname "$0")/../.."

# name | module | test class | method | classes to instrument for coverage (besides our own)
TARGETS="
socks5|ztunnel|dev.ambientj.ztunnel.outbound.Socks5ServerHandlerFuzzTest|socks5Client|
hbone-server|hbone|dev.ambientj.hbone.HboneServerFuzzTest|clientBytes|io.netty.handler.codec.http2.**
hbone-client|hbone|dev.ambientj.hbone.HboneClientFuzzTest|serverBytes|io.netty.handler.codec.http2.**
waypoint-http|waypoint|dev.ambientj.waypoint.L7IngressFuzzTest|clientBytes|io.netty.handler.codec.http.**:io.netty.handler.codec.http2.**
translator|shared-config|dev.ambientj.config.MeshTranslatorFuzzTest|mutatedObjects|
wds|shared-config|dev.ambientj.config.xds.WdsDecoderFuzzTest|resources|
zds|ztunnel|dev.ambientj.ztunnel.inpod.ZdsClientFuzzTest|agentMessages|
cni|cni-plugin|dev.ambientj.cni.plugin.CniPluginFuzzTest|invocation|
baggage|ztunnel|dev.ambientj.ztunnel.proxy.BaggageFuzzTest|header|
trace-headers|waypoint|dev.ambientj.waypoint.telemetry.TraceHeadersFuzzTest|headers|
forwarded|waypoint|dev.ambientj.waypoint.ForwardedFuzzTest|header|
"

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

seconds() {
  local v=$1
  case "$v" in
    *h) echo $(( ${v%h} * 3600 )) ;;
    *m) echo $(( ${v%m} * 60 )) ;;
    *s) echo "${v%s}" ;;
    *[0-9]) echo "$v" ;;
    *) echo "bad duration: $v (expected e.g. 30s, 5m, 1h)" >&2; exit 2 ;;
  esac
}

time_spec=5m
timeout_s=1
jobs=1
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_spec=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --list) echo "$TARGETS" | sed '/^$/d' | cut -d'|' -f1; exit 0 ;;
    -h|--help) usage ;;
    all) names+=($(echo "$TARGETS" | sed '/^$/d' | cut -d'|' -f1)); shift ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || usage
total=$(seconds "$time_spec")

out_root=perf/fuzz/out
mkdir -p "$out_root"
[ -f "$out_root/summary.tsv" ] || printf 'target\tfuzz-seconds\twall-seconds\texecutions\texec/s\tcoverage\tfindings\tsegments\n' > "$out_root/summary.tsv"

# Compile once; the runs below skip main compilation (-Dmaven.main.skip), so parallel runs do not
# race on the same target/ directories.
modules=$(for n in "${names[@]}"; do echo "$TARGETS" | grep "^$n|" | cut -d'|' -f2; done | sort -u | paste -sd,)
[ -n "$modules" ] || { echo "unknown target(s): ${names[*]} (--list)" >&2; exit 2; }
./mvnw -q -B -pl "$modules" -am test-compile

fuzz_one() {
  local name=$1 line module class method include out
  line=$(echo "$TARGETS" | grep "^$name|") || { echo "unknown target $name (--list)" >&2; return 2; }
  IFS='|' read -r _ module class method include <<< "$line"
  out=$PWD/$out_root/$name
  mkdir -p "$out/corpus" "$out/findings"
  local includes="dev.ambientj.**${include:+:$include}"
  echo "fuzz: $name ($class#$method) for ${total}s -> $out_root/$name"
  # libFuzzer stops at a timeout or an out-of-memory (Jazzer keeps going after other findings):
  # the run then resumes, with the corpus so far, until the time is used up.
  local start end rc=0 left runs=0 fuzzed=0 segment=0 cov="" execs=""
  start=$(date +%s)
  : > "$out/fuzz.log"
  : > "$out/test-output.txt"
  left=$total
  while [ "$left" -ge 20 ] && [ "$segment" -lt 10 ]; do
    segment=$((segment + 1))
    rc=0
    JAZZER_FUZZ=1 ./mvnw -B -o -pl "$module" -am test -Dmaven.main.skip=true \
        -Dtest="$class#$method" -Dsurefire.failIfNoSpecifiedTests=false \
        -Dsurefire.extraArgLine=-Xmx1g \
        -Djazzer.hooks=true -Djazzer.instrumentation_includes="$includes" -Djazzer.keep_going=20 \
        -Djazzer.internal.arg.0=fuzz \
        -Djazzer.internal.arg.1=-max_total_time="$left" \
        -Djazzer.internal.arg.2=-timeout="$timeout_s" \
        -Djazzer.internal.arg.3=-artifact_prefix="$out/findings/" \
        -Djazzer.internal.arg.4=-print_final_stats=1 \
        -Djazzer.internal.arg.5="$out/corpus" \
        > "$out/segment.log" 2>&1 || rc=$?
    cat "$out/segment.log" >> "$out/fuzz.log"
    # The Java side of each finding (exception, stack) is in the test JVM's output, not libFuzzer's.
    cat "$module/target/surefire-reports/$class-output.txt" >> "$out/test-output.txt" 2>/dev/null || true
    # libFuzzer's final stats (also printed when it stops at a finding): units run, average exec/s.
    local n rate
    n=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$out/segment.log" | tail -1 | grep -oE '[0-9]+$' || true)
    rate=$(grep -oE 'stat::average_exec_per_sec: [0-9]+' "$out/segment.log" | tail -1 | grep -oE '[0-9]+$' || true)
    # after a timeout libFuzzer prints the units but not the rate: take its last status line's
    [ -n "$rate" ] || rate=$(grep -oE 'exec/s: [0-9]+' "$out/segment.log" | tail -1 | grep -oE '[0-9]+' || true)
    [ -n "$n" ] || n=$(grep -oE '^#[0-9]+' "$out/segment.log" | tail -1 | tr -d '#' || true)
    runs=$((runs + ${n:-0}))
    if [ -n "$rate" ] && [ "$rate" -gt 0 ]; then
      fuzzed=$((fuzzed + ${n:-0} / rate))
    fi
    cov=$(grep -oE 'cov: [0-9]+' "$out/segment.log" | tail -1 | grep -oE '[0-9]+' || echo "$cov")
    execs=$rate
    grep -q 'libFuzzer: \(timeout\|out-of-memory\|deadly signal\)' "$out/segment.log" || break
    left=$((total - fuzzed))
  done
  rm -f "$out/segment.log"
  end=$(date +%s)
  local findings
  findings=$(find "$out/findings" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$fuzzed" "$((end - start))" "$runs" "${execs:-?}" \
      "${cov:-?}" "$findings" "$segment" | tee -a "$out_root/summary.tsv"
}

pids=()
for n in "${names[@]}"; do
  fuzz_one "$n" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
done
for p in "${pids[@]}"; do
  wait "$p" || true
done
