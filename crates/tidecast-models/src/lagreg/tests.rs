use super::design::{basis, columns};
use super::fit::{HARMONIC_PENALTY, PENALTY};
use super::*;
use linfa::Dataset;
use linfa::traits::Fit as LinfaFit;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use tidecast_core::days_back;

#[test]
fn a_pure_weekly_pattern_is_learned_exactly() {
    let (day, week) = (24, 168);
    let y: Vec<f64> = (0..8 * week)
        .map(|i| 100.0 + ((i % week) as f64).sin() * 10.0 + (i % day) as f64)
        .collect();
    let m = LagSpec::new(day, week, 3)
        .fit(&y, 0, y.len())
        .expect("the fit runs")
        .unwrap();
    let t = y.len() - 4;
    for h in 1..=3 {
        let p = m.predict(&y, t, h, Target::at_slot(0)).unwrap();
        // Within the ridge penalty's shrinkage (0.4 % of the level).
        assert!((p - y[t + h]).abs() < 0.5, "h={h}: {p} vs {}", y[t + h]);
    }
    assert_eq!(m.horizons(), 3);
}

#[test]
fn log_space_follows_a_multiplicative_pattern_as_the_level_grows() {
    // The daily swing is a fixed ratio of a level that doubles over the history: in log
    // space that is additive and stable, in linear space the swing keeps growing.
    let (day, week) = (24, 168);
    let n = 8 * week;
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let level = 10_000.0 * 2f64.powf(i as f64 / n as f64);
            level * (1.0 + 0.5 * ((i % day) as f64 / day as f64 * std::f64::consts::TAU).sin())
        })
        .collect();
    let log = LagSpec::new(day, week, 6)
        .space(Space::Log)
        .fit(&y, 0, y.len())
        .expect("the fit runs")
        .unwrap();
    let t = y.len() - 7;
    for h in 1..=6 {
        let p = log.predict(&y, t, h, Target::at_slot(0)).unwrap();
        assert!(
            (p / y[t + h] - 1.0).abs() < 0.01,
            "h={h}: {p} vs {}",
            y[t + h]
        );
    }
    assert!(
        LagSpec::new(day, week, 1)
            .space(Space::Log)
            .fit(&[-1.0; 2000], 0, 2000)
            .expect("the fit runs")
            .is_none()
    );
}

#[test]
fn coefficients_varying_with_the_time_of_day_follow_an_hour_dependent_response() {
    // The step to the next value repeats the latest step with a factor that depends on
    // the hour (0.8 at midnight, -0.8 at noon): a constant coefficient averages that out,
    // a varying one recovers it. (Indices start at slot 5 of the day.)
    let (day, week) = (24, 168);
    let n = 10 * week;
    let phi = |slot: usize| 0.8 * (slot as f64 / day as f64 * std::f64::consts::TAU).cos();
    let mut noise = 12345u64;
    let mut y = vec![0.0, 1.0];
    for i in 2..n {
        noise = noise
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Mostly small noise, now and then a shock whose echo the model must predict.
        let u = (noise >> 33) as f64 / (1u64 << 31) as f64 - 0.5;
        let e = if (noise >> 20).is_multiple_of(3) {
            20.0 * u
        } else {
            0.2 * u
        };
        let step = phi((5 + i) % day) * (y[i - 1] - y[i - 2]) + e;
        y.push(y[i - 1] + step);
    }
    let train = 9 * week;
    let constant = LagSpec::new(day, week, 1)
        .fit(&y, 0, train)
        .expect("the fit runs")
        .unwrap();
    let slots: Vec<usize> = (0..n).map(|i| (5 + i) % day).collect();
    let varying = LagSpec::new(day, week, 1)
        .varying(4, &slots)
        .fit(&y, 0, train)
        .expect("the fit runs")
        .unwrap();
    assert_eq!((constant.harmonics(), varying.harmonics()), (0, 4));
    let (mut err_c, mut err_v) = (0.0, 0.0);
    for t in train..n - 1 {
        // Against the expected next value (the shocks are unpredictable).
        let target = slots[t + 1];
        let expected = y[t] + phi(target) * (y[t] - y[t - 1]);
        err_c += (constant.predict(&y, t, 1, Target::at_slot(target)).unwrap() - expected).abs();
        err_v += (varying.predict(&y, t, 1, Target::at_slot(target)).unwrap() - expected).abs();
    }
    // Measured: the varying fit's error is 0.45 of the constant one's (ridge shrinks the
    // hour-dependent part a little); a misaligned slot makes it worse than constant.
    assert!(
        err_v < 0.65 * err_c,
        "varying {err_v:.1} vs constant {err_c:.1}"
    );
}

