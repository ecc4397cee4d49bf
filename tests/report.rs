//! `tidecast report`: the real binary on the tidal trace, the page it writes and the Parquet
//! files the notebooks read.

use std::path::{Path, PathBuf};
use tidecast_io::{ReadOptions, read_samples};
use tidecast_testing::{Binary, data_path as data};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

/// The HPA of the README recipe, one pod serving the target (no headroom).
const HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: tv-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: tv-api}
  minReplicas: 2
  maxReplicas: 200
  metrics:
    - type: External
      external:
        metric: {name: lb_connections_predicted}
        target: {type: AverageValue, averageValue: \"1000\"}
";

/// The tidal trace as `name.csv` in `dir`, its values times `scale`.
fn trace(dir: &Path, name: &str, scale: f64) -> PathBuf {
    let text = std::fs::read_to_string(data("tidal_lb_connections.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        match line.split_once(',') {
            Some((t, v)) if i > 0 => {
                let v: f64 = v.parse().unwrap();
                out.push_str(&format!("{t},{}\n", v * scale));
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, out).unwrap();
    path
}

fn column(path: &Path, name: &str) -> Vec<f64> {
    let opts = ReadOptions::new().value_column(name);
    read_samples(path, &opts)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|s| s.value)
        .collect()
}

/// Two services on one page: an overview linking both, every chart of each inline, and the
/// forecasts and replay steps of both in one Parquet file each, with the documented columns.
#[test]
fn a_report_of_two_services_has_an_overview_every_chart_and_parquet_for_notebooks() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        trace(dir.path(), "tv-api", 1.0),
        trace(dir.path(), "epg", 0.5),
    );
    let hpa = dir.path().join("hpa.yaml");
    std::fs::write(&hpa, HPA).unwrap();
    let (html, pq) = (dir.path().join("report.html"), dir.path().join("pq"));
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let args = [
        "report",
        "--history",
        &p(&a),
        &p(&b),
        "--timezone",
        "Asia/Shanghai",
        "--model",
        "tidal",
        "--from",
        "2026-10-28T16:00:00Z",
        "--to",
        "2026-10-30T15:00:00Z",
        "--hpa",
        &p(&hpa),
        "--pod-capacity",
        "1000",
        "--sweep-leads",
        "5m,15m",
        "--sweep-quantiles",
        "0.5,0.9",
        "--out",
        &p(&html),
        "--parquet",
        &p(&pq),
    ];
    TIDECAST.ok(&args);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h2 id=\"overview\">Overview</h2>"),
        "an overview first"
    );
    for name in ["tv-api", "epg"] {
        assert!(
            page.contains(&format!("<h2>{name}</h2>")),
            "{name} has a section"
        );
    }
    // Per service: forecast against actual, by hour, by horizon, the replay, two frontiers.
    assert_eq!(page.matches("<svg").count(), 12);
    for figure in [
        "breach min, reactive",
        "breach min, predictive",
        "interval coverage",
        "recommended",
    ] {
        assert!(page.contains(figure), "{figure} missing");
    }
    assert!(
        !page.contains("<script") && !page.contains("src="),
        "nothing fetched"
    );

    let forecasts = pq.join("forecasts.parquet");
    let err = read_samples(
        &forecasts,
        &ReadOptions::new().value_column("no-such-column"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("target, origin, timestamp, forecast, lower, upper, actual"),
        "the backtest's columns after the target's name: {err}"
    );
    // Two services x 47 hourly origins (the last an hour before --to, so its forecast is
    // scored) x 60 steps.
    let (lower, point, upper) = (
        column(&forecasts, "lower"),
        column(&forecasts, "forecast"),
        column(&forecasts, "upper"),
    );
    assert_eq!(point.len(), 2 * 47 * 60);
    for i in 0..point.len() {
        assert!(lower[i] <= point[i] && point[i] <= upper[i], "row {i}");
    }
    let replay = pq.join("replay.parquet");
    let load = column(&replay, "load");
    assert_eq!(
        load.len(),
        2 * 47 * 3600 / 15,
        "47 hours at 15 s syncs, twice"
    );
    let (ready, capacity) = (
        column(&replay, "predictive_ready"),
        column(&replay, "predictive_capacity"),
    );
    for i in 0..load.len() {
        assert_eq!(capacity[i], ready[i] * 1000.0);
    }
}

/// The page alone, without an HPA: the forecast charts only, no replay section.
#[test]
fn a_report_without_an_hpa_shows_the_forecast_only() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let history = data("tidal_lb_connections.csv");
    TIDECAST.ok(&[
        "report",
        "--history",
        history.to_str().unwrap(),
        "--model",
        "tidal",
        "--from",
        "2026-10-29T16:00:00Z",
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(!page.contains("HPA replay") && !page.contains("Overview"));
}

#[test]
fn a_report_refuses_a_stretch_outside_the_history_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let history = data("tidal_lb_connections.csv");
    let out = TIDECAST.run(&[
        "report",
        "--history",
        history.to_str().unwrap(),
        "--from",
        "2020-01-01T00:00:00Z",
        "--out",
        html.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("tidal_lb_connections.csv") && err.contains("no origins"),
        "{err}"
    );
    assert!(!html.exists(), "no page is written on an error");
    // --hpa without what a pod serves is refused before any work.
    let out = TIDECAST.run(&[
        "report",
        "--history",
        history.to_str().unwrap(),
        "--hpa",
        "x.yaml",
        "--out",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pod-capacity"));
}
