//! End-to-end: the real binary serving over TLS on 127.0.0.1, with kubectl as the client.
//! `tidecast demo` needs nothing else; `tidecast serve` reads a real Prometheus.

use std::process::Command;
use std::time::Duration;
use tidecast_testing::{
    Binary, FakeHttp, FixtureSeries, PrometheusFixture, Reply, Running,
    assert_external_metric_value_list, json, poll, quantity_value,
};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

/// How long a harness waits for a process or server before giving up.
const PATIENCE: Duration = Duration::from_secs(60);

fn sh(cmdline: &str) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("timeout 60 {cmdline}"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_demo_serves_and_its_printed_kubectl_commands_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let demo = TIDECAST.spawn(&[
        "demo",
        "--port",
        "0",
        "--dir",
        dir.path().to_str().unwrap(),
        "--speed",
        "60",
    ]);
    let mut lines = demo.stdout_until("(401 Unauthorized)", PATIENCE);
    let unauthorized = poll(PATIENCE, Duration::ZERO, || {
        let l = demo
            .next_stdout(PATIENCE)
            .expect("the command showing the 401");
        l.trim_start().starts_with("curl ").then_some(l)
    })
    .unwrap();
    lines.push(unauthorized.clone());
    let commands: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("kubectl "))
        .collect();
    assert_eq!(commands.len(), 3, "{lines:?}");
    let curls: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert_eq!(curls.len(), 3, "{lines:?}");
    // Wait until every service has data (the status line shows all three fresh).
    poll(PATIENCE, Duration::ZERO, || {
        let l = demo
            .next_stdout(PATIENCE)
            .expect("status lines keep coming");
        (l.matches("[fresh]").count() == 3).then_some(())
    })
    .expect("services all fresh");

    // 1. The metric, as printed.
    let (ok, out, err) = sh(commands[0].trim());
    assert!(ok, "{err}");
    let v = json(&out);
    let items = assert_external_metric_value_list(&v, "lb_connections_predicted");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0]["metricLabels"],
        serde_json::json!({"service": "tv-api"})
    );

    // 2. Discovery, as printed.
    let (ok, out, err) = sh(commands[1].trim());
    assert!(ok, "{err}");
    let v = json(&out);
    assert_eq!(v["resources"][0]["name"], "lb_connections_predicted");
    assert_eq!(v["resources"][0]["namespaced"], true);

    // 3. kubectl api-resources walks /api (404 tolerated), /apis and the resource list.
    let (ok, out, err) = sh(commands[2].trim());
    assert!(ok, "{err}");
    assert!(
        out.contains("lb_connections_predicted") && out.contains("ExternalMetricValueList"),
        "{out}"
    );

    // The curl commands, as printed: the KEDA JSON and /metrics with the client certificate,
    // and without it the 401.
    let (ok, out, err) = sh(curls[0].trim());
    assert!(
        ok && json(&out)["metric"] == "lb_connections_predicted",
        "{out}{err}"
    );
    let (ok, out, err) = sh(curls[1].trim());
    assert!(
        ok && out.contains("tidecast_target_served_value{"),
        "{out}{err}"
    );
    let (ok, out, err) = sh(unauthorized.trim());
    assert!(ok, "{err}");
    assert_eq!(json(&out)["code"], 401, "{out}");
    assert_eq!(json(&out)["reason"], "Unauthorized", "{out}");

    // kubectl against a metric that does not exist: a NotFound Status, surfaced by kubectl.
    let base = commands[0].split(" get --raw").next().unwrap();
    let (ok, _, err) = sh(&format!(
        "{base} get --raw /apis/external.metrics.k8s.io/v1beta1/namespaces/default/nope"
    ));
    assert!(
        !ok && err.contains("could not find the metric nope"),
        "{err}"
    );
    // A malformed selector: BadRequest.
    let (ok, _, err) = sh(&format!(
        "{base} get --raw '/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service+%7E+x'"
    ));
    assert!(!ok && err.contains("unable to parse requirement"), "{err}");
    // kubectl version reads /version.
    let (ok, out, err) = sh(&format!("{base} version -o json"));
    assert!(ok, "{err}");
    assert!(out.contains("\"gitVersion\": \"v0.1.0\""), "{out}");
}

