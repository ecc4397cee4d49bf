#!/usr/bin/env python3
"""Print tidecast beside the best baseline, per series and horizon, and the interval coverage.

Usage: compare.py BASELINE_DIR OUT_DIR

For every BASELINE_DIR/NAME.json (a result of tests/eval/baselines.py) this reads
OUT_DIR/NAME.score.json (tests/eval/score.py --out on tidecast's backtest of that series) and
OUT_DIR/NAME.csv (the backtest itself, for the coverage of its lower/upper interval).
Used by scripts/accuracy.sh (the given series) and scripts/resampled.sh (the same series at
other steps); docs/accuracy.md quotes both.
"""
import csv
import glob
import json
import os
import sys
from collections import defaultdict
from datetime import datetime


def num(x):
    """A metric's value, NaN when the scorer had none (no peak among the actuals)."""
    return float("nan") if x is None else x


def main(base, out):
    ratios = []
    print("\n| series | horizon | tidecast MASE | best baseline | ratio | sMAPE % "
          "| peak under % (best baseline's; lowest of any baseline) |")
    print("|---|---|---|---|---|---|---|")
    for bj in sorted(glob.glob(base + "/*.json")):
        n = os.path.basename(bj)[:-5]
        b, s = json.load(open(bj)), json.load(open(f"{out}/{n}.score.json"))
        models = {k: v for k, v in b["models"].items() if "metrics" in v}
        for h, m in s["metrics"].items():
            if "mase" not in m:  # no scored pair at this horizon
                print(f"| {n} | {h} min | - | - | - | - | - |")
                continue
            bn, bv = min(((k, v["metrics"][h]["mase"]) for k, v in models.items()), key=lambda x: x[1])
            pk = min(num(v["metrics"][h].get("peak_under")) for v in models.values())
            pk_best = num(models[bn]["metrics"][h].get("peak_under"))
            ratios.append(m["mase"] / bv)
            print(f"| {n} | {h} min | {m['mase']:.3f} | {bn} {bv:.3f} | {m['mase'] / bv:.2f} "
                  f"| {m.get('smape', float('nan')):.1f} "
                  f"| {num(m.get('peak_under')):.1f} ({pk_best:.1f}; {pk:.1f}) |")
    print(f"\nmean MASE / best baseline: {sum(ratios) / len(ratios):.4f}; "
          f"cells at or below the best baseline: {sum(r <= 1 for r in ratios)}/{len(ratios)}")
    # Interval coverage: the share of actuals inside [lower, upper], per series (the
    # target) and per horizon step; and the 80 % interval's mean interval score (Gneiting
    # and Raftery 2007: its width plus 10 times how far the actual fell outside; lower is
    # better, in the series' units), which also rewards narrow intervals where errors are small.
    for bj in sorted(glob.glob(base + "/*.json")):
        n = os.path.basename(bj)[:-5]
        inside = defaultdict(lambda: [0, 0])
        score = 0.0
        with open(f"{out}/{n}.csv") as f:
            for r in csv.DictReader(f):
                if not r["actual"]:
                    continue
                h = datetime.fromisoformat(r["timestamp"]) - datetime.fromisoformat(r["origin"])
                a, lo, hi = float(r["actual"]), float(r["lower"]), float(r["upper"])
                c = inside[h]
                c[0] += lo <= a <= hi
                c[1] += 1
                score += hi - lo + 10 * (max(0.0, lo - a) + max(0.0, a - hi))
        cov = [100 * a / b for a, b in inside.values()]
        rows = sum(b for _, b in inside.values())
        overall = 100 * sum(a for a, _ in inside.values()) / rows
        print(f"80 % interval coverage, {n}: {overall:.1f} % ({min(cov):.1f}-{max(cov):.1f} % "
              f"over {len(cov)} horizons); interval score {score / rows:.2f}")

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:3])
