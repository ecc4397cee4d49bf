//! Seasonal profiles by local time of day and day class.

use crate::packed::{Packed, Values};
use tidecast_core::{DayType, LocalTime, SECS_PER_DAY, SECS_PER_HOUR, SECS_PER_MINUTE};

/// How days are grouped into profile classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ProfileKind {
    /// Two classes: working days (workdays, make-up workdays) and rest days (weekends,
    /// holidays).
    Daily,
    /// Seven classes, one per weekday; holidays count as Sundays and make-up workdays as
    /// Mondays.
    Weekly,
}

impl ProfileKind {
    fn classes(self) -> usize {
        match self {
            ProfileKind::Daily => 2,
            ProfileKind::Weekly => 7,
        }
    }

    fn class(self, l: &LocalTime) -> usize {
        match self {
            ProfileKind::Daily => usize::from(!l.day_type.is_working()),
            ProfileKind::Weekly => match l.day_type {
                DayType::Holiday => 6,
                DayType::MakeupWorkday => 0,
                _ => l.weekday.num_days_from_monday() as usize,
            },
        }
    }

    /// Name used in logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Daily => "daily",
            ProfileKind::Weekly => "weekly",
        }
    }
}

/// A robust seasonal profile: the median of the observations in each (day class, slot of
/// the local day) bucket, lightly smoothed, read back with linear interpolation between
/// bucket centres.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Profile {
    kind: ProfileKind,
    slot_secs: u32,
    slots: usize,
    /// Mean offset of observations inside their slot: where a bucket's median "sits".
    centre: f64,
    /// 16-bit codes ([`Packed`]): a serving process holds one profile per target, and
    /// thousands of targets.
    values: Packed,
}

/// Values a profile bucket needs for its own median; with fewer (a day class seen on one
/// or two days, at steps of 5 minutes or more) the median pools the neighbouring slots too,
/// so one glitch on one of two Saturdays does not become half of every Saturday's profile.
const MIN_BUCKET: usize = 3;

/// Profile slots are at least 5 minutes wide: finer buckets only add noise and memory.
const MIN_SLOT_SECS: i64 = 5 * SECS_PER_MINUTE;

impl Profile {
    /// Estimate from grid values (`NaN` = missing) and their local times. `None` when no
    /// observation is present at all.
    pub(crate) fn estimate(
        kind: ProfileKind,
        step: i64,
        values: &[f64],
        locals: &[LocalTime],
        smooth: usize,
    ) -> Option<Profile> {
        let slot_secs = step.clamp(MIN_SLOT_SECS, SECS_PER_HOUR) as u32;
        let slots = (SECS_PER_DAY as usize).div_ceil(slot_secs as usize);
        let classes = kind.classes();
        let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); classes * slots];
        let (mut offset_sum, mut offset_n) = (0.0, 0usize);
        for (v, l) in values.iter().zip(locals) {
            if v.is_nan() {
                continue;
            }
            let slot = (l.second_of_day / slot_secs) as usize;
            buckets[kind.class(l) * slots + slot].push(*v);
            offset_sum += f64::from(l.second_of_day % slot_secs);
            offset_n += 1;
        }
        if offset_n == 0 {
            return None;
        }
        // Buckets with too few values for a median to reject one glitch (the median of two
        // is their mean) pool the slots either side, in their class.
        let pooled: Vec<(usize, f64)> = (0..buckets.len())
            .filter(|k| (1..MIN_BUCKET).contains(&buckets[*k].len()))
            .map(|k| {
                let (c, s) = (k / slots, k % slots);
                let mut pool: Vec<f64> = [slots - 1, 0, 1]
                    .iter()
                    .flat_map(|d| &buckets[c * slots + (s + d) % slots])
                    .copied()
                    .collect();
                (k, median(&mut pool))
            })
            .collect();
        let mut out: Vec<f64> = buckets.iter_mut().map(|b| median(b)).collect();
        for (k, v) in pooled {
            out[k] = v;
        }
        fill_missing(&mut out, classes, slots);
        if smooth > 1 {
            for c in 0..classes {
                smooth_circular(&mut out[c * slots..(c + 1) * slots], smooth);
            }
        }
        Some(Profile {
            kind,
            slot_secs,
            slots,
            centre: offset_sum / offset_n as f64,
            values: Packed::from_values(out, 0),
        })
    }

    pub(crate) fn kind(&self) -> ProfileKind {
        self.kind
    }

    /// The profile value at a local time.
    pub(crate) fn at(&self, l: &LocalTime) -> f64 {
        let base = self.kind.class(l) * self.slots;
        let pos = (f64::from(l.second_of_day) - self.centre) / f64::from(self.slot_secs);
        let lo = pos.floor();
        let w = pos - lo;
        let i0 = (lo as i64).rem_euclid(self.slots as i64) as usize;
        let i1 = (i0 + 1) % self.slots;
        let v = |i: usize| self.values.value(base + i).unwrap_or(f64::NAN);
        v(i0) * (1.0 - w) + v(i1) * w
    }
}

