//! End-to-end: the real binary serving over TLS on 127.0.0.1, with kubectl as the client.
//! `tidecast demo` needs nothing else; `tidecast serve` reads a real Prometheus.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tidecast_testing::{FakeHttp, FixtureSeries, PrometheusFixture, Reply};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the binary and collect the stdout lines up to (and including) one matching `until`.
fn start(args: &[&str], until: &str) -> (Proc, Vec<String>, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidecast"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let proc = Proc(child);
    let mut lines = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = l.contains(until);
            lines.push(l);
            if done {
                return (proc, lines, rx);
            }
        }
    }
    panic!("no line containing {until:?} within 60 s; got {lines:?}");
}

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

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn the_demo_serves_and_its_printed_kubectl_commands_work_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (_p, lines, rx) = start(
        &[
            "demo",
            "--port",
            "0",
            "--dir",
            dir.path().to_str().unwrap(),
            "--speed",
            "60",
        ],
        "| grep tidecast_target_served_value",
    );
    let commands: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("kubectl "))
        .collect();
    assert_eq!(commands.len(), 3, "{lines:?}");
    // Wait until every service has data (the status line shows all three fresh).
    let t0 = Instant::now();
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("status lines keep coming");
        if l.matches("[fresh]").count() == 3 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "services never all fresh: {l}"
        );
    }

    // 1. The metric, as printed.
    let (ok, out, err) = sh(commands[0].trim());
    assert!(ok, "{err}");
    let v = json(&out);
    assert_eq!(v["kind"], "ExternalMetricValueList");
    assert_eq!(v["apiVersion"], "external.metrics.k8s.io/v1beta1");
    assert_eq!(v["metadata"], serde_json::json!({}));
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metricName"], "lb_connections_predicted");
    assert_eq!(
        items[0]["metricLabels"],
        serde_json::json!({"service": "tv-api"})
    );
    let ts = items[0]["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && &ts[10..11] == "T",
        "second-precision RFC 3339: {ts}"
    );
    let q = items[0]["value"].as_str().unwrap();
    assert!(
        q.chars()
            .all(|c| c.is_ascii_digit() || c == 'm' || c == 'k' || c == 'M'),
        "canonical quantity: {q}"
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
    // Reuse the demo's certificate generator by starting and stopping a demo.
    {
        let (_d, _, _) = start(
            &["demo", "--port", "0", "--dir", pki.to_str().unwrap()],
            "tidecast demo: serving",
        );
    }
    let port = tidecast_testing::free_port();
    let cfg = dir.path().join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen: 127.0.0.1:{port}
tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key, client_ca_file: pki/ca.crt}}
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
    let (ok, out, err) = sh(&format!(
        "{} serve --config {} --check",
        env!("CARGO_BIN_EXE_tidecast"),
        cfg.display()
    ));
    assert!(ok && out.contains("ok, 2 targets"), "{out}{err}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_tidecast"))
        .args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _proc = Proc(child);
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let k = format!(
        "kubectl --server https://127.0.0.1:{port} --certificate-authority {pki}/ca.crt --client-certificate {pki}/client.crt --client-key {pki}/client.key",
        pki = pki.display()
    );
    let path = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/lb_connections_predicted";
    let t0 = Instant::now();
    let v = loop {
        let (ok, out, _) = sh(&format!("{k} get --raw '{path}'"));
        if ok {
            let v = json(&out);
            if v["items"].as_array().is_some_and(|i| i.len() == 2) {
                break v;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "never served; logs: {:?}",
            logs.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Served vs the live value in Prometheus.
    let last = |svc: &str| {
        let fs = p.series.iter().find(|s| s.labels[0].1 == svc).unwrap();
        fs.generator.value(p.end)
    };
    let milli = |s: &str| -> f64 {
        let (n, scale) = match s.strip_suffix('m') {
            Some(n) => (n, 0.001),
            None => match s.strip_suffix('k') {
                Some(n) => (n, 1000.0),
                None => (s, 1.0),
            },
        };
        n.parse::<f64>().unwrap() * scale
    };
    for item in v["items"].as_array().unwrap() {
        let svc = item["metricLabels"]["service"].as_str().unwrap();
        let value = milli(item["value"].as_str().unwrap());
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
    assert!(!ok && err.contains("could not find the metric"), "{err}");
    // JSON logs name each target's state.
    let logs = logs.lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.starts_with('{')
            && l.contains("\"target_name\":\"tv-api\"")
            && l.contains("\"state\":\"fresh\"")),
        "{logs:?}"
    );
}

/// Demo certificates (CA, server, client) generated into `dir` by a short-lived demo.
fn demo_pki(dir: &std::path::Path) {
    let (_d, _, _) = start(
        &["demo", "--port", "0", "--dir", dir.to_str().unwrap()],
        "tidecast demo: serving",
    );
}

/// `tidecast serve` with one target whose Prometheus is unreachable (the listener, TLS and
/// `/healthz` do not depend on it), the certificate `dir/tls.crt` and key `dir/tls.key`, and
/// `extra` top-level YAML; returns once `/healthz` answers over TLS with `ca`.
fn serve_without_prometheus(
    dir: &std::path::Path,
    extra: &str,
    ca: &std::path::Path,
) -> (Proc, u16) {
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
) -> (Proc, u16) {
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
"#
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tidecast"))
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    let t0 = Instant::now();
    while !healthz(port, ca) {
        assert!(t0.elapsed() < Duration::from_secs(30), "no listener");
        std::thread::sleep(Duration::from_millis(200));
    }
    (proc, port)
}

/// The body of `GET path` over TLS to a client that trusts only `ca` (empty on failure).
fn fetch(port: u16, ca: &std::path::Path, path: &str) -> String {
    sh(&format!(
        "curl -sS --max-time 5 --cacert {} https://127.0.0.1:{port}{path}",
        ca.display()
    ))
    .1
}

/// Whether `/healthz` answers `ok` over TLS to a client that trusts only `ca`.
fn healthz(port: u16, ca: &std::path::Path) -> bool {
    fetch(port, ca, "/healthz") == "ok"
}

/// [`serve_without_prometheus`] with demo certificates in `dir/pki`; returns the CA too.
fn serve_with_demo_pki(dir: &std::path::Path, extra: &str) -> (Proc, u16, std::path::PathBuf) {
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
    let t0 = Instant::now();
    while !healthz(port, &new_ca) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the renewed certificate was not picked up"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(!healthz(port, &old_ca), "the old certificate is gone");
    // Its expiry is exported (rcgen's default validity: 4096-01-01).
    let metrics = fetch(port, &new_ca, "/metrics");
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
    let (ok, _, err) = sh(&format!("kill -TERM {}", proc.0.id()));
    assert!(ok, "{err}");
    let t0 = Instant::now();
    while !readyz().contains("shutting down") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "readiness never failed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(healthz(port, &ca), "still answering while draining");
    let t0 = Instant::now();
    loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!healthz(port, &ca), "the listener is closed");
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
    let t0 = Instant::now();
    while fake.requests() == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no query reached Prometheus"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let req = fake.received()[0].to_ascii_lowercase();
    // base64("alice:p4ss")
    assert!(
        req.contains("\r\nauthorization: basic ywxpy2u6cdrzcw==\r\n"),
        "{req}"
    );
}
