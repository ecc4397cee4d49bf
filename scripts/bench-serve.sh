#!/usr/bin/env bash
# Metric GET over TLS with N targets loaded (default 10,000), driven by `oha` (crates.io) at a
# fixed rate with latency correction (no coordinated omission); reports latency percentiles,
# throughput, the CPU the server spends per request (nginx's too, when installed), the
# server's own handler histogram and its RSS.
# The server is the real binary: `tidecast demo --services N` fits one model per synthetic
# service, runs every refresh loop in real time, and serves from memory.
# Usage: scripts/bench-serve.sh [TARGETS] [RATE_PER_SECOND] [SECONDS] [CONNECTIONS]
# Env: ROUNDS=N alternates N rounds of the metric GET, /healthz and (if installed) nginx.
# Env: OHA_ARGS adds generator options, e.g. "--worker-threads 1".
# Env: SERVER_CPUS / CLIENT_CPUS (taskset lists, e.g. 0 and 1) pin the server and the load
# generator to separate cores; unset, both share every core.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-10000}; rate=${2:-5000}; secs=${3:-30}; conns=${4:-16}
command -v oha >/dev/null || { echo "needs oha: cargo install oha --locked"; exit 2; }
source scripts/common.sh
bin=$(tidecast_bin release)
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pin_server=(); pin_client=()
[[ -n ${SERVER_CPUS:-} ]] && pin_server=(taskset -c "$SERVER_CPUS")
[[ -n ${CLIENT_CPUS:-} ]] && pin_client=(taskset -c "$CLIENT_CPUS")
"${pin_server[@]}" "$bin" demo --services "$targets" --no-board --speed 1 --start now --port "$port" --dir "$dir" > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
url="https://127.0.0.1:$port"
# The demo's CA, and its client certificate: the authentication gate is on.
tls=(--cacert "$dir/ca.crt" --cert "$dir/client.crt" --key "$dir/client.key")
t0=$(date +%s)
until [[ -f $dir/client.key ]] && [[ $(fresh_targets "$url" "${tls[@]}") -ge $targets ]]; do
  sleep 2
  (( $(date +%s) - t0 < 900 )) || { echo "targets not all fresh after 900 s"; exit 1; }
done
echo "targets: $targets fitted and fresh after $(( $(date +%s) - t0 )) s"
rss() { awk -v f="$1" '$1 == f":" {printf "%.0f", $2/1024}' /proc/$pid/status; }
echo "server RSS with $targets targets loaded: $(rss VmRSS) MiB (peak so far $(rss VmHWM) MiB)"
path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dsvc-$(printf %05d $(( targets / 2 )))"
curl -s "${tls[@]}" "$url$path" | tee "$dir/one.json"; echo
grep -q '"items":\[{' "$dir/one.json" || { echo "the benchmarked GET returns no item"; exit 1; }
hist() { curl -s "${tls[@]}" "$url/metrics" | grep 'tidecast_http_request_duration_seconds_bucket{.*path="/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"' ; }
# The floors of this setup, run in alternating rounds with the metric GET so the VM's drift
# hits all of them alike: `/healthz` on the same server (TLS + HTTP, no lookup) and, when
# nginx is installed (Debian's nginx-light), nginx returning the same JSON body over TLS 1.3
# with the same certificate: what an established C server gets from this machine and this
# generator at this rate.
ngx_url=""
if command -v nginx >/dev/null; then
  ngx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  body=$(sed "s/'/\\\\'/g" "$dir/one.json")
  cat > "$dir/nginx.conf" <<NGINX
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$ngx_port ssl;
    ssl_certificate $dir/tls.crt;
    ssl_certificate_key $dir/tls.key;
    ssl_protocols TLSv1.3;
    location / { default_type application/json; return 200 '$body'; }
  }
}
NGINX
  "${pin_server[@]}" nginx -c "$dir/nginx.conf"
  trap 'kill $pid 2>/dev/null || true; nginx -c "$dir/nginx.conf" -s stop 2>/dev/null || true' EXIT
  ngx_url="https://localhost:$ngx_port$path"