/// Median of a bucket (`NaN` if empty); reorders it. A selection, not a sort: linear time, and
/// the medians are a large share of a fit.
fn median(b: &mut [f64]) -> f64 {
    if b.is_empty() {
        return f64::NAN;
    }
    let n = b.len();
    let (below, upper, _) = b.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        // The lower middle value is the largest of those below.
        let lower = below
            .iter()
            .copied()
            .max_by(f64::total_cmp)
            .unwrap_or(upper);
        0.5 * (lower + upper)
    }
}

/// Empty buckets take the mean of the same slot in the other classes, else the nearest
/// filled slot of their own class, else the overall median.
fn fill_missing(v: &mut [f64], classes: usize, slots: usize) {
    let snapshot = v.to_vec();
    for c in 0..classes {
        for s in 0..slots {
            if !v[c * slots + s].is_nan() {
                continue;
            }
            let others: Vec<f64> = (0..classes)
                .map(|k| snapshot[k * slots + s])
                .filter(|x| !x.is_nan())
                .collect();
            if !others.is_empty() {
                v[c * slots + s] = others.iter().sum::<f64>() / others.len() as f64;
            }
        }
    }
    let mut all: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    let overall = median(&mut all);
    for c in 0..classes {
        let row = &mut v[c * slots..(c + 1) * slots];
        let snap = row.to_vec();
        for s in 0..slots {
            if !row[s].is_nan() {
                continue;
            }
            row[s] = (1..slots)
                .flat_map(|d| [snap[(s + d) % slots], snap[(s + slots - d) % slots]])
                .find(|x| !x.is_nan())
                .unwrap_or(overall);
        }
    }
}

/// Centred moving average of odd width `w` over a circular day.
fn smooth_circular(row: &mut [f64], w: usize) {
    let n = row.len();
    let half = w / 2;
    let src = row.to_vec();
    for (i, out) in row.iter_mut().enumerate() {
        let mut s = 0.0;
        for d in 0..=2 * half {
            s += src[(i + n + d - half) % n];
        }
        *out = s / (2 * half + 1) as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_by_selection_equals_the_sorted_median() {
        let mut seed = 7u64;
        for n in 1..40 {
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    ((seed >> 40) % 17) as f64
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f64::total_cmp);
            let want = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
            };
            assert_eq!(median(&mut v.clone()), want, "{v:?}");
        }
        assert!(median(&mut []).is_nan());
    }
    use tidecast_core::Calendar;

    #[test]
    fn a_clean_daily_cycle_is_recovered_at_every_minute() {
        let cal = Calendar::default();
        let n = 3 * 1440;
        let f =
            |t: i64| 100.0 + 50.0 * ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
        let values: Vec<f64> = (0..n).map(|i| f(i as i64 * 60)).collect();
        let locals = cal.local_times(0, 60, n);
        let p = Profile::estimate(ProfileKind::Daily, 60, &values, &locals, 1).unwrap();
        for i in (0..1440).step_by(7) {
            let got = p.at(&locals[i]);
            assert!((got - f(i as i64 * 60)).abs() < 0.2, "minute {i}: {got}");
        }
    }

    /// Nine days at 5 minutes from a Monday: the rest class has two days, so each of its
    /// buckets two values. A glitch of 20x the level on the Saturday does not reach the
    /// profile (the median of two values is their mean: 10.5x before the neighbouring slots
    /// were pooled), and the working days' buckets, with seven values, are their own medians.
    #[test]
    fn a_glitch_on_one_of_two_rest_days_stays_out_of_the_profile() {
        let cal = Calendar::default();
        let (step, day) = (300i64, 288usize);
        let monday = 1_772_409_600; // 2026-03-02T00:00:00Z
        let n = 9 * day;
        let f =
            |i: usize| 100.0 + 50.0 * ((i % day) as f64 / day as f64 * std::f64::consts::TAU).sin();
        let mut values: Vec<f64> = (0..n).map(f).collect();
        let glitch = 5 * day + 100; // Saturday, 08:20
        values[glitch] *= 20.0;
        let locals = cal.local_times(monday, step, n);
        assert_eq!(locals[glitch].day_type, tidecast_core::DayType::Weekend);
        let p = Profile::estimate(ProfileKind::Daily, step, &values, &locals, 1).unwrap();
        let got = p.at(&locals[glitch]);
        assert!(
            (got / f(glitch) - 1.0).abs() < 0.05,
            "{got} vs {}",
            f(glitch)
        );
        // A working day's slot is its own median (the clean value, to f32 precision).
        let got = p.at(&locals[100]);
        assert!((got - f(100)).abs() < 1e-3, "{got} vs {}", f(100));
    }

    #[test]
    fn missing_classes_borrow_from_the_others() {
        let mut v = vec![f64::NAN, 2.0, f64::NAN, 4.0];
        fill_missing(&mut v, 2, 2);
        assert_eq!(v, vec![2.0, 2.0, 4.0, 4.0]);
        let mut v = vec![f64::NAN, f64::NAN, 1.0, f64::NAN];
        fill_missing(&mut v, 2, 2);
        assert_eq!(v, vec![1.0, 1.0, 1.0, 1.0]);
    }
}
