//! The combination's members beside the tidal model (the lag regression, the decomposition),
//! their weights per horizon, the calibration of the weighted forecast, and the lag buffer
//! they forecast from; fitted by the stages of the inner backtest.

use super::validation::{self, HARMONICS, Setup, Validation, slot_in_day};
use super::weights::{Weights, adopt_best, combine, weigh, weight_grid};
use crate::Result;
use crate::calibration::Calibration;
use crate::lagreg::{LagRegression, Recent, Target, lookback};
use crate::mstl::Seasonal;
use crate::packed::{Packed, Values};
use crate::transform::Space;
use std::sync::Arc;
use tidecast_core::{Calendar, SECS_PER_DAY, Series, same_kind_back};

/// Residuals a horizon needs for its own interval row (fewer borrow a shorter horizon's).
const MIN_RESIDUALS: usize = 20;

/// The fitted members of [`super::Auto`] beside its tidal model, and what they forecast from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Combination {
    pub(super) model: LagRegression,
    pub(super) seasonal: Option<Seasonal>,
    pub(super) weights: Vec<Weights>,
    pub(super) calibration: Calibration,
    /// Recent values, newest last (at least the regression's lookback): `keep` values plus at
    /// most [`slack`] more before the oldest are dropped, in an allocation of that size.
    /// Kept packed ([`Packed`]): a quarter of the memory of f64.
    pub(super) buffer: Packed,
    pub(super) keep: usize,
    /// Index of the newest buffered value in the decomposition's window.
    newest: usize,
    pub(super) scale_floor: f64,
    /// Sampling step in seconds (for a forecast time's slot in the day).
    step: i64,
    /// The calendar whose local time of day the varying coefficients follow.
    calendar: Arc<Calendar>,
}

/// Values the lag buffer takes beyond `keep` before it drops the oldest: a sixty-fourth, so
/// the buffer holds at most ~1.6 % more than it needs (a server keeps one per 5-minute
/// target: two weeks, 8 KiB of codes) and moves its 8 KiB once every 63 updates.
pub(super) fn slack(keep: usize) -> usize {
    (keep / 64).max(1)
}

/// The lag buffer's whole allocation: `keep`, the [`slack`], and the value pushed before the
/// oldest are dropped.
pub(super) fn room(keep: usize) -> usize {
    keep + slack(keep) + 1
}

/// Deserialize a combination with its lag buffer's whole allocation in place (the decoded
/// buffer holds only its values): its updates then never grow it, which would leave the
/// decoded allocation as a hole in the heap of every target a server loads.
pub(super) fn with_room<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Combination>, D::Error> {
    use serde::Deserialize;
    Ok(Option::<Combination>::deserialize(d)?.map(|mut c| {
        let most = room(c.keep);
        if c.buffer.capacity() < most {
            c.buffer.reserve_exact(most - c.buffer.len());
        }
        c
    }))
}

/// The slot in the local day of Unix second `t`.
pub(super) fn local_slot(calendar: &Calendar, t: i64, step: i64) -> usize {
    slot_in_day(calendar.local_time(t).second_of_day, step)
}

/// [`tidecast_core::days_back`] at Unix second `t` from the calendar (a day is 86,400 s on
/// the grid, as `day` steps are).
fn day_back_at(calendar: &Calendar, t: i64) -> usize {
    let working = |t: i64| calendar.local_time(t).day_type.is_working();
    same_kind_back(working(t), |k| Some(working(t - k as i64 * SECS_PER_DAY)))
}

/// The variants the validation adopted.
struct Adopted {
    space: Space,
    harmonics: usize,
    /// Index into [`Validation::seasonal_variants`]; `None`: no decomposition.
    seasonal: Option<usize>,
}

impl Combination {
    /// Fit the members, run the inner backtest, adopt each member's best variant, weigh
    /// them per horizon, calibrate the weighted forecast and assemble the served members.
    /// `Ok(None)` where the combination does not apply or the tidal model alone wins.
    pub(super) fn fit(history: &Series, calendar: &Arc<Calendar>) -> Result<Option<Self>> {
        let Some(setup) = Setup::new(history, calendar) else {
            return Ok(None);
        };
        let Some(mut v) = validation::run(&setup, history, calendar)? else {
            return Ok(None);
        };
        let adopted = adopt(&mut v);
        let grid = weight_grid(adopted.seasonal.is_some());
        let weights = weigh(&v.rows, &grid, setup.h_max);
        if weights.iter().all(|w| w[0] == 1.0) {
            return Ok(None);
        }
        let scale_floor = scale_floor(setup.y());
        let calibration = calibrate(&v, &weights, scale_floor, setup.h_max);
        assemble(
            &setup,
            &v,
            adopted,
            weights,
            calibration,
            scale_floor,
            calendar,
        )
    }

