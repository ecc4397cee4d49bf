//! A fitted model of any family, as one serializable value: what a model artifact stores
//! and a server restores without refitting.

use crate::coarse::Coarse;
use crate::naive::SeasonalNaive;
use crate::{Auto, Tidal};
use tidecast_core::{Forecast, Predict, Result};

/// A fitted model: each family the [`crate::Forecaster`] fits, with its calendar and the
/// state its updates reached. Serialize it to keep it; deserialized, it forecasts and
/// absorbs updates exactly as the original did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fitted {
    /// [`crate::AutoSpec`]'s model.
    Auto(Box<Auto>),
    /// [`crate::TidalSpec`]'s model.
    Tidal(Tidal),
    /// Seasonal naive.
    SeasonalNaive(SeasonalNaive),
    /// A model fitted on bucket means, read back per step.
    Coarse(Box<Coarse>),
}

impl Predict for Fitted {
    fn name(&self) -> &str {
        match self {
            Fitted::Auto(m) => m.name(),
            Fitted::Tidal(m) => m.name(),
            Fitted::SeasonalNaive(m) => m.name(),
            Fitted::Coarse(m) => m.name(),
        }
    }
    fn update(&mut self, t: i64, value: f64) {
        match self {
            Fitted::Auto(m) => m.update(t, value),
            Fitted::Tidal(m) => m.update(t, value),
            Fitted::SeasonalNaive(m) => m.update(t, value),
            Fitted::Coarse(m) => m.update(t, value),
        }
    }
    fn last_timestamp(&self) -> i64 {
        match self {
            Fitted::Auto(m) => m.last_timestamp(),
            Fitted::Tidal(m) => m.last_timestamp(),
            Fitted::SeasonalNaive(m) => m.last_timestamp(),
            Fitted::Coarse(m) => m.last_timestamp(),
        }
    }
    fn predict(&self, steps: usize, quantiles: &[f64]) -> Result<Forecast> {
        match self {
            Fitted::Auto(m) => m.predict(steps, quantiles),
            Fitted::Tidal(m) => m.predict(steps, quantiles),
            Fitted::SeasonalNaive(m) => m.predict(steps, quantiles),
            Fitted::Coarse(m) => m.predict(steps, quantiles),
        }
    }
}
