use super::level::Params;
use super::search::validation_len;
use super::*;

/// Two tidal peaks a day, quieter weekends, slow growth, deterministic noise.
pub(crate) fn tidal_series(days: usize, step: i64) -> Series {
    let n = days * 86_400 / step as usize;
    let mut state = 12345u64;
    let values = (0..n)
        .map(|i| {
            let t = i as i64 * step;
            let h = (t % 86_400) as f64 / 3600.0;
            let weekend = ((t / 86_400 + 4) % 7) >= 5;
            let peak =
                (-((h - 7.0) / 0.8).powi(2)).exp() + 1.5 * (-((h - 19.5) / 2.0).powi(2)).exp();
            let base = 100.0 + 1000.0 * peak * if weekend { 1.3 } else { 1.0 };
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.1;
            base * (1.0 + 0.002 * t as f64 / 86_400.0) * (1.0 + noise)
        })
        .collect();
    Series::new(0, step, values).unwrap()
}

#[test]
fn the_tidal_model_forecasts_a_clean_tide_closely() {
    let s = tidal_series(28, 300);
    let train = s.cut(27 * 86_400);
    let m = TidalSpec::new()
        .max_horizon(12)
        .fit(&train, Arc::new(Calendar::default()))
        .unwrap();
    let f = m.predict(12 * 12, &[0.1, 0.9]).unwrap();
    let actual = &s.values()[train.len()..train.len() + 144];
    let mape: f64 = f
        .point
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs() / a)
        .sum::<f64>()
        / 144.0;
    assert!(mape < 0.06, "MAPE {mape}");
}

#[test]
fn updates_move_the_level_toward_new_observations() {
    let s = tidal_series(10, 300);
    let mut m = TidalSpec::new()
        .fit(&s, Arc::new(Calendar::default()))
        .unwrap();
    let before = m.predict(1, &[]).unwrap().point[0];
    let t = m.last_timestamp();
    for k in 1..=6 {
        m.update(t + k * 300, 2.0 * s.values()[s.len() - 288 + k as usize]);
    }
    let after = m.predict(1, &[]).unwrap().point[0];
    assert!(after > before * 1.3, "before {before}, after {after}");
}

/// After the load doubles for half an hour, the 80 % interval an hour ahead is about
/// twice as wide: its scale is the forecast's level, which the fast filter has moved
/// (scaled by the profile times the slow level it stayed within 10 % of the old width).
#[test]
fn intervals_follow_a_level_shift() {
    let s = tidal_series(10, 60);
    let mut m = TidalSpec::new()
        .max_horizon(60)
        .fit(&s, Arc::new(Calendar::default()))
        .unwrap();
    let width = |m: &Tidal| {
        let f = m.predict(60, &[0.1, 0.9]).unwrap();
        let (lo, hi) = (&f.quantiles[0].1, &f.quantiles[1].1);
        (hi[59] - lo[59]) / f.point[59]
    };
    let shift = |m: &mut Tidal, factor: f64| {
        let t = m.last_timestamp();
        let n = s.len();
        for k in 1..=30usize {
            m.update(t + k as i64 * 60, factor * s.values()[n - 1440 + k]);
        }
    };
    let mut same = m.clone();
    shift(&mut same, 1.0);
    shift(&mut m, 2.0);
    let (f_same, f_shift) = (
        same.predict(60, &[0.1, 0.9]).unwrap(),
        m.predict(60, &[0.1, 0.9]).unwrap(),
    );
    let abs_width = |f: &Forecast| f.quantiles[1].1[59] - f.quantiles[0].1[59];
    let ratio = abs_width(&f_shift) / abs_width(&f_same);
    let level = f_shift.point[59] / f_same.point[59];
    assert!(
        level > 1.5,
        "the point forecast follows the shift: {level:.2}"
    );
    assert!(
        (ratio / level - 1.0).abs() < 0.1,
        "interval width x{ratio:.2} for a level x{level:.2}"
    );
    assert!((width(&m) - width(&same)).abs() < 0.01);
}

