//! The combination's inner rolling-origin backtest: on the last days of the training window,
//! every member and variant forecasts every horizon from every origin, as the served model
//! would (refitted by day, its state updated in between).

use crate::lagreg::{LagRegression, LagSpec, PrefixSums, Target};
use crate::mstl::{ALPHAS, Seasonal};
use crate::packed::Values;
use crate::tidal::{Tidal, TidalSpec};
use crate::transform::{Space, bridged};
use crate::{Error, Result};
use std::sync::Arc;
use tidecast_core::{
    Calendar, Predict, SECS_PER_DAY, SECS_PER_HOUR, SECS_PER_MINUTE, SECS_PER_WEEK, Series,
    days_back,
};

/// Days of history below which the combination is not considered (below four weeks the
/// regression has no weekly lags).
const SHORT_MIN_DAYS: usize = 8;

/// Days of history a regression without weekly lags keeps for its own fit before the
/// validation (two of them are the features' reach); the validation takes the rest, up to a
/// week, so a weekend is in it.
const SHORT_TRAIN_DAYS: usize = 5;

/// Days of history the decomposition looks at (the refit window's default).
pub(super) const SEASONAL_WINDOW_DAYS: usize = 42;

/// Fourier harmonics of the regression variant whose coefficients vary with the time of day.
pub(super) const HARMONICS: usize = 4;

/// Growth of the history, in percent, after which the validation refits its regressions.
const REFIT_GROWTH_PERCENT: usize = 10;

/// At most this many validation origins: beyond it they are strided (cost, not accuracy).
const MAX_ORIGINS: usize = 1500;

/// Steps over which [`volatility`] is measured (an hour at 5 minutes, six at 30).
pub(super) const VOLATILITY_STEPS: usize = 12;

/// One validation row: (horizon, actual, [tidal, regression, seasonal, persistent]).
pub(super) type Row = (usize, f64, [f64; 4]);

