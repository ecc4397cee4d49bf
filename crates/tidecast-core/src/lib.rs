#![doc = include_str!("../README.md")]

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
    use super::format_timestamp;

    #[test]
    fn rfc3339_dates_are_right() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_790_834_400), "2026-10-01T06:00:00Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
    }
}
