#!/usr/bin/env bash
# The trade-off between MASE and peak under-forecast at 60 minutes on one given series
# (default goog): tidecast's backtest under the baselines' protocol, then the same forecasts
# moved up in the three ways that raise a forecast at peaks, each scored with the baselines'
# metric code: scaled by a factor, replaced by a higher calibrated quantile, and blended with
# the best baseline's own forecasts (profile_ets, recomputed here with tests/eval/baselines.py:
# needs statsforecast in the venv). docs/accuracy.md quotes its output.
# Usage: scripts/peak_frontier.sh [path/to/tidecast] [series]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bin=${1:-$(tidecast_bin)}
name=${2:-nab_twitter_volume_goog}
py=$(eval_python)
if ! "$py" -c 'import statsforecast' 2>/dev/null; then
  echo "needs pandas, numpy and statsforecast: .venv/bin/pip install pandas numpy statsforecast" >&2
  exit 2
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bj=tests/eval/baselines/$name.json
csv=tests/data/$name.csv
o=$(first_origin "$bj")
"$bin" backtest --history "$csv" --from "$o" --every 1h --horizon 60m --timezone UTC \
  --quantiles 0.55,0.6,0.65,0.7 --out "$out/tidecast.csv" --quiet
"$py" tests/eval/baselines.py "$csv" --models profile_ets --out-dir "$out/bl" > /dev/null 2>&1
"$py" - "$bj" "$csv" "$out/tidecast.csv" "$out/bl/forecasts/$name/profile_ets.csv" <<'PY'
import json, sys
import numpy as np, pandas as pd
bj, csv, ours, base = sys.argv[1:5]
setup = json.load(open(bj))["setup"]
scale, threshold = setup["mase_scale"], setup["peak_threshold"]
t, b = pd.read_csv(ours), pd.read_csv(base)
for d in (t, b):
    d["h"] = (pd.to_datetime(d.timestamp) - pd.to_datetime(d.origin)).dt.total_seconds() / 60
m = t[t.h == 60].merge(b[b.h == 60][["origin", "timestamp", "forecast"]], on=["origin", "timestamp"],
                       suffixes=("", "_base"))
m = m[m.actual.notna()]
a = m.actual.values
peak = (a >= threshold) & (a > 0)

def row(label, f):
    mase = np.mean(np.abs(a - f)) / scale
    under = 100 * np.mean(np.maximum(0, a[peak] - f[peak]) / a[peak])
    print(f"| {label} | {mase:.3f} | {under:.1f} |")

print(f"{len(m)} pairs at 60 minutes, {peak.sum()} peaks (actual >= {threshold:g})\n")
print("| 60-minute forecast | MASE | peak under-forecast % |\n|---|---|---|")
row("tidecast", m.forecast.values)
row("profile_ets (the best baseline)", m.forecast_base.values)
for c in (1.05, 1.10, 1.15):
    row(f"tidecast x {c:.2f}", c * m.forecast.values)
for q in ("0.55", "0.6", "0.65", "0.7"):
    row(f"tidecast's {q} quantile", m[f"q{q}"].values)
for w in (0.25, 0.5, 0.75, 0.9):
    row(f"{1 - w:.2f} tidecast + {w:.2f} profile_ets", (1 - w) * m.forecast.values + w * m.forecast_base.values)
PY
