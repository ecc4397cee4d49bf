//! Router tests without a socket (`tower::ServiceExt::oneshot`), checked against the
//! protocol notes field by field.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tidecast_server::*;
use tidecast_testing::{assert_external_metric_value_list, json};
use tower::ServiceExt;

#[derive(Debug)]
struct Fixed(f64);
impl Clock for Fixed {
    fn now(&self) -> f64 {
        self.0
    }
}

const NOW: i64 = 1_790_834_400; // 2026-10-01T06:00:00Z

fn target(name: &str, metric: &str, service: &str, live: f64, ahead: f32, age: i64) -> TargetView {
    TargetView {
        name: name.into(),
        metric: metric.into(),
        labels: Arc::new(BTreeMap::from([(
            "service".to_string(),
            service.to_string(),
        )])),
        namespaces: Some(vec!["default".into(), "shop".into()]),
        mode: Mode::Scale,
        lead: 900,
        staleness: Staleness::default(),
        live: Some(Observation {
            t: NOW - age,
            value: live,
        }),
        forecast: ServedForecast {
            start: NOW - age + 60,
            step: 60,
            values: vec![ahead; 300],
        },
        horizons: vec![(300, f64::from(ahead))],
        accuracy: vec![Accuracy {
            horizon: 300,
            n: 10,
            mae: 1.5,
            mape: 2.0,
            coverage: 0.8,
        }],
        refresh_ok: 3,
        refresh_failed: 1,
        last_error: None,
        model_refit_point: None,
        trail: None,
    }
}

fn app(targets: Vec<TargetView>) -> axum::Router {
    let store = Arc::new(MetricStore::new(targets));
    router(AppState::new(store, Arc::new(Fixed(NOW as f64)), "0.1.0"))
}

fn default_app() -> axum::Router {
    app(vec![
        target(
            "tv",
            "lb_connections_predicted",
            "tv-api",
            1200.0,
            1500.5,
            30,
        ),
        target("epg", "lb_connections_predicted", "epg", 80.0, 15000.0, 30),
        target("old", "stale_metric", "old", 10.0, 10.0, 3 * 3600),
    ])
}

async fn get(app: axum::Router, uri: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

const BASE: &str = "/apis/external.metrics.k8s.io/v1beta1";

#[tokio::test]
async fn apis_lists_the_group_and_refuses_aggregated_discovery() {
    let (code, ct, body) = get(default_app(), "/apis", Some("application/json")).await;
    assert_eq!((code, ct.as_str()), (StatusCode::OK, "application/json"));
    let v = json(&body);
    assert_eq!(v["kind"], "APIGroupList");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["groups"][0]["name"], "external.metrics.k8s.io");
    assert_eq!(
        v["groups"][0]["preferredVersion"]["groupVersion"],
        "external.metrics.k8s.io/v1beta1"
    );
    assert_eq!(v["groups"][0]["versions"][0]["version"], "v1beta1");

    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let (code, ct, body) = get(default_app(), "/apis", Some(v2)).await;
    assert_eq!(
        (code, ct.as_str()),
        (StatusCode::NOT_ACCEPTABLE, "application/json")
    );
    let v = json(&body);
    assert_eq!(
        (v["kind"].as_str(), v["reason"].as_str(), v["code"].as_u64()),
        (Some("Status"), Some("NotAcceptable"), Some(406))
    );
}

#[tokio::test]
async fn group_and_resource_list_documents() {
    let (code, _, body) = get(default_app(), "/apis/external.metrics.k8s.io", None).await;
    assert_eq!(code, StatusCode::OK);
    let v = json(&body);
    assert_eq!(
        (v["kind"].as_str(), v["name"].as_str()),
        (Some("APIGroup"), Some("external.metrics.k8s.io"))
    );

    let (code, _, body) = get(default_app(), BASE, None).await;
    assert_eq!(code, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["kind"], "APIResourceList");
    assert_eq!(v["groupVersion"], "external.metrics.k8s.io/v1beta1");
    let r = v["resources"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    for x in r {
        assert_eq!(x["namespaced"], true);
        assert_eq!(x["kind"], "ExternalMetricValueList");
        assert_eq!(x["verbs"], serde_json::json!(["get"]));
        assert_eq!(x["singularName"], "");
    }
    // An empty configuration still lists a placeholder: never "resources": [].
    let (_, _, body) = get(app(vec![]), BASE, None).await;
    assert_eq!(json(&body)["resources"][0]["name"], "externalmetrics");
}

#[tokio::test]
async fn metric_values_follow_the_spec_field_by_field() {
    let uri = format!(
        "{BASE}/namespaces/default/lb_connections_predicted?labelSelector=service%3Dtv-api"
    );
    let (code, ct, body) = get(
        default_app(),
        &uri,
        Some("application/vnd.kubernetes.protobuf, */*"),
    )
    .await;
    assert_eq!((code, ct.as_str()), (StatusCode::OK, "application/json"));
    let v = json(&body);
    let items = assert_external_metric_value_list(&v, "lb_connections_predicted");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["metricLabels"]["service"], "tv-api");
    assert_eq!(items[0]["timestamp"], "2026-10-01T06:00:00Z");
    assert_eq!(
        items[0]["value"], "1500500m",
        "max(live 1200, forecast 1500.5) in milli-units"
    );
    assert!(items[0].get("window").is_none());
}

