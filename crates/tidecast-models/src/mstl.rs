//! A seasonal-trend decomposition forecast: MSTL (Bandara, Hyndman & Bergmeir; STL by
//! Cleveland et al.) splits the training window into daily and weekly seasonal components, a
//! trend and a remainder; the forecast anchors on the newest observation and adds the change
//! of the seasonal part, repeated from its last cycle:
//! `y(t + h) = y(t) + S(t + h) - S(t)`.
//!
//! That is a random walk on the seasonally adjusted series, which is what statsforecast's
//! AutoETS picks on smooth double-seasonal load (smoothing weight ~1). On noisy series the
//! anchor is instead an exponentially smoothed level of the seasonally adjusted series,
//! `y(t + h) = L(t) + S(t + h)` (simple exponential smoothing, as statsforecast's MSTL puts an
//! ETS model on that part), its smoothing weight chosen per series by the `auto` model's inner
//! backtest ([`Seasonal::with_alpha`]). What the decomposition adds over the
//! median profile of the tidal model is STL's seasonal estimate: a weighted mean over the
//! neighbouring days of each slot, which follows slow drifts of the daily shape (sunset moving
//! the evening peak) that a multi-week median cannot. The decomposition itself is `stlrs`'s
//! port of the reference STL, with statsforecast's settings (seasonal degree 0, seasonal
//! windows 11 and 15 cycles, two MSTL iterations, five inner loops) except that the loess
//! smoothers are evaluated at every ~tenth point and interpolated (R's default; the baselines
//! ran with jumps of 10). The golden test ties the exact variant to statsforecast's `mstl`
//! (fixture from `scripts/golden_mstl.py`) and the production variant to the exact one.

use crate::packed::{Packed, Values};
use crate::transform::Space;

/// The seasonal part of a decomposition, as needed to forecast: the last cycle of each
/// component (one day, and one week when the window holds two), each repeated forward.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seasonal {
    /// Per component, its values at fit indices `n - period .. n`; a daily and a weekly
    /// component are kept as their sum over the week.
    last_cycles: Vec<Packed>,
    /// Points in the fitted window.
    n: usize,
    /// The space the series was decomposed in.
    space: Space,
    /// Smoothing weight of the anchor level (1: the newest observation).
    alpha: f64,
}

/// Smoothing weights the `auto` model's inner backtest chooses the anchor's from.
pub(crate) const ALPHAS: [f64; 7] = [1.0, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05];

impl Seasonal {
    /// Decompose `y` (NaN = missing; interior gaps are interpolated linearly for the
    /// decomposition only). `None` when the window is shorter than two days or more than a
    /// tenth of it is missing.
    pub(crate) fn fit(y: &[f64], day: usize, week: usize) -> Option<Self> {
        Self::fit_with(y, day, week, false)
    }

    /// [`Seasonal::fit`] of the series mapped into `space` (`None` in log space if a value is
    /// negative): in log space the seasonal change is a ratio of the level.
    pub(crate) fn fit_in(space: Space, y: &[f64], day: usize, week: usize) -> Option<Self> {
        if space == Space::Linear {
            return Self::fit(y, day, week);
        }
        if y.iter().any(|v| *v < 0.0) {
            return None;
        }
        let mapped: Vec<f64> = y.iter().map(|v| space.forward(*v)).collect();
        let mut s = Self::fit(&mapped, day, week)?;
        s.space = space;
        Some(s)
    }

