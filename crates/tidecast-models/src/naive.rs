//! Seasonal naive forecasts: the value one day (or one week) earlier on the grid.

use crate::calibration::{Calibration, check_quantiles};
use crate::{Error, Result};
use std::collections::VecDeque;
use std::sync::Arc;
use tidecast_core::{Calendar, Fit, Forecast, Predict, SECS_PER_DAY, SECS_PER_WEEK, Series};

/// The season of a seasonal naive model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    /// 24 hours.
    Day,
    /// 7 days.
    Week,
}

impl Season {
    fn seconds(self) -> i64 {
        match self {
            Season::Day => SECS_PER_DAY,
            Season::Week => SECS_PER_WEEK,
        }
    }
}

/// Seasonal naive: `ŷ(t+h) = y(t+h-kS)` for the smallest `k` that reaches an observed
/// point. Intervals are empirical quantiles of the in-sample seasonal differences.
#[derive(Debug, Clone)]
#[must_use]
pub struct SeasonalNaiveSpec {
    season: Season,
}

impl SeasonalNaiveSpec {
    /// A seasonal naive model with the given season.
    pub fn new(season: Season) -> Self {
        Self { season }
    }
}

/// A fitted seasonal naive model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeasonalNaive {
    period: usize,
    buffer: VecDeque<f64>,
    step: i64,
    last: i64,
    calibration: Calibration,
    non_negative: bool,
    name: String,
}

impl Fit for SeasonalNaiveSpec {
    type Fitted = SeasonalNaive;

    fn fit(
        &self,
        history: &Series,
        _calendar: Arc<Calendar>,
    ) -> tidecast_core::Result<SeasonalNaive> {
        Ok(self.fit_naive(history)?)
    }
}

impl SeasonalNaiveSpec {
    pub(crate) fn fit_naive(&self, history: &Series) -> Result<SeasonalNaive> {
        let step = history.step();
        let secs = self.season.seconds();
        if secs % step != 0 {
            return Err(Error::SeasonNotWhole { step, season: secs });
        }
        let period = (secs / step) as usize;
        let y = history.values();
        if y.len() <= period {
            return Err(Error::NotEnoughData {
                model: "seasonal naive",
                needed: format!("more than one season ({period} points)"),
                got: format!("{} points", y.len()),
            });
        }
        let mut diffs: Vec<f64> = (period..y.len()).map(|i| y[i] - y[i - period]).collect();
        diffs.retain(|d| d.is_finite());
        diffs.sort_by(f64::total_cmp);
        // One row holds for every horizon up to a season.
        let mut rows = vec![diffs.clone()];
        let calibration = Calibration::from_residuals(&mut rows, 1);
        let keep = 2 * period;
        let buffer: VecDeque<f64> = y[y.len().saturating_sub(keep)..].iter().copied().collect();
        Ok(SeasonalNaive {
            period,
            buffer,
            step,
            last: history.end().expect("non-empty"),
            calibration,
            non_negative: y.iter().filter(|v| !v.is_nan()).all(|v| *v >= 0.0),
            name: match self.season {
                Season::Day => "snaive-day",
                Season::Week => "snaive-week",
            }
            .into(),
        })
    }
}

impl Predict for SeasonalNaive {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, t: i64, value: f64) {
        if t <= self.last {
            return;
        }
        let k = ((t - self.last + self.step / 2) / self.step).max(1);
        for _ in 1..k {
            self.buffer.push_back(f64::NAN);
        }
        self.buffer
            .push_back(if value.is_finite() { value } else { f64::NAN });
        while self.buffer.len() > 2 * self.period {
            self.buffer.pop_front();
        }
        self.last += k * self.step;
    }

    fn last_timestamp(&self) -> i64 {
        self.last
    }

    fn predict(&self, steps: usize, quantiles: &[f64]) -> tidecast_core::Result<Forecast> {
        check_quantiles(quantiles).map_err(tidecast_core::Error::from)?;
        let n = self.buffer.len() as i64;
        let point: Vec<f64> = (1..=steps as i64)
            .map(|h| {
                let mut idx = n - 1 + h - self.period as i64;
                while idx >= n {
                    idx -= self.period as i64;
                }
                while idx >= 0 {
                    let v = self.buffer[idx as usize];
                    if !v.is_nan() {
                        return v;
                    }
                    idx -= self.period as i64;
                }
                f64::NAN
            })
            .collect();
        let quantiles = quantiles
            .iter()
            .map(|&q| {
                (
                    q,
                    point
                        .iter()
                        .map(|p| p + self.calibration.quantile(1, q))
                        .collect(),
                )
            })
            .collect();
        let mut f = Forecast {
            start: self.last + self.step,
            step: self.step,
            point,
            quantiles,
        };
        f.sanitize(self.non_negative.then_some(0.0));
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forecast_repeats_the_last_season() {
        let y: Vec<f64> = (0..48).map(|i| (i % 24) as f64).collect();
        let s = Series::new(0, 3600, y).unwrap();
        let m = SeasonalNaiveSpec::new(Season::Day)
            .fit(&s, Arc::default())
            .unwrap();
        let f = m.predict(30, &[0.1, 0.9]).unwrap();
        let expect: Vec<f64> = (0..30).map(|i| (i % 24) as f64).collect();
        assert_eq!(f.point, expect);
        assert_eq!(
            f.quantile(0.1).unwrap(),
            &expect[..],
            "no seasonal error in-sample"
        );
    }

    #[test]
    fn missing_points_fall_back_a_season_further() {
        let mut y: Vec<f64> = (0..72)
            .map(|i| (i % 24) as f64 + (i / 24) as f64 * 100.0)
            .collect();
        y[48] = f64::NAN;
        let s = Series::new(0, 3600, y).unwrap();
        let mut m = SeasonalNaiveSpec::new(Season::Day)
            .fit(&s, Arc::default())
            .unwrap();
        assert_eq!(m.predict(1, &[]).unwrap().point[0], 100.0);
        m.update(72 * 3600, 7.0);
        assert_eq!(m.predict(1, &[]).unwrap().point[0], 201.0);
    }
}
