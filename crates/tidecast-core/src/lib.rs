#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod calendar;
mod duration;
mod error;
mod forecast;
mod model;
mod series;
pub mod synth;

pub use calendar::{
    Calendar, CalendarError, DayType, LocalTime, MAX_DAY_BACK, ZoneError, days_back, same_kind_back,
};
pub use duration::{
    DEFAULT_WINDOW_SECS, SECS_PER_DAY, SECS_PER_HOUR, SECS_PER_MINUTE, SECS_PER_WEEK,
    format_duration, parse_duration, parse_timestamp,
};
pub use error::{Error, Result};
pub use forecast::Forecast;
pub use model::{Fit, Predict};
pub use series::{Sample, Series, SeriesBuilder, infer_step};

/// A number as a person reads it on an axis or in a table: four significant digits at
/// most, thousands as `k` and millions as `M` (`51234` is `51.23k`, `0.012345` is `0.01235`).
pub fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = if scaled == 0.0 {
        0
    } else {
        (3 - scaled.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// Format Unix seconds as RFC 3339 UTC (`2026-10-01T06:00:00Z`), the format of every file
/// tidecast writes.
pub fn format_timestamp(unix_seconds: i64) -> String {
    match chrono::DateTime::from_timestamp(unix_seconds, 0) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => unix_seconds.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{format_number, format_timestamp};

    #[test]
    fn rfc3339_dates_are_right() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_790_834_400), "2026-10-01T06:00:00Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(format_number(51234.0), "51.23k");
        assert_eq!(format_number(50000.0), "50k");
        assert_eq!(format_number(775.5288), "775.5");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.012345), "0.01235");
        assert_eq!(format_number(-1500.0), "-1500");
        assert_eq!(format_number(2.5e6), "2.5M");
        assert_eq!(format_number(f64::NAN), "-");
    }
}