#[test]
fn serve_reads_a_real_prometheus_and_serves_the_predicted_value_ahead_of_live() {
    let p = PrometheusFixture::start(
        vec![
            FixtureSeries::service("tv-api", 4000.0, 1),
            FixtureSeries::service("epg", 900.0, 2),
        ],
        9,
        60,
        None,
    )
    .expect("prometheus fixture");
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    demo_pki(&pki);
    let port = tidecast_testing::free_port();
    let cfg = dir.path().join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen: 127.0.0.1:{port}
tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}
auth: {{source: files, client_ca_file: pki/ca.crt, authorization: allow_authenticated}}
prometheus: {{url: "{url}"}}
defaults: {{metric: lb_connections_predicted, timezone: Asia/Shanghai, window: 8d, lead: 15m, refresh: 2s, namespaces: [default]}}
targets:
  - {{name: tv-api, labels: {{service: tv-api}}, query: 'sum(lb_active_connections{{service="tv-api"}})'}}
  - {{name: epg, labels: {{service: epg}}, query: 'sum(lb_active_connections{{service="epg"}})', mode: observe}}
"#,
            url = p.url()
        ),
    )
    .unwrap();
    let out = TIDECAST.ok(&["serve", "--config", cfg.to_str().unwrap(), "--check"]);
    assert!(out.contains("ok, 2 targets"), "{out}");

    let serve = TIDECAST.spawn(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--log-format",
        "json",
    ]);

    let k = format!(
        "kubectl --server https://127.0.0.1:{port} --certificate-authority {pki}/ca.crt --client-certificate {pki}/client.crt --client-key {pki}/client.key",
        pki = pki.display()
    );
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted";
    let v = poll(Duration::from_secs(90), Duration::from_millis(500), || {
        let (ok, out, _) = sh(&format!("{k} get --raw '{path}'"));
        let v = json(ok.then_some(out.as_str())?);
        v["items"]
            .as_array()
            .is_some_and(|i| i.len() == 2)
            .then_some(v)
    })
    .unwrap_or_else(|| panic!("never served; logs: {:?}", serve.stderr_so_far()));
    // Served vs the live value in Prometheus.
    let last = |svc: &str| {
        let fs = p.series.iter().find(|s| s.labels[0].1 == svc).unwrap();
        fs.generator.value(p.end)
    };
    for item in assert_external_metric_value_list(&v, "lb_connections_predicted") {
        let svc = item["metricLabels"]["service"].as_str().unwrap();
        let value = quantity_value(item["value"].as_str().unwrap());
        if svc == "tv-api" {
            assert!(
                value >= last("tv-api") - 0.001,
                "scale mode never serves below live: {value} vs {}",
                last("tv-api")
            );
        } else {
            assert!(
                (value - last("epg")).abs() < 0.01,
                "observe mode serves live: {value} vs {}",
                last("epg")
            );
        }
    }
    // A namespace that may not read the metric.
    let (ok, _, err) = sh(&format!(
        "{k} get --raw /apis/external.metrics.k8s.io/v1beta1/namespaces/other/lb_connections_predicted"
    ));
    assert!(
        !ok && err.contains("Forbidden") && err.contains("not in the namespaces allowed"),
        "{err}"
    );
    // JSON logs name each target's state.
    let logs = serve.stderr_so_far();
    assert!(
        logs.iter().any(|l| l.starts_with('{')
            && l.contains("\"target_name\":\"tv-api\"")
            && l.contains("\"state\":\"fresh\"")),
        "{logs:?}"
    );
}

/// Demo certificates (CA, server, client) generated into `dir` by a short-lived demo.
fn demo_pki(dir: &std::path::Path) {
    TIDECAST
        .spawn(&["demo", "--port", "0", "--dir", dir.to_str().unwrap()])
        .stdout_until("tidecast demo: serving", PATIENCE);
}

