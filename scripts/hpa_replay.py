#!/usr/bin/env python3
"""Independent replay of the Kubernetes HorizontalPodAutoscaler control loop (autoscaling/v2,
one External metric), and the golden fixture tests/data/golden/hpa_replay.json made with it.

Written from /work/shared/docs/external-metrics-api.md section 4 and the Go sources of
kube-controller-manager (kubernetes/kubernetes):
  pkg/controller/podautoscaler/replica_calculator.go  GetExternalMetricReplicas,
      GetExternalPerPodMetricReplicas, getUsageRatioReplicaCount, Tolerances.isWithin
  pkg/controller/podautoscaler/horizontal.go  reconcileAutoscaler, recordInitialRecommendation,
      stabilizeRecommendation, convertDesiredReplicasWithRules, calculateScaleUpLimit,
      maybeInitScaleDownStabilizationWindow, stabilizeRecommendationWithBehaviors,
      convertDesiredReplicasWithBehaviorRate, calculateScaleUpLimitWithScalingRules,
      calculateScaleDownLimitWithBehaviors, getReplicasChangePerPeriod, storeScaleEvent,
      markScaleEventsOutdated, tolerancesForHpa
  pkg/apis/autoscaling/v2/defaults.go  SetDefaults_HorizontalPodAutoscalerBehavior,
      copyHPAScalingRules (behavior defaulted field by field, only when behavior is set)

Model of time: every timestamp taken inside one reconcile (Go calls time.Now() several times)
is the same `now`, an integer number of seconds. Go's Before/After are strict and are kept so:
legacy stabilization counts recommendations with ts >= now - 300 (not Before(cutoff)); the
behavior path counts ts > now - window (After), stores over a recommendation with
ts < both cutoffs; rate limits count scale events with ts > now - period; an event is outdated
when ts < now - longestPeriod. Float arithmetic follows Go's float64 operations in the same
order (Python floats are IEEE doubles), so ceil(50 * (1 + 10/100)) = 56 as in Go.

Metric values and target values are Kubernetes quantities: MilliValue() is the decimal value
times 1000 rounded up, computed here exactly on the decimal text of the number (as JSON has it).

Stdlib only. Run from the repository root:
    python3 scripts/hpa_replay.py            # asserts the worked examples, writes the fixture
"""
import json
import math
import random
import sys
from decimal import Decimal, ROUND_CEILING
from pathlib import Path

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
OUT = Path("tests/data/golden/hpa_replay.json")


def milli_value(x):
    """Quantity.MilliValue(): ceil(x * 1000) on the decimal value of x."""
    if isinstance(x, bool):
        raise TypeError("bool is not a quantity")
    if isinstance(x, int):
        return x * 1000
    d = Decimal(repr(float(x))) * 1000
    return int(d.to_integral_value(rounding=ROUND_CEILING))


def approx_float64(x):
    """Quantity.AsApproximateFloat64() for a tolerance written as a plain decimal number:
    base * math.Pow10(exponent), Pow10(-n) = 1 / 10^n."""
    d = Decimal(repr(x) if isinstance(x, float) else str(x)).normalize()
    sign, digits, exp = d.as_tuple()
    base = float(int("".join(map(str, digits)) or "0")) * (-1 if sign else 1)
    if exp == 0:
        return base
    if exp > 0:
        return base * float(10**exp)
    return base * (1.0 / float(10 ** (-exp)))


# --- API defaulting (pkg/apis/autoscaling/v2/defaults.go) -------------------------------------
def _default_up():
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}],
            "tolerance": None}


def _default_down():
    return {"stabilizationWindowSeconds": None, "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
            "tolerance": None}


def _copy_rules(user, defaults):
    """copyHPAScalingRules: every non-nil field of the user's rules replaces the default."""
    if user is None:
        return defaults
    for k in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
        if user.get(k) is not None:
            defaults[k] = user[k]
    return defaults


