//! Integration tests: the real `tidecast` binary on the real series in `tests/data/`.

use std::path::Path;
use tidecast_testing::{Binary, assert_all_close, data_path as data};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

fn tidecast(args: &[&str]) -> std::process::Output {
    TIDECAST.run(args)
}

fn ok(args: &[&str]) -> String {
    TIDECAST.ok(args)
}

type Rows = Vec<Vec<String>>;

fn csv(text: &str) -> (Vec<String>, Rows) {
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

#[test]
fn forecast_on_a_real_series_writes_the_contract_columns_and_keeps_the_invariants() {
    let h = data("nab_twitter_volume_goog.csv");
    let out = tidecast(&[
        "forecast",
        "--history",
        h.to_str().unwrap(),
        "--horizon",
        "2h",
    ]);
    assert!(out.status.success());
    // stderr says what the fit chose: the combination, its tidal part's profile and decays.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("model: auto(tidal(") && err.contains("phi="),
        "{err}"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (header, rows) = csv(&text);
    assert_eq!(header, ["timestamp", "forecast", "lower", "upper"]);
    assert_eq!(rows.len(), 24, "2h of 5-minute steps");
    assert_eq!(
        rows[0][0], "2015-04-22T21:52:53Z",
        "one step after the last sample"
    );
    for r in &rows {
        let (f, lo, hi) = (num(&r[1]), num(&r[2]), num(&r[3]));
        assert!(f.is_finite() && lo.is_finite() && hi.is_finite());
        assert!(lo <= f && f <= hi, "{r:?}");
        assert!(
            lo >= 0.0,
            "non-negative data gives non-negative bounds: {r:?}"
        );
        assert!(hi > lo, "a real interval: {r:?}");
    }
}

#[test]
fn extra_quantiles_become_columns_and_parquet_output_works() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.parquet");
    let h = data("taylor_uk_electricity.csv");
    ok(&[
        "forecast",
        "--history",
        h.to_str().unwrap(),
        "--horizon",
        "3h",
        "--timezone",
        "Europe/London",
        "--quantiles",
        "0.5,0.95",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
    let csv_out = dir.path().join("f.csv");
    ok(&[
        "forecast",
        "--history",
        h.to_str().unwrap(),
        "--horizon",
        "3h",
        "--quantiles",
        "0.95",
        "--out",
        csv_out.to_str().unwrap(),
    ]);
    let (header, rows) = csv(&std::fs::read_to_string(csv_out).unwrap());
    assert_eq!(header, ["timestamp", "forecast", "lower", "upper", "q0.95"]);
    for r in rows {
        assert!(
            num(&r[4]) >= num(&r[1]),
            "the 95th percentile is above the point: {r:?}"
        );
    }
}

/// Cut a series file at `origin` the way an analyst (or check.sh) would: keep rows whose
/// RFC 3339 timestamp is <= origin.
fn cut(src: &Path, origin: &str, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.split(',').next().unwrap() <= origin {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(dst, out).unwrap();
}

fn assert_honest_replay(series: &str, tz: &str, from: &str, to: &str, every: &str) {
    let dir = tempfile::tempdir().unwrap();
    let src = data(series);
    let bt = dir.path().join("bt.csv");
    ok(&[
        "backtest",
        "--history",
        src.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--every",
        every,
        "--horizon",
        "60m",
        "--timezone",
        tz,
        "--out",
        bt.to_str().unwrap(),
        "--quiet",
    ]);
    let (header, rows) = csv(&std::fs::read_to_string(&bt).unwrap());
    assert_eq!(
        header,
        [
            "origin",
            "timestamp",
            "forecast",
            "lower",
            "upper",
            "actual"
        ]
    );
    let mut origins: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    origins.dedup();
    assert!(origins.len() >= 3, "several origins replayed");
    for origin in &origins {
        let cut_file = dir.path().join("cut.csv");
        cut(&src, origin, &cut_file);
        let text = ok(&[
            "forecast",
            "--history",
            cut_file.to_str().unwrap(),
            "--horizon",
            "60m",
            "--timezone",
            tz,
        ]);
        let (_, fc) = csv(&text);
        let bt_rows: Vec<&Vec<String>> = rows.iter().filter(|r| &r[0] == origin).collect();
        assert_eq!(bt_rows.len(), fc.len(), "origin {origin}");
        for (b, f) in bt_rows.iter().zip(&fc) {
            assert_eq!(b[1], f[0], "timestamps at origin {origin}");
        }
        // forecast, lower, upper: columns 2.. of the backtest, 1.. of the forecast.
        for k in 0..3 {
            let column = |rows: &[&Vec<String>], first: usize| -> Vec<f64> {
                rows.iter().map(|r| num(&r[first + k])).collect()
            };
            eprintln!("origin {origin}, column {k}");
            assert_all_close(
                &column(&bt_rows, 2),
                &column(&fc.iter().collect::<Vec<_>>(), 1),
                1e-6,
                1e-15,
            );
        }
    }
}

#[test]
fn backtest_rows_equal_forecasts_on_the_cut_history_of_a_real_series() {
    // Origins straddle two daily refits and fall between grid points (the data is at :53 s).
    assert_honest_replay(
        "nab_twitter_volume_goog.csv",
        "UTC",
        "2015-04-14T21:42:53Z",
        "2015-04-15T02:42:53Z",
        "100m",
    );
}

#[test]
fn backtest_rows_equal_forecasts_on_the_cut_history_in_a_local_time_zone() {
    assert_honest_replay(
        "tidal_lb_connections.csv",
        "Asia/Shanghai",
        "2026-10-28T15:30:00Z",
        "2026-10-29T01:00:00Z",
        "3h",
    );
}

#[test]
fn backtest_prints_accuracy_by_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let bt = dir.path().join("bt.csv");
    let src = data("nab_twitter_volume_amzn.csv");
    let text = ok(&[
        "backtest",
        "--history",
        src.to_str().unwrap(),
        "--from",
        "2015-04-10T00:02:53Z",
        "--every",
        "1h",
        "--horizon",
        "60m",
        "--out",
        bt.to_str().unwrap(),
    ]);
    assert!(text.contains("MASE") && text.contains("sMAPE") && text.contains("peak-under"));
    for h in ["5m", "15m", "30m", "1h"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{h} ")))
            .unwrap_or_else(|| panic!("no {h} row in\n{text}"));
        let mase = num(line.split_whitespace().nth(2).unwrap());
        // A seasonal naive scores about 1 here; a useful model must do clearly better.
        assert!(mase > 0.0 && mase < 0.9, "{h}: MASE {mase}");
    }
}

#[test]
fn a_bad_timestamp_fails_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.csv");
    std::fs::write(
        &f,
        "timestamp,value\n2026-10-01T00:00:00Z,1\n2026-10-01T00:01:00Z,2\nnot-a-time,3\n",
    )
    .unwrap();
    let out = tidecast(&[
        "forecast",
        "--history",
        f.to_str().unwrap(),
        "--horizon",
        "1h",
    ]);
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4:", f.display())) && err.contains("not-a-time"),
        "{err}"
    );
}

