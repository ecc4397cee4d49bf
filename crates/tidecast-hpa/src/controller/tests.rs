//! The worked examples of the HPA's algorithm (the Kubernetes controller's sources, as the
//! repository's docs/protocol.md summarizes them), then properties.

use super::*;
use crate::spec::{Behavior, Policy};

fn steady(replicas: i32) -> Observed {
    Observed {
        spec_replicas: replicas,
        status_replicas: replicas,
        ready: replicas,
    }
}

fn average(min: i32, max: i32, per_pod: f64, behavior: Option<Behavior>) -> Controller {
    let mut spec = HpaSpec::new(min, max, Target::AverageValue(per_pod));
    spec.behavior = behavior;
    Controller::new(spec)
}

/// Example 1: AverageValue 100, load 1,250 on 10 pods: 13, on both paths.
#[test]
fn a_forecast_above_tolerance_asks_for_its_total_over_the_per_pod_target() {
    for behavior in [None, Some(Behavior::default())] {
        let mut c = average(1, 50, 100.0, behavior);
        assert_eq!(c.reconcile(0, steady(10), Ok(1250.0)), Ok(13));
    }
}

/// Example 2: at 13, the forecast falls to 700: 13 while the 13 is in the 300 s window, then
/// 7. The legacy path counts a recommendation exactly 300 s old (`!ts.Before(cutoff)`), the
/// behavior path does not (`ts.After(cutoff)`), as in the Go controller.
#[test]
fn a_fall_waits_for_the_downscale_window_then_drops_in_full() {
    for (behavior, last_held) in [(None, 300), (Some(Behavior::default()), 285)] {
        let mut c = average(1, 50, 100.0, behavior);
        assert_eq!(c.reconcile(0, steady(10), Ok(1250.0)), Ok(13));
        let mut t = 15;
        while t <= last_held {
            assert_eq!(c.reconcile(t, steady(13), Ok(700.0)), Ok(13), "at {t} s");
            t += 15;
        }
        assert_eq!(c.reconcile(t, steady(13), Ok(700.0)), Ok(7), "at {t} s");
    }
}

/// Example 3: 21.5 pods wanted of 20 is within the 10 % tolerance: 20.
#[test]
fn a_change_within_tolerance_keeps_the_replicas() {
    let mut c = average(1, 50, 100.0, None);
    assert_eq!(c.reconcile(0, steady(20), Ok(2150.0)), Ok(20));
}

/// Example 4: a Value target multiplies by ready pods: 1.5 x 4 ready = 6 = spec, no scale-up.
#[test]
fn a_value_target_counts_ready_pods_only() {
    let mut c = Controller::new(HpaSpec::new(1, 50, Target::Value(1000.0)));
    let o = Observed {
        spec_replicas: 6,
        status_replicas: 6,
        ready: 4,
    };
    assert_eq!(c.reconcile(0, o, Ok(1500.0)), Ok(6));
    let none_ready = Observed { ready: 0, ..o };
    assert_eq!(
        c.reconcile(15, none_ready, Ok(1500.0)),
        Err(NoScaling::NoPods)
    );
}

/// Example 5: from 2 towards 30, the legacy path doubles (at least to 4); the behavior
/// defaults add max(4 pods, 100 %) of the count at the period's start.
#[test]
fn a_large_scale_up_is_rate_limited_per_sync_period() {
    let run = |behavior: Option<Behavior>| {
        let mut c = average(1, 50, 1.0, behavior);
        let (mut replicas, mut seen) = (2, vec![]);
        for k in 0..5 {
            replicas = c.reconcile(k * 15, steady(replicas), Ok(30.0)).unwrap();
            seen.push(replicas);
        }
        seen
    };
    assert_eq!(run(None), [4, 8, 16, 30, 30]);
    assert_eq!(run(Some(Behavior::default())), [6, 12, 24, 30, 30]);
}

/// Example 6: an unreadable metric leaves the replicas where they are.
#[test]
fn a_metric_that_cannot_be_read_never_scales() {
    let mut c = average(1, 50, 100.0, None);
    let e = c.reconcile(0, steady(10), Err("no metrics returned".into()));
    assert!(matches!(e, Err(NoScaling::Metric(_))), "{e:?}");
}

#[test]
fn outside_min_and_max_the_bounds_apply_without_the_metric() {
    let mut c = average(3, 8, 100.0, Some(Behavior::default()));
    assert_eq!(c.reconcile(0, steady(12), Err("down".into())), Ok(8));
    assert_eq!(c.reconcile(15, steady(1), Err("down".into())), Ok(3));
    assert_eq!(
        c.reconcile(30, steady(0), Ok(1.0)),
        Err(NoScaling::Disabled)
    );
}

#[test]
fn a_disabled_direction_never_moves_that_way() {
    let mut b = Behavior::default();
    b.down.select = Select::Disabled;
    b.down.stabilization_secs = Some(0);
    let mut c = average(1, 50, 100.0, Some(b));
    assert_eq!(c.reconcile(0, steady(10), Ok(100.0)), Ok(10));
    assert_eq!(c.reconcile(15, steady(10), Ok(3000.0)), Ok(20));
}

#[test]
fn a_pods_policy_limits_the_drop_per_period() {
    let b = Behavior {
        up: Rules::default_up(),
        down: Rules {
            stabilization_secs: Some(0),
            select: Select::Max,
            policies: vec![Policy {
                kind: PolicyKind::Pods,
                value: 2,
                period_secs: 60,
            }],
            tolerance: None,
        },
    };
    let mut c = average(1, 50, 100.0, Some(b));
    let mut replicas = 10;
    let mut seen = vec![];
    for k in 0..6 {
        replicas = c.reconcile(k * 15, steady(replicas), Ok(100.0)).unwrap();
        seen.push(replicas);
    }
    // Two pods a minute: 8 at once, then nothing until the first drop is a minute old.
    assert_eq!(seen, [8, 8, 8, 8, 6, 6]);
}

#[test]
fn per_direction_tolerances_override_the_flag() {
    let mut b = Behavior::default();
    b.up.tolerance = Some(0.0);
    let mut c = average(1, 50, 100.0, Some(b));
    // 2 % over: within the flag's 10 %, not within a zero scale-up tolerance.
    assert_eq!(c.reconcile(0, steady(50), Ok(5000.0)), Ok(50));
    let mut c = average(1, 60, 100.0, c.spec().behavior.clone());
    assert_eq!(c.reconcile(0, steady(50), Ok(5100.0)), Ok(51));
}

/// Replicas stay within min/max and never rise faster than the default policies allow,
/// whatever the metric does (a deterministic pseudo-random walk of loads).
#[test]
fn replicas_stay_in_bounds_and_within_the_scale_up_rate() {
    for seed in 1..50u64 {
        let mut c = average(2, 40, 10.0, Some(Behavior::default()));
        let (mut state, mut replicas) = (seed, 2);
        for k in 0..400 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let load = (state >> 40) as f64 % 600.0;
            let next = c.reconcile(k * 15, steady(replicas), Ok(load)).unwrap();
            assert!((2..=40).contains(&next), "seed {seed} step {k}: {next}");
            assert!(
                next <= (replicas + 4).max(2 * replicas),
                "seed {seed} step {k}: {replicas} -> {next}"
            );
            replicas = next;
        }
    }
}
