//! The tidal model: a seasonal profile by local time and day class, times a level that
//! follows the latest observations.
//!
//! `y(t) ≈ P(t) · r(t)`, where `P` is a robust [`Profile`] and `r` is the ratio of the load
//! to its profile. Two exponentially weighted regressions of `y` on `P` through the origin
//! track `r`: a slow one (the level: growth, holidays, drift) and a fast one (the last
//! minutes). The forecast `h` steps ahead is `P(t+h) · (r_slow + φ^h (r_fast - r_slow))`:
//! the latest deviation decays into the level. Weighting by `P²` makes idle nights, where
//! ratios are noise, count little. Which profile (daily or weekly classes, smoothed or
//! not) is chosen per series, and which decays per series and tuning horizon (5, 15, 30
//! and 60 minutes: each has its own pair of filters), by an inner rolling-origin validation
//! on the last days of the training window; intervals come from that validation's
//! residuals, per horizon.

mod level;
mod search;

use crate::calibration::{Calibration, check_quantiles};
use crate::profile::{Profile, ProfileKind};
use crate::transform::{bridged, non_negative};
use crate::{Error, Result};
use level::{Bands, Levels};
use search::{Choice, Search};
use std::sync::Arc;
use tidecast_core::{
    Calendar, Fit, Forecast, LocalTime, Predict, SECS_PER_DAY, SECS_PER_WEEK, Series,
};

/// Residuals a horizon needs for its own interval row (fewer borrow a shorter horizon's).
const MIN_RESIDUALS: usize = 20;

/// At most this many calibration origins: beyond it they are strided (cost, not accuracy).
const MAX_CALIBRATION_ORIGINS: usize = 2000;

/// A forecast is clipped to this many times the largest observed magnitude: a runaway level
/// must not scale production by orders of magnitude.
const CAP_FACTOR: f64 = 10.0;

/// Specification of the tidal model.
#[derive(Debug, Clone)]
#[must_use]
pub struct TidalSpec {
    max_horizon: usize,
    validation_secs: i64,
    kinds: Vec<ProfileKind>,
}

impl Default for TidalSpec {
    fn default() -> Self {
        Self {
            max_horizon: 12,
            validation_secs: SECS_PER_WEEK,
            kinds: vec![ProfileKind::Daily, ProfileKind::Weekly],
        }
    }
}

impl TidalSpec {
    /// Defaults: both profile kinds, 7 days of inner validation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calibrate intervals up to this many steps ahead (longer horizons reuse the last).
    pub fn max_horizon(mut self, steps: usize) -> Self {
        self.max_horizon = steps.max(1);
        self
    }

    /// Restrict the profile kinds considered.
    pub fn kinds(mut self, kinds: &[ProfileKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }
}

/// A fitted tidal model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tidal {
    calendar: Arc<Calendar>,
    profile: Profile,
    bands: Bands,
    levels: Vec<Levels>,
    step: i64,
    last: i64,
    calibration: Calibration,
    scale_floor: f64,
    non_negative: bool,
    cap: f64,
    name: String,
}

/// The bridged history a fit works on, with what every step reads.
struct Prepared {
    step: i64,
    series: Series,
    locals: Vec<LocalTime>,
    non_negative: bool,
    max_abs: f64,
    scale_floor: f64,
}

impl Prepared {
    /// Bridge the history's short gaps; refuse less than a day of observations.
    fn new(history: &Series, calendar: &Calendar) -> Result<Self> {
        let step = history.step();
        let series = bridged(history);
        let y = series.values();
        let observed = series.observed();
        if (observed as i64) * step < SECS_PER_DAY {
            return Err(Error::NotEnoughData {
                model: "the tidal model",
                needed: "at least one day of observations".into(),
                got: format!("{observed} samples at a {step}s step"),
            });
        }
        let locals = calendar.local_times(series.start(), step, series.len());
        let max_abs = y
            .iter()
            .filter(|v| !v.is_nan())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mean_abs = y
            .iter()
            .filter(|v| !v.is_nan())
            .map(|v| v.abs())
            .sum::<f64>()
            / observed as f64;
        Ok(Self {
            step,
            non_negative: non_negative(y),
            max_abs,
            scale_floor: 0.01 * mean_abs + 1e-9,
            locals,
            series,
        })
    }

