//! The tidal model's inner validation: which profile (kind, recency, smoothing) and which
//! level decays per tuning horizon forecast the last days of the training window best.

use super::level::{Bands, Levels, Params, decay};
use crate::profile::{Profile, ProfileKind};
use tidecast_core::{LocalTime, SECS_PER_DAY, SECS_PER_HOUR, SECS_PER_MINUTE};

/// The "recent" profile candidates learn from this much of the newest history only, so a
/// shape that drifts (seasons, a changed schedule) is followed sooner.
pub(super) const RECENT_PROFILE_SECS: i64 = 21 * SECS_PER_DAY;

/// The least history the validation's profile is estimated from when the validation is a
/// whole week ([`super::TidalSpec`]'s default): three days.
const MIN_PROFILE_SECS: i64 = 3 * SECS_PER_DAY;

/// Days of history before the validation a weekly profile needs to be a candidate: a week,
/// each weekday once (smooth demand with different Saturdays and Sundays needs it early).
const WEEKLY_MIN_DAYS: i64 = 7;

/// At most this many validation origins per series: beyond it they are strided, so a fit
/// costs the same on a 1-minute history as on a 5-minute one.
const MAX_ORIGINS: usize = 1500;

/// The slow and fast half-lives and the decays `φ` of the fast deviation tried.
fn candidate_params(step: i64) -> (Vec<(f64, f64)>, Vec<f64>) {
    let s = step as f64;
    let (hour, day) = (SECS_PER_HOUR as f64, SECS_PER_DAY as f64);
    let slow = [12.0 * hour, 2.0 * day, 7.0 * day];
    let mut fast: Vec<f64> = vec![0.5 * s, s, 3.0 * s, 0.5 * hour, 2.0 * hour];
    fast.sort_by(f64::total_cmp);
    fast.dedup();
    let mut levels = Vec::new();
    for hs in slow {
        for hf in &fast {
            levels.push((decay(step, hs), decay(step, *hf)));
        }
    }
    // φ per step from a decay time: 0 = the fast deviation is ignored, 1 = it persists. Ten
    // minutes fills the gap between none and thirty, where 1-minute load's short deviations
    // live.
    let decay_time = |minutes: i64| (-s / (minutes * SECS_PER_MINUTE) as f64).exp();
    let phis = [
        0.0,
        decay_time(10),
        decay_time(30),
        decay_time(120),
        decay_time(480),
        1.0,
    ];
    (levels, phis.to_vec())
}

/// The decays used when no validation is possible (under three days of history).
pub(super) fn default_params(step: i64) -> Params {
    Params {
        slow: decay(step, 2.0 * SECS_PER_DAY as f64),
        fast: decay(step, 0.5 * SECS_PER_HOUR as f64),
        phi: (-(step as f64) / (2 * SECS_PER_HOUR) as f64).exp(),
    }
}

/// Points of the inner validation for `n` points at `step` seconds: the whole
/// `validation_secs` (a week by default, so it meets every day class the forecasts will:
/// weekdays, weekends) when at least [`MIN_PROFILE_SECS`] are left before it, a third of the
/// history with at least three days of it, none below that (the calibration then uses the
/// second half in sample). A shorter validation leaves a weekend out, and the intervals of
/// the weekend that follows too narrow.
pub(super) fn validation_len(n: usize, step: i64, validation_secs: i64) -> usize {
    let span = n as i64 * step;
    let full = (validation_secs / step) as usize;
    if span >= MIN_PROFILE_SECS + validation_secs {
        full
    } else if span >= 3 * SECS_PER_DAY {
        full.min(n / 3)
    } else {
        0
    }
}

/// The horizons the decays are tuned for: 5, 15, 30 and 60 minutes, in steps.
pub(super) fn tuning_horizons(step: i64) -> Vec<usize> {
    let mut h: Vec<usize> = [5, 15, 30, 60]
        .iter()
        .map(|m| m * SECS_PER_MINUTE)
        .map(|s| ((s + step / 2) / step).max(1) as usize)
        .collect();
    h.dedup();
    h
}

/// Profile smoothing widths tried (in slots): none, and about 15 minutes.
pub(super) fn smoothing_widths(step: i64) -> Vec<usize> {
    let slot = step.clamp(5 * SECS_PER_MINUTE, SECS_PER_HOUR);
    let mut v = vec![1, ((15 * SECS_PER_MINUTE / slot) as usize | 1).max(1)];
    v.dedup();
    v
}

/// What the validation chose.
#[derive(Debug)]
pub(super) struct Choice {
    pub(super) kind: ProfileKind,
    pub(super) smooth: usize,
    /// Points of history the profile learns from (`usize::MAX`: all).
    pub(super) window: usize,
    pub(super) bands: Bands,
}

/// The decay candidates and validation points of the parameter search.
pub(super) struct Search<'a> {
    y: &'a [f64],
    locals: &'a [LocalTime],
    step: i64,
    split: usize,
    stride: usize,
    horizons: &'a [usize],
    level_grid: Vec<(f64, f64)>,
    phis: Vec<f64>,
}

