//! The local tidal calendar: wall-clock time in an IANA zone and day types.
//!
//! Holiday/event files are plain text, one entry per line:
//!
//! ```text
//! # date or range,kind,name (optional)
//! 2026-10-01..2026-10-07,holiday,National Day
//! 2026-10-10,workday,Make-up workday for National Day
//! 2026-11-11,event,Singles' Day
//! ```
//!
//! `kind` is `holiday` (a day off on a weekday), `workday` (a make-up workday on a weekend)
//! or `event` (an ordinary day with unusual load; models may use it as a flag). Blank lines
//! and lines starting with `#` are ignored.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;
use std::collections::HashMap;

/// What kind of day a local date is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayType {
    /// Monday to Friday, not a holiday.
    Workday,
    /// Saturday or Sunday, not a make-up workday.
    Weekend,
    /// A public holiday (from the calendar file).
    Holiday,
    /// A weekend day worked to make up for a holiday (from the calendar file).
    MakeupWorkday,
}

impl DayType {
    /// True for days people work (workdays and make-up workdays).
    pub fn is_working(self) -> bool {
        matches!(self, DayType::Workday | DayType::MakeupWorkday)
    }
}

/// Wall-clock facts about one instant in the calendar's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The local date.
    pub date: NaiveDate,
    /// Seconds since local midnight on the wall clock (0..86_400).
    pub second_of_day: u32,
    /// The local weekday.
    pub weekday: Weekday,
    /// Day type after applying the holiday file.
    pub day_type: DayType,
    /// The date carries an `event` entry.
    pub event: bool,
}

/// An error in a holiday/event calendar file.
#[derive(Debug, thiserror::Error)]
#[error("calendar line {line}: {reason}")]
pub struct CalendarError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A time zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {name:?} (expected an IANA name such as Asia/Shanghai)")]
pub struct ZoneError {
    /// The name given.
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct DayEntry {
    kind: Option<DayType>,
    event: bool,
}

/// A time zone plus optional holiday, make-up workday and event dates.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Calendar {
    tz: Tz,
    days: HashMap<NaiveDate, DayEntry>,
}

impl Default for Calendar {
    fn default() -> Self {
        Self::new(Tz::UTC)
    }
}

impl Calendar {
    /// A calendar in `tz` with no holidays.
    pub fn new(tz: Tz) -> Self {
        Self {
            tz,
            days: HashMap::new(),
        }
    }

    /// Parse an IANA zone name such as `Asia/Shanghai`.
    pub fn parse_zone(name: &str) -> Result<Tz, ZoneError> {
        name.parse::<Tz>().map_err(|_| ZoneError {
            name: name.to_string(),
        })
    }

    /// Add the entries of a holiday/event file (format in the module docs).
    pub fn with_holidays(mut self, text: &str) -> Result<Self, CalendarError> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let err = |reason: String| CalendarError { line, reason };
            let mut parts = l.splitn(3, ',').map(str::trim);
            let dates = parts.next().unwrap_or_default();
            let kind = parts
                .next()
                .ok_or_else(|| err("expected `date,kind[,name]`".into()))?;
            let (from, to) = match dates.split_once("..") {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (dates, dates),
            };
            let parse = |s: &str| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| err(format!("invalid date {s:?} (expected YYYY-MM-DD)")))
            };
            let (from, to) = (parse(from)?, parse(to)?);
            if to < from {
                return Err(err(format!("range ends before it starts: {dates}")));
            }
            if (to - from).num_days() > 366 {
                return Err(err(format!("range longer than a year: {dates}")));
            }
            let mut d = from;
            while d <= to {
                let e = self.days.entry(d).or_default();
                match kind {
                    "holiday" => e.kind = Some(DayType::Holiday),
                    "workday" => e.kind = Some(DayType::MakeupWorkday),
                    "event" => e.event = true,
                    other => {
                        return Err(err(format!(
                            "unknown kind {other:?} (expected holiday, workday or event)"
                        )));
                    }
                }
                d = d.succ_opt().expect("date in range");
            }
        }
        Ok(self)
    }

    /// The calendar's zone.
    pub fn zone(&self) -> Tz {
        self.tz
    }

    /// Number of dates with an entry.
    pub fn entries(&self) -> usize {
        self.days.len()
    }

    /// The day type of a local date.
    pub fn day_type(&self, date: NaiveDate) -> DayType {
        if let Some(DayEntry { kind: Some(k), .. }) = self.days.get(&date) {
            return *k;
        }
        match date.weekday() {
            Weekday::Sat | Weekday::Sun => DayType::Weekend,
            _ => DayType::Workday,
        }
    }

    /// Local facts about Unix second `t`.
    pub fn local_time(&self, t: i64) -> LocalTime {
        let utc = DateTime::from_timestamp(t, 0).unwrap_or_default();
        let offset = self.tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
        self.local_with_offset(t, offset.local_minus_utc())
    }

    fn local_with_offset(&self, t: i64, offset: i32) -> LocalTime {
        let local = DateTime::from_timestamp(t + i64::from(offset), 0)
            .unwrap_or_default()
            .naive_utc();
        let date = local.date();
        let entry = self.days.get(&date).copied().unwrap_or_default();
        LocalTime {
            date,
            second_of_day: local.num_seconds_from_midnight(),
            weekday: date.weekday(),
            day_type: self.day_type(date),
            event: entry.event,
        }
    }

    /// Local facts for the grid `start + i * step`, `i < n`. Equal to calling
    /// [`Calendar::local_time`] for each point, but looks the zone offset up only once per
    /// 15 UTC minutes (no zone changes its offset off a quarter hour).
    pub fn local_times(&self, start: i64, step: i64, n: usize) -> Vec<LocalTime> {
        let mut out = Vec::with_capacity(n);
        let mut cached_block = i64::MIN;
        let mut offset = 0;
        for i in 0..n {
            let t = start + i as i64 * step;
            let block = t.div_euclid(900);
            if block != cached_block {
                let utc = DateTime::from_timestamp(block * 900, 0).unwrap_or_default();
                offset = self
                    .tz
                    .offset_from_utc_datetime(&utc.naive_utc())
                    .fix()
                    .local_minus_utc();
                cached_block = block;
            }
            out.push(self.local_with_offset(t, offset));
        }
        out
    }
}