/// The recent volatility an interval is scaled by: the mean absolute step over the last
/// [`VOLATILITY_STEPS`] steps of `y` (missing values skipped; 0 with none).
///
/// Intervals are a locally weighted split-conformal construction: the validation's
/// residuals are divided by the volatility at their origin, their quantiles calibrated per
/// horizon, and a forecast's interval is those quantiles times the volatility at its
/// origin. They widen while the series is bursting and narrow while it is calm, and a
/// burst in the validation week does not widen every later interval.
pub(super) fn volatility(y: &(impl Values + ?Sized)) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for i in (y.len().saturating_sub(VOLATILITY_STEPS + 1) + 1)..y.len() {
        let d = (y.value(i).unwrap_or(f64::NAN) - y.value(i - 1).unwrap_or(f64::NAN)).abs();
        if d.is_finite() {
            s += d;
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// Whether the validation refits its regressions before the origin `at` (the data before it):
/// at a whole day into the validation that begins at `split`, once the data has grown by
/// [`REFIT_GROWTH_PERCENT`] since the last fit ended at `fitted_to`. The served model is
/// refitted daily; a validation regression fitted once on a short training part would be
/// judged on less data than the served one has.
pub(super) fn refit_due(split: usize, fitted_to: usize, at: usize, day: usize) -> bool {
    at > split
        && (at - split).is_multiple_of(day)
        && at * 100 >= fitted_to * (100 + REFIT_GROWTH_PERCENT)
}

/// The regression variants besides linear with constant coefficients: log space, and either
/// space with coefficients that vary with the time of day.
pub(super) fn regression_variants() -> Vec<(Space, usize)> {
    [Space::Log, Space::Linear]
        .into_iter()
        .flat_map(|sp| [(sp, 0), (sp, HARMONICS)])
        .filter(|v| *v != (Space::Linear, 0))
        .collect()
}

/// The grid of a history the combination applies to, and where its validation begins.
pub(super) struct Setup {
    pub(super) step: i64,
    pub(super) day: usize,
    pub(super) week: usize,
    /// The history with short gaps bridged.
    pub(super) bridged: Series,
    /// Index of the validation's first target.
    pub(super) split: usize,
    /// Horizons the combination is weighed for: an hour.
    pub(super) h_max: usize,
    /// Whether the regression has its weekly lags.
    pub(super) weekly: bool,
    /// The local slot in the day of every index (the varying coefficients follow local time).
    pub(super) slots: Vec<usize>,
    /// Days back from every index to the last day of its kind (the daily lags look there).
    pub(super) back: Vec<u8>,
}

impl Setup {
    /// `None` where the combination does not apply: a step under 5 minutes or not dividing
    /// the day, or too short a history for a validation.
    pub(super) fn new(history: &Series, calendar: &Calendar) -> Option<Self> {
        let step = history.step();
        if step < 5 * SECS_PER_MINUTE || SECS_PER_DAY % step != 0 {
            return None;
        }
        let (day, week) = (
            (SECS_PER_DAY / step) as usize,
            (SECS_PER_WEEK / step) as usize,
        );
        let bridged = bridged(history);
        let n = bridged.len();
        let val = week.min(n / 4);
        let weekly = n >= 3 * week + val;
        // Without weekly lags the validation is what SHORT_TRAIN_DAYS leave, up to a week.
        let val = if weekly {
            val
        } else {
            week.min(n.saturating_sub(SHORT_TRAIN_DAYS * day))
        };
        if val < day || (!weekly && n < SHORT_MIN_DAYS * day) {
            return None;
        }
        let locals = calendar.local_times(history.timestamp(0), step, n);
        let slots = locals
            .iter()
            .map(|l| slot_in_day(l.second_of_day, step))
            .collect();
        let working: Vec<bool> = locals.iter().map(|l| l.day_type.is_working()).collect();
        drop(locals);
        Some(Self {
            step,
            day,
            week,
            split: n - val,
            h_max: ((SECS_PER_HOUR / step) as usize).max(1),
            weekly,
            slots,
            back: days_back(&working, day),
            bridged,
        })
    }

    pub(super) fn y(&self) -> &[f64] {
        self.bridged.values()
    }

    /// The regression to fit: the grid's periods, its lags and day kinds.
    pub(super) fn spec(&self) -> LagSpec<'_> {
        let spec = LagSpec::new(self.day, self.week, self.h_max);
        let spec = if self.weekly { spec } else { spec.daily_only() };
        spec.day_back(&self.back)
    }

    /// The decomposition's window ending before index `to`.
    pub(super) fn seasonal_window(&self, to: usize) -> std::ops::Range<usize> {
        to.saturating_sub(SEASONAL_WINDOW_DAYS * self.day)..to
    }

    /// Where the target at index `i` falls.
    fn target(&self, i: usize) -> Target {
        Target {
            slot: self.slots.get(i).copied().unwrap_or(0),
            day_back: self.back.get(i).map_or(1, |k| usize::from(*k)),
        }
    }
}

/// The slot in the local day (`0..86_400 / step`) of a second of the local day.
pub(super) fn slot_in_day(second_of_day: u32, step: i64) -> usize {
    (i64::from(second_of_day) / step) as usize
}

/// What the inner backtest produced: the rows (the linear regression with constant
/// coefficients in column 1, the seasonal column empty), each row's volatility at its origin,
/// and every variant's forecast per row.
pub(super) struct Validation {
    pub(super) rows: Vec<Row>,
    pub(super) row_volatility: Vec<f64>,
    /// Per regression variant ([`regression_variants`]), its forecast per row.
    pub(super) regression_rows: Vec<Vec<f64>>,
    /// Per decomposition variant ([`Validation::seasonal_variants`]), its forecast per row.
    pub(super) seasonal_rows: Vec<Vec<f64>>,
    /// The decomposition variants: (space, anchor smoothing weight).
    pub(super) seasonal_variants: Vec<(Space, f64)>,
}

/// The members as the validation runs them, refitted by day.
struct Members<'a> {
    setup: &'a Setup,
    spec: LagSpec<'a>,
    variants: Vec<(Space, usize)>,
    /// The linear regression with constant coefficients.
    plain: LagRegression,
    /// The other regression variants (`None`: does not apply).
    others: Vec<Option<LagRegression>>,
    /// The end of the data the regressions were last fitted on.
    fitted_to: usize,
    tidal: Tidal,
    /// Each space's decomposition on the training part; it covers the whole validation (the
    /// last seasonal cycle repeats) without refits, as the final model will between refits.
    seasonal: Vec<Seasonal>,
}

