//! A deterministic synthetic tide, shaped after the smart-TV platform's load: peaks at
//! 06:00-07:15 and 17:00-22:00 local time, near idle otherwise, quieter mornings and
//! stronger evenings at weekends. Used by `tidecast demo`, test fixtures and benchmarks;
//! never for accuracy claims.

use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;

/// Parameters of one synthetic service.
#[derive(Debug, Clone)]
#[must_use]
pub struct TidalGenerator {
    tz: Tz,
    idle: f64,
    peak: f64,
    noise: f64,
    growth_per_day: f64,
    seed: u64,
    epoch: i64,
}

impl TidalGenerator {
    /// A service idling at `idle` and peaking at `peak` in `tz`, with 3 % noise.
    pub fn new(tz: Tz, idle: f64, peak: f64, seed: u64) -> Self {
        Self {
            tz,
            idle,
            peak,
            noise: 0.03,
            growth_per_day: 0.0,
            seed,
            epoch: 0,
        }
    }

    /// Relative noise amplitude (0.03 = ±3 %).
    pub fn noise(mut self, n: f64) -> Self {
        self.noise = n;
        self
    }

    /// Compound growth per day from `epoch` (Unix seconds), e.g. 0.004 for 0.4 %/day.
    pub fn growth(mut self, per_day: f64, epoch: i64) -> Self {
        self.growth_per_day = per_day;
        self.epoch = epoch;
        self
    }

    /// The noise-free tide at Unix second `t`.
    pub fn expected(&self, t: i64) -> f64 {
        use chrono::{Offset, TimeZone};
        let utc = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        let off = self
            .tz
            .offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc();
        let local = chrono::DateTime::from_timestamp(t + i64::from(off), 0)
            .unwrap_or_default()
            .naive_utc();
        let h = f64::from(local.time().num_seconds_from_midnight()) / crate::SECS_PER_HOUR as f64;
        let weekend = matches!(local.date().weekday(), Weekday::Sat | Weekday::Sun);
        let plateau = |h: f64, up: f64, down: f64, ramp: f64| {
            let rise = 1.0 / (1.0 + (-(h - up) / ramp).exp());
            let fall = 1.0 / (1.0 + ((h - down) / ramp).exp());
            rise * fall
        };
        let morning = plateau(h, 5.95, 7.25, 0.06) * if weekend { 0.6 } else { 0.85 };
        let evening = plateau(h, 16.95, 22.05, 0.08) * if weekend { 1.1 } else { 1.0 };
        let growth =
            (1.0 + self.growth_per_day).powf((t - self.epoch) as f64 / crate::SECS_PER_DAY as f64);
        (self.idle + (self.peak - self.idle) * (morning + evening).min(1.2)) * growth
    }

    /// The observed value at Unix second `t`: the tide with deterministic noise, rounded
    /// to a whole number of connections.
    pub fn value(&self, t: i64) -> f64 {
        let u = hash01(self.seed, t) - 0.5;
        (self.expected(t) * (1.0 + 2.0 * self.noise * u))
            .max(0.0)
            .round()
    }
}

/// A uniform number in [0, 1) from a seed and a time (SplitMix64).
fn hash01(seed: u64, t: i64) -> f64 {
    let mut z = seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tide_peaks_in_the_shanghai_evening_and_idles_at_night() {
        let g = TidalGenerator::new(Tz::Asia__Shanghai, 50.0, 1000.0, 1);
        // 2026-10-20 (a Tuesday): 19:00 and 03:00 local are 11:00 and 19:00 UTC the day before.
        let evening = g.expected(1_792_494_000); // 2026-10-20T11:00:00Z
        let night = g.expected(1_792_465_200); // 2026-10-20T03:00:00Z = 11:00 local
        let small_hours = g.expected(1_792_436_400); // 2026-10-19T19:00:00Z = 03:00 local
        assert!(evening > 950.0, "{evening}");
        assert!(small_hours < 60.0, "{small_hours}");
        assert!(night < 60.0, "{night}");
        assert_eq!(
            g.value(1_792_494_000),
            g.value(1_792_494_000),
            "deterministic"
        );
    }
}
