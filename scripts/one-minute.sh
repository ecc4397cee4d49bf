#!/usr/bin/env bash
# What a 1-minute target should serve: the model on the 1-minute series as it is (`auto` is
# the tidal model there) against `--aggregate 5m` (`auto`, with the combination, fitted on
# 5-minute means and read back per minute), backtested under the accuracy protocol (an origin
# every hour, 60 minutes ahead) on the 1-minute tidal trace and on the given 5-minute and
# half-hourly series interpolated to 1 minute. Prints each run's summary (MASE on the
# 1-minute actuals, sMAPE, peak under-forecast, 80 % coverage by horizon).
# Usage: scripts/one-minute.sh [path/to/tidecast]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bin=${1:-$(tidecast_bin)}
out=$(mktemp -d)
# Linear interpolation to 1 minute between the given points (Unix-second timestamps).
python3 - "$out" <<'PY'
import csv, datetime as dt, sys
for name in ["nab_twitter_volume_amzn", "nab_twitter_volume_goog", "taylor_uk_electricity"]:
    rows = list(csv.reader(open(f"tests/data/{name}.csv")))[1:]
    ts = [dt.datetime.fromisoformat(r[0].replace("Z", "+00:00")).timestamp() for r in rows]
    vs = [float(r[1]) if r[1] else float("nan") for r in rows]
    with open(f"{sys.argv[1]}/{name}.csv", "w") as f:
        f.write("timestamp,value\n")
        for i in range(len(ts) - 1):
            n = int((ts[i + 1] - ts[i]) // 60)
            for k in range(n):
                f.write(f"{int(ts[i] + 60 * k)},{vs[i] + (vs[i + 1] - vs[i]) * k / n:.4f}\n")
        f.write(f"{int(ts[-1])},{vs[-1]}\n")
PY
run() { # label history tz first-origin
  for agg in none 5m; do
    echo "== $1, --aggregate $agg"
    "$bin" backtest --history "$2" --from "$4" --every 1h --horizon 60m --timezone "$3" \
      --aggregate $agg --out "$out/$1.$agg.csv" 2>&1 | tail -5
  done
}
run tidal_lb_connections tests/data/tidal_lb_connections.csv Asia/Shanghai 2026-10-18T00:00:00Z
run amzn "$out/nab_twitter_volume_amzn.csv" UTC 2015-04-06T09:02:53Z
run goog "$out/nab_twitter_volume_goog.csv" UTC 2015-04-06T09:42:53Z
run taylor "$out/taylor_uk_electricity.csv" Europe/London 2000-08-02T17:30:00Z
