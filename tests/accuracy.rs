//! The accuracy targets of `docs/accuracy.md` as a guard against regressions: the real binary's
//! default model, backtested on every given real series under the baselines' protocol (the
//! first origin and MASE scale recorded in `tests/eval/baselines/*.json`, an origin every hour,
//! 60 minutes ahead), scored as `tests/eval/score.py` scores it, against the baselines' own
//! scores in the same files. What it asserts is what the accuracy issue asks: at every horizon
//! of every series MASE at or below the best baseline's, on average at least 10 % below, and
//! 80 % intervals covering 75-85 % of the actuals on every series at every horizon.
//! (`scripts/accuracy.sh` prints the same numbers with the Python scorer.) A second test
//! does the same with looser bounds on 19 series the models were not tuned on, against the
//! baselines run on those (`tests/eval/baselines-resampled/`; `scripts/resampled.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tidecast_testing::{Binary, repo_path as repo};

use chrono::DateTime;
use serde_json::Value;

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

/// The given real series and the time zone their calendars are in (as `check.sh` runs them).
const SERIES: [(&str, &str); 3] = [
    ("nab_twitter_volume_amzn", "UTC"),
    ("nab_twitter_volume_goog", "UTC"),
    ("taylor_uk_electricity", "Europe/London"),
];

/// Minutes ahead -> (sum of absolute errors, pairs, pairs inside the 80 % interval), for every
/// horizon step of the backtest.
type Scores = BTreeMap<i64, (f64, usize, usize)>;

