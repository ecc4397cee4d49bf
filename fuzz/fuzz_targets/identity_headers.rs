//! The request-header identity parser: never panics on any header map; a parsed identity
//! has a non-empty name and no empty group, and clearing leaves no header it read.
//!
//! Input: lines `name:value` (`\n`-separated); lines whose name or value `http` refuses are
//! skipped, as hyper would never produce them.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tidecast_server::{HeaderNames, clear_identity_headers, parse_identity_headers};

fuzz_target!(|data: &[u8]| {
    let names = HeaderNames::new(
        &["X-Remote-User", "X-Other-User"],
        &["X-Remote-Uid"],
        &["X-Remote-Group"],
        &["X-Remote-Extra-", "X-E-"],
    )
    .expect("valid names");
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    if let Some(id) = parse_identity_headers(&headers, &names) {
        assert!(!id.name.is_empty());
        assert!(id.groups.iter().all(|g| !g.is_empty()));
        let values: usize = id.extra.values().map(Vec::len).sum();
        assert!(values <= headers.len());
    }
    clear_identity_headers(&mut headers, &names);
    assert_eq!(parse_identity_headers(&headers, &names), None);
    assert!(
        headers
            .keys()
            .all(|k| !k.as_str().starts_with("x-remote-extra-") && !k.as_str().starts_with("x-e-"))
    );
});