#[test]
fn too_little_history_and_bad_flags_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("short.csv");
    std::fs::write(&f, "timestamp,value\n0,1\n60,2\n120,3\n").unwrap();
    let short = f.to_str().unwrap();
    // (extra arguments after `forecast --history FILE`, exit code, what stderr must name)
    let cases: [(&str, &[&str], i32, &[&str]); 4] = [
        (
            short,
            &["--horizon", "1h"],
            1,
            &["short.csv", "at least one day"],
        ),
        (short, &["--horizon", "1fortnight"], 64, &["--horizon"]),
        (
            short,
            &["--horizon", "1h", "--timezone", "Mars/Base"],
            64,
            &["Mars/Base"],
        ),
        (
            "/no/such/file.csv",
            &["--horizon", "1h"],
            65,
            &["/no/such/file.csv"],
        ),
    ];
    for (history, extra, code, named) in cases {
        let mut args = vec!["forecast", "--history", history];
        args.extend_from_slice(extra);
        let out = tidecast(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        for n in named {
            assert!(err.contains(n), "{args:?}: stderr should name {n:?}: {err}");
        }
    }
    // An error that shows its cause says it once.
    let out = tidecast(&[
        "forecast",
        "--history",
        data("taylor_uk_electricity.csv").to_str().unwrap(),
        "--horizon",
        "1h",
        "--out",
        "/no/such/dir/f.csv",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "error: /no/such/dir/f.csv: cannot write: No such file or directory (os error 2)"
    );
    assert_eq!(out.status.code(), Some(73), "EX_CANTCREAT: {err}");
}

/// `tidecast forecast ... | head -1` and a summary printed into a closed pipe end quietly with
/// success, as Unix tools do, instead of a panic or an "error" naming stdout with the exit code
/// of bad input data.
#[test]
fn a_reader_that_closes_the_pipe_early_stops_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let history = data("tidal_lb_connections.csv");
    let spawn = |args: &[&str]| {
        TIDECAST
            .command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs")
    };
    // Three days at one minute: ~250 KB of CSV, more than a pipe holds, so the writer is
    // still writing when the reader goes.
    let mut child = spawn(&[
        "forecast",
        "--history",
        history.to_str().unwrap(),
        "--horizon",
        "3d",
    ]);
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim(), "timestamp,forecast,lower,upper");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.is_empty(), "{err}");

    // The backtest's summary goes to stdout after the file is written; its reader is gone.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bt.csv");
    let mut child = spawn(&[
        "backtest",
        "--history",
        history.to_str().unwrap(),
        "--from",
        "2026-10-20T00:00:00Z",
        "--to",
        "2026-10-20T02:00:00Z",
        "--every",
        "1h",
        "--horizon",
        "15m",
        "--out",
        file.to_str().unwrap(),
    ]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    assert!(file.exists());
}

