//! A direct multi-horizon lag regression: for each horizon `h`, ridge regression (linfa's
//! elastic net with an L2 penalty only) of the change `y(t+h) - y(t)` on the seasonal
//! changes on the last day of the target's kind (working or rest, holidays included: Friday
//! for a Monday, see [`days_back`]), one week and two weeks earlier, the slopes of those
//! days' curves at the target time, the latest movements, the newest value against its
//! means over the last 3 hours, 12 hours, day and week (how far a burst falls back;
//! relative means, so a trend does not pull the forecast to an old level) and the mean
//! change over the same minutes of the hour through the last day (events at fixed minutes
//! of every hour). Under four weeks of history the weekly features are left out
//! ([`LagSpec::daily_only`]). It anchors on the newest observation and borrows the shape of
//! the coming hours from the recent past, which suits smooth, strongly seasonal load.
//!
//! Ridge is solved in closed form: linfa's least squares on the normal equations
//! `(X'X + n * penalty * I) b = X'y`, the same objective as scikit-learn's `Ridge` with
//! `alpha = n * penalty`, at a fraction of the cost of coordinate descent.
//!
//! The same regression can run on `ln(1 + y)` ([`Space::Log`]), where a seasonal swing is a
//! ratio of the level: the `auto` model uses whichever space validates better per series.
//!
//! Its coefficients can also vary with the time of day of the target
//! ([`LagSpec::varying`]): each seasonal feature and the latest step is multiplied by a
//! Fourier basis of the target's slot in the day (a varying-coefficient model, as in
//! Hastie & Tibshirani 1993); the recent-mean features keep one coefficient each, and the
//! variation is penalized more than the mean ([`HARMONIC_PENALTY`]).
//! How far yesterday's movement at this hour predicts today's differs by hour: where the
//! daily shape drifts (the evening lighting peak following sunset), yesterday's change is the
//! better guide; where it is stable, the multi-week changes are. Slots are local time (the
//! calendar's zone), so the hours keep their meaning across daylight-saving changes.

use linfa::Dataset;
use linfa::traits::Fit as LinfaFit;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};

/// Ridge penalty per sample (on features and targets divided by the series' mean absolute step).
const PENALTY: f64 = 1e-4;

/// How many times heavier the penalty is on the coefficients' variation with the time of
/// day than on their daily mean: the variation is shrunk towards constant coefficients, so
/// more features do not overfit the 9x as many columns. (Measured on Taylor: 1 overfits
/// with 11 features; 300, 1,000 and 3,000 score within 0.001 of each other.)
const HARMONIC_PENALTY: f64 = 1000.0;

/// Complete rows a fit needs per column of the design (per feature for constant
/// coefficients, per two columns for varying ones): 140 rows for the constant variant.
/// (It was 20: two weeks of half-hourly history leave about 240 rows before a week of
/// validation, so the combination never applied there; at 10, Taylor's 16-day windows
/// have 10 % lower error, 12-day 7 %, 22-day unchanged.)
const MIN_ROWS_PER_COLUMN: usize = 10;

/// Number of features.
pub(crate) const NF: usize = 14;

/// The space the regression works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// The values themselves: additive seasonal changes.
    Linear,
    /// `ln(1 + y)`: changes become ratios, so a seasonal swing scales with the level
    /// (multiplicative seasonality, as in bursty request volumes). Non-negative series only.
    Log,
}

impl Space {
    pub(crate) fn forward(self, v: f64) -> f64 {
        match self {
            Space::Linear => v,
            Space::Log => v.ln_1p(),
        }
    }
    pub(crate) fn back(self, v: f64) -> f64 {
        match self {
            Space::Linear => v,
            Space::Log => v.exp_m1(),
        }
    }
}

/// Fitted coefficients per horizon (row `h - 1`), on features divided by `scale`.
#[derive(Debug, Clone)]
pub(crate) struct LagRegression {
    day: usize,
    week: usize,
    /// Whether the weekly lags are features (else they are 0: a history under four weeks).
    weekly: bool,
    coefs: Vec<Vec<f64>>,
    /// Per horizon, the bound each scaled feature is clipped to ([`FEATURE_CLIP`]).
    bounds: Vec<[f64; NF]>,
    scale: f64,
    space: Space,
    /// Fourier harmonics of the time of day the coefficients vary with (0: constant).
    harmonics: usize,
}

/// The first `NV` features (the seasonal changes and slopes, and the latest step) are the
/// ones whose coefficients vary with the time of day in the varying variant; the rest (the
/// newest value against its mean over the last 6 steps and its recent means, the hourly
/// change) keep one coefficient: how fast a burst falls back does not depend on the hour,
/// and fewer columns overfit less. (Measured: all varying, Taylor went from 0.051/0.073 to
/// 0.052/0.077.)
const NV: usize = 8;

/// The design's columns as (term of the Fourier basis, feature): each varying feature times
/// each basis term, then the constant features (term 0, the constant 1).
fn columns(harmonics: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..2 * harmonics + 1)
        .flat_map(|a| (0..NV).map(move |i| (a, i)))
        .collect();
    out.extend((NV..NF).map(|j| (0, j)));
    out
}