    fn y(&self) -> &[f64] {
        self.series.values()
    }

    /// The profile of `choice` estimated on `range` of the history.
    fn profile(&self, choice: &Choice, range: std::ops::Range<usize>) -> Result<Profile> {
        Profile::estimate(
            choice.kind,
            self.step,
            &self.y()[range.clone()],
            &self.locals[range],
            choice.smooth,
        )
        .ok_or(Error::NotEnoughData {
            model: "the tidal profile",
            needed: "observations".into(),
            got: "none in its window".into(),
        })
    }
}

impl Fit for TidalSpec {
    type Fitted = Tidal;

    fn fit(&self, history: &Series, calendar: Arc<Calendar>) -> tidecast_core::Result<Tidal> {
        Ok(self.fit_tidal(history, calendar)?)
    }
}

impl TidalSpec {
    /// Validate the configurations on the last days, calibrate the chosen one, then fit it on
    /// the whole window.
    pub(crate) fn fit_tidal(&self, history: &Series, calendar: Arc<Calendar>) -> Result<Tidal> {
        let data = Prepared::new(history, &calendar)?;
        let n = data.series.len();
        let val = search::validation_len(n, data.step, self.validation_secs);
        let split = n - val;
        let horizons = search::tuning_horizons(data.step);
        let smooths = search::smoothing_widths(data.step);
        let chosen = (val > 0)
            .then(|| Search::new(data.y(), &data.locals, data.step, split, &horizons))
            .and_then(|s| s.choose(&self.kinds, &smooths));
        let choice = chosen.unwrap_or_else(|| Choice {
            kind: ProfileKind::Daily,
            smooth: *smooths.last().expect("non-empty"),
            window: usize::MAX,
            bands: Bands::single(search::default_params(data.step)),
        });
        let max_h = self.max_horizon.max(*horizons.last().expect("non-empty"));
        let calibration = calibrate(&data, &choice, val, max_h)?;
        assemble(data, choice, calibration, calendar)
    }
}

/// Interval calibration: the residuals of the chosen configuration, relative to the forecast,
/// out of sample after the validation split (in sample on the second half without one).
fn calibrate(data: &Prepared, choice: &Choice, val: usize, max_h: usize) -> Result<Calibration> {
    let (y, n) = (data.y(), data.series.len());
    let split = n - val;
    let (cal_profile, cal_from) = if val > 0 {
        let from = split.saturating_sub(choice.window);
        (data.profile(choice, from..split)?, split)
    } else {
        (data.profile(choice, 0..n)?, (n / 2).max(1))
    };
    let p: Vec<f64> = data.locals.iter().map(|l| cal_profile.at(l)).collect();
    let cal_stride = ((n - cal_from) / MAX_CALIBRATION_ORIGINS).max(1);
    let bands = &choice.bands;
    let mut residuals = vec![Vec::new(); max_h];
    let mut lv = vec![Levels::default(); bands.params.len()];
    let table = bands.table(max_h);
    for i in 0..n {
        if !y[i].is_nan() {
            bands.update(&mut lv, y[i], p[i]);
        }
        if i < cal_from || !(i - cal_from).is_multiple_of(cal_stride) {
            continue;
        }
        let now = Bands::snapshot(&lv);
        for ((h, r), row) in residuals.iter_mut().enumerate().zip(&table) {
            let j = i + h + 1;
            if j >= n {
                break;
            }
            if y[j].is_nan() {
                continue;
            }
            let pred = p[j] * Bands::level(&now, row);
            // Relative to the forecast itself (multiplicative errors, as in an ETS with
            // multiplicative errors), so an interval follows a level the fast filter has
            // moved to instead of keeping the old level's width for days after a shift.
            r.push((y[j] - pred) / (pred.abs() + data.scale_floor));
        }
    }
    Ok(Calibration::from_residuals(&mut residuals, MIN_RESIDUALS))
}

