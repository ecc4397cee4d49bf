//! The Prometheus HTTP API answer parser (tidecast-prometheus' wire module, as the client
//! calls it on every `query`/`query_range` body and error body): never panics on any
//! body; parsed samples hold finite values or `NaN`, never an infinity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidecast_prometheus::fuzzing::{error_body, parse_result, parse_value};

const URL: &str = "http://prometheus:9090/api/v1/query_range";

fuzz_target!(|data: &[u8]| {
    match parse_result(URL, data) {
        Ok(series) => {
            for s in &series {
                assert!(s.samples.iter().all(|p| !p.value.is_infinite()), "{s:?}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = error_body(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(v) = parse_value(text) {
            assert!(!v.is_infinite(), "{text:?} parsed as {v}");
        }
    }
});
