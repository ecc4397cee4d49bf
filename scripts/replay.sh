#!/usr/bin/env bash
# The headline numbers of docs/replay.md: on each given series, the HPA replayed reactive,
# predictive at the defaults (lead 15m, quantile 0.9), predictive on the point forecast
# (quantile 0.5), predictive at the settings a 5 x 5 sweep recommends (chosen on the first
# half of the stretch within 1.10x the oracle's pod-hours, shown on the second), and the
# oracle. The cluster as in the independent replay the analysts' issue quotes: pods ready
# 180 s after creation, one pod's capacity such that the p99 load needs 40 pods at 70 %
# utilisation, an AverageValue target of 70 % of it, 1..1000 replicas, no behavior.
# Usage: scripts/replay.sh [path/to/tidecast] [series ...]   (default: a release build; NAB
# AMZN and GOOG, the tidal trace)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
bin=${1:-$(tidecast_bin release)}
shift || true
series=("$@")
(( ${#series[@]} )) || series=(nab_twitter_volume_amzn nab_twitter_volume_goog tidal_lb_connections)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for name in "${series[@]}"; do
  csv=tests/data/$name.csv
  zone=UTC
  [[ $name == tidal_* ]] && zone=Asia/Shanghai
  # p99 of the load -> one pod's capacity and the HPA's target.
  read -r capacity target < <(python3 - "$csv" <<'PY'
import csv, math, sys
v = sorted(float(r["value"]) for r in csv.DictReader(open(sys.argv[1])) if r["value"] not in ("", "NaN"))
p99 = v[min(len(v) - 1, math.ceil(0.99 * len(v)) - 1)]
capacity = p99 / (40 * 0.7)
print(f"{capacity:.6g} {0.7 * capacity:.6g}")
PY
)
  cat > "$out/hpa.yaml" <<YAML
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: $name}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: $name}
  minReplicas: 1
  maxReplicas: 1000
  metrics:
    - type: External
      external:
        metric: {name: predicted}
        target: {type: AverageValue, averageValue: "$target"}
YAML
  common=(--history "$csv" --timezone "$zone" --hpa "$out/hpa.yaml" --pod-capacity "$capacity"
          --startup 180s)
  "$bin" simulate "${common[@]}" --json "$out/default.json" > /dev/null
  "$bin" simulate "${common[@]}" --quantile 0.5 --json "$out/point.json" > /dev/null
  "$bin" simulate "${common[@]}" --sweep-leads 5m,10m,15m,20m,30m \
    --sweep-quantiles 0.5,0.7,0.8,0.9,0.95 --json "$out/sweep.json" > /dev/null 2>&1
  # The recommendation replayed on the second half, where it was not chosen, beside the
  # reactive HPA and the oracle on that half.
  read -r mid lead q < <(python3 - "$out/sweep.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["recommendation"] or {"lead_seconds": 900, "quantile": 0.9}
print(s["shown_on"]["from"], str(r["lead_seconds"]) + "s", r["quantile"])
PY
)
  "$bin" simulate "${common[@]}" --from "$mid" --lead "$lead" --quantile "$q" \
    --json "$out/recommended.json" > /dev/null
  python3 - "$name" "$capacity" "$out" <<'PY'
import json, sys
name, capacity, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
d, p, s, r = (json.load(open(f"{out}/{f}.json")) for f in ("default", "point", "sweep", "recommended"))
def row(label, o, run):
    re, orc = run["reactive"], run["oracle"]
    share = 100 * o["breach_minutes"] / re["breach_minutes"] if re["breach_minutes"] else float("nan")
    print(f"| {name} | {label} | {o['breach_minutes']:.0f} | {share:.1f} % | {o['pod_hours'] / orc['pod_hours']:.3f}x | {o['scale_ups']} |")
print(f"<!-- {name}: {d['from']} .. {d['to']} (second half from {r['from']}), pod capacity {capacity:.4g} -->")
row("reactive", d["reactive"], d)
row("predictive, defaults (15m, q0.9)", d["predictive"], d)
row("predictive, point forecast (15m, q0.5)", p["predictive"], d)
row("oracle (true peak over 15m)", d["oracle"], d)
rec = s["recommendation"]
label = f"{rec['lead_seconds'] // 60}m, q{rec['quantile']}" if rec else "none within budget: defaults"
row(f"second half: reactive", r["reactive"], r)
row(f"second half: recommended ({label})", r["predictive"], r)
row(f"second half: oracle (true peak over the lead)", r["oracle"], r)
PY
done
