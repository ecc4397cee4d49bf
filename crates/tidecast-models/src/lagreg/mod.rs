//! A direct multi-horizon lag regression: for each horizon `h`, ridge regression (linfa's
//! elastic net with an L2 penalty only) of the change `y(t+h) - y(t)` on the seasonal
//! changes on the last day of the target's kind (working or rest, holidays included: Friday
//! for a Monday, see [`tidecast_core::days_back`]), one week and two weeks earlier, the slopes of those
//! days' curves at the target time, the latest movements, the newest value against its
//! means over the last 3 hours, 12 hours, day and week (how far a burst falls back;
//! relative means, so a trend does not pull the forecast to an old level) and the mean
//! change over the same minutes of the hour through the last day (events at fixed minutes
//! of every hour). Under four weeks of history the weekly features are left out
//! ([`LagSpec::daily_only`]). It anchors on the newest observation and borrows the shape of
//! the coming hours from the recent past, which suits smooth, strongly seasonal load.
//!
//! Ridge is solved in closed form: linfa's least squares on the normal equations
//! `(X'X + n * penalty * I) b = X'y`, the same objective as scikit-learn's `Ridge` with
//! `alpha = n * penalty`, at a fraction of the cost of coordinate descent.
//!
//! The same regression can run on `ln(1 + y)` ([`Space::Log`]), where a seasonal swing is a
//! ratio of the level: the `auto` model uses whichever space validates better per series.
//!
//! Its coefficients can also vary with the time of day of the target
//! ([`LagSpec::varying`]): each seasonal feature and the latest step is multiplied by a
//! Fourier basis of the target's slot in the day (a varying-coefficient model, as in
//! Hastie & Tibshirani 1993); the recent-mean features keep one coefficient each, and the
//! variation is penalized more than the mean ([`HARMONIC_PENALTY`]).
//! How far yesterday's movement at this hour predicts today's differs by hour: where the
//! daily shape drifts (the evening lighting peak following sunset), yesterday's change is the
//! better guide; where it is stable, the multi-week changes are. Slots are local time (the
//! calendar's zone), so the hours keep their meaning across daylight-saving changes.

mod design;
mod features;
mod fit;
mod sums;

pub(crate) use features::lookback;
pub(crate) use fit::LagSpec;
pub(crate) use sums::{PrefixSums, Recent, Sums};

use crate::packed::Values;
use crate::transform::Space;
use design::design_dot;
use features::{Lags, NF, clip, features_with, hour_steps, recent_windows};
use sums::{Single, mean_back_by_sum};

/// Fitted coefficients per horizon (row `h - 1`), on features divided by `scale`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LagRegression {
    day: usize,
    week: usize,
    /// Whether the weekly lags are features (else they are 0: a history under four weeks).
    weekly: bool,
    /// Per horizon; f32 (7 digits, far finer than the fit's error) halves a server's share.
    coefs: Vec<Vec<f32>>,
    /// Per horizon, the bound each scaled feature is clipped to ([`FEATURE_CLIP`]).
    bounds: Vec<[f32; NF]>,
    scale: f64,
    space: Space,
    /// Fourier harmonics of the time of day the coefficients vary with (0: constant).
    harmonics: usize,
}

/// Where a forecast time falls: its slot in the day (`0..day`, local time; read only when
/// the coefficients vary with it) and how many days back the last day of its kind is
/// (working or rest; the daily lags look there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) slot: usize,
    pub(crate) day_back: usize,
}

#[cfg(test)]
impl Target {
    /// At `slot`, with the daily lags one day back.
    pub(crate) fn at_slot(slot: usize) -> Self {
        Self { slot, day_back: 1 }
    }
}

impl LagRegression {
    /// Whether the weekly lags are features ([`LagSpec::daily_only`]).
    pub(crate) fn weekly(&self) -> bool {
        self.weekly
    }

    /// The space it was fitted in.
    pub(crate) fn space(&self) -> Space {
        self.space
    }

    /// Horizons fitted.
    #[cfg(test)]
    pub(crate) fn horizons(&self) -> usize {
        self.coefs.len()
    }

    /// Fourier harmonics of the time of day the coefficients vary with (0: constant).
    pub(crate) fn harmonics(&self) -> usize {
        self.harmonics
    }

    /// The forecast `h` steps after index `t` of `y`; `target` says where the forecast time
    /// falls ([`Target`]). (Serving forecasts
    /// share the recent means over their horizons: [`LagRegression::predict_recent`].)
    #[cfg(test)]
    pub(crate) fn predict(
        &self,
        y: &(impl Values + ?Sized),
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        self.predict_recent(y, t, h, target, &self.recent(y, t))
    }

    /// The recent means of `y` at index `t` that every horizon's features read: computed
    /// once per forecast instead of once per horizon (the week's mean sums 2,016 values at
    /// 5 minutes).
    pub(crate) fn recent(&self, y: &(impl Values + ?Sized), t: usize) -> Recent {
        let space = self.space;
        let g = |i: usize| y.value(i).map(|v| space.forward(v));
        let windows = recent_windows(self.day);
        Recent {
            t,
            windows,
            means: windows.map(|k| mean_back_by_sum(g, t, k)),
        }
    }

    /// The forecast `h` steps after index `t` of `y` (`target`: where the forecast time
    /// falls, [`Target`]), with the [`Recent`] means of `y` at `t`.
    pub(crate) fn predict_recent(
        &self,
        y: &(impl Values + ?Sized),
        t: usize,
        h: usize,
        target: Target,
        recent: &Recent,
    ) -> Option<f64> {
        let space = self.space;
        let g = |i: usize| y.value(i).map(|v| space.forward(v));
        let sums = Single {
            g,
            recent,
            hour: hour_steps(self.day),
        };
        self.predict_with(g, &sums, t, h, target)
    }

    /// The forecast `h` steps after index `t` from `z`, the series already mapped into the model's
    /// [`Space`] (for many forecasts from one history: each value is mapped once), with
    /// `sums` the [`PrefixSums`] of `z`.
    pub(crate) fn predict_mapped(
        &self,
        z: &[f64],
        sums: &PrefixSums,
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        self.predict_with(|i| z.get(i).copied(), sums, t, h, target)
    }

    fn predict_with(
        &self,
        g: impl Fn(usize) -> Option<f64>,
        sums: &impl Sums,
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        let c = self.coefs.get(h.checked_sub(1)?)?;
        let lags = Lags {
            day: self.day,
            week: self.week,
            weekly: self.weekly,
        };
        let f = clip(
            features_with(&g, sums, t, h, lags, target.day_back)?.map(|v| v / self.scale),
            self.bounds.get(h - 1)?,
        );
        let change = design_dot(&f, c, self.harmonics, target.slot % self.day, self.day);
        Some(self.space.back(g(t)? + change * self.scale))
    }

    /// Coefficients of horizon `h` (for tests).
    #[cfg(test)]
    pub(crate) fn coefficients(&self, h: usize) -> Vec<f64> {
        self.coefs[h - 1].iter().map(|c| f64::from(*c)).collect()
    }
}

#[cfg(test)]
mod tests;
