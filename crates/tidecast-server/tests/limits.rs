//! The router's limits without a socket, at sizes curl cannot send over HTTP/2 (nghttp2 sends
//! no header block over 64 KiB): over each limit a Status, at it an ordinary answer.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use tidecast_server::limits::{MAX_HEADER_BYTES, MAX_REQUEST_TARGET_BYTES, header_bytes};
use tidecast_server::*;
use tower::ServiceExt;

#[derive(Debug)]
struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> f64 {
        1_790_834_400.0
    }
}

const DISCOVERY: &str = "/apis/external.metrics.k8s.io/v1beta1";

async fn send(req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let app = router(AppState::new(
        Arc::new(MetricStore::new(vec![])),
        Arc::new(Fixed),
        "0.1.0",
    ));
    let resp = app.oneshot(req).await.unwrap();
    let code = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, serde_json::from_slice(&body).unwrap_or_default())
}

/// A request for `target` with headers `x-pad-NN` filling exactly `total` header bytes.
fn request_of(target: &str, total: usize) -> Request<Body> {
    // Each header costs its 8-byte name, 4, and its value.
    let room = total - target.len();
    let n = room.div_ceil(50_012);
    let mut b = Request::get(target);
    for i in 0..n {
        let mut value_len = room / n - 12;
        if i == 0 {
            value_len += room % n;
        }
        b = b.header(format!("x-pad-{i:02}"), "p".repeat(value_len));
    }
    let req = b.body(Body::empty()).unwrap();
    assert_eq!(header_bytes(target, req.headers()), total);
    req
}

#[tokio::test]
async fn over_the_header_bytes_a_431_status_and_at_them_served() {
    let req = request_of(DISCOVERY, MAX_HEADER_BYTES);
    assert_eq!(send(req).await.0, StatusCode::OK);
    let (code, v) = send(request_of(DISCOVERY, MAX_HEADER_BYTES + 1)).await;
    assert_eq!(code, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(v["kind"], "Status");
    assert_eq!(v["reason"], "BadRequest");
    assert_eq!(v["code"], 431);
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("over the limit of {MAX_HEADER_BYTES} bytes")),
        "{msg}"
    );
}

#[tokio::test]
async fn over_the_request_target_a_414_status_and_at_it_served() {
    let at = format!(
        "{DISCOVERY}?p={}",
        "x".repeat(MAX_REQUEST_TARGET_BYTES - DISCOVERY.len() - 3)
    );
    assert_eq!(at.len(), MAX_REQUEST_TARGET_BYTES);
    assert_eq!(
        send(Request::get(at.as_str()).body(Body::empty()).unwrap())
            .await
            .0,
        StatusCode::OK
    );
    let over = format!("{at}x");
    let (code, v) = send(Request::get(over.as_str()).body(Body::empty()).unwrap()).await;
    assert_eq!(code, StatusCode::URI_TOO_LONG);
    assert_eq!(
        (v["kind"].as_str(), v["reason"].as_str(), v["code"].as_u64()),
        (Some("Status"), Some("BadRequest"), Some(414))
    );
}
