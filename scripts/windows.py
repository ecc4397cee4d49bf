#!/usr/bin/env python3
"""A/B of two tidecast binaries over sliding windows of the given series: for each series in
tests/data (the synthetic tidal trace as 5-minute means), windows of DAYS days ending at its
last point and then every STRIDE days earlier; each window's last TEST days are backtested
every hour, 60 minutes ahead, with both binaries (default model). Prints per series the
geometric mean over windows of the MAE ratio new/old (itself a geometric mean over the
horizons), each window's ratio, the same geometric mean of the 80 % intervals' interval
score (width plus 10 times the miss; lower is better), and each binary's 80 % interval
coverage: the mean, and the lowest and highest over horizons (each horizon's coverage
averaged over the windows).
With --one-minute, the synthetic trace alone at its own 1-minute step (the tidal model
alone serves 1-minute targets).

docs/accuracy.md quotes its output for short histories (12-, 16- and 22-day windows: a new
service with 10-20 days of training). About 20 s per window length (16 days) on 2 cores.

Usage: scripts/windows.py OLD_BINARY NEW_BINARY DAYS [TEST_DAYS=2] [STRIDE_DAYS=4] [--one-minute]
(needs numpy and pandas; run from anywhere)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
SERIES = [("nab_twitter_volume_amzn", None, "UTC"), ("nab_twitter_volume_goog", None, "UTC"),
          ("taylor_uk_electricity", None, "Europe/London"),
          ("tidal_lb_connections", "5min", "Asia/Shanghai")]


def backtest(binary, history, origin, zone, out):
    subprocess.run([binary, "backtest", "--history", history, "--from", origin, "--every", "1h",
                    "--horizon", "60m", "--timezone", zone, "--out", out, "--quiet"], check=True)
    d = pd.read_csv(out)
    d = d[d.actual.notna()]
    d["h"] = (pd.to_datetime(d.timestamp) - pd.to_datetime(d.origin)).dt.total_seconds()
    mae = d.assign(e=(d.actual - d.forecast).abs()).groupby("h").e.mean()
    coverage = ((d.actual >= d.lower) & (d.actual <= d.upper)).groupby(d.h).mean()
    # The interval score of the 80 % interval (Gneiting & Raftery 2007): its width plus
    # 2 / 0.2 = 10 times the distance by which the actual falls outside, as compare.py
    # computes it. Lower is better; it rewards intervals narrow where errors are small and
    # wide where they are large.
    miss = np.maximum(0, d.lower - d.actual) + np.maximum(0, d.actual - d.upper)
    score = (d.upper - d.lower + 10 * miss).groupby(d.h).mean()
    return mae, coverage, score


def main():
    args = [a for a in sys.argv[1:] if a != "--one-minute"]
    if not 3 <= len(args) <= 5:
        sys.exit(__doc__.split("Usage: ")[1])
    old, new, days = args[0], args[1], float(args[2])
    test = float(args[3]) if len(args) > 3 else 2.0
    stride = float(args[4]) if len(args) > 4 else 4.0
    series = SERIES
    if "--one-minute" in sys.argv:
        series = [("tidal_lb_connections", None, "Asia/Shanghai")]
    tmp = tempfile.mkdtemp()
    for name, resample, zone in series:
        s = pd.read_csv(os.path.join(DATA, f"{name}.csv"), parse_dates=["timestamp"])
        s = s.set_index("timestamp").value
        if resample:
            s = s.resample(resample).mean()
        end, ratios, cov, iss = s.index[-1], [], {old: [], new: []}, []
        while end - pd.Timedelta(days=days) >= s.index[0]:
            w = s[(s.index > end - pd.Timedelta(days=days)) & (s.index <= end)]
            path = os.path.join(tmp, "window.csv")
            w.to_csv(path, date_format="%Y-%m-%dT%H:%M:%SZ")
            origin = (end - pd.Timedelta(days=test)).strftime("%Y-%m-%dT%H:%M:%SZ")
            mae, score = {}, {}
            for b in (old, new):
                mae[b], c, score[b] = backtest(b, path, origin, zone, os.path.join(tmp, "out.csv"))
                cov[b].append(c)
            ratios.append(np.exp(np.mean(np.log(mae[new] / mae[old]))))
            iss.append(np.exp(np.mean(np.log(score[new] / score[old]))))
            end -= pd.Timedelta(days=stride)
        if not ratios:
            print(f"{name}: shorter than {days:g} days")
            continue
        by_h = {b: pd.concat(cov[b], axis=1).mean(axis=1) for b in (old, new)}
        print(f"{name}: {len(ratios)} windows, MAE new/old geo-mean "
              f"{np.exp(np.mean(np.log(ratios))):.4f}, per window "
              f"{' '.join(f'{r:.3f}' for r in ratios)}; interval score new/old geo-mean "
              f"{np.exp(np.mean(np.log(iss))):.4f} (windows {min(iss):.3f}-{max(iss):.3f}); coverage old "
              f"{np.mean([c.mean() for c in cov[old]]):.3f} "
              f"new {np.mean([c.mean() for c in cov[new]]):.3f} "
              f"(by horizon old {by_h[old].min():.3f}-{by_h[old].max():.3f}, "
              f"new {by_h[new].min():.3f}-{by_h[new].max():.3f})", flush=True)


if __name__ == "__main__":
    main()
