//! The design of the regression: which features' coefficients vary with the time of day,
//! and the Fourier basis they vary through.

use super::features::NF;

/// The first `NV` features (the seasonal changes and slopes, and the latest step) are the
/// ones whose coefficients vary with the time of day in the varying variant; the rest (the
/// newest value against its mean over the last 6 steps and its recent means, the hourly
/// change) keep one coefficient: how fast a burst falls back does not depend on the hour,
/// and fewer columns overfit less.
pub(super) const NV: usize = 8;

/// The design's columns as (term of the Fourier basis, feature): each varying feature times
/// each basis term, then the constant features (term 0, the constant 1).
pub(super) fn columns(harmonics: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = (0..2 * harmonics + 1)
        .flat_map(|a| (0..NV).map(move |i| (a, i)))
        .collect();
    out.extend((NV..NF).map(|j| (0, j)));
    out
}

/// The design row at the target's slot times the coefficients `c` (laid out as
/// [`columns`]), without building the row.
#[inline]
pub(super) fn design_dot(
    f: &[f64; NF],
    c: &[f32],
    harmonics: usize,
    target_slot: usize,
    day: usize,
) -> f64 {
    let (varying, constant) = c.split_at((2 * harmonics + 1) * NV);
    let dot = |a: usize| -> f64 {
        f[..NV]
            .iter()
            .zip(&varying[a * NV..(a + 1) * NV])
            .map(|(x, c)| x * f64::from(*c))
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
        .map(|(x, c)| x * f64::from(*c))
        .sum::<f64>()
}

/// The Fourier basis `1, sin(2 pi x), cos(2 pi x), ..., cos(2 pi harmonics x)` at slot `x`.
pub(super) fn basis(harmonics: usize, slot: usize, day: usize) -> Vec<f64> {
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
