#!/usr/bin/env bash
# Rerun the accuracy comparison of docs/accuracy.md: backtest every real series under the
# baselines' protocol, score it with the baselines' own scorer (tests/eval/score.py), print
# tidecast beside the best baseline per horizon, then check the honest-replay property.
# Usage: scripts/accuracy.sh [path/to/tidecast]   (default: builds target/.../tidecast)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bin=${1:-$(tidecast_bin)}
py=$(eval_python)
out=$(mktemp -d)
for bj in tests/eval/baselines/*.json; do
  n=$(basename "$bj" .json); csv=tests/data/$n.csv
  case $n in taylor_*) tz=Europe/London;; *) tz=UTC;; esac
  o=$(first_origin "$bj")
  "$bin" backtest --history "$csv" --from "$o" --every 1h --horizon 60m --timezone $tz --out "$out/$n.csv" --quiet
  "$py" tests/eval/score.py "$out/$n.csv" "$csv" --baseline "$bj" --name tidecast --out "$out/$n.score.json" > "$out/$n.txt"
  echo "== $n"; sed -n '1,40p' "$out/$n.txt"
done
"$py" scripts/compare.py tests/eval/baselines "$out"
# Honest replay: backtest rows at an origin == forecast on the history cut there.
src=tests/data/nab_twitter_volume_goog.csv; o=2015-04-14T21:42:53Z
"$bin" backtest --history "$src" --from $o --to $o --every 1h --horizon 60m --out "$out/bt.csv" --quiet
awk -F, -v o=$o 'NR==1 || $1 <= o' "$src" > "$out/cut.csv"
"$bin" forecast --history "$out/cut.csv" --horizon 60m --out "$out/fc.csv"
"$py" - "$out/bt.csv" "$out/fc.csv" <<'PY'
import sys, pandas as pd
bt, fc = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
m = bt.merge(fc, on="timestamp", suffixes=("_bt", "_fc"))
d = ((m.forecast_bt - m.forecast_fc).abs() / m.forecast_fc.abs().clip(lower=1e-9)).max()
print(f"honest replay: {len(m)}/{len(bt)} rows matched, max relative difference {d:.2e}")
PY
