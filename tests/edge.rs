//! Bad input at the edge: the real binary over TLS on 127.0.0.1, sent oversized headers,
//! request targets and label selectors over HTTP/1.1 (raw, through `openssl s_client`) and
//! HTTP/2 (curl); each answer's code and `metav1.Status` body are checked.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use tidecast_server::limits::{
    HYPER_MAX_BUF_BYTES, MAX_HEADER_BYTES, MAX_REQUEST_TARGET_BYTES, MAX_SELECTOR_BYTES,
    MAX_SELECTOR_REQUIREMENTS,
};
use tidecast_testing::{Binary, Running, poll};

const TIDECAST: Binary = Binary::new(env!("CARGO_BIN_EXE_tidecast"));

/// How long a harness waits for a process or server before giving up.
const PATIENCE: Duration = Duration::from_secs(60);

const DISCOVERY: &str = "/apis/external.metrics.k8s.io/v1beta1";
const METRIC: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/m";

struct Server {
    _proc: Running,
    _dir: tempfile::TempDir,
    port: u16,
    ca: std::path::PathBuf,
}

/// `tidecast serve` with demo certificates and an unreachable Prometheus (nothing here
/// depends on it), once `/healthz` answers.
fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    TIDECAST
        .spawn(&["demo", "--port", "0", "--dir", pki.to_str().unwrap()])
        .stdout_until("tidecast demo: serving", PATIENCE);
    let port = tidecast_testing::free_port();
    let nothing = tidecast_testing::free_port();
    let cfg = dir.path().join("tidecast.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{port}\nprometheus: {{url: \"http://127.0.0.1:{nothing}\"}}\n\
             targets:\n  - {{name: a, metric: m, query: 'sum(up)'}}\n\
             tls: {{cert_file: pki/tls.crt, key_file: pki/tls.key}}\n\
             auth: {{source: files, client_ca_file: pki/ca.crt, authorization: allow_authenticated}}\n"
        ),
    )
    .unwrap();
    let proc = TIDECAST.spawn(&["serve", "--config", cfg.to_str().unwrap()]);
    let ca = pki.join("ca.crt");
    let s = Server {
        _proc: proc,
        _dir: dir,
        port,
        ca,
    };
    poll(PATIENCE, Duration::from_millis(200), || {
        (h2(&s, "/healthz", &[]).0 == 200).then_some(())
    })
    .expect("a listener answering /healthz");
    s
}

