//! A direct multi-horizon lag regression: for each horizon `h`, ridge regression (linfa's
//! elastic net with an L2 penalty only) of the change `y(t+h) - y(t)` on the seasonal
//! changes one day, one week and two weeks earlier and on the latest movements. It anchors
//! on the newest observation and borrows the shape of the coming hours from the recent
//! past, which suits smooth, strongly seasonal load.
//!
//! Ridge is solved in closed form as linfa's least squares on the design augmented with
//! `sqrt(n * penalty) * I` rows: the same objective as scikit-learn's `Ridge` with
//! `alpha = n * penalty`, at a fraction of the cost of coordinate descent.
//!
//! The same regression can run on `ln(1 + y)` ([`Space::Log`]), where a seasonal swing is a
//! ratio of the level: the `auto` model uses whichever space validates better per series.

use linfa::Dataset;
use linfa::traits::Fit as LinfaFit;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};

/// Ridge penalty per sample (on features and targets divided by the series' mean level).
const PENALTY: f64 = 1e-4;

/// Number of features.
pub(crate) const NF: usize = 7;

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
    coefs: Vec<[f64; NF]>,
    scale: f64,
    space: Space,
}

/// Points of history the features reach back (two weeks plus one step).
pub(crate) fn lookback(week: usize) -> usize {
    2 * week + 1
}

/// Features at origin index `t` (the last observed point) for horizon `h`, from `y` mapped
/// into `space`, where `y[t]` is the newest value. `None` when a needed value is missing.
fn features_in(
    space: Space,
    y: &[f64],
    t: usize,
    h: usize,
    day: usize,
    week: usize,
) -> Option<[f64; NF]> {
    if t < 2 * week || t < 6 {
        return None;
    }
    let g = |i: usize| {
        y.get(i)
            .copied()
            .filter(|v| !v.is_nan())
            .map(|v| space.forward(v))
    };
    let yt = g(t)?;
    let w1 = g(t + h - week)? - g(t - week)?;
    let w2 = g(t + h - 2 * week)? - g(t - 2 * week)?;
    let d1 = g(t + h - day)? - g(t - day)?;
    let m1 = yt - g(t - 1)?;
    let mut s = 0.0;
    for k in 1..=6 {
        s += g(t - k)?;
    }
    let m6 = yt - s / 6.0;
    let lw = g(t + h - week)? - yt;
    let ld = g(t + h - day)? - yt;
    Some([w1, w2, d1, m1, m6, lw, ld])
}

impl LagRegression {
    /// Fit horizons `1..=max_h` on origins `t` in `from..to` (indices into `y`) whose target
    /// `y[t + h]` lies before `to`. `None` with too few complete rows.
    pub(crate) fn fit(
        y: &[f64],
        from: usize,
        to: usize,
        max_h: usize,
        day: usize,
        week: usize,
    ) -> Option<Self> {
        Self::fit_in(Space::Linear, y, from, to, max_h, day, week)
    }

    /// [`LagRegression::fit`] in `space`; `None` in log space if a value is negative.
    pub(crate) fn fit_in(
        space: Space,
        y: &[f64],
        from: usize,
        to: usize,
        max_h: usize,
        day: usize,
        week: usize,
    ) -> Option<Self> {
        if space == Space::Log && y[..to].iter().any(|v| *v < 0.0) {
            return None;
        }
        let observed: Vec<f64> = y[..to]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .map(|v| space.forward(v))
            .collect();
        // Features and targets are divided by the mean level, so the penalty is relative; in
        // log space they are relative already.
        let scale = match space {
            Space::Linear => {
                observed.iter().map(|v| v.abs()).sum::<f64>() / observed.len().max(1) as f64
            }
            Space::Log => 1.0,
        };
        if scale <= 0.0 {
            return None;
        }
        // Subsample origins so a fit stays cheap on long 5-minute histories.
        let stride = ((to.saturating_sub(from)) / 4000).max(1);
        let mut coefs = Vec::with_capacity(max_h);
        for h in 1..=max_h {
            let mut xs = Vec::new();
            let mut ys = Vec::new();
            let mut t = from;
            while t + h < to {
                if let (Some(f), Some(target)) = (
                    features_in(space, y, t, h, day, week),
                    y.get(t + h).filter(|v| !v.is_nan()),
                ) {
                    xs.extend(f.iter().map(|v| v / scale));
                    ys.push((space.forward(*target) - space.forward(y[t])) / scale);
                }
                t += stride;
            }
            let n = ys.len();
            if n < 20 * NF {
                return None;
            }
            let ridge = (n as f64 * PENALTY).sqrt();
            for k in 0..NF {
                xs.extend((0..NF).map(|j| if j == k { ridge } else { 0.0 }));
                ys.push(0.0);
            }
            let x = Array2::from_shape_vec((n + NF, NF), xs).ok()?;
            let ds = Dataset::new(x, Array1::from(ys));
            let model = LinearRegression::new()
                .with_intercept(false)
                .fit(&ds)
                .ok()?;
            let mut c = [0.0; NF];
            for (k, v) in model.params().iter().enumerate() {
                c[k] = *v;
            }
            coefs.push(c);
        }
        Some(Self {
            day,
            week,
            coefs,
            scale,
            space,
        })
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

    /// The forecast `h` steps after index `t` of `y`.
    pub(crate) fn predict(&self, y: &[f64], t: usize, h: usize) -> Option<f64> {
        let c = self.coefs.get(h.checked_sub(1)?)?;
        let f = features_in(self.space, y, t, h, self.day, self.week)?;
        let change: f64 = f.iter().zip(c).map(|(x, b)| x / self.scale * b).sum();
        Some(
            self.space
                .back(self.space.forward(y[t]) + change * self.scale),
        )
    }

    /// Coefficients of horizon `h` (for tests).
    #[cfg(test)]
    pub(crate) fn coefficients(&self, h: usize) -> &[f64; NF] {
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
        let m = LagRegression::fit(&y, 0, y.len(), 3, day, week).unwrap();
        let t = y.len() - 4;
        for h in 1..=3 {
            let p = m.predict(&y, t, h).unwrap();
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
        let log = LagRegression::fit_in(Space::Log, &y, 0, y.len(), 6, day, week).unwrap();
        let t = y.len() - 7;
        for h in 1..=6 {
            let p = log.predict(&y, t, h).unwrap();
            assert!(
                (p / y[t + h] - 1.0).abs() < 0.01,
                "h={h}: {p} vs {}",
                y[t + h]
            );
        }
        assert!(LagRegression::fit_in(Space::Log, &[-1.0; 2000], 0, 2000, 1, day, week).is_none());
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
        let m = LagRegression::fit(&y, 0, y.len(), 2, 48, 336).unwrap();
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
