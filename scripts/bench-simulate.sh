#!/usr/bin/env bash
# Speed of `tidecast simulate`: a 28-day replay of the 1-minute tidal trace at 15 s syncs with
# a 5 x 5 lead x quantile sweep (60 replays), the backtest it needs timed apart (the binary
# prints both). Usage: scripts/bench-simulate.sh [path/to/tidecast]  (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bin=${1:-$(tidecast_bin release)}
for round in 1 2 3; do
  /usr/bin/time -f "round $round: %e s in all, peak RSS %M KiB" "$bin" simulate \
    --history tests/data/tidal_lb_connections.csv --timezone Asia/Shanghai \
    --hpa tests/data/hpa_tv_api.yaml --pod-capacity 1000 --from 2026-10-02T16:00:00Z \
    --sweep-leads 5m,10m,15m,20m,30m --sweep-quantiles 0.5,0.7,0.8,0.9,0.95 \
    --json /dev/null 2>&1 >/dev/null | grep -E "backtest|round"
done
