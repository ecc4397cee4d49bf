//! The long-lived series a served model keeps (the tidal profile, the lag buffer, the
//! decomposition's last cycles) as 16-bit codes of one power-of-two scale: half the memory
//! of f32, a server holds one per target. A value is off by at most half a code,
//! `scale / 65,534` (1.5e-5 of the largest value kept), far below any forecast's error; f16
//! would be off by up to 2.4e-4 of each value, 16 times more at the peaks a forecast is
//! read at.
//!
//! [`Values`] reads numbers by index from a slice or a [`Packed`] series alike.

use serde::{Deserialize, Serialize};

/// A series read by index; `None` past its end, NaN where a point is missing.
pub(crate) trait Values {
    fn len(&self) -> usize;
    fn value(&self, i: usize) -> Option<f64>;
}

impl<V: Copy + Into<f64>> Values for [V] {
    fn len(&self) -> usize {
        <[V]>::len(self)
    }
    #[inline]
    fn value(&self, i: usize) -> Option<f64> {
        self.get(i).map(|v| (*v).into())
    }
}

impl<V: Copy + Into<f64>, const N: usize> Values for [V; N] {
    fn len(&self) -> usize {
        N
    }
    #[inline]
    fn value(&self, i: usize) -> Option<f64> {
        self.get(i).map(|v| (*v).into())
    }
}

impl<V: Copy + Into<f64>> Values for Vec<V> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    #[inline]
    fn value(&self, i: usize) -> Option<f64> {
        self.get(i).map(|v| (*v).into())
    }
}

/// The largest code: values are `code / CODE_MAX * 2^exp`.
const CODE_MAX: i16 = i16::MAX;
/// The code of a missing point.
const MISSING: i16 = i16::MIN;
/// Bounds of the scale's exponent (f64's normal range).
const EXP_MIN: i32 = -1021;
const EXP_MAX: i32 = 1023;

/// Values as 16-bit codes of a shared scale `2^exp`. The scale grows (halving the codes
/// held) when a larger value arrives, so the same values pushed in the same order give the
/// same codes: a restored model forecasts exactly as the one that was saved.
#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct Packed {
    exp: i32,
    codes: Vec<i16>,
    /// `2^exp / CODE_MAX`, derived from `exp`.
    #[serde(skip)]
    unit: f64,
}

impl Packed {
    /// The values (NaN for missing ones) with room for `capacity` in all.
    pub(crate) fn from_values(values: impl IntoIterator<Item = f64>, capacity: usize) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let largest = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let mut p = Packed::empty(exp_for(largest), capacity.max(values.len()));
        for v in values {
            p.push(v);
        }
        p
    }

    fn empty(exp: i32, capacity: usize) -> Self {
        Packed {
            exp,
            codes: Vec::with_capacity(capacity),
            unit: unit(exp),
        }
    }

    /// Append `v` (non-finite: missing), growing the scale first if `v` is beyond it.
    pub(crate) fn push(&mut self, v: f64) {
        if !v.is_finite() {
            self.codes.push(MISSING);
            return;
        }
        let needed = exp_for(v.abs());
        if needed > self.exp {
            self.rescale(needed);
        }
        let code = (v / self.unit)
            .round()
            .clamp(-f64::from(CODE_MAX), f64::from(CODE_MAX));
        self.codes.push(code as i16);
    }

    /// Re-express every code at the larger scale `2^exp`.
    fn rescale(&mut self, exp: i32) {
        let shift = exp - self.exp;
        for c in self.codes.iter_mut().filter(|c| **c != MISSING) {
            *c = if shift >= 16 {
                0
            } else {
                (f64::from(*c) / f64::from(1u32 << shift)).round() as i16
            };
        }
        self.exp = exp;
        self.unit = unit(exp);
    }

    /// Drop the first `n` values.
    pub(crate) fn drop_front(&mut self, n: usize) {
        self.codes.drain(..n.min(self.codes.len()));
    }

    pub(crate) fn capacity(&self) -> usize {
        self.codes.capacity()
    }

    /// Make room for `additional` more values, exactly.
    pub(crate) fn reserve_exact(&mut self, additional: usize) {
        self.codes.reserve_exact(additional);
    }
}

/// A clone keeps the room of the original: a copy of a served model does not reallocate
/// its buffer at its first update.
impl Clone for Packed {
    fn clone(&self) -> Self {
        let mut codes = Vec::with_capacity(self.codes.capacity());
        codes.extend_from_slice(&self.codes);
        Packed {
            exp: self.exp,
            codes,
            unit: self.unit,
        }
    }
}

