//! The regression's features: seasonal changes a day (of the same kind) and weeks back, their
//! slopes, the latest movements, the newest value against its recent means, and the hourly
//! change.

use super::sums::Sums;

/// Number of features.
pub(super) const NF: usize = 14;

/// Each feature is clipped (winsorized) to this many times its mean absolute value over the
/// training rows of its horizon: a one-off burst a day or a week back moves the forecast by
/// a few typical changes instead of echoing in full, and outliers in the training window
/// weigh less.
pub(super) const FEATURE_CLIP: f64 = 10.0;

/// `f` with each feature clamped to `±` its bound.
#[inline]
pub(super) fn clip(f: [f64; NF], bounds: &[f32; NF]) -> [f64; NF] {
    let mut out = f;
    for (v, b) in out.iter_mut().zip(bounds) {
        let b = f64::from(*b);
        *v = v.clamp(-b, b);
    }
    out
}

/// Points of history the features reach back (two weeks plus one step; the hourly change's
/// 25 hours are within that).
pub(crate) fn lookback(week: usize) -> usize {
    2 * week + 1
}

/// The periods the lags follow, in steps, and whether the weekly ones are features.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lags {
    pub(super) day: usize,
    pub(super) week: usize,
    pub(super) weekly: bool,
}

/// Features at origin index `t` (the last observed point) for horizon `h`, where `g(i)` is
/// the value at index `i` mapped into the regression's space and `g(t)` the newest. `None`
/// when a needed value is missing (NaN or `None`).
///
/// `sums` gives the means and hourly sums several features read ([`Sums`]): by prefix sums
/// ([`PrefixSums`]) when a fit or a validation takes many rows from one series. The daily
/// lags look `kd` days back ([`tidecast_core::days_back`]).
pub(super) fn features_with(
    g: impl Fn(usize) -> Option<f64>,
    sums: &impl Sums,
    t: usize,
    h: usize,
    lags: Lags,
    kd: usize,
) -> Option<[f64; NF]> {
    let Lags { day, week, weekly } = lags;
    let reach = if weekly {
        2 * week
    } else {
        day + HOURS * hour_steps(day)
    };
    if t < reach || t < 6 {
        return None;
    }
    let g = |i: usize| g(i).filter(|v| !v.is_nan());
    let yt = g(t)?;
    // Without the weekly lags (a history too short for them) their features are 0: the
    // ridge gives a constant 0 column no weight.
    let w = |f: &dyn Fn() -> Option<f64>| if weekly { f() } else { Some(0.0) };
    let w1 = w(&|| Some(g(t + h - week)? - g(t - week)?))?;
    let w2 = w(&|| Some(g(t + h - 2 * week)? - g(t - 2 * week)?))?;
    // The daily lags look `kd` days back: to the last day of the target's kind. `lag` is the
    // target's time on that day.
    let lag = (t + h).checked_sub(kd * day)?;
    let d1 = g(lag)? - g(t.checked_sub(kd * day)?)?;
    let m1 = yt - g(t - 1)?;
    let mut s = 0.0;
    for k in 1..=6 {
        s += g(t - k)?;
    }
    let m6 = yt - s / 6.0;
    let lw = w(&|| Some(g(t + h - week)? - yt))?;
    let ld = g(lag)? - yt;
    // The newest value against its mean over the last 3 hours, 12 hours, day and week: how
    // far a burst has to fall back, from a 5-minute burst to a busy week. Relative means,
    // not the level, so a trend does not pull the forecast back to an old level.
    let [short, long, d, wk] = recent_windows(day);
    let m3h = yt - sums.mean_back(t, short)?;
    let m12h = yt - sums.mean_back(t, long)?;
    let mday = yt - sums.mean_back(t, d)?;
    let mweek = w(&|| Some(yt - sums.mean_back(t, wk)?))?;
    // The slope of last week's and yesterday's curves at the target time: where the daily
    // shape drifts in time (an evening peak following sunset), the change a shift of the
    // curve makes is the slope times the shift, which the regression can learn.
    let sw = w(&|| Some(g(t + h - week + 1)? - g(t + h - week - 1)?))?;
    // (Yesterday's slope needs the value after the target a day back: none at daily steps.)
    let sd = if h < day {
        g(lag + 1)? - g(lag.checked_sub(1)?)?
    } else {
        0.0
    };
    // The mean change over the same minutes of the hour through the last 24 hours: events at
    // fixed minutes of every hour (programme starts at the top of the hour, scheduled
    // posts and jobs) that the daily and weekly lags see only once. Whole hours at least
    // `h` back: the first is one hour back when `h` is within it. With steps longer than an
    // hour there are no minutes of the hour: 0 (and 24 daily steps would reach past the
    // two-week lag buffer).
    let hc = if day >= 24 {
        let first = h.div_ceil(hour_steps(day));
        sums.hourly_mean(t + h, first)? - sums.hourly_mean(t, first)?
    } else {
        0.0
    };
    // The features whose coefficients may vary with the time of day first (NV).
    Some([
        w1, w2, d1, lw, ld, sw, sd, m1, m6, m3h, m12h, mday, mweek, hc,
    ])
}

/// Hours the hourly change feature averages over.
pub(super) const HOURS: usize = 24;

/// Steps in an hour (at least one).
#[inline]
pub(super) fn hour_steps(day: usize) -> usize {
    (day / 24).max(1)
}

/// The windows (in steps) of the recent means the features compare the newest value with:
/// 3 hours, 12 hours, a day and a week.
#[inline]
pub(super) fn recent_windows(day: usize) -> [usize; 4] {
    [(day / 8).max(2), (day / 2).max(2), day, 7 * day]
}
