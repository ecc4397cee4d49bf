use super::combination::{local_slot, room};
use super::validation::{VOLATILITY_STEPS, refit_due};
use super::weights::weight_grid;
use super::*;
use crate::lagreg::Target;
use std::ops::Range;

#[test]
fn the_validation_refits_at_whole_days_once_the_history_grew_by_a_tenth() {
    let day = 288;
    // The days into a validation of `days` after `before` days at which it refits.
    let refits = |before: usize, days: usize| {
        let (split, mut fitted_to) = (before * day, before * day);
        let mut out = Vec::new();
        for at in split..=split + days * day {
            if refit_due(split, fitted_to, at, day) {
                fitted_to = at;
                out.push((at - split) / day);
            }
        }
        out
    };
    // Five days before the validation: every day adds at least a tenth.
    assert_eq!(refits(5, 5), [1, 2, 3, 4, 5]);
    // 38 days before it: a week adds 18 %, so one refit, on the fourth day.
    assert_eq!(refits(38, 7), [4]);
    // Never between whole days, nor at the split itself.
    let split = 38 * day;
    assert!(!refit_due(split, split, split, day));
    assert!(!refit_due(split, split, split + 4 * day + 1, day));
}

#[test]
fn the_weight_grid_covers_the_simplex_in_tenths_single_models_first() {
    let grid = weight_grid(true);
    assert_eq!(
        grid.len(),
        286,
        "C(13, 3) points with four weights in tenths"
    );
    for (k, w) in grid.iter().take(4).enumerate() {
        assert_eq!(w[k], 1.0);
    }
    for w in &grid {
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{w:?}");
    }
    let without = weight_grid(false);
    assert_eq!(without.len(), 66);
    assert!(without.iter().all(|w| w[2] == 0.0));
}

/// The varying coefficients follow the local time of day: local noon in London is the
/// same slot in summer (11:00 UTC) and winter (12:00 UTC), across the October change.
#[test]
fn slots_follow_local_time_across_a_daylight_saving_change() {
    let london = Calendar::new(chrono_tz::Europe::London);
    let summer_noon = 1_792_666_800; // 2026-10-22T11:00:00Z, 12:00 BST
    let winter_noon = 1_793_620_800; // 2026-11-02T12:00:00Z, 12:00 GMT (change: Oct 25)
    assert_eq!(local_slot(&london, summer_noon, 1800), 24);
    assert_eq!(local_slot(&london, winter_noon, 1800), 24);
    // Counted in UTC they would be an hour apart.
    assert_eq!((summer_noon % 86_400) / 1800, 22);
}

/// The lag buffer a server keeps per target stays within `keep` plus a sixty-fourth, in
/// values and in allocation, however many updates arrive (before, it grew to twice the
/// lookback: 64 KiB of f64 per 5-minute target; now 17 KiB of f32).
#[test]
fn the_lag_buffer_stays_bounded_through_updates() {
    let (mut auto, y, step, train, start) = fit_taylor_six_weeks();
    let bound = |a: &Auto| {
        let r = a.combination.as_ref().expect("the combination applies");
        (r.buffer.len(), r.buffer.capacity(), room(r.keep))
    };
    for (i, v) in y.iter().enumerate().skip(train).take(3 * 7 * 48) {
        auto.update(start + i as i64 * step, *v);
        let (len, capacity, most) = bound(&auto);
        assert!(
            len <= most && capacity <= most,
            "{len} / {capacity} > {most}"
        );
    }
}

/// A model decoded from its artifact's encoding updates inside the allocation it was decoded
/// into, through a gap longer than the buffer's slack too: a server loading thousands of
/// models must not regrow each buffer and leave the first allocation behind as a hole.
#[test]
fn a_decoded_lag_buffer_updates_in_its_first_allocation() {
    let (auto, y, step, train, start) = fit_taylor_six_weeks();
    let mut bytes = Vec::new();
    ciborium::into_writer(&auto, &mut bytes).expect("encodes");
    let mut decoded: Auto = ciborium::from_reader(&bytes[..]).expect("decodes");
    let room = |a: &Auto| {
        let r = a.combination.as_ref().expect("the combination applies");
        (r.buffer.capacity(), room(r.keep))
    };
    let (first, most) = room(&decoded);
    assert_eq!(first, most, "decoded with room for its updates");
    let gap = 3 * 48;
    for (i, v) in y.iter().enumerate().skip(train).take(2 * 7 * 48) {
        if (train + 48..train + 48 + gap).contains(&i) {
            continue;
        }
        decoded.update(start + i as i64 * step, *v);
        assert_eq!(room(&decoded).0, first, "at point {i}");
    }
}

/// Taylor's half-hourly series, its first six weeks as history: (values, step, points of
/// history, first timestamp, calendar).
fn taylor_six_weeks() -> (Vec<f64>, i64, usize, i64, Arc<Calendar>) {
    let y = crate::testdata::taylor(usize::MAX);
    let start = 960_159_600; // 2000-06-04T23:00:00Z
    let calendar = Arc::new(Calendar::new(chrono_tz::Europe::London));
    (y, 1800, 42 * 48, start, calendar)
}

