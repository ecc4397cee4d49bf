//! A model fitted on coarser aggregates of a fine series: the 1-minute load of a target is
//! averaged into 5-minute buckets, the model fits and forecasts those, and the forecast is
//! read back per fine step by linear interpolation between bucket centres.
//!
//! A bucket is labelled by its end and covers `(end - coarse, end]`; a bucket is absorbed
//! once its last fine step has been seen, so at any time the model knows exactly the
//! completed buckets, as it would have in production (an honest backtest stays honest).

use crate::Result;
use tidecast_core::{Forecast, Predict, Series};

/// The series averaged into buckets of `coarse` seconds, each labelled by its end (a bucket
/// with no observation is missing). `coarse` must be a multiple of the series' step.
pub(crate) fn aggregate(series: &Series, coarse: i64) -> Result<Series> {
    let step = series.step();
    let first_end = bucket_end(series.start(), coarse);
    let last = series.end().unwrap_or(series.start());
    // The last bucket counts only when its last grid point is in the series.
    let last_end = match bucket_end(last, coarse) {
        end if last + step > end => end,
        end => end - coarse,
    };
    let buckets = ((last_end - first_end) / coarse + 1).max(0) as usize;
    let (mut sum, mut count) = (vec![0.0; buckets], vec![0usize; buckets]);
    for (i, v) in series.values().iter().enumerate() {
        let t = series.timestamp(i);
        let end = bucket_end(t, coarse);
        if t > last_end || v.is_nan() {
            continue;
        }
        let k = ((end - first_end) / coarse) as usize;
        sum[k] += v;
        count[k] += 1;
    }
    let values = sum
        .iter()
        .zip(&count)
        .map(|(s, c)| if *c == 0 { f64::NAN } else { s / *c as f64 })
        .collect();
    Ok(Series::new(first_end, coarse, values)?)
}

/// The end of the bucket holding second `t`: the first multiple of `coarse` at or after it.
fn bucket_end(t: i64, coarse: i64) -> i64 {
    (t - 1).div_euclid(coarse) * coarse + coarse
}

/// A model on `coarse`-second buckets serving a `fine`-second grid.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Coarse {
    inner: crate::Fitted,
    fine: i64,
    coarse: i64,
    /// The newest fine grid point seen.
    last: i64,
    /// The open bucket's sum and observed count.
    open: (f64, usize),
    /// The mean of the newest completed bucket (`NaN` if it had no observation).
    newest: f64,
    name: String,
}

impl Coarse {
    /// Wrap `inner`, fitted on the [`aggregate`] of a fine history whose last grid point is
    /// `last` and whose last bucket mean was `newest`.
    pub(crate) fn new(
        inner: crate::Fitted,
        fine: i64,
        coarse: i64,
        last: i64,
        newest: f64,
    ) -> Self {
        let name = format!("{} on {}s means", inner.name(), coarse);
        Self {
            inner,
            fine,
            coarse,
            last,
            open: (0.0, 0),
            newest,
            name,
        }
    }

    /// The bucket end of the fine grid point `t`.
    fn bucket_end(&self, t: i64) -> i64 {
        bucket_end(t, self.coarse)
    }

    /// Close the open bucket at `end`.
    fn close(&mut self, end: i64) {
        let (s, c) = self.open;
        let mean = if c == 0 { f64::NAN } else { s / c as f64 };
        self.inner.update(end, mean);
        self.newest = mean;
        self.open = (0.0, 0);
    }
}

impl Predict for Coarse {
    fn name(&self) -> &str {
        &self.name
    }

    fn update(&mut self, t: i64, value: f64) {
        if t <= self.last {
            return;
        }
        let t = self.last + ((t - self.last + self.fine / 2) / self.fine).max(1) * self.fine;
        // Buckets the update skipped past are closed (missing where nothing was seen).
        let end = self.bucket_end(t);
        let mut open_end = self.bucket_end(self.last + self.fine);
        while open_end < end {
            self.close(open_end);
            open_end += self.coarse;
        }
        if value.is_finite() {
            self.open.0 += value;
            self.open.1 += 1;
        }
        self.last = t;
        // The bucket's last grid point (the grid need not align with the buckets).
        if t + self.fine > end {
            self.close(end);
        }
    }

    fn last_timestamp(&self) -> i64 {
        self.last
    }

