//! Prediction intervals calibrated by horizon on out-of-sample residuals.

use crate::{Error, Result};

/// Refuse quantile levels outside `(0, 1)` before any forecast is made.
pub(crate) fn check_quantiles(quantiles: &[f64]) -> Result<()> {
    match quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        Some(q) => Err(Error::Quantile(*q)),
        None => Ok(()),
    }
}

/// Quantile levels stored per horizon; others are interpolated between them. Stored as
/// f32: a serving process holds one table per target, and thousands of targets.
const LEVELS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99,
];

/// Scaled-residual quantiles by horizon. Rows are kept for every horizon up to 6 steps and
/// for a sparser set beyond (every 2 up to 12, every 5 up to 30, every 10 up to 60, every
/// 20 after), interpolated in between: intervals widen smoothly with the horizon, and a
/// server holding thousands of targets keeps a fraction of the table.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Calibration {
    horizons: Vec<u32>,
    rows: Vec<[f32; LEVELS.len()]>,
}

fn kept(h: usize, last: usize) -> bool {
    h <= 6
        || h == last
        || (h <= 12 && h.is_multiple_of(2))
        || (h <= 30 && h.is_multiple_of(5))
        || (h <= 60 && h.is_multiple_of(10))
        || h.is_multiple_of(20)
}

impl Calibration {
    /// From scaled residuals per horizon (`residuals[h - 1]`). Horizons with fewer than
    /// `min_n` residuals borrow the nearest shorter horizon's row that has enough (or stay
    /// zero-width). Only the rows kept are computed: sorting every horizon's residuals was
    /// about a tenth of a 1-minute tidal fit, and 44 of its 60 rows were dropped.
    pub(crate) fn from_residuals(residuals: &mut [Vec<f64>], min_n: usize) -> Self {
        let last = residuals.len();
        let mut horizons = Vec::new();
        let mut rows: Vec<[f32; LEVELS.len()]> = Vec::new();
        // The nearest horizon so far with enough residuals (index into `residuals`).
        let mut good: Option<usize> = None;
        for i in 0..last {
            residuals[i].retain(|x| x.is_finite());
            if residuals[i].len() >= min_n {
                good = Some(i);
            }
            let h = i + 1;
            if !kept(h, last) {
                continue;
            }
            let row = match good {
                None => [0.0; LEVELS.len()],
                Some(g) => {
                    let r = &mut residuals[g];
                    // Unstable: equal values under total_cmp are the same bits, so the order
                    // is too. (Sorting again a row already sorted is cheap.)
                    r.sort_unstable_by(f64::total_cmp);
                    let mut row = [0.0f32; LEVELS.len()];
                    for (k, q) in LEVELS.iter().enumerate() {
                        row[k] = empirical_quantile(r, *q) as f32;
                    }
                    row
                }
            };
            horizons.push(h as u32);
            rows.push(row);
        }
        Self { horizons, rows }
    }

    /// Scaled residual at quantile level `q` for 1-based horizon `h` (beyond the calibrated
    /// horizons, the last row applies).
    pub(crate) fn quantile(&self, h: usize, q: f64) -> f64 {
        let h = h.max(1) as u32;
        let k = self.horizons.partition_point(|x| *x < h);
        if k >= self.horizons.len() {
            return self.rows.last().map_or(0.0, |r| level_quantile(r, q));
        }
        if self.horizons[k] == h || k == 0 {
            return level_quantile(&self.rows[k], q);
        }
        let (h0, h1) = (self.horizons[k - 1], self.horizons[k]);
        let w = f64::from(h - h0) / f64::from(h1 - h0);
        level_quantile(&self.rows[k - 1], q) * (1.0 - w) + level_quantile(&self.rows[k], q) * w
    }
}

/// The value at level `q` of one row, interpolated between stored levels.
fn level_quantile(row: &[f32; LEVELS.len()], q: f64) -> f64 {
    let row = row.map(f64::from);
    if q <= LEVELS[0] {
        return row[0];
    }
    if q >= LEVELS[LEVELS.len() - 1] {
        return row[LEVELS.len() - 1];
    }
    let k = LEVELS
        .iter()
        .position(|l| *l >= q)
        .unwrap_or(LEVELS.len() - 1);
    if (LEVELS[k] - q).abs() < 1e-12 {
        return row[k];
    }
    let (l0, l1) = (LEVELS[k - 1], LEVELS[k]);
    let w = (q - l0) / (l1 - l0);
    row[k - 1] * (1.0 - w) + row[k] * w
}

/// Type-7 (linear) empirical quantile of sorted data.
pub(crate) fn empirical_quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_uniform_sample_are_the_levels() {
        let mut r = vec![(0..=1000).map(|i| i as f64 / 1000.0).collect::<Vec<_>>()];
        let c = Calibration::from_residuals(&mut r, 10);
        for q in [0.1, 0.5, 0.9, 0.33, 0.999] {
            assert!((c.quantile(1, q) - q.min(0.99)).abs() < 1e-6, "{q}");
        }
        assert_eq!(
            c.quantile(7, 0.9),
            c.quantile(1, 0.9),
            "beyond the last row"
        );
    }

    #[test]
    fn thin_horizons_borrow_the_previous_row() {
        let mut r = vec![vec![1.0; 50], vec![5.0; 3]];
        let c = Calibration::from_residuals(&mut r, 10);
        assert_eq!(c.quantile(2, 0.9), 1.0);
    }
}
