#!/usr/bin/env python3
"""Failure modes on synthetic tidal load: each scenario is a seeded 5- or 1-minute series of
14 or 35 days (peaks 06:00-07:15 and 17:00-22:00 Asia/Shanghai, weekends 15 % higher, AR(1)
noise) with one thing wrong in its history, backtested over its last 2 days every hour, 60
minutes ahead, with `auto`, `tidal`, `snaive-day` and `snaive-week`. Prints MAE and auto's 80 % interval
coverage per scenario; `auto / tidal` well above 1 flags a part of the combination that the
damage reaches. docs/accuracy.md ("Failure modes") quotes the output.

Scenarios: plain; twelve one-point glitches of 20x the level in the training part; one on
the first Saturday's morning peak (a 14-day history has two rest days before the test); three
hours of zeros (an outage) three days before the test; the level x1.6 from six hours before
the test (a late shift); the last two hours before the test missing; the whole pattern an
hour early; a growth of 3 % a day; a weekly job (2,000 more on Sundays 02:00-05:00, one of
them in the test days).

Then the National Day week of the given synthetic trace (tests/data/tidal_lb_connections.csv,
5-minute means, holiday 1-7 October 2026): trained on the 11 days before it, backtested
every hour 60 minutes ahead through 9 October, with and without the holiday given as a
`--holidays` file; MAE in the holiday week and on the two working days after it.

Usage: scripts/scenarios.py path/to/tidecast   (needs numpy and pandas)
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-03-01", tz="UTC")


def tidal(n, step, rng):
    t = np.arange(n) * step
    hod = (t / 3600 + 8) % 24
    m = 0.7 * np.exp(-(((hod - 6.6) / 0.6) ** 2)) + np.exp(-(((hod - 19.5) / 1.8) ** 2)) + 0.08
    dow = ((t / 86400 + 8 / 24 + 6) // 1) % 7  # local weekday, Monday 0; 2026-03-01 is a Sunday
    m = m * np.where(dow >= 5, 1.15, 1.0)
    a = 0.97 ** (step / 300)
    e = rng.normal(0, 0.02 * np.sqrt(step / 300), n)
    ar = np.zeros(n)
    for i in range(1, n):
        ar[i] = a * ar[i - 1] + e[i]
    return 1000 * m * (1 + ar) + rng.normal(0, 15, n)


def scenarios(step, days, seed):
    rng = np.random.default_rng(seed)
    ppd = 86400 // step
    n = days * ppd
    base = tidal(n, step, rng)
    test = n - 2 * ppd
    out = {"plain": base.copy()}
    s = base.copy()
    s[rng.choice(test, 12, replace=False)] *= 20
    out["glitches"] = s
    s = base.copy()
    s[(5 * 24 + 22) * 3600 // step + 1800 // step] *= 20  # Saturday 7 March, 06:30 Shanghai
    out["glitch on a Saturday"] = s
    s = base.copy()
    d = test - 3 * ppd + 19 * ppd // 24  # 03:00 Shanghai
    s[d:d + 3 * ppd // 24] = 0
    out["outage"] = s
    s = base.copy()
    s[test - ppd // 4:] *= 1.6
    out["late shift"] = s
    s = base.copy()
    s[test - ppd // 12:test] = np.nan
    out["gap before test"] = s
    out["an hour early"] = np.roll(base, -ppd // 24)
    out["growth 3 %/day"] = base * np.exp(np.arange(n) / ppd * 0.03)
    t = np.arange(n) * step
    local_hour, local_day = (t / 3600 + 8) % 24, ((t / 86400 + 8 / 24 + 6) // 1) % 7
    out["weekly job"] = base + 2000 * ((local_day == 6) & (local_hour >= 2) & (local_hour < 5))
    return out, START + pd.Timedelta(seconds=test * step)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("Usage: ")[1])
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp()
    print("| series | scenario | auto MAE | tidal MAE | snaive-day MAE | snaive-week MAE | auto / tidal "
          "| auto 80 % coverage |")
    print("|---|---|---|---|---|---|---|---|")
    for step, days, seed in ((300, 14, 1), (300, 35, 2), (60, 14, 3), (60, 35, 4)):
        series, origin = scenarios(step, days, seed)
        label = f"{step // 60} min, {days} days"
        for name, v in series.items():
            idx = pd.date_range(START, periods=len(v), freq=f"{step}s")
            frame = pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "value": np.maximum(v, 0)})[~np.isnan(v)]
            path = os.path.join(tmp, "history.csv")
            frame.to_csv(path, index=False)
            mae, cov = {}, None
            for model in ("auto", "tidal", "snaive-day", "snaive-week"):
                out = os.path.join(tmp, f"{model}.csv")
                subprocess.run([binary, "backtest", "--history", path, "--from",
                                origin.strftime("%Y-%m-%dT%H:%M:%SZ"), "--every", "1h",
                                "--horizon", "60m", "--timezone", "Asia/Shanghai", "--model",
                                model, "--out", out, "--quiet"], check=True)
                d = pd.read_csv(out)
                d = d[d.actual.notna()]
                mae[model] = (d.actual - d.forecast).abs().mean()
                if model == "auto":
                    cov = ((d.actual >= d.lower) & (d.actual <= d.upper)).mean()
            print(f"| {label} | {name} | {mae['auto']:.1f} | {mae['tidal']:.1f} | "
                  f"{mae['snaive-day']:.1f} | {mae['snaive-week']:.1f} | "
                  f"{mae['auto'] / mae['tidal']:.2f} | {100 * cov:.0f} % |",
                  flush=True)
    holiday_week(binary, tmp)


def holiday_week(binary, tmp):
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    s = pd.read_csv(os.path.join(data, "tidal_lb_connections.csv"), parse_dates=["timestamp"])
    s = s.set_index("timestamp").value.resample("5min").mean()
    s = s[s.index < "2026-10-10"]
    history = os.path.join(tmp, "holiday.csv")
    s.to_csv(history, date_format="%Y-%m-%dT%H:%M:%SZ")
    holidays = os.path.join(tmp, "holidays.txt")
    with open(holidays, "w") as f:
        f.write("2026-10-01..2026-10-07,holiday,National Day\n")
    print("\n| model | holiday file | MAE in the holiday week | MAE on the 2 days after |")
    print("|---|---|---|---|")
    for model in ("auto", "tidal"):
        for given in (False, True):
            out = os.path.join(tmp, "holiday-out.csv")
            subprocess.run([binary, "backtest", "--history", history, "--from",
                            "2026-09-30T12:00:00Z", "--every", "1h", "--horizon", "60m",
                            "--timezone", "Asia/Shanghai", "--model", model, "--out", out,
                            "--quiet"] + (["--holidays", holidays] if given else []), check=True)
            d = pd.read_csv(out)
            d = d[d.actual.notna()]
            day = pd.to_datetime(d.timestamp).dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d")
            week = day.between("2026-10-01", "2026-10-07")
            e = (d.actual - d.forecast).abs()
            print(f"| {model} | {'yes' if given else 'no'} | {e[week].mean():.0f} | "
                  f"{e[~week].mean():.0f} |", flush=True)


if __name__ == "__main__":
    main()