def default_behavior(behavior):
    """None stays None (legacy path); otherwise both directions are filled field by field."""
    if behavior is None:
        return None
    return {"scaleUp": _copy_rules(behavior.get("scaleUp"), _default_up()),
            "scaleDown": _copy_rules(behavior.get("scaleDown"), _default_down())}


class Controller:
    """One HPA with one External metric, as kube-controller-manager keeps it in memory."""

    def __init__(self, hpa, tolerance=0.1, downscale_stabilization_seconds=300):
        self.min = hpa.get("minReplicas", 1)
        if self.min is None:
            self.min = 1
        self.max = hpa["maxReplicas"]
        self.target_type = hpa["target"]["type"]
        if self.target_type not in ("Value", "AverageValue"):
            raise ValueError(self.target_type)
        self.target_milli = milli_value(hpa["target"]["value"])
        if self.target_milli <= 0:
            raise ValueError("target must be > 0")
        self.downscale_window = downscale_stabilization_seconds
        self.behavior = default_behavior(hpa.get("behavior"))
        if self.behavior is not None:
            # maybeInitScaleDownStabilizationWindow
            down = self.behavior["scaleDown"]
            if down["stabilizationWindowSeconds"] is None:
                down["stabilizationWindowSeconds"] = int(downscale_stabilization_seconds)
        # tolerancesForHpa (HPAConfigurableTolerance on): only with behavior set
        self.tol_up = self.tol_down = float(tolerance)
        if self.behavior is not None:
            if self.behavior["scaleDown"]["tolerance"] is not None:
                self.tol_down = approx_float64(self.behavior["scaleDown"]["tolerance"])
            if self.behavior["scaleUp"]["tolerance"] is not None:
                self.tol_up = approx_float64(self.behavior["scaleUp"]["tolerance"])
        self.recommendations = None  # [[value, ts]]; None until the first reconcile
        self.up_events = []  # [[change, ts, outdated]]
        self.down_events = []
        self.last_proposal = None  # desired0 of the last reconcile that computed one

    # --- replica_calculator.go ----------------------------------------------------------------
    def _within(self, r):
        return (1.0 - self.tol_down) <= r <= (1.0 + self.tol_up)

    def proposal(self, spec_replicas, status_replicas, ready, metric):
        """Per-metric proposal; None when the metric (or the pod list) is an error."""
        if metric is None:
            return None  # fetch error or items == []
        usage = milli_value(metric)  # one item; the sum is capped at MaxInt64
        usage = min(usage, 2**63 - 1)
        if self.target_type == "Value":
            r = float(usage) / float(self.target_milli)
            if spec_replicas != 0:
                if self._within(r):
                    return spec_replicas
                if status_replicas == 0:
                    return None  # "no pods returned by selector while calculating replica count"
                f = r * float(ready)
                return MAX_INT32 if f > MAX_INT32 else int(math.ceil(f))
            return int(math.ceil(r))
        # AverageValue: GetExternalPerPodMetricReplicas(statusReplicas, ...)
        s = status_replicas
        denom = float(self.target_milli) * float(s)
        if denom == 0.0:
            r = math.inf if usage > 0 else math.nan
        else:
            r = float(usage) / denom
        if self._within(r):
            return s
        res = math.ceil(float(usage) / float(self.target_milli))
        return MAX_INT32 if res > float(MAX_INT32) else int(res)

    # --- horizontal.go --------------------------------------------------------------------------
    def reconcile(self, now, spec_replicas, status_replicas, ready, metric):
        """One reconcileAutoscaler. Returns the new scale, or None when it does not scale."""
        current = spec_replicas
        if self.recommendations is None:  # recordInitialRecommendation
            self.recommendations = [[current, now]]
        self.last_proposal = None
        if current == 0 and self.min != 0:
            return None  # ScalingActive=False ScalingDisabled
        elif current > self.max:
            desired = self.max
        elif current < self.min:
            desired = self.min
        else:
            d0 = self.proposal(spec_replicas, status_replicas, ready, metric)
            if d0 is None:
                return None  # FailedComputeMetricsReplicas: no scaling, nothing stored
            self.last_proposal = d0
            if self.behavior is None:
                desired = self._normalize_legacy(now, current, d0)
            else:
                desired = self._normalize_behavior(now, current, d0)
        if desired == current:
            return None
        self._store_scale_event(now, current, desired)
        return desired

    def _normalize_legacy(self, now, current, d0):
        cutoff = now - self.downscale_window
        stabilized, found, idx = d0, False, 0
        for i, (value, ts) in enumerate(self.recommendations):
            if ts < cutoff:  # rec.timestamp.Before(cutoff)
                found, idx = True, i
            elif value > stabilized:
                stabilized = value
        if found:
            self.recommendations[idx] = [d0, now]
        else:
            self.recommendations.append([d0, now])
        scale_up_limit = int(max(2.0 * float(current), 4.0))
        max_allowed = scale_up_limit if self.max > scale_up_limit else self.max
        if stabilized < self.min:
            return self.min
        if stabilized > max_allowed:
            return max_allowed
        return stabilized

    def _normalize_behavior(self, now, current, d0):
        up, down = self.behavior["scaleUp"], self.behavior["scaleDown"]
        up_cut = now - up["stabilizationWindowSeconds"]
        down_cut = now - down["stabilizationWindowSeconds"]
        up_rec = down_rec = d0
        found, idx = False, 0
        for i, (value, ts) in enumerate(self.recommendations):
            if ts > up_cut:
                up_rec = min(value, up_rec)
            if ts > down_cut:
                down_rec = max(value, down_rec)
            if ts < up_cut and ts < down_cut:
                found, idx = True, i
        s = current
        if s < up_rec:
            s = up_rec
        if s > down_rec:
            s = down_rec
        if found:
            self.recommendations[idx] = [d0, now]
        else:
            self.recommendations.append([d0, now])
        # convertDesiredReplicasWithBehaviorRate
        if s > current:
            lim = self._scale_up_limit(now, current, up)
            if lim < current:
                lim = current
            max_allowed = lim if self.max > lim else self.max
            return max_allowed if s > max_allowed else s
        if s < current:
            lim = self._scale_down_limit(now, current, down)
            if lim > current:
                lim = current
            min_allowed = lim if self.min < lim else self.min
            return min_allowed if s < min_allowed else s
        return s

    @staticmethod
    def _change_in_period(now, period, events):
        return sum(ev[0] for ev in events if ev[1] > now - period)

    def _period_start(self, now, current, period):
        return (current - self._change_in_period(now, period, self.up_events)
                + self._change_in_period(now, period, self.down_events))

    def _scale_up_limit(self, now, current, rules):
        if rules["selectPolicy"] == "Disabled":
            return current
        if rules["selectPolicy"] == "Min":
            result, pick = MAX_INT32, min
        else:
            result, pick = MIN_INT32, max
        for p in rules["policies"]:
            start = self._period_start(now, current, p["periodSeconds"])
            if p["type"] == "Pods":
                proposed = start + p["value"]
            elif p["type"] == "Percent":
                proposed = int(math.ceil(float(start) * (1 + float(p["value"]) / 100)))
            else:
                raise ValueError(p["type"])
            result = pick(result, proposed)
        return result

    def _scale_down_limit(self, now, current, rules):
        if rules["selectPolicy"] == "Disabled":
            return current
        if rules["selectPolicy"] == "Min":
            result, pick = MIN_INT32, max
        else:
            result, pick = MAX_INT32, min
        for p in rules["policies"]:
            start = self._period_start(now, current, p["periodSeconds"])
            if p["type"] == "Pods":
                proposed = start - p["value"]
            elif p["type"] == "Percent":
                proposed = int(float(start) * (1 - float(p["value"]) / 100))  # truncates
            else:
                raise ValueError(p["type"])
            result = pick(result, proposed)
        return result

    def _store_scale_event(self, now, prev, new):
        if self.behavior is None:
            return
        if new > prev:
            rules, events, change = self.behavior["scaleUp"], self.up_events, new - prev
        else:
            rules, events, change = self.behavior["scaleDown"], self.down_events, prev - new
        longest = 0
        for p in rules["policies"]:
            longest = max(longest, p["periodSeconds"])
        found, idx = False, 0
        for i, ev in enumerate(events):
            if ev[1] < now - longest:  # markScaleEventsOutdated
                ev[2] = True
            if ev[2]:
                found, idx = True, i
        if found:
            events[idx] = [change, now, False]
        else:
            events.append([change, now, False])


