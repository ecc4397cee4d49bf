//! Forecasting speed at production scale (issue: accuracy and speed).
//!
//! `cargo bench -p tidecast-models --bench speed` prints:
//! 1. fit + forecast (60 minutes ahead, 10 %/50 %/90 % quantiles) of 1,000 tidal series of
//!    28 days at 1 minute, on every core;
//! 2. one rolling-origin backtest with 1,152 origins (the last 4 days every 5 minutes, 60
//!    minutes ahead, daily refits) on one 42-day series at 1 minute;
//! 3. fit + forecast of 100 tidal series of 42 days at 5 minutes, where the default model is
//!    the whole combination (tidal model, lag regression variants, MSTL variants, weights
//!    chosen by an inner backtest), on every core;
//! 4. the process's peak resident memory.
//!
//! `cargo bench -p tidecast-models --bench speed -- combination` runs only that part (names:
//! fit, combination, backtest). The memory a model holds is the `memory` bench's.
//!
//! The series are synthetic tides with different levels, noise and seeds; generating them is
//! not timed. No assertion: numbers go to docs/benchmarks.md.

// A benchmark measures real elapsed time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tidecast_core::{Calendar, Series};
use tidecast_models::Forecaster;
use tidecast_testing::status_mib;

fn tide(seed: u64, days: i64, end: i64) -> Series {
    tide_every(seed, days, end, 60)
}

fn tide_every(seed: u64, days: i64, end: i64, step: i64) -> Series {
    tidecast_testing::tide_series(seed, days, end, step)
}

/// Fit and forecast 60 steps of every series on `cores` threads: (seconds, failures).
fn fit_all(forecaster: &Forecaster, data: &[Series], cores: usize) -> (f64, usize) {
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    let mut failures = 0;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut failed = 0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= data.len() {
                            return failed;
                        }
                        match forecaster.forecast(&data[i], 60) {
                            Ok(f) => assert_eq!(f.len(), 60),
                            Err(_) => failed += 1,
                        }
                    }
                })
            })
            .collect();
        failures = workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .sum::<usize>();
    });
    (t.elapsed().as_secs_f64(), failures)
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`, which passes no
    // argument) runs a tiny version, so the benchmark never rots.
    let quick =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--quick");
    // Names after `--`, e.g. `cargo bench --bench speed -- combination`, run only those parts
    // (fit, combination, backtest); none runs all three.
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["fit", "combination", "backtest"].contains(&a.as_str()))
        .collect();
    let run = |part: &str| parts.is_empty() || parts.iter().any(|p| p == part);
    let n_series = if quick { 8 } else { 1000 };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let end = 1_792_540_800; // 2026-10-21T00:00:00Z: a refit point, so each fit sees all 28 days
    let cal = Arc::new(Calendar::new(chrono_tz::Tz::Asia__Shanghai));
    let forecaster = Forecaster::new(cal.clone())
        .window(28 * 86_400)
        .quantiles(&[0.1, 0.5, 0.9]);

    if run("fit") {
        let t = Instant::now();
        let data: Vec<Series> = (0..n_series).map(|i| tide(i as u64 + 1, 28, end)).collect();
        println!(
            "generated {n_series} series x {} points in {:.1} s (not timed below)",
            data[0].len(),
            t.elapsed().as_secs_f64()
        );
        let (fit_s, failures) = fit_all(&forecaster, &data, cores);
        println!(
            "fit + forecast: {n_series} series x 28 d x 1 min on {cores} threads: {fit_s:.2} s total, {:.1} ms per series per core ({failures} failed)",
            1000.0 * fit_s * cores as f64 / n_series as f64
        );
    }

    if run("combination") {
        let n_five = if quick { 2 } else { 100 };
        let five: Vec<Series> = (0..n_five)
            .map(|i| tide_every(i as u64 + 1, 42, end, 300))
            .collect();
        let combined = Forecaster::new(cal.clone())
            .window(42 * 86_400)
            .quantiles(&[0.1, 0.5, 0.9]);
        let (five_s, failures) = fit_all(&combined, &five, cores);
        println!(
            "fit + forecast (combination): {n_five} series x 42 d x 5 min on {cores} threads: {five_s:.2} s total, {:.0} ms per series per core ({failures} failed)",
            1000.0 * five_s * cores as f64 / n_five as f64
        );
    }
    if run("backtest") {
        backtest(cal.clone(), end, quick);
    }
    println!("peak RSS: {:.0} MiB", status_mib("VmHWM:"));
}

fn backtest(cal: Arc<Calendar>, end: i64, quick: bool) {
    let series = tide(4242, 42, end);
    let last = series.end().expect("points");
    let n_origins = if quick { 24 } else { 1152 };
    let origins: Vec<i64> = (0..n_origins)
        .map(|k| last - 4 * 86_400 + k as i64 * 300 - 3600)
        .collect();
    let bt = Forecaster::new(cal).window(42 * 86_400);
    let t = Instant::now();
    let r = bt
        .backtest(&series, &origins, 60, |_| {})
        .expect("backtest runs");
    let bt_s = t.elapsed().as_secs_f64();
    println!(
        "backtest: {} origins x 60 min on one 42-day 1-minute series: {bt_s:.2} s",
        r.len()
    );
}
