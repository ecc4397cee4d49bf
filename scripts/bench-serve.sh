#!/usr/bin/env bash
# Metric GET over TLS with N targets loaded (default 10,000), driven by `oha` (crates.io) at a
# fixed rate with latency correction (no coordinated omission); reports latency percentiles,
# throughput, the server's own handler histogram and its RSS.
# The server is the real binary: `tidecast demo --services N` fits one model per synthetic
# service, runs every refresh loop in real time, and serves from memory.
# Usage: scripts/bench-serve.sh [TARGETS] [RATE_PER_SECOND] [SECONDS] [CONNECTIONS]
# Env: SERVER_CPUS / CLIENT_CPUS (taskset lists, e.g. 0 and 1) pin the server and the load
# generator to separate cores; unset, both share every core.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-10000}; rate=${2:-5000}; secs=${3:-30}; conns=${4:-16}
command -v oha >/dev/null || { echo "needs oha: cargo install oha --locked"; exit 2; }
cargo build -q --release -p tidecast
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/tidecast
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pin_server=(); pin_client=()
[[ -n ${SERVER_CPUS:-} ]] && pin_server=(taskset -c "$SERVER_CPUS")
[[ -n ${CLIENT_CPUS:-} ]] && pin_client=(taskset -c "$CLIENT_CPUS")
"${pin_server[@]}" "$bin" demo --services "$targets" --speed 1 --start now --port "$port" --dir "$dir" > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
url="https://127.0.0.1:$port"
t0=$(date +%s)
until [[ $(curl -s --cacert "$dir/ca.crt" "$url/metrics" | grep -c 'tidecast_target_state{.*state="fresh"} 1') -ge $targets ]]; do
  sleep 2
  (( $(date +%s) - t0 < 900 )) || { echo "targets not all fresh after 900 s"; exit 1; }
done
echo "targets: $targets fitted and fresh after $(( $(date +%s) - t0 )) s"
rss() { awk -v f="$1" '$1 == f":" {printf "%.0f", $2/1024}' /proc/$pid/status; }
echo "server RSS with $targets targets loaded: $(rss VmRSS) MiB (peak so far $(rss VmHWM) MiB)"
path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dsvc-$(printf %05d $(( targets / 2 )))"
curl -s --cacert "$dir/ca.crt" "$url$path" | tee "$dir/one.json"; echo
grep -q '"items":\[{' "$dir/one.json" || { echo "the benchmarked GET returns no item"; exit 1; }
hist() { curl -s --cacert "$dir/ca.crt" "$url/metrics" | grep 'tidecast_http_request_duration_seconds_bucket{.*path="/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"' ; }
hist > "$dir/before.txt"
"${pin_client[@]}" oha --no-tui -z "${secs}s" -c "$conns" -q "$rate" --latency-correction \
  --cacert "$dir/ca.crt" -H 'Accept: application/json' "https://localhost:$port$path" > "$dir/oha.txt"
hist > "$dir/after.txt"
sed -n '/Summary/,/Details/p' "$dir/oha.txt" | grep -vE "^\s*$|Latency distribution|Response time histogram" | grep -vE "^\s+[0-9.]+ ms \[" || true
grep -A3 "Status code distribution" "$dir/oha.txt" | grep -v "^Status code distribution" || true
echo "server-side handler time (metric GETs during the run, cumulative):"
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
echo "server RSS after the run: $(rss VmRSS) MiB (peak $(rss VmHWM) MiB)"
ticks() { awk '{print $14 + $15}' /proc/$pid/task/*/stat 2>/dev/null | paste -sd+ | bc; }
# The floor of this setup: the same load on /healthz (TLS + HTTP, no lookup), for comparison.
c0=$(ticks)
"${pin_client[@]}" oha --no-tui -z "${secs}s" -c "$conns" -q "$rate" --latency-correction \
  --cacert "$dir/ca.crt" "https://localhost:$port/healthz" > "$dir/oha-healthz.txt"
c1=$(ticks)
echo "same load on /healthz: p50 $(grep -E '50.00% in' "$dir/oha-healthz.txt" | awk '{print $3, $4}'), p99 $(grep -E '99.00% in' "$dir/oha-healthz.txt" | awk '{print $3, $4}'); server CPU $(( (c1 - c0) * 100 / $(getconf CLK_TCK) / secs )) % of a core"
