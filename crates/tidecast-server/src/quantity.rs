//! Kubernetes `resource.Quantity` strings for metric values.

/// The largest milli-value a Quantity (int64) can hold.
const MAX_MILLI: f64 = 9.2e18;

/// The canonical DecimalSI string of `x` rounded up to milli-units, as Go's
/// `resource.NewMilliQuantity(m, DecimalSI).String()` prints it (`1.5` -> `1500m`,
/// `15000` -> `15k`). `None` for NaN, infinities and negatives: those must never reach an
/// HPA.
pub fn milli_quantity(x: f64) -> Option<String> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let m = (x * 1000.0).ceil().min(MAX_MILLI) as i64;
    Some(canonical_milli(m))
}

fn canonical_milli(m: i64) -> String {
    if m == 0 {
        return "0".into();
    }
    let (mut n, mut e) = (m, -3i32);
    while n % 1000 == 0 && e < 18 {
        n /= 1000;
        e += 3;
    }
    let suffix = match e {
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_apimachinery() {
        for (x, s) in [
            (1.5, "1500m"),
            (2.0, "2"),
            (1500.0, "1500"),
            (15000.0, "15k"),
            (0.25, "250m"),
            (1e6, "1M"),
            (0.0, "0"),
            (0.0001, "1m"),
            (1.0005, "1001m"),
        ] {
            assert_eq!(milli_quantity(x).as_deref(), Some(s), "{x}");
        }
    }

    #[test]
    fn nan_infinity_and_negatives_are_refused() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            assert_eq!(milli_quantity(x), None);
        }
        assert!(
            milli_quantity(1e300).is_some(),
            "huge values are capped, not overflowed"
        );
    }
}