def replay(case):
    """The closed loop with instantaneous pods: spec = status = ready = replicas so far."""
    c = Controller(case["hpa"], case["tolerance"], case["downscale_stabilization_seconds"])
    replicas, out = case["initial_replicas"], []
    for st in case["steps"]:
        d = c.reconcile(st["t"], replicas, replicas, replicas, st["metric"])
        out.append(d)
        if d is not None:
            replicas = d
    return out


# --- worked examples of section 4.6 -------------------------------------------------------------
def worked_examples():
    results = []
    avg100 = {"minReplicas": 1, "maxReplicas": 50, "target": {"type": "AverageValue", "value": 100}}
    with_defaults = dict(avg100, behavior={})

    # 1. A = 100, L = 1250, S = 10: proposal 13; legacy 13; behavior defaults 13 (limit 20).
    for hpa in (avg100, with_defaults):
        c = Controller(hpa)
        assert c.proposal(10, 10, 10, 1250) == 13
        assert c.reconcile(0, 10, 10, 10, 1250) == 13
    assert Controller(with_defaults)._scale_up_limit(0, 10, default_behavior({})["scaleUp"]) == 20
    results.append("1: proposal 13 -> 13 (legacy), 13 (behavior {}, scaleUpLimit 20)")

    # 2. At 13, forecast 700 -> proposal 7; held at 13 while a recommendation >= 8 is in the
    #    300 s window. Legacy counts ts >= now-300 (drops at +315 on a 15 s grid), the behavior
    #    path counts ts > now-300 (drops at +300); Percent 100/15s allows the full drop.
    drops = {}
    for name, hpa in (("legacy", avg100), ("behavior", with_defaults)):
        c = Controller(hpa)
        assert c.reconcile(0, 10, 10, 10, 1250) == 13
        got = None
        for t in range(15, 400, 15):
            d = c.reconcile(t, 13, 13, 13, 700)
            assert c.last_proposal == 7
            if d is not None:
                got = (t, d)
                break
        drops[name] = got
    assert drops == {"legacy": (315, 7), "behavior": (300, 7)}, drops
    results.append("2: proposal 7, stays 13, drops to 7 at t=315 (legacy, ts >= now-300) "
                   "and at t=300 (behavior, ts > now-300)")

    # 3. S = 20, needed 21.5 pods (r = 1.075): within 10% -> stays 20.
    for hpa in (avg100, with_defaults):
        c = Controller(hpa)
        assert c.proposal(20, 20, 20, 2150) == 20
        assert c.reconcile(0, 20, 20, 20, 2150) is None
    results.append("3: r = 1.075 within tolerance -> 20 (no scaling)")

    # 4. Value T = 1000, U = 1500, spec 6, ready 4 -> ceil(1.5 * 4) = 6: no scale-up.
    c = Controller({"minReplicas": 1, "maxReplicas": 50, "target": {"type": "Value", "value": 1000}})
    assert c.proposal(6, 6, 4, 1500) == 6
    assert c.reconcile(0, 6, 6, 4, 1500) is None
    results.append("4: Value, spec 6, ready 4 -> proposal 6, no scaling")

    # 5. current 2, proposal 30, max 50: legacy 4, 8, 16, 30; behavior defaults 6, 12, 24, 30.
    for hpa, want in ((avg100, [4, 8, 16, 30]), (with_defaults, [6, 12, 24, 30])):
        c, r, seq = Controller(hpa), 2, []
        for k in range(4):
            d = c.reconcile(15 * k, r, r, r, 3000)
            seq.append(d)
            r = d
        assert seq == want, seq
    results.append("5: 2 -> 4, 8, 16, 30 (legacy); 2 -> 6, 12, 24, 30 (behavior defaults)")

    # 6. items: [] -> invalid -> no scaling.
    for hpa in (avg100, with_defaults):
        c = Controller(hpa)
        assert c.reconcile(0, 5, 5, 5, None) is None
    results.append("6: no metric -> no scaling")

    # Go float64 details kept: ceil(50 * 1.1) = 56, int(10 * (1 - 0.8)) = 1, 1 - 0.2 <= 0.8.
    assert int(math.ceil(50.0 * (1 + 10.0 / 100))) == 56
    assert int(10.0 * (1 - 80.0 / 100)) == 1 and (1.0 - 0.2) <= 0.8
    assert milli_value(0.1) == 100 and milli_value(1100.0001) == 1100001 and milli_value(1250) == 1250000
    return results