fi
# CPU ticks of the given processes (exited threads included): tidecast, or nginx's master and workers.
ticks() { local p t=0; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo "$t"; }
ngx_pids() { echo "$(cat "$dir/nginx.pid") $(pgrep -P "$(cat "$dir/nginx.pid")" | tr '\n' ' ')"; }
load() { # URL OUT: one run of the fixed-rate load
  "${pin_client[@]}" oha --no-tui -z "${secs}s" -c "$conns" -q "$rate" --latency-correction ${OHA_ARGS:-} \
    "${tls[@]}" -H 'Accept: application/json' "$1" > "$2"
}
pct() { grep -E "$1% in" "$2" | awk '{printf "%.2f", $3}'; }
row() { # NAME OUT TICKS_BEFORE TICKS_AFTER
  local rps; rps=$(grep Requests/sec "$2" | awk '{printf "%.0f", $2}')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$(pct 50.00 "$2")" "$(pct 90.00 "$2")" \
    "$(pct 99.00 "$2")" "$(pct 99.90 "$2")" "$rps" "$(( ($4 - $3) * 100 / $(getconf CLK_TCK) / secs ))" \
    "$(awk -v t=$(( $4 - $3 )) -v hz="$(getconf CLK_TCK)" -v n=$(( rps * secs )) 'BEGIN {printf "%.0f", 1e6 * t / hz / n}')"
}
rounds=${ROUNDS:-1}
hist > "$dir/before.txt"
echo
echo "| round: path | p50 ms | p90 ms | p99 ms | p99.9 ms | requests/s | server CPU, % of a core | server CPU per request, us |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  c0=$(ticks $pid); load "$url$path" "$dir/oha-$r.txt"; c1=$(ticks $pid)
  row "$r: metric GET" "$dir/oha-$r.txt" "$c0" "$c1"
  c0=$(ticks $pid); load "$url/healthz" "$dir/oha-healthz-$r.txt"; c1=$(ticks $pid)
  row "$r: /healthz" "$dir/oha-healthz-$r.txt" "$c0" "$c1"
  if [[ -n $ngx_url ]]; then
    # shellcheck disable=SC2046  # a list of pids
    c0=$(ticks $(ngx_pids)); load "$ngx_url" "$dir/oha-nginx-$r.txt"; c1=$(ticks $(ngx_pids))
    row "$r: nginx, same body" "$dir/oha-nginx-$r.txt" "$c0" "$c1"
  fi
done
hist > "$dir/after.txt"
if [[ -n $ngx_url ]]; then
  # The figure the target names: the metric GET's p99 over nginx's, per round, and the median.
  for r in $(seq "$rounds"); do echo "$(pct 99.00 "$dir/oha-$r.txt") $(pct 99.00 "$dir/oha-nginx-$r.txt")"; done | python3 -c '
import statistics, sys
ratios = [float(a) / float(b) for a, b in (line.split() for line in sys.stdin)]
print()
print("metric GET p99 / nginx p99 per round: " + ", ".join(f"{x:.2f}x" for x in ratios))
print(f"median round: {statistics.median(ratios):.2f}x; at or below nginx in {sum(x <= 1 for x in ratios)} of {len(ratios)} rounds")'
fi
echo
grep -A3 "Status code distribution" "$dir/oha-1.txt" | grep -v "^Status code distribution" || true
echo "server-side handler time (metric GETs during the runs, cumulative):"
paste "$dir/before.txt" "$dir/after.txt" | python3 -c '
import re, sys
rows = []
for line in sys.stdin:
    a, b = line.split("\t")
    le = re.search(r"le=\"([^\"]+)\"", a).group(1)
    rows.append((le, float(b.split()[-1]) - float(a.split()[-1])))
total = rows[-1][1]
for le, n in rows:
    if le != "+Inf" and float(le) <= 0.005:
        print(f"  <= {float(le) * 1e6:>6.0f} us: {100 * n / total:6.2f} %")
print(f"  requests: {total:.0f}")'
echo "server RSS after the runs: $(rss VmRSS) MiB (peak $(rss VmHWM) MiB)"
# New connections: TLS handshake and first request, 50 fresh curl connections each (means).
fresh() { # URL
  for _ in $(seq 50); do
    curl -s -o /dev/null "${tls[@]}" -w '%{time_connect} %{time_appconnect} %{time_total}\n' "$1"
  done | awk '{h += $2 - $1; r += $3 - $2} END {printf "TLS handshake %.2f ms, first request %.2f ms", 1000 * h / NR, 1000 * r / NR}'
}
echo "new connections, tidecast metric GET: $(fresh "$url$path")"
if [[ -n $ngx_url ]]; then echo "new connections, nginx:              $(fresh "$ngx_url")"; fi
