#!/usr/bin/env bash
# Resident memory of a whole server by target count and step: for each count, the demo fits
# every service (`--step`, `--window`), and a minute after every target is fresh its RSS is
# read. Two counts or more give the memory per target (the slope) and the fixed part, and
# so what 10,000 targets hold where fitting 10,000 takes too long for a run (5-minute
# combination targets: about 0.37 core-seconds each).
# WARM=1: the servers load their models from a store instead (the production path: the
# training job fits, servers read), written first by the demo itself for the largest count.
# Usage: [WARM=1 [STORE=DIR]] scripts/bench-memory.sh STEP WINDOW COUNT...   e.g. scripts/bench-memory.sh 5m 42d 1000 3000
set -euo pipefail
cd "$(dirname "$0")/.."
step=$1; window=$2; shift 2
source scripts/common.sh
bin=${BIN:-$(tidecast_bin release)}
dir=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start=2026-12-07T16:30:00+08:00
extra=()
if [[ ${WARM:-} == 1 ]]; then
  # STORE=DIR keeps the store for the next run (and reuses one written before).
  store=${STORE:-$dir/store}
  most=$(printf '%s\n' "$@" | sort -n | tail -1)
  if [[ ! -d $store ]]; then
    t0=$(date +%s)
    "$bin" demo --services "$most" --step "$step" --window "$window" --start "$start" \
      --write-models "$store" > /dev/null
    echo "store: $most models written in $(( $(date +%s) - t0 )) s, $(du -sh "$store" | cut -f1)"
  fi
  extra=(--models "$store")
fi
results=()
for n in "$@"; do
  port=$(free_port); rm -rf "$dir/run"; mkdir -p "$dir/run"
  t0=$(date +%s)
  "$bin" demo --services "$n" --step "$step" --window "$window" --no-board --start "$start" --speed 1 \
    --port "$port" --dir "$dir/run" "${extra[@]}" > "$dir/run/out" 2> "$dir/run/err" &
  pid=$!
  tls=(--cacert "$dir/run/ca.crt" --cert "$dir/run/client.crt" --key "$dir/run/client.key")
  until [[ -f $dir/run/client.key ]] && [[ $(fresh_targets "https://127.0.0.1:$port" "${tls[@]}") -ge $n ]]; do
    sleep 2
    kill -0 $pid 2>/dev/null || { echo "$n targets: the server exited"; tail "$dir/run/err"; exit 1; }
  done
  fresh=$(( $(date +%s) - t0 ))
  sleep 60
  rss=$(awk '$1 == "VmRSS:" {print $2}' /proc/$pid/status)
  peak=$(awk '$1 == "VmHWM:" {print $2}' /proc/$pid/status)
  fits=$(grep -c 'model refitted' "$dir/run/err" || true)
  printf '%s targets (%s %s, %s fitted here): fresh after %s s; a minute later RSS %.1f MiB (peak %.1f MiB)\n' \
    "$n" "$step" "$window" "$fits" "$fresh" "$(echo "$rss / 1024" | bc -l)" "$(echo "$peak / 1024" | bc -l)"
  results+=("$n $rss")
  kill $pid; wait $pid 2>/dev/null || true
done
printf '%s\n' "${results[@]}" | python3 -c '
import sys
pts = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
if len(pts) >= 2:
    (n0, r0), (n1, r1) = pts[0], pts[-1]
    slope = (r1 - r0) / (n1 - n0)
    fixed = r0 - slope * n0
    print(f"per target {slope:.1f} KiB, fixed {fixed / 1024:.1f} MiB: 10,000 targets about {(fixed + 1e4 * slope) / 1024:.0f} MiB ({(fixed + 1e4 * slope) * 1024 / 1e6:.0f} MB)")'
