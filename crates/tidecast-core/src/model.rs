use crate::{Calendar, Forecast, Result, Series};
use std::sync::Arc;

/// An unfitted model specification. Fitting never mutates the spec, so one spec can fit
/// thousands of series.
pub trait Fit {
    /// The fitted model.
    type Fitted: Predict;

    /// Fit on `history` (its last grid point is the newest observation) in `calendar`.
    fn fit(&self, history: &Series, calendar: Arc<Calendar>) -> Result<Self::Fitted>;
}

/// A fitted model: it absorbs new observations between refits and forecasts from its state.
pub trait Predict: Send + Sync + std::fmt::Debug {
    /// A short name for logs and reports.
    fn name(&self) -> &str;

    /// Absorb the observation at Unix second `t` (`NaN` = missing). Points must come in time
    /// order on the fit's grid; skipped grid points count as missing.
    fn update(&mut self, t: i64, value: f64);

    /// Unix seconds of the newest grid point seen (fit or update).
    fn last_timestamp(&self) -> i64;

    /// Forecast `steps` grid points after [`Predict::last_timestamp`], with the requested
    /// quantile levels (each in `(0, 1)`).
    fn predict(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast>;
}

impl<P: Predict + ?Sized> Predict for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn update(&mut self, t: i64, value: f64) {
        (**self).update(t, value)
    }
    fn last_timestamp(&self) -> i64 {
        (**self).last_timestamp()
    }
    fn predict(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast> {
        (**self).predict(steps, quantiles)
    }
}
