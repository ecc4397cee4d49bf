//! The default model: the tidal model and a lag regression, combined per horizon by an
//! inner rolling-origin backtest on the last days of the training window.
//!
//! For each horizon the validation picks the tidal forecast, the regression's, or their
//! mean, whichever had the lowest mean absolute error out of sample; intervals are then
//! calibrated on the residuals of exactly that combination, per horizon. The regression
//! needs two weeks of lags, so it is considered only with at least three weeks of history
//! and a step of 5 minutes or more (at 1 minute its lag buffer would dominate the memory of
//! a server holding thousands of targets); otherwise the model is the tidal model alone.

use crate::calibration::Calibration;
use crate::lagreg::{LagRegression, lookback};
use crate::tidal::{BRIDGE_SECS, Tidal, TidalSpec, check_quantiles};
use std::sync::Arc;
use tidecast_core::{Calendar, Fit, Forecast, Predict, Result, Series};

/// Specification of the combined model.
#[derive(Debug, Clone)]
#[must_use]
pub struct AutoSpec {
    max_horizon: usize,
}

impl Default for AutoSpec {
    fn default() -> Self {
        Self { max_horizon: 12 }
    }
}

impl AutoSpec {
    /// Defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Calibrate intervals up to this many steps ahead.
    pub fn max_horizon(mut self, steps: usize) -> Self {
        self.max_horizon = steps.max(1);
        self
    }
}

/// How one horizon is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Tidal,
    Regression,
    Mean,
}

/// The regression part of a fitted [`Auto`].
#[derive(Debug, Clone)]
struct RegressionPart {
    model: LagRegression,
    choice: Vec<Choice>,
    calibration: Calibration,
    /// Recent values, newest last (at least the regression's lookback).
    buffer: Vec<f64>,
    keep: usize,
    scale_floor: f64,
}

/// A fitted combined model.
#[derive(Debug, Clone)]
pub struct Auto {
    tidal: Tidal,
    regression: Option<RegressionPart>,
    non_negative: bool,
    name: String,
}

impl Fit for AutoSpec {
    type Fitted = Auto;

    fn fit(&self, history: &Series, calendar: Arc<Calendar>) -> Result<Auto> {
        let tidal = TidalSpec::new()
            .max_horizon(self.max_horizon)
            .fit(history, calendar.clone())?;
        let non_negative = history
            .values()
            .iter()
            .filter(|v| !v.is_nan())
            .all(|v| *v >= 0.0);
        let regression = regression_part(history, &calendar).unwrap_or(None);
        let name = match &regression {
            Some(r) => format!(
                "auto({} + lag regression; per horizon {})",
                tidal.name(),
                r.choice
                    .iter()
                    .map(|c| match c {
                        Choice::Tidal => 't',
                        Choice::Regression => 'r',
                        Choice::Mean => 'm',
                    })
                    .collect::<String>()
            ),
            None => tidal.name().to_string(),
        };
        Ok(Auto {
            tidal,
            regression,
            non_negative,
            name,
        })
    }
}