    /// The combined forecast `h` steps ahead given the tidal one; `None` where the weighted
    /// parts cannot forecast (then the tidal forecast stands).
    pub(super) fn combine(
        &self,
        h: usize,
        tidal: f64,
        persistent: f64,
        newest_ts: i64,
        recent: Option<&Recent>,
    ) -> Option<f64> {
        let w = self.weights.get(h - 1)?;
        if w[0] == 1.0 {
            return None;
        }
        let t = self.buffer.len() - 1;
        let mut p = w[0] * tidal + w[3] * persistent;
        if w[1] > 0.0 {
            let at = newest_ts + h as i64 * self.step;
            let target = Target {
                slot: if self.model.harmonics() > 0 {
                    local_slot(&self.calendar, at, self.step)
                } else {
                    0
                },
                day_back: day_back_at(&self.calendar, at),
            };
            p += w[1]
                * self
                    .model
                    .predict_recent(&self.buffer, t, h, target, recent?)?;
        }
        if w[2] > 0.0 {
            p += w[2]
                * self
                    .seasonal
                    .as_ref()?
                    .predict(&self.buffer, self.newest, h)?;
        }
        Some(p)
    }

    /// Absorb `skipped` missing points, then `value` (the newest).
    pub(super) fn push(&mut self, skipped: usize, value: f64) {
        for _ in 0..skipped {
            self.push_one(f64::NAN);
        }
        self.newest += skipped + 1;
        self.push_one(value);
    }

    /// Append one value, dropping the oldest down to `keep` once the buffer holds [`slack`]
    /// more: value by value, so a gap longer than the slack stays within the [`room`] every
    /// buffer is built, decoded and cloned with (growing it would leave its old allocation
    /// as a hole in the heap of every target).
    fn push_one(&mut self, v: f64) {
        self.buffer.push(v);
        if self.buffer.len() > self.keep + slack(self.keep) {
            let cut = self.buffer.len() - self.keep;
            self.buffer.drop_front(cut);
        }
    }
}

/// The floor of the intervals' scale: 1 % of the mean absolute observed value.
fn scale_floor(y: &[f64]) -> f64 {
    let observed: Vec<f64> = y.iter().copied().filter(|v| !v.is_nan()).collect();
    0.01 * observed.iter().map(|v| v.abs()).sum::<f64>() / observed.len().max(1) as f64 + 1e-9
}

/// Adopt the regression variant that validates best (the linear one with constant
/// coefficients unless another is strictly better) and the decomposition variant.
fn adopt(v: &mut Validation) -> Adopted {
    let linear_rows: Vec<f64> = v.rows.iter().map(|r| r.2[1]).collect();
    v.regression_rows.insert(0, linear_rows);
    let (space, harmonics) = match adopt_best(&mut v.rows, 1, &v.regression_rows) {
        Some(k) if k > 0 => validation::regression_variants()[k - 1],
        _ => (Space::Linear, 0),
    };
    debug_assert!(harmonics == 0 || harmonics == HARMONICS);
    let seasonal = adopt_best(&mut v.rows, 2, &v.seasonal_rows);
    Adopted {
        space,
        harmonics,
        seasonal,
    }
}

/// The calibration of the weighted forecast: its validation residuals divided by the
/// volatility at their origin, per horizon.
fn calibrate(v: &Validation, weights: &[Weights], scale_floor: f64, h_max: usize) -> Calibration {
    let mut residuals = vec![Vec::new(); h_max];
    for ((h, a, f), vol) in v.rows.iter().zip(&v.row_volatility) {
        let p = combine(&weights[h - 1], f);
        residuals[h - 1].push((a - p) / (vol + scale_floor));
    }
    Calibration::from_residuals(&mut residuals, MIN_RESIDUALS)
}

/// The served members: the adopted regression and decomposition refitted on the whole
/// window, and the lag buffer seeded with its end. `Ok(None)` when the final fit does not
/// apply (too few rows, or a window that no longer decomposes while a horizon weighs it).
fn assemble(
    setup: &Setup,
    v: &Validation,
    adopted: Adopted,
    weights: Vec<Weights>,
    calibration: Calibration,
    scale_floor: f64,
    calendar: &Arc<Calendar>,
) -> Result<Option<Combination>> {
    let (y, n, day, week) = (setup.y(), setup.y().len(), setup.day, setup.week);
    let spec = setup.spec().space(adopted.space);
    let Some(model) = spec.varying(adopted.harmonics, &setup.slots).fit(y, 0, n)? else {
        return Ok(None);
    };
    let window = setup.seasonal_window(n);
    let seasonal = match adopted
        .seasonal
        .filter(|_| weights.iter().any(|w| w[2] > 0.0))
    {
        Some(k) => {
            let (space, alpha) = v.seasonal_variants[k];
            match Seasonal::fit_in(space, &y[window.clone()], day, week) {
                Some(s) => Some(s.with_alpha(alpha)),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let keep = lookback(week) + 1;
    let buffer = Packed::from_values(y[n.saturating_sub(keep)..].iter().copied(), room(keep));
    Ok(Some(Combination {
        model,
        seasonal,
        weights,
        calibration,
        buffer,
        keep,
        newest: window.len() - 1,
        scale_floor,
        step: setup.step,
        calendar: calendar.clone(),
    }))
}