    /// [`Seasonal::fit`] with every point smoothed (`exact`, statsforecast's setting; ~10x
    /// the work at 5-minute steps) or smoothing every ~tenth of a window and interpolating
    /// between (R's default, and what the baselines ran with).
    pub(crate) fn fit_with(y: &[f64], day: usize, week: usize, exact: bool) -> Option<Self> {
        let n = y.len();
        if day < 2 || n < 2 * day {
            return None;
        }
        let missing = y.iter().filter(|v| !v.is_finite()).count();
        if missing * 10 > n {
            return None;
        }
        let filled = despike(&interpolate(y)?, DESPIKE_K);
        let filled = off_pattern(&filled, day, week, OFF_PATTERN_K);
        let periods: Vec<usize> = if n >= 2 * week && week > day {
            vec![day, week]
        } else {
            vec![day]
        };
        // statsmodels' 5 inner loops (R uses 2); the rest (seasonal degree 0, windows 11 and
        // 15, two MSTL iterations) are stlrs's defaults.
        let mut stl = stlrs::Stl::params();
        stl.inner_loops(5);
        if exact {
            stl.seasonal_jump(1).trend_jump(1).low_pass_jump(1);
        }
        // stlrs refuses only series shorter than two periods or invalid parameters: a window
        // that does not decompose, which `None` already means.
        let fit = stlrs::Mstl::params()
            .stl_params(stl)
            .fit(&filled, &periods)
            .ok()?;
        let seasonal = fit.seasonal();
        let tails = seasonal.iter().zip(&periods).map(|(c, p)| &c[n - p..]);
        if tails.clone().flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let tails: Vec<&[f64]> = tails.collect();
        let last_cycles = match tails[..] {
            // The day's cycle repeats within the week's, aligned at the window's end: their
            // sum over one week is the whole seasonal part (a fifth less to keep per target).
            [d, w] if w.len() % d.len() == 0 => {
                let sum = w.iter().enumerate().map(|(k, v)| v + d[k % d.len()]);
                vec![Packed::from_values(sum, w.len())]
            }
            _ => tails
                .iter()
                .map(|c| Packed::from_values(c.iter().copied(), c.len()))
                .collect(),
        };
        Some(Self {
            last_cycles,
            n,
            space: Space::Linear,
            alpha: 1.0,
        })
    }

    /// The space it was decomposed in.
    pub(crate) fn space(&self) -> Space {
        self.space
    }

    /// The longest period.
    fn cycle(&self) -> usize {
        self.last_cycles.iter().map(Values::len).max().unwrap_or(1)
    }

    /// The seasonal part at fit index `i` (the window is `0..n`): each component's value
    /// in its last cycle, repeated forward (and backward, for indices before it).
    pub(crate) fn at(&self, i: usize) -> f64 {
        self.last_cycles
            .iter()
            .map(|c| {
                let p = c.len();
                // i - (n - p), modulo p, without underflow.
                let k = (i + p * (self.n / p + 1) - self.n) % p;
                c.value(k).unwrap_or(f64::NAN)
            })
            .sum()
    }

    /// The same decomposition anchored on an exponentially smoothed level with weight
    /// `alpha` in (0, 1] (1: the newest observation).
    pub(crate) fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha.clamp(1e-3, 1.0);
        self
    }

    /// The anchor's smoothing weight.
    pub(crate) fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The seasonally adjusted level at fit index `t` (in the decomposition's space), from
    /// `recent`, whose last element is the value at fit index `t`, smoothed with weight
    /// `alpha` over the points whose weight is still above 0.1 % (within the last cycle);
    /// missing values are skipped. `None` when nothing in reach is observed.
    pub(crate) fn level(
        &self,
        recent: &(impl Values + ?Sized),
        t: usize,
        alpha: f64,
    ) -> Option<f64> {
        let lowest = self.n.saturating_sub(self.cycle());
        let reach = if alpha >= 1.0 {
            // The newest observed value, stepping back over missing ones (at most one cycle).
            self.cycle()
        } else {
            ((1e-3f64).ln() / (1.0 - alpha).ln()).ceil() as usize
        };
        let sp = self.space;
        let adjusted = |back: usize| {
            let i = t.checked_sub(back).filter(|i| *i >= lowest)?;
            let v = recent.value(recent.len().checked_sub(back + 1)?)?;
            v.is_finite().then(|| sp.forward(v) - self.at(i))
        };
        if alpha >= 1.0 {
            return (0..reach).find_map(adjusted);
        }
        let mut level: Option<f64> = None;
        for back in (0..reach.min(recent.len())).rev() {
            if let Some(a) = adjusted(back) {
                level = Some(level.map_or(a, |l| l + alpha * (a - l)));
            }
        }
        level
    }

    /// The forecast `h` steps after fit index `t` from a [`Seasonal::level`] there.
    pub(crate) fn forecast_at_level(&self, level: f64, t: usize, h: usize) -> f64 {
        self.space.back(level + self.at(t + h))
    }

    /// Forecast `h` steps after fit index `t`, from `recent`, whose last element is the
    /// value at fit index `t` (see [`Seasonal::level`]).
    pub(crate) fn predict(
        &self,
        recent: &(impl Values + ?Sized),
        t: usize,
        h: usize,
    ) -> Option<f64> {
        let level = self.level(recent, t, self.alpha)?;
        Some(self.forecast_at_level(level, t, h))
    }
}