/// The design row at the target's slot times the coefficients `c` (laid out as
/// [`columns`]), without building the row.
fn design_dot(f: &[f64; NF], c: &[f64], harmonics: usize, target_slot: usize, day: usize) -> f64 {
    let (varying, constant) = c.split_at((2 * harmonics + 1) * NV);
    let dot = |a: usize| -> f64 {
        f[..NV]
            .iter()
            .zip(&varying[a * NV..(a + 1) * NV])
            .map(|(x, c)| x * c)
            .sum()
    };
    // The basis terms in [`basis`]'s order, computed in place (no allocation per forecast).
    let x = target_slot as f64 / day as f64 * std::f64::consts::TAU;
    let mut sum = dot(0);
    for k in 1..=harmonics {
        let (sin, cos) = (k as f64 * x).sin_cos();
        sum += sin * dot(2 * k - 1) + cos * dot(2 * k);
    }
    sum + f[NV..]
        .iter()
        .zip(constant)
        .map(|(x, c)| x * c)
        .sum::<f64>()
}

/// The Fourier basis `1, sin(2 pi x), cos(2 pi x), ..., cos(2 pi harmonics x)` at slot `x`.
fn basis(harmonics: usize, slot: usize, day: usize) -> Vec<f64> {
    let x = slot as f64 / day as f64 * std::f64::consts::TAU;
    let mut out = Vec::with_capacity(2 * harmonics + 1);
    out.push(1.0);
    for k in 1..=harmonics {
        let (sin, cos) = (k as f64 * x).sin_cos();
        out.push(sin);
        out.push(cos);
    }
    out
}

/// Each feature is clipped (winsorized) to this many times its mean absolute value over the
/// training rows of its horizon: a one-off burst a day or a week back moves the forecast by
/// a few typical changes instead of echoing in full, and outliers in the training window
/// weigh less.
const FEATURE_CLIP: f64 = 10.0;

fn clip(f: [f64; NF], bounds: &[f64; NF]) -> [f64; NF] {
    let mut out = f;
    for (v, b) in out.iter_mut().zip(bounds) {
        *v = v.clamp(-b, *b);
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
struct Lags {
    day: usize,
    week: usize,
    weekly: bool,
}

/// Features at origin index `t` (the last observed point) for horizon `h`, where `g(i)` is
/// the value at index `i` mapped into the regression's space and `g(t)` the newest. `None`
/// when a needed value is missing (NaN or `None`).
///
/// `sums` gives the means and hourly sums several features read ([`Sums`]): by prefix sums
/// ([`PrefixSums`]) when a fit or a validation takes many rows from one series. The daily
/// lags look `kd` days back ([`days_back`]).
fn features_with(
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
const HOURS: usize = 24;

/// Steps in an hour (at least one).
fn hour_steps(day: usize) -> usize {
    (day / 24).max(1)
}

/// Sums over a series that features of many rows or horizons share.
pub(crate) trait Sums {
    /// The mean of the `k` values ending at index `t`, over those present ([`present_mean`]).
    fn mean_back(&self, t: usize, k: usize) -> Option<f64>;
    /// The mean of the values at `x - k * hour` for the [`HOURS`] hours `k` from `first` on,
    /// over those present (`None` also if the oldest is before the series).
    fn hourly_mean(&self, x: usize, first: usize) -> Option<f64>;
}

/// The windows (in steps) of the recent means the features compare the newest value with:
/// 3 hours, 12 hours, a day and a week.
fn recent_windows(day: usize) -> [usize; 4] {
    [(day / 8).max(2), (day / 2).max(2), day, 7 * day]
}

/// The mean of `present` values summing to `sum` out of a window of `k`: `None` when fewer
/// than half are present. A missed scrape is a NaN in a server's lag buffer; requiring every
/// value would switch the regression off for the week the gap stays in the weekly window.
fn present_mean(sum: f64, present: usize, k: usize) -> Option<f64> {
    (present > 0 && 2 * present >= k).then(|| sum / present as f64)
}

/// The mean of `g(t + 1 - k..=t)` by summing (for a single forecast).
fn mean_back_by_sum(g: impl Fn(usize) -> Option<f64>, t: usize, k: usize) -> Option<f64> {
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
    t: usize,
    windows: [usize; 4],
    means: [Option<f64>; 4],
}

/// [`Sums`] for one forecast: the [`Recent`] means, and hourly sums by summing `g`.
struct Single<'a, G> {
    g: G,
    recent: &'a Recent,
    hour: usize,
}

impl<G: Fn(usize) -> Option<f64>> Sums for Single<'_, G> {
    fn mean_back(&self, t: usize, k: usize) -> Option<f64> {
        if t != self.recent.t {
            return None;
        }
        let i = self.recent.windows.iter().position(|w| *w == k)?;
        self.recent.means[i]
    }
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
    fn mean_back(&self, t: usize, k: usize) -> Option<f64> {
        let from = (t + 1).checked_sub(k)?;
        if t + 1 >= self.sum.len() {
            return None;
        }
        let missing = (self.missing[t + 1] - self.missing[from]) as usize;
        present_mean(self.sum[t + 1] - self.sum[from], k - missing, k)
    }

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

/// The farthest the daily lags look back for a day of the target's kind: 9 days, so the day
/// after a week-long holiday (China's National Day, 1-7 October) looks back to the working
/// day before it (8 days back); with none in reach they look at yesterday.
pub(crate) const MAX_DAY_BACK: usize = 9;

/// The days back (1..=[`MAX_DAY_BACK`]) to the nearest earlier day of the kind `working`,
/// where `working_back(k)` is the kind `k` days back (`None` before the series); 1 where
/// none is in reach. The one rule behind [`days_back`] and a served forecast's lags.
pub(crate) fn same_kind_back(working: bool, working_back: impl Fn(usize) -> Option<bool>) -> usize {
    (1..=MAX_DAY_BACK)
        .find(|k| working_back(*k) == Some(working))
        .unwrap_or(1)
}

/// For each index, the days back (1..=[`MAX_DAY_BACK`]) to the nearest earlier index at the
/// same time of day on a day of the same kind (`working` or not); 1 where none is in reach.
pub(crate) fn days_back(working: &[bool], day: usize) -> Vec<u8> {
    (0..working.len())
        .map(|j| same_kind_back(working[j], |k| j.checked_sub(k * day).map(|i| working[i])) as u8)
        .collect()
}

/// Where a forecast time falls: its slot in the day (`0..day`, local time; read only when
/// the coefficients vary with it) and how many days back the last day of its kind is
/// (working or rest; the daily lags look there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) slot: usize,
    pub(crate) day_back: usize,
}

#[cfg(test)]
impl Target {
    /// At `slot`, with the daily lags one day back.
    pub(crate) fn at_slot(slot: usize) -> Self {
        Self { slot, day_back: 1 }
    }
}

/// What to fit: the calendar's periods in steps, the horizons, the space and whether the
/// coefficients vary with the time of day.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LagSpec<'a> {
    day: usize,
    week: usize,
    weekly: bool,
    max_h: usize,
    space: Space,
    harmonics: usize,
    /// The slot in the day (`0..day`, local time) of each index of the fitted series.
    slots: &'a [usize],
    /// Days back from each index of the fitted series to the last day of its kind (empty:
    /// 1 everywhere).
    day_back: &'a [u8],
}

