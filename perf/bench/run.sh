#!/usr/bin/env bash
# perf/bench/run.sh — the macro bench: one run, four configurations side by side, on network
# namespaces. Read perf/bench/README.md first; `perf/bench/run.sh --help` lists the flags.
#
#   (a) direct       client ──────────────────────────────────────────────▶ server
#   (b) ztunnel      client ─capture─▶ ztunnel-a ═HBONE/mTLS═▶ ztunnel-b ──▶ server
#   (c) waypoint     client ─capture─▶ ztunnel-a ═HBONE═▶ waypoint ═HBONE═▶ ztunnel-b ──▶ server
#   (d) haproxy      client ──▶ haproxy-a ═TLS 1.3 + client cert═▶ haproxy-b ──▶ server
#
# Needs root (ip netns, iptables), JDK 25, iperf3, haproxy, nginx, h2load, wrk, openssl,
# python3. Everything it creates (namespaces, veths, iptables rules, processes) is removed on
# exit, also on failure or Ctrl-C. Every tool runs under `timeout`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/perf/bench"

usage() {
  cat <<'EOF'
usage: perf/bench/run.sh [--quick] [--runs N] [--configs LIST] [--out DIR] [--build REV | --jars DIR]
                         [--control xds|file] [--cpu-mode shared|own] [--noisy both|on|off]

  --quick          1 run, short durations (about 1.5 minutes; for development)
  --runs N         repetitions of the whole sequence (default 3; figures are min/median/max)
  --configs LIST   subset of a,b,c,d (default a,b,c,d)
  --out DIR        where the report goes (default perf/results/<UTC time>)
  --rate N         the fixed open-loop request rate (default 1000)
  --warm SECS      the first run's warm-up per configuration (default 10, --quick 2): with --quick,
                   15 gives the JIT time to compile the hot paths before the latency step
  --build REV      measure commit REV: `git archive` it to /tmp/ambj-bench-build-<sha> and build
                   the launcher there (kept for the next run), leaving this tree's target/ alone
  --jars DIR       measure launcher.jar and lib/ from DIR (default launcher/target, as built)
  --control MODE   xds (default): the proxies start as the manifests start them — a config
                   server (its own pod), ztunnel and the waypoint with --xds and --ca-address;
                   file: each proxy reads the mesh YAML itself and signs with a local CA
  --cpu-mode MODE  shared (default): every proxy on one CPU (BENCH_PROXY_CPU), the load on
                   another (BENCH_LOAD_CPU); own: each side's proxies on a CPU of their own
                   (BENCH_OWN_CPUS="A,B,W,L": node-a's proxies, node-b's, the waypoint, the load)
  --noisy SET      the noisy-neighbour step of (b): a second client pod on node-a floods (maximum
                   rate HTTP, then a connection storm) while client-0 runs the fixed rate; with
                   ztunnel's fairness on, off, or both (default both: ztunnels restarted with
                   --fairness off after the runs)
  --help           this message

