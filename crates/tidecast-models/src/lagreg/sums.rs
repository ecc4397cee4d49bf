//! Sums over a series that the features of many rows or horizons share: prefix sums for a
//! fit or a validation, the recent means once per served forecast.

use super::features::{HOURS, hour_steps};

/// Sums over a series that features of many rows or horizons share.
pub(crate) trait Sums {
    /// The mean of the `k` values ending at index `t`, over those present ([`present_mean`]).
    fn mean_back(&self, t: usize, k: usize) -> Option<f64>;
    /// The mean of the values at `x - k * hour` for the [`HOURS`] hours `k` from `first` on,
    /// over those present (`None` also if the oldest is before the series).
    fn hourly_mean(&self, x: usize, first: usize) -> Option<f64>;
}

/// The mean of `present` values summing to `sum` out of a window of `k`: `None` when fewer
/// than half are present. A missed scrape is a NaN in a server's lag buffer; requiring every
/// value would switch the regression off for the week the gap stays in the weekly window.
#[inline]
pub(super) fn present_mean(sum: f64, present: usize, k: usize) -> Option<f64> {
    (present > 0 && 2 * present >= k).then(|| sum / present as f64)
}

/// The mean of `g(t + 1 - k..=t)` by summing (for a single forecast).
pub(super) fn mean_back_by_sum(
    g: impl Fn(usize) -> Option<f64>,
    t: usize,
    k: usize,
) -> Option<f64> {
    let (mut s, mut present) = (0.0, 0);
    for j in t.checked_sub(k - 1)?..=t {
        if let Some(v) = g(j).filter(|v| !v.is_nan()) {
            s += v;
            present += 1;
        }
    }
    present_mean(s, present, k)
}

/// The newest value's means over [`recent_windows`] in a model's space, from
/// [`LagRegression::recent`]: computed once per forecast and shared by its horizons.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recent {
    /// The index the means end at.
    pub(super) t: usize,
    pub(super) windows: [usize; 4],
    pub(super) means: [Option<f64>; 4],
}

/// [`Sums`] for one forecast: the [`Recent`] means, and hourly sums by summing `g`.
pub(super) struct Single<'a, G> {
    pub(super) g: G,
    pub(super) recent: &'a Recent,
    pub(super) hour: usize,
}

impl<G: Fn(usize) -> Option<f64>> Sums for Single<'_, G> {
    #[inline]
    fn mean_back(&self, t: usize, k: usize) -> Option<f64> {
        if t != self.recent.t {
            return None;
        }
        let i = self.recent.windows.iter().position(|w| *w == k)?;
        self.recent.means[i]
    }
    #[inline]
    fn hourly_mean(&self, x: usize, first: usize) -> Option<f64> {
        let (mut s, mut present) = (0.0, 0);
        for k in first..first + HOURS {
            if let Some(v) = (self.g)(x.checked_sub(k * self.hour)?).filter(|v| !v.is_nan()) {
                s += v;
                present += 1;
            }
        }
        present_mean(s, present, HOURS)
    }
}

/// [`Sums`] of one series in O(1) each, by prefix sums (plain, and strided by the hour):
/// for the many rows of a fit or a validation. Missing (NaN) values are counted apart and
/// left out of the means.
pub(crate) struct PrefixSums {
    sum: Vec<f64>,
    missing: Vec<u32>,
    hour: usize,
    /// `hourly[i] = z[i] + hourly[i - hour]` (missing values as 0, counted apart).
    hourly: Vec<f64>,
    hourly_missing: Vec<u32>,
}

impl PrefixSums {
    /// Of `z`, with `day` steps per day.
    pub(crate) fn new(z: &[f64], day: usize) -> Self {
        let hour = hour_steps(day);
        let (mut sum, mut missing) = (Vec::with_capacity(z.len() + 1), Vec::new());
        missing.reserve(z.len() + 1);
        let (mut hourly, mut hourly_missing) = (Vec::with_capacity(z.len()), Vec::new());
        hourly_missing.reserve(z.len());
        let (mut s, mut m) = (0.0, 0u32);
        sum.push(s);
        missing.push(m);
        for (i, v) in z.iter().enumerate() {
            let (value, gap) = if v.is_nan() { (0.0, 1) } else { (*v, 0) };
            s += value;
            m += gap;
            sum.push(s);
            missing.push(m);
            let (hs, hm) = match i.checked_sub(hour) {
                Some(j) => (hourly[j], hourly_missing[j]),
                None => (0.0, 0),
            };
            hourly.push(value + hs);
            hourly_missing.push(gap + hm);
        }
        Self {
            sum,
            missing,
            hour,
            hourly,
            hourly_missing,
        }
    }
}

impl Sums for PrefixSums {
    #[inline]
    fn mean_back(&self, t: usize, k: usize) -> Option<f64> {
        let from = (t + 1).checked_sub(k)?;
        if t + 1 >= self.sum.len() {
            return None;
        }
        let missing = (self.missing[t + 1] - self.missing[from]) as usize;
        present_mean(self.sum[t + 1] - self.sum[from], k - missing, k)
    }

    #[inline]
    fn hourly_mean(&self, x: usize, first: usize) -> Option<f64> {
        let newest = x.checked_sub(first * self.hour)?;
        // The oldest term must exist; the chain before it is subtracted away.
        x.checked_sub((first + HOURS - 1) * self.hour)?;
        if newest >= self.hourly.len() {
            return None;
        }
        let (before, before_missing) = match x.checked_sub((first + HOURS) * self.hour) {
            Some(j) => (self.hourly[j], self.hourly_missing[j]),
            None => (0.0, 0),
        };
        let missing = (self.hourly_missing[newest] - before_missing) as usize;
        present_mean(self.hourly[newest] - before, HOURS - missing, HOURS)
    }
}