/// At 1 minute (the tidal model alone serves these targets) one scrape glitch of 1,000x
/// the level, followed by ten normal minutes, leaves the next hour's forecast within 15 %
/// of the clean one (measured: 12 %); unclipped it was 22x, and the slow-decaying fast
/// level carried it for hours.
#[test]
fn a_glitch_does_not_linger_in_the_level() {
    let s = tidal_series(21, 60);
    let train = s.cut(20 * 86_400);
    let fitted = TidalSpec::new()
        .max_horizon(60)
        .fit(&train, Arc::new(Calendar::default()))
        .unwrap();
    let (mut clean, mut glitched) = (fitted.clone(), fitted);
    for k in 0..=10usize {
        let (t, v) = (
            train.timestamp(0) + (train.len() + k) as i64 * 60,
            s.values()[train.len() + k],
        );
        clean.update(t, v);
        glitched.update(t, if k == 0 { 1000.0 * v } else { v });
    }
    let (c, g) = (
        clean.predict(60, &[]).unwrap(),
        glitched.predict(60, &[]).unwrap(),
    );
    for (h, (a, b)) in c.point.iter().zip(&g.point).enumerate() {
        assert!(
            (b / a - 1.0).abs() < 0.15,
            "{} min ahead: {b:.0} with the glitch vs {a:.0}",
            h + 1
        );
    }
}

/// A two-week history validates on a whole week (every day class), not on a third of
/// it; shorter ones keep a third, and below three days there is none.
#[test]
fn the_validation_is_a_whole_week_once_three_days_are_left_before_it() {
    let week = 7 * 86_400;
    // 14 days at 30 minutes: 672 points, a week is 336 (a third would be 224).
    assert_eq!(validation_len(672, 1800, week), 336);
    // 10 days: exactly three days before the week.
    assert_eq!(validation_len(480, 1800, week), 336);
    // 9 days: a third.
    assert_eq!(validation_len(432, 1800, week), 144);
    // Six weeks: still a week.
    assert_eq!(validation_len(42 * 288, 300, week), 7 * 288);
    // Two days: none.
    assert_eq!(validation_len(96, 1800, week), 0);
}

/// Each weekday has its peak at its own hour (8:00 on Monday ... 14:00 on Sunday), which a
/// working/rest-day profile blurs. With 16 days of history (9 before the validation week)
/// the weekly profile is a candidate and wins; it needed 14 days before the validation
/// (three weeks of history), and the model was `daily` here.
#[test]
fn two_weeks_of_history_can_choose_a_weekly_profile() {
    let step = 1800;
    let mut state = 99u64;
    let values: Vec<f64> = (0..16 * 48)
        .map(|i| {
            let t = i as i64 * step;
            let h = (t % 86_400) as f64 / 3600.0;
            // Unix day 0 was a Thursday: weekday 0 = Monday.
            let weekday = ((t / 86_400 + 3) % 7) as f64;
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.02;
            (100.0 + 400.0 * (-((h - 8.0 - weekday) / 1.0).powi(2)).exp()) * (1.0 + noise)
        })
        .collect();
    let s = Series::new(0, step, values).unwrap();
    let m = TidalSpec::new()
        .max_horizon(2)
        .fit(&s, Arc::new(Calendar::default()))
        .unwrap();
    assert!(m.name().starts_with("tidal(weekly"), "{}", m.name());
}

/// The same fitted model with only one band's decays, its filters rerun over `history`.
fn with_one_band(m: &Tidal, band: usize, history: &Series) -> Tidal {
    let mut one = m.clone();
    one.bands = Bands::single(m.bands.params[band]);
    one.levels = vec![Levels::default()];
    for (i, v) in history.values().iter().enumerate() {
        let p = one
            .profile
            .at(&one.calendar.local_time(history.timestamp(i)));
        one.bands.update(&mut one.levels, *v, p);
    }
    one
}