Environment: JAVA_HOME (a JDK 25; else /usr/lib/jvm/* is searched), MESH_JAVA_OPTS (extra
JVM flags for ztunnel and the waypoint, after the ./mesh defaults), BENCH_ZTUNNEL_ARGS /
BENCH_WAYPOINT_ARGS (extra arguments, e.g. "--worker-threads 1" or "--transport io_uring"),
BENCH_PROXY_CPU (default 0), BENCH_LOAD_CPU (default 1), BENCH_OWN_CPUS (--cpu-mode own),
BENCH_NMT (default 1: the JVMs run with -XX:NativeMemoryTracking=summary and jcmd records their
breakdown after start-up and after each step; 0: off), BENCH_AOT (1: both ztunnels train an AOT
cache on (b) traffic first and run from it; default 0), BENCH_NOISY_ANNOTATIONS (the noisy pod's
budget, default "ambientj.dev/max-connections=16,ambientj.dev/max-connection-rate=200").
EOF
}

quick=0 runs=3 configs="a,b,c,d" out="" rate=1000 warm_first="" build_rev="" jar_dir="$root/launcher/target"
control=xds cpu_mode=shared noisy=both
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; runs=1 ;;
    --runs) runs="$2"; shift ;;
    --configs) configs="$2"; shift ;;
    --out) out="$2"; shift ;;
    --rate) rate="$2"; shift ;;
    --warm) warm_first="$2"; shift ;;
    --build) build_rev="$2"; shift ;;
    --jars) jar_dir="$(cd "$2" && pwd)"; shift ;;
    --control) control="$2"; shift ;;
    --cpu-mode) cpu_mode="$2"; shift ;;
    --noisy) noisy="$2"; shift ;;
    --help|-h) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# ---- durations (seconds) -------------------------------------------------------------------
if [ "$quick" = 1 ]; then
  t_warm=2 t_iperf=2 t_omit=0 t_rate=3 t_max=2 t_conn=2
else
  t_warm=3 t_iperf=3 t_omit=1 t_rate=8 t_max=4 t_conn=3
fi
t_warm_first=${warm_first:-$(( quick ? t_warm : 10 ))}   # the first run's warm-up: the JIT compiles the hot paths
rate_clients=10                 # open-loop load: rate_clients connections × (rate/rate_clients) rps
max_clients=32                  # closed-loop load for the maximum rate
conn_clients=16                 # closed-loop connection-per-request load
proxy_cpu="${BENCH_PROXY_CPU:-0}"
load_cpu="${BENCH_LOAD_CPU:-1}"
case "$control" in xds|file) ;; *) echo "run.sh: --control xds|file" >&2; exit 2 ;; esac
case "$noisy" in both|on|off) ;; *) echo "run.sh: --noisy both|on|off" >&2; exit 2 ;; esac
# CPUs: shared — every proxy on proxy_cpu; own — node-a's proxies (ztunnel-a, haproxy-a), node-b's
# (ztunnel-b, haproxy-b), the waypoint and the load each where BENCH_OWN_CPUS says. With fewer
# than 4 CPUs the waypoint shares node-a's and the load runs on all of them.
case "$cpu_mode" in
  shared) cpu_a=$proxy_cpu cpu_b=$proxy_cpu cpu_w=$proxy_cpu ;;
  own)
    if [ -n "${BENCH_OWN_CPUS:-}" ]; then own_cpus="$BENCH_OWN_CPUS"
    elif [ "$(nproc)" -ge 4 ]; then own_cpus="0,1,2,3"
    else own_cpus="0,1,0,0-$(( $(nproc) - 1 ))"; fi
    IFS=, read -r cpu_a cpu_b cpu_w load_cpu <<<"$own_cpus" ;;
  *) echo "run.sh: --cpu-mode shared|own" >&2; exit 2 ;;
esac
nmt="${BENCH_NMT:-1}"
aot_cache="${BENCH_AOT:-0}"
user_java_opts="${MESH_JAVA_OPTS:-}"
noisy_annotations="${BENCH_NOISY_ANNOTATIONS:-ambientj.dev/max-connections=16,ambientj.dev/max-connection-rate=200}"

# ---- addresses -----------------------------------------------------------------------------
pfx=ambj                        # namespace name prefix
ip_a=10.99.0.1                  # pod A: the client and ztunnel-a (node-a), haproxy-a
ip_b=10.99.0.2                  # pod B: nginx, iperf3 -s, ztunnel-b (node-b), haproxy-b
ip_w=10.99.0.3                  # the waypoint pod (its own namespace, node-w has no ztunnel)
ip_n=10.99.0.4                  # pod client-1 (node-a), the noisy neighbour: a second address of pod A's namespace
ip_cs=10.99.0.5                 # the config server's pod (--control xds)
vip_noisy=10.96.0.11            # Service "echo-noisy" (same backend): only client-1 uses it
vip_l4=10.96.0.10               # Service "echo": no waypoint
vip_l7=10.96.0.20               # Service "echo-wp": istio.io/use-waypoint
vip_wp=10.96.0.30               # the waypoint's own Service
http_port=8080 iperf_port=5201

exec 9>&2                       # the terminal's stderr, also inside a step whose output is redirected
die() { echo "run.sh: $*" >&9; exit 1; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&9; }

[ "$(id -u)" = 0 ] || die "needs root (ip netns, iptables)"
exec 8>/run/ambj-bench.lock     # one bench at a time: they would share namespace names and cores
flock -n 8 || die "another perf/bench/run.sh is running (lock /run/ambj-bench.lock)"
for tool in ip iptables taskset timeout flock iperf3 haproxy nginx h2load wrk openssl python3 curl; do
  command -v "$tool" >/dev/null || die "missing $tool (apt-get install iperf3 haproxy nginx-light nghttp2-client wrk)"
done

find_jdk() {
  local home
  for home in ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -x "$home/bin/java" ] || continue
    if "$home/bin/java" -XshowSettings:properties -version 2>&1 \
        | grep -Eq 'java.specification.version = (2[5-9]|[3-9][0-9])'; then
      echo "$home"; return 0
    fi
  done
  return 1
}
jdk="$(find_jdk)" || die "no JDK 25 found (set JAVA_HOME)"
java="$jdk/bin/java"

jar_commit=""
if [ -n "$build_rev" ]; then
  sha="$(cd "$root" && git rev-parse --short "$build_rev^{commit}")" || die "no commit $build_rev"
  jar_dir="/tmp/ambj-bench-build-$sha/launcher/target"
  if [ ! -f "$jar_dir/launcher.jar" ]; then
    src="/tmp/ambj-bench-build-$sha"
    rm -rf "$src" && mkdir -p "$src"
    (cd "$root" && git archive "$sha") | tar -x -C "$src"
    log "building $sha in $src (mvnw -pl launcher -am package; a few minutes) ..."
    (cd "$src" && JAVA_HOME="$jdk" timeout 1800 ./mvnw -B -q -DskipTests -Dmaven.javadoc.skip=true \
      -pl launcher -am package) >"/tmp/ambj-bench-build-$sha.log" 2>&1 \
      || die "build of $sha failed: /tmp/ambj-bench-build-$sha.log"
  fi
  jar_commit="$sha (built from git archive by --build)"
elif [ "$jar_dir" = "$root/launcher/target" ] && [ ! -f "$jar_dir/launcher.jar" ]; then
  (cd "$root" && ./mesh help >/dev/null) || die "could not build the launcher (./mesh help)"
fi
[ -f "$jar_dir/launcher.jar" ] && [ -d "$jar_dir/lib" ] || die "no launcher.jar and lib/ in $jar_dir"
if [ -z "$jar_commit" ]; then
  jar_commit="jars from $jar_dir, built $(date -u -r "$jar_dir/launcher.jar" +%Y-%m-%dT%H:%M:%SZ); tree at $(cd "$root" && git rev-parse --short HEAD)"
  if [ "$jar_dir" = "$root/launcher/target" ] && [ -n "$(find "$root" -path '*/src/main/*' -newer "$jar_dir/launcher.jar" -not -path '*/target/*' -print -quit)" ]; then
    jar_commit="$jar_commit — sources are newer than the jar (use --build HEAD)"
  fi
fi

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${out:-$root/perf/results/$stamp}"
mkdir -p "$out/raw" "$out/logs"
out="$(cd "$out" && pwd)"
work="$(mktemp -d /tmp/ambj-bench.XXXXXX)"
chmod 755 "$work"               # nginx workers (user nobody) read the body file from here
ulimit -n 65536 2>/dev/null || true   # wrk, haproxy and nginx hold thousands of sockets

# ---- clean-up: everything the bench creates ------------------------------------------------
pids=()
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  local i alive
  for i in $(seq 1 50); do             # up to 5 s for a graceful exit (JVM shutdown hooks, JFR)
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  topology_down
  rm -rf "$work"
  [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- topology ------------------------------------------------------------------------------
# The one place that says where pods live and how their traffic is captured. Host mode:
# ztunnel-a runs inside pod A's namespace so pod A's address is local to it, and a nat OUTPUT
# DNAT (REDIRECT would rewrite to 127.0.0.1, where ztunnel does not listen) sends pod A's
# outgoing TCP to podIP:15001; ztunnel reads SO_ORIGINAL_DST. When in-pod mode lands, replace
# topology_up/capture_on with the CNI agent handing the namespaces to one ztunnel.
ns() { echo "$pfx-$1"; }
in_ns() { local n="$1"; shift; ip netns exec "$(ns "$n")" "$@"; }

topology_up() {
  ip netns add "$(ns br)"
  ip -n "$(ns br)" link set lo up
  ip -n "$(ns br)" link add br0 type bridge
  ip -n "$(ns br)" link set br0 up
  local p addr
  for p in a:$ip_a b:$ip_b w:$ip_w cs:$ip_cs; do
    addr="${p#*:}"; p="${p%%:*}"
    ip netns add "$(ns "$p")"
    ip -n "$(ns br)" link add "port-$p" type veth peer name eth0 netns "$(ns "$p")"
    ip -n "$(ns br)" link set "port-$p" master br0 up
    ip -n "$(ns "$p")" link set lo up
    ip -n "$(ns "$p")" addr add "$addr/24" dev eth0
    ip -n "$(ns "$p")" link set eth0 up
    ip -n "$(ns "$p")" route add 10.96.0.0/16 dev eth0   # service VIPs: only reachable captured
    in_ns "$p" sysctl -qw net.ipv4.tcp_tw_reuse=1
  done
  # The noisy pod client-1 shares node-a's namespace (host mode: ztunnel-a binds every local
  # pod's address there): its own address, which the kernel picks for its Service's VIP.
  ip -n "$(ns a)" addr add "$ip_n/24" dev eth0
  ip -n "$(ns a)" route add "$vip_noisy/32" dev eth0 src "$ip_n"
  # Capture chain in pod A (not yet hooked into OUTPUT: capture_on/off toggle it per config).
  # Each pod's traffic goes to its own 15001 listener: ztunnel knows the source by the listener.
  in_ns a iptables -t nat -N AMBJ_OUTPUT
  in_ns a iptables -t nat -A AMBJ_OUTPUT -o lo -j RETURN
  in_ns a iptables -t nat -A AMBJ_OUTPUT -d "$ip_a" -j RETURN
  in_ns a iptables -t nat -A AMBJ_OUTPUT -d "$ip_n" -j RETURN
  in_ns a iptables -t nat -A AMBJ_OUTPUT -p tcp --dport 15008 -j RETURN   # ztunnel's own HBONE
  in_ns a iptables -t nat -A AMBJ_OUTPUT -s "$ip_n" -p tcp -j DNAT --to-destination "$ip_n:15001"
  in_ns a iptables -t nat -A AMBJ_OUTPUT -p tcp -j DNAT --to-destination "$ip_a:15001"
}
capture_on()  { in_ns a iptables -t nat -C OUTPUT -j AMBJ_OUTPUT 2>/dev/null || in_ns a iptables -t nat -A OUTPUT -j AMBJ_OUTPUT; }
capture_off() { while in_ns a iptables -t nat -D OUTPUT -j AMBJ_OUTPUT 2>/dev/null; do :; done; }

topology_down() {
  local p
  for p in a b w cs br; do
    if ip netns list | grep -qw "$(ns "$p")"; then
      # processes still inside (should be none) would keep the namespace's sockets alive
      ip netns pids "$(ns "$p")" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$(ns "$p")" 2>/dev/null || true    # its veths and iptables rules go with it
    fi
  done
}

# ---- the mesh, as a user would write it ----------------------------------------------------
noisy_annotations_yaml() { # "k=v,k=v" -> 'k: "v", k: "v"'
  local kv out=""
  IFS=, read -r -a kvs <<<"$noisy_annotations"
  for kv in "${kvs[@]}"; do
    [ -n "$kv" ] && out="${out:+$out, }${kv%%=*}: \"${kv#*=}\""
  done
  echo "$out"
}

write_mesh() {
  cat >"$work/mesh.yaml" <<EOF
# Generated by perf/bench/run.sh. node-a: pod client-0 ($ip_a); node-b: pod server-0 ($ip_b);
# node-w: the waypoint pod ($ip_w), no ztunnel there (dataplane-mode none).
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 10.99.1.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 10.99.1.2}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-w}
status: {addresses: [{type: InternalIP, address: 10.99.1.3}]}
---
apiVersion: v1
kind: Namespace
metadata:
  name: bench
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: bench}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: server, namespace: bench}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: noisy, namespace: bench}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bench-waypoint, namespace: bench}
---
apiVersion: v1
kind: Pod
metadata:
  name: client-0
  namespace: bench
  labels: {app: client}
spec:
  nodeName: node-a
  serviceAccountName: client
  containers: [{name: client, image: bench/client}]
status: {phase: Running, podIP: $ip_a, podIPs: [{ip: $ip_a}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: client-1
  namespace: bench
  labels: {app: noisy}
  annotations: {$(noisy_annotations_yaml)}
spec:
  nodeName: node-a
  serviceAccountName: noisy
  containers: [{name: client, image: bench/client}]
status: {phase: Running, podIP: $ip_n, podIPs: [{ip: $ip_n}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo-noisy, namespace: bench}
spec:
  clusterIP: $vip_noisy
  selector: {app: server}
  ports:
  - {name: http, port: 80, targetPort: $http_port}
---
apiVersion: v1
kind: Pod
metadata:
  name: server-0
  namespace: bench
  labels: {app: server}
spec:
  nodeName: node-b
  serviceAccountName: server
  containers:
  - name: server
    image: bench/server
    ports: [{name: http, containerPort: $http_port}, {name: iperf, containerPort: $iperf_port}]
status: {phase: Running, podIP: $ip_b, podIPs: [{ip: $ip_b}]}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: bench}
spec:
  clusterIP: $vip_l4
  selector: {app: server}
  ports:
  - {name: http, port: 80, targetPort: $http_port}
  - {name: tcp-iperf, port: $iperf_port, targetPort: $iperf_port}
---
apiVersion: v1
kind: Service
metadata:
  name: echo-wp
  namespace: bench
  labels: {istio.io/use-waypoint: bench-waypoint}
spec:
  clusterIP: $vip_l7
  selector: {app: server}
  ports:
  - {name: http, port: 80, targetPort: $http_port}
  - {name: tcp-iperf, port: $iperf_port, targetPort: $iperf_port}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: bench-waypoint
  namespace: bench
  labels: {istio.io/waypoint-for: service}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: IPAddress, value: $vip_wp}]
---
apiVersion: v1
kind: Pod
metadata:
  name: bench-waypoint-0
  namespace: bench
  labels: {gateway.networking.k8s.io/gateway-name: bench-waypoint, istio.io/dataplane-mode: none}
spec:
  nodeName: node-w
  serviceAccountName: bench-waypoint
  containers: [{name: istio-proxy, image: bench/waypoint, ports: [{name: mesh, containerPort: 15008}]}]
status: {phase: Running, podIP: $ip_w, podIPs: [{ip: $ip_w}]}
---
apiVersion: v1
kind: Service
metadata:
  name: bench-waypoint
  namespace: bench
  labels: {gateway.networking.k8s.io/gateway-name: bench-waypoint}
spec:
  clusterIP: $vip_wp
  selector: {gateway.networking.k8s.io/gateway-name: bench-waypoint}
  ports: [{name: mesh, port: 15008, targetPort: 15008, appProtocol: HBONE}]
EOF
}

# ---- backends and peers --------------------------------------------------------------------
write_nginx() {
  mkdir -p "$work/www" "$work/nginx"
  head -c 1024 /dev/zero | tr '\0' 'x' >"$work/www/1k"
  chmod -R a+rX "$work/www"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $out/logs/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  default_type application/octet-stream;
  server {
    listen $ip_b:$http_port reuseport backlog=4096;
    root $work/www;
  }
}
EOF
}

write_haproxy() {
  local d="$work/haproxy"
  mkdir -p "$d"
  # A private CA and two leaf certificates (EC P-256, as ztunnel's), made fresh per run.
  (
    cd "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj /CN=bench-ca -out ca.pem 2>/dev/null
    for who in haproxy-a haproxy-b; do
      openssl ecparam -name prime256v1 -genkey -noout -out "$who.key" 2>/dev/null
      openssl req -new -key "$who.key" -subj "/CN=$who" -out "$who.csr" 2>/dev/null
      printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$who" >"$who.ext"
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -sha256 -extfile "$who.ext" -out "$who.crt" 2>/dev/null
      cat "$who.crt" "$who.key" >"$who.pem"
    done
  ) || die "openssl failed"
  local tls="ssl-min-ver TLSv1.3 ca-file $d/ca.pem verify required"
  cat >"$d/a.cfg" <<EOF
global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend http_in
  bind 127.0.0.1:18080
  default_backend http_out
backend http_out
  server b $ip_b:18443 ssl crt $d/haproxy-a.pem $tls sni str(haproxy-b) verifyhost haproxy-b
frontend iperf_in
  bind 127.0.0.1:15201
  default_backend iperf_out
backend iperf_out
  server b $ip_b:25201 ssl crt $d/haproxy-a.pem $tls sni str(haproxy-b) verifyhost haproxy-b
EOF
  cat >"$d/b.cfg" <<EOF
global
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend http_tls
  bind $ip_b:18443 ssl crt $d/haproxy-b.pem $tls
  default_backend http_app
backend http_app
  server app $ip_b:$http_port
frontend iperf_tls
  bind $ip_b:25201 ssl crt $d/haproxy-b.pem $tls
  default_backend iperf_app
backend iperf_app
  server app $ip_b:$iperf_port
EOF
}

# start NAME NS CPU CMD... — runs CMD inside pod NS pinned to CPU; records its pid as NAME.
declare -A pid_of
start() {
  local name="$1" pod="$2" cpu="$3"; shift 3
  # not through in_ns: a backgrounded function would be a subshell, and $! its pid
  ip netns exec "$(ns "$pod")" taskset -c "$cpu" "$@" >"$out/logs/$name.log" 2>&1 &
  pid_of[$name]=$!
  pids+=("$!")
}

wait_tcp() { # wait_tcp POD HOST PORT NAME — until HOST:PORT accepts (60 s), else fail
  local i
  for i in $(seq 1 300); do
    kill -0 "${pid_of[$4]}" 2>/dev/null || die "$4 exited during start-up (see $out/logs/$4.log)"
    if in_ns "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  die "$4 did not listen on $2:$3 within 60 s (see $out/logs/$4.log)"
}

# The proxies start as a user starts them: through ./mesh (this tree's), so its per-subcommand JVM
# defaults apply (MESH_JVM_DEFAULTS=0 leaves them out), then MESH_JAVA_OPTS; MESH_JARS points it
# at the private copy of the jars. ./mesh ends in `exec java`, so the pid stays the JVM's.
# With BENCH_NMT=1 the JVMs also track native memory (summary: a few bytes per malloc); ./mesh
# reads MESH_JAVA_OPTS from the environment.
mesh_java_opts() {
  local opts="${user_java_opts:-}"
  [ "$nmt" = 1 ] && opts="${opts:+$opts }-XX:NativeMemoryTracking=summary"
  echo "$opts"
}
mesh_cmd() { echo env MESH_JARS="$work/jars" JAVA_HOME="$jdk" "$root/mesh"; }

# The configuration flags of a proxy on NODE: the mesh file (--control file) or the config
# server's xDS and CA with the node's token (--control xds, as daemonset-manifests/ do; plaintext
# 15010 on the bench's private bridge, where the manifests use TLS on 15012).
config_args() {
  if [ "$control" = xds ]; then
    echo --xds "$ip_cs:15010" --ca-address "$ip_cs:15010" \
      --ca-token-file "$work/state-cs/node-tokens/$1.token" --state-dir "$work/state-$1"
  else
    echo --config "$work/mesh.yaml" --state-dir "$work/state"
  fi
}

# ztunnel NAME POD NODE [ARGS...] — starts (or restarts) one ztunnel
start_ztunnel() {
  local name="$1" pod="$2" node="$3" cpu; shift 3
  cpu="$([ "$pod" = a ] && echo "$cpu_a" || echo "$cpu_b")"
  local aot=()
  [ "$aot_cache" = 1 ] && aot=(env MESH_AOT_CACHE="$work/aot-$name.aot")
  # shellcheck disable=SC2046,SC2086
  start "$name" "$pod" "$cpu" "${aot[@]}" $(mesh_cmd) ztunnel $(config_args "$node") --node "$node" \
    --admin-address 127.0.0.1 ${BENCH_ZTUNNEL_ARGS:-} "$@"
}

# restart_ztunnels [ARGS...] — stops both ztunnels (SIGTERM; a JVM training its AOT cache writes
# it on the way out, which takes a while) and starts them again with ARGS, waiting until ready.
restart_ztunnels() {
  local name pid i
  for name in ztunnel-a ztunnel-b; do
    pid="${pid_of[$name]}"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  start_ztunnel ztunnel-a a node-a "$@"
  wait_tcp a 127.0.0.1 15021 ztunnel-a
  start_ztunnel ztunnel-b b node-b "$@"
  wait_tcp b 127.0.0.1 15021 ztunnel-b
  await_ready a
  await_ready b
}

# BENCH_AOT=1: both ztunnels train an AOT cache (./mesh's MESH_AOT_CACHE) on the warm-up traffic
# of (b), then restart from it; the idle figures are taken after that restart.
train_aot() {
  local url="http://${target_http[b]}/1k"
  log "AOT cache: training both ztunnels on (b) traffic (${t_warm_first} s), then restarting from it"
  capture_on
  load $((t_warm_first + 10)) h2load --h1 -t 1 -c "$max_clients" -D "$t_warm_first" "$url" \
    >"$out/raw/aot-training-h2load.txt" 2>&1 || true
  load $((t_conn + 10)) wrk -t 1 -c "$conn_clients" -d "${t_conn}s" --timeout 2s -H 'Connection: close' \
    "$url" >"$out/raw/aot-training-wrk.txt" 2>&1 || true
  load $((t_warm_first + 10)) iperf3 -c "${target_iperf[b]%:*}" -p "$iperf_port" -P 2 -t 2 \
    --connect-timeout 3000 >"$out/raw/aot-training-iperf.txt" 2>&1 || true
  capture_off
  restart_ztunnels
  ls -l "$work"/aot-ztunnel-*.aot >"$out/raw/aot-caches.txt" 2>&1 || log "warning: no AOT cache was written"
}

await_ready() { # await_ready POD — ready = certificates issued, config applied
  local i
  for i in $(seq 1 60); do
    in_ns "$1" timeout 2 curl -fsS -o /dev/null "http://127.0.0.1:15021/healthz/ready" 2>/dev/null && return 0
    sleep 0.5
  done
  log "warning: ztunnel-$1 /healthz/ready did not answer 200 within 30 s"
}

start_all() {
  # A private copy of the jars: a build elsewhere replacing them must not reach running JVMs.
  mkdir -p "$work/jars"
  cp "$jar_dir/launcher.jar" "$work/jars/"
  cp -r "$jar_dir/lib" "$work/jars/lib"

  start nginx b "$load_cpu" nginx -c "$work/nginx/nginx.conf"
  start iperf3-server b "$load_cpu" iperf3 -s -B "$ip_b" -p "$iperf_port"
  wait_tcp b "$ip_b" "$http_port" nginx
  wait_tcp b "$ip_b" "$iperf_port" iperf3-server

  if [ "$control" = xds ]; then
    # The control plane, in a pod of its own with the load: xDS and the CA (root and node tokens
    # in its state dir). Plain JVM flags: ./mesh has proxy defaults only for the proxies.
    # shellcheck disable=SC2046
    start config-server cs "$load_cpu" $(mesh_cmd) config-server --config "$work/mesh.yaml" \
      --state-dir "$work/state-cs" --listen "$ip_cs:15010"
    wait_tcp cs "$ip_cs" 15010 config-server
    local i
    for i in $(seq 1 100); do [ -f "$work/state-cs/node-tokens/node-w.token" ] && break; sleep 0.1; done
  fi
  # ztunnel-a first: with --control file it creates the shared CA root the others then read.
  start_ztunnel ztunnel-a a node-a
  wait_tcp a 127.0.0.1 15021 ztunnel-a     # (probing 15008 itself would log a failed handshake)
  start_ztunnel ztunnel-b b node-b
  # shellcheck disable=SC2046
  start waypoint w "$cpu_w" $(mesh_cmd) waypoint $(config_args node-w) \
    --name bench-waypoint --namespace bench ${BENCH_WAYPOINT_ARGS:-}
  start haproxy-b b "$cpu_b" haproxy -db -f "$work/haproxy/b.cfg"
  start haproxy-a a "$cpu_a" haproxy -db -f "$work/haproxy/a.cfg"
  wait_tcp b 127.0.0.1 15021 ztunnel-b
  wait_tcp w "$ip_w" 15020 waypoint        # its metrics port opens after HBONE 15008
  wait_tcp b "$ip_b" 18443 haproxy-b
  wait_tcp a 127.0.0.1 18080 haproxy-a
  await_ready a
  await_ready b
}

# nmt PREFIX NAME... — the native-memory breakdown of each JVM NAME (BENCH_NMT=1), by jcmd on the
# load CPU, into PREFIX-NAME.txt. Attaching costs the JVM an attach-listener thread once.
is_jvm() { case "$1" in ztunnel-*|waypoint|config-server) return 0 ;; *) return 1 ;; esac; }
nmt() {
  [ "$nmt" = 1 ] || return 0
  local prefix="$1" name; shift
  for name in "$@"; do
    is_jvm "$name" || continue
    timeout 20 taskset -c "$load_cpu" "$jdk/bin/jcmd" "${pid_of[$name]}" VM.native_memory summary \
      >"$prefix-$name.txt" 2>&1 || true
  done
}

# ---- measurement ---------------------------------------------------------------------------
# snap FILE NAME... — wall clock, then per process: name, utime+stime (ticks), VmRSS, VmHWM (KiB)
snap() {
  local f="$1" name pid stat; shift
  {
    echo "time $(date +%s.%N)"
    for name in "$@"; do
      pid="${pid_of[$name]}"
      stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || { echo "$name dead"; continue; }
      stat="${stat##*) }"                       # fields from 3 on; comm may hold spaces
      read -r -a f3 <<<"$stat"
      echo "$name $(( f3[11] + f3[12] )) $(awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print r, h}' "/proc/$pid/status")"
    done
  } >"$f"
}

declare -A target_http target_iperf procs captured
target_http[a]="$ip_b:$http_port";  target_iperf[a]="$ip_b:$iperf_port"; procs[a]="";                          captured[a]=0
target_http[b]="$vip_l4:80";        target_iperf[b]="$vip_l4:$iperf_port"; procs[b]="ztunnel-a ztunnel-b";       captured[b]=1
target_http[c]="$vip_l7:80";        target_iperf[c]="$vip_l7:$iperf_port"; procs[c]="ztunnel-a waypoint ztunnel-b"; captured[c]=1
target_http[d]="127.0.0.1:18080";   target_iperf[d]="127.0.0.1:15201";     procs[d]="haproxy-a haproxy-b";       captured[d]=0

load() { local secs="$1"; shift; timeout "$secs" ip netns exec "$(ns a)" taskset -c "$load_cpu" "$@"; }   # load SECS CMD: the load generator, in pod A, on its own core

measure() { # measure CONFIG RUN
  local c="$1" r="$2" d="$out/raw/run$2/$1"
  local url="http://${target_http[$c]}/1k" ih="${target_iperf[$c]%:*}" ip="${target_iperf[$c]#*:}"
  # shellcheck disable=SC2206
  local p=(${procs[$c]})
  mkdir -p "$d"
  if [ "${captured[$c]}" = 1 ]; then capture_on; else capture_off; fi
  local warm=$(( r == 1 ? t_warm_first : t_warm ))
  log "run $r/$runs config ($c): warm-up ${warm} s"
  load $((warm + 10)) h2load --h1 -t 1 -c "$max_clients" -D "$warm" "$url" >"$d/warmup.txt" 2>&1 || true
  # The bulk path (large reads, flow-control windows) is other code than the request path: left
  # cold, the first run's iperf3 figure measured the JIT compiling it on the proxies' own core.
  load $((warm + 10)) iperf3 -c "$ih" -p "$ip" -P 2 -t "$(( (warm + 1) / 2 ))" --connect-timeout 3000 \
    >"$d/warmup-iperf.txt" 2>&1 || true
  snap "$d/idle-before.snap" "${p[@]}"

  log "run $r/$runs config ($c): HTTP/1.1 1 KiB at $rate rps (open loop)"
  snap "$d/rate-0.snap" "${p[@]}"
  load $((t_rate + 15)) h2load --h1 -t 1 -c "$rate_clients" --rps "$((rate / rate_clients))" \
    -D "$t_rate" --log-file "$d/rate.log" "$url" >"$d/rate.txt" 2>&1 || true
  snap "$d/rate-1.snap" "${p[@]}"
  nmt "$d/nmt-rate" "${p[@]}"

  log "run $r/$runs config ($c): maximum request rate ($max_clients connections)"
  snap "$d/max-0.snap" "${p[@]}"
  load $((t_max + 15)) h2load --h1 -t 1 -c "$max_clients" -D "$t_max" "$url" >"$d/max.txt" 2>&1 || true
  snap "$d/max-1.snap" "${p[@]}"
  nmt "$d/nmt-max" "${p[@]}"

  log "run $r/$runs config ($c): new connections (one request each)"
  snap "$d/conn-0.snap" "${p[@]}"
  load $((t_conn + 15)) wrk -t 1 -c "$conn_clients" -d "${t_conn}s" --timeout 2s \
    -H 'Connection: close' "$url" >"$d/conn.txt" 2>&1 || true
  snap "$d/conn-1.snap" "${p[@]}"
  nmt "$d/nmt-conn" "${p[@]}"
  log "run $r/$runs config ($c): iperf3 1 and 4 streams (last: a stream reset by iperf3 must not touch the HTTP figures)"
  local n
  for n in 1 4; do
    snap "$d/iperf$n-0.snap" "${p[@]}"
    load $((t_iperf + t_omit + 15)) iperf3 -c "$ih" -p "$ip" -P "$n" -t "$t_iperf" -O "$t_omit" \
      --connect-timeout 3000 -J >"$d/iperf$n.json" 2>"$d/iperf$n.err" || true
    snap "$d/iperf$n-1.snap" "${p[@]}"
  done
  nmt "$d/nmt-iperf" "${p[@]}"
  if [ "$c" = b ] && [ "$noisy" != off ] && [ "${fairness_mode:-on}" = on ]; then
    noisy_steps "$d/noisy-on"
  fi

  capture_off
  sleep 1    # let TIME_WAIT and the proxies settle before the next figure
}

# noisy_steps DIR — client-0's fixed rate (as the rate step) alone, then beside client-1's
# maximum-rate flood (h2load, 32 connections), then beside its connection storm (wrk, 16
# connections, one request each). Both pods are captured by ztunnel-a (their own 15001).
noisy_steps() {
  local d="$1" url="http://${target_http[b]}/1k" nurl="http://$vip_noisy/1k" step bg
  mkdir -p "$d"
  capture_on
  for step in alone flood storm; do
    log "noisy neighbour ($(basename "$d")): client-0 at $rate rps, client-1: $step"
    bg=""
    case "$step" in
      flood) load $((t_rate + 20)) h2load --h1 -t 1 -c "$max_clients" -D $((t_rate + 3)) "$nurl" \
               >"$d/noisy-$step.txt" 2>&1 & bg=$! ;;
      storm) load $((t_rate + 20)) wrk -t 1 -c "$conn_clients" -d "$((t_rate + 3))s" --timeout 2s \
               -H 'Connection: close' "$nurl" >"$d/noisy-$step.txt" 2>&1 & bg=$! ;;
    esac
    [ -n "$bg" ] && sleep 1
    snap "$d/$step-0.snap" ztunnel-a ztunnel-b
    load $((t_rate + 15)) h2load --h1 -t 1 -c "$rate_clients" --rps "$((rate / rate_clients))" \
      -D "$t_rate" --log-file "$d/$step.log" "$url" >"$d/$step.txt" 2>&1 || true
    snap "$d/$step-1.snap" ztunnel-a ztunnel-b
    [ -n "$bg" ] && { wait "$bg" || true; }
    nmt "$d/nmt-$step" ztunnel-a ztunnel-b
    sleep 1
  done
  for step in a b; do   # what ztunnel refused and why, per pod
    in_ns "$step" timeout 5 curl -fsS "http://127.0.0.1:15020/metrics" 2>/dev/null \
      | grep -E '^ambientj_(fairness_refused|connections_refused)_total' >"$d/refused-ztunnel-$step.txt" || true
  done
  capture_off
}

# The ztunnels again with --fairness off (the "off" half of --noisy both): warmed as a run's first
# configuration is, then the noisy steps of every run.
fairness_off_pass() {
  local r
  log "restarting ztunnel-a and ztunnel-b with --fairness off"
  fairness_mode=off
  restart_ztunnels --fairness off
  capture_on
  load $((t_warm_first + 10)) h2load --h1 -t 1 -c "$max_clients" -D "$t_warm_first" \
    "http://${target_http[b]}/1k" >"$out/raw/fairness-off-warmup.txt" 2>&1 || true
  capture_off
  for r in $(seq 1 "$runs"); do
    noisy_steps "$out/raw/run$r/b/noisy-off"
  done
}

machine() {
  {
    echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
    echo "cores $(nproc)"
    echo "kernel $(uname -r)"
    echo "jdk $("$java" -version 2>&1 | head -n 2 | tail -n 1)"
    echo "loadavg_start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit $jar_commit"
    echo "haproxy $(haproxy -v | head -n 1 | cut -d' ' -f3)"
    echo "nginx $(nginx -v 2>&1 | cut -d/ -f2)"
    echo "iperf3 $(iperf3 --version | head -n 1 | cut -d' ' -f2)"
    echo "h2load $(h2load --version | cut -d/ -f2)"
    echo "wrk $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f2)"
    echo "mesh_java_opts ${user_java_opts:-}"
    echo "mesh_jvm_defaults ${MESH_JVM_DEFAULTS:-1}"
    local cmd flags
    cmd="$(MESH_DRY_RUN=1 MESH_JARS="$jar_dir" JAVA_HOME="$jdk" MESH_JAVA_OPTS="$(mesh_java_opts)" "$root/mesh" ztunnel)"
    flags="$(sed -e 's/^.*bin\/java //' -e 's/ -cp .*$//' <<<"$cmd")"
    echo "jvm_command_ztunnel $(sed -e 's/ -cp .*$//' -e "s|$jdk/bin/||" <<<"$cmd")"
    echo "jvm_command_waypoint $(MESH_DRY_RUN=1 MESH_JARS="$jar_dir" JAVA_HOME="$jdk" MESH_JAVA_OPTS="$(mesh_java_opts)" "$root/mesh" waypoint \
      | sed -e 's/ -cp .*$//' -e "s|$jdk/bin/||")"
    echo "ztunnel_args ${BENCH_ZTUNNEL_ARGS:-}"
    echo "waypoint_args ${BENCH_WAYPOINT_ARGS:-}"
    # what the JVM picks for itself when pinned to one CPU (the proxies' case)
    # shellcheck disable=SC2086
    echo "jvm_ergonomics $(taskset -c "$proxy_cpu" "$java" $flags -XX:+PrintFlagsFinal -version 2>/dev/null \
      | awk '$2 ~ /^Use(Serial|G1|Parallel|Z)GC$/ && $4 == "true" {gc=$2} $2 == "MaxHeapSize" {h=$4} $2 == "ActiveProcessorCount" {} END {printf "%s, max heap %d MiB (1 CPU visible)", gc, h/1048576}')"
    echo "proxy_cpu $proxy_cpu"
    echo "load_cpu $load_cpu"
    echo "runs $runs"
    echo "quick $quick"
    echo "rate $rate"
    echo "durations warm=$t_warm (first run $t_warm_first) iperf=$t_iperf omit=$t_omit rate=$t_rate max=$t_max conn=$t_conn"
    echo "clients rate=$rate_clients max=$max_clients conn=$conn_clients"
    echo "configs $configs"
    echo "control $control"
    echo "cpu_mode $cpu_mode"
    echo "cpus ztunnel-a/haproxy-a=$cpu_a ztunnel-b/haproxy-b=$cpu_b waypoint=$cpu_w load=$load_cpu"
    echo "nmt $nmt"
    echo "aot $aot_cache"
    echo "noisy $noisy"
    echo "noisy_annotations $noisy_annotations"
  } >"$out/raw/machine.txt"
}

# ---- main ----------------------------------------------------------------------------------
began=$(date +%s)
topology_down                   # leftovers of a killed run
machine
write_mesh
write_nginx
write_haproxy
cp "$work/mesh.yaml" "$out/raw/mesh.yaml"
topology_up
log "topology up: namespaces $(ns a) $(ns b) $(ns w) on bridge $(ns br)/br0; starting processes"
export MESH_JAVA_OPTS="$(mesh_java_opts)"   # for every JVM started through ./mesh from here on
start_all
[ "$aot_cache" = 1 ] && train_aot
all_procs=(ztunnel-a ztunnel-b waypoint haproxy-a haproxy-b)
[ "$control" = xds ] && all_procs+=(config-server)
sleep 2
snap "$out/raw/idle-start.snap" "${all_procs[@]}"
sleep 5                         # idle CPU: timers, pools, GC with no traffic at all
snap "$out/raw/idle-start2.snap" "${all_procs[@]}"
nmt "$out/raw/nmt-idle-start" "${all_procs[@]}"
for r in $(seq 1 "$runs"); do
  for c in ${configs//,/ }; do
    case "$c" in a|b|c|d) measure "$c" "$r" ;; *) die "unknown config $c" ;; esac
  done
done
sleep 3
snap "$out/raw/idle-end.snap" "${all_procs[@]}"
nmt "$out/raw/nmt-idle-end" "${all_procs[@]}"
if [ "$noisy" = both ] && [[ ",$configs," == *,b,* ]]; then
  fairness_off_pass
fi
echo "loadavg_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/raw/machine.txt"
echo "elapsed_s $(( $(date +%s) - began ))" >>"$out/raw/machine.txt"

python3 "$here/report.py" "$out" || die "report.py failed"
"$java" -Djava.awt.headless=true "$here/Chart.java" "$out/chart.tsv" "$out/chart.png" || log "warning: the chart was not drawn"
gzip -qf "$out"/logs/*.log 2>/dev/null || true   # access logs: tens of MB per run
ln -sfn "$out" "$root/perf/results/latest" 2>/dev/null || true
log "done in $(( $(date +%s) - began )) s: $out/report.md, report.json, chart.png"
