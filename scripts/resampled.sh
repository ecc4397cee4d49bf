#!/usr/bin/env bash
# A check on series the models were not tuned on: the given series resampled to other steps
# (the synthetic tidal trace to 5 minutes, the NAB counts to 10 and 15 minutes, Taylor's demand
# to hourly) and cut to their last 16 days (a service with two weeks of history: 14 days of
# training, 2 of test) or 14 (9.8 days of training); goog and Taylor with a growth trend (the
# values times a ramp from 1 to 2 over the series), amzn with a decline (1 to 0.5), a seeded
# random walk in log space with a daily cycle (a level no calendar gives; also its last 14
# days), two seeded 14-day weakly seasonal series (request counts with bursts, a CPU-like
# AR(1)), and the NAB counts thinned to a tenth (a low-volume service). Each is backtested
# from the baselines' first origin (the 70 % point, raised to 14 days when 2 test days
# remain) every hour, 60 minutes ahead (3 hours for hourly), with each
# tidecast binary given, side by side. Where tests/eval/baselines-resampled/ holds the
# baselines' results for a series (tests/eval/baselines.py run on exactly these files; see its
# PROVENANCE.md), the first binary's backtest is also scored against them with the baselines'
# scorer and compared like scripts/accuracy.sh does.
# docs/accuracy.md quotes its output.
# Usage: scripts/resampled.sh [tidecast ...]   (default: builds target/.../tidecast)
# ONLY='tidal_1m goog_14d' scripts/resampled.sh ... runs only the named series.
# KEEP=DIR scripts/resampled.sh ... also copies the series it writes into DIR (to run
# tests/eval/baselines.py on exactly those files). The seeded series are also copied to
# tests/data/heldout/ for tests/accuracy.rs, which rebuilds the others itself: a change to
# how any series is made here must be made there too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bins=("$@")
if [[ ${#bins[@]} -eq 0 ]]; then
  bins=("$(tidecast_bin)")
fi
py=$(eval_python)
out=$(mktemp -d)
# name, source, step, aggregation, zone, horizon[, only the last this many days]
specs=(
  "tidal_1m tidal_lb_connections 1min none Asia/Shanghai 60m"
  "tidal_5m tidal_lb_connections 5min mean Asia/Shanghai 60m"
  "amzn_10m nab_twitter_volume_amzn 10min sum UTC 60m"
  "amzn_15m nab_twitter_volume_amzn 15min sum UTC 60m"
  "goog_10m nab_twitter_volume_goog 10min sum UTC 60m"
  "goog_15m nab_twitter_volume_goog 15min sum UTC 60m"
  "taylor_1h taylor_uk_electricity 1h mean Europe/London 3h"
  "amzn_16d nab_twitter_volume_amzn 5min none UTC 60m 16"
  "goog_16d nab_twitter_volume_goog 5min none UTC 60m 16"
  "taylor_16d taylor_uk_electricity 30min none Europe/London 60m 16"
  "tidal_16d_5m tidal_lb_connections 5min mean Asia/Shanghai 60m 16"
  "amzn_14d nab_twitter_volume_amzn 5min none UTC 60m 14"
  "goog_14d nab_twitter_volume_goog 5min none UTC 60m 14"
  "taylor_14d taylor_uk_electricity 30min none Europe/London 60m 14"
  "tidal_14d_5m tidal_lb_connections 5min mean Asia/Shanghai 60m 14"
  "goog_trend nab_twitter_volume_goog 5min trend UTC 60m"
  "taylor_trend taylor_uk_electricity 30min trend Europe/London 60m"
  "amzn_decline nab_twitter_volume_amzn 5min decline UTC 60m"
  "random_walk - 5min walk UTC 60m"
  "random_walk_14d - 5min walk UTC 60m 14"
  "elb_like - 5min elb UTC 60m"
  "cpu_like - 5min cpu UTC 60m"
  "amzn_thin nab_twitter_volume_amzn 5min thin UTC 60m"
  "goog_thin nab_twitter_volume_goog 5min thin UTC 60m"
)
for spec in "${specs[@]}"; do
  read -r name src step agg tz horizon days <<<"$spec"
  if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then
    continue
  fi
  from=$("$py" - "tests/data/$src.csv" "$step" "$agg" "$out/$name.csv" "${days:-0}" <<'PY'
import sys, numpy as np, pandas as pd
src, step, agg, dst, days = sys.argv[1:6]
if agg == "walk":
    # 35 days at 5 minutes: a random walk in log space (1 % per step), a daily cycle of
    # +-50 % in log space and 3 % multiplicative noise, from a fixed seed.
    rng = np.random.default_rng(7)
    n = 35 * 288
    walk = np.cumsum(rng.normal(0, 0.01, n))
    daily = 0.5 * np.sin(2 * np.pi * (np.arange(n) % 288) / 288)
    v = 100 * np.exp(walk + daily) * (1 + rng.normal(0, 0.03, n))
    idx = pd.date_range("2026-01-05", periods=n, freq="5min", tz="UTC", name="timestamp")
    r = pd.Series(v.round(3), index=idx, name="value")
elif agg in ("elb", "cpu"):
    # 14 days at 5 minutes, weakly seasonal, from a fixed seed. elb: request counts (Poisson)
    # around a level wandering 0.4 % per step, a +-10 % daily cycle and eight bursts of 15
    # minutes to 2 hours at 1.5-4x; cpu: utilisation, an AR(1) (0.97) around 30 with 1 % of
    # steps spiking by 50-200 points, no daily cycle, clipped to 0-100.
    rng = np.random.default_rng(11)
    n = 14 * 288
    idx = pd.date_range("2026-02-02", periods=n, freq="5min", tz="UTC", name="timestamp")
    level = np.exp(np.cumsum(rng.normal(0, 0.004, n))) * 60
    daily = 1 + 0.1 * np.sin(2 * np.pi * (np.arange(n) % 288) / 288)
    burst = np.zeros(n)
    for start in rng.choice(n - 30, 8, replace=False):
        length = rng.integers(3, 24)
        burst[start:start + length] += rng.uniform(0.5, 3)
    counts = rng.poisson(level * daily * (1 + burst))
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.97 * x[i - 1] + rng.normal(0, 1.5)
    cpu = np.clip(30 + x + 5 * (rng.random(n) < 0.01) * rng.uniform(10, 40, n), 0, 100)
    r = pd.Series(counts if agg == "elb" else cpu.round(2), index=idx, name="value")
else:
    s = pd.read_csv(src, parse_dates=["timestamp"]).set_index("timestamp").value
    if agg in ("trend", "decline"):  # times a ramp over the whole series
        r = (s * np.linspace(1, 2 if agg == "trend" else 0.5, len(s))).round(3)
    elif agg == "thin":
        # A tenth of the counts, kept at random from a fixed seed (binomial thinning): the
        # same daily pattern and bursts at a service's low volume, 2-5 a step, many zeros.
        rng = np.random.default_rng(13)
        r = pd.Series(rng.binomial(s.values.astype(np.int64), 0.1), index=s.index, name="value")
    else:
        r = s if agg == "none" else getattr(s.resample(step), agg)()
if int(days):
    r = r[r.index >= r.index[-1] - pd.Timedelta(days=int(days))]
r.to_csv(dst, date_format="%Y-%m-%dT%H:%M:%SZ")
print(r.index[int(len(r) * 0.7)].strftime("%Y-%m-%dT%H:%M:%SZ"))
PY
)
  if [[ -n ${KEEP:-} ]]; then
    mkdir -p "$KEEP" && cp "$out/$name.csv" "$KEEP/"
  fi
  bj=tests/eval/baselines-resampled/$name.json
  if [[ -f $bj ]]; then  # the baselines' first origin (their last training point)
    from=$(first_origin "$bj")
  fi
  for i in "${!bins[@]}"; do
    bin=${bins[$i]}
    echo "== $name ($bin)"
    "$bin" backtest --history "$out/$name.csv" --from "$from" --every 1h --horizon "$horizon" \
      --timezone "$tz" --out "$out/$name.forecast$i.csv" | grep -E '^ +(horizon|[0-9])'
  done
  if [[ -f $bj ]]; then
    mkdir -p "$out/baselines" "$out/scored"
    cp "$bj" "$out/baselines/"
    cp "$out/$name.forecast0.csv" "$out/scored/$name.csv"
    "$py" tests/eval/score.py "$out/$name.forecast0.csv" "$out/$name.csv" --baseline "$bj" \
      --name tidecast --out "$out/scored/$name.score.json" > /dev/null
  fi
done
if [[ -d $out/scored ]]; then
  echo; echo "== against the baselines (tests/eval/baselines-resampled/), ${bins[0]}"
  "$py" scripts/compare.py "$out/baselines" "$out/scored"
fi
rm -rf "$out"