impl<'a> LagSpec<'a> {
    /// Horizons `1..=max_h` with `day` and `week` steps per period; linear space, constant
    /// coefficients.
    pub(crate) fn new(day: usize, week: usize, max_h: usize) -> Self {
        Self {
            day,
            week,
            weekly: true,
            max_h,
            space: Space::Linear,
            harmonics: 0,
            slots: &[],
            day_back: &[],
        }
    }

    /// Without the weekly lags and the weekly mean (their features are 0): for histories too
    /// short to hold two weeks of lags before the rows to fit.
    pub(crate) fn daily_only(mut self) -> Self {
        self.weekly = false;
        self
    }

    /// Daily lags that look `day_back[i]` days back from index `i` of the series to fit (to
    /// the last day of the same kind, working or rest) instead of one.
    pub(crate) fn day_back(mut self, day_back: &'a [u8]) -> Self {
        self.day_back = day_back;
        self
    }

    /// Fit in `space` (`None` from the fit in a non-linear space if a value is negative).
    pub(crate) fn space(mut self, space: Space) -> Self {
        self.space = space;
        self
    }

    /// Coefficients that vary with the time of day of the target through `harmonics`
    /// Fourier harmonics (0: constant); `slots[i]` is the slot in the day (`0..day`, local
    /// time) of index `i` of the series to fit. Rows whose target has no slot are left out.
    pub(crate) fn varying(mut self, harmonics: usize, slots: &'a [usize]) -> Self {
        self.harmonics = harmonics;
        self.slots = slots;
        self
    }