/// The farthest a lag looks back for a day of the same kind: 9 days, so the day after a
/// week-long holiday (China's National Day, 1-7 October) looks back to the working day before
/// it (8 days back); with none in reach it looks at yesterday.
pub const MAX_DAY_BACK: usize = 9;

/// The days back (1..=[`MAX_DAY_BACK`]) to the nearest earlier day of the kind `working`,
/// where `working_back(k)` is the kind `k` days back (`None` before the data); 1 where none
/// is in reach. The one rule behind [`days_back`] and a served forecast's daily lags.
pub fn same_kind_back(working: bool, working_back: impl Fn(usize) -> Option<bool>) -> usize {
    (1..=MAX_DAY_BACK)
        .find(|k| working_back(*k) == Some(working))
        .unwrap_or(1)
}

/// For each index of a grid with `day` points a day, the days back (1..=[`MAX_DAY_BACK`]) to
/// the nearest earlier index at the same time of day on a day of the same kind (`working`
/// or not); 1 where none is in reach.
pub fn days_back(working: &[bool], day: usize) -> Vec<u8> {
    (0..working.len())
        .map(|j| same_kind_back(working[j], |k| j.checked_sub(k * day).map(|i| working[i])) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn shanghai_local_time_is_utc_plus_eight() {
        let cal = Calendar::new(Calendar::parse_zone("Asia/Shanghai").unwrap());
        let l = cal.local_time(ts("2026-10-01T09:00:00Z"));
        assert_eq!(l.second_of_day, 17 * 3600);
        assert_eq!(l.date, NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
    }

    #[test]
    fn local_time_is_right_across_a_spring_forward_day() {
        // Europe/London springs forward at 01:00 UTC on 2026-03-29.
        let cal = Calendar::new(Calendar::parse_zone("Europe/London").unwrap());
        assert_eq!(
            cal.local_time(ts("2026-03-29T00:30:00Z")).second_of_day,
            1800
        );
        assert_eq!(
            cal.local_time(ts("2026-03-29T01:30:00Z")).second_of_day,
            2 * 3600 + 1800
        );
        // 17:00 local is 16:00 UTC after the change.
        assert_eq!(
            cal.local_time(ts("2026-03-29T16:00:00Z")).second_of_day,
            17 * 3600
        );
    }

    #[test]
    fn local_time_is_right_across_a_fall_back_day() {
        // New York falls back at 06:00 UTC on 2026-11-01: 01:30 local happens twice.
        let cal = Calendar::new(Calendar::parse_zone("America/New_York").unwrap());
        let a = cal.local_time(ts("2026-11-01T05:30:00Z"));
        let b = cal.local_time(ts("2026-11-01T06:30:00Z"));
        assert_eq!(a.second_of_day, 3600 + 1800);
        assert_eq!(b.second_of_day, 3600 + 1800);
        assert_eq!(
            cal.local_time(ts("2026-11-01T22:00:00Z")).second_of_day,
            17 * 3600
        );
    }

    #[test]
    fn the_batched_lookup_equals_the_single_one_across_dst() {
        let cal = Calendar::new(Calendar::parse_zone("America/New_York").unwrap());
        let start = ts("2026-10-31T00:00:00Z");
        let batch = cal.local_times(start, 300, 2000);
        for (i, l) in batch.iter().enumerate() {
            assert_eq!(*l, cal.local_time(start + i as i64 * 300), "point {i}");
        }
    }

    #[test]
    fn holidays_and_makeup_workdays_override_the_weekday() {
        let cal = Calendar::new(Tz::Asia__Shanghai)
            .with_holidays(
                "# National Day\n2026-10-01..2026-10-07,holiday,National Day\n\
                 2026-10-10,workday,make-up\n2026-11-11,event,Singles' Day\n",
            )
            .unwrap();
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(cal.day_type(d("2026-10-01")), DayType::Holiday);
        assert_eq!(cal.day_type(d("2026-10-07")), DayType::Holiday);
        assert_eq!(cal.day_type(d("2026-10-08")), DayType::Workday);
        assert_eq!(cal.day_type(d("2026-10-10")), DayType::MakeupWorkday);
        assert_eq!(cal.day_type(d("2026-10-11")), DayType::Weekend);
        assert_eq!(cal.day_type(d("2026-11-11")), DayType::Workday);
        assert!(cal.local_time(ts("2026-11-11T04:00:00Z")).event);
    }

    #[test]
    fn bad_calendar_lines_name_the_line() {
        let e = Calendar::default()
            .with_holidays("2026-10-01,holiday\n2026-13-01,holiday\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("2026-13-01"));
        let e = Calendar::default()
            .with_holidays("2026-10-01,vacation")
            .unwrap_err();
        assert!(e.to_string().contains("unknown kind"));
    }

    #[test]
    fn unknown_zones_are_rejected_by_name() {
        let e = Calendar::parse_zone("Mars/Olympus").unwrap_err();
        assert_eq!(e.name, "Mars/Olympus");
        assert!(e.to_string().contains("\"Mars/Olympus\""), "{e}");
    }
}