# --- traces --------------------------------------------------------------------------------------
def times(rng, n, gaps=False, gap_prob=0.08):
    t, out = 0, []
    for _ in range(n):
        out.append(t)
        t += rng.randint(16, 30) if gaps and rng.random() < gap_prob else 15
    return out


def tidal(ts, base, peak1, peak2, rng, noise=0.03, days=2.0):
    """Two daily peaks (morning and evening), `days` compressed into the run."""
    span = ts[-1] + 15
    out = []
    for t in ts:
        ph = (t / span * days) % 1.0
        v = base + peak1 * math.exp(-((ph - 0.28) / 0.06) ** 2) + peak2 * math.exp(-((ph - 0.78) / 0.09) ** 2)
        out.append(max(0.0, v * (1 + rng.gauss(0, noise))))
    return out


def random_walk(n, start, lo, hi, rng, sigma=0.05):
    v, out = start, []
    for _ in range(n):
        v = min(hi, max(lo, v * math.exp(rng.gauss(0, sigma))))
        out.append(v)
    return out


def steps_levels(n, levels, rng, hold=(4, 40)):
    out = []
    while len(out) < n:
        out.extend([rng.choice(levels)] * rng.randint(*hold))
    return out[:n]


def q(v, nd=2):
    """Round a trace value for the fixture (integers stay integers)."""
    if isinstance(v, int):
        return v
    r = round(v, nd)
    return int(r) if r == int(r) else r