    /// Fit on origins `t` in `from..to` (indices into `y`) whose target `y[t + h]` lies
    /// before `to`. `None` with too few complete rows.
    pub(crate) fn fit(&self, y: &[f64], from: usize, to: usize) -> Option<LagRegression> {
        let LagSpec {
            day,
            week,
            weekly,
            max_h,
            space,
            harmonics,
            slots,
            day_back,
        } = *self;
        if space != Space::Linear && y[..to].iter().any(|v| *v < 0.0) {
            return None;
        }
        // The series mapped into the space once (NaN stays NaN).
        let z: Vec<f64> = y[..to].iter().map(|v| space.forward(*v)).collect();
        let sums = PrefixSums::new(&z, day);
        // Features and targets are divided by the mean absolute step of the series, so the
        // penalty is relative to how much it moves: the same shrinkage for smooth electricity
        // demand (steps of ~1 % of the level) as for noisy counts (~30 %).
        let steps = z
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .filter(|d| !d.is_nan());
        let count = steps.clone().count().max(1);
        let scale = steps.sum::<f64>() / count as f64;
        if scale <= 0.0 {
            return None;
        }
        // Subsample origins so a fit stays cheap on long 5-minute histories.
        let stride = ((to.saturating_sub(from)) / 4000).max(1);
        let layout = columns(harmonics);
        let cols = layout.len();
        let mut coefs = Vec::with_capacity(max_h);
        let mut bounds = Vec::with_capacity(max_h);
        let bases: Vec<Vec<f64>> = (0..if harmonics > 0 { day } else { 1 })
            .map(|slot| basis(harmonics, slot, day))
            .collect();
        for h in 1..=max_h {
            // The normal equations X'X b = X'y. A design row is the features times the basis
            // of the target's slot, so X'X is the sum over slots of (basis basis') (x) (sum of
            // f f' over that slot's rows): accumulate the small per-slot sums, then expand.
            let mut ff = vec![[[0.0; NF]; NF]; bases.len()];
            let mut fy = vec![[0.0; NF]; bases.len()];
            // The complete rows: (slot, scaled features, scaled target).
            let mut rows = Vec::new();
            let mut t = from;
            while t + h < to {
                let slot = if harmonics > 0 {
                    slots.get(t + h).copied().filter(|k| *k < day)
                } else {
                    Some(0)
                };
                if let (Some(f), Some(target), Some(k)) = (
                    features_with(
                        |i| z.get(i).copied(),
                        &sums,
                        t,
                        h,
                        Lags { day, week, weekly },
                        day_back.get(t + h).map_or(1, |k| usize::from(*k)),
                    ),
                    z.get(t + h).filter(|v| !v.is_nan()),
                    slot,
                ) {
                    rows.push((k, f.map(|v| v / scale), (target - z[t]) / scale));
                }
                t += stride;
            }
            let n = rows.len();
            let mut bound = [0.0; NF];
            for (_, f, _) in &rows {
                for (b, v) in bound.iter_mut().zip(f) {
                    *b += v.abs();
                }
            }
            let bound = bound.map(|b| FEATURE_CLIP * b / n.max(1) as f64);
            for (k, f, target) in rows {
                let f = clip(f, &bound);
                for ((sums, fyi), fi) in ff[k].iter_mut().zip(&mut fy[k]).zip(&f) {
                    *fyi += fi * target;
                    for (c, fj) in sums.iter_mut().zip(&f) {
                        *c += fi * fj;
                    }
                }
            }
            bounds.push(bound);
            if n < MIN_ROWS_PER_COLUMN * NF.max(cols / 2) {
                return None;
            }
            let mut gram = vec![0.0; cols * cols];
            let mut xty = vec![0.0; cols];
            // Block by block in the order of [`columns`], on and above the diagonal (mirrored
            // below afterwards), each block a contiguous run of the per-slot sums.
            let first_constant = cols - (NF - NV);
            for ((b, ffk), fyk) in bases.iter().zip(&ff).zip(&fy) {
                for (a, ba) in b.iter().enumerate() {
                    for (x, f) in xty[a * NV..(a + 1) * NV].iter_mut().zip(fyk) {
                        *x += ba * f;
                    }
                    // Varying x varying.
                    for (c, bc) in b.iter().enumerate().skip(a) {
                        let bb = ba * bc;
                        for (i, ffi) in ffk.iter().enumerate().take(NV) {
                            let row = (a * NV + i) * cols + c * NV;
                            for (g, v) in gram[row..row + NV].iter_mut().zip(ffi) {
                                *g += bb * v;
                            }
                        }
                    }
                    // Varying x constant.
                    for (i, ffi) in ffk.iter().enumerate().take(NV) {
                        let row = (a * NV + i) * cols + first_constant;
                        for (g, v) in gram[row..row + NF - NV].iter_mut().zip(&ffi[NV..]) {
                            *g += ba * v;
                        }
                    }
                }
                // Constant x constant.
                for (j, ffj) in ffk.iter().enumerate().skip(NV) {
                    let p = first_constant + j - NV;
                    xty[p] += fyk[j];
                    let row = p * cols + first_constant;
                    for (g, v) in gram[row..row + NF - NV].iter_mut().zip(&ffj[NV..]) {
                        *g += v;
                    }
                }
            }
            for p in 0..cols {
                for q in p + 1..cols {
                    gram[q * cols + p] = gram[p * cols + q];
                }
            }
            // Ridge: (X'X + n * penalty * I) b = X'y, a square system linfa's least squares
            // solves exactly (the same solution as the data augmented with sqrt(n * penalty)
            // * I rows, at a fraction of the cost with many columns).
            for (p, (a, _)) in layout.iter().enumerate() {
                let extra = if *a == 0 { 1.0 } else { HARMONIC_PENALTY };
                gram[p * cols + p] += n as f64 * PENALTY * extra;
            }
            let x = Array2::from_shape_vec((cols, cols), gram).ok()?;
            let ds = Dataset::new(x, Array1::from(xty));
            let model = LinearRegression::new()
                .with_intercept(false)
                .fit(&ds)
                .ok()?;
            coefs.push(model.params().to_vec());
        }
        Some(LagRegression {
            day,
            week,
            weekly,
            coefs,
            bounds,
            scale,
            space,
            harmonics,
        })
    }
}

impl LagRegression {
    /// Whether the weekly lags are features ([`LagSpec::daily_only`]).
    pub(crate) fn weekly(&self) -> bool {
        self.weekly
    }

    /// The space it was fitted in.
    pub(crate) fn space(&self) -> Space {
        self.space
    }

    /// Horizons fitted.
    #[cfg(test)]
    pub(crate) fn horizons(&self) -> usize {
        self.coefs.len()
    }

    /// Fourier harmonics of the time of day the coefficients vary with (0: constant).
    pub(crate) fn harmonics(&self) -> usize {
        self.harmonics
    }

    /// The forecast `h` steps after index `t` of `y`; `target` says where the forecast time
    /// falls ([`Target`]). (Serving forecasts
    /// share the recent means over their horizons: [`LagRegression::predict_recent`].)
    #[cfg(test)]
    pub(crate) fn predict<V: Copy + Into<f64>>(
        &self,
        y: &[V],
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        self.predict_recent(y, t, h, target, &self.recent(y, t))
    }

