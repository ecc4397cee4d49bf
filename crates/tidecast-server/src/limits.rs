//! Limits on what a request may carry, in one place, and the middleware that answers a
//! request over them with a `metav1.Status`.
//!
//! Two tiers: the limits here are checked by [`enforce`] on every request and answered with
//! a Status body; the HTTP stack (hyper) has its own, higher hard limits, configured by the
//! binary from the `HYPER_*` constants, past which hyper answers by itself with an empty
//! body (HTTP/1.1: 431 or 414 and the connection closed, as `tests/edge.rs` observes; HTTP/2:
//! h2 sends 431 and resets the stream, per h2's `proto/streams/recv.rs`). The gap between the tiers is what lets every request that hyper parses get a
//! Status.

use crate::status::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Request target (path and query) plus every header's name and value (+4 bytes each for
/// `": "` and CRLF), as Go's `http.Server` counts them: 1 MiB, Go's `DefaultMaxHeaderBytes`,
/// which kube-apiserver and the generic (aggregated) apiserver keep. Over it: 431.
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// Request target (path and query): 32 KiB. kube-apiserver has no limit of its own (only the
/// 1 MiB above), but hyper refuses more than 65,534 bytes on HTTP/1.1 with an empty 414, so
/// ours sits at half that, the same on HTTP/2; it holds the longest selector allowed below
/// fully percent-encoded (3 x 8 KiB) plus the path. Over it: 414.
pub const MAX_REQUEST_TARGET_BYTES: usize = 32 << 10;

/// A `labelSelector`, decoded: 8 KiB. The apiserver's parser has no limit; the HPA sends
/// `LabelSelectorAsSelector(...).String()` of one metric's selector, tens of bytes in
/// practice, and Kubernetes caps each key at 317 and each value at 63 bytes. Over it: 400.
pub const MAX_SELECTOR_BYTES: usize = 8 << 10;

/// Requirements in one selector: 100. Matching costs requirements x candidate series per
/// request; a real HPA selector has a handful (one per `matchLabels` entry or expression).
/// Over it: 400.
pub const MAX_SELECTOR_REQUIREMENTS: usize = 100;

/// Values in one `in (...)` / `notin (...)` set: 256. Each pinned value is one index lookup
/// when narrowing candidates. Over it: 400.
pub const MAX_SELECTOR_VALUES: usize = 256;

/// hyper's HTTP/1.1 read buffer, the hard limit on the request line and headers: twice
/// [`MAX_HEADER_BYTES`] (hyper's default, about 408 KiB, would answer an empty 431 below
/// ours). It grows only as a request needs it.
pub const HYPER_MAX_BUF_BYTES: usize = 2 * MAX_HEADER_BYTES;

/// hyper's HTTP/1.1 header count, a hard limit (an empty 431 past it): 1,024. hyper's default
/// of 100 would refuse a user in more than about 95 groups, since the aggregator sends one
/// `X-Remote-Group` line per group; Go has no count limit, only the bytes.
pub const HYPER_MAX_HEADERS: usize = 1024;

/// h2's `SETTINGS_MAX_HEADER_LIST_SIZE` (name + value + 32 per header, RFC 9113 6.5.2), the
/// HTTP/2 hard limit (h2 answers an empty 431 past it): twice [`MAX_HEADER_BYTES`]. hyper's
/// default of 16 KiB would refuse on HTTP/2 (which the aggregator uses) what Go accepts.
pub const HYPER_MAX_HEADER_LIST_BYTES: u32 = 2 * MAX_HEADER_BYTES as u32;

/// The bytes [`MAX_HEADER_BYTES`] counts for a request: the request target plus each
/// header's name and value plus 4.
pub fn header_bytes(target: &str, headers: &axum::http::HeaderMap) -> usize {
    target.len()
        + headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Why a request is refused before routing, if it is.
pub fn check(req: &Request) -> Result<(), ApiError> {
    let target = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    if target.len() > MAX_REQUEST_TARGET_BYTES {
        return Err(ApiError::uri_too_long(format!(
            "the request target is {} bytes long, over the limit of {MAX_REQUEST_TARGET_BYTES} bytes",
            target.len()
        )));
    }
    let n = header_bytes(target, req.headers());
    if n > MAX_HEADER_BYTES {
        return Err(ApiError::header_fields_too_large(format!(
            "the request target and headers are {n} bytes, over the limit of {MAX_HEADER_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Middleware: [`check`], then the rest of the stack.
pub(crate) async fn enforce(req: Request, next: Next) -> Response {
    match check(&req) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::info!(
                code = e.code().as_u16(),
                reason = %e.message(),
                "request refused at the edge"
            );
            e.into_response()
        }
    }
}