impl<'a> Members<'a> {
    /// The members fitted on the training part; `None` when the plain regression has too few
    /// rows there.
    fn fit(setup: &'a Setup, history: &Series, calendar: &Arc<Calendar>) -> Result<Option<Self>> {
        let (y, split, day, week) = (setup.y(), setup.split, setup.day, setup.week);
        let spec = setup.spec();
        let Some(plain) = spec.fit(y, 0, split)? else {
            return Ok(None);
        };
        let variants = regression_variants();
        let others = fit_variants(&spec, &variants, setup, split)?;
        let tidal = match TidalSpec::new()
            .max_horizon(setup.h_max)
            .fit_tidal(&history.cut(history.timestamp(split - 1)), calendar.clone())
        {
            Ok(t) => t,
            // Too few observations before the validation: the tidal model alone.
            Err(Error::NotEnoughData { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let seasonal = [Space::Linear, Space::Log]
            .into_iter()
            .filter_map(|sp| Seasonal::fit_in(sp, &y[setup.seasonal_window(split)], day, week))
            .collect();
        Ok(Some(Self {
            setup,
            spec,
            variants,
            plain,
            others,
            fitted_to: split,
            tidal,
            seasonal,
        }))
    }

    /// Refit the regressions on the data before `at` when [`refit_due`].
    fn refit_if_due(&mut self, at: usize) -> Result<()> {
        let s = self.setup;
        if refit_due(s.split, self.fitted_to, at, s.day) {
            self.fitted_to = at;
            if let Some(m) = self.spec.fit(s.y(), 0, at)? {
                self.plain = m;
            }
            self.others = fit_variants(&self.spec, &self.variants, s, at)?;
        }
        Ok(())
    }
}

/// The regression variants fitted on the data before `to`.
fn fit_variants(
    spec: &LagSpec<'_>,
    variants: &[(Space, usize)],
    setup: &Setup,
    to: usize,
) -> Result<Vec<Option<LagRegression>>> {
    variants
        .iter()
        .map(|(sp, k)| {
            spec.space(*sp)
                .varying(*k, &setup.slots)
                .fit(setup.y(), 0, to)
        })
        .collect()
}

/// Run the inner backtest on `history` (as given: the tidal member bridges it itself);
/// `None` when the members cannot be fitted on the training part.
pub(super) fn run(
    setup: &Setup,
    history: &Series,
    calendar: &Arc<Calendar>,
) -> Result<Option<Validation>> {
    let Some(mut members) = Members::fit(setup, history, calendar)? else {
        return Ok(None);
    };
    let (y, split) = (setup.y(), setup.split);
    let raw = history.values();
    let n = y.len();
    let seasonal_variants: Vec<(Space, f64)> = members
        .seasonal
        .iter()
        .flat_map(|s| ALPHAS.map(|a| (s.space(), a)))
        .collect();
    let mut out = Validation {
        rows: Vec::new(),
        row_volatility: Vec::new(),
        regression_rows: vec![Vec::new(); members.variants.len()],
        seasonal_rows: vec![Vec::new(); seasonal_variants.len()],
        seasonal_variants,
    };
    let offset = setup.seasonal_window(split).start;
    let stride = ((n - split) / MAX_ORIGINS).max(1);
    // The series in log space once, for the log-space variants' many forecasts.
    let y_log: Vec<f64> = y.iter().map(|v| Space::Log.forward(*v)).collect();
    let sums = (
        PrefixSums::new(y, setup.day),
        PrefixSums::new(&y_log, setup.day),
    );
    for i in split - 1..n - 1 {
        members.refit_if_due(i + 1)?;
        if (i + 1 - split).is_multiple_of(stride) {
            origin_rows(&members, &mut out, i, offset, (&y_log, &sums))?;
        }
        members.tidal.update(history.timestamp(i + 1), raw[i + 1]);
    }
    Ok(Some(out))
}

/// The rows of one origin `i`: every horizon with an observed target that the plain
/// regression can forecast.
fn origin_rows(
    m: &Members<'_>,
    out: &mut Validation,
    i: usize,
    offset: usize,
    (y_log, (sums, sums_log)): (&[f64], &(PrefixSums, PrefixSums)),
) -> Result<()> {
    let setup = m.setup;
    let (y, n, h_max) = (setup.y(), setup.y().len(), setup.h_max);
    let ft = m.tidal.forecast(h_max, &[])?;
    let fp = m.tidal.persistent(h_max);
    let recent = &y[offset..=i];
    // The intervals' scale at this origin, shared by its horizons.
    let origin_volatility = volatility(&y[..=i]);
    let levels: Vec<Option<f64>> = m
        .seasonal
        .iter()
        .flat_map(|s| ALPHAS.map(|a| s.level(recent, i - offset, a)))
        .collect();
    for h in 1..=h_max {
        let j = i + h;
        if j >= n || y[j].is_nan() {
            continue;
        }
        let Some(r) = m.plain.predict_mapped(y, sums, i, h, setup.target(j)) else {
            continue;
        };
        for (k, l) in levels.iter().enumerate() {
            let s = &m.seasonal[k / ALPHAS.len()];
            out.seasonal_rows[k]
                .push(l.map_or(f64::NAN, |l| s.forecast_at_level(l, i - offset, h)));
        }
        out.rows
            .push((h, y[j], [ft.point[h - 1], r, f64::NAN, fp[h - 1]]));
        out.row_volatility.push(origin_volatility);
        for (v, rows) in m.others.iter().zip(&mut out.regression_rows) {
            let f = v.as_ref().and_then(|v| {
                let (z, sums) = match v.space() {
                    Space::Linear => (y, sums),
                    Space::Log => (y_log, sums_log),
                };
                v.predict_mapped(z, sums, i, h, setup.target(j))
            });
            rows.push(f.unwrap_or(f64::NAN));
        }
    }
    Ok(())
}