    /// The recent means of `y` at index `t` that every horizon's features read: computed
    /// once per forecast instead of once per horizon (the week's mean sums 2,016 values at
    /// 5 minutes).
    pub(crate) fn recent<V: Copy + Into<f64>>(&self, y: &[V], t: usize) -> Recent {
        let space = self.space;
        let g = |i: usize| y.get(i).map(|v| space.forward((*v).into()));
        let windows = recent_windows(self.day);
        Recent {
            t,
            windows,
            means: windows.map(|k| mean_back_by_sum(g, t, k)),
        }
    }

    /// The forecast `h` steps after index `t` of `y` (`target`: where the forecast time
    /// falls, [`Target`]), with the [`Recent`] means of `y` at `t`.
    pub(crate) fn predict_recent<V: Copy + Into<f64>>(
        &self,
        y: &[V],
        t: usize,
        h: usize,
        target: Target,
        recent: &Recent,
    ) -> Option<f64> {
        let space = self.space;
        let g = |i: usize| y.get(i).map(|v| space.forward((*v).into()));
        let sums = Single {
            g,
            recent,
            hour: hour_steps(self.day),
        };
        self.predict_with(g, &sums, t, h, target)
    }

    /// The forecast `h` steps after index `t` from `z`, the series already mapped into the model's
    /// [`Space`] (for many forecasts from one history: each value is mapped once), with
    /// `sums` the [`PrefixSums`] of `z`.
    pub(crate) fn predict_mapped(
        &self,
        z: &[f64],
        sums: &PrefixSums,
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        self.predict_with(|i| z.get(i).copied(), sums, t, h, target)
    }

    fn predict_with(
        &self,
        g: impl Fn(usize) -> Option<f64>,
        sums: &impl Sums,
        t: usize,
        h: usize,
        target: Target,
    ) -> Option<f64> {
        let c = self.coefs.get(h.checked_sub(1)?)?;
        let lags = Lags {
            day: self.day,
            week: self.week,
            weekly: self.weekly,
        };
        let f = clip(
            features_with(&g, sums, t, h, lags, target.day_back)?.map(|v| v / self.scale),
            self.bounds.get(h - 1)?,
        );
        let change = design_dot(&f, c, self.harmonics, target.slot % self.day, self.day);
        Some(self.space.back(g(t)? + change * self.scale))
    }

    /// Coefficients of horizon `h` (for tests).
    #[cfg(test)]
    pub(crate) fn coefficients(&self, h: usize) -> &[f64] {
        &self.coefs[h - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_weekly_pattern_is_learned_exactly() {
        let (day, week) = (24, 168);
        let y: Vec<f64> = (0..8 * week)
            .map(|i| 100.0 + ((i % week) as f64).sin() * 10.0 + (i % day) as f64)
            .collect();
        let m = LagSpec::new(day, week, 3).fit(&y, 0, y.len()).unwrap();
        let t = y.len() - 4;
        for h in 1..=3 {
            let p = m.predict(&y, t, h, Target::at_slot(0)).unwrap();
            // Within the ridge penalty's shrinkage (0.4 % of the level).
            assert!((p - y[t + h]).abs() < 0.5, "h={h}: {p} vs {}", y[t + h]);
        }
        assert_eq!(m.horizons(), 3);
    }

    #[test]
    fn log_space_follows_a_multiplicative_pattern_as_the_level_grows() {
        // The daily swing is a fixed ratio of a level that doubles over the history: in log
        // space that is additive and stable, in linear space the swing keeps growing.
        let (day, week) = (24, 168);
        let n = 8 * week;
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let level = 10_000.0 * 2f64.powf(i as f64 / n as f64);
                level * (1.0 + 0.5 * ((i % day) as f64 / day as f64 * std::f64::consts::TAU).sin())
            })
            .collect();
        let log = LagSpec::new(day, week, 6)
            .space(Space::Log)
            .fit(&y, 0, y.len())
            .unwrap();
        let t = y.len() - 7;
        for h in 1..=6 {
            let p = log.predict(&y, t, h, Target::at_slot(0)).unwrap();
            assert!(
                (p / y[t + h] - 1.0).abs() < 0.01,
                "h={h}: {p} vs {}",
                y[t + h]
            );
        }
        assert!(
            LagSpec::new(day, week, 1)
                .space(Space::Log)
                .fit(&[-1.0; 2000], 0, 2000)
                .is_none()
        );
    }

