//! The model lifecycle end to end: `tidecast train` against a real Prometheus (backfilled
//! with promtool on loopback) publishing to a directory store, `tidecast models` managing
//! it, servers reading it, and `train` killed mid-publish.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tidecast_testing::{Binary, FixtureSeries, PrometheusFixture, json, poll};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));
const PATIENCE: Duration = Duration::from_secs(90);
const SERVICES: [&str; 3] = ["tv-api", "epg", "login"];

fn prometheus() -> PrometheusFixture {
    PrometheusFixture::start(
        SERVICES
            .iter()
            .enumerate()
            .map(|(i, s)| FixtureSeries::service(s, 1000.0 * (i + 1) as f64, i as u64 + 1))
            .collect(),
        4,
        60,
        None,
    )
    .expect("prometheus fixture")
}

/// A serve config for the fixture's three services with a 2-day window, the store in
/// `dir/models`; `extra` is appended (top-level YAML).
fn config(dir: &Path, p: &PrometheusFixture, port: u16, extra: &str) -> PathBuf {
    let mut yaml = format!(
        "listen: 127.0.0.1:{port}\nshutdown_delay: 0s\nprometheus: {{url: \"{}\"}}\n\
         tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}\n\
         auth: {{source: files, client_ca_file: pki/ca.crt, authorization: allow_authenticated}}\n\
         defaults: {{metric: lb_connections_predicted, timezone: Asia/Shanghai, window: 2d, lead: 15m, refresh: 2s}}\n\
         targets:\n",
        p.url()
    );
    for s in SERVICES {
        yaml.push_str(&format!(
            "  - {{name: {s}, labels: {{service: {s}}}, query: 'sum(lb_active_connections{{service=\"{s}\"}})'}}\n"
        ));
    }
    yaml.push_str(extra);
    let path = dir.join("tidecast.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn store(dir: &Path) -> String {
    dir.join("models").display().to_string()
}

/// JSON lines of a `train` run: the per-target outcomes and the summary.
fn train(cfg: &Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let mut args = vec!["train", "--config", cfg.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = TIDECAST.run(&args);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn results(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.get("target").is_some())
        .map(|l| {
            (
                l["target"].as_str().unwrap().to_string(),
                l["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn train_publishes_models_and_the_models_commands_manage_them() {
    let p = prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &p, 1, "models: {store: models, keep: 2}\n");
    let (code, lines, err) = train(&cfg, &[]);
    assert_eq!(code, 0, "{err}");
    let mut r = results(&lines);
    r.sort();
    assert_eq!(
        r,
        [
            ("epg", "published"),
            ("login", "published"),
            ("tv-api", "published")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["summary"]["published"], 3, "{summary}");
    // Every published model was scored on the holdout day.
    assert!(
        lines
            .iter()
            .filter(|l| l.get("target").is_some())
            .all(|l| l["mase_new"].as_f64().is_some_and(f64::is_finite)),
        "{lines:?}"
    );

    let s = store(dir.path());
    let list = TIDECAST.ok(&["models", "list", "--store", &s]);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{list}");
    assert!(
        rows[2].starts_with("tv-api\tv") && rows[2].contains("tidal"),
        "{list}"
    );
    let shown = json(&TIDECAST.ok(&["models", "show", "tv-api", "--store", &s]));
    assert_eq!(shown["target"], "tv-api");
    assert_eq!(shown["step"], 60);
    assert_eq!(shown["window_secs"], 2 * 86_400);
    assert!(
        shown["scores"].as_array().is_some_and(|a| !a.is_empty()),
        "{shown}"
    );

    // Trained again for the same refit point: kept.
    let (code, lines, err) = train(&cfg, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        results(&lines).iter().all(|(_, r)| r == "kept"),
        "{lines:?}"
    );
    // Forced twice: three versions, two kept by retention.
    for _ in 0..2 {
        let (code, lines, err) = train(&cfg, &["--force"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            results(&lines).iter().all(|(_, r)| r == "published"),
            "{lines:?}"
        );
    }
    let versions: Vec<PathBuf> = std::fs::read_dir(dir.path().join("models/tv-api"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "model"))
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    let diff = TIDECAST.ok(&["models", "diff", "tv-api", "--store", &s]);
    assert!(diff.contains("trained at") && diff.contains("->"), "{diff}");
    let before = TIDECAST.ok(&["models", "list", "--store", &s]);
    let rolled = TIDECAST.ok(&["models", "rollback", "tv-api", "--store", &s]);
    assert!(rolled.starts_with("tv-api: current v"), "{rolled}");
    let after = TIDECAST.ok(&["models", "list", "--store", &s]);
    assert_ne!(before, after);

    // A corrupt current artifact: list and show exit 65 naming the file and the reason.
    let current = std::fs::read_to_string(dir.path().join("models/tv-api/current")).unwrap();
    let file = dir
        .path()
        .join(format!("models/tv-api/{}.model", current.trim()));
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    for args in [
        vec!["models", "list", "--store", &s],
        vec!["models", "show", "tv-api", "--store", &s],
    ] {
        let out = TIDECAST.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{args:?}: {err}");
        assert!(
            err.contains(&format!("tv-api/{}.model", current.trim())) && err.contains("corrupt"),
            "{err}"
        );
    }
    // A foreign file given to show.
    let out = TIDECAST.run(&["models", "show", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a tidecast model artifact"));
}

/// Demo certificates (CA, server, client) generated into `dir` by a short-lived demo.
fn demo_pki(dir: &Path) {
    TIDECAST
        .spawn(&["demo", "--port", "0", "--dir", dir.to_str().unwrap()])
        .stdout_until("tidecast demo: serving", PATIENCE);
}

fn get(port: u16, pki: &Path, path: &str) -> Option<serde_json::Value> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("client.crt"))
        .arg("--key")
        .arg(pki.join("client.key"))
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn servers_serve_the_stored_model_and_two_servers_agree() {
    let p = prometheus();
    let dir = tempfile::tempdir().unwrap();
    demo_pki(&dir.path().join("pki"));
    let models = "models: {store: models, fit_locally: false}\n";
    let cfg = config(dir.path(), &p, 1, models);
    let (code, _, err) = train(&cfg, &[]);
    assert_eq!(code, 0, "{err}");
    let ports = [tidecast_testing::free_port(), tidecast_testing::free_port()];
    let servers: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let d = dir.path().join(format!("s{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::symlink(dir.path().join("pki"), d.join("pki")).unwrap();
            std::os::unix::fs::symlink(dir.path().join("models"), d.join("models")).unwrap();
            let cfg = config(&d, &p, *port, models);
            TIDECAST.spawn(&[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--log-format",
                "json",
            ])
        })
        .collect();
    let pki = dir.path().join("pki");
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted";
    // Both answer, and for the same request at the same time (same minute, no new data in
    // Prometheus) the same values: the same stored models, brought up to date with the
    // same history.
    let answers = poll(PATIENCE, Duration::from_millis(500), || {
        let a = get(ports[0], &pki, path)?;
        let b = get(ports[1], &pki, path)?;
        let items = |v: &serde_json::Value| v["items"].as_array().map(|i| i.len());
        (items(&a) == Some(3)
            && items(&b) == Some(3)
            && a["items"][0]["timestamp"] == b["items"][0]["timestamp"])
            .then_some((a, b))
    })
    .unwrap_or_else(|| panic!("not served; logs: {:?}", servers[0].stderr_so_far()));
    assert_eq!(answers.0["items"], answers.1["items"]);
    for s in &servers {
        let logs = s.stderr_so_far().join("\n");
        assert_eq!(
            logs.matches("model loaded from the store").count(),
            3,
            "{logs}"
        );
        assert!(
            !logs.contains("model refitted"),
            "fit_locally: false never fits: {logs}"
        );
    }
}

#[test]
fn a_killed_train_always_leaves_complete_versions_a_server_loads() {
    let p = prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &p, 1, "models: {store: models, keep: 3}\n");
    let (code, _, err) = train(&cfg, &[]);
    assert_eq!(code, 0, "{err}");
    // How long a forced run takes, to spread the kills over it.
    let t0 = tidecast_testing::unix_now();
    let (code, _, err) = train(&cfg, &["--force"]);
    assert_eq!(code, 0, "{err}");
    let run = Duration::from_secs_f64(tidecast_testing::unix_now() - t0);
    let s = store(dir.path());
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for k in 0..100 {
        // xorshift: kill times spread over the second half of a run, where the fits end
        // and the three publishes (version file, pointer, pruning) happen.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = run.mul_f64(0.5 + (seed % 1000) as f64 / 2000.0);
        let mut child = TIDECAST
            .command()
            .args([
                "train",
                "--config",
                cfg.to_str().unwrap(),
                "--force",
                "--jobs",
                "3",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Every target's current version is complete and loads.
        let out = TIDECAST.run(&["models", "list", "--store", &s]);
        assert!(
            out.status.success(),
            "after kill {k} at {at:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
    }
    // And a server loads all of them (fit_locally false: it would fail otherwise).
    let pki = dir.path().join("pki");
    demo_pki(&pki);
    let port = tidecast_testing::free_port();
    let cfg = config(
        dir.path(),
        &p,
        port,
        "models: {store: models, fit_locally: false}\n",
    );
    let server = TIDECAST.spawn(&["serve", "--config", cfg.to_str().unwrap()]);
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted";
    poll(PATIENCE, Duration::from_millis(500), || {
        let v = get(port, &pki, path)?;
        (v["items"].as_array()?.len() == 3).then_some(())
    })
    .unwrap_or_else(|| panic!("not served; logs: {:?}", server.stderr_so_far()));
}

const DEMO_START: &str = "2026-12-07T16:30:00+08:00";

#[test]
fn the_committed_demo_models_are_what_the_code_fits() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("models");
    TIDECAST.ok(&[
        "demo",
        "--write-models",
        out.to_str().unwrap(),
        "--start",
        DEMO_START,
        "--dir",
        dir.path().join("pki").to_str().unwrap(),
    ]);
    let committed = tidecast_testing::repo_path("models/demo");
    for s in SERVICES {
        for name in ["current".to_string(), {
            let v = std::fs::read_to_string(out.join(s).join("current")).unwrap();
            format!("{}.model", v.trim())
        }] {
            let (got, want) = (out.join(s).join(&name), committed.join(s).join(&name));
            assert!(
                std::fs::read(&want).ok() == Some(std::fs::read(&got).unwrap()),
                "{} differs from what the code fits now: regenerate models/demo (models/README.md)",
                want.display()
            );
        }
    }
    // `models show` prints every field the schema requires, and no other.
    let schema = json(
        &std::fs::read_to_string(tidecast_testing::repo_path("models/artifact.schema.json"))
            .unwrap(),
    );
    let shown = json(&TIDECAST.ok(&[
        "models",
        "show",
        "tv-api",
        "--store",
        committed.to_str().unwrap(),
    ]));
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut keys: Vec<&str> = shown
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    required.sort();
    keys.sort();
    assert_eq!(keys, required);
}

#[test]
fn the_demo_serves_the_committed_models_without_fitting() {
    let dir = tempfile::tempdir().unwrap();
    let demo = TIDECAST.spawn(&[
        "demo",
        "--models",
        tidecast_testing::repo_path("models/demo").to_str().unwrap(),
        "--start",
        DEMO_START,
        "--port",
        "0",
        "--speed",
        "60",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    demo.stdout_until("tidecast demo: serving", PATIENCE);
    poll(PATIENCE, Duration::ZERO, || {
        let l = demo.next_stdout(PATIENCE).expect("status lines");
        (l.matches("[fresh]").count() == 3).then_some(())
    })
    .expect("every service fresh");
    let logs = demo.stderr_so_far().join("\n");
    assert_eq!(
        logs.matches("model loaded from the store").count(),
        3,
        "{logs}"
    );
    assert!(!logs.contains("model refitted"), "{logs}");
}
