//! One HPA's reconcile, as `pkg/controller/podautoscaler` (Kubernetes 1.33+) computes it:
//! the metric's replica proposal (`replica_calculator.go`), then the legacy or behavior-based
//! normalization with its recommendation history and scale events (`horizontal.go`).

use crate::spec::{HpaSpec, PolicyKind, Rules, Select, Target};

/// What the cluster looks like at a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// `scale.spec.replicas`: what the controller last asked for.
    pub spec_replicas: i32,
    /// `scale.status.replicas`: pods created, ready or not.
    pub status_replicas: i32,
    /// Pods Running and Ready.
    pub ready: i32,
}

/// Why a reconcile did not scale.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoScaling {
    /// The metric could not be read (ScalingActive=False, FailedGetExternalMetric).
    #[error("unable to get external metric: {0}")]
    Metric(String),
    /// A `Value` target with no ready pod to multiply by.
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    /// Scaled to zero with `minReplicas` above zero (ScalingDisabled).
    #[error("scaling is disabled since the replica count of the target is zero")]
    Disabled,
}

/// A recommendation or a scale event with its time.
#[derive(Debug, Clone, Copy)]
struct Stamped {
    value: i32,
    at: i64,
}

/// The controller's memory of one HPA (lost when kube-controller-manager restarts).
#[derive(Debug, Clone)]
pub struct Controller {
    spec: HpaSpec,
    recommendations: Vec<Stamped>,
    up_events: Vec<Stamped>,
    down_events: Vec<Stamped>,
}

/// `int32(math.Ceil(x))` saturating at `MaxInt32`, as the Go controller converts.
fn ceil_i32(x: f64) -> i32 {
    if x >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        x.ceil() as i32
    }
}

/// A quantity read as the HPA reads it: `MilliValue()`, rounded up to a thousandth.
fn milli(v: f64) -> f64 {
    (v * 1000.0).ceil()
}