/// `auto` (2 steps ahead) fitted on [`taylor_six_weeks`]: (model, values, step, points of
/// history, first timestamp).
/// Fitted once for every test that reads it (each gets its own copy to update).
fn fit_taylor_six_weeks() -> (Auto, Vec<f64>, i64, usize, i64) {
    static FITTED: std::sync::OnceLock<Auto> = std::sync::OnceLock::new();
    let (y, step, train, start, calendar) = taylor_six_weeks();
    let fitted = FITTED.get_or_init(|| {
        let history = Series::new(start, step, y[..train].to_vec()).unwrap();
        AutoSpec::new()
            .max_horizon(2)
            .fit(&history, calendar)
            .unwrap()
    });
    (fitted.clone(), y, step, train, start)
}

/// Every step of `got` lies within `range` times `clean`.
fn assert_ratio_within(label: &str, got: &Forecast, clean: &Forecast, range: Range<f64>) {
    for (h, (g, c)) in got.point.iter().zip(&clean.point).enumerate() {
        assert!(
            range.contains(&(g / c)),
            "{label}, step {}: {g:.0} vs {c:.0}",
            h + 1
        );
    }
}

/// One scrape glitch of 1,000x the level one, two, three or seven days back at the time
/// of day being forecast leaves the forecast within a few percent of the clean one
/// (before the decomposition removed glitches: 2.6-5.8x).
#[test]
fn a_glitch_in_the_history_does_not_scale_the_forecast() {
    let (y, step, train, start, calendar) = taylor_six_weeks();
    let fit = |v: Vec<f64>| {
        AutoSpec::new()
            .max_horizon(2)
            .fit(&Series::new(start, step, v).unwrap(), calendar.clone())
            .unwrap()
            .predict(2, &[0.9])
            .unwrap()
    };
    let clean = fit(y[..train].to_vec());
    for days in [1, 2, 3, 7] {
        let mut v = y[..train].to_vec();
        v[train - days * 48] *= 1000.0;
        let label = format!("glitch {days} days back");
        assert_ratio_within(&label, &fit(v), &clean, 0.9..1.1);
    }
}

/// A glitch of 1,000x among the newest observations, followed by normal ones, moves the
/// forecast by less than 35 % (measured: 20-29 % two steps after it, a few % after four;
/// before the level filters clipped their inputs: 2.9-3.8x). While the glitch is the
/// newest value the forecast follows it, as the live value the HPA also sees does.
#[test]
fn a_recent_glitch_does_not_linger_in_the_forecast() {
    let (fitted, y, step, train, start) = fit_taylor_six_weeks();
    for back in [2, 4, 8] {
        let (mut clean, mut glitched) = (fitted.clone(), fitted.clone());
        let end = train + 24;
        for (i, v) in y.iter().enumerate().take(end).skip(train) {
            let t = start + i as i64 * step;
            clean.update(t, *v);
            glitched.update(t, if i == end - back { v * 1000.0 } else { *v });
        }
        assert_ratio_within(
            &format!("glitch {back} steps back"),
            &glitched.predict(2, &[]).unwrap(),
            &clean.predict(2, &[]).unwrap(),
            0.8..1.35,
        );
    }
}

/// A missed scrape (a skipped update, a NaN in the lag buffer) leaves the regression
/// forecasting: its recent means leave the gap out. (Requiring every value of the week,
/// one gap switched the regression off until it left the weekly window.)
#[test]
fn a_missed_scrape_does_not_switch_the_regression_off() {
    let (fitted, y, step, train, start) = fit_taylor_six_weeks();
    let (mut full, mut gappy) = (fitted.clone(), fitted);
    for (i, v) in y.iter().enumerate().skip(train).take(48) {
        let t = start + i as i64 * step;
        full.update(t, *v);
        if i != train + 8 {
            gappy.update(t, *v);
        }
    }
    let r = gappy.combination.as_ref().expect("the combination applies");
    let t = r.buffer.len() - 1;
    assert!(
        r.buffer.value(t - 39).unwrap().is_nan(),
        "the skipped update is a gap"
    );
    let recent = r.model.recent(&r.buffer, t);
    assert!(
        r.model
            .predict_recent(&r.buffer, t, 1, Target::at_slot(0), &recent)
            .is_some()
    );
    let (a, b) = (
        full.predict(2, &[]).unwrap(),
        gappy.predict(2, &[]).unwrap(),
    );
    assert_ratio_within("one missed scrape", &b, &a, 0.99..1.01);
}

