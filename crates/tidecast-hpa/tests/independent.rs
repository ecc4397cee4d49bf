//! Agreement with an independent replay: `scripts/hpa_replay.py`, a Python port of the HPA
//! controller written from the protocol notes and the Go sources without this crate's code,
//! recorded its decisions on generated traces in `tests/data/golden/hpa_replay.json`. Each
//! case's manifest goes through `HpaSpec::from_yaml` (so the defaulting is compared too) and
//! the loop is closed the same way: pods are ready at once, spec = status = ready, and a
//! step's `desired` is the new replica count, or null where it does not change.

use serde_json::{Value, json};
use tidecast_hpa::{Controller, HpaSpec, Observed};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/golden/hpa_replay.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture")).expect("JSON")
}

/// The case's HPA as the manifest a user applies.
fn manifest(hpa: &Value) -> String {
    let target = &hpa["target"];
    let kind = target["type"].as_str().unwrap();
    let field = if kind == "Value" {
        "value"
    } else {
        "averageValue"
    };
    let mut t = json!({"type": kind});
    t[field] = Value::String(format!("{}", target["value"]));
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": hpa["minReplicas"],
        "maxReplicas": hpa["maxReplicas"],
        "metrics": [{"type": "External", "external": {"metric": {"name": "m"}, "target": t}}],
    });
    if !hpa["behavior"].is_null() {
        spec["behavior"] = hpa["behavior"].clone();
    }
    json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "app"}, "spec": spec})
    .to_string()
}

#[test]
fn the_controller_agrees_with_an_independent_replay_on_recorded_traces() {
    let f = fixture();
    let cases = f["cases"].as_array().expect("cases");
    assert!(cases.len() >= 8, "{} cases", cases.len());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let mut spec = HpaSpec::from_yaml(&manifest(&case["hpa"]), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        spec.tolerance = case["tolerance"].as_f64().unwrap();
        spec.downscale_stabilization_secs =
            case["downscale_stabilization_seconds"].as_i64().unwrap();
        let mut c = Controller::new(spec);
        let mut replicas = case["initial_replicas"].as_i64().unwrap() as i32;
        let steps = case["steps"].as_array().unwrap();
        let want = case["desired"].as_array().unwrap();
        assert_eq!(steps.len(), want.len(), "{name}");
        for (k, (step, want)) in steps.iter().zip(want).enumerate() {
            let t = step["t"].as_i64().unwrap();
            let metric = step["metric"]
                .as_f64()
                .ok_or_else(|| "metric unavailable".to_string());
            let o = Observed {
                spec_replicas: replicas,
                status_replicas: replicas,
                ready: replicas,
            };
            // The fixture records a rescale only: `null` where the replicas stay.
            let got = c.reconcile(t, o, metric).ok().filter(|r| *r != replicas);
            let want = want.as_i64().map(|w| w as i32);
            assert_eq!(
                got, want,
                "{name}: step {k} at t={t}s, {replicas} replicas, metric {}",
                step["metric"]
            );
            if let Some(r) = got {
                replicas = r;
            }
        }
    }
}