    #[test]
    fn coefficients_varying_with_the_time_of_day_follow_an_hour_dependent_response() {
        // The step to the next value repeats the latest step with a factor that depends on
        // the hour (0.8 at midnight, -0.8 at noon): a constant coefficient averages that out,
        // a varying one recovers it. (Indices start at slot 5 of the day.)
        let (day, week) = (24, 168);
        let n = 10 * week;
        let phi = |slot: usize| 0.8 * (slot as f64 / day as f64 * std::f64::consts::TAU).cos();
        let mut noise = 12345u64;
        let mut y = vec![0.0, 1.0];
        for i in 2..n {
            noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly small noise, now and then a shock whose echo the model must predict.
            let u = (noise >> 33) as f64 / (1u64 << 31) as f64 - 0.5;
            let e = if (noise >> 20).is_multiple_of(3) {
                20.0 * u
            } else {
                0.2 * u
            };
            let step = phi((5 + i) % day) * (y[i - 1] - y[i - 2]) + e;
            y.push(y[i - 1] + step);
        }
        let train = 9 * week;
        let constant = LagSpec::new(day, week, 1).fit(&y, 0, train).unwrap();
        let slots: Vec<usize> = (0..n).map(|i| (5 + i) % day).collect();
        let varying = LagSpec::new(day, week, 1)
            .varying(4, &slots)
            .fit(&y, 0, train)
            .unwrap();
        assert_eq!((constant.harmonics(), varying.harmonics()), (0, 4));
        let (mut err_c, mut err_v) = (0.0, 0.0);
        for t in train..n - 1 {
            // Against the expected next value (the shocks are unpredictable).
            let target = slots[t + 1];
            let expected = y[t] + phi(target) * (y[t] - y[t - 1]);
            err_c +=
                (constant.predict(&y, t, 1, Target::at_slot(target)).unwrap() - expected).abs();
            err_v += (varying.predict(&y, t, 1, Target::at_slot(target)).unwrap() - expected).abs();
        }
        // Measured: the varying fit's error is 0.45 of the constant one's (ridge shrinks the
        // hour-dependent part a little); a misaligned slot makes it worse than constant.
        assert!(
            err_v < 0.65 * err_c,
            "varying {err_v:.1} vs constant {err_c:.1}"
        );
    }

    #[test]
    fn prefix_sums_equal_plain_sums_and_skip_missing_windows() {
        let day = 48; // an hour is 2 steps
        let z: Vec<f64> = (0..200)
            .map(|i| (i as f64 * 0.7).sin() * 100.0 + 1e4)
            .collect();
        let sums = PrefixSums::new(&z, day);
        let g = |i: usize| z.get(i).copied();
        let recent = Recent {
            t: 0,
            windows: [1, 2, 6, 7],
            means: [None; 4],
        };
        let single = Single {
            g,
            recent: &recent,
            hour: 2,
        };
        for t in [5, 17, 49, 199] {
            for k in [1, 2, 6] {
                let (fast, slow) = (
                    sums.mean_back(t, k).unwrap(),
                    mean_back_by_sum(g, t, k).unwrap(),
                );
                assert!((fast - slow).abs() < 1e-9, "t={t} k={k}: {fast} vs {slow}");
            }
        }
        for (x, first) in [(48, 1), (60, 1), (199, 2), (199, 1)] {
            let (fast, slow) = (sums.hourly_mean(x, first), single.hourly_mean(x, first));
            assert!(
                (fast.unwrap() - slow.unwrap()).abs() < 1e-9,
                "x={x}: {fast:?} vs {slow:?}"
            );
        }
        assert_eq!(
            sums.mean_back(3, 5),
            None,
            "the window starts before the series"
        );
        assert_eq!(sums.mean_back(200, 1), None, "past the end");
        assert_eq!(
            sums.hourly_mean(47, 1),
            None,
            "24 hours back is before the series"
        );
        assert_eq!(single.hourly_mean(47, 1), None);

        // A missing value is left out of the means (a missed scrape must not switch the
        // regression off for a week); with fewer than half present there is no mean.
        let mut gap = z.clone();
        gap[10] = f64::NAN;
        let sums = PrefixSums::new(&gap, day);
        let g = |i: usize| gap.get(i).copied();
        let single = Single {
            g,
            recent: &recent,
            hour: 2,
        };
        let mean = |a: &[f64]| a.iter().sum::<f64>() / a.len() as f64;
        for got in [sums.mean_back(12, 3), mean_back_by_sum(g, 12, 3)] {
            assert!((got.unwrap() - mean(&gap[11..=12])).abs() < 1e-9, "{got:?}");
        }
        let others: Vec<f64> = (1..=24)
            .map(|k| gap[50 - 2 * k])
            .filter(|v| !v.is_nan())
            .collect();
        assert_eq!(others.len(), 23, "index 10 is 20 hours before 50");
        for got in [sums.hourly_mean(50, 1), single.hourly_mean(50, 1)] {
            assert!((got.unwrap() - mean(&others)).abs() < 1e-9, "{got:?}");
        }
        gap[11] = f64::NAN;
        let sums = PrefixSums::new(&gap, day);
        assert_eq!(sums.mean_back(12, 3), None, "one of three present");
        assert_eq!(
            mean_back_by_sum(|i: usize| gap.get(i).copied(), 12, 3),
            None
        );
    }

    /// With daily steps the features need only the two weeks a server's lag buffer keeps and
    /// no value after the origin (the hourly change, 24 steps back at one step an hour, and
    /// yesterday's slope, which needs the day after it, are 0 there).
    #[test]
    fn daily_steps_need_only_the_two_week_lookback() {
        let (day, week) = (1, 7);
        let y: Vec<f64> = (0..lookback(week))
            .map(|i| 100.0 + (i % 7) as f64)
            .collect();
        let sums = PrefixSums::new(&y, day);
        let t = y.len() - 1;
        let f = features_with(
            |i| y.get(i).copied(),
            &sums,
            t,
            1,
            Lags {
                day,
                week,
                weekly: true,
            },
            1,
        )
        .expect("two weeks and a step suffice");
        assert_eq!(f[NF - 1], 0.0, "no minutes of the hour at daily steps");
        assert_eq!(f[6], 0.0, "no slope of yesterday's curve");
    }

