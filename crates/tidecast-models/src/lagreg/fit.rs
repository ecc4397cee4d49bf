//! Fitting the regression: one ridge solve per horizon on the normal equations, accumulated
//! per slot of the day so varying coefficients cost little more than constant ones.

use super::LagRegression;
use super::design::{NV, basis, columns};
use super::features::{FEATURE_CLIP, Lags, NF, clip, features_with};
use super::sums::PrefixSums;
use crate::transform::Space;
use crate::{Error, Result};
use linfa::Dataset;
use linfa::traits::Fit as LinfaFit;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};

/// Ridge penalty per sample (on features and targets divided by the series' mean absolute step).
pub(super) const PENALTY: f64 = 1e-4;

/// How many times heavier the penalty is on the coefficients' variation with the time of
/// day than on their daily mean: the variation is shrunk towards constant coefficients, so
/// the many more columns do not overfit (the score is flat between 300 and 3,000).
pub(super) const HARMONIC_PENALTY: f64 = 1000.0;

/// Complete rows a fit needs per column of the design (per feature for constant
/// coefficients, per two columns for varying ones): low enough that two weeks of half-hourly
/// history can fit before a week of validation.
const MIN_ROWS_PER_COLUMN: usize = 10;

/// Origins a fit takes at most per horizon; beyond it they are strided, so a fit stays cheap
/// on long 5-minute histories.
const MAX_ROWS: usize = 4000;

/// One training row: the target's slot in the day, the scaled features, the scaled change.
type Row = (usize, [f64; NF], f64);

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
    /// before `to`. `Ok(None)` where it does not apply: a negative value in a non-linear
    /// space, a flat series, or too few complete rows.
    pub(crate) fn fit(&self, y: &[f64], from: usize, to: usize) -> Result<Option<LagRegression>> {
        if self.space != Space::Linear && y[..to].iter().any(|v| *v < 0.0) {
            return Ok(None);
        }
        // The series mapped into the space once (NaN stays NaN).
        let z: Vec<f64> = y[..to].iter().map(|v| self.space.forward(*v)).collect();
        let Some(scale) = mean_abs_step(&z) else {
            return Ok(None);
        };
        let sums = PrefixSums::new(&z, self.day);
        let layout = columns(self.harmonics);
        let bases: Vec<Vec<f64>> = (0..if self.harmonics > 0 { self.day } else { 1 })
            .map(|slot| basis(self.harmonics, slot, self.day))
            .collect();
        let mut coefs = Vec::with_capacity(self.max_h);
        let mut bounds = Vec::with_capacity(self.max_h);
        for h in 1..=self.max_h {
            let rows = self.rows(&z, &sums, scale, from, to, h);
            let n = rows.len();
            let bound = clip_bounds(&rows);
            bounds.push(bound);
            if n < MIN_ROWS_PER_COLUMN * NF.max(layout.len() / 2) {
                return Ok(None);
            }
            let (gram, xty) = normal_equations(&rows, &bound, &bases, layout.len());
            let c = ridge(gram, xty, n, &layout)
                .map_err(|source| Error::Solve { horizon: h, source })?;
            coefs.push(c.into_iter().map(|v| v as f32).collect());
        }
        Ok(Some(LagRegression {
            day: self.day,
            week: self.week,
            weekly: self.weekly,
            coefs,
            bounds,
            scale,
            space: self.space,
            harmonics: self.harmonics,
        }))
    }

    /// The complete rows for horizon `h`, features and target divided by `scale`.
    fn rows(
        &self,
        z: &[f64],
        sums: &PrefixSums,
        scale: f64,
        from: usize,
        to: usize,
        h: usize,
    ) -> Vec<Row> {
        let stride = ((to.saturating_sub(from)) / MAX_ROWS).max(1);
        let lags = Lags {
            day: self.day,
            week: self.week,
            weekly: self.weekly,
        };
        let mut rows = Vec::new();
        let mut t = from;
        while t + h < to {
            let slot = if self.harmonics > 0 {
                self.slots.get(t + h).copied().filter(|k| *k < self.day)
            } else {
                Some(0)
            };
            let day_back = self.day_back.get(t + h).map_or(1, |k| usize::from(*k));
            if let (Some(f), Some(target), Some(k)) = (
                features_with(|i| z.get(i).copied(), sums, t, h, lags, day_back),
                z.get(t + h).filter(|v| !v.is_nan()),
                slot,
            ) {
                rows.push((k, f.map(|v| v / scale), (target - z[t]) / scale));
            }
            t += stride;
        }
        rows
    }
}