fn backtest(name: &str, history: &Path, tz: &str, first_origin: &str, dir: &Path) -> Scores {
    let out = dir.join(format!("{name}.forecast.csv"));
    let run = TIDECAST
        .command()
        .args(["backtest", "--history"])
        .arg(history)
        .args(["--from", first_origin, "--every", "1h", "--horizon", "60m"])
        .args(["--timezone", tz, "--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("the binary runs");
    assert!(
        run.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // `scripts/same-output.sh` keeps every backtest to compare two builds byte for byte.
    if let Some(keep) = std::env::var_os("TIDECAST_KEEP_BACKTESTS") {
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&out, Path::new(&keep).join(format!("{name}.forecast.csv"))).unwrap();
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("origin,timestamp,forecast,lower,upper,actual")
    );
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
    let mut scores = Scores::new();
    for line in lines {
        let c: Vec<&str> = line.split(',').collect();
        if c[5].is_empty() {
            continue; // no observation at the target (a gap): never scored
        }
        let minutes = (t(c[1]) - t(c[0])) / 60;
        let v = |k: usize| c[k].parse::<f64>().unwrap();
        let (f, lo, hi, a) = (v(2), v(3), v(4), v(5));
        let e = scores.entry(minutes).or_default();
        e.0 += (a - f).abs();
        e.1 += 1;
        e.2 += usize::from(lo <= a && a <= hi);
    }
    scores
}

/// One horizon's MASE against the best baseline's.
struct Cell {
    label: String,
    mase: f64,
    best_model: String,
    best: f64,
}

impl Cell {
    fn ratio(&self) -> f64 {
        self.mase / self.best
    }
}

/// The horizons the baselines scored, each as tidecast's MASE on the baselines' scale beside
/// the best baseline's, from the baselines' results `b` and tidecast's backtest scores `sc`.
fn cells(name: &str, b: &Value, sc: &Scores) -> Vec<Cell> {
    let scale = b["setup"]["mase_scale"].as_f64().unwrap();
    let expected = b["setup"]["n_origins"].as_u64().unwrap() as usize;
    let mut out = Vec::new();
    for h in b["setup"]["horizons_minutes"].as_array().unwrap() {
        let minutes = h.as_f64().unwrap() as i64;
        let (abs, pairs, _) = sc[&minutes];
        assert_eq!(pairs, expected, "{name} {minutes} min: every origin scored");
        let (best_model, best) = b["models"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(m, v)| Some((m, v["metrics"][minutes.to_string()]["mase"].as_f64()?)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .unwrap();
        let cell = Cell {
            label: format!("{name} {minutes} min"),
            mase: abs / pairs as f64 / scale,
            best_model: best_model.clone(),
            best,
        };
        eprintln!(
            "{}: MASE {:.4} vs {} {:.4}",
            cell.label, cell.mase, cell.best_model, cell.best
        );
        out.push(cell);
    }
    out
}

/// The 80 % intervals' coverage: (minutes ahead, share of actuals inside) for every horizon
/// step, and over all of them.
fn coverage(sc: &Scores) -> (Vec<(i64, f64)>, f64) {
    let (mut inside, mut all) = (0, 0);
    let mut steps = Vec::new();
    for (minutes, (_, pairs, hit)) in sc {
        steps.push((*minutes, *hit as f64 / *pairs as f64));
        (inside, all) = (inside + hit, all + pairs);
    }
    (steps, inside as f64 / all as f64)
}

fn baseline(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo(path)).unwrap()).unwrap()
}

/// Backtest every `(name, history, time zone)` at once (each is one process), from the first
/// origin in its baselines' results.
fn backtest_all(runs: &[(String, PathBuf, &str)], baselines: &[Value], dir: &Path) -> Vec<Scores> {
    std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .zip(baselines)
            .map(|((name, history, tz), b)| {
                let origin = b["setup"]["first_origin"].as_str().unwrap().to_string();
                s.spawn(move || backtest(name, history, tz, &origin, dir))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn the_default_model_meets_the_accuracy_targets_on_every_given_series() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<(String, PathBuf, &str)> = SERIES
        .iter()
        .map(|(name, tz)| {
            let history = repo(&format!("tests/data/{name}.csv"));
            (name.to_string(), history, *tz)
        })
        .collect();
    let baselines: Vec<Value> = SERIES
        .iter()
        .map(|(name, _)| baseline(&format!("tests/eval/baselines/{name}.json")))
        .collect();
    let scores = backtest_all(&runs, &baselines, dir.path());

    let mut ratios = Vec::new();
    let mut failures = Vec::new();
    for (((name, _, _), b), sc) in runs.iter().zip(&baselines).zip(&scores) {
        for cell in cells(name, b, sc) {
            ratios.push(cell.ratio());
            if cell.mase > cell.best {
                failures.push(format!(
                    "{}: MASE {:.4} above {}'s {:.4}",
                    cell.label, cell.mase, cell.best_model, cell.best
                ));
            }
        }
        // 80 % intervals: 75-85 % of the actuals inside, at every horizon step.
        let (steps, all) = coverage(sc);
        for (minutes, share) in steps {
            if !(0.75..=0.85).contains(&share) {
                failures.push(format!(
                    "{name} {minutes} min: 80 % interval covers {:.1} %",
                    100.0 * share
                ));
            }
        }
        eprintln!("{name}: 80 % interval coverage {:.1} %", 100.0 * all);
    }
    let mean = mean(&ratios);
    eprintln!(
        "mean MASE / best baseline: {mean:.4} over {} cells",
        ratios.len()
    );
    if mean > 0.90 {
        failures.push(format!(
            "mean MASE / best baseline {mean:.4}: not 10 % below"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const UTC: &str = "UTC";
const LONDON: &str = "Europe/London";

/// A series `scripts/resampled.sh` derives from a given one, rebuilt here as pandas built it
/// for the baselines in `tests/eval/baselines-resampled/`.
enum Derived {
    /// Sums over bins of this many seconds, aligned to midnight UTC (pandas'
    /// `resample(step).sum()`: a bin with no values sums to 0).
    Sum(i64),
    /// The points at or after the last one minus this many days, as written.
    LastDays(i64),
    /// The values times a ramp from 1 to this over the series, to 3 decimals
    /// (`s * np.linspace(1, to, len(s))`).
    Ramp(f64),
}

fn derive(src: &Path, how: &Derived, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<(i64, &str)> = lines
        .map(|l| {
            let (t, _) = l.split_once(',').unwrap();
            (DateTime::parse_from_rfc3339(t).unwrap().timestamp(), l)
        })
        .collect();
    let mut out = format!("{header}\n");
    match how {
        Derived::LastDays(days) => {
            let from = rows.last().unwrap().0 - days * 86_400;
            for (_, l) in rows.iter().filter(|(t, _)| *t >= from) {
                out.push_str(l);
                out.push('\n');
            }
        }
        Derived::Ramp(to) => {
            let last = rows.len().max(2) - 1;
            for (i, (_, l)) in rows.iter().enumerate() {
                let (t, v) = l.split_once(',').unwrap();
                let v: f64 = v.parse().unwrap();
                let r = v * (1.0 + (to - 1.0) * i as f64 / last as f64);
                out.push_str(&format!("{t},{}\n", (r * 1000.0).round() / 1000.0));
            }
        }
        Derived::Sum(step) => {
            let bin = |t: i64| t.div_euclid(*step) * step;
            let (first, last) = (bin(rows[0].0), bin(rows.last().unwrap().0));
            let mut sums = vec![0.0; ((last - first) / step + 1) as usize];
            for (t, l) in &rows {
                let v: f64 = l.split_once(',').unwrap().1.parse().unwrap();
                sums[((bin(*t) - first) / step) as usize] += v;
            }
            for (k, v) in sums.iter().enumerate() {
                let t = DateTime::from_timestamp(first + k as i64 * step, 0).unwrap();
                out.push_str(&format!("{},{v}\n", t.format("%Y-%m-%dT%H:%M:%SZ")));
            }
        }
    }
    std::fs::write(dst, out).unwrap();
}

/// On series the models were not tuned on, against the baselines run on exactly those
/// (`tests/eval/baselines-resampled/`): the given ones at other steps, cut to two weeks of
/// history, with a growth trend or a decline (rebuilt here as `scripts/resampled.sh` built
/// them with pandas), and the seeded ones the script generates (`tests/data/heldout/`: a
/// random walk with a daily cycle, weakly seasonal request counts and CPU, the NAB counts
/// thinned to a tenth). A guard that the model's lead is not the given files' alone. The
/// bounds are looser than the given series' targets: a cut leaves 2 test days (48 origins a
/// horizon), and near counting noise every model scores alike (the current figures are in
/// `docs/accuracy.md`). It fails if the mean rises above 0.92, a cell above 1.3 or a
/// series' coverage leaves 70-90 %.
#[test]
fn the_default_model_keeps_its_lead_on_series_it_was_not_tuned_on() {
    let dir = tempfile::tempdir().unwrap();
    // (name, source under tests/data, time zone, how it is derived; `None`: read as it is,
    // one of the seeded series the script generates, copied to tests/data/heldout/).
    let (amzn, goog, taylor) = (
        "nab_twitter_volume_amzn",
        "nab_twitter_volume_goog",
        "taylor_uk_electricity",
    );
    let derived: Vec<(&str, &str, &str, Option<Derived>)> = vec![
        ("amzn_10m", amzn, UTC, Some(Derived::Sum(600))),
        ("amzn_15m", amzn, UTC, Some(Derived::Sum(900))),
        ("goog_10m", goog, UTC, Some(Derived::Sum(600))),
        ("goog_15m", goog, UTC, Some(Derived::Sum(900))),
        ("amzn_16d", amzn, UTC, Some(Derived::LastDays(16))),
        ("goog_16d", goog, UTC, Some(Derived::LastDays(16))),
        ("taylor_16d", taylor, LONDON, Some(Derived::LastDays(16))),
        ("amzn_14d", amzn, UTC, Some(Derived::LastDays(14))),
        ("goog_14d", goog, UTC, Some(Derived::LastDays(14))),
        ("taylor_14d", taylor, LONDON, Some(Derived::LastDays(14))),
        ("goog_trend", goog, UTC, Some(Derived::Ramp(2.0))),
        ("taylor_trend", taylor, LONDON, Some(Derived::Ramp(2.0))),
        ("amzn_decline", amzn, UTC, Some(Derived::Ramp(0.5))),
        ("random_walk", "heldout/random_walk", UTC, None),
        (
            "random_walk_14d",
            "heldout/random_walk",
            UTC,
            Some(Derived::LastDays(14)),
        ),
        ("elb_like", "heldout/elb_like", UTC, None),
        ("cpu_like", "heldout/cpu_like", UTC, None),
        ("amzn_thin", "heldout/amzn_thin", UTC, None),
        ("goog_thin", "heldout/goog_thin", UTC, None),
    ];
    let runs: Vec<(String, PathBuf, &str)> = derived
        .iter()
        .map(|(name, src, tz, how)| {
            let src = repo(&format!("tests/data/{src}.csv"));
            let history = match how {
                Some(how) => {
                    let dst = dir.path().join(format!("{name}.csv"));
                    derive(&src, how, &dst);
                    dst
                }
                None => src,
            };
            (name.to_string(), history, *tz)
        })
        .collect();
    let baselines: Vec<Value> = derived
        .iter()
        .map(|(name, ..)| baseline(&format!("tests/eval/baselines-resampled/{name}.json")))
        .collect();
    let scores = backtest_all(&runs, &baselines, dir.path());

    let mut ratios = Vec::new();
    let mut failures = Vec::new();
    for (((name, _, _), b), sc) in runs.iter().zip(&baselines).zip(&scores) {
        for cell in cells(name, b, sc) {
            ratios.push(cell.ratio());
            if cell.ratio() > 1.3 {
                failures.push(format!(
                    "{}: MASE {:.4}, {:.2}x {}'s {:.4}",
                    cell.label,
                    cell.mase,
                    cell.ratio(),
                    cell.best_model,
                    cell.best
                ));
            }
        }
        let (_, all) = coverage(sc);
        eprintln!("{name}: 80 % interval coverage {:.1} %", 100.0 * all);
        if !(0.70..=0.90).contains(&all) {
            failures.push(format!("{name}: 80 % interval covers {:.1} %", 100.0 * all));
        }
    }
    let mean = mean(&ratios);
    let ahead = ratios.iter().filter(|r| **r <= 1.0).count();
    eprintln!(
        "mean MASE / best baseline: {mean:.4} over {} cells, {ahead} at or below",
        ratios.len()
    );
    let bound = 0.92;
    if mean > bound {
        failures.push(format!("mean MASE / best baseline {mean:.4} above {bound}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