    /// Without the weekly lags the features need two days (a day back and the hourly
    /// change's 24 hours), the weekly ones are 0, and a fit on nine days learns the daily
    /// pattern: an exact daily pattern is forecast exactly.
    #[test]
    fn daily_only_needs_two_days_and_learns_a_daily_pattern() {
        let (day, week) = (48, 336);
        let y: Vec<f64> = (0..9 * day)
            .map(|i| 100.0 + ((i % day) as f64 / 6.0).sin() * 20.0)
            .collect();
        let sums = PrefixSums::new(&y, day);
        let g = |i: usize| y.get(i).copied();
        assert!(
            features_with(
                g,
                &sums,
                2 * day - 1,
                1,
                Lags {
                    day,
                    week,
                    weekly: false
                },
                1
            )
            .is_none()
        );
        let f = features_with(
            g,
            &sums,
            2 * day,
            1,
            Lags {
                day,
                week,
                weekly: false,
            },
            1,
        )
        .expect("two days suffice");
        // w1, w2, lw, sw and the week's mean.
        for k in [0, 1, 3, 5, 12] {
            assert_eq!(f[k], 0.0, "weekly feature {k}");
        }
        assert!(
            features_with(
                g,
                &sums,
                2 * day,
                1,
                Lags {
                    day,
                    week,
                    weekly: true
                },
                1
            )
            .is_none()
        );
        assert!(LagSpec::new(day, week, 3).fit(&y, 0, y.len()).is_none());
        let m = LagSpec::new(day, week, 3)
            .daily_only()
            .fit(&y, 0, y.len())
            .expect("nine days fit without weekly lags");
        assert!(!m.weekly());
        let t = y.len() - 1;
        for h in 1..=3 {
            let want = 100.0 + (((t + h) % day) as f64 / 6.0).sin() * 20.0;
            let got = m.predict(&y, t, h, Target::at_slot(0)).unwrap();
            assert!((got - want).abs() < 0.5, "h {h}: {got} vs {want}");
        }
    }

    /// Days back to the last day of the same kind: Monday looks at Friday, Sunday at
    /// Saturday, Saturday at the Sunday before; a holiday at the last weekend day, and the
    /// day after a seven-day holiday (Thursday to Wednesday, as China's National Day often
    /// is) at the working day before it; with none in reach (or before the series),
    /// yesterday.
    #[test]
    fn daily_lags_look_back_to_the_last_day_of_the_same_kind() {
        // Day 0 is a Monday; days 17-23 a holiday (Thursday to Wednesday).
        let day = 2;
        let working: Vec<bool> = (0..30 * day)
            .map(|i| {
                let d = i / day;
                d % 7 < 5 && !(17..=23).contains(&d)
            })
            .collect();
        let back = days_back(&working, day);
        let at = |d: usize| back[d * day + 1];
        assert_eq!(at(7), 3, "Monday -> Friday");
        assert_eq!(at(8), 1, "Tuesday -> Monday");
        assert_eq!(at(13), 1, "Sunday -> Saturday");
        assert_eq!(at(12), 6, "Saturday -> the Sunday before");
        assert_eq!(at(17), 4, "the holiday's Thursday -> Sunday");
        assert_eq!(
            at(24),
            8,
            "the Thursday after -> the Wednesday before the holiday"
        );
        assert_eq!(at(0), 1, "nothing before the series");
        assert_eq!(at(4), 1, "Friday -> Thursday");
        // Ten days without a working day: none in reach.
        let long: Vec<bool> = (0..30 * day)
            .map(|i| !(3..=12).contains(&(i / day)))
            .collect();
        assert_eq!(days_back(&long, day)[13 * day], 1);
    }

    /// Working days peak in the morning, rest days at noon. Looking back to the last day of
    /// the same kind, the regression forecasts Monday's and Saturday's hours from Friday's
    /// and Sunday's; looking one day back it has to guess from the other kind.
    #[test]
    fn daily_lags_by_kind_of_day_follow_the_weekly_switch() {
        let (day, week) = (24, 168);
        let n = 6 * week;
        let shape = |i: usize| {
            let (d, hour) = (i / day, i % day);
            let working = d % 7 < 5;
            let bump = |c: usize| 60.0 * (-(((hour as f64) - c as f64).powi(2)) / 2.0).exp();
            let noise = ((i * 7919) % 13) as f64 - 6.0;
            100.0 + if working { bump(8) } else { bump(13) } + noise
        };
        let y: Vec<f64> = (0..n).map(shape).collect();
        let working: Vec<bool> = (0..n).map(|i| (i / day) % 7 < 5).collect();
        let back = days_back(&working, day);
        let train = 5 * week;
        let by_kind = LagSpec::new(day, week, 3)
            .daily_only()
            .day_back(&back)
            .fit(&y, 0, train)
            .unwrap();
        let yesterday = LagSpec::new(day, week, 3)
            .daily_only()
            .fit(&y, 0, train)
            .unwrap();
        let (mut err_kind, mut err_yesterday) = (0.0, 0.0);
        // Every hour of the last week, three hours ahead.
        for t in train..n - 3 {
            let target = Target {
                slot: 0,
                day_back: usize::from(back[t + 3]),
            };
            err_kind += (by_kind.predict(&y, t, 3, target).unwrap() - y[t + 3]).abs();
            err_yesterday +=
                (yesterday.predict(&y, t, 3, Target::at_slot(0)).unwrap() - y[t + 3]).abs();
        }
        assert!(
            err_kind < 0.8 * err_yesterday,
            "by kind {err_kind:.0}, one day back {err_yesterday:.0}"
        );
    }

