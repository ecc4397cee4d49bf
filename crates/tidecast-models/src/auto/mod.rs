//! The default model: the tidal model, a lag regression, a seasonal-trend decomposition
//! (MSTL) forecast and the tidal profile times its undamped newest level, combined per
//! horizon by an inner rolling-origin backtest on the last days of the training window.
//!
//! For each horizon the validation picks the weights of the four forecasts (a grid of
//! tenths over the simplex, so a single model is one of the choices) with the lowest mean
//! absolute error out of sample; intervals are then calibrated on the residuals of exactly
//! that combination, per horizon, scaled by the recent volatility at their origin
//! ([`volatility`]). The same validation first picks each part's variant: the
//! regression in linear or log space, with constant coefficients or coefficients varying with
//! the time of day; the decomposition's space and anchor smoothing. The regression's weekly
//! lags need two weeks before the rows it fits: with under four weeks of history (three
//! weeks before a week of validation; at least [`SHORT_MIN_DAYS`]) it runs on the daily
//! lags and recent means alone, and its validation is up to a whole week, so a weekend is
//! in it. The daily lags look back to the last day of the target's kind (working or rest,
//! after the holiday calendar; [`days_back`]). The combination is considered only with a
//! step of 5 minutes or more (at 1 minute its lag buffer and the weekly seasonal cycle
//! would dominate the memory of a server holding thousands of targets); otherwise, or with
//! less history, the model is the tidal model alone.

mod combination;
mod validation;
mod weights;

use crate::calibration::check_quantiles;
use crate::packed::Values;
use crate::tidal::{Tidal, TidalSpec};
use crate::transform::non_negative;
use crate::{Error, Result};
use combination::Combination;
use std::sync::Arc;
use tidecast_core::{Calendar, Fit, Forecast, Predict, Series};
use validation::volatility;
use weights::describe;

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

/// A fitted combined model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Auto {
    tidal: Tidal,
    #[serde(deserialize_with = "combination::with_room")]
    combination: Option<Combination>,
    non_negative: bool,
    name: String,
}

impl Fit for AutoSpec {
    type Fitted = Auto;

    fn fit(&self, history: &Series, calendar: Arc<Calendar>) -> tidecast_core::Result<Auto> {
        Ok(self.fit_auto(history, calendar)?)
    }
}

impl AutoSpec {
    /// The tidal model, then the combination where it applies and wins.
    pub(crate) fn fit_auto(&self, history: &Series, calendar: Arc<Calendar>) -> Result<Auto> {
        let tidal = TidalSpec::new()
            .max_horizon(self.max_horizon)
            .fit_tidal(history, calendar.clone())?;
        let combination = Combination::fit(history, &calendar)?;
        let name = match &combination {
            Some(c) => name(&tidal, c),
            None => tidal.name().to_string(),
        };
        Ok(Auto {
            tidal,
            combination,
            non_negative: non_negative(history.values()),
            name,
        })
    }
}

/// What the fit chose, for logs and reports.
fn name(tidal: &Tidal, c: &Combination) -> String {
    let seasonal = match &c.seasonal {
        Some(s) if s.alpha() < 1.0 => {
            format!(" + {}mstl (level smoothing {})", s.space().tag(), s.alpha())
        }
        Some(s) => format!(" + {}mstl", s.space().tag()),
        None => String::new(),
    };
    format!(
        "auto({} + {}lag regression{}{}{}; weights {} at 1 step, {} at {} steps)",
        tidal.name(),
        c.model.space().tag(),
        if c.model.weekly() {
            ""
        } else {
            " (daily lags)"
        },
        if c.model.harmonics() > 0 {
            " (coefficients by time of day)"
        } else {
            ""
        },
        seasonal,
        describe(&c.weights[0]),
        describe(&c.weights[c.weights.len() - 1]),
        c.weights.len(),
    )
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
        self.tidal.update(t, value);
        let skipped = ((self.tidal.last_timestamp() - last) / self.tidal.step()).max(1) - 1;
        if let Some(c) = &mut self.combination {
            // Points the update skipped count as missing.
            c.push(skipped as usize, value);
        }
    }

    fn last_timestamp(&self) -> i64 {
        self.tidal.last_timestamp()
    }

    fn predict(&self, steps: usize, quantiles: &[f64]) -> tidecast_core::Result<Forecast> {
        Ok(self.forecast(steps, quantiles)?)
    }
}

impl Auto {
    /// The tidal forecast, replaced per horizon by the weighted one where the combination
    /// applies, with its intervals.
    fn forecast(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast, Error> {
        check_quantiles(quantiles)?;
        let mut f = self.tidal.forecast(steps, quantiles)?;
        let Some(c) = &self.combination else {
            return Ok(f);
        };
        let horizons = steps.min(c.weights.len());
        // Only computed when a horizon weights it (it repeats the calendar lookups).
        let persistent = if c.weights.iter().any(|w| w[3] > 0.0) {
            self.tidal.persistent(horizons)
        } else {
            vec![0.0; horizons]
        };
        let newest = self.tidal.last_timestamp();
        let spread = volatility(&c.buffer) + c.scale_floor;
        // The regression's recent means, once for all horizons, and only when one weights it.
        let recent = c
            .weights
            .iter()
            .any(|w| w[1] > 0.0)
            .then(|| c.model.recent(&c.buffer, c.buffer.len() - 1));
        for h in 1..=horizons {
            let Some(p) = c.combine(
                h,
                f.point[h - 1],
                persistent[h - 1],
                newest,
                recent.as_ref(),
            ) else {
                continue;
            };
            f.point[h - 1] = p;
            for (q, v) in &mut f.quantiles {
                v[h - 1] = p + c.calibration.quantile(h, *q) * spread;
            }
        }
        f.sanitize(self.non_negative.then_some(0.0));
        Ok(f)
    }
}

#[cfg(test)]
mod tests;