/// The mean absolute step of the series: features and targets are divided by it, so the
/// penalty is relative to how much the series moves (the same shrinkage for smooth demand as
/// for noisy counts). `None` for a flat series.
fn mean_abs_step(z: &[f64]) -> Option<f64> {
    let steps = z
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .filter(|d| !d.is_nan());
    let count = steps.clone().count().max(1);
    let scale = steps.sum::<f64>() / count as f64;
    (scale > 0.0).then_some(scale)
}

/// Each feature's clip bound: [`FEATURE_CLIP`] times its mean absolute value over the rows.
/// f32, as served: the fit clips its rows at the bounds the forecasts will use.
fn clip_bounds(rows: &[Row]) -> [f32; NF] {
    let mut bound = [0.0; NF];
    for (_, f, _) in rows {
        for (b, v) in bound.iter_mut().zip(f) {
            *b += v.abs();
        }
    }
    bound.map(|b| (FEATURE_CLIP * b / rows.len().max(1) as f64) as f32)
}

/// The normal equations `X'X b = X'y` in the layout of [`columns`]. A design row is the
/// features times the basis of the target's slot, so `X'X` is the sum over slots of
/// `(basis basis') (x) (sum of f f' over that slot's rows)`: the small per-slot sums are
/// accumulated first, then expanded block by block.
fn normal_equations(
    rows: &[Row],
    bound: &[f32; NF],
    bases: &[Vec<f64>],
    cols: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut ff = vec![[[0.0; NF]; NF]; bases.len()];
    let mut fy = vec![[0.0; NF]; bases.len()];
    for (k, f, target) in rows {
        let f = clip(*f, bound);
        for ((sums, fyi), fi) in ff[*k].iter_mut().zip(&mut fy[*k]).zip(&f) {
            *fyi += fi * target;
            for (c, fj) in sums.iter_mut().zip(&f) {
                *c += fi * fj;
            }
        }
    }
    let mut gram = vec![0.0; cols * cols];
    let mut xty = vec![0.0; cols];
    for ((b, ffk), fyk) in bases.iter().zip(&ff).zip(&fy) {
        add_slot_block(&mut gram, &mut xty, b, ffk, fyk, cols);
    }
    // Filled on and above the diagonal; mirrored below.
    for p in 0..cols {
        for q in p + 1..cols {
            gram[q * cols + p] = gram[p * cols + q];
        }
    }
    (gram, xty)
}

/// One slot's contribution to the normal equations, block by block in the order of
/// [`columns`], on and above the diagonal, each block a contiguous run of the slot's sums.
fn add_slot_block(
    gram: &mut [f64],
    xty: &mut [f64],
    b: &[f64],
    ffk: &[[f64; NF]; NF],
    fyk: &[f64; NF],
    cols: usize,
) {
    let first_constant = cols - (NF - NV);
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

/// Ridge: `(X'X + n * penalty * I) b = X'y`, a square system linfa's least squares solves
/// exactly (the same solution as the data augmented with `sqrt(n * penalty) * I` rows, at a
/// fraction of the cost with many columns).
fn ridge(
    mut gram: Vec<f64>,
    xty: Vec<f64>,
    n: usize,
    layout: &[(usize, usize)],
) -> std::result::Result<Vec<f64>, linfa_linear::LinearError<f64>> {
    let cols = layout.len();
    for (p, (a, _)) in layout.iter().enumerate() {
        let extra = if *a == 0 { 1.0 } else { HARMONIC_PENALTY };
        gram[p * cols + p] += n as f64 * PENALTY * extra;
    }
    let x = Array2::from_shape_vec((cols, cols), gram).expect("a square system");
    let ds = Dataset::new(x, Array1::from(xty));
    let model = LinearRegression::new().with_intercept(false).fit(&ds)?;
    Ok(model.params().to_vec())
}
