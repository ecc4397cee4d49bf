//! Accuracy metrics for backtests, computed the way `tests/eval/score.py` computes them.

use crate::OriginForecast;
use tidecast_core::Series;

/// Accuracy at one horizon.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HorizonScore {
    /// Steps ahead.
    pub steps: usize,
    /// Scored forecast/actual pairs.
    pub pairs: usize,
    /// Mean absolute scaled error (scale: in-sample MAE of the daily seasonal naive).
    pub mase: f64,
    /// Symmetric mean absolute percentage error, %.
    pub smape: f64,
    /// Mean under-forecast of the top 10 % of actual load, % of the actual.
    pub peak_under: f64,
    /// Share of actuals inside the outermost quantile interval (if one was forecast).
    pub coverage: Option<f64>,
}

/// Score backtest forecasts at the given horizons (steps). Training data for the MASE
/// scale is everything up to the first origin.
pub fn score(series: &Series, results: &[OriginForecast], horizons: &[usize]) -> Vec<HorizonScore> {
    let y = series.values();
    let Some(first) = results.first() else {
        return Vec::new();
    };
    let period = (tidecast_core::SECS_PER_DAY / series.step()).max(1) as usize;
    let train_end = first.last_index + 1;
    let scale = {
        let d: Vec<f64> = (period..train_end)
            .map(|i| (y[i] - y[i - period]).abs())
            .filter(|d| d.is_finite())
            .collect();
        if d.is_empty() {
            f64::NAN
        } else {
            d.iter().sum::<f64>() / d.len() as f64
        }
    };
    let threshold = {
        let mut test: Vec<f64> = y[train_end.min(y.len())..]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        test.sort_by(f64::total_cmp);
        if test.is_empty() {
            f64::INFINITY
        } else {
            crate::calibration::empirical_quantile(&test, 0.9)
        }
    };
    horizons
        .iter()
        .map(|&h| {
            let (mut n, mut ae, mut sm, mut sm_n, mut pk, mut pk_n, mut cov) =
                (0, 0.0, 0.0, 0, 0.0, 0, 0);
            for r in results {
                let j = r.last_index + h;
                if h == 0 || h > r.forecast.len() || j >= y.len() || y[j].is_nan() {
                    continue;
                }
                let (a, f) = (y[j], r.forecast.point[h - 1]);
                n += 1;
                ae += (a - f).abs();
                if a.abs() + f.abs() > 0.0 {
                    sm += 200.0 * (a - f).abs() / (a.abs() + f.abs());
                    sm_n += 1;
                }
                if a >= threshold && a > 0.0 {
                    pk += 100.0 * (a - f).max(0.0) / a;
                    pk_n += 1;
                }
                if let (Some(lo), Some(hi)) =
                    (r.forecast.quantiles.first(), r.forecast.quantiles.last())
                    && lo.1[h - 1] <= a
                    && a <= hi.1[h - 1]
                {
                    cov += 1;
                }
            }
            let div = |a: f64, b: usize| if b == 0 { f64::NAN } else { a / b as f64 };
            HorizonScore {
                steps: h,
                pairs: n,
                mase: div(ae, n) / scale,
                smape: div(sm, sm_n),
                peak_under: div(pk, pk_n),
                coverage: results
                    .first()
                    .filter(|r| r.forecast.quantiles.len() >= 2)
                    .map(|_| div(f64::from(cov), n)),
            }
        })
        .collect()
}