/// How far (in robust standard deviations of the series' steps) a point may stand outside
/// its neighbours before the decomposition treats it as a glitch ([`despike`]).
const DESPIKE_K: f64 = 10.0;

/// Replace glitches (one or two points that leave the series and come back) by the median of
/// the four points around them. A point is a glitch when it lies more than `k` robust
/// standard deviations of the series' steps (1.4826 times the median absolute step) outside
/// the range of the middle two of its four neighbours. A step edge or a ramp corner lies
/// inside that range and is kept; so are peaks wider than two points. STL is a least-squares
/// smoother: without this, one scrape glitch puts a fraction of itself into every seasonal
/// cycle it touches, and scales the forecast for that time of day.
fn despike(y: &[f64], k: f64) -> Vec<f64> {
    let n = y.len();
    if n < 5 {
        return y.to_vec();
    }
    let mut steps: Vec<f64> = y.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let mid = steps.len() / 2;
    let sigma = 1.4826 * *steps.select_nth_unstable_by(mid, f64::total_cmp).1;
    if sigma <= 0.0 {
        return y.to_vec();
    }
    let mut out = y.to_vec();
    for i in 2..n - 2 {
        let mut w = [y[i - 2], y[i - 1], y[i + 1], y[i + 2]];
        w.sort_by(f64::total_cmp);
        let (lo, hi) = (w[1], w[2]);
        if y[i] > hi + k * sigma || y[i] < lo - k * sigma {
            out[i] = 0.5 * (lo + hi);
        }
    }
    out
}

/// How far (in robust standard deviations of the series' day-to-day changes) a value may
/// stand outside the values at the same time on the days and week around it before the
/// decomposition replaces it ([`off_pattern`]).
const OFF_PATTERN_K: f64 = 8.0;

/// Replace values that leave the seasonal pattern for hours (an outage's zeros, a one-off
/// burst or dip) by the median of the values at the same time one and two days and one week
/// before and after (those in the window, at least two). A value is replaced when it lies
/// more than `k` robust standard deviations of the day-to-day changes (1.4826 times their
/// median absolute value) outside the range of those values: a weekend next to weekdays
/// stays (the other weekend day, or the same day a week away, is in its range), and so does
/// a pattern that changes for good (the days after it are in range of one another). STL's
/// seasonal components average each time of day over a few cycles: without this, an outage's
/// hours of zeros skew the decomposition's forecasts of that time of day for days.
fn off_pattern(y: &[f64], day: usize, week: usize, k: f64) -> Vec<f64> {
    let n = y.len();
    if n < 3 * day {
        return y.to_vec();
    }
    let mut changes: Vec<f64> = (day..n).map(|i| (y[i] - y[i - day]).abs()).collect();
    let mid = changes.len() / 2;
    let sigma = 1.4826 * *changes.select_nth_unstable_by(mid, f64::total_cmp).1;
    if sigma <= 0.0 {
        return y.to_vec();
    }
    let mut out = y.to_vec();
    let offsets = [day, 2 * day, week];
    for i in 0..n {
        let mut around = [0.0; 6];
        let mut m = 0;
        for d in offsets {
            for j in [i.checked_sub(d), Some(i + d).filter(|j| *j < n)]
                .into_iter()
                .flatten()
            {
                around[m] = y[j];
                m += 1;
            }
        }
        if m < 2 {
            continue;
        }
        let around = &mut around[..m];
        around.sort_by(f64::total_cmp);
        let (lo, hi) = (around[0], around[m - 1]);
        if y[i] > hi + k * sigma || y[i] < lo - k * sigma {
            out[i] = if m % 2 == 1 {
                around[m / 2]
            } else {
                0.5 * (around[m / 2 - 1] + around[m / 2])
            };
        }
    }
    out
}