impl<'a> Search<'a> {
    /// A search over `y` (its local times `locals`) with the validation after `split`.
    pub(super) fn new(
        y: &'a [f64],
        locals: &'a [LocalTime],
        step: i64,
        split: usize,
        horizons: &'a [usize],
    ) -> Self {
        let (level_grid, phis) = candidate_params(step);
        let val = y.len() - split;
        Self {
            y,
            locals,
            step,
            split,
            stride: (val / MAX_ORIGINS).max(1),
            horizons,
            level_grid,
            phis,
        }
    }

    /// The best profile and decays among `kinds` (each over all history and over the
    /// recent part, at each smoothing width): a profile estimated before `split` scores the
    /// sum over the tuning horizons of its best decays' error after it. `None` when no
    /// candidate can be scored.
    pub(super) fn choose(&self, kinds: &[ProfileKind], smooths: &[usize]) -> Option<Choice> {
        let (y, locals, split) = (self.y, self.locals, self.split);
        let mut best: Option<(f64, Choice)> = None;
        let recent_points = (RECENT_PROFILE_SECS / self.step) as usize;
        let options = kinds.iter().flat_map(|k| [(*k, false), (*k, true)]);
        for (kind, recent) in options {
            if kind == ProfileKind::Weekly
                && (split as i64) * self.step < WEEKLY_MIN_DAYS * SECS_PER_DAY
            {
                continue;
            }
            let from = if recent {
                split.saturating_sub(recent_points)
            } else {
                0
            };
            if recent && from == 0 {
                continue;
            }
            let window = if recent { recent_points } else { usize::MAX };
            for &smooth in smooths {
                let Some(pre) = Profile::estimate(
                    kind,
                    self.step,
                    &y[from..split],
                    &locals[from..split],
                    smooth,
                ) else {
                    continue;
                };
                let p: Vec<f64> = locals.iter().map(|l| pre.at(l)).collect();
                if let Some((score, bands)) = self.best_bands(&p)
                    && best.as_ref().is_none_or(|b| score < b.0)
                {
                    let choice = Choice {
                        kind,
                        smooth,
                        window,
                        bands,
                    };
                    best = Some((score, choice));
                }
            }
        }
        best.map(|(_, c)| c)
    }

    /// For one profile (`p`, its value at each point): each tuning horizon's best decays
    /// and the sum of their validation errors, the profile's score. A tuning horizon no
    /// validation point reaches (gaps) gets no band; which ones those are depends on the
    /// data alone, not on the profile. `None` when none is reached.
    fn best_bands(&self, p: &[f64]) -> Option<(f64, Bands)> {
        let mut per_horizon = vec![(f64::INFINITY, Params::default()); self.horizons.len()];
        for &(slow, fast) in &self.level_grid {
            let errs = self.validate(p, slow, fast);
            for (by_horizon, &phi) in errs.iter().zip(&self.phis) {
                for (best, e) in per_horizon.iter_mut().zip(by_horizon) {
                    if *e < best.0 {
                        *best = (*e, Params { slow, fast, phi });
                    }
                }
            }
        }
        let (horizons, (errors, params)): (Vec<usize>, (Vec<f64>, Vec<Params>)) = self
            .horizons
            .iter()
            .zip(per_horizon)
            .filter(|(_, (e, _))| e.is_finite())
            .map(|(h, ep)| (*h, ep))
            .unzip();
        (!horizons.is_empty()).then(|| (errors.iter().sum(), Bands { horizons, params }))
    }

    /// Mean absolute error over the validation part for each φ (outer) and tuning horizon
    /// (inner), for one profile and one pair of level decays.
    fn validate(&self, p: &[f64], slow: f64, fast: f64) -> Vec<Vec<f64>> {
        let (y, split, stride, horizons, phis) =
            (self.y, self.split, self.stride, self.horizons, &self.phis);
        let n = y.len();
        let prm = Params {
            slow,
            fast,
            phi: 0.0,
        };
        let mut lv = Levels::default();
        let (nh, np) = (horizons.len(), phis.len());
        // Flat, horizon-major: `[hk * np + k]`.
        let mut sum = vec![0.0; nh * np];
        let mut count = vec![0usize; nh];
        let phi_pows: Vec<f64> = horizons
            .iter()
            .flat_map(|h| phis.iter().map(|phi| phi.powi(*h as i32)))
            .collect();
        for i in 0..n {
            if !y[i].is_nan() {
                lv.update(y[i], p[i], &prm);
            }
            if i + 1 < split || !(i + 1 - split).is_multiple_of(stride) {
                continue;
            }
            let (ls, lf) = (lv.slow(), lv.fast());
            for (hk, &h) in horizons.iter().enumerate() {
                let j = i + h;
                if j >= n || y[j].is_nan() {
                    continue;
                }
                count[hk] += 1;
                let (yj, pj) = (y[j], p[j]);
                for (s, pw) in sum[hk * np..(hk + 1) * np]
                    .iter_mut()
                    .zip(&phi_pows[hk * np..(hk + 1) * np])
                {
                    *s += (yj - pj * (ls + pw * (lf - ls))).abs();
                }
            }
        }
        (0..np)
            .map(|k| {
                (0..nh)
                    .map(|hk| match count[hk] {
                        0 => f64::INFINITY,
                        c => sum[hk * np + k] / c as f64,
                    })
                    .collect()
            })
            .collect()
    }
}
