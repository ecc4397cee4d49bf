//! Property tests: whatever the (non-negative, gappy, noisy) history, every model's
//! forecast is finite, non-negative, and ordered lower <= point <= upper.

use proptest::prelude::*;
use std::sync::Arc;
use tidecast_core::{Calendar, Series};
use tidecast_models::{Forecaster, ModelKind};

fn series(
    days: usize,
    step: i64,
    amp: f64,
    noise: &[f64],
    gap_at: usize,
    gap_len: usize,
) -> Series {
    let n = days * 86_400 / step as usize;
    let values = (0..n)
        .map(|i| {
            if i >= gap_at && i < gap_at + gap_len {
                return f64::NAN;
            }
            let h = ((i as i64 * step) % 86_400) as f64 / 3600.0;
            let tide = (-((h - 19.0) / 2.0).powi(2)).exp();
            (10.0 + amp * tide) * (1.0 + noise[i % noise.len()])
        })
        .collect();
    Series::new(1_790_000_000 - 1_790_000_000 % 86_400, step, values).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn forecasts_are_finite_ordered_and_non_negative(
        days in 2usize..20,
        step in prop::sample::select(vec![60i64, 300, 900, 1800]),
        amp in 0.0f64..5000.0,
        noise in prop::collection::vec(-0.9f64..2.0, 1..50),
        gap_at in 0usize..2000,
        gap_len in 0usize..500,
        model in prop::sample::select(vec![ModelKind::Tidal, ModelKind::SeasonalNaiveDay]),
        tz in prop::sample::select(vec!["UTC", "Asia/Shanghai", "America/New_York"]),
    ) {
        let s = series(days, step, amp, &noise, gap_at, gap_len);
        let cal = Calendar::new(Calendar::parse_zone(tz).unwrap());
        let f = Forecaster::new(Arc::new(cal)).model(model).quantiles(&[0.1, 0.5, 0.9]);
        let steps = (7200 / step) as usize;
        match f.forecast(&s, steps) {
            Ok(fc) => {
                prop_assert_eq!(fc.len(), steps);
                let lo = fc.quantile(0.1).unwrap();
                let mid = fc.quantile(0.5).unwrap();
                let hi = fc.quantile(0.9).unwrap();
                for i in 0..steps {
                    for v in [lo[i], fc.point[i], mid[i], hi[i]] {
                        prop_assert!(v.is_finite() && v >= 0.0, "step {}: {}", i, v);
                    }
                    prop_assert!(lo[i] <= fc.point[i] && fc.point[i] <= hi[i]);
                    prop_assert!(lo[i] <= mid[i] && mid[i] <= hi[i]);
                }
            }
            // Short or gap-riddled windows may not hold enough data; that must be an error
            // that says so, never a bogus forecast.
            Err(e) => prop_assert!(e.to_string().contains("not enough data"), "{}", e),
        }
    }
}

#[test]
fn a_long_gap_is_never_filled_with_invented_data() {
    // A day with a 6-hour outage at the peak: the model must not learn a zero peak from it.
    let noise = [0.0, 0.01, -0.01];
    let s = series(15, 300, 1000.0, &noise, 14 * 288 + 16 * 12, 6 * 12);
    let f = Forecaster::new(Arc::default()).forecast(&s, 288).unwrap();
    let peak = f.point.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 800.0, "the peak survives the outage: {peak}");
}
