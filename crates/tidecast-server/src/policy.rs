//! What value to serve at request time, and the staleness chain behind it.
//!
//! At request time `t` a `scale`-mode target serves
//! `max(latest observed value, max over (t, t + lead] of the forecast at the served quantile)`,
//! so the value rises `lead` before a predicted peak, holds through it, and is never below
//! what a reactive HPA would see. As data ages the answer degrades in visible steps:
//!
//! | state | data age | served |
//! |---|---|---|
//! | `fresh` | <= `stale_after` | max(live, forecast over the lead) |
//! | `last_good` | <= `forecast_ttl` | max(last live, last good forecast over the lead) |
//! | `model_only` | <= `hard_limit` | the fitted calendar model's forecast over the lead |
//! | `expired` | > `hard_limit` | an error (HTTP 503): never a silently stale value |

use std::collections::BTreeMap;
use std::sync::Arc;
use tidecast_core::{SECS_PER_HOUR, SECS_PER_MINUTE};

/// How a target's value reaches the HPA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Serve the predicted value.
    Scale,
    /// Serve the live value; the would-be predicted value is only exported in /metrics.
    Observe,
}

/// Age limits of the staleness chain, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Staleness {
    /// Data older than this is no longer fresh.
    pub stale_after: i64,
    /// How long the last good forecast (plus last live value) is served.
    pub forecast_ttl: i64,
    /// After this, answer 503.
    pub hard_limit: i64,
}

impl Default for Staleness {
    fn default() -> Self {
        Self {
            stale_after: 5 * SECS_PER_MINUTE,
            forecast_ttl: 30 * SECS_PER_MINUTE,
            hard_limit: 2 * SECS_PER_HOUR,
        }
    }
}

/// The newest observation of a target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Unix seconds.
    pub t: i64,
    /// Value.
    pub value: f64,
}

/// A forecast at the served quantile on a regular grid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServedForecast {
    /// Unix seconds of `values[0]`.
    pub start: i64,
    /// Grid step in seconds.
    pub step: i64,
    /// Values at the served quantile.
    pub values: Vec<f32>,
}

impl ServedForecast {
    /// Max over grid points in `(from, to]`, if any exist.
    pub fn max_in(&self, from: i64, to: i64) -> Option<f64> {
        if self.values.is_empty() || self.step <= 0 {
            return None;
        }
        let first = if from < self.start {
            0
        } else {
            ((from - self.start) / self.step + 1) as usize
        };
        let last = if to < self.start {
            return None;
        } else {
            (((to - self.start) / self.step) as usize).min(self.values.len() - 1)
        };
        (first <= last).then(|| {
            self.values[first..=last]
                .iter()
                .fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(*v)))
        })
    }
}

/// Accuracy of past forecasts at one horizon, against what actually happened.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Accuracy {
    /// Horizon in seconds.
    pub horizon: i64,
    /// Pairs scored.
    pub n: u64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean absolute percentage error (%), over actuals > 0.
    pub mape: f64,
    /// Share of actuals inside the forecast's 80 % interval.
    pub coverage: f64,
}

/// Everything the server knows about one target: plain data, replaced wholesale by the
/// refresh loop and only read on the request path.
#[derive(Debug, Clone)]
pub struct TargetView {
    /// Unique target name (from the config).
    pub name: String,
    /// Exposed metric name, lowercase.
    pub metric: String,
    /// Labels of the served series (matched by `labelSelector`).
    /// Shared with the target's settings: one copy per target, however many views.
    pub labels: Arc<BTreeMap<String, String>>,
    /// Namespaces allowed to read it; `None` = all.
    pub namespaces: Option<Vec<String>>,
    /// `scale` or `observe`.
    pub mode: Mode,
    /// Lead time in seconds.
    pub lead: i64,
    /// Age limits.
    pub staleness: Staleness,
    /// Newest observation, if any.
    pub live: Option<Observation>,
    /// Forecast at the served quantile, covering at least `hard_limit + lead`.
    pub forecast: ServedForecast,
    /// Point forecasts at fixed horizons `(seconds ahead, value)` for /metrics.
    pub horizons: Vec<(i64, f64)>,
    /// Rolling accuracy by horizon.
    pub accuracy: Vec<Accuracy>,
    /// Successful refreshes so far.
    pub refresh_ok: u64,
    /// Failed refreshes so far.
    pub refresh_failed: u64,
    /// The last refresh error, if the last refresh failed.
    pub last_error: Option<String>,
    /// The refit point (data end, Unix seconds) of the model in use, if any.
    pub model_refit_point: Option<i64>,
    /// Recent actuals and the band ahead, for the live board; `None` when it is off.
    pub trail: Option<Arc<Trail>>,
}