/// Fit and validate the regression; `Ok(None)` when it does not apply or never wins.
fn regression_part(history: &Series, calendar: &Arc<Calendar>) -> Result<Option<RegressionPart>> {
    let step = history.step();
    if step < 300 || 86_400 % step != 0 {
        return Ok(None);
    }
    let (day, week) = ((86_400 / step) as usize, (7 * 86_400 / step) as usize);
    let bridged = history.bridged(BRIDGE_SECS);
    let y = bridged.values();
    let raw = history.values();
    let n = y.len();
    let val = ((7 * 86_400 / step) as usize).min(n / 4);
    if n < 3 * week + val || val < day {
        return Ok(None);
    }
    let split = n - val;
    let h_max = ((3600 / step) as usize).max(1);
    let Some(pre) = LagRegression::fit(y, 0, split, h_max, day, week) else {
        return Ok(None);
    };
    let mut tidal = TidalSpec::new()
        .max_horizon(h_max)
        .fit(&history.cut(history.timestamp(split - 1)), calendar.clone())?;
    let observed: Vec<f64> = y.iter().copied().filter(|v| !v.is_nan()).collect();
    let scale_floor =
        0.01 * observed.iter().map(|v| v.abs()).sum::<f64>() / observed.len().max(1) as f64 + 1e-9;

    // Inner rolling-origin backtest: (horizon, actual, tidal, regression) at each origin.
    let stride = (val / 1500).max(1);
    let mut rows: Vec<(usize, f64, f64, f64)> = Vec::new();
    for i in split - 1..n - 1 {
        if (i + 1 - split).is_multiple_of(stride) {
            let ft = tidal.predict(h_max, &[])?;
            for h in 1..=h_max {
                let j = i + h;
                if j >= n || y[j].is_nan() {
                    continue;
                }
                if let Some(r) = pre.predict(y, i, h) {
                    rows.push((h, y[j], ft.point[h - 1], r));
                }
            }
        }
        tidal.update(history.timestamp(i + 1), raw[i + 1]);
    }
    let combine = |c: Choice, t: f64, r: f64| match c {
        Choice::Tidal => t,
        Choice::Regression => r,
        Choice::Mean => 0.5 * (t + r),
    };
    let mut choice = Vec::with_capacity(h_max);
    for h in 1..=h_max {
        let mut err = [0.0f64; 3];
        for (_, a, t, r) in rows.iter().filter(|x| x.0 == h) {
            for (k, c) in [Choice::Tidal, Choice::Regression, Choice::Mean]
                .iter()
                .enumerate()
            {
                err[k] += (a - combine(*c, *t, *r)).abs();
            }
        }
        let k = (0..3)
            .min_by(|a, b| err[*a].total_cmp(&err[*b]))
            .unwrap_or(0);
        choice.push([Choice::Tidal, Choice::Regression, Choice::Mean][k]);
    }
    if choice.iter().all(|c| *c == Choice::Tidal) {
        return Ok(None);
    }
    let mut residuals = vec![Vec::new(); h_max];
    for (h, a, t, r) in &rows {
        let p = combine(choice[h - 1], *t, *r);
        residuals[h - 1].push((a - p) / (p.abs() + scale_floor));
    }
    let calibration = Calibration::from_residuals(&mut residuals, 20);
    let Some(model) = LagRegression::fit(y, 0, n, h_max, day, week) else {
        return Ok(None);
    };
    let keep = lookback(week) + 1;
    Ok(Some(RegressionPart {
        model,
        choice,
        calibration,
        buffer: y[n.saturating_sub(keep)..].to_vec(),
        keep,
        scale_floor,
    }))
}

impl Predict for Auto {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, t: i64, value: f64) {
        let last = self.tidal.last_timestamp();
        if t <= last {
            return;
        }
        let before = last;
        self.tidal.update(t, value);
        let skipped = ((self.tidal.last_timestamp() - before) / self.tidal.step()).max(1) - 1;
        if let Some(r) = &mut self.regression {
            // Points the update skipped count as missing.
            for _ in 0..skipped {
                r.buffer.push(f64::NAN);
            }
            r.buffer
                .push(if value.is_finite() { value } else { f64::NAN });
            if r.buffer.len() > 2 * r.keep {
                let cut = r.buffer.len() - r.keep;
                r.buffer.drain(..cut);
            }
        }
    }

    fn last_timestamp(&self) -> i64 {
        self.tidal.last_timestamp()
    }

    fn predict(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast> {
        check_quantiles(quantiles)?;
        let mut f = self.tidal.predict(steps, quantiles)?;
        let Some(r) = &self.regression else {
            return Ok(f);
        };
        let t = r.buffer.len() - 1;
        for h in 1..=steps.min(r.choice.len()) {
            let tidal = f.point[h - 1];
            let Some(reg) = r.model.predict(&r.buffer, t, h) else {
                continue;
            };
            let p = match r.choice[h - 1] {
                Choice::Tidal => continue,
                Choice::Regression => reg,
                Choice::Mean => 0.5 * (tidal + reg),
            };
            f.point[h - 1] = p;
            for (q, v) in &mut f.quantiles {
                v[h - 1] = p + r.calibration.quantile(h, *q) * (p.abs() + r.scale_floor);
            }
        }
        f.sanitize(self.non_negative.then_some(0.0));
        Ok(f)
    }
}