/// Bursts of +30 % for 40 minutes every 130 minutes (1-minute load; out of step with the
/// day, so the profile does not hold them): 5 minutes ahead a burst under way is still
/// on, an hour ahead it is over. Carrying the last minutes' deviation is right for the
/// first and wrong for the second. Measured: 5 minutes ahead the bands' error is half that
/// of the hour band's decays used alone, an hour ahead 30 % below that of the 5-minute
/// band's. With one set of decays for every horizon the three would be the same forecast.
#[test]
fn each_horizon_gets_the_decays_that_forecast_it_best() {
    let base = tidal_series(16, 60);
    let values: Vec<f64> = base
        .values()
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 130 < 40 { 1.3 * v } else { *v })
        .collect();
    let s = Series::new(0, 60, values).unwrap();
    let train = s.cut(15 * 86_400);
    let m = TidalSpec::new()
        .max_horizon(60)
        .fit(&train, Arc::new(Calendar::default()))
        .unwrap();
    assert_eq!(m.bands.horizons, vec![5, 15, 30, 60], "{}", m.name());
    let (short, long) = (with_one_band(&m, 0, &train), with_one_band(&m, 3, &train));
    let mut models = [m, short, long];
    // MAE 5 and 60 minutes ahead from every 5th minute of the next day.
    let mut mae = [[0.0f64; 2]; 3];
    for i in 0..1440 - 60 {
        let t = train.timestamp(0) + (train.len() + i) as i64 * 60;
        if i % 5 == 0 {
            for (k, model) in models.iter().enumerate() {
                let f = model.predict(60, &[]).unwrap();
                for (slot, h) in [(0, 5), (1, 60)] {
                    mae[k][slot] += (f.point[h - 1] - s.values()[train.len() + i + h - 1]).abs();
                }
            }
        }
        for model in &mut models {
            model.update(t, s.values()[train.len() + i]);
        }
    }
    let [bands, short, long] = mae;
    assert!(
        bands[0] < 0.7 * long[0],
        "5 minutes: {bands:?} vs the hour's decays {long:?}"
    );
    assert!(
        bands[1] < 0.85 * short[1],
        "60 minutes: {bands:?} vs 5 minutes' decays {short:?}"
    );
}

/// A deviation from the tide with a memory of about ten minutes (AR(1), 0.9 per minute,
/// as a load balancer's connections after a burst of sessions): the validation finds the
/// φ that decays the deviation on that time scale for the 5-minute band. (Before φ with a
/// ten-minute decay time was a candidate, the nearest were none and thirty minutes, and
/// the 1-minute tidal trace's 5-minute MASE was 0.395 instead of 0.372.)
#[test]
fn a_ten_minute_memory_gets_a_ten_minute_decay() {
    let base = tidal_series(16, 60);
    let mut state = 7u64;
    let mut dev = 0.0f64;
    let values: Vec<f64> = base
        .values()
        .iter()
        .map(|v| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            dev = 0.9 * dev + ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.08;
            v * (1.0 + dev)
        })
        .collect();
    let s = Series::new(0, 60, values).unwrap();
    let m = TidalSpec::new()
        .max_horizon(60)
        .fit(&s, Arc::new(Calendar::default()))
        .unwrap();
    assert_eq!(m.bands.horizons[0], 5, "{}", m.name());
    let phi = m.bands.params[0].phi;
    assert!(
        (phi - (-60.0f64 / 600.0).exp()).abs() < 1e-12,
        "{}",
        m.name()
    );
}

#[test]
fn a_forecast_between_two_tuning_horizons_interpolates_in_log_steps() {
    let b = Bands {
        horizons: vec![5, 15, 30, 60],
        params: vec![Params::default(); 4],
    };
    assert_eq!(b.weights(1), [(0, 1.0), (0, 0.0)]);
    assert_eq!(b.weights(5)[0], (0, 1.0));
    assert_eq!(b.weights(5)[1].1, 0.0);
    assert_eq!(b.weights(90), [(3, 1.0), (3, 0.0)]);
    let [(lo, wl), (hi, wh)] = b.weights(20);
    assert_eq!((lo, hi), (1, 2));
    assert!(
        (wh - (20.0f64 / 15.0).ln() / 2.0f64.ln()).abs() < 1e-12 && (wl + wh - 1.0).abs() < 1e-12
    );
}

#[test]
fn less_than_a_day_is_not_enough() {
    let s = tidal_series(1, 300).cut(20 * 3600);
    let e = TidalSpec::new()
        .fit(&s, Arc::new(Calendar::default()))
        .unwrap_err();
    assert!(e.to_string().contains("at least one day"), "{e}");
}