/// `tidecast serve` with one target whose Prometheus is unreachable (the listener, TLS and
/// `/healthz` do not depend on it), the certificate `dir/tls.crt` and key `dir/tls.key`, and
/// `extra` top-level YAML; returns once `/healthz` answers over TLS with `ca`.
fn serve_without_prometheus(
    dir: &std::path::Path,
    extra: &str,
    ca: &std::path::Path,
) -> (Running, u16) {
    let nothing = tidecast_testing::free_port();
    serve_with_prometheus(
        dir,
        &format!(r#"{{url: "http://127.0.0.1:{nothing}"}}"#),
        extra,
        ca,
    )
}

/// [`serve_without_prometheus`] with the config's `prometheus:` section given.
fn serve_with_prometheus(
    dir: &std::path::Path,
    prometheus: &str,
    extra: &str,
    ca: &std::path::Path,
) -> (Running, u16) {
    let port = tidecast_testing::free_port();
    let cfg = dir.join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen: 127.0.0.1:{port}
prometheus: {prometheus}
targets:
  - {{name: a, metric: m, query: 'sum(up)'}}
{extra}
{auth}
"#,
            // The clients' certificates are signed by the CA they trust.
            auth = if extra.contains("auth:") {
                String::new()
            } else {
                format!(
                    "auth: {{source: files, client_ca_file: {:?}, authorization: allow_authenticated}}",
                    ca
                )
            }
        ),
    )
    .unwrap();
    let proc = TIDECAST.spawn(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--log-format",
        "json",
    ]);
    poll(PATIENCE, Duration::from_millis(200), || {
        healthz(port, ca).then_some(())
    })
    .expect("a listener answering /healthz");
    (proc, port)
}

/// The body of `GET path` over TLS to a client that trusts only `ca` (empty on failure),
/// presenting the client certificate beside it (`client.crt`, signed by it).
fn fetch(port: u16, ca: &std::path::Path, path: &str) -> String {
    fetch_as(port, ca, ca, path)
}

/// [`fetch`] with the client certificate beside `client_ca` instead.
fn fetch_as(port: u16, ca: &std::path::Path, client_ca: &std::path::Path, path: &str) -> String {
    sh(&format!(
        "curl -sS --max-time 5 --cacert {} --cert {} --key {} https://127.0.0.1:{port}{path}",
        ca.display(),
        client_ca.with_file_name("client.crt").display(),
        client_ca.with_file_name("client.key").display(),
    ))
    .1
}

/// Whether `/healthz` answers `ok` over TLS to a client that trusts only `ca`.
fn healthz(port: u16, ca: &std::path::Path) -> bool {
    fetch(port, ca, "/healthz") == "ok"
}

/// [`serve_without_prometheus`] with demo certificates in `dir/pki`; returns the CA too.
fn serve_with_demo_pki(dir: &std::path::Path, extra: &str) -> (Running, u16, std::path::PathBuf) {
    let pki = dir.join("pki");
    demo_pki(&pki);
    let ca = pki.join("ca.crt");
    let (proc, port) = serve_without_prometheus(
        dir,
        &format!("{extra}\ntls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}"),
        &ca,
    );
    (proc, port, ca)
}

/// A client that never finishes its request headers is disconnected after the configured
/// `header_read_timeout`, and complete requests are still answered.
#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (_proc, port, ca) = serve_with_demo_pki(dir.path(), "header_read_timeout: 1s");
    // Half a request, then the client stays connected for 8 s (s_client -quiet ignores its
    // stdin's end): it ends early only if the server closes the connection; `timeout` (exit
    // 124) would mean it never did.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "(printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n'; sleep 8) | timeout 20 openssl s_client -quiet -connect 127.0.0.1:{port} -CAfile {}; echo \"exit $?\"",
            ca.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("exit 124"),
        "the server kept the half-sent request open: {stdout}"
    );
    assert!(
        !stdout.contains("ok"),
        "no answer to half a request: {stdout}"
    );
    assert!(healthz(port, &ca));
}

