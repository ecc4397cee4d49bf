#!/usr/bin/env bash
# Metric GET over TLS with N targets loaded (default 10,000), driven by `hey` (Debian's
# package) at a fixed rate; reports latency percentiles, throughput and the server's RSS.
# The server is the real binary: `tidecast demo --services N` fits one model per synthetic
# service, runs every refresh loop in real time, and serves from memory.
# Usage: scripts/bench-serve.sh [TARGETS] [RATE_PER_SECOND] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-10000}; rate=${2:-5000}; secs=${3:-30}
command -v hey >/dev/null || { echo "needs hey: apt-get install -y hey"; exit 2; }
cargo build -q --release -p tidecast
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/tidecast
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" demo --services "$targets" --speed 1 --start now --port "$port" --dir "$dir" > "$dir/out" 2> "$dir/err" &
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
path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dsvc-04242"
curl -s --cacert "$dir/ca.crt" "$url$path"; echo
workers=50
# `-host localhost`: Debian's hey 0.1.4 otherwise sends "localhost:PORT" as the TLS server
# name, which rustls rightly rejects as an illegal SNI hostname.
hey -z "${secs}s" -c $workers -q $(( rate / workers )) -host localhost -A 'application/vnd.kubernetes.protobuf, */*' "https://localhost:$port$path" > "$dir/hey.txt"
grep -E "Requests/sec|Total:|Slowest|Fastest|Average|50%|90%|95%|99%|\[[0-9]+\]" "$dir/hey.txt"
echo "server RSS after the run: $(rss VmRSS) MiB (peak $(rss VmHWM) MiB)"