/// What the live board draws of a target: its recent observations and the forecast's
/// 80 % band ahead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    /// Grid step of the actuals and the band, seconds.
    pub step: i64,
    /// Unix seconds of `actual[0]`.
    pub actual_start: i64,
    /// Recent observations on the grid (NaN where missing), oldest first.
    pub actual: Vec<f32>,
    /// Unix seconds of `lower[0]` and `upper[0]`.
    pub band_start: i64,
    /// The band's lower edge (the 0.1 quantile).
    pub lower: Vec<f32>,
    /// The band's upper edge (the 0.9 quantile).
    pub upper: Vec<f32>,
}

/// Where a target is in the staleness chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Recent data.
    Fresh,
    /// Data stale; last good forecast served.
    LastGood,
    /// Data old; the calendar model's forecast served.
    ModelOnly,
    /// Too old to serve.
    Expired,
    /// Nothing observed yet.
    NoData,
}

impl Freshness {
    /// All states, for exporting one gauge per state.
    pub const ALL: [Freshness; 5] = [
        Freshness::Fresh,
        Freshness::LastGood,
        Freshness::ModelOnly,
        Freshness::Expired,
        Freshness::NoData,
    ];

    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::LastGood => "last_good",
            Freshness::ModelOnly => "model_only",
            Freshness::Expired => "expired",
            Freshness::NoData => "no_data",
        }
    }
}

/// The outcome of serving a target at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// Staleness state.
    pub state: Freshness,
    /// The value to serve, or why there is none.
    pub value: Result<f64, String>,
    /// The predicted value whatever the mode (for observe-mode comparisons).
    pub predicted: Option<f64>,
    /// Data age in seconds.
    pub age: Option<i64>,
}

impl TargetView {
    /// The staleness state at `now`.
    pub fn freshness(&self, now: i64) -> Freshness {
        let Some(live) = self.live else {
            return Freshness::NoData;
        };
        let age = now - live.t;
        let s = &self.staleness;
        if age <= s.stale_after {
            Freshness::Fresh
        } else if age <= s.forecast_ttl {
            Freshness::LastGood
        } else if age <= s.hard_limit {
            Freshness::ModelOnly
        } else {
            Freshness::Expired
        }
    }