/// The served model: the chosen profile on its window of the whole history, the levels run
/// through all of it.
fn assemble(
    data: Prepared,
    choice: Choice,
    calibration: Calibration,
    calendar: Arc<Calendar>,
) -> Result<Tidal> {
    let n = data.series.len();
    let profile = data.profile(&choice, n.saturating_sub(choice.window)..n)?;
    let bands = choice.bands;
    let mut levels = vec![Levels::default(); bands.params.len()];
    for (v, l) in data.y().iter().zip(&data.locals) {
        if !v.is_nan() {
            bands.update(&mut levels, *v, profile.at(l));
        }
    }
    let name = format!(
        "tidal({}{}, smooth={}, {})",
        profile.kind().name(),
        if choice.window == usize::MAX {
            ""
        } else {
            " recent"
        },
        choice.smooth,
        bands.describe()
    );
    Ok(Tidal {
        calendar,
        profile,
        bands,
        levels,
        step: data.step,
        last: data.series.end().expect("non-empty"),
        calibration,
        scale_floor: data.scale_floor,
        non_negative: data.non_negative,
        cap: CAP_FACTOR * data.max_abs + data.scale_floor,
        name,
    })
}

impl Tidal {
    /// Grid step in seconds.
    pub fn step(&self) -> i64 {
        self.step
    }
}

impl Predict for Tidal {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, t: i64, value: f64) {
        if t <= self.last {
            return;
        }
        if value.is_finite() {
            let p = self.profile.at(&self.calendar.local_time(t));
            self.bands.update(&mut self.levels, value, p);
        }
        self.last += ((t - self.last + self.step / 2) / self.step).max(1) * self.step;
    }

    fn last_timestamp(&self) -> i64 {
        self.last
    }

    fn predict(&self, steps: usize, quantiles: &[f64]) -> tidecast_core::Result<Forecast> {
        Ok(self.forecast(steps, quantiles)?)
    }
}

impl Tidal {
    /// [`Predict::predict`] with the models' error.
    pub(crate) fn forecast(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast> {
        check_quantiles(quantiles)?;
        let start = self.last + self.step;
        let locals = self.calendar.local_times(start, self.step, steps);
        let mut point = Vec::with_capacity(steps);
        let mut scale = Vec::with_capacity(steps);
        let now = Bands::snapshot(&self.levels);
        for (l, row) in locals.iter().zip(self.bands.table(steps)) {
            let p = self.profile.at(l);
            let pred = (p * Bands::level(&now, &row)).clamp(-self.cap, self.cap);
            point.push(pred);
            scale.push(pred.abs() + self.scale_floor);
        }
        let quantiles = quantiles
            .iter()
            .map(|&q| {
                let v = (0..steps)
                    .map(|i| point[i] + self.calibration.quantile(i + 1, q) * scale[i])
                    .collect();
                (q, v)
            })
            .collect();
        let mut f = Forecast {
            start,
            step: self.step,
            point,
            quantiles,
        };
        f.sanitize(self.non_negative.then_some(0.0));
        Ok(f)
    }
}

impl Tidal {
    /// The point forecast with the fast level held (no decay into the slow level): the
    /// profile times the newest level, as an ETS on the profile-adjusted series forecasts.
    /// It keeps a burst's height through the horizon, where [`Predict::predict`] lets it fade.
    pub(crate) fn persistent(&self, steps: usize) -> Vec<f64> {
        let locals = self
            .calendar
            .local_times(self.last + self.step, self.step, steps);
        let now = Bands::snapshot(&self.levels);
        locals
            .iter()
            .zip(self.bands.table(steps))
            .map(|(l, row)| {
                let lf = Bands::fast(&now, &row);
                (self.profile.at(l) * lf).clamp(-self.cap, self.cap)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
