//! Checking answers of the external metrics API as the HPA reads them.

use serde_json::Value;

/// Check that `v` is an `external.metrics.k8s.io/v1beta1` `ExternalMetricValueList` whose
/// items all name `metric` and carry a second-precision RFC 3339 timestamp and a canonical
/// quantity; returns the items.
#[track_caller]
pub fn assert_external_metric_value_list<'a>(v: &'a Value, metric: &str) -> &'a [Value] {
    assert_eq!(v["kind"], "ExternalMetricValueList", "{v}");
    assert_eq!(v["apiVersion"], "external.metrics.k8s.io/v1beta1", "{v}");
    assert_eq!(v["metadata"], serde_json::json!({}), "{v}");
    let items = v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {v}"));
    for item in items {
        assert_eq!(item["metricName"], metric, "{item}");
        assert!(item["metricLabels"].is_object(), "{item}");
        let ts = item["timestamp"].as_str().unwrap_or_default();
        assert!(
            ts.len() == 20 && ts.ends_with('Z') && &ts[10..11] == "T",
            "second-precision RFC 3339: {item}"
        );
        let q = item["value"].as_str().unwrap_or_default();
        let digits = q.trim_end_matches(['m', 'k', 'M', 'G', 'T']);
        assert!(
            !digits.is_empty()
                && digits.len() + 1 >= q.len()
                && digits.chars().all(|c| c.is_ascii_digit()),
            "canonical quantity (digits and at most one suffix): {item}"
        );
    }
    items
}

/// The number a canonical quantity (`1500500m`, `15k`, `42`) stands for.
#[track_caller]
pub fn quantity_value(q: &str) -> f64 {
    let (digits, scale) = match q.chars().last() {
        Some('m') => (&q[..q.len() - 1], 1e-3),
        Some('k') => (&q[..q.len() - 1], 1e3),
        Some('M') => (&q[..q.len() - 1], 1e6),
        Some('G') => (&q[..q.len() - 1], 1e9),
        Some('T') => (&q[..q.len() - 1], 1e12),
        _ => (q, 1.0),
    };
    digits
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("not a quantity: {q:?}"))
        * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_scale_by_their_suffix() {
        assert_eq!(quantity_value("1500500m"), 1500.5);
        assert_eq!(quantity_value("15k"), 15000.0);
        assert_eq!(quantity_value("42"), 42.0);
    }

    #[test]
    #[should_panic(expected = "canonical quantity")]
    fn a_decimal_quantity_is_not_canonical() {
        let v = serde_json::json!({
            "kind": "ExternalMetricValueList",
            "apiVersion": "external.metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": [{"metricName": "m", "metricLabels": {}, "timestamp": "2026-10-01T06:00:00Z", "value": "1.5"}],
        });
        assert_external_metric_value_list(&v, "m");
    }
}
