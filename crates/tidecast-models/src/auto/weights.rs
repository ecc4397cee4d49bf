//! Choosing among the members' variants and weighing the members per horizon, on the inner
//! backtest's rows.

use super::validation::Row;

/// Weights of the tidal, regression, seasonal-decomposition and persistent-level forecasts
/// at one horizon.
pub(super) type Weights = [f64; 4];

/// The candidate weights: tenths over the simplex, single models first (so ties keep the
/// simpler choice).
pub(super) fn weight_grid(with_seasonal: bool) -> Vec<Weights> {
    let mut grid = vec![
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    for a in 0..=10 {
        for b in 0..=10 - a {
            for c in 0..=10 - a - b {
                let d = 10 - a - b - c;
                let w = [a, b, c, d].map(|k| k as f64 / 10.0);
                if !grid.contains(&w) {
                    grid.push(w);
                }
            }
        }
    }
    grid.retain(|w| with_seasonal || w[2] == 0.0);
    grid
}

/// The weighted forecast of one row's member forecasts (members without weight skipped, so a
/// missing forecast there does not poison the sum).
pub(super) fn combine(w: &Weights, f: &[f64; 4]) -> f64 {
    w.iter()
        .zip(f)
        .filter(|(w, _)| **w > 0.0)
        .map(|(w, v)| w * v)
        .sum::<f64>()
}

/// Put into column `col` of the validation rows the variant (each one forecast per row) with
/// the lowest absolute error among those that forecast every row, the first on a tie, and
/// return its index; `None` (rows untouched) when none does.
pub(super) fn adopt_best(rows: &mut [Row], col: usize, variants: &[Vec<f64>]) -> Option<usize> {
    let k = variants
        .iter()
        .enumerate()
        .filter(|(_, v)| v.len() == rows.len() && v.iter().all(|x| x.is_finite()))
        .map(|(k, v)| {
            let err: f64 = rows.iter().zip(v).map(|(r, x)| (r.1 - x).abs()).sum();
            (k, err)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    for (r, v) in rows.iter_mut().zip(&variants[k]) {
        r.2[col] = *v;
    }
    Some(k)
}

/// For each horizon `1..=h_max`, the weights of `grid` with the lowest absolute error over
/// that horizon's rows (the first on a tie).
pub(super) fn weigh(rows: &[Row], grid: &[Weights], h_max: usize) -> Vec<Weights> {
    // Each horizon's rows in their order, so each weight's error sums as a pass over all
    // rows filtered by horizon would, without the passes.
    let mut by_horizon: Vec<Vec<&Row>> = vec![Vec::new(); h_max];
    for r in rows.iter().filter(|r| (1..=h_max).contains(&r.0)) {
        by_horizon[r.0 - 1].push(r);
    }
    let mut weights = Vec::with_capacity(h_max);
    for (h, rows) in (1..=h_max).zip(&by_horizon) {
        debug_assert!(rows.iter().all(|r| r.0 == h));
        let mut err = vec![0.0f64; grid.len()];
        for (_, a, f) in rows.iter().copied() {
            for (e, w) in err.iter_mut().zip(grid) {
                *e += (a - combine(w, f)).abs();
            }
        }
        let k = (0..grid.len())
            .min_by(|a, b| err[*a].total_cmp(&err[*b]))
            .unwrap_or(0);
        weights.push(grid[k]);
    }
    weights
}

/// Short text of a weight vector for the model's name: `t0.3+r0.2+s0.5`.
pub(super) fn describe(w: &Weights) -> String {
    let mut parts = Vec::new();
    for (k, tag) in ["t", "r", "s", "p"].iter().enumerate() {
        if w[k] > 0.0 {
            parts.push(format!("{tag}{:.1}", w[k]));
        }
    }
    parts.join("+")
}