/// Fill missing values by linear interpolation (edges take the nearest observed value), in
/// the decomposition. `None` when nothing is observed.
fn interpolate(y: &[f64]) -> Option<Vec<f64>> {
    let observed: Vec<usize> = (0..y.len()).filter(|i| y[*i].is_finite()).collect();
    let (&first, &last) = (observed.first()?, observed.last()?);
    let mut out = Vec::with_capacity(y.len());
    let (mut prev, mut next) = (first, first);
    for (i, v) in y.iter().enumerate() {
        if v.is_finite() {
            prev = i;
            out.push(*v);
        } else if i < first {
            out.push(y[first]);
        } else if i > last {
            out.push(y[last]);
        } else {
            if next < i {
                next = (i..=last).find(|j| y[*j].is_finite()).unwrap_or(last);
            }
            let w = (i - prev) as f64 / (next - prev) as f64;
            out.push(y[prev] + w * (y[next] - y[prev]));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidecast_testing::assert_all_close;

    #[test]
    fn a_pure_double_seasonal_pattern_is_forecast_exactly() {
        let (day, week) = (24, 168);
        let shape = |i: usize| {
            let d = (i % day) as f64 / day as f64 * std::f64::consts::TAU;
            let weekend = (i % week) / day >= 5;
            100.0 + 30.0 * d.sin() + if weekend { -20.0 } else { 0.0 }
        };
        let y: Vec<f64> = (0..4 * week).map(shape).collect();
        let s = Seasonal::fit(&y, day, week).expect("fits");
        let t = y.len() - 1;
        // A whole week ahead, weekend included; STL's smoothers blur the weekend step a
        // little (errors ~0.2 on an amplitude of 50), a misaligned cycle would be off by 20.
        for h in 1..=week {
            let p = s.predict(&y, t, h).expect("predicts");
            assert!(
                (p - shape(t + h)).abs() < 1.0,
                "h={h}: {p} vs {}",
                shape(t + h)
            );
        }
    }

    /// Three hours of zeros (an outage) in the last week of four leave the log-space
    /// decomposition's forecast of those hours and the ramp after them within a few percent
    /// of the clean series' (without [`off_pattern`], 43 % off at 04:00).
    #[test]
    fn an_outage_stays_out_of_the_seasonal_pattern() {
        let (day, week) = (24, 168);
        let shape = |i: usize| {
            let d = (i % day) as f64 / day as f64 * std::f64::consts::TAU;
            let weekend = (i % week) / day >= 5;
            let noise = ((i * 7919) % 11) as f64 - 5.0;
            200.0 + 120.0 * d.sin() + if weekend { -40.0 } else { 0.0 } + noise
        };
        let clean: Vec<f64> = (0..4 * week).map(shape).collect();
        let mut outage = clean.clone();
        let start = 3 * week + 2 * day + 3; // Wednesday of the last week, 03:00-05:00
        for v in &mut outage[start..start + 3] {
            *v = 0.0;
        }
        let fit = |y: &[f64]| Seasonal::fit_in(Space::Log, y, day, week).expect("fits");
        let (a, b) = (fit(&clean), fit(&outage));
        let t = clean.len() - 1;
        // Every hour of the next day.
        for h in 1..=day {
            let (pa, pb) = (
                a.predict(&clean, t, h).unwrap(),
                b.predict(&outage, t, h).unwrap(),
            );
            assert!((pb / pa - 1.0).abs() < 0.05, "h={h}: {pb:.1} vs {pa:.1}");
        }
    }

    #[test]
    fn gaps_are_bridged_and_the_newest_observation_anchors() {
        let (day, week) = (24, 168);
        let mut y: Vec<f64> = (0..3 * week).map(|i| 10.0 + (i % day) as f64).collect();
        y[100] = f64::NAN;
        y[101] = f64::NAN;
        let s = Seasonal::fit(&y, day, week).expect("fits");
        let t = y.len() - 1;
        let mut z = y.clone();
        z[t] = f64::NAN;
        // With the newest point missing, the one before anchors: same forecast.
        let a = s.predict(&y, t, 2).unwrap();
        let b = s.predict(&z, t, 2).unwrap();
        assert!(s.predict(&[f64::NAN; 3], t, 1).is_none());
        assert!((a - b).abs() < 0.5, "{a} vs {b}");
        // A glitch of one or two points is replaced by its neighbours' median; a smooth
        // curve, a step edge and a three-point peak are not touched.
        let mut smooth: Vec<f64> = (0..200).map(|i| (i as f64 / 10.0).sin() * 10.0).collect();
        assert_eq!(despike(&smooth, DESPIKE_K), smooth);
        let step: Vec<f64> = (0..50).map(|i| if i < 25 { 1.0 } else { 500.0 }).collect();
        assert_eq!(despike(&step, DESPIKE_K), step);
        let mut peak = smooth.clone();
        for v in &mut peak[60..63] {
            *v += 1e4;
        }
        assert_eq!(despike(&peak, DESPIKE_K), peak);
        smooth[100] = 1e6;
        smooth[150] = -1e6;
        smooth[151] = -1e6;
        let fixed = despike(&smooth, DESPIKE_K);
        assert!(
            (fixed[100] - 10.0 * 10f64.sin()).abs() < 0.5,
            "{}",
            fixed[100]
        );
        assert!(
            (fixed[150] - 10.0 * 15f64.sin()).abs() < 1.0,
            "{}",
            fixed[150]
        );
        assert!(
            interpolate(&[f64::NAN, 1.0, f64::NAN, 3.0, f64::NAN]).unwrap()
                == [1.0, 1.0, 2.0, 3.0, 3.0]
        );
    }

    #[test]
    fn a_smoothed_anchor_averages_out_noise_that_the_newest_value_passes_on() {
        // A daily pattern plus uniform noise in +-10 (a fixed pseudo-random sequence):
        // anchoring on the newest value carries its noise into every forecast; a smoothed
        // level averages it out.
        let (day, week) = (24, 168);
        let clean = |i: usize| 100.0 + 30.0 * (i as f64 / day as f64 * std::f64::consts::TAU).sin();
        let mut state = 0x2545_f491_u64;
        let y: Vec<f64> = (0..3 * week)
            .map(|i| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                clean(i) + ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 20.0
            })
            .collect();
        let s = Seasonal::fit(&y, day, week).expect("fits");
        let t = y.len() - 1;
        let err = |alpha: f64| -> f64 {
            (1..=6)
                .map(|h| {
                    (s.forecast_at_level(s.level(&y, t, alpha).unwrap(), t, h) - clean(t + h)).abs()
                })
                .sum::<f64>()
                / 6.0
        };
        let (newest, smoothed) = (err(1.0), err(0.1));
        assert!(
            smoothed < 0.5 * newest,
            "newest {newest}, smoothed {smoothed}"
        );
        // `predict` uses the configured weight; 1 is the newest observed value.
        let smoothed = s.clone().with_alpha(0.1);
        assert_eq!(
            smoothed.predict(&y, t, 3).unwrap(),
            s.forecast_at_level(s.level(&y, t, 0.1).unwrap(), t, 3)
        );
        assert_eq!(s.alpha(), 1.0);
        // Missing values are skipped, and nothing observed in reach means no level.
        let mut z = y.clone();
        z[t - 1] = f64::NAN;
        assert!(s.level(&z, t, 0.3).is_some());
        assert!(s.level(&[f64::NAN; 40], t, 0.3).is_none());
    }

    /// Pull the numbers of one JSON array field out of the small fixture.
    #[test]
    fn decomposition_matches_statsforecast_mstl_on_the_taylor_series() {
        let y = crate::testdata::taylor(1500);
        let golden = crate::testdata::golden("mstl_taylor.json");
        let array = |field: &str| crate::testdata::numbers(&golden[field]);
        let s = Seasonal::fit_with(&y, 48, 336, true).unwrap();
        // The day's and the week's components are stored as their sum over the week, packed.
        assert_eq!(s.last_cycles.len(), 1);
        let c = &s.last_cycles[0];
        let stored: Vec<f64> = (0..c.len()).map(|i| c.value(i).unwrap()).collect();
        let (day, week) = (array("last_day_cycle"), array("last_week_cycle"));
        let sum: Vec<f64> = (0..week.len()).map(|k| week[k] + day[k % 48]).collect();
        // Half a code at the sum's scale (2^15 MW) is 0.5 MW; a forecast reads two (the
        // origin and the target): within 1 MW of 20,000.
        assert_all_close(&stored, &sum, 0.0, 0.51);
        let t = y.len() - 1;
        let forecast: Vec<f64> = (1..=96).map(|h| s.predict(&y, t, h).unwrap()).collect();
        assert_all_close(&forecast, &array("forecast_from_last_point"), 0.0, 1.0);
        // The production variant interpolates its smoothers: close to the exact one (the
        // series' half-hourly changes are ~1,000 MW).
        let fast = Seasonal::fit(&y, 48, 336).unwrap();
        for h in 1..=96 {
            let (a, b) = (
                fast.predict(&y, t, h).unwrap(),
                s.predict(&y, t, h).unwrap(),
            );
            assert!((a - b).abs() < 60.0, "h={h}: interpolated {a} vs exact {b}");
        }
    }

    #[test]
    fn log_space_follows_a_daily_swing_that_scales_with_a_growing_level() {
        let (day, week) = (24, 168);
        let n = 4 * week;
        let shape = |i: usize| {
            let level = 1_000.0 * 3f64.powf(i as f64 / n as f64);
            level * (1.0 + 0.6 * ((i % day) as f64 / day as f64 * std::f64::consts::TAU).sin())
        };
        let y: Vec<f64> = (0..n).map(shape).collect();
        let log = Seasonal::fit_in(Space::Log, &y, day, week).unwrap();
        let linear = Seasonal::fit_in(Space::Linear, &y, day, week).unwrap();
        let t = n - 1;
        let (mut err_log, mut err_linear) = (0.0, 0.0);
        for h in 1..=day {
            err_log += (log.predict(&y, t, h).unwrap() - shape(t + h)).abs();
            err_linear += (linear.predict(&y, t, h).unwrap() - shape(t + h)).abs();
        }
        assert!(
            err_log < 0.5 * err_linear,
            "log {err_log} vs linear {err_linear}"
        );
        assert!(Seasonal::fit_in(Space::Log, &[-1.0; 200], day, week).is_none());
    }

    #[test]
    fn too_short_or_too_sparse_windows_are_refused() {
        assert!(Seasonal::fit(&[1.0; 30], 24, 168).is_none());
        let mut y = vec![1.0; 200];
        for v in y.iter_mut().take(30) {
            *v = f64::NAN;
        }
        assert!(Seasonal::fit(&y, 24, 168).is_none());
    }
}