/// One HTTP/1.1 request, written raw over TLS: (code, body); code 0 when no status line came
/// back.
fn h1(s: &Server, target: &str, headers: &[(String, String)]) -> (u16, String) {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut child = Command::new("timeout")
        .args(["30", "openssl", "s_client", "-quiet", "-connect"])
        .arg(format!("127.0.0.1:{}", s.port))
        .arg("-CAfile")
        .arg(&s.ca)
        .arg("-cert")
        .arg(s.ca.with_file_name("client.crt"))
        .arg("-key")
        .arg(s.ca.with_file_name("client.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // The server may answer and close before it read everything: a failed write is fine.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(req.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let code = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (code, body)
}

/// One HTTP/2 request with curl: (code, body).
fn h2(s: &Server, target: &str, headers: &[(String, String)]) -> (u16, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut lines = String::new();
    for (k, v) in headers {
        lines.push_str(&format!("{k}: {v}\n"));
    }
    std::fs::write(file.path(), lines).unwrap();
    let out = Command::new("timeout")
        .args([
            "30",
            "curl",
            "-sS",
            "--http2",
            "--max-time",
            "20",
            "--cacert",
        ])
        .arg(&s.ca)
        .arg("--cert")
        .arg(s.ca.with_file_name("client.crt"))
        .arg("--key")
        .arg(s.ca.with_file_name("client.key"))
        .arg("-H")
        .arg(format!("@{}", file.path().display()))
        .args(["-w", "\n%{http_code} %{http_version}"])
        .arg(format!("https://127.0.0.1:{}{target}", s.port))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut tail = tail.split(' ');
    let code = tail.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    if code != 0 {
        assert_eq!(tail.next(), Some("2"), "not HTTP/2: {text}");
    }
    (code, body.to_string())
}

/// A `metav1.Status` failure with `code` and reason `reason`, whose message contains `says`.
fn assert_status(got: (u16, String), code: u16, reason: &str, says: &str) {
    let (c, body) = got;
    assert_eq!(c, code, "{body}");
    let v = tidecast_testing::json(&body);
    assert_eq!(v["kind"], "Status", "{body}");
    assert_eq!(v["apiVersion"], "v1", "{body}");
    assert_eq!(v["status"], "Failure", "{body}");
    assert_eq!(v["reason"], reason, "{body}");
    assert_eq!(v["code"], code, "{body}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.contains(says), "{msg:?} does not say {says:?}");
}

/// `n` headers of `len` bytes each.
fn padding(n: usize, len: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("X-Pad-{i}"), "p".repeat(len)))
        .collect()
}

/// A query `?labelSelector=` of `n` requirements `kN=v`.
fn selector_of(n: usize) -> String {
    let sel: Vec<String> = (0..n).map(|i| format!("k{i}=v")).collect();
    format!("?labelSelector={}", sel.join("%2C"))
}

#[test]
fn headers_over_the_limit_are_a_431_status_and_past_hypers_buffer_hyper_answers_431_itself() {
    let s = server();
    // Under 1 MiB, in more headers than hyper's default 100 and bytes than its default
    // 408 KiB buffer: served.
    let under = padding(200, (MAX_HEADER_BYTES - 20_000) / 200);
    assert_eq!(h1(&s, DISCOVERY, &under).0, 200);
    // Over 1 MiB, under hyper's buffer: the router's Status.
    let over = padding(300, MAX_HEADER_BYTES / 250);
    assert_status(
        h1(&s, DISCOVERY, &over),
        431,
        "BadRequest",
        &format!("over the limit of {MAX_HEADER_BYTES} bytes"),
    );
    // Past hyper's buffer: hyper refuses before any router code runs (empty body).
    let past = padding(100, HYPER_MAX_BUF_BYTES / 90);
    let (code, body) = h1(&s, DISCOVERY, &past);
    // 431 with an empty body as observed; the connection may also be reset before the
    // client reads it (the request's tail is unread when hyper closes).
    assert!(code == 431 || code == 0, "{code} {body}");
    assert!(body.is_empty(), "{body}");
    // HTTP/2, over hyper's default 16 KiB header list and under curl's own 64 KiB block:
    // served.
    assert_eq!(h2(&s, DISCOVERY, &padding(10, 4_000)).0, 200);
    assert!(h1(&s, "/healthz", &[]).0 == 200, "still serving");
}

#[test]
fn request_targets_over_the_limit_are_a_414_status_on_both_protocols() {
    let s = server();
    let long = format!("{DISCOVERY}?pad={}", "x".repeat(MAX_REQUEST_TARGET_BYTES));
    let says = format!("over the limit of {MAX_REQUEST_TARGET_BYTES} bytes");
    assert_status(h1(&s, &long, &[]), 414, "BadRequest", &says);
    assert_status(h2(&s, &long, &[]), 414, "BadRequest", &says);
    // hyper's own HTTP/1.1 limit (65,534 bytes): an empty 414 before the router.
    let longer = format!("{DISCOVERY}?pad={}", "x".repeat(70_000));
    let (code, body) = h1(&s, &longer, &[]);
    assert_eq!((code, body.as_str()), (414, ""));
    // (On HTTP/2 hyper has no URI limit of its own, so the router answers every length up
    // to the header list limit; curl's nghttp2 sends no header block over 64 KiB.)
    let just_under = format!(
        "{DISCOVERY}?pad={}",
        "x".repeat(MAX_REQUEST_TARGET_BYTES - DISCOVERY.len() - 5)
    );
    assert_eq!(h1(&s, &just_under, &[]).0, 200);
}

#[test]
fn selectors_over_a_limit_are_a_400_status_naming_the_limit() {
    let s = server();
    let long = format!(
        "{METRIC}?labelSelector=k%3D{}",
        "v".repeat(MAX_SELECTOR_BYTES)
    );
    let says = format!("over the limit of {MAX_SELECTOR_BYTES} bytes");
    assert_status(h1(&s, &long, &[]), 400, "BadRequest", &says);
    assert_status(h2(&s, &long, &[]), 400, "BadRequest", &says);
    let many = format!("{METRIC}{}", selector_of(MAX_SELECTOR_REQUIREMENTS + 1));
    let says = format!("more than {MAX_SELECTOR_REQUIREMENTS} requirements");
    assert_status(h2(&s, &many, &[]), 400, "BadRequest", &says);
    // At the limit the selector parses: the answer is about the (unfetched) metric.
    let (code, body) = h2(
        &s,
        &format!("{METRIC}{}", selector_of(MAX_SELECTOR_REQUIREMENTS)),
        &[],
    );
    assert_ne!(code, 400, "{body}");
    // A path segment that is not a path segment name: a Status, not axum's plain text.
    assert_status(
        h2(&s, &format!("{DISCOVERY}/namespaces/default/%FF"), &[]),
        400,
        "BadRequest",
        "not UTF-8",
    );
}
