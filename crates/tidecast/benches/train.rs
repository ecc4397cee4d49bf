//! `tidecast train` of 1,000 1-minute targets with a 28-day window from a real Prometheus
//! (backfilled with 30 days of 1,000 tidal series), as a daily CronJob runs it: first into an
//! empty store as of yesterday (every target published, no current model to compare), then
//! as of now against those models (each candidate and the current model scored on the
//! holdout day). `cargo bench -p tidecast --bench train` prints the wall time, the outcomes
//! and the store's size per artifact; `-- --quick` runs 20 targets x 3 days. No assertion:
//! numbers go to docs/benchmarks.md.

// A benchmark measures real elapsed time.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;
use tidecast_testing::{FixtureSeries, PrometheusFixture};

fn main() {
    let quick = std::env::args().any(|a| a == "--test" || a == "--quick");
    // The window, plus the holdout day, plus the day between the two runs.
    let (targets, window_days, jobs) = if quick { (20, 3, 2) } else { (1000, 28, 2) };
    let jobs = std::env::var("TRAIN_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(jobs);
    let series: Vec<FixtureSeries> = (0..targets)
        .map(|i| {
            FixtureSeries::service(&format!("svc-{i:04}"), 500.0 + 7.0 * i as f64, i as u64 + 1)
        })
        .collect();
    let t = Instant::now();
    let p = PrometheusFixture::start(series, window_days + 2, 60, None)
        .expect("prometheus fixture (apt-get install -y prometheus)");
    println!(
        "fixture: {targets} series x {} d x 1 min backfilled and started in {:.0} s",
        window_days + 2,
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &p, targets, window_days);
    let yesterday = (p.end - 86_400).to_string();
    for (label, at) in [
        (
            "into an empty store, as of yesterday",
            Some(yesterday.as_str()),
        ),
        ("against yesterday's models, as of now", None),
    ] {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%M"]).arg(env!("CARGO_BIN_EXE_tidecast"));
        cmd.args(["train", "--config"]).arg(&cfg);
        cmd.args(["--jobs", &jobs.to_string()]);
        if let Some(at) = at {
            cmd.args(["--at", at]);
        }
        let t = Instant::now();
        let out = cmd.stderr(Stdio::piped()).output().expect("tidecast train");
        let secs = t.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let peak_kib: f64 = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(f64::NAN);
        let summary = stdout.lines().last().unwrap_or_default();
        println!(
            "train {label}, --jobs {jobs}: {secs:.1} s, exit {}, peak RSS {:.0} MiB\n  {summary}",
            out.status.code().unwrap_or(-1),
            peak_kib / 1024.0
        );
        if !out.status.success() {
            eprintln!("{}", stderr.lines().take(20).collect::<Vec<_>>().join("\n"));
        }
    }
    let (files, bytes) = store_size(&dir.path().join("models"));
    println!(
        "store: {files} artifacts, {:.1} MB, {:.1} KB per artifact",
        bytes as f64 / 1e6,
        bytes as f64 / files.max(1) as f64 / 1e3
    );
}

/// A serve config naming one target per backfilled service, 1-minute steps, the store in
/// `dir/models`.
fn config(
    dir: &Path,
    p: &PrometheusFixture,
    targets: usize,
    window_days: i64,
) -> std::path::PathBuf {
    let mut yaml = format!(
        "prometheus: {{url: \"{}\"}}\n\
         models: {{store: \"file://{}/models\"}}\n\
         tls: {{cert_file: unused.crt, key_file: unused.key}}\n\
         defaults: {{metric: lb_connections_predicted, timezone: Asia/Shanghai, step: 1m, window: {window_days}d}}\n\
         targets:\n",
        p.url(),
        dir.display()
    );
    for i in 0..targets {
        let s = format!("svc-{i:04}");
        yaml.push_str(&format!(
            "  - {{name: {s}, labels: {{service: {s}}}, query: 'sum({}{{service=\"{s}\"}})'}}\n",
            p.metric
        ));
    }
    let path = dir.join("tidecast.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The `.model` files under `dir` and their total size.
fn store_size(dir: &Path) -> (usize, u64) {
    let mut out = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            let (n, b) = store_size(&path);
            out = (out.0 + n, out.1 + b);
        } else if path.extension().is_some_and(|x| x == "model") {
            out = (out.0 + 1, out.1 + e.metadata().map_or(0, |m| m.len()));
        }
    }
    out
}
