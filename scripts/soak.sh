#!/usr/bin/env bash
# Soak: the metric GET over TLS (client certificate, through the authentication gate) at a
# fixed rate for a long run against the real binary (`tidecast demo --services N`, every
# refresh loop running in real time), counting non-200 answers and sampling the server's
# RSS every 10 s. RSS is judged after the first minute (allocator warm-up): flat means the
# last sample within 5 % of the first. Too long for the default test run; docs/benchmarks.md
# records its result.
# Usage: scripts/soak.sh [TARGETS] [RATE_PER_SECOND] [SECONDS] [CONNECTIONS]
#        (default 1000 targets, 2000/s, 600 s, 16 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-1000}; rate=${2:-2000}; secs=${3:-600}; conns=${4:-16}
command -v oha >/dev/null || { echo "needs oha: cargo install oha --locked"; exit 2; }
source scripts/common.sh
bin=${BIN:-$(tidecast_bin release)}
dir=$(mktemp -d); port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" demo --services "$targets" --no-board --speed 1 --start now --port "$port" --dir "$dir" > "$dir/out" 2> "$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; kill $sampler 2>/dev/null || true' EXIT
sampler=
url="https://127.0.0.1:$port"
tls=(--cacert "$dir/ca.crt" --cert "$dir/client.crt" --key "$dir/client.key")
t0=$(date +%s)
until [[ $(fresh_targets "$url" "${tls[@]}") -ge $targets ]]; do
  sleep 2
  (( $(date +%s) - t0 < 900 )) || { echo "targets not all fresh after 900 s"; exit 1; }
done
echo "targets: $targets fitted and fresh after $(( $(date +%s) - t0 )) s"
path="/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3Dsvc-$(printf %05d $(( targets / 2 )))"
curl -s "${tls[@]}" "$url$path" | grep -q '"items":\[{' || { echo "the soaked GET returns no item"; exit 1; }
( while kill -0 $pid 2>/dev/null; do
    awk '$1 == "VmRSS:" {printf "%d %.1f\n", systime(), $2/1024}' /proc/$pid/status
    sleep 10
  done > "$dir/rss" ) &
sampler=$!
oha --no-tui -z "${secs}s" -c "$conns" -q "$rate" --latency-correction "${tls[@]}" \
  -H 'Accept: application/json' "$url$path" > "$dir/oha.txt"
kill $sampler 2>/dev/null || true
grep -E "Success rate|Requests/sec|99.00% in|Total:" "$dir/oha.txt" | sed 's/^ */  /'
echo "  status codes:"; sed -n '/Status code distribution/,/^$/p' "$dir/oha.txt" | tail -n +2 | sed 's/^ */    /'
# oha lists status codes as "[200] N responses" and failed requests as "[N] error text";
# "aborted due to deadline" are the requests in flight when the run's time is up (oha's
# own stop, not an answer), left out.
errors=$(sed -n '/Error distribution/,/^$/p' "$dir/oha.txt" | tail -n +2 | { grep -v 'aborted due to deadline' || true; } \
  | awk '{gsub(/[][]/, "", $1); s += $1} END {print s + 0}')
non200=$(sed -n '/Status code distribution/,/^$/p' "$dir/oha.txt" | tail -n +2 | awk '$1 != "[200]" {s += $2} END {print s + 0}')
python3 - "$dir/rss" "$errors" "$non200" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
errors, non200 = int(sys.argv[2]), int(sys.argv[3])
t0 = rows[0][0]
after = [r for r in rows if r[0] - t0 >= 60]
first, last = after[0][1], after[-1][1]
lo, hi = min(r[1] for r in after), max(r[1] for r in after)
drift = (last - first) / first * 100
print(f"  RSS after the first minute: {first:.1f} -> {last:.1f} MiB ({drift:+.1f} %), range {lo:.1f}..{hi:.1f} MiB over {len(after)} samples")
print(f"  connection errors {errors}, non-200 answers {non200}")
ok = errors == 0 and non200 == 0 and abs(drift) <= 5
print("  soak: " + ("passed" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
