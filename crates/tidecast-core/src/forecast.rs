/// A forecast on a regular grid: a point forecast and any number of quantiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Unix seconds of the first forecast step.
    pub start: i64,
    /// Spacing of the steps in seconds.
    pub step: i64,
    /// Point forecast per step.
    pub point: Vec<f64>,
    /// `(quantile level, values per step)`, levels ascending.
    pub quantiles: Vec<(f64, Vec<f64>)>,
}

impl Forecast {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.point.len()
    }

    /// True when the forecast has no steps.
    pub fn is_empty(&self) -> bool {
        self.point.is_empty()
    }

    /// Unix seconds of step `i` (0-based; step 0 is one step after the last observation).
    pub fn timestamp(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// Values at quantile level `q`, if it was requested.
    pub fn quantile(&self, q: f64) -> Option<&[f64]> {
        self.quantiles
            .iter()
            .find(|(l, _)| (l - q).abs() < 1e-9)
            .map(|(_, v)| v.as_slice())
    }

    /// Enforce the invariants every consumer relies on: finite values, quantiles
    /// non-decreasing in the level with the point between the outermost quantiles around
    /// 0.5, and nothing below `floor` (use `Some(0.0)` for non-negative data).
    pub fn sanitize(&mut self, floor: Option<f64>) {
        let clamp = |v: f64| {
            let v = if v.is_finite() { v } else { 0.0 };
            match floor {
                Some(f) => v.max(f),
                None => v,
            }
        };
        for p in &mut self.point {
            *p = clamp(*p);
        }
        self.quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, vals) in &mut self.quantiles {
            for v in vals.iter_mut() {
                *v = clamp(*v);
            }
        }
        for i in 0..self.point.len() {
            let p = self.point[i];
            // Quantiles below the median never exceed the point, those above never fall under it.
            let mut prev = f64::NEG_INFINITY;
            for (level, vals) in &mut self.quantiles {
                let mut v = vals[i];
                if *level <= 0.5 {
                    v = v.min(p);
                } else {
                    v = v.max(p);
                }
                v = v.max(prev);
                vals[i] = v;
                prev = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_orders_quantiles_around_the_point_and_floors() {
        let mut f = Forecast {
            start: 0,
            step: 60,
            point: vec![5.0, -1.0, f64::NAN],
            quantiles: vec![(0.9, vec![4.0, 2.0, 1.0]), (0.1, vec![6.0, -3.0, 0.5])],
        };
        f.sanitize(Some(0.0));
        assert_eq!(f.point, vec![5.0, 0.0, 0.0]);
        assert_eq!(f.quantile(0.1).unwrap(), &[5.0, 0.0, 0.0]);
        assert_eq!(f.quantile(0.9).unwrap(), &[5.0, 2.0, 1.0]);
    }
}
