"""Produce tests/data/golden/mstl_taylor.json: the MSTL decomposition (statsforecast's
`mstl`, an established implementation: statsmodels' STL inside R's forecast::mstl algorithm)
of the first 1,500 points of the Taylor electricity series with daily and weekly periods,
and the forecast tidecast's decomposition model makes from it, y(t) + S(t+h) - S(t) with each
seasonal component repeated from its last cycle. The Rust side (crates/tidecast-models/src/
mstl.rs, on stlrs) must reproduce both.

    .venv/bin/pip install statsforecast pandas numpy
    .venv/bin/python scripts/golden_mstl.py

Parameters are statsforecast's defaults (seasonal degree 0, seasonal windows 11 and 15,
two MSTL iterations; statsmodels' STL with smoother jumps of 1 and 5 inner loops), which
tidecast sets explicitly on stlrs (whose own defaults are R's: jumps ~len/10, 2 inner loops).
"""
import json
import numpy as np, pandas as pd, statsforecast
from statsforecast.mstl import mstl

y = pd.read_csv("tests/data/taylor_uk_electricity.csv").value.to_numpy(float)[:1500]
day, week, n = 48, 336, 1500
comp = mstl(y, [day, week])
s_day, s_week = comp[f"seasonal{day}"].to_numpy(), comp[f"seasonal{week}"].to_numpy()

def seasonal(i):
    """Each component's last cycle repeated forward (i >= n - period)."""
    return s_day[n - day + (i - (n - day)) % day] + s_week[n - week + (i - (n - week)) % week]

t = n - 1
forecast = [y[t] + seasonal(t + h) - seasonal(t) for h in range(1, 2 * day + 1)]
out = {
    "source": "tests/data/taylor_uk_electricity.csv, first 1500 points",
    "produced_by": f"scripts/golden_mstl.py with statsforecast {statsforecast.__version__} mstl(y, [48, 336]) (defaults)",
    "day": day, "week": week, "points": n,
    "last_day_cycle": s_day[n - day:].tolist(),
    "last_week_cycle": s_week[n - week:].tolist(),
    "forecast_from_last_point": forecast,
}
with open("tests/data/golden/mstl_taylor.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote tests/data/golden/mstl_taylor.json")