#[test]
fn prefix_sums_equal_plain_sums_and_skip_missing_windows() {
    let day = 48; // an hour is 2 steps
    let z: Vec<f64> = (0..200)
        .map(|i| (i as f64 * 0.7).sin() * 100.0 + 1e4)
        .collect();
    let sums = PrefixSums::new(&z, day);
    let g = |i: usize| z.get(i).copied();
    let recent = Recent {
        t: 0,
        windows: [1, 2, 6, 7],
        means: [None; 4],
    };
    let single = Single {
        g,
        recent: &recent,
        hour: 2,
    };
    for t in [5, 17, 49, 199] {
        for k in [1, 2, 6] {
            let (fast, slow) = (
                sums.mean_back(t, k).unwrap(),
                mean_back_by_sum(g, t, k).unwrap(),
            );
            assert!((fast - slow).abs() < 1e-9, "t={t} k={k}: {fast} vs {slow}");
        }
    }
    for (x, first) in [(48, 1), (60, 1), (199, 2), (199, 1)] {
        let (fast, slow) = (sums.hourly_mean(x, first), single.hourly_mean(x, first));
        assert!(
            (fast.unwrap() - slow.unwrap()).abs() < 1e-9,
            "x={x}: {fast:?} vs {slow:?}"
        );
    }
    assert_eq!(
        sums.mean_back(3, 5),
        None,
        "the window starts before the series"
    );
    assert_eq!(sums.mean_back(200, 1), None, "past the end");
    assert_eq!(
        sums.hourly_mean(47, 1),
        None,
        "24 hours back is before the series"
    );
    assert_eq!(single.hourly_mean(47, 1), None);

    // A missing value is left out of the means (a missed scrape must not switch the
    // regression off for a week); with fewer than half present there is no mean.
    let mut gap = z.clone();
    gap[10] = f64::NAN;
    let sums = PrefixSums::new(&gap, day);
    let g = |i: usize| gap.get(i).copied();
    let single = Single {
        g,
        recent: &recent,
        hour: 2,
    };
    let mean = |a: &[f64]| a.iter().sum::<f64>() / a.len() as f64;
    for got in [sums.mean_back(12, 3), mean_back_by_sum(g, 12, 3)] {
        assert!((got.unwrap() - mean(&gap[11..=12])).abs() < 1e-9, "{got:?}");
    }
    let others: Vec<f64> = (1..=24)
        .map(|k| gap[50 - 2 * k])
        .filter(|v| !v.is_nan())
        .collect();
    assert_eq!(others.len(), 23, "index 10 is 20 hours before 50");
    for got in [sums.hourly_mean(50, 1), single.hourly_mean(50, 1)] {
        assert!((got.unwrap() - mean(&others)).abs() < 1e-9, "{got:?}");
    }
    gap[11] = f64::NAN;
    let sums = PrefixSums::new(&gap, day);
    assert_eq!(sums.mean_back(12, 3), None, "one of three present");
    assert_eq!(
        mean_back_by_sum(|i: usize| gap.get(i).copied(), 12, 3),
        None
    );
}

