#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod apiserver;
mod bin;
mod fake;
mod metrics_api;
mod prometheus;

pub use apiserver::{
    AUTH_CONFIGMAP_NAME, AUTH_CONFIGMAP_NAMESPACE, Access, Ca, CertFiles, Decision, Endpoint,
    FakeApiServer, Pki, RecordedRequest, user_info,
};
pub use bin::{Binary, Running};
pub use fake::{FakeHttp, Reply};
pub use metrics_api::{assert_external_metric_value_list, quantity_value};
pub use prometheus::{
    FixtureSeries, PrometheusFixture, prometheus_client, prometheus_client_config,
};

use std::path::PathBuf;
use std::time::Duration;

/// A file of the repository, by its path from the root (`deploy/tidecast.yaml`).
pub fn repo_path(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// A file in the repository's `tests/data/` directory (copied from the shared data set,
/// provenance JSON beside each series).
pub fn data_path(name: &str) -> PathBuf {
    repo_path("tests/data").join(name)
}

/// Parse JSON, panicking with the text when it is not JSON.
#[track_caller]
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Assert that `got` and `want` have the same length and that each pair is within
/// `abs + rel * |want|`; a NaN in `want` expects NaN, an infinity the same infinity.
#[track_caller]
pub fn assert_all_close(got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "lengths differ: got {} values, want {}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let close = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= abs + rel * w.abs()
        };
        assert!(
            close,
            "values differ at index {i}: got {g}, want {w} (rel {rel}, abs {abs})"
        );
    }
}

/// Call `f` every `every` until it returns `Some`, for at most `limit`; `None` when time ran
/// out. For waiting on processes and servers in tests: the limit is a harness timeout (real
/// time), never a measure of speed.
pub fn poll<T>(limit: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    // Real time is right here: the processes waited for run on the wall clock.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let t0 = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if t0.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Now in Unix seconds from the wall clock: what a real Prometheus and the binary's own
/// clock use.
// Real time is right here: it is compared with a real Prometheus' timestamps.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A memory field of this process's `/proc/self/status` in MiB, e.g. `"VmRSS:"` (resident
/// now) or `"VmHWM:"` (peak resident); 0 where the file or field is missing (not Linux).
pub fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A blocking `GET` on 127.0.0.1 returning (status, body); `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A synthetic Shanghai tide of `days` days at `step` seconds ending at `end`, its level and
/// noise set by `seed` (the benches' series: generated, not timed).
pub fn tide_series(seed: u64, days: i64, end: i64, step: i64) -> tidecast_core::Series {
    let g = tidecast_core::synth::TidalGenerator::new(
        chrono_tz::Tz::Asia__Shanghai,
        50.0 + seed as f64,
        2000.0 + 37.0 * seed as f64,
        seed,
    )
    .noise(0.05)
    .growth(0.003, end - days * tidecast_core::SECS_PER_DAY);
    let start = end - days * tidecast_core::SECS_PER_DAY + step;
    let values = (0..days * tidecast_core::SECS_PER_DAY / step)
        .map(|i| g.value(start + i * step))
        .collect();
    tidecast_core::Series::new(start, step, values).expect("valid series")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_values_and_matching_nans_pass() {
        assert_all_close(
            &[1.0, f64::NAN, 100.0],
            &[1.0 + 1e-12, f64::NAN, 100.5],
            0.01,
            0.0,
        );
        assert_all_close(&[f64::INFINITY], &[f64::INFINITY], 0.0, 0.0);
    }

    #[test]
    #[should_panic(expected = "values differ at index 1: got 2.5, want 2")]
    fn a_mismatch_fails_naming_the_index() {
        assert_all_close(&[1.0, 2.5], &[1.0, 2.0], 1e-6, 1e-9);
    }

    #[test]
    #[should_panic(expected = "values differ at index 0")]
    fn nan_where_a_number_is_expected_fails() {
        assert_all_close(&[f64::NAN], &[1.0], 1.0, 1.0);
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn different_lengths_fail() {
        assert_all_close(&[1.0], &[1.0, 2.0], 0.0, 0.0);
    }
}
