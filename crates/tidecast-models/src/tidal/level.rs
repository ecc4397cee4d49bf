//! The level filters: two exponentially weighted regressions of the load on its profile
//! through the origin (a slow level and a fast one), one pair per tuning horizon, and how a
//! forecast reads them.

/// Per-step decay factors of the level filters.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Params {
    pub(super) slow: f64,
    pub(super) fast: f64,
    pub(super) phi: f64,
}

/// Weighted-regression sums of the two level filters.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Levels {
    a_slow: f64,
    b_slow: f64,
    a_fast: f64,
    b_fast: f64,
}

/// An observation enters the level filters clipped to this factor above or below what the
/// fast level expects (`profile x fast level`): a scrape glitch of 1,000x moves the level like
/// a 7x surge instead of multiplying the forecast for hours, while a real surge still raises
/// it quickly (and the served value never drops below the live one).
const LEVEL_CLIP: f64 = 7.0;

impl Levels {
    #[inline]
    pub(super) fn update(&mut self, y: f64, p: f64, prm: &Params) {
        // What the fast level expects, times b_fast (no division on the common path):
        // `y * b_fast` against `a_fast * p`.
        let (expected, seen) = (self.a_fast * p, y * self.b_fast);
        let y = if expected > 0.0
            && self.b_fast > 0.0
            && (seen > expected * LEVEL_CLIP || seen * LEVEL_CLIP < expected)
        {
            let e = expected / self.b_fast;
            y.clamp(e / LEVEL_CLIP, e * LEVEL_CLIP)
        } else {
            y
        };
        self.a_slow = prm.slow * self.a_slow + y * p;
        self.b_slow = prm.slow * self.b_slow + p * p;
        self.a_fast = prm.fast * self.a_fast + y * p;
        self.b_fast = prm.fast * self.b_fast + p * p;
    }
    #[inline]
    pub(super) fn slow(&self) -> f64 {
        if self.b_slow > 1e-300 {
            self.a_slow / self.b_slow
        } else {
            1.0
        }
    }
    #[inline]
    pub(super) fn fast(&self) -> f64 {
        if self.b_fast > 1e-300 {
            self.a_fast / self.b_fast
        } else {
            self.slow()
        }
    }
}

/// The level filters' decays, chosen per tuning horizon: the decays that forecast 5 minutes
/// ahead best (the last minutes' deviation carried) are not those for an hour ahead (it mostly
/// fades). A forecast `h` steps ahead interpolates, in log `h`, between the two bands whose
/// horizons bracket it, and each band's filters run on every observation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Bands {
    /// Tuning horizons in steps, ascending.
    pub(super) horizons: Vec<usize>,
    pub(super) params: Vec<Params>,
}

impl Bands {
    pub(super) fn single(params: Params) -> Self {
        Self {
            horizons: vec![1],
            params: vec![params],
        }
    }

    #[inline]
    pub(super) fn update(&self, levels: &mut [Levels], y: f64, p: f64) {
        for (lv, prm) in levels.iter_mut().zip(&self.params) {
            lv.update(y, p, prm);
        }
    }

    /// The bands a forecast `h` steps ahead uses and their weights.
    pub(super) fn weights(&self, h: usize) -> [(usize, f64); 2] {
        let hs = &self.horizons;
        let last = hs.len() - 1;
        match hs.iter().position(|&b| b > h) {
            Some(0) => [(0, 1.0), (0, 0.0)],
            None => [(last, 1.0), (last, 0.0)],
            Some(k) => {
                let (lo, hi) = (hs[k - 1] as f64, hs[k] as f64);
                let w = (h as f64 / lo).ln() / (hi / lo).ln();
                [(k - 1, 1.0 - w), (k, w)]
            }
        }
    }

    /// For each horizon `1..=steps`: the two bands, their weights and their `φ^h`, so the
    /// hot loops (calibration, serving) do no logarithms or powers.
    pub(super) fn table(&self, steps: usize) -> Vec<[(usize, f64, f64); 2]> {
        (1..=steps)
            .map(|h| {
                self.weights(h)
                    .map(|(b, w)| (b, w, self.params[b].phi.powi(h as i32)))
            })
            .collect()
    }

    /// Each band's slow and fast level now.
    #[inline]
    pub(super) fn snapshot(levels: &[Levels]) -> Vec<(f64, f64)> {
        levels.iter().map(|l| (l.slow(), l.fast())).collect()
    }

    /// The level (ratio to the profile) forecast at a horizon, from a [`Bands::snapshot`]
    /// and the horizon's [`Bands::table`] row.
    #[inline]
    pub(super) fn level(now: &[(f64, f64)], row: &[(usize, f64, f64); 2]) -> f64 {
        let mut sum = 0.0;
        for &(b, w, phi_h) in row {
            if w > 0.0 {
                let (ls, lf) = now[b];
                sum += w * (ls + phi_h * (lf - ls));
            }
        }
        sum
    }

    /// The newest fast level, as the bands of a [`Bands::table`] row track it, from a
    /// [`Bands::snapshot`].
    #[inline]
    pub(super) fn fast(now: &[(f64, f64)], row: &[(usize, f64, f64); 2]) -> f64 {
        row.iter()
            .filter(|(_, w, _)| *w > 0.0)
            .map(|&(b, w, _)| w * now[b].1)
            .sum()
    }

    pub(super) fn describe(&self) -> String {
        self.horizons
            .iter()
            .zip(&self.params)
            .map(|(h, p)| {
                format!(
                    "h{h}: slow={:.4} fast={:.4} phi={:.4}",
                    p.slow, p.fast, p.phi
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The per-step decay factor of a filter with this half-life in seconds (0: no memory).
pub(super) fn decay(step: i64, half_life: f64) -> f64 {
    if half_life <= 0.0 {
        0.0
    } else {
        0.5f64.powf(step as f64 / half_life)
    }
}