/// With daily steps the features need only the two weeks a server's lag buffer keeps and
/// no value after the origin (the hourly change, 24 steps back at one step an hour, and
/// yesterday's slope, which needs the day after it, are 0 there).
#[test]
fn daily_steps_need_only_the_two_week_lookback() {
    let (day, week) = (1, 7);
    let y: Vec<f64> = (0..lookback(week))
        .map(|i| 100.0 + (i % 7) as f64)
        .collect();
    let sums = PrefixSums::new(&y, day);
    let t = y.len() - 1;
    let f = features_with(
        |i| y.get(i).copied(),
        &sums,
        t,
        1,
        Lags {
            day,
            week,
            weekly: true,
        },
        1,
    )
    .expect("two weeks and a step suffice");
    assert_eq!(f[NF - 1], 0.0, "no minutes of the hour at daily steps");
    assert_eq!(f[6], 0.0, "no slope of yesterday's curve");
}

/// Without the weekly lags the features need two days (a day back and the hourly
/// change's 24 hours), the weekly ones are 0, and a fit on nine days learns the daily
/// pattern: an exact daily pattern is forecast exactly.
#[test]
fn daily_only_needs_two_days_and_learns_a_daily_pattern() {
    let (day, week) = (48, 336);
    let y: Vec<f64> = (0..9 * day)
        .map(|i| 100.0 + ((i % day) as f64 / 6.0).sin() * 20.0)
        .collect();
    let sums = PrefixSums::new(&y, day);
    let g = |i: usize| y.get(i).copied();
    assert!(
        features_with(
            g,
            &sums,
            2 * day - 1,
            1,
            Lags {
                day,
                week,
                weekly: false
            },
            1
        )
        .is_none()
    );
    let f = features_with(
        g,
        &sums,
        2 * day,
        1,
        Lags {
            day,
            week,
            weekly: false,
        },
        1,
    )
    .expect("two days suffice");
    // w1, w2, lw, sw and the week's mean.
    for k in [0, 1, 3, 5, 12] {
        assert_eq!(f[k], 0.0, "weekly feature {k}");
    }
    assert!(
        features_with(
            g,
            &sums,
            2 * day,
            1,
            Lags {
                day,
                week,
                weekly: true
            },
            1
        )
        .is_none()
    );
    assert!(
        LagSpec::new(day, week, 3)
            .fit(&y, 0, y.len())
            .expect("the fit runs")
            .is_none()
    );
    let m = LagSpec::new(day, week, 3)
        .daily_only()
        .fit(&y, 0, y.len())
        .expect("the fit runs")
        .expect("nine days fit without weekly lags");
    assert!(!m.weekly());
    let t = y.len() - 1;
    for h in 1..=3 {
        let want = 100.0 + (((t + h) % day) as f64 / 6.0).sin() * 20.0;
        let got = m.predict(&y, t, h, Target::at_slot(0)).unwrap();
        assert!((got - want).abs() < 0.5, "h {h}: {got} vs {want}");
    }
}

/// Days back to the last day of the same kind: Monday looks at Friday, Sunday at
/// Saturday, Saturday at the Sunday before; a holiday at the last weekend day, and the
/// day after a seven-day holiday (Thursday to Wednesday, as China's National Day often
/// is) at the working day before it; with none in reach (or before the series),
/// yesterday.
#[test]
fn daily_lags_look_back_to_the_last_day_of_the_same_kind() {
    // Day 0 is a Monday; days 17-23 a holiday (Thursday to Wednesday).
    let day = 2;
    let working: Vec<bool> = (0..30 * day)
        .map(|i| {
            let d = i / day;
            d % 7 < 5 && !(17..=23).contains(&d)
        })
        .collect();
    let back = days_back(&working, day);
    let at = |d: usize| back[d * day + 1];
    assert_eq!(at(7), 3, "Monday -> Friday");
    assert_eq!(at(8), 1, "Tuesday -> Monday");
    assert_eq!(at(13), 1, "Sunday -> Saturday");
    assert_eq!(at(12), 6, "Saturday -> the Sunday before");
    assert_eq!(at(17), 4, "the holiday's Thursday -> Sunday");
    assert_eq!(
        at(24),
        8,
        "the Thursday after -> the Wednesday before the holiday"
    );
    assert_eq!(at(0), 1, "nothing before the series");
    assert_eq!(at(4), 1, "Friday -> Thursday");
    // Ten days without a working day: none in reach.
    let long: Vec<bool> = (0..30 * day)
        .map(|i| !(3..=12).contains(&(i / day)))
        .collect();
    assert_eq!(days_back(&long, day)[13 * day], 1);
}

