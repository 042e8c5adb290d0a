#!/usr/bin/env bash
# dashboards/prometheus-demo.sh — `./mesh demo --keep-running` scraped by a local Prometheus, so
# that the panels of dashboards/ can be tried by hand (DashboardPrometheusTest does the same
# automatically). Needs Debian's prometheus (apt-get install -y prometheus).
#
#   dashboards/prometheus-demo.sh            # Prometheus on http://127.0.0.1:9090
#   PROMETHEUS_PORT=9091 dashboards/prometheus-demo.sh
#
# Then query it (http://127.0.0.1:9090/graph), or point a Grafana at it as a Prometheus data source
# and import dashboards/ztunnel.json and dashboards/waypoint.json. Ctrl-C stops both.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${PROMETHEUS_PORT:-9090}"
if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus-demo: prometheus not found; install it (apt-get install -y prometheus)" >&2
  exit 1
fi

work="$(mktemp -d)"
demo=""
prom=""
cleanup() {
  [ -n "$prom" ] && kill "$prom" 2>/dev/null || true
  [ -n "$demo" ] && kill "$demo" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The demo's proxies (examples/mesh.yaml): ztunnel node-a and node-b, and payment-waypoint, each
# with its metrics on 15020.
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
- job_name: ztunnel
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ['127.0.100.1:15020', '127.0.100.2:15020']
- job_name: waypoint
  metrics_path: /stats/prometheus
  static_configs:
  - targets: ['127.0.1.30:15020']
YAML

echo "prometheus-demo: starting ./mesh demo --keep-running (log: $work/demo.log)"
"$root/mesh" demo --keep-running --examples "$root/examples" >"$work/demo.log" 2>&1 &
demo=$!
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom=$!

until grep -q "Mesh running" "$work/demo.log" 2>/dev/null; do
  if ! kill -0 "$demo" 2>/dev/null; then
    echo "prometheus-demo: the demo stopped:" >&2
    cat "$work/demo.log" >&2
    exit 1
  fi
  sleep 1
done
echo "prometheus-demo: mesh up; Prometheus scrapes it every 5 s at http://127.0.0.1:$port"
echo "  e.g. curl -s 'http://127.0.0.1:$port/api/v1/query?query=istio_build'"
echo "  Ctrl-C stops the demo and Prometheus."
wait "$demo"
