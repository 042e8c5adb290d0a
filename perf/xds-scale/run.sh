#!/bin/sh
# The xDS scale bench (dev.ambientj.perf.config.XdsScaleBench): one config server (a child JVM,
# `mesh config-server --kubernetes`) on Fabric8's mock API server, 200 delta-ADS clients each
# scoped as the ztunnel of its own node, a cluster of 5,000 pods / 1,000 services / 500 policies.
# Prints each figure as it is measured and a last line `RESULTS {json}`; the whole output is kept
# in perf/results/xds-scale-<date>.log. Options are passed on (e.g. --churn-seconds 10 --jfr 1).
#
#   perf/xds-scale/run.sh                 # the full run (about 15 minutes on 2 cores)
#   perf/xds-scale/run.sh --pods 500 --services 100 --policies 50 --nodes 20   # a quick one
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
[ -x "$java" ] || java=java
if [ ! -f perf/target/benchmarks.jar ] || [ -n "$(find perf/src shared-config/src ztunnel/src \
    -newer perf/target/benchmarks.jar -name '*.java' | head -1)" ]; then
  echo "building perf/target/benchmarks.jar" >&2
  ./mvnw -q -pl perf -am package -DskipTests
fi
mkdir -p perf/results
log=perf/results/xds-scale-$(date -u +%Y%m%dT%H%M%SZ).log
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); log: $log" >&2
"$java" -Xmx3g --enable-native-access=ALL-UNNAMED -cp perf/target/benchmarks.jar \
    dev.ambientj.perf.config.XdsScaleBench "$@" 2>&1 | tee "$log"
