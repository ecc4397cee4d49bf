"""Produce tests/data/golden/lagreg_taylor.json: ridge coefficients of tidecast's lag
regression features on the first 1,500 points of the Taylor electricity series, computed by
scikit-learn's Ridge (an established implementation) so the Rust fit (linfa's elastic net with
an L2 penalty only) can be checked against it.

    .venv/bin/pip install scikit-learn pandas numpy
    .venv/bin/python scripts/golden_lagreg.py

The features mirror crates/tidecast-models/src/lagreg.rs `features_with` (linear space), scaled
by the mean absolute step and each clipped to 10 (FEATURE_CLIP) times its mean absolute value,
exactly; the objective
(1/2n)||y - Xw||^2 + (penalty/2)||w||^2 equals sklearn's Ridge with alpha = n * penalty.
"""
import json, sys
import numpy as np, pandas as pd, sklearn
from sklearn.linear_model import Ridge

y = pd.read_csv("tests/data/taylor_uk_electricity.csv").value.to_numpy(float)[:1500]
day, week, max_h, penalty = 48, 336, 2, 1e-4
scale = np.mean(np.abs(np.diff(y)))  # the mean absolute step, as lagreg.rs divides by

def features(t, h):
    m6 = y[t] - np.mean(y[t - 6:t])
    mean_back = lambda k: np.mean(y[t - k + 1:t + 1])  # the k newest values
    return [y[t + h - week] - y[t - week], y[t + h - 2 * week] - y[t - 2 * week],
            y[t + h - day] - y[t - day], y[t + h - week] - y[t], y[t + h - day] - y[t],
            y[t + h - week + 1] - y[t + h - week - 1], y[t + h - day + 1] - y[t + h - day - 1],
            y[t] - y[t - 1], m6,
            y[t] - mean_back(day // 8), y[t] - mean_back(day // 2),  # 3 and 12 hours
            y[t] - mean_back(day), y[t] - mean_back(7 * day),       # a day and a week
            np.mean([y[t + h - k * (day // 24)] - y[t - k * (day // 24)]  # hourly change
                     for k in range(-(-h // (day // 24)), -(-h // (day // 24)) + 24)])]

out = {"source": "tests/data/taylor_uk_electricity.csv, first 1500 points",
       "produced_by": f"scripts/golden_lagreg.py with scikit-learn {sklearn.__version__} Ridge(fit_intercept=False, alpha=n*penalty)",
       "day": day, "week": week, "penalty": penalty, "points": len(y), "coefficients": []}
for h in range(1, max_h + 1):
    ts = [t for t in range(max(2 * week, 6), len(y) - h)]
    X = np.array([features(t, h) for t in ts]) / scale
    bound = 10 * np.mean(np.abs(X), axis=0)  # FEATURE_CLIP times each feature's mean abs value
    X = np.clip(X, -bound, bound)
    Y = np.array([y[t + h] - y[t] for t in ts]) / scale
    r = Ridge(alpha=len(ts) * penalty, fit_intercept=False, solver="cholesky").fit(X, Y)
    out["coefficients"].append(r.coef_.tolist())
json.dump(out, open("tests/data/golden/lagreg_taylor.json", "w"), indent=1)
print(json.dumps(out["coefficients"]))