impl Values for Packed {
    fn len(&self) -> usize {
        self.codes.len()
    }
    #[inline]
    fn value(&self, i: usize) -> Option<f64> {
        let c = *self.codes.get(i)?;
        Some(if c == MISSING {
            f64::NAN
        } else {
            f64::from(c) * self.unit
        })
    }
}

/// The smallest exponent whose power of two is at least `largest` (a non-negative number).
fn exp_for(largest: f64) -> i32 {
    if largest <= 0.0 || !largest.is_finite() {
        return EXP_MIN;
    }
    (largest.log2().ceil() as i32).clamp(EXP_MIN, EXP_MAX)
}

fn unit(exp: i32) -> f64 {
    2f64.powi(exp) / f64::from(CODE_MAX)
}

/// What an artifact holds: the codes, or (written before packing) the plain f32 values,
/// packed on reading.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Packed { exp: i32, codes: Vec<i16> },
    Plain(Vec<f32>),
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Packed { exp, codes } => {
                if !(EXP_MIN..=EXP_MAX).contains(&exp) {
                    return Err(serde::de::Error::custom(format!(
                        "packed series scale 2^{exp} is outside 2^{EXP_MIN}..2^{EXP_MAX}"
                    )));
                }
                Ok(Packed {
                    exp,
                    codes,
                    unit: unit(exp),
                })
            }
            Stored::Plain(values) => {
                let n = values.len();
                Ok(Packed::from_values(values.into_iter().map(f64::from), n))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(p: &Packed) -> Vec<f64> {
        (0..p.len()).map(|i| p.value(i).unwrap()).collect()
    }

    #[test]
    fn packed_values_are_within_half_a_code_of_the_originals() {
        let values: Vec<f64> = (0..500).map(|i| 1000.0 * (i as f64 / 40.0).sin()).collect();
        let p = Packed::from_values(values.iter().copied(), 0);
        // Scale 1,024: half a code is 1024 / 65,534.
        for (a, b) in all(&p).iter().zip(&values) {
            assert!((a - b).abs() <= 1024.0 / 65_534.0, "{a} against {b}");
        }
    }

    #[test]
    fn a_clone_keeps_the_room_of_the_original() {
        let p = Packed::from_values([1.0, 2.0], 100);
        let c = p.clone();
        assert_eq!(c, p);
        assert!(c.capacity() >= 100, "capacity {}", c.capacity());
    }

    #[test]
    fn missing_points_stay_missing_and_zero_stays_exact() {
        let p = Packed::from_values([0.0, f64::NAN, 3.5, f64::INFINITY], 0);
        let v = all(&p);
        assert_eq!(v[0], 0.0);
        assert!(v[1].is_nan() && v[3].is_nan());
        assert!((v[2] - 3.5).abs() <= 4.0 / 65_534.0);
        assert_eq!(p.value(4), None);
    }

    #[test]
    fn a_larger_value_grows_the_scale_and_keeps_the_older_values_close() {
        let mut p = Packed::from_values([0.3, -0.7, 1.0], 0);
        p.push(5000.0);
        let v = all(&p);
        for (a, b) in v.iter().zip([0.3, -0.7, 1.0, 5000.0]) {
            assert!((a - b).abs() <= 8192.0 / 32_767.0, "{a} against {b}");
        }
        // Tiny and huge magnitudes stay within the exponent's bounds.
        let mut q = Packed::from_values([1e-300], 0);
        q.push(1e300);
        assert!((q.value(1).unwrap() - 1e300).abs() < 1e296);
    }

    #[test]
    fn the_same_pushes_give_the_same_codes_after_a_serde_round_trip() {
        let mut p = Packed::from_values((0..100).map(|i| i as f64 * 0.37), 200);
        let json = serde_json::to_string(&p).unwrap();
        let mut q: Packed = serde_json::from_str(&json).unwrap();
        assert_eq!(p, q);
        for v in [12.0, 900.0, f64::NAN, -3.0] {
            p.push(v);
            q.push(v);
        }
        assert_eq!(p, q);
        p.drop_front(10);
        assert_eq!(p.len(), 94);
    }

    #[test]
    fn plain_f32_values_of_an_older_artifact_are_packed_on_reading() {
        let q: Packed = serde_json::from_str("[1.5, 2.0, -4.0]").unwrap();
        tidecast_testing::assert_all_close(&all(&q), &[1.5, 2.0, -4.0], 0.0, 4.0 / 65_534.0);
        let bad = serde_json::from_str::<Packed>(r#"{"exp": 5000, "codes": [1]}"#);
        assert!(bad.unwrap_err().to_string().contains("outside"));
    }
}
