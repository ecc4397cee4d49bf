//! The metric request's path, parsed without the router: the namespace and metric name that
//! the handlers serve (and that authorization checks), from the raw, percent-encoded path.

use crate::GROUP_VERSION;

/// Which metric endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricEndpoint {
    /// `/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}`.
    ExternalMetrics,
    /// `/values/namespaces/{namespace}/{metric}` (plain JSON for KEDA's `metrics-api`).
    Values,
}

/// A metric path, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricPath {
    /// The endpoint.
    pub endpoint: MetricEndpoint,
    /// The namespace segment, percent-decoded.
    pub namespace: String,
    /// The metric segment, percent-decoded and lowercased (the HPA's client lowercases the
    /// resource, and `kubectl get --raw` sends it verbatim).
    pub metric: String,
}

/// Why a path is not a servable metric path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not of a metric endpoint's shape (answered 404 by the router).
    #[error("not a metric path")]
    NotAMetricPath,
    /// A segment that does not decode to a valid path segment name (answered 400).
    #[error("invalid {what} {segment:?}: {why}")]
    InvalidSegment {
        /// `namespace` or `metric name`.
        what: &'static str,
        /// The segment as sent (still percent-encoded).
        segment: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Parse a request's path (the URI path, without the query, still percent-encoded) into the
/// metric endpoint, namespace and metric it names. Segments are split on `/` first and then
/// percent-decoded, strictly (a `%` not followed by two hex digits is an error, as Go's
/// `url.PathUnescape`); each must decode to UTF-8 that is a valid path segment name as
/// apimachinery's `path.IsValidPathSegmentName` has it (not `.` or `..`, no `/` or `%`).
pub fn parse_metric_path(path: &str) -> Result<MetricPath, PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::NotAMetricPath)?;
    let mut segments = rest.split('/');
    let mut next = || segments.next();
    let endpoint = match next() {
        Some("apis") => {
            let gv = GROUP_VERSION.split_once('/').unwrap_or_default();
            if next() != Some(gv.0) || next() != Some(gv.1) {
                return Err(PathError::NotAMetricPath);
            }
            MetricEndpoint::ExternalMetrics
        }
        Some("values") => MetricEndpoint::Values,
        _ => return Err(PathError::NotAMetricPath),
    };
    if next() != Some("namespaces") {
        return Err(PathError::NotAMetricPath);
    }
    let (Some(namespace), Some(metric), None) = (next(), next(), next()) else {
        return Err(PathError::NotAMetricPath);
    };
    if namespace.is_empty() || metric.is_empty() {
        return Err(PathError::NotAMetricPath);
    }
    Ok(MetricPath {
        endpoint,
        namespace: segment_name("namespace", namespace)?,
        metric: segment_name("metric name", metric)?.to_ascii_lowercase(),
    })
}

fn segment_name(what: &'static str, segment: &str) -> Result<String, PathError> {
    let invalid = |why| PathError::InvalidSegment {
        what,
        segment: segment.to_string(),
        why,
    };
    let bytes = path_unescape(segment).ok_or_else(|| invalid("malformed percent-encoding"))?;
    let name = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    if name == "." || name == ".." {
        return Err(invalid("may not be '.' or '..'"));
    }
    if name.contains('/') || name.contains('%') {
        return Err(invalid("may not contain '/' or '%'"));
    }
    Ok(name)
}

/// Go's `url.PathUnescape`: `%XX` to its byte, anything else as is; `None` for a `%` not
/// followed by two hex digits.
pub(crate) fn path_unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "/apis/external.metrics.k8s.io/v1beta1/namespaces";

    #[test]
    fn both_endpoints_parse_decoded_and_lowercased() {
        let p = parse_metric_path(&format!("{BASE}/shop/Predicted_RPS")).unwrap();
        assert_eq!(p.endpoint, MetricEndpoint::ExternalMetrics);
        assert_eq!(
            (p.namespace.as_str(), p.metric.as_str()),
            ("shop", "predicted_rps")
        );
        let p = parse_metric_path("/values/namespaces/a%2Db/m%C3%A9tric").unwrap();
        assert_eq!(p.endpoint, MetricEndpoint::Values);
        assert_eq!((p.namespace.as_str(), p.metric.as_str()), ("a-b", "métric"));
    }

    #[test]
    fn other_shapes_are_not_metric_paths() {
        for p in [
            "",
            "apis/external.metrics.k8s.io/v1beta1/namespaces/a/m",
            "/apis",
            "/apis/external.metrics.k8s.io/v1beta1",
            "/apis/external.metrics.k8s.io/v1beta2/namespaces/a/m",
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/a/m",
            &format!("{BASE}/a"),
            &format!("{BASE}/a/"),
            &format!("{BASE}//m"),
            &format!("{BASE}/a/m/"),
            &format!("{BASE}/a/group/m"),
            "/values/namespaces/a",
        ] {
            assert_eq!(parse_metric_path(p), Err(PathError::NotAMetricPath), "{p}");
        }
    }

    #[test]
    fn segments_that_are_not_path_segment_names_are_invalid() {
        for (seg, why) in [
            ("%2F", "may not contain '/' or '%'"),
            ("a%2fb", "may not contain '/' or '%'"),
            ("a%25", "may not contain '/' or '%'"),
            ("..", "may not be '.' or '..'"),
            ("%2E", "may not be '.' or '..'"),
            ("%", "malformed percent-encoding"),
            ("a%2", "malformed percent-encoding"),
            ("a%zz", "malformed percent-encoding"),
            ("%FF", "not UTF-8"),
        ] {
            let e = parse_metric_path(&format!("{BASE}/ns/{seg}")).unwrap_err();
            assert!(
                matches!(&e, PathError::InvalidSegment { what: "metric name", segment, why: w } if segment == seg && *w == why),
                "{seg}: {e}"
            );
            let e = parse_metric_path(&format!("/values/namespaces/{seg}/m")).unwrap_err();
            assert!(
                matches!(
                    &e,
                    PathError::InvalidSegment {
                        what: "namespace",
                        ..
                    }
                ),
                "{seg}: {e}"
            );
        }
    }
}