def build_case(name, hpa, initial, ts, values, probes=None, outages=(), tolerance=0.1, down=300,
               per_replica=False, dynamic=None):
    """Run the closed loop while writing the steps. `probes[i](replicas)` may replace the
    trace value at step i with one computed from the replicas at that step (tolerance
    boundaries); `outages` are (start, length) stretches of null metric. With `per_replica`
    the recorded metric is the load divided by the replicas at that step (a Value target on a
    metric that falls as pods are added, e.g. load per pod; a Value target on a total that
    does not fall only runs to maxReplicas). `dynamic(i, replicas)`, when it returns a number,
    replaces the trace value too."""
    probes = probes or {}
    hpa = {"minReplicas": hpa.get("minReplicas", 1), "maxReplicas": hpa["maxReplicas"],
           "target": hpa["target"], "behavior": hpa.get("behavior")}
    dead = set()
    for a, ln in outages:
        dead.update(range(a, a + ln))
    c = Controller(hpa, tolerance, down)
    replicas, steps, desired = initial, [], []
    for i, t in enumerate(ts):
        if i in dead:
            m = None
        elif i in probes:
            m = probes[i](replicas)
        elif dynamic is not None and dynamic(i, replicas) is not None:
            m = dynamic(i, replicas)
        elif per_replica:
            m = q(values[i] / max(replicas, 1))
        else:
            m = q(values[i])
        d = c.reconcile(t, replicas, replicas, replicas, m)
        steps.append({"t": t, "metric": m})
        desired.append(d)
        if d is not None:
            replicas = d
    case = {"name": name, "hpa": hpa, "tolerance": tolerance,
            "downscale_stabilization_seconds": down, "initial_replicas": initial,
            "steps": steps, "desired": desired}
    assert replay(json.loads(json.dumps(case))) == desired
    return case