/// `forecast` and `backtest` default to the training window `serve` does (one constant).
#[test]
fn the_default_training_window_is_shown_in_the_help() {
    for command in ["forecast", "backtest"] {
        let help = ok(&[command, "--help"]);
        let line = help
            .lines()
            .skip_while(|l| !l.contains("--window <DURATION>"))
            .take_while(|l| !l.trim_start().starts_with("--") || l.contains("--window"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(line.contains("[default: 42d]"), "{command}: {line}");
    }
}

/// The HPA of the README's recipe on the tidal trace's connections: what one pod handles
/// (1,000) with 30 % headroom as the target.
const SIMULATED_HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: tv-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: tv-api}
  minReplicas: 2
  maxReplicas: 200
  metrics:
    - type: External
      external:
        metric: {name: lb_connections_predicted, selector: {matchLabels: {service: tv-api}}}
        target: {type: AverageValue, averageValue: \"700\"}
";

/// The arguments of `tidecast simulate` on the tidal trace with `hpa` (a manifest's text,
/// written to `dir/hpa.yaml`), one pod serving 1,000, then `extra`.
fn simulate_args(dir: &Path, hpa: &str, extra: &[&str]) -> Vec<String> {
    let path = dir.join("hpa.yaml");
    std::fs::write(&path, hpa).unwrap();
    let trace = data("tidal_lb_connections.csv");
    let mut args: Vec<String> = ["simulate", "--history"].map(String::from).to_vec();
    args.push(trace.to_str().unwrap().into());
    args.extend(["--timezone", "Asia/Shanghai", "--hpa"].map(String::from));
    args.push(path.to_str().unwrap().into());
    args.extend(["--pod-capacity", "1000"].map(String::from));
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Two days of the tidal trace's peaks: the predictive HPA (what serve would have served)
/// breaches far less than the reactive one, the oracle not more than the predictive one, and
/// the JSON has the documented shape.
#[test]
fn simulate_replays_the_hpa_reactive_predictive_and_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sim.json");
    let timeline = dir.path().join("timeline.csv");
    let args = simulate_args(
        dir.path(),
        SIMULATED_HPA,
        &[
            "--from",
            "2026-10-27T16:00:00Z",
            "--to",
            "2026-10-29T16:00:00Z",
            "--json",
            json.to_str().unwrap(),
            "--out",
            timeline.to_str().unwrap(),
        ],
    );
    let out = ok(&strs(&args));
    assert!(out.contains("breach minutes"), "{out}");
    let timeline = std::fs::read_to_string(&timeline).unwrap();
    let (header, rows) = csv(&timeline);
    assert_eq!(
        header[..5],
        [
            "timestamp",
            "load",
            "reactive_replicas",
            "reactive_ready",
            "reactive_capacity"
        ]
    );
    assert_eq!(header.len(), 11);
    assert_eq!(rows.len(), 2 * 86_400 / 15);
    // Capacity is the ready pods times what a pod serves, on every row.
    for r in &rows {
        assert_eq!(num(&r[4]), num(&r[3]) * 1000.0);
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let field = |run: &str, f: &str| v[run][f].as_f64().unwrap_or_else(|| panic!("{run}.{f}"));
    for run in ["reactive", "predictive", "oracle"] {
        for f in [
            "breach_minutes",
            "unserved",
            "pod_hours",
            "scale_ups",
            "scale_downs",
        ] {
            assert!(field(run, f) >= 0.0, "{run}.{f}");
        }
        // One sync every 15 s over two days.
        assert_eq!(
            v[run]["replicas"].as_array().unwrap().len(),
            2 * 86_400 / 15
        );
    }
    let (reactive, predictive) = (
        field("reactive", "breach_minutes"),
        field("predictive", "breach_minutes"),
    );
    assert!(reactive > 0.0, "the reactive HPA meets the ramps late");
    assert!(predictive < reactive / 2.0, "{predictive} vs {reactive}");
    assert!(field("oracle", "breach_minutes") <= predictive);
}

#[test]
fn simulate_refuses_a_manifest_it_cannot_replay_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SIMULATED_HPA.replace("type: External", "type: Pods");
    let out = tidecast(&strs(&simulate_args(dir.path(), &manifest, &[])));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("hpa.yaml") && err.contains("no External metric"),
        "{err}"
    );
}

/// The sweep: every lead x quantile cell on both halves, and a recommendation within the
/// budget on the half it was chosen on.
#[test]
fn simulate_sweeps_leads_and_quantiles_and_recommends_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    // No headroom: the target is what a pod serves, so the lead and quantile matter.
    let manifest = SIMULATED_HPA.replace("\"700\"", "\"1000\"");
    let args = simulate_args(
        dir.path(),
        &manifest,
        &[
            "--from",
            "2026-10-26T16:00:00Z",
            "--to",
            "2026-10-30T15:00:00Z",
            "--sweep-leads",
            "5m,15m",
            "--sweep-quantiles",
            "0.5,0.9",
            "--budget",
            "1.2",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    ok(&strs(&args));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    let pick = &v["recommendation"];
    let chosen = cells
        .iter()
        .find(|c| c["lead_seconds"] == pick["lead_seconds"] && c["quantile"] == pick["quantile"])
        .expect("the recommendation is a cell");
    let first = &chosen["chosen_on"];
    let within = |c: &serde_json::Value| {
        c["chosen_on"]["pod_hours"].as_f64().unwrap()
            <= 1.2 * c["chosen_on"]["oracle_pod_hours"].as_f64().unwrap()
    };
    assert!(within(chosen), "{first}");
    for c in cells.iter().filter(|c| within(c)) {
        assert!(
            first["breach_minutes"].as_f64() <= c["chosen_on"]["breach_minutes"].as_f64(),
            "{c} breaches less than the recommendation"
        );
    }
    // The higher quantile at the same lead costs more pod-hours and breaches no more.
    let cell = |lead: i64, q: f64| {
        cells
            .iter()
            .find(|c| c["lead_seconds"] == lead && c["quantile"] == q)
            .unwrap()["chosen_on"]
            .clone()
    };
    let (low, high) = (cell(900, 0.5), cell(900, 0.9));
    assert!(high["pod_hours"].as_f64() > low["pod_hours"].as_f64());
    assert!(high["breach_minutes"].as_f64() <= low["breach_minutes"].as_f64());
}