    /// The normal equations built block by block from per-slot sums equal the ones built
    /// from explicit design rows ([`columns`]), and a forecast's [`design_dot`] equals the
    /// explicit row times the coefficients.
    #[test]
    fn blockwise_normal_equations_equal_explicit_design_rows() {
        let (day, week, harmonics) = (24, 168, 2);
        let n = 6 * week;
        let y: Vec<f64> = (0..n)
            .map(|i| 50.0 + 10.0 * ((i % day) as f64 / 3.0).sin() + ((i * 7919) % 13) as f64)
            .collect();
        let slots: Vec<usize> = (0..n).map(|i| (3 + i) % day).collect();
        let m = LagSpec::new(day, week, 2)
            .varying(harmonics, &slots)
            .fit(&y, 0, n)
            .unwrap();
        let sums = PrefixSums::new(&y, day);
        let layout = columns(harmonics);
        let cols = layout.len();
        for h in 1..=2 {
            let (mut gram, mut xty, mut rows) = (vec![0.0; cols * cols], vec![0.0; cols], 0);
            for t in 0..n - h {
                let g = |i: usize| y.get(i).copied();
                let Some(f) = features_with(
                    g,
                    &sums,
                    t,
                    h,
                    Lags {
                        day,
                        week,
                        weekly: true,
                    },
                    1,
                ) else {
                    continue;
                };
                let f = clip(f.map(|v| v / m.scale), &m.bounds[h - 1]);
                let b = basis(harmonics, slots[t + h], day);
                let row: Vec<f64> = layout.iter().map(|(a, i)| b[*a] * f[*i]).collect();
                let target = (y[t + h] - y[t]) / m.scale;
                for p in 0..cols {
                    xty[p] += row[p] * target;
                    for q in 0..cols {
                        gram[p * cols + q] += row[p] * row[q];
                    }
                }
                let dot: f64 = row.iter().zip(m.coefficients(h)).map(|(x, c)| x * c).sum();
                let fast = design_dot(&f, m.coefficients(h), harmonics, slots[t + h], day);
                assert!((dot - fast).abs() < 1e-9, "t={t} h={h}: {dot} vs {fast}");
                rows += 1;
            }
            for (p, (a, _)) in layout.iter().enumerate() {
                let extra = if *a == 0 { 1.0 } else { HARMONIC_PENALTY };
                gram[p * cols + p] += rows as f64 * PENALTY * extra;
            }
            let ds = Dataset::new(
                Array2::from_shape_vec((cols, cols), gram).unwrap(),
                Array1::from(xty),
            );
            let direct = LinearRegression::new()
                .with_intercept(false)
                .fit(&ds)
                .unwrap();
            for (k, (want, got)) in direct.params().iter().zip(m.coefficients(h)).enumerate() {
                assert!((want - got).abs() < 1e-6, "h={h} coef {k}: {want} vs {got}");
            }
        }
    }

    #[test]
    fn a_one_off_burst_a_week_back_does_not_echo_in_full() {
        // A clean daily and weekly pattern; then the value a week before the target jumps to
        // a thousand times the level (a burst, a scrape glitch).
        let (day, week) = (24, 168);
        let y: Vec<f64> = (0..8 * week)
            .map(|i| 100.0 + ((i % week) as f64).sin() * 10.0 + (i % day) as f64)
            .collect();
        let m = LagSpec::new(day, week, 1).fit(&y, 0, y.len()).unwrap();
        let t = y.len() - 2;
        let clean = m.predict(&y, t, 1, Target::at_slot(0)).unwrap();
        let mut burst = y.clone();
        burst[t + 1 - week] = 100_000.0;
        let echoed = m.predict(&burst, t, 1, Target::at_slot(0)).unwrap();
        // Features are clipped to 10 times their mean absolute value in training: whatever
        // the coefficient, the forecast moves by at most a few dozen, not by tens of thousands.
        assert!(
            (echoed - clean).abs() < 100.0,
            "clean {clean:.1}, with the burst a week back {echoed:.1}"
        );
    }

    /// Golden test: the linfa fit equals scikit-learn's Ridge on the same features
    /// (fixture and how it was produced: tests/data/golden/lagreg_taylor.json,
    /// scripts/golden_lagreg.py).
    #[test]
    fn ridge_coefficients_match_scikit_learn_on_the_taylor_series() {
        let y = crate::testdata::taylor(1500);
        let golden = crate::testdata::golden("lagreg_taylor.json");
        // The fixture is small JSON; pull the coefficient arrays out without a JSON crate.
        let body = &golden[golden.find("\"coefficients\"").unwrap()..];
        let numbers: Vec<f64> = body
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 2 * NF);
        let m = LagSpec::new(48, 336, 2).fit(&y, 0, y.len()).unwrap();
        for h in 1..=2 {
            for (k, got) in m.coefficients(h).iter().enumerate() {
                let want = numbers[(h - 1) * NF + k];
                assert!(
                    (got - want).abs() < 1e-3,
                    "h={h} coef {k}: linfa {got} vs sklearn {want}"
                );
            }
        }
    }
}
