//! A regular time grid with missing samples, and its construction from raw samples.

use crate::{Error, Result};

/// One raw observation: Unix seconds (possibly fractional) and a value (`NaN` = missing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub timestamp: f64,
    /// The observed value; non-finite values are treated as missing.
    pub value: f64,
}

/// A series on a regular grid: `start + i * step` for `i in 0..len`.
///
/// Missing samples are `NaN`; they are never replaced by zeros. Gaps short enough to be
/// bridged are filled by linear interpolation only where [`Series::bridged`] is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    start: i64,
    step: i64,
    values: Vec<f64>,
}

impl Series {
    /// A series from a start, a step in seconds and values (`NaN` = missing).
    pub fn new(start: i64, step: i64, values: Vec<f64>) -> Result<Self> {
        if step <= 0 {
            return Err(Error::InvalidParameter(format!(
                "step must be positive, got {step}s"
            )));
        }
        let values = values
            .into_iter()
            .map(|v| if v.is_finite() { v } else { f64::NAN })
            .collect();
        Ok(Self {
            start,
            step,
            values,
        })
    }

    /// Unix seconds of the first grid point.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Grid spacing in seconds.
    pub fn step(&self) -> i64 {
        self.step
    }

    /// Values on the grid (`NaN` = missing).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Number of grid points, missing or not.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the grid has no points.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Unix seconds of grid point `i`.
    pub fn timestamp(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// Unix seconds of the last grid point.
    pub fn end(&self) -> Option<i64> {
        (!self.values.is_empty()).then(|| self.timestamp(self.values.len() - 1))
    }

    /// Number of grid points holding an observation.
    pub fn observed(&self) -> usize {
        self.values.iter().filter(|v| !v.is_nan()).count()
    }

    /// Index of the grid point at or before `t`, if `t` is not before the start.
    pub fn index_at_or_before(&self, t: i64) -> Option<usize> {
        if t < self.start {
            return None;
        }
        Some((((t - self.start) / self.step) as usize).min(self.values.len().saturating_sub(1)))
    }

    /// The prefix of the series with timestamps `<= t` (what production would have seen at `t`).
    pub fn cut(&self, t: i64) -> Series {
        let n = if t < self.start {
            0
        } else {
            (((t - self.start) / self.step) as usize + 1).min(self.values.len())
        };
        Series {
            start: self.start,
            step: self.step,
            values: self.values[..n].to_vec(),
        }
    }

    /// The points with `from <= timestamp <= to`, keeping the grid.
    pub fn window(&self, from: i64, to: i64) -> Series {
        let first = if from <= self.start {
            0
        } else {
            ((from - self.start + self.step - 1) / self.step) as usize
        };
        let cut = self.cut(to);
        let first = first.min(cut.values.len());
        Series {
            start: self.start + first as i64 * self.step,
            step: self.step,
            values: cut.values[first..].to_vec(),
        }
    }

    /// A copy where runs of missing points no longer than `max_gap` seconds, with observations
    /// on both sides, are filled by linear interpolation. Longer gaps, and missing points at
    /// either end, stay missing: a model must never see invented data there.
    pub fn bridged(&self, max_gap: i64) -> Series {
        let mut values = self.values.clone();
        let max_points = (max_gap / self.step).max(1) as usize;
        let mut i = 0;
        while i < values.len() {
            if !values[i].is_nan() {
                i += 1;
                continue;
            }
            let gap_start = i;
            while i < values.len() && values[i].is_nan() {
                i += 1;
            }
            let gap_len = i - gap_start;
            if gap_start == 0 || i == values.len() || gap_len > max_points {
                continue;
            }
            let (a, b) = (values[gap_start - 1], values[i]);
            for k in 0..gap_len {
                let w = (k + 1) as f64 / (gap_len + 1) as f64;
                values[gap_start + k] = a + (b - a) * w;
            }
        }
        Series {
            start: self.start,
            step: self.step,
            values,
        }
    }

    /// Gaps (runs of missing points) as `(first index, length)`.
    pub fn gaps(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.values.len() {
            if self.values[i].is_nan() {
                let s = i;
                while i < self.values.len() && self.values[i].is_nan() {
                    i += 1;
                }
                out.push((s, i - s));
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Unix seconds of 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants a series may
/// have.
pub(crate) const TIMESTAMP_RANGE: (f64, f64) = (-2_208_988_800.0, 253_402_300_799.0);

/// The most common positive spacing between consecutive distinct timestamps (seconds),
/// ties broken towards the smaller step. `None` with fewer than two distinct timestamps.
pub fn infer_step(sorted_unique: &[i64]) -> Option<i64> {
    let mut diffs: Vec<i64> = sorted_unique
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .filter(|d| *d > 0)
        .collect();
    if diffs.is_empty() {
        return None;
    }
    diffs.sort_unstable();
    let (mut best, mut best_n) = (diffs[0], 0usize);
    let mut i = 0;
    while i < diffs.len() {
        let mut j = i;
        while j < diffs.len() && diffs[j] == diffs[i] {
            j += 1;
        }
        if j - i > best_n {
            best = diffs[i];
            best_n = j - i;
        }
        i = j;
    }
    Some(best)
}

/// Builds a [`Series`] from raw samples: sorts them, keeps the last of duplicates, infers
/// the step, snaps to the grid anchored at the first timestamp and marks holes as missing.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SeriesBuilder {
    step: Option<i64>,
}

impl SeriesBuilder {
    /// A builder that infers the step.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this step (seconds) instead of inferring it.
    pub fn step(mut self, step: Option<i64>) -> Self {
        self.step = step;
        self
    }

    /// Build the grid. Samples come in input order; for equal timestamps (or two samples
    /// that snap to the same grid point) the later one wins.
    pub fn build(&self, samples: &[Sample]) -> Result<Series> {
        if samples.is_empty() {
            return Err(Error::NotEnoughData("no samples".into()));
        }
        // Grid arithmetic is on whole seconds: instants far outside any calendar would
        // overflow it (found by fuzzing the CSV reader).
        if let Some(bad) = samples
            .iter()
            .find(|s| !(TIMESTAMP_RANGE.0..=TIMESTAMP_RANGE.1).contains(&s.timestamp))
        {
            return Err(Error::InvalidParameter(format!(
                "timestamp {} is outside the years 1900-9999 (Unix seconds {} to {})",
                bad.timestamp, TIMESTAMP_RANGE.0, TIMESTAMP_RANGE.1
            )));
        }
        // Stable sort by time keeps input order among equal timestamps, so "last wins".
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.sort_by(|&a, &b| samples[a].timestamp.total_cmp(&samples[b].timestamp));
        let secs: Vec<i64> = order
            .iter()
            .map(|&i| samples[i].timestamp.round() as i64)
            .collect();
        let step = match self.step {
            Some(s) if s > 0 => s,
            Some(s) => {
                return Err(Error::InvalidParameter(format!(
                    "step must be positive, got {s}s"
                )));
            }
            None => {
                let mut unique = secs.clone();
                unique.dedup();
                infer_step(&unique).ok_or_else(|| {
                    Error::NotEnoughData(
                        "need at least two distinct timestamps to infer the step".into(),
                    )
                })?
            }
        };
        let start = secs[0];
        let end = *secs.last().expect("non-empty");
        let len = ((end - start) as f64 / step as f64).round() as usize + 1;
        if len > 50_000_000 {
            return Err(Error::InvalidParameter(format!(
                "the grid would have {len} points (step {step}s over {}s): is the step right?",
                end - start
            )));
        }
        let mut values = vec![f64::NAN; len];
        for (k, &i) in order.iter().enumerate() {
            let idx = ((secs[k] - start) as f64 / step as f64).round() as usize;
            let idx = idx.min(len - 1);
            let v = samples[i].value;
            // The stable sort keeps equal timestamps in input order, so the last row wins;
            // near-duplicates snapped onto one point keep the later timestamp.
            values[idx] = if v.is_finite() { v } else { f64::NAN };
        }
        Series::new(start, step, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ts: f64, v: f64) -> Sample {
        Sample {
            timestamp: ts,
            value: v,
        }
    }

    #[test]
    fn unsorted_rows_are_sorted_and_the_step_inferred() {
        let series = SeriesBuilder::new()
            .build(&[s(180.0, 3.0), s(0.0, 0.0), s(120.0, 2.0), s(60.0, 1.0)])
            .unwrap();
        assert_eq!(series.step(), 60);
        assert_eq!(series.start(), 0);
        assert_eq!(series.values(), &[0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn duplicate_timestamps_keep_the_last_row() {
        let series = SeriesBuilder::new()
            .build(&[s(0.0, 1.0), s(60.0, 5.0), s(0.0, 9.0), s(120.0, 2.0)])
            .unwrap();
        assert_eq!(series.values(), &[9.0, 5.0, 2.0]);
    }

    #[test]
    fn non_finite_values_are_missing_not_zero() {
        let series = SeriesBuilder::new()
            .build(&[
                s(0.0, 1.0),
                s(60.0, f64::NAN),
                s(120.0, f64::INFINITY),
                s(180.0, f64::NEG_INFINITY),
                s(240.0, 4.0),
            ])
            .unwrap();
        assert_eq!(series.len(), 5);
        assert_eq!(series.observed(), 2);
        assert!(series.values()[1..4].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn holes_in_the_grid_are_missing() {
        let series = SeriesBuilder::new()
            .build(&[s(0.0, 1.0), s(60.0, 2.0), s(300.0, 6.0), s(360.0, 7.0)])
            .unwrap();
        assert_eq!(series.len(), 7);
        assert_eq!(series.gaps(), vec![(2, 3)]);
    }

    #[test]
    fn the_most_common_spacing_wins_over_gaps() {
        assert_eq!(infer_step(&[0, 60, 120, 180, 600, 660]), Some(60));
        assert_eq!(infer_step(&[0, 30, 90]), Some(30));
        assert_eq!(infer_step(&[5]), None);
    }

    #[test]
    fn off_grid_timestamps_snap_to_the_nearest_point() {
        let series = SeriesBuilder::new()
            .build(&[s(0.0, 1.0), s(60.0, 2.0), s(121.4, 3.0), s(180.0, 4.0)])
            .unwrap();
        assert_eq!(series.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn short_gaps_are_bridged_and_long_ones_left_missing() {
        let mut v = vec![1.0, f64::NAN, f64::NAN, 4.0];
        v.extend([f64::NAN; 30]);
        v.push(10.0);
        v.push(f64::NAN);
        let series = Series::new(0, 60, v).unwrap().bridged(15 * 60);
        assert_eq!(&series.values()[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert!(series.values()[4..34].iter().all(|x| x.is_nan()));
        assert_eq!(series.values()[34], 10.0);
        assert!(
            series.values()[35].is_nan(),
            "trailing gaps are never filled"
        );
    }

    #[test]
    fn cut_keeps_points_up_to_and_including_t() {
        let series = Series::new(100, 10, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(series.cut(120).values(), &[1.0, 2.0, 3.0]);
        assert_eq!(series.cut(125).values(), &[1.0, 2.0, 3.0]);
        assert_eq!(series.cut(99).len(), 0);
        assert_eq!(series.cut(1000).len(), 4);
        let w = series.window(105, 125);
        assert_eq!((w.start(), w.values()), (110, &[2.0, 3.0][..]));
    }

    #[test]
    fn an_empty_or_single_sample_input_is_an_error() {
        assert!(SeriesBuilder::new().build(&[]).is_err());
        assert!(SeriesBuilder::new().build(&[s(0.0, 1.0)]).is_err());
        assert!(
            SeriesBuilder::new()
                .step(Some(60))
                .build(&[s(0.0, 1.0)])
                .is_ok()
        );
    }

    /// Regression: fuzzing the CSV reader found timestamps that overflowed the step
    /// inference and the grid length (`-1e300,1` then `1e300,2`; `-9e18` .. `9e18`).
    #[test]
    fn timestamps_outside_any_calendar_are_an_error_not_an_overflow() {
        for pair in [[-1e300, 1e300], [-9e18, 9e18], [0.0, -4e260]] {
            let e = SeriesBuilder::new()
                .build(&[s(pair[0], 1.0), s(0.0, 2.0), s(pair[1], 3.0)])
                .unwrap_err();
            assert!(e.to_string().contains("outside the years 1900-9999"), "{e}");
        }
        assert!(infer_step(&[i64::MIN, 0, i64::MAX]).is_some());
    }
}
