#!/usr/bin/env bash
# Warm restart: the time from start to ready (/readyz 200: every target has had its first
# refresh) and to every target fresh for N demo targets, fitting every
# model (cold) against loading them from a model store and pulling only the history since
# each model's data end (warm). The store is written first by the demo itself
# (`--write-models`, the same fits the cold start makes), for the same simulated start.
# Usage: [STORE=DIR] [MODES="cold warm"] [BIN=...] scripts/bench-restart.sh [TARGETS] [START]
#        (default 10000, 2026-12-07T16:30:00+08:00)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=${1:-10000}; start=${2:-2026-12-07T16:30:00+08:00}
source scripts/common.sh
bin=${BIN:-$(tidecast_bin release)}
dir=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
# STORE=DIR reuses a store written earlier for the same TARGETS and START (for an A/B of two
# binaries); MODES="warm" skips the cold start.
store=${STORE:-$dir/store}
if [[ -z ${STORE:-} ]]; then
  t0=$(date +%s)
  "$bin" demo --services "$targets" --start "$start" --write-models "$store" > /dev/null
  echo "store: $targets models written in $(( $(date +%s) - t0 )) s, $(du -sh "$store" | cut -f1)"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for mode in ${MODES:-cold warm}; do
  port=$(free_port); mkdir -p "$dir/$mode"
  extra=(); [[ $mode == warm ]] && extra=(--models "$store")
  t0=$(date +%s.%N)
  "$bin" demo --services "$targets" --no-board --start "$start" --speed 1 --port "$port" --dir "$dir/$mode" \
    "${extra[@]}" > "$dir/$mode/out" 2> "$dir/$mode/err" &
  pid=$!
  tls=(--cacert "$dir/$mode/ca.crt" --cert "$dir/$mode/client.crt" --key "$dir/$mode/client.key")
  ready=
  until [[ -f $dir/$mode/client.key ]] && [[ $(fresh_targets "https://127.0.0.1:$port" "${tls[@]}") -ge $targets ]]; do
    if [[ -z $ready && -f $dir/$mode/client.key ]] &&
      curl -sf "${tls[@]}" "https://127.0.0.1:$port/readyz" > /dev/null; then
      ready=$(date +%s.%N)
    fi
    sleep 0.5
    kill -0 $pid 2>/dev/null || { echo "$mode: the server exited"; tail "$dir/$mode/err"; exit 1; }
  done
  t1=$(date +%s.%N)
  [[ -n $ready ]] || ready=$t1
  peak=$(awk '$1 == "VmHWM:" {printf "%.0f", $2/1024}' /proc/$pid/status)
  fits=$(grep -c "model refitted" "$dir/$mode/err" || true)
  # The next minute, steady: one refresh of every target (ingest, state update, forecast)
  # and what it costs in CPU; then the resident memory, the start-up's buffers gone.
  ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
  c0=$(ticks); sleep 60; c1=$(ticks)
  rss=$(awk '$1 == "VmRSS:" {printf "%.0f", $2/1024}' /proc/$pid/status)
  printf '%s: ready after %.1f s, every target fresh after %.1f s, %s local fits, peak RSS %s MiB; the next minute: %.1f CPU-seconds of refreshes, RSS %s MiB\n' \
    "$mode" "$(echo "$ready - $t0" | bc)" "$(echo "$t1 - $t0" | bc)" "$fits" "$peak" "$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)" "$rss"
  kill $pid; wait $pid 2>/dev/null || true
done
