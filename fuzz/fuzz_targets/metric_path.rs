//! The metric path parser: never panics; a parsed namespace and metric are path segment
//! names (no `/`, `%`, not `.`/`..`), the metric is lowercase, and both, percent-encoded
//! again, parse back to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidecast_server::{MetricEndpoint, parse_metric_path};

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = parse_metric_path(path) else {
        return;
    };
    for s in [&p.namespace, &p.metric] {
        assert!(
            !s.is_empty() && !s.contains('/') && !s.contains('%'),
            "{path:?}: {p:?}"
        );
        assert!(s != "." && s != "..", "{path:?}: {p:?}");
    }
    assert_eq!(p.metric, p.metric.to_ascii_lowercase());
    let prefix = match p.endpoint {
        MetricEndpoint::ExternalMetrics => "/apis/external.metrics.k8s.io/v1beta1",
        MetricEndpoint::Values => "/values",
    };
    let again = format!(
        "{prefix}/namespaces/{}/{}",
        encode(&p.namespace),
        encode(&p.metric)
    );
    assert_eq!(
        parse_metric_path(&again).as_ref(),
        Ok(&p),
        "{path:?} as {again:?}"
    );
});
