//! Faults a real Prometheus will not produce on demand, against a fake HTTP server on
//! 127.0.0.1: hangs, malformed bodies, status codes, retries.

use std::time::Duration;
use tidecast_prometheus::{Client, ClientConfig, ClientSettings, Error, RangeQuery};
use tidecast_testing::{FakeHttp, Reply, prometheus_client_config};

const OK_BODY: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"service":"a"},"values":[[60,"1"],[120,"2"]]}]}}"#;

/// A client that gives up on a hanging server quickly.
fn client(url: &str) -> Client {
    Client::new(prometheus_client_config(url).with_timeout(Duration::from_millis(500))).unwrap()
}

fn q() -> RangeQuery {
    RangeQuery {
        query: "m".into(),
        start: 60,
        end: 120,
        step: 60,
    }
}

#[tokio::test]
async fn a_hanging_server_times_out_with_the_url_named() {
    let fake = FakeHttp::start(vec![Reply::Hang]);
    let e = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains(&fake.url()), "{e}");
    assert_eq!(fake.requests(), 3, "timeouts are retried");
}

#[tokio::test]
async fn a_server_that_stalls_mid_body_times_out() {
    let fake = FakeHttp::start(vec![Reply::HangMidBody]);
    let e = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Timeout { .. } | Error::Transport { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = FakeHttp::start(vec![Reply::Status(
        200,
        "{\"status\":\"success\",\"da".into(),
    )]);
    let e = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e}");
    assert_eq!(fake.requests(), 1, "a malformed answer is not retried");
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_until_success() {
    let fake = FakeHttp::start(vec![
        Reply::Status(429, "slow down".into()),
        Reply::Status(503, "unavailable".into()),
        Reply::Status(200, OK_BODY.into()),
    ]);
    let s = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(s[0].samples.len(), 2);
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_attempts() {
    let fake = FakeHttp::start(vec![Reply::Status(500, "boom".into())]);
    let e = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    match &e {
        Error::Unavailable {
            status,
            attempts,
            body,
            ..
        } => {
            assert_eq!((*status, *attempts, body.as_str()), (500, 3, "boom"));
        }
        other => panic!("{other}"),
    }
    assert_eq!(fake.requests(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_surface_prometheus_words() {
    let body =
        r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \"}\""}"#;
    let fake = FakeHttp::start(vec![Reply::Status(400, body.into())]);
    let e = client(&fake.url())
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    assert_eq!(fake.requests(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("bad_data") && msg.contains("1:5: parse error: unexpected \"}\""),
        "{msg}"
    );
}

#[tokio::test]
async fn answers_over_the_size_limit_are_refused() {
    let fake = FakeHttp::start(vec![Reply::Status(200, OK_BODY.into())]);
    let c = Client::new(ClientConfig::new(fake.url()).with_max_response_bytes(50)).unwrap();
    let e = c.query_range(&q(), &|_, _| {}).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 50, .. }), "{e}");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_naming_the_url() {
    let port = tidecast_testing::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let e = client(&url)
        .query_range(&q(), &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(e.to_string().contains(&url));
    // The HTTP client's error is kept as the cause, down to the refused connection.
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        causes.push(c.to_string());
        cause = c.source();
    }
    assert!(
        causes.iter().any(|c| c.contains("refused")),
        "{e}: {causes:?}"
    );
}

/// The first request the fake received, lowercased (header names are case-insensitive).
fn first_request(fake: &FakeHttp) -> String {
    fake.received()[0].to_ascii_lowercase()
}

#[tokio::test]
async fn headers_and_bearer_tokens_are_sent() {
    let fake = FakeHttp::start(vec![Reply::Status(200, OK_BODY.into())]);
    let c = Client::new(
        ClientConfig::new(fake.url())
            .with_header("X-Scope-OrgID", "tenant-a")
            .with_auth(tidecast_prometheus::Auth::Bearer("t".into())),
    )
    .unwrap();
    assert_eq!(c.query_range(&q(), &|_, _| {}).await.unwrap().len(), 1);
    let req = first_request(&fake);
    assert!(req.contains("\r\nx-scope-orgid: tenant-a\r\n"), "{req}");
    assert!(req.contains("\r\nauthorization: bearer t\r\n"), "{req}");
}

#[tokio::test]
async fn settings_read_the_basic_auth_password_file_and_send_the_authorization_header() {
    let fake = FakeHttp::start(vec![Reply::Status(200, OK_BODY.into())]);
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "p4ss\n").unwrap();
    let c = ClientSettings::new(fake.url())
        .with_basic_auth_password_file("alice", &password)
        .with_header("X-Scope-OrgID", "tenant-a")
        .client()
        .unwrap();
    assert_eq!(c.query_range(&q(), &|_, _| {}).await.unwrap().len(), 1);
    let req = first_request(&fake);
    // base64("alice:p4ss"): the file's trailing newline is not part of the password.
    assert!(
        req.contains("\r\nauthorization: basic ywxpy2u6cdrzcw==\r\n"),
        "{req}"
    );
    assert!(req.contains("\r\nx-scope-orgid: tenant-a\r\n"), "{req}");
}