impl Controller {
    /// A controller that has not seen the HPA yet.
    pub fn new(spec: HpaSpec) -> Self {
        Self {
            spec,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// The HPA it runs.
    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// One reconcile at Unix second `now` with the metric's total (`Err`: it could not be
    /// read): the replicas the controller sets, or why it leaves them.
    pub fn reconcile(
        &mut self,
        now: i64,
        observed: Observed,
        metric: Result<f64, String>,
    ) -> Result<i32, NoScaling> {
        let current = observed.spec_replicas;
        if self.recommendations.is_empty() {
            self.recommendations.push(Stamped {
                value: current,
                at: now,
            });
        }
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        let desired = if current == 0 && min != 0 {
            return Err(NoScaling::Disabled);
        } else if current > max {
            max
        } else if current < min {
            min
        } else {
            let proposal = self.proposal(observed, metric.map_err(NoScaling::Metric)?)?;
            match self.spec.behavior.is_some() {
                false => self.normalize_legacy(now, current, proposal),
                true => self.normalize_with_behavior(now, current, proposal),
            }
        };
        if desired != current && self.spec.behavior.is_some() {
            self.store_event(now, current, desired);
        }
        Ok(desired)
    }

    /// The tolerances (down, up) of the usage ratio.
    fn tolerances(&self) -> (f64, f64) {
        let flag = self.spec.tolerance;
        match &self.spec.behavior {
            Some(b) => (
                b.down.tolerance.unwrap_or(flag),
                b.up.tolerance.unwrap_or(flag),
            ),
            None => (flag, flag),
        }
    }

    /// The metric's replica proposal for its total `usage` (`GetExternalMetricReplicas` /
    /// `GetExternalPerPodMetricReplicas`).
    fn proposal(&self, o: Observed, usage: f64) -> Result<i32, NoScaling> {
        let (down, up) = self.tolerances();
        let within = |r: f64| (1.0 - down) <= r && r <= (1.0 + up);
        let u = milli(usage);
        match self.spec.target {
            Target::Value(t) => {
                let r = u / milli(t);
                if o.spec_replicas == 0 {
                    Ok(ceil_i32(r))
                } else if within(r) {
                    Ok(o.spec_replicas)
                } else if o.ready == 0 {
                    Err(NoScaling::NoPods)
                } else {
                    Ok(ceil_i32(r * f64::from(o.ready)))
                }
            }
            Target::AverageValue(a) => {
                let a = milli(a);
                let r = u / (a * f64::from(o.status_replicas));
                Ok(if within(r) {
                    o.status_replicas
                } else {
                    ceil_i32(u / a)
                })
            }
        }
    }

    /// Without `behavior`: the largest recommendation of the downscale window, then at most
    /// `max(2 x current, 4)` and within min/max.
    fn normalize_legacy(&mut self, now: i64, current: i32, proposal: i32) -> i32 {
        let cutoff = now - self.spec.downscale_stabilization_secs;
        let mut stabilized = proposal;
        let mut old = None;
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.at < cutoff {
                old = Some(i);
            } else if r.value > stabilized {
                stabilized = r.value;
            }
        }
        self.remember(old, proposal, now);
        let max_allowed = self.spec.max_replicas.min((2 * current).max(4));
        if stabilized < self.spec.min_replicas {
            self.spec.min_replicas
        } else if stabilized > max_allowed {
            max_allowed
        } else {
            stabilized
        }
    }

    /// Store a recommendation in place of an outdated one, else append it.
    fn remember(&mut self, old: Option<usize>, value: i32, at: i64) {
        let r = Stamped { value, at };
        match old {
            Some(i) => self.recommendations[i] = r,
            None => self.recommendations.push(r),
        }
    }

    /// With `behavior`: stabilized between the windows' extremes, then rate-limited by the
    /// policies and clamped to min/max.
    fn normalize_with_behavior(&mut self, now: i64, current: i32, proposal: i32) -> i32 {
        let b = self.spec.behavior.clone().expect("behavior is set");
        let window = |r: &Rules, default: i64| r.stabilization_secs.unwrap_or(default);
        let up_cut = now - window(&b.up, 0);
        let down_cut = now - window(&b.down, self.spec.downscale_stabilization_secs);
        let (mut up_rec, mut down_rec, mut old) = (proposal, proposal, None);
        for (i, r) in self.recommendations.iter().enumerate() {
            if r.at > up_cut {
                up_rec = up_rec.min(r.value);
            }
            if r.at > down_cut {
                down_rec = down_rec.max(r.value);
            }
            if r.at < up_cut && r.at < down_cut {
                old = Some(i);
            }
        }
        self.remember(old, proposal, now);
        let stabilized = current.max(up_rec).min(down_rec);
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        if stabilized > current {
            let limit = self.up_limit(now, current, &b.up).max(current);
            stabilized.min(max.min(limit))
        } else if stabilized < current {
            let limit = self.down_limit(now, current, &b.down).min(current);
            stabilized.max(min.max(limit))
        } else {
            stabilized
        }
    }

    /// The replicas at the start of a policy's period: current minus the period's scale-ups,
    /// plus its scale-downs.
    fn period_start(&self, now: i64, current: i32, period_secs: i64) -> i32 {
        let cutoff = now - period_secs;
        let sum = |events: &[Stamped]| -> i32 {
            events
                .iter()
                .filter(|e| e.at > cutoff)
                .map(|e| e.value)
                .sum()
        };
        current - sum(&self.up_events) + sum(&self.down_events)
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn up_limit(&self, now: i64, current: i32, rules: &Rules) -> i32 {
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period_secs);
            match p.kind {
                PolicyKind::Pods => start.saturating_add(p.value),
                PolicyKind::Percent => {
                    ceil_i32(f64::from(start) * (1.0 + f64::from(p.value) / 100.0))
                }
            }
        });
        match rules.select {
            Select::Disabled => current,
            Select::Max => proposals.fold(i32::MIN, i32::max),
            Select::Min => proposals.fold(i32::MAX, i32::min),
        }
    }

    /// `calculateScaleDownLimitWithBehaviors`: `Max` picks the largest drop.
    fn down_limit(&self, now: i64, current: i32, rules: &Rules) -> i32 {
        let proposals = rules.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period_secs);
            match p.kind {
                PolicyKind::Pods => start - p.value,
                // Go converts with int32(), which truncates toward zero.
                PolicyKind::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                }
            }
        });
        match rules.select {
            Select::Disabled => current,
            Select::Max => proposals.fold(i32::MAX, i32::min),
            Select::Min => proposals.fold(i32::MIN, i32::max),
        }
    }

    /// Record a scale event, reusing one older than the direction's longest policy period.
    fn store_event(&mut self, now: i64, from: i32, to: i32) {
        let b = self.spec.behavior.as_ref().expect("behavior is set");
        let (events, rules, change) = if to > from {
            (&mut self.up_events, &b.up, to - from)
        } else {
            (&mut self.down_events, &b.down, from - to)
        };
        let longest = rules
            .policies
            .iter()
            .map(|p| p.period_secs)
            .max()
            .unwrap_or(0);
        let event = Stamped {
            value: change,
            at: now,
        };
        match events.iter().position(|e| e.at < now - longest) {
            Some(i) => events[i] = event,
            None => events.push(event),
        }
    }
}

#[cfg(test)]
mod tests;