    /// What to serve at `now` (Unix seconds). Never returns a non-finite or negative value.
    pub fn serve(&self, now: i64) -> Served {
        let state = self.freshness(now);
        let age = self.live.map(|l| now - l.t);
        let ahead = self.forecast.max_in(now, now + self.lead);
        let live = self.live.map(|l| l.value).filter(|v| v.is_finite());
        let predicted = match state {
            Freshness::Fresh | Freshness::LastGood => match (live, ahead) {
                (Some(l), Some(f)) => Some(l.max(f)),
                (l, f) => l.or(f),
            },
            Freshness::ModelOnly => ahead,
            Freshness::Expired | Freshness::NoData => None,
        }
        .filter(|v| v.is_finite())
        .map(|v| v.max(0.0));
        let value = match (state, self.mode) {
            (Freshness::NoData, _) => Err(format!("target {} has no data yet", self.name)),
            (Freshness::Expired, _) => Err(format!(
                "target {}: newest data is {}s old, beyond the {}s hard limit",
                self.name,
                age.unwrap_or_default(),
                self.staleness.hard_limit
            )),
            (Freshness::Fresh, Mode::Observe) => live
                .map(|v| v.max(0.0))
                .ok_or_else(|| format!("target {}: no live value", self.name)),
            (_, Mode::Observe) => Err(format!(
                "target {} (observe mode): newest data is {}s old, beyond {}s",
                self.name,
                age.unwrap_or_default(),
                self.staleness.stale_after
            )),
            (_, Mode::Scale) => predicted.ok_or_else(|| {
                format!(
                    "target {}: no forecast covers the next {}s",
                    self.name, self.lead
                )
            }),
        };
        Served {
            state,
            value,
            predicted,
            age,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn view(live: f64, forecast: Vec<f32>) -> TargetView {
        TargetView {
            name: "t".into(),
            metric: "m".into(),
            labels: Arc::default(),
            namespaces: None,
            mode: Mode::Scale,
            lead: 900,
            staleness: Staleness::default(),
            live: Some(Observation { t: 0, value: live }),
            forecast: ServedForecast {
                start: 60,
                step: 60,
                values: forecast,
            },
            horizons: vec![],
            accuracy: vec![],
            refresh_ok: 1,
            refresh_failed: 0,
            last_error: None,
            model_refit_point: None,
            trail: None,
        }
    }

    #[test]
    fn the_value_rises_a_lead_before_the_peak() {
        // A peak of 1000 at minute 30, quiet (10) before.
        let f: Vec<f32> = (1..=200)
            .map(|m| if (30..60).contains(&m) { 1000.0 } else { 10.0 })
            .collect();
        let v = view(10.0, f);
        assert_eq!(
            v.serve(0).value,
            Ok(10.0),
            "15 minutes ahead is still quiet"
        );
        assert_eq!(
            v.serve(15 * 60).value,
            Ok(1000.0),
            "minute 30 is within the lead"
        );
        assert_eq!(v.serve(14 * 60).value, Ok(10.0));
    }

    #[test]
    fn the_staleness_chain_degrades_in_steps_then_fails() {
        let v = view(50.0, vec![20.0; 200 * 60]);
        assert_eq!(v.serve(100).state, Freshness::Fresh);
        assert_eq!(v.serve(100).value, Ok(50.0), "live is a floor");
        assert_eq!(v.serve(600).state, Freshness::LastGood);
        assert_eq!(v.serve(600).value, Ok(50.0));
        assert_eq!(v.serve(3600).state, Freshness::ModelOnly);
        assert_eq!(
            v.serve(3600).value,
            Ok(20.0),
            "model only: the forecast alone"
        );
        let e = v.serve(7201);
        assert_eq!(e.state, Freshness::Expired);
        assert!(e.value.unwrap_err().contains("hard limit"));
    }

    #[test]
    fn observe_mode_serves_live_and_reports_the_prediction() {
        let mut v = view(50.0, vec![80.0; 100]);
        v.mode = Mode::Observe;
        let s = v.serve(60);
        assert_eq!(s.value, Ok(50.0));
        assert_eq!(s.predicted, Some(80.0));
        assert!(
            v.serve(600).value.is_err(),
            "observe never serves stale live data"
        );
    }

    #[test]
    fn non_finite_forecasts_are_never_served() {
        let v = view(f64::NAN, vec![f32::NAN; 10]);
        assert!(v.serve(0).value.is_err());
    }

    proptest! {
        #[test]
        fn the_served_value_is_never_below_the_live_value(
            live in 0.0f64..1e6,
            f in prop::collection::vec(0.0f32..1e6, 1..300),
            now in 0i64..300,
        ) {
            let v = view(live, f);
            if let Ok(x) = v.serve(now).value {
                prop_assert!(x >= live);
            }
        }
    }
}