/// Working days peak in the morning, rest days at noon. Looking back to the last day of
/// the same kind, the regression forecasts Monday's and Saturday's hours from Friday's
/// and Sunday's; looking one day back it has to guess from the other kind.
#[test]
fn daily_lags_by_kind_of_day_follow_the_weekly_switch() {
    let (day, week) = (24, 168);
    let n = 6 * week;
    let shape = |i: usize| {
        let (d, hour) = (i / day, i % day);
        let working = d % 7 < 5;
        let bump = |c: usize| 60.0 * (-(((hour as f64) - c as f64).powi(2)) / 2.0).exp();
        let noise = ((i * 7919) % 13) as f64 - 6.0;
        100.0 + if working { bump(8) } else { bump(13) } + noise
    };
    let y: Vec<f64> = (0..n).map(shape).collect();
    let working: Vec<bool> = (0..n).map(|i| (i / day) % 7 < 5).collect();
    let back = days_back(&working, day);
    let train = 5 * week;
    let by_kind = LagSpec::new(day, week, 3)
        .daily_only()
        .day_back(&back)
        .fit(&y, 0, train)
        .expect("the fit runs")
        .unwrap();
    let yesterday = LagSpec::new(day, week, 3)
        .daily_only()
        .fit(&y, 0, train)
        .expect("the fit runs")
        .unwrap();
    let (mut err_kind, mut err_yesterday) = (0.0, 0.0);
    // Every hour of the last week, three hours ahead.
    for t in train..n - 3 {
        let target = Target {
            slot: 0,
            day_back: usize::from(back[t + 3]),
        };
        err_kind += (by_kind.predict(&y, t, 3, target).unwrap() - y[t + 3]).abs();
        err_yesterday +=
            (yesterday.predict(&y, t, 3, Target::at_slot(0)).unwrap() - y[t + 3]).abs();
    }
    assert!(
        err_kind < 0.8 * err_yesterday,
        "by kind {err_kind:.0}, one day back {err_yesterday:.0}"
    );
}