/// A renewed serving certificate (cert-manager rewriting the Secret's files) is picked up
/// without a restart; files that do not load leave the current certificate serving.
#[test]
fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    demo_pki(&old);
    demo_pki(&new);
    let install = |from: &std::path::Path| {
        // As the kubelet does: each file replaced whole (written aside, then renamed).
        for f in ["tls.key", "tls.crt"] {
            let tmp = dir.path().join(format!(".{f}.tmp"));
            std::fs::copy(from.join(f), &tmp).unwrap();
            std::fs::rename(&tmp, dir.path().join(f)).unwrap();
        }
    };
    install(&old);
    let (old_ca, new_ca) = (old.join("ca.crt"), new.join("ca.crt"));
    let (_proc, port) = serve_without_prometheus(
        dir.path(),
        "tls: {cert_file: tls.crt, key_file: tls.key, reload_interval: 1s}",
        &old_ca,
    );
    assert!(!healthz(port, &new_ca), "not yet the new certificate");
    install(&new);
    poll(PATIENCE, Duration::from_millis(300), || {
        healthz(port, &new_ca).then_some(())
    })
    .expect("the renewed certificate picked up");
    assert!(!healthz(port, &old_ca), "the old certificate is gone");
    // Its expiry is exported (rcgen's default validity: 4096-01-01).
    // The client certificates are still verified against the old CA (auth.client_ca_file).
    let metrics = fetch_as(port, &new_ca, &old_ca, "/metrics");
    assert!(
        metrics.contains("tidecast_tls_certificate_expiry_timestamp_seconds 67090118400"),
        "{metrics}"
    );
    // A broken renewal: the current certificate keeps serving through several checks.
    std::fs::write(dir.path().join("tls.crt"), "not a certificate\n").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        healthz(port, &new_ca),
        "a broken file must not take TLS down"
    );
}

/// On SIGTERM the server first fails readiness while still answering (the endpoints drop it
/// before its listener closes), then exits.
#[test]
fn sigterm_drains_before_the_listener_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proc, port, ca) = serve_with_demo_pki(dir.path(), "shutdown_delay: 3s");
    let readyz = || fetch(port, &ca, "/readyz");
    assert!(!readyz().contains("shutting down"));
    let (ok, _, err) = sh(&format!("kill -TERM {}", proc.id()));
    assert!(ok, "{err}");
    poll(PATIENCE, Duration::from_millis(100), || {
        readyz().contains("shutting down").then_some(())
    })
    .expect("readiness fails once draining");
    assert!(healthz(port, &ca), "still answering while draining");
    let status = poll(PATIENCE, Duration::from_millis(100), || proc.try_wait())
        .expect("the server exits after the drain");
    assert!(status.success(), "{status}");
    assert!(!healthz(port, &ca), "the listener is closed");
}