    fn predict(&self, steps: usize, quantiles: &[f64]) -> tidecast_core::Result<Forecast> {
        let known = self.inner.last_timestamp();
        let start = self.last + self.fine;
        let until = self.last + steps as i64 * self.fine;
        let coarse_steps = ((until - known) / self.coarse + 2).max(1) as usize;
        let f = self.inner.predict(coarse_steps, quantiles)?;
        let half = self.coarse as f64 / 2.0;
        // The value at time `t`, interpolated between bucket centres; the newest completed
        // bucket's mean anchors the first half-bucket.
        let read = |values: &[f64], anchor: f64, t: i64| -> f64 {
            let x = (t - known) as f64 + half;
            let k = (x / self.coarse as f64).floor() as usize;
            let w = x / self.coarse as f64 - k as f64;
            let at = |k: usize| {
                if k == 0 {
                    anchor
                } else {
                    values.get(k - 1).copied().unwrap_or(f64::NAN)
                }
            };
            let (a, b) = (at(k), at(k + 1));
            if a.is_nan() { b } else { a * (1.0 - w) + b * w }
        };
        let times: Vec<i64> = (0..steps).map(|i| start + i as i64 * self.fine).collect();
        let anchor = if self.newest.is_nan() {
            f.point.first().copied().unwrap_or(f64::NAN)
        } else {
            self.newest
        };
        let point = times.iter().map(|t| read(&f.point, anchor, *t)).collect();
        let quantiles = f
            .quantiles
            .iter()
            .map(|(q, v)| {
                let first = v.first().copied().unwrap_or(f64::NAN);
                // The anchor of a quantile is the anchor shifted as the first bucket's is.
                let shift = first - f.point.first().copied().unwrap_or(first);
                (
                    *q,
                    times.iter().map(|t| read(v, anchor + shift, *t)).collect(),
                )
            })
            .collect();
        Ok(Forecast {
            start,
            step: self.fine,
            point,
            quantiles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Forecaster, ModelKind};
    use std::sync::Arc;
    use tidecast_core::{Calendar, SECS_PER_DAY};

    #[test]
    fn buckets_are_means_labelled_by_their_end_and_empty_ones_are_missing() {
        // 1-minute points at 00:01 .. 00:15; the third bucket has no observation.
        let mut v: Vec<f64> = (1..=15).map(f64::from).collect();
        for x in &mut v[10..15] {
            *x = f64::NAN;
        }
        let s = Series::new(60, 60, v).unwrap();
        let a = aggregate(&s, 300).unwrap();
        assert_eq!((a.start(), a.step(), a.len()), (300, 300, 3));
        assert_eq!(&a.values()[..2], &[3.0, 8.0]);
        assert!(a.values()[2].is_nan());
    }

    #[test]
    fn an_unaligned_grid_closes_a_bucket_at_its_last_point() {
        // A grid 53 s past the minute (as scraped): 00:00:53, 00:01:53, ...
        let s = Series::new(53, 60, (0..10).map(f64::from).collect()).unwrap();
        let a = aggregate(&s, 300).unwrap();
        assert_eq!(a.start(), 300);
        assert_eq!(a.values()[0], 2.0); // 0..=4 at 00:00:53 .. 00:04:53
        assert_eq!(a.values()[1], 7.0);
    }

    /// A 1-minute tide: four weeks of a smooth daily cycle.
    fn minute_tide(days: i64) -> Series {
        let v = (0..days * 1440)
            .map(|i| {
                let x = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
                1000.0 + 800.0 * x.sin() + 37.0 * ((i * 7919) % 13) as f64
            })
            .collect();
        Series::new(0, 60, v).unwrap()
    }

    #[test]
    fn a_backtest_on_means_replays_the_forecast_on_the_cut_history() {
        let s = minute_tide(10);
        let f = Forecaster::new(Arc::new(Calendar::default()))
            .model(ModelKind::Tidal)
            .aggregate(Some(300));
        // Origins inside a bucket and at its end, a day after a refit.
        for origin in [
            9 * SECS_PER_DAY + 3 * 3600 + 120,
            9 * SECS_PER_DAY + 7 * 3600,
        ] {
            let bt = f.backtest(&s, &[origin], 20, |_| {}).unwrap();
            let cut = f.forecast(&s.cut(origin), 20).unwrap();
            assert_eq!(bt[0].forecast.start, origin + 60);
            assert_eq!(bt[0].forecast.point, cut.point);
            assert_eq!(bt[0].forecast.quantiles, cut.quantiles);
        }
    }

    #[test]
    fn the_forecast_read_per_minute_follows_the_tide_between_bucket_centres() {
        let s = minute_tide(10);
        let origin = 9 * SECS_PER_DAY + 6 * 3600; // rising steeply
        let f = Forecaster::new(Arc::new(Calendar::default()))
            .model(ModelKind::Tidal)
            .aggregate(Some(300))
            .forecast(&s.cut(origin), 30)
            .unwrap();
        let actual = &s.values()[(origin / 60) as usize + 1..][..30];
        let mae: f64 = f
            .point
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a).abs())
            .sum::<f64>()
            / 30.0;
        // The cycle moves ~5 per minute here and the noise is up to 444: a per-minute reading
        // within the noise, and no step every five minutes.
        assert!(mae < 250.0, "MAE {mae}");
        let jumps = f
            .point
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0, f64::max);
        assert!(jumps < 50.0, "largest minute-to-minute change {jumps}");
    }

    #[test]
    fn an_aggregate_that_does_not_divide_the_grid_is_refused() {
        let s = minute_tide(3);
        let e = Forecaster::new(Arc::new(Calendar::default()))
            .aggregate(Some(90))
            .forecast(&s, 5)
            .unwrap_err();
        assert!(
            matches!(e, Error::AggregateNotWhole { aggregate: 90, .. }),
            "{e}"
        );
    }
}