/// The normal equations built block by block from per-slot sums equal the ones built
/// from explicit design rows ([`columns`]), and a forecast's [`design_dot`] equals the
/// explicit row times the coefficients.
#[test]
fn blockwise_normal_equations_equal_explicit_design_rows() {
    let (day, week, harmonics) = (24, 168, 2);
    let n = 6 * week;
    let y: Vec<f64> = (0..n)
        .map(|i| 50.0 + 10.0 * ((i % day) as f64 / 3.0).sin() + ((i * 7919) % 13) as f64)
        .collect();
    let slots: Vec<usize> = (0..n).map(|i| (3 + i) % day).collect();
    let m = LagSpec::new(day, week, 2)
        .varying(harmonics, &slots)
        .fit(&y, 0, n)
        .expect("the fit runs")
        .unwrap();
    let sums = PrefixSums::new(&y, day);
    let layout = columns(harmonics);
    let cols = layout.len();
    for h in 1..=2 {
        let (mut gram, mut xty, mut rows) = (vec![0.0; cols * cols], vec![0.0; cols], 0);
        for t in 0..n - h {
            let g = |i: usize| y.get(i).copied();
            let Some(f) = features_with(
                g,
                &sums,
                t,
                h,
                Lags {
                    day,
                    week,
                    weekly: true,
                },
                1,
            ) else {
                continue;
            };
            let f = clip(f.map(|v| v / m.scale), &m.bounds[h - 1]);
            let b = basis(harmonics, slots[t + h], day);
            let row: Vec<f64> = layout.iter().map(|(a, i)| b[*a] * f[*i]).collect();
            let target = (y[t + h] - y[t]) / m.scale;
            for p in 0..cols {
                xty[p] += row[p] * target;
                for q in 0..cols {
                    gram[p * cols + q] += row[p] * row[q];
                }
            }
            let coefs = m.coefficients(h);
            let dot: f64 = row.iter().zip(&coefs).map(|(x, c)| x * c).sum();
            let stored: Vec<f32> = coefs.iter().map(|c| *c as f32).collect();
            let fast = design_dot(&f, &stored, harmonics, slots[t + h], day);
            assert!((dot - fast).abs() < 1e-9, "t={t} h={h}: {dot} vs {fast}");
            rows += 1;
        }
        for (p, (a, _)) in layout.iter().enumerate() {
            let extra = if *a == 0 { 1.0 } else { HARMONIC_PENALTY };
            gram[p * cols + p] += rows as f64 * PENALTY * extra;
        }
        let ds = Dataset::new(
            Array2::from_shape_vec((cols, cols), gram).unwrap(),
            Array1::from(xty),
        );
        let direct = LinearRegression::new()
            .with_intercept(false)
            .fit(&ds)
            .unwrap();
        for (k, (want, got)) in direct.params().iter().zip(m.coefficients(h)).enumerate() {
            assert!((want - got).abs() < 1e-6, "h={h} coef {k}: {want} vs {got}");
        }
    }
}

#[test]
fn a_one_off_burst_a_week_back_does_not_echo_in_full() {
    // A clean daily and weekly pattern; then the value a week before the target jumps to
    // a thousand times the level (a burst, a scrape glitch).
    let (day, week) = (24, 168);
    let y: Vec<f64> = (0..8 * week)
        .map(|i| 100.0 + ((i % week) as f64).sin() * 10.0 + (i % day) as f64)
        .collect();
    let m = LagSpec::new(day, week, 1)
        .fit(&y, 0, y.len())
        .expect("the fit runs")
        .unwrap();
    let t = y.len() - 2;
    let clean = m.predict(&y, t, 1, Target::at_slot(0)).unwrap();
    let mut burst = y.clone();
    burst[t + 1 - week] = 100_000.0;
    let echoed = m.predict(&burst, t, 1, Target::at_slot(0)).unwrap();
    // Features are clipped to 10 times their mean absolute value in training: whatever
    // the coefficient, the forecast moves by at most a few dozen, not by tens of thousands.
    assert!(
        (echoed - clean).abs() < 100.0,
        "clean {clean:.1}, with the burst a week back {echoed:.1}"
    );
}

/// Golden test: the linfa fit equals scikit-learn's Ridge on the same features
/// (fixture and how it was produced: tests/data/golden/lagreg_taylor.json,
/// scripts/golden_lagreg.py).
#[test]
fn ridge_coefficients_match_scikit_learn_on_the_taylor_series() {
    let y = crate::testdata::taylor(1500);
    let golden = crate::testdata::golden("lagreg_taylor.json");
    let m = LagSpec::new(48, 336, 2)
        .fit(&y, 0, y.len())
        .expect("the fit runs")
        .unwrap();
    for h in 1..=2 {
        let want = crate::testdata::numbers(&golden["coefficients"][h - 1]);
        assert_eq!(want.len(), NF);
        tidecast_testing::assert_all_close(&m.coefficients(h), &want, 0.0, 1e-3);
    }
}