/// Without `--dir` the demo writes its CA and client key into a temporary directory of its
/// own and removes it when stopped, so no private key is left behind in the temp dir.
#[test]
fn the_demo_removes_its_own_temporary_directory_when_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = TIDECAST.command();
    cmd.args(["demo", "--port", "0", "--no-board"])
        .env("TMPDIR", tmp.path());
    let mut demo = Running::start(&mut cmd);
    demo.stdout_until("tidecast demo: serving", PATIENCE);
    let dirs: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tidecast-demo-")
        })
        .collect();
    let [dir] = &dirs[..] else {
        panic!("one demo directory expected: {dirs:?}")
    };
    assert!(dir.join("client.key").is_file(), "{}", dir.display());
    let (ok, _, err) = sh(&format!("kill -TERM {}", demo.id()));
    assert!(ok, "{err}");
    let status = poll(PATIENCE, Duration::from_millis(100), || demo.try_wait())
        .expect("the demo exits on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// The config's `prometheus.basic_auth` reaches Prometheus: the password is read from its
/// file and sent as an `Authorization: Basic` header with every query.
#[test]
fn serve_sends_the_configured_basic_auth_to_prometheus() {
    let fake = FakeHttp::start(vec![Reply::Status(
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#.into(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    demo_pki(&pki);
    std::fs::write(dir.path().join("password"), "p4ss\n").unwrap();
    let (_proc, _port) = serve_with_prometheus(
        dir.path(),
        &format!(
            r#"{{url: "{}", basic_auth: {{username: alice, password_file: password}}}}"#,
            fake.url()
        ),
        "tls: {cert_file: pki/tls.crt, key_file: pki/tls.key}",
        &pki.join("ca.crt"),
    );
    // (`requests()` counts a connection when accepted, `received()` once it was read.)
    let req = poll(PATIENCE, Duration::from_millis(100), || {
        fake.received().first().map(|r| r.to_ascii_lowercase())
    })
    .expect("a query reaches Prometheus");
    // base64("alice:p4ss")
    assert!(
        req.contains("\r\nauthorization: basic ywxpy2u6cdrzcw==\r\n"),
        "{req}"
    );
}

/// A JSON object's entries in order, a key that occurs twice kept twice (`serde_json::Value`
/// would keep only the last).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// Check one JSON log line as a log pipeline reads it and return it as a `Value`: an object,
/// no key twice, no Rust `Option` rendered as text, the numeric fields as numbers.
#[track_caller]
fn parsed_log_line(line: &str) -> serde_json::Value {
    let Entries(entries) =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "a key occurs twice: {line}");
    for (k, v) in &entries {
        if let Some(text) = v.as_str() {
            assert!(
                !text.starts_with("Some(") && text != "None",
                "{k} printed as Debug: {line}"
            );
        }
        if k.ends_with("_s") || k.ends_with("_ms") || k == "attempt" || k == "samples" {
            assert!(v.is_number(), "{k} is not a number: {line}");
        }
    }
    json(line)
}

/// The JSON lines of `tidecast serve --log-format json` keep every field: tracing's own
/// `target` (the module) and the target's name are different keys, numbers are numbers, an
/// absent data age is left out and a present one is a number of seconds.
#[test]
fn json_log_lines_have_unique_keys_numbers_and_no_absent_values() {
    // An unreachable Prometheus: retried requests, failed refreshes, a target without data,
    // and a metric request that fails because of it.
    let dir = tempfile::tempdir().unwrap();
    let (serve, port, ca) = serve_with_demo_pki(dir.path(), "");
    let metric = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m";
    let (mut failed, mut no_data, mut retried) = (None, None, false);
    poll(PATIENCE, Duration::ZERO, || {
        if failed.is_none() {
            fetch(port, &ca, metric);
        }
        let line = serve.next_stderr(Duration::from_millis(500))?;
        let v = parsed_log_line(&line);
        match v["message"].as_str() {
            Some(m) if m.starts_with("metric request failed") => failed = Some(v),
            Some("target state") => no_data = Some(v),
            Some(m) if m.starts_with("prometheus request failed") => retried = true,
            _ => {}
        }
        (failed.is_some() && no_data.is_some() && retried).then_some(())
    })
    .expect("a failed metric request, a target state and a retried query logged");
    let failed = failed.unwrap();
    assert_eq!(failed["target_name"], "a", "{failed}");
    assert!(
        failed["target"]
            .as_str()
            .unwrap()
            .starts_with("tidecast_server"),
        "tracing's target is the module: {failed}"
    );
    let no_data = no_data.unwrap();
    assert_eq!(no_data["state"], "no_data", "{no_data}");
    assert!(no_data.get("age_s").is_none(), "no data, no age: {no_data}");
    drop(serve);

    // The demo's targets have data: their age is a number of seconds.
    let demo_dir = tempfile::tempdir().unwrap();
    let demo = TIDECAST.spawn(&[
        "demo",
        "--port",
        "0",
        "--dir",
        demo_dir.path().to_str().unwrap(),
        "--speed",
        "60",
        "--log-format",
        "json",
    ]);
    let fresh = poll(PATIENCE, Duration::ZERO, || {
        let v = parsed_log_line(&demo.next_stderr(Duration::from_millis(500))?);
        (v["message"] == "target state" && v["state"] == "fresh").then_some(v)
    })
    .expect("a target turns fresh");
    assert!(fresh["age_s"].is_i64(), "{fresh}");
    assert!(fresh["target_name"].is_string(), "{fresh}");
}

/// The served model is the measured model: with the demo's synthetic source and its clock
/// standing still, the point forecast `/metrics` exports at each horizon and the value the
/// metric GET returns equal what `tidecast forecast` computes from the same history at the
/// same instant (`demo --write-history` writes the data the server fitted on): the point
/// forecasts exactly, the served value to the relative 1e-6 of the f32 it is kept in. So the
/// honest-replay guarantee of `backtest` covers the server too.
#[test]
fn the_served_forecast_and_metric_equal_tidecast_forecast_on_the_same_history() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, history) = (dir.path().join("pki"), dir.path().join("history"));
    // 16:50 in Shanghai, ten minutes before the evening peak: the forecast over the lead is
    // above the live value, so the metric is the forecast's, not live's.
    let demo = TIDECAST.spawn(&[
        "demo",
        "--port",
        "0",
        "--speed",
        "0",
        "--start",
        "2026-10-16T16:50:00+08:00",
        "--dir",
        pki.to_str().unwrap(),
        "--write-history",
        history.to_str().unwrap(),
    ]);
    let intro = demo.stdout_until("tidecast demo: serving", PATIENCE);
    let url = intro
        .last()
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("https://")))
        .expect("the URL it serves")
        .to_string();
    poll(PATIENCE, Duration::ZERO, || {
        let l = demo.next_stdout(PATIENCE).expect("a status line");
        (l.matches("[fresh]").count() == 3).then_some(())
    })
    .expect("every service fresh");
    let ca = pki.join("ca.crt");
    let (ok, metrics, err) = sh(&format!(
        "curl -sS --cacert {} --cert {} --key {} {url}/metrics",
        ca.display(),
        pki.join("client.crt").display(),
        pki.join("client.key").display()
    ));
    assert!(ok, "{err}");
    for service in ["tv-api", "epg", "login"] {
        let csv = history.join(format!("{service}.csv"));
        let out = dir.path().join(format!("{service}.forecast.csv"));
        TIDECAST.ok(&[
            "forecast",
            "--history",
            csv.to_str().unwrap(),
            "--horizon",
            "60m",
            "--timezone",
            "Asia/Shanghai",
            "--window",
            "28d",
            "--out",
            out.to_str().unwrap(),
        ]);
        // (minutes ahead, point, upper = the 0.9 quantile the demo serves)
        let rows: Vec<(usize, f64, f64)> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .skip(1)
            .enumerate()
            .map(|(i, l)| {
                let c: Vec<f64> = l.split(',').skip(1).map(|v| v.parse().unwrap()).collect();
                (i + 1, c[0], c[2])
            })
            .collect();
        for minutes in [5, 15, 30, 60] {
            let exported = exported(&metrics, "tidecast_target_forecast", service, Some(minutes));
            let (_, point, _) = rows[minutes - 1];
            assert!(
                (exported - point).abs() <= 1e-9 * point.abs(),
                "{service} at {minutes}m: /metrics {exported}, forecast {point}"
            );
        }
        let live: f64 = std::fs::read_to_string(&csv)
            .unwrap()
            .lines()
            .last()
            .and_then(|l| l.split(',').nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let ahead = rows[..15].iter().map(|r| r.2).fold(f64::MIN, f64::max);
        let want = live.max(ahead);
        assert!(
            ahead > live,
            "{service}: the lead covers the ramp ({ahead} vs {live})"
        );
        let (ok, body, err) = sh(&format!(
            "curl -sS --cacert {} --cert {} --key {} '{url}/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted?labelSelector=service%3D{service}'",
            ca.display(),
            pki.join("client.crt").display(),
            pki.join("client.key").display()
        ));
        assert!(ok, "{err}");
        let v = json(&body);
        let items = assert_external_metric_value_list(&v, "lb_connections_predicted");
        let served = quantity_value(items[0]["value"].as_str().unwrap());
        // The server keeps the served quantile as f32 (a sixth of a 1-minute target's memory):
        // equal to the contract's relative 1e-6, as backtest rows equal forecasts.
        assert!(
            (served - want).abs() <= 1e-6 * want,
            "{service}: the metric {served}, forecast max(live, q0.9 over 15m) {want}"
        );
        let exported_served = exported(&metrics, "tidecast_target_served_value", service, None);
        assert!(
            (exported_served - want).abs() <= 1e-6 * want,
            "{service}: /metrics serves {exported_served}, forecast {want}"
        );
    }
}

