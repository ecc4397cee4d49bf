//! An `autoscaling/v2` HorizontalPodAutoscaler manifest, as the user applies it, read into an
//! [`HpaSpec`] with the API server's defaulting (`pkg/apis/autoscaling/v2/defaults.go`).

use crate::spec::{Behavior, HpaSpec, Policy, PolicyKind, Rules, Select, Target};
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, MetricSpec, MetricTarget,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Why a manifest cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML of a HorizontalPodAutoscaler.
    #[error("not an autoscaling/v2 HorizontalPodAutoscaler: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The manifest is of another kind or version.
    #[error("expected apiVersion autoscaling/v2 and kind HorizontalPodAutoscaler, got {0}")]
    Kind(String),
    /// No External metric (or not the one named).
    #[error("{0}")]
    NoExternalMetric(String),
    /// A field the controller needs is missing or invalid.
    #[error("{field}: {reason}")]
    Field {
        /// The field's path in the manifest.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field(field: &str, reason: impl Into<String>) -> ManifestError {
    ManifestError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A Kubernetes quantity (`1500`, `1.5k`, `250m`, `2Ki`, `1e3`) as a number.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (digits, scale) = suffixes
        .iter()
        .find_map(|(s, f)| q.strip_suffix(s).map(|d| (d, *f)))
        .unwrap_or((q, 1.0));
    let ok = !digits.is_empty()
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '+' | '-' | 'e' | 'E'));
    let v: f64 = digits.parse().ok().filter(|_| ok)?;
    v.is_finite().then_some(v * scale)
}

fn quantity(path: &str, q: &Option<Quantity>) -> Result<Option<f64>, ManifestError> {
    match q {
        None => Ok(None),
        Some(Quantity(s)) => parse_quantity(s)
            .map(Some)
            .ok_or_else(|| field(path, format!("{s:?} is not a quantity"))),
    }
}

impl HpaSpec {
    /// Read a manifest; `metric` picks the External metric by name when it has several.
    pub fn from_yaml(text: &str, metric: Option<&str>) -> Result<HpaSpec, ManifestError> {
        let value: serde_yaml::Value = serde_yaml::from_str(text)?;
        let kind = (value["apiVersion"].as_str(), value["kind"].as_str());
        if kind != (Some("autoscaling/v2"), Some("HorizontalPodAutoscaler")) {
            return Err(ManifestError::Kind(format!("{:?}/{:?}", kind.0, kind.1)));
        }
        let hpa: HorizontalPodAutoscaler = serde_yaml::from_value(value)?;
        let spec = hpa.spec.ok_or_else(|| field("spec", "missing"))?;
        let target = external_target(spec.metrics.as_deref().unwrap_or_default(), metric)?;
        let min = spec.min_replicas.unwrap_or(1);
        if min < 0 || spec.max_replicas < min.max(1) {
            return Err(field(
                "spec.maxReplicas",
                format!("{} is below minReplicas {min}", spec.max_replicas),
            ));
        }
        let mut out = HpaSpec::new(min, spec.max_replicas, target);
        out.behavior = spec
            .behavior
            .map(|b| -> Result<Behavior, ManifestError> {
                Ok(Behavior {
                    up: rules("spec.behavior.scaleUp", b.scale_up, Rules::default_up())?,
                    down: rules(
                        "spec.behavior.scaleDown",
                        b.scale_down,
                        Rules::default_down(),
                    )?,
                })
            })
            .transpose()?;
        Ok(out)
    }
}

/// The target of the External metric (named `metric`, or the only one).
fn external_target(metrics: &[MetricSpec], metric: Option<&str>) -> Result<Target, ManifestError> {
    let external: Vec<_> = metrics
        .iter()
        .filter(|m| m.type_ == "External")
        .filter_map(|m| m.external.as_ref())
        .filter(|e| metric.is_none_or(|n| e.metric.name == n))
        .collect();
    let e = match external.as_slice() {
        [one] => one,
        [] => {
            return Err(ManifestError::NoExternalMetric(match metric {
                Some(n) => format!("spec.metrics has no External metric named {n:?}"),
                None => "spec.metrics has no External metric".into(),
            }));
        }
        _ => {
            let names: Vec<&str> = external.iter().map(|e| e.metric.name.as_str()).collect();
            return Err(ManifestError::NoExternalMetric(format!(
                "spec.metrics has several External metrics ({}): name one",
                names.join(", ")
            )));
        }
    };
    target(&e.target)
}