def avg_probes(rng, n, per_pod, tol_up=0.1, tol_down=0.1, every=23, first=10):
    """AverageValue boundaries: total = per_pod * S * (1 + tol) exactly, and one milli past it."""
    kinds = []
    for k in (1 + tol_up, 1 - tol_down):
        kinds.append(lambda s, k=k: q(float(Decimal(repr(per_pod)) * s * Decimal(repr(k))), 3))
        sgn = 1 if k >= 1 else -1
        kinds.append(lambda s, k=k, sgn=sgn: q(float(Decimal(repr(per_pod)) * s * Decimal(repr(k))
                                                     + Decimal("0.001") * sgn), 3))
    kinds.append(lambda s: q(float(Decimal(repr(per_pod)) * s), 3))  # r == 1 exactly
    return {i: rng.choice(kinds) for i in range(first, n, every)}


def main():
    for line in worked_examples():
        print("worked example", line)

    cases = []
    # 1. legacy AverageValue, tidal, tolerance boundary probes, exact 15 s grid (exact 300 s).
    rng = random.Random(101)
    n = 1200
    ts = times(rng, n)
    hpa = {"minReplicas": 2, "maxReplicas": 40, "target": {"type": "AverageValue", "value": 100}}
    vals = tidal(ts, 300, 2600, 3400, rng)
    cases.append(build_case("legacy_average_value_tidal", hpa, 3, ts, vals,
                            probes=avg_probes(rng, n, 100)))

    # 2. legacy Value, random walk with steps, some 16-30 s gaps, sub-milli boundary values.
    rng = random.Random(202)
    n = 1000
    ts = times(rng, n, gaps=True)
    hpa = {"minReplicas": 1, "maxReplicas": 30, "target": {"type": "Value", "value": 1000}}
    vals = [a * b for a, b in zip(random_walk(n, 4000, 500, 25000, rng, 0.06),
                                  steps_levels(n, [1.0, 1.0, 1.0, 1.5, 0.6], rng, (10, 60)))]
    bounds = [1100, 900, 1100.0001, 899.9999, 1100.001, 899.999, 1000, 1000.0005]
    probes = {i: (lambda s, v=rng.choice(bounds): v) for i in range(7, n, 19)}
    cases.append(build_case("legacy_value_random_walk", hpa, 4, ts, vals, probes=probes,
                            per_replica=True))

    # 3. behavior: {} (all defaults), tidal plus step changes, exact grid.
    rng = random.Random(303)
    n = 1100
    ts = times(rng, n)
    hpa = {"minReplicas": 1, "maxReplicas": 60, "target": {"type": "AverageValue", "value": 250},
           "behavior": {}}
    tv = tidal(ts, 500, 9000, 12000, rng)
    sv = steps_levels(n, [0, 0, 1.0, 1.3, 2.5], rng, (10, 80))
    vals = [a * (1 + b) for a, b in zip(tv, sv)]
    cases.append(build_case("behavior_empty_defaults", hpa, 1, ts, vals,
                            probes=avg_probes(rng, n, 250, every=31)))

    # 4. scaleDown Pods 2 / 60 s, window 120 s (scaleUp defaulted), gaps.
    rng = random.Random(404)
    n = 900
    ts = times(rng, n, gaps=True, gap_prob=0.1)
    hpa = {"minReplicas": 2, "maxReplicas": 50, "target": {"type": "AverageValue", "value": 80},
           "behavior": {"scaleDown": {"stabilizationWindowSeconds": 120,
                                      "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}}
    vals = [a * b for a, b in zip(steps_levels(n, [200, 800, 1600, 3200, 400], rng, (3, 60)),
                                  random_walk(n, 1.0, 0.7, 1.4, rng, 0.03))]
    cases.append(build_case("scaledown_pods2_per60s_window120", hpa, 5, ts, vals,
                            probes=avg_probes(rng, n, 80, every=41)))

    # 5. scaleUp selectPolicy Min with Pods 1/15s and Percent 50/30s, gaps.
    rng = random.Random(505)
    n = 1000
    ts = times(rng, n, gaps=True)
    hpa = {"minReplicas": 1, "maxReplicas": 45, "target": {"type": "AverageValue", "value": 50},
           "behavior": {"scaleUp": {"selectPolicy": "Min",
                                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15},
                                                 {"type": "Percent", "value": 50, "periodSeconds": 30}]}}}
    tv = tidal(ts, 100, 1500, 2000, rng)
    sv = steps_levels(n, [1.0, 1.0, 1.6], rng, (5, 50))
    cases.append(build_case("scaleup_min_pods1_percent50", hpa, 2, ts,
                            [a * b for a, b in zip(tv, sv)], probes=avg_probes(rng, n, 50, every=37)))

    # 6. scaleDown Disabled (policies and window defaulted), Value target.
    rng = random.Random(606)
    n = 800
    ts = times(rng, n)
    hpa = {"minReplicas": 1, "maxReplicas": 25, "target": {"type": "Value", "value": 500},
           "behavior": {"scaleDown": {"selectPolicy": "Disabled"}}}
    vals = [a * b for a, b in zip(tidal(ts, 600, 5000, 7000, rng, days=3.0),
                                  random_walk(n, 1.0, 0.6, 1.6, rng, 0.02))]
    cases.append(build_case("scaledown_disabled_value", hpa, 2, ts, vals, per_replica=True))

    # 7. per-direction tolerance: 0 up, 0.2 down; probes at r = 1, 1 + 1 milli, 0.8, 0.8 - 1 milli.
    rng = random.Random(707)
    n = 1000
    ts = times(rng, n)
    hpa = {"minReplicas": 1, "maxReplicas": 40, "target": {"type": "AverageValue", "value": 37.5},
           "behavior": {"scaleUp": {"tolerance": 0}, "scaleDown": {"tolerance": 0.2}}}
    vals = [a * b for a, b in zip(tidal(ts, 100, 700, 1000, rng),
                                  random_walk(n, 1.0, 0.8, 1.25, rng, 0.02))]
    cases.append(build_case("tolerance_up0_down0p2", hpa, 3, ts, vals,
                            probes=avg_probes(rng, n, 37.5, tol_up=0.0, tol_down=0.2, every=7)))

    # 8. legacy min/max clamping: start above max, metric outages, loads beyond max and below min.
    rng = random.Random(808)
    n = 900
    ts = times(rng, n, gaps=True, gap_prob=0.05)
    hpa = {"minReplicas": 3, "maxReplicas": 20, "target": {"type": "AverageValue", "value": 100}}
    vals = steps_levels(n, [0, 50, 150, 900, 2500, 4000], rng, (8, 60))
    vals = [v * (1 + rng.gauss(0, 0.02)) for v in vals]
    cases.append(build_case("legacy_clamp_outage_start_above_max", hpa, 27, ts, vals,
                            outages=[(0, 3), (140, 25), (400, 60), (700, 5)]))

    # 9. the same with behavior: the clamp to max is a rescale and stores a scale-down event
    #    that holds the scale-down limit for the next policy periods; scaleDown selectPolicy Min
    #    over Percent 10 / 120 s (truncating) and Pods 1 / 60 s, window 30 s; outages.
    rng = random.Random(909)
    n = 900
    ts = times(rng, n)
    hpa = {"minReplicas": 3, "maxReplicas": 20, "target": {"type": "AverageValue", "value": 100},
           "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min",
                                      "policies": [{"type": "Percent", "value": 10, "periodSeconds": 120},
                                                   {"type": "Pods", "value": 1, "periodSeconds": 60}]}}}
    vals = [400] * 20 + steps_levels(n - 20, [0, 50, 150, 900, 2500, 4000], rng, (8, 60))
    vals = [v * (1 + rng.gauss(0, 0.02)) for v in vals]
    cases.append(build_case("behavior_clamp_outage_start_above_max", hpa, 26, ts, vals,
                            outages=[(2, 3), (200, 40), (520, 30)]))

    # 10. Percent float details: scaleUp Percent 10 / 15 s with a 60 s up window (ceil of
    #     50 * 1.1 is 56 in float64), scaleDown Percent 80 / 30 s + Pods 1 / 45 s, selectPolicy
    #     Max, window 0 (int(10 * (1 - 0.8)) is 1 in float64, not 2); Value target; gaps.
    rng = random.Random(1010)
    n = 1000
    ts = times(rng, n, gaps=True)
    hpa = {"minReplicas": 1, "maxReplicas": 80, "target": {"type": "Value", "value": 2000},
           "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60,
                                    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 15}]},
                        "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                      "policies": [{"type": "Percent", "value": 80, "periodSeconds": 30},
                                                   {"type": "Pods", "value": 1, "periodSeconds": 45}]}}}
    vals = [a * b for a, b in zip(tidal(ts, 10000, 100000, 140000, rng),
                                  steps_levels(n, [1.0, 1.0, 0.5, 2.0], rng, (10, 60)))]
    # a load collapse (metric 0) now and then at a multiple of 5 replicas, where the float64
    # truncation of the Percent 80 scale-down limit is one pod below the exact one
    drop = lambda i, r: 0 if (r % 5 == 0 and i % 9 == 0 and r > 5) else None
    cases.append(build_case("percent_float_up10_down80", hpa, 10, ts, vals, per_replica=True,
                            dynamic=drop))

    # 11. scale target at zero replicas with minReplicas 1: scaling disabled throughout.
    rng = random.Random(1111)
    n = 400
    ts = times(rng, n)
    hpa = {"minReplicas": 1, "maxReplicas": 10, "target": {"type": "AverageValue", "value": 100},
           "behavior": {}}
    cases.append(build_case("zero_replicas_scaling_disabled", hpa, 0, ts,
                            random_walk(n, 500, 10, 5000, rng)))

    doc = {"source": ("Independent Python port of the kube-controller-manager HPA loop "
                      "(autoscaling/v2, one External metric) from /work/shared/docs/"
                      "external-metrics-api.md section 4 and kubernetes/kubernetes "
                      "pkg/controller/podautoscaler/{horizontal.go,replica_calculator.go}, "
                      "pkg/apis/autoscaling/v2/defaults.go; closed loop with instantaneous pods "
                      "(spec = status = ready = replicas after the previous step); metric and "
                      "target numbers are quantities (MilliValue = ceil of the decimal value x 1000)"),
           "produced_by": "scripts/hpa_replay.py",
           "cases": cases}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    total = 0
    for c in cases:
        ds = c["desired"]
        scales = sum(d is not None for d in ds)
        total += len(ds)
        reps = [c["initial_replicas"]]
        for d in ds:
            reps.append(d if d is not None else reps[-1])
        print(f"{c['name']}: {len(ds)} steps, {scales} rescales, replicas {min(reps)}..{max(reps)}")
    print(f"{len(cases)} cases, {total} steps -> {OUT}")


if __name__ == "__main__":
    sys.exit(main())