/// Intervals follow the recent volatility: after an hour-scale stretch of swings around
/// the same values, the 80 % interval is wider than after the calm original stretch;
/// scaled by the forecast's level instead, both widths were the same within a few %
/// (measured: 3.0x wider; with the level scaling 1.03x).
#[test]
fn intervals_widen_after_a_volatile_stretch() {
    let (fitted, y, step, train, start) = fit_taylor_six_weeks();
    let (mut calm, mut volatile) = (fitted.clone(), fitted);
    for (k, i) in (train..train + VOLATILITY_STEPS + 1).enumerate() {
        let t = start + i as i64 * step;
        calm.update(t, y[i]);
        let swing = if k % 2 == 0 { 1.04 } else { 0.96 };
        volatile.update(t, y[i] * swing);
    }
    let width = |a: &Auto| {
        let f = a.predict(2, &[0.1, 0.9]).unwrap();
        (0..2)
            .map(|h| f.quantiles[1].1[h] - f.quantiles[0].1[h])
            .collect::<Vec<_>>()
    };
    let (c, v) = (width(&calm), width(&volatile));
    for h in 0..2 {
        assert!(
            v[h] > 2.0 * c[h],
            "step {}: {:.0} vs calm {:.0}",
            h + 1,
            v[h],
            c[h]
        );
    }
}

/// `auto` and the tidal model alone (each forecasting `steps` ahead) fitted on the first
/// `train` values of `y`, then forecasting every `steps` values from `train` to `end` with
/// state updates in between, as the server does: their sums of absolute errors.
fn errors_against_the_tidal_model(
    y: &[f64],
    start: i64,
    step: i64,
    calendar: Arc<Calendar>,
    (train, end): (usize, usize),
    steps: usize,
    expect_in_name: &str,
) -> (f64, f64) {
    let history = Series::new(start, step, y[..train].to_vec()).unwrap();
    let mut auto = AutoSpec::new()
        .max_horizon(steps)
        .fit(&history, calendar.clone())
        .unwrap();
    let mut tidal = TidalSpec::new()
        .max_horizon(steps)
        .fit(&history, calendar)
        .unwrap();
    assert!(auto.name().contains(expect_in_name), "{}", auto.name());
    let (mut err_auto, mut err_tidal) = (0.0, 0.0);
    for i in train..end {
        if (i - train).is_multiple_of(steps) {
            let a = auto.predict(steps, &[0.1, 0.9]).unwrap();
            let t = tidal.predict(steps, &[]).unwrap();
            for h in 0..steps {
                err_auto += (y[i + h] - a.point[h]).abs();
                err_tidal += (y[i + h] - t.point[h]).abs();
            }
        }
        let ts = start + i as i64 * step;
        auto.update(ts, y[i]);
        tidal.update(ts, y[i]);
    }
    (err_auto, err_tidal)
}

/// Taylor's half-hourly demand: fit on six weeks, forecast every hour of the next
/// three days with state updates in between (as the server does), and compare with the
/// tidal model alone (measured: 12 % lower absolute error over these three days).
#[test]
fn on_smooth_double_seasonal_load_the_combination_beats_the_tidal_model() {
    let (y, step, train, start, calendar) = taylor_six_weeks();
    let (err_auto, err_tidal) = errors_against_the_tidal_model(
        &y,
        start,
        step,
        calendar,
        (train, train + 3 * 48),
        2,
        "mstl",
    );
    assert!(
        err_auto < 0.95 * err_tidal,
        "auto MAE sum {err_auto:.0} vs tidal {err_tidal:.0}"
    );
}

/// A service with ten days of history (NAB's goog counts, its first ten days): too
/// short for the weekly lags, so the regression runs on the daily lags and recent means
/// alone. Forecast every hour of the next two days an hour ahead, with state updates in
/// between, against the tidal model alone (which `auto` was below four weeks before).
#[test]
fn with_ten_days_of_history_the_daily_lag_regression_beats_the_tidal_model() {
    let (step, day) = (300, 288);
    let y = crate::testdata::series("nab_twitter_volume_goog", 12 * day);
    let start = 1_424_986_973; // 2015-02-26T21:42:53Z
    let calendar = Arc::new(Calendar::new(chrono_tz::UTC));
    let (err_auto, err_tidal) = errors_against_the_tidal_model(
        &y,
        start,
        step,
        calendar,
        (10 * day, y.len() - 12),
        12,
        "daily lags",
    );
    assert!(
        err_auto < 0.95 * err_tidal,
        "auto MAE sum {err_auto:.0} vs tidal {err_tidal:.0}"
    );
}

/// Two weeks of half-hourly demand (Taylor's first 14 days): the regression without
/// weekly lags has about 240 rows before its week of validation, enough for its constant
/// coefficients (it needed 280 before, and `auto` stayed the tidal model). Forecast every
/// hour of the next two days an hour ahead against the tidal model alone.
#[test]
fn with_two_weeks_of_half_hourly_history_the_combination_applies() {
    let (y, step, _, start, calendar) = taylor_six_weeks();
    let train = 14 * 48;
    let (err_auto, err_tidal) = errors_against_the_tidal_model(
        &y,
        start,
        step,
        calendar,
        (train, train + 2 * 48),
        2,
        "daily lags",
    );
    assert!(
        err_auto < 0.95 * err_tidal,
        "auto MAE sum {err_auto:.0} vs tidal {err_tidal:.0}"
    );
}