fn target(t: &MetricTarget) -> Result<Target, ManifestError> {
    let path = "spec.metrics[].external.target";
    let positive = |name: &str, v: Option<f64>| match v {
        Some(v) if v > 0.0 => Ok(v),
        Some(v) => Err(field(
            &format!("{path}.{name}"),
            format!("{v} must be positive"),
        )),
        None => Err(field(&format!("{path}.{name}"), "missing")),
    };
    match t.type_.as_str() {
        "Value" => Ok(Target::Value(positive("value", quantity(path, &t.value)?)?)),
        "AverageValue" => Ok(Target::AverageValue(positive(
            "averageValue",
            quantity(path, &t.average_value)?,
        )?)),
        other => Err(field(
            &format!("{path}.type"),
            format!("{other:?}: an External metric's target is Value or AverageValue"),
        )),
    }
}

/// One direction with the defaults filled in field by field, as the API server does.
fn rules(path: &str, given: Option<HPAScalingRules>, mut d: Rules) -> Result<Rules, ManifestError> {
    let Some(g) = given else {
        return Ok(d);
    };
    if let Some(s) = g.select_policy {
        d.select = match s.as_str() {
            "Max" => Select::Max,
            "Min" => Select::Min,
            "Disabled" => Select::Disabled,
            other => return Err(field(&format!("{path}.selectPolicy"), format!("{other:?}"))),
        };
    }
    if let Some(w) = g.stabilization_window_seconds {
        d.stabilization_secs = Some(i64::from(w));
    }
    if let Some(p) = g.policies {
        d.policies = p
            .iter()
            .map(|p| {
                let kind = match p.type_.as_str() {
                    "Pods" => PolicyKind::Pods,
                    "Percent" => PolicyKind::Percent,
                    other => {
                        return Err(field(
                            &format!("{path}.policies[].type"),
                            format!("{other:?}"),
                        ));
                    }
                };
                Ok(Policy {
                    kind,
                    value: p.value,
                    period_secs: i64::from(p.period_seconds),
                })
            })
            .collect::<Result<_, _>>()?;
    }
    d.tolerance = quantity(&format!("{path}.tolerance"), &g.tolerance)?.or(d.tolerance);
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HPA: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: tv-api, namespace: tv}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: tv-api}
  minReplicas: 2
  maxReplicas: 40
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}
    - type: External
      external:
        metric: {name: lb_connections_predicted, selector: {matchLabels: {service: tv-api}}}
        target: {type: AverageValue, averageValue: 1k}
"#;

    #[test]
    fn the_recommended_hpa_reads_with_the_legacy_defaults() {
        let h = HpaSpec::from_yaml(HPA, None).unwrap();
        assert_eq!(h, HpaSpec::new(2, 40, Target::AverageValue(1000.0)));
    }

    #[test]
    fn a_partial_behavior_is_defaulted_field_by_field() {
        let text = format!(
            "{HPA}  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 60\n      policies: [{{type: Pods, value: 2, periodSeconds: 30}}]\n    scaleUp: {{selectPolicy: Min, tolerance: 50m}}\n"
        );
        let h = HpaSpec::from_yaml(&text, Some("lb_connections_predicted")).unwrap();
        let b = h.behavior.unwrap();
        assert_eq!(b.down.stabilization_secs, Some(60));
        assert_eq!(b.down.select, Select::Max);
        assert_eq!(
            b.down.policies,
            [Policy {
                kind: PolicyKind::Pods,
                value: 2,
                period_secs: 30
            }]
        );
        assert_eq!(b.up.select, Select::Min);
        assert_eq!(b.up.policies, Rules::default_up().policies);
        assert_eq!(b.up.tolerance, Some(0.05));
    }

    #[test]
    fn bad_manifests_are_refused_naming_the_problem() {
        let cases = [
            (
                HPA.replace("autoscaling/v2", "autoscaling/v1"),
                "apiVersion",
            ),
            (
                HPA.replace("type: External", "type: Pods"),
                "no External metric",
            ),
            (
                HPA.replace("averageValue: 1k", "averageValue: lots"),
                "not a quantity",
            ),
            (
                HPA.replace("maxReplicas: 40", "maxReplicas: 1"),
                "maxReplicas",
            ),
            (
                HPA.replace("AverageValue", "Utilization"),
                "Value or AverageValue",
            ),
        ];
        for (text, want) in cases {
            let e = HpaSpec::from_yaml(&text, None).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
        let e = HpaSpec::from_yaml(HPA, Some("other"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("named \"other\""), "{e}");
    }

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        for (q, v) in [
            ("1500", 1500.0),
            ("1.5k", 1500.0),
            ("250m", 0.25),
            ("2Ki", 2048.0),
            ("1e3", 1000.0),
        ] {
            assert_eq!(parse_quantity(q), Some(v), "{q}");
        }
        for q in ["", "k", "1.5x", "one"] {
            assert_eq!(parse_quantity(q), None, "{q}");
        }
    }
}
