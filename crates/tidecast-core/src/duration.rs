use crate::{Error, Result};
use chrono::DateTime;

/// Seconds in a minute.
pub const SECS_PER_MINUTE: i64 = 60;
/// Seconds in an hour.
pub const SECS_PER_HOUR: i64 = 60 * SECS_PER_MINUTE;
/// Seconds in a day on the UTC grid (local days may be 23 or 25 hours; see [`crate::Calendar`]).
pub const SECS_PER_DAY: i64 = 24 * SECS_PER_HOUR;
/// Seconds in a week.
pub const SECS_PER_WEEK: i64 = 7 * SECS_PER_DAY;
/// The history a fit learns from by default: the newest 42 days (six of each weekday). One
/// constant so `forecast`, `backtest` and `serve` default to the model the accuracy figures
/// measure.
pub const DEFAULT_WINDOW_SECS: i64 = 42 * SECS_PER_DAY;

/// Parse a duration such as `90s`, `15m`, `1h`, `7d`, `2w` or `1h30m` into whole seconds.
pub fn parse_duration(input: &str) -> Result<i64> {
    let err = |reason| Error::Duration {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut saw_unit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => SECS_PER_MINUTE,
            'h' => SECS_PER_HOUR,
            'd' => SECS_PER_DAY,
            'w' => SECS_PER_WEEK,
            _ => return Err(err("unknown unit (use s, m, h, d or w)")),
        };
        if num.is_empty() {
            return Err(err("a unit without a number"));
        }
        let n: i64 = num.parse().map_err(|_| err("number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("too large"))?;
        num.clear();
        saw_unit = true;
    }
    if !num.is_empty() {
        return Err(err("a number without a unit"));
    }
    if !saw_unit || total <= 0 {
        return Err(err("must be positive"));
    }
    Ok(total)
}

/// Format whole seconds in the largest exact unit (`3600` -> `1h`).
pub fn format_duration(seconds: i64) -> String {
    for (unit, n) in [
        ("w", SECS_PER_WEEK),
        ("d", SECS_PER_DAY),
        ("h", SECS_PER_HOUR),
        ("m", SECS_PER_MINUTE),
    ] {
        if seconds != 0 && seconds % n == 0 {
            return format!("{}{unit}", seconds / n);
        }
    }
    format!("{seconds}s")
}

/// Parse a timestamp: RFC 3339 with any offset, or Unix seconds (integer or fractional).
/// Returns Unix seconds as a float so fractional inputs keep their precision.
pub fn parse_timestamp(input: &str) -> Result<f64> {
    let s = input.trim();
    if let Ok(v) = s.parse::<f64>()
        && v.is_finite()
    {
        return Ok(v);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9);
    }
    // Accept a space instead of `T`, as many exporters write it.
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        let fixed = format!("{}T{}", &s[..10], &s[11..]);
        if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
            return Ok(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) * 1e-9);
        }
    }
    Err(Error::Timestamp {
        input: input.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit_parse() {
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("15m").unwrap(), 900);
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("2w").unwrap(), 1_209_600);
    }

    #[test]
    fn bad_durations_are_rejected_with_a_reason() {
        for bad in ["", "15", "m", "5x", "0m", "-5m", "99999999999999999999d"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("invalid duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        assert_eq!(format_duration(3600), "1h");
        assert_eq!(format_duration(5400), "90m");
        assert_eq!(format_duration(90), "90s");
        assert_eq!(format_duration(86_400 * 14), "2w");
    }

    #[test]
    fn timestamps_parse_in_all_accepted_forms() {
        assert_eq!(
            parse_timestamp("2026-10-01T06:00:00Z").unwrap(),
            1_790_834_400.0
        );
        assert_eq!(
            parse_timestamp("2026-10-01T14:00:00+08:00").unwrap(),
            1_790_834_400.0
        );
        assert_eq!(
            parse_timestamp("2026-10-01 06:00:00Z").unwrap(),
            1_790_834_400.0
        );
        assert_eq!(parse_timestamp("1790834400").unwrap(), 1_790_834_400.0);
        assert_eq!(parse_timestamp("1790834400.5").unwrap(), 1_790_834_400.5);
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("NaN").is_err());
    }
}