/// The value of `family{target="name"[,horizon="Nm"]}` in a `/metrics` exposition.
fn exported(metrics: &str, family: &str, target: &str, minutes: Option<usize>) -> f64 {
    let target = format!("target=\"{target}\"");
    let horizon = minutes.map(|m| format!("horizon=\"{m}m\""));
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .find(|l| l.contains(&target) && horizon.as_ref().is_none_or(|h| l.contains(h)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {family} for {target} {horizon:?} in /metrics"))
}

/// A `kind: live` target passes an existing external metric through (prometheus-adapter's
/// `externalRules`): the HPA's selector becomes PromQL label matchers in an instant query
/// to a real Prometheus, served next to a predicted metric, with the namespace allow-list,
/// discovery, and a Status (never an empty answer) once Prometheus is gone.
#[test]
fn a_live_target_passes_prometheus_through_with_the_selector_as_matchers() {
    let mut p = PrometheusFixture::start(
        vec![
            FixtureSeries::service("tv-api", 4000.0, 1),
            FixtureSeries::service("epg", 900.0, 2),
        ],
        1,
        60,
        None,
    )
    .expect("prometheus fixture");
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    demo_pki(&pki);
    let port = tidecast_testing::free_port();
    let cfg = dir.path().join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen: 127.0.0.1:{port}
tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}
auth: {{source: files, client_ca_file: pki/ca.crt, authorization: allow_authenticated}}
prometheus: {{url: "{url}"}}
targets:
  - {{name: tv-api, metric: lb_connections_predicted, labels: {{service: tv-api}}, window: 1d, query: 'sum(lb_active_connections{{service="tv-api"}})'}}
  - name: lb-live
    kind: live
    metric: lb_connections_live
    query: 'sum by (service) (lb_active_connections{{<<.LabelMatchers>>}})'
    namespaces: [shop]
    refresh: 1s
"#,
            url = p.url()
        ),
    )
    .unwrap();
    let _serve = TIDECAST.spawn(&["serve", "--config", cfg.to_str().unwrap()]);
    let k = format!(
        "kubectl --server https://127.0.0.1:{port} --certificate-authority {pki}/ca.crt --client-certificate {pki}/client.crt --client-key {pki}/client.key",
        pki = pki.display()
    );
    let base = "/apis/external.metrics.k8s.io/v1beta1";
    let get = |path: &str| sh(&format!("{k} get --raw '{base}{path}'"));
    let one = "/namespaces/shop/lb_connections_live?labelSelector=service%3Dtv-api";
    let v = poll(PATIENCE, Duration::from_millis(300), || {
        let (ok, out, _) = get(one);
        ok.then(|| json(&out))
    })
    .expect("the live metric is served");
    let items = assert_external_metric_value_list(&v, "lb_connections_live");
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["metricLabels"]["service"], "tv-api");
    // The value Prometheus holds now: the newest backfilled sample.
    let last = p.series[0].generator.value(p.end);
    let served = quantity_value(items[0]["value"].as_str().unwrap());
    assert!(
        (served - last).abs() < 0.002,
        "{served} vs Prometheus's {last}"
    );

    let (ok, out, err) =
        get("/namespaces/shop/lb_connections_live?labelSelector=service%20in%20(tv-api,epg)");
    assert!(ok, "{err}");
    assert_eq!(json(&out)["items"].as_array().unwrap().len(), 2, "{out}");
    let (ok, out, _) =
        get("/namespaces/shop/lb_connections_live?labelSelector=service%21%3Dtv-api");
    assert!(ok);
    let v = json(&out);
    assert_eq!(v["items"][0]["metricLabels"]["service"], "epg", "{v}");
    let (ok, _, err) = get("/namespaces/other/lb_connections_live");
    assert!(!ok && err.contains("Forbidden"), "{err}");
    let (ok, out, _) = get("");
    assert!(
        ok && out.contains("lb_connections_live") && out.contains("lb_connections_predicted"),
        "{out}"
    );

    // Prometheus gone: once the cached answer is older than `refresh`, a 503 names why.
    p.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let (ok, _, err) = get(one);
    assert!(
        !ok && err.contains("ServiceUnavailable") && err.contains("cannot connect to"),
        "{err}"
    );
}