#[tokio::test]
async fn selectors_names_and_namespaces() {
    let base = format!("{BASE}/namespaces/default");
    // No selector: every series.
    let (_, _, body) = get(
        default_app(),
        &format!("{base}/lb_connections_predicted"),
        None,
    )
    .await;
    let items = json(&body)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().any(|i| i["value"] == "15k"));
    // Mixed case in the path matches.
    let (code, _, body) = get(
        default_app(),
        &format!("{base}/LB_Connections_Predicted?labelSelector=service+in+%28epg%29"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(json(&body)["items"].as_array().unwrap().len(), 1);
    // Matching nothing: 200 with an empty list, as the reference servers do.
    let (code, _, body) = get(
        default_app(),
        &format!("{base}/lb_connections_predicted?labelSelector=service%3Dnone"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(json(&body)["items"], serde_json::json!([]));
    // Malformed selector: 400 Status.
    let (code, _, body) = get(
        default_app(),
        &format!("{base}/lb_connections_predicted?labelSelector=service+%7E+x"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(json(&body)["reason"], "BadRequest");
    // Unknown metric: 404 Status.
    let (code, ct, body) = get(default_app(), &format!("{base}/nope"), None).await;
    assert_eq!(
        (code, ct.as_str()),
        (StatusCode::NOT_FOUND, "application/json")
    );
    assert!(
        json(&body)["message"]
            .as_str()
            .unwrap()
            .contains("could not find the metric")
    );
}

#[tokio::test]
async fn a_namespace_outside_the_targets_allow_list_is_forbidden() {
    let uri = format!("{BASE}/namespaces/other/lb_connections_predicted");
    let (code, ct, body) = get(default_app(), &uri, None).await;
    assert_eq!(
        (code, ct.as_str()),
        (StatusCode::FORBIDDEN, "application/json")
    );
    let body = json(&body);
    assert_eq!(body["reason"], "Forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("namespace \"other\" is not in the namespaces allowed"),
        "{body}"
    );
}

#[tokio::test]
async fn an_expired_target_is_a_503_never_a_stale_value() {
    let (code, _, body) = get(
        default_app(),
        &format!("{BASE}/namespaces/default/stale_metric"),
        None,
    )
    .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let v = json(&body);
    assert_eq!(v["reason"], "ServiceUnavailable");
    assert!(v["message"].as_str().unwrap().contains("hard limit"));
}

#[tokio::test]
async fn other_paths_health_version_openapi_and_metrics() {
    for p in [
        "/openapi/v2",
        "/openapi/v3",
        "/api",
        "/apis/external.metrics.k8s.io/v1beta1/foo",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/foo",
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/foo/group/metric",
    ] {
        let (code, ct, body) = get(default_app(), p, None).await;
        assert_eq!(
            (code, ct.as_str()),
            (StatusCode::NOT_FOUND, "application/json"),
            "{p}"
        );
        assert_eq!(json(&body)["kind"], "Status");
    }
    for p in ["/healthz", "/livez", "/readyz"] {
        let (code, _, body) = get(default_app(), p, None).await;
        assert_eq!(code, StatusCode::OK, "{p}: {body}");
    }
    let (code, _, body) = get(app(vec![]), "/readyz", None).await;
    assert_eq!(
        code,
        StatusCode::INTERNAL_SERVER_ERROR,
        "not ready with nothing to serve: {body}"
    );
    // One target still waiting for its first refresh keeps the replica out of the
    // endpoints, though the others could be served.
    let mut warming = target("new", "lb_connections_predicted", "new", 1.0, 1.0, 30);
    (warming.refresh_ok, warming.refresh_failed) = (0, 0);
    let mut targets = vec![target("tv", "m", "tv", 1.0, 1.0, 30), warming];
    let (code, _, body) = get(app(targets.clone()), "/readyz", None).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.contains("1 targets have not had their first refresh"),
        "{body}"
    );
    // A first refresh that failed counts as done.
    targets[1].refresh_failed = 1;
    let (code, _, body) = get(app(targets), "/readyz", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(
        body.contains("[+] first refresh pending: 0 targets"),
        "{body}"
    );
    // Draining (the process was asked to stop): not ready, still answering.
    let state = AppState::new(
        Arc::new(MetricStore::new(vec![target(
            "tv", "m", "tv", 1.0, 1.0, 30,
        )])),
        Arc::new(Fixed(NOW as f64)),
        "0.1.0",
    );
    state
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let draining = router(state);
    let (code, _, body) = get(draining.clone(), "/readyz", None).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("shutting down"), "{body}");
    let (code, _, _) = get(draining, &format!("{BASE}/namespaces/default/m"), None).await;
    assert_eq!(code, StatusCode::OK);
    let (_, _, body) = get(default_app(), "/version", None).await;
    assert_eq!(json(&body)["gitVersion"], "v0.1.0");

    let app = default_app();
    let _ = get(
        app.clone(),
        &format!("{BASE}/namespaces/default/lb_connections_predicted"),
        None,
    )
    .await;
    let (code, _, text) = get(app, "/metrics", None).await;
    assert_eq!(code, StatusCode::OK);
    for needle in [
        "tidecast_target_served_value{target=\"tv\"} 1500.5",
        "tidecast_target_state{target=\"old\",state=\"expired\"} 1",
        "tidecast_target_forecast{target=\"tv\",horizon=\"5m\"} 1500.5",
        "tidecast_target_mae{target=\"tv\",horizon=\"5m\"} 1.5",
        "tidecast_target_refreshes_total{target=\"tv\",result=\"failure\"} 1",
        "tidecast_http_requests_total{path=\"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}\",code=\"200\"} 1",
        "tidecast_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn post_is_not_allowed_and_keda_json_sums_series() {
    let resp = default_app()
        .oneshot(
            Request::post(format!(
                "{BASE}/namespaces/default/lb_connections_predicted"
            ))
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (code, _, body) = get(
        default_app(),
        "/values/namespaces/default/lb_connections_predicted",
        None,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["value"].as_f64(), Some(1500.5 + 15000.0));
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn per_target_metric_families_follow_the_configured_level() {
    let scrape = |level| async move {
        let store = Arc::new(MetricStore::new(vec![target(
            "tv", "m", "tv", 1200.0, 1500.5, 30,
        )]));
        let app = router(AppState::with_target_metrics(
            store,
            Arc::new(Fixed(NOW as f64)),
            "0.1.0",
            level,
        ));
        get(app, "/metrics", None).await.2
    };
    let all = scrape(TargetMetrics::All).await;
    let served = scrape(TargetMetrics::Served).await;
    let none = scrape(TargetMetrics::None).await;
    for family in ["tidecast_target_forecast{", "tidecast_target_mae{"] {
        assert!(all.contains(family), "{family} in all");
        assert!(!served.contains(family), "{family} not in served");
    }
    for family in [
        "tidecast_target_served_value{",
        "tidecast_target_state{",
        "tidecast_target_refreshes_total{",
    ] {
        assert!(served.contains(family), "{family} in served");
        assert!(!none.contains(family), "{family} not in none");
    }
    assert!(
        none.contains("tidecast_tls_certificate_expiry_timestamp_seconds"),
        "{none}"
    );
    // The fleet's counts at every level: the one view of many targets that stays small.
    for scrape in [&all, &served, &none] {
        assert!(
            scrape.contains("tidecast_targets{state=\"fresh\"} 1"),
            "{scrape}"
        );
        assert!(scrape.contains("tidecast_targets{state=\"expired\"} 0"));
        assert!(scrape.contains("tidecast_targets_data_age_max_seconds 30"));
    }
}

/// `auto`, the default, keeps a scrape within its series budget as targets grow: every
/// family, then the served ones, then only the fleet's counts.
#[tokio::test]
async fn auto_metric_families_shrink_as_the_targets_grow() {
    use tidecast_server::{ALL_SERIES_PER_TARGET, AUTO_SERIES_BUDGET, SERVED_SERIES_PER_TARGET};
    let scrape = |n: usize| async move {
        let views = (0..n)
            .map(|i| target(&format!("t{i}"), "m", &format!("s{i}"), 1200.0, 1500.5, 30))
            .collect();
        let store = Arc::new(MetricStore::new(views));
        let app = router(AppState::with_target_metrics(
            store,
            Arc::new(Fixed(NOW as f64)),
            "0.1.0",
            TargetMetrics::Auto,
        ));
        get(app, "/metrics", None).await.2
    };
    let per_target = |body: &str| {
        body.lines()
            .filter(|l| l.starts_with("tidecast_target_"))
            .count()
    };
    let few = AUTO_SERIES_BUDGET / ALL_SERIES_PER_TARGET;
    let body = scrape(few).await;
    assert!(
        body.contains("tidecast_target_mae{"),
        "all families at {few} targets"
    );
    assert!(per_target(&body) <= AUTO_SERIES_BUDGET);
    let body = scrape(few + 1).await;
    assert!(!body.contains("tidecast_target_mae{") && body.contains("tidecast_target_state{"));
    assert!(per_target(&body) <= AUTO_SERIES_BUDGET);
    let body = scrape(AUTO_SERIES_BUDGET / SERVED_SERIES_PER_TARGET + 1).await;
    assert_eq!(per_target(&body), 0, "only the fleet's counts");
    assert!(body.contains("tidecast_targets{state=\"fresh\"}"));
}
