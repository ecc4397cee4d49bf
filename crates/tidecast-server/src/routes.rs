//! The axum router: discovery, the metric endpoint, KEDA's JSON, health, version, metrics.

use crate::path::{PathError, parse_metric_path};
use crate::policy::Freshness;
use crate::quantity::milli_quantity;
use crate::selector::LabelSelector;
use crate::status::ApiError;
use crate::{AppState, GROUP, GROUP_VERSION, VERSION};
use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tidecast_core::format_timestamp;

/// The full router. Health, version and OpenAPI routes sit outside the API routes so
/// authentication/authorization layers (next) wrap only the latter.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/apis", get(api_group_list))
        .route(&format!("/apis/{GROUP}"), get(api_group))
        .route(&format!("/apis/{GROUP_VERSION}"), get(api_resource_list))
        .route(
            &format!("/apis/{GROUP_VERSION}/namespaces/{{namespace}}/{{metric}}"),
            get(metric_values),
        )
        .route("/values/namespaces/{namespace}/{metric}", get(plain_values));
    Router::new()
        .merge(api)
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .route("/openapi/v2", get(no_openapi))
        .route("/openapi/v3", get(no_openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Authentication and authorization after the limits (nothing oversized reaches a
        // reviewer), before any handler; limits before anything reads the request;
        // everything recorded.
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .layer(middleware::from_fn(crate::limits::enforce))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let start = tokio::time::Instant::now();
    let resp = next.run(req).await;
    state
        .telemetry
        .observe(&path, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

/// The authentication and authorization gate: every path but the health paths needs an
/// authenticated and authorized caller. On success the credentials and identity headers
/// are removed before the handler runs (as the generic server does) and the user is put in
/// the request's extensions.
async fn gate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(auth) = state.auth.clone() else {
        return next.run(req).await;
    };
    if crate::auth::ALWAYS_ALLOW_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    // Put there by the listener for each connection (`None`: no client certificate).
    let peer = req
        .extensions()
        .get::<Option<std::sync::Arc<crate::auth::PeerCertificates>>>()
        .cloned()
        .flatten();
    let (mut parts, body) = req.into_parts();
    let checked = auth
        .check(
            &parts.method,
            parts.uri.path(),
            &mut parts.headers,
            peer.as_deref(),
        )
        .await;
    match checked {
        Ok(user) => {
            state.telemetry.auth_outcome(crate::auth::Outcome::Allowed);
            parts.extensions.insert(user);
            next.run(Request::from_parts(parts, body)).await
        }
        Err((outcome, answer)) => {
            state.telemetry.auth_outcome(outcome);
            answer.into_response()
        }
    }
}

/// Whether `Accept` allows plain JSON (absent, `application/json` without discovery
/// parameters, `application/*` or `*/*`).
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let discovery_params = parts.any(|p| {
            let key = p.split('=').next().unwrap_or_default().trim();
            matches!(key, "g" | "v" | "as")
        });
        match media.as_str() {
            "*/*" | "application/*" => true,
            "application/json" => !discovery_params,
            _ => false,
        }
    })
}

fn json_response(body: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn group_json() -> serde_json::Value {
    let v = json!({"groupVersion": GROUP_VERSION, "version": VERSION});
    json!({"name": GROUP, "versions": [v.clone()], "preferredVersion": v})
}

async fn api_group_list(headers: HeaderMap) -> Response {
    // We do not implement aggregated discovery: a request that only accepts it gets 406,
    // which every kube-aggregator version turns into the legacy fallback.
    if !accepts_json(&headers) {
        return ApiError::not_acceptable().into_response();
    }
    let mut g = group_json();
    let obj = g.as_object_mut().expect("object");
    obj.remove("kind");
    json_response(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [g]}))
}

async fn api_group(headers: HeaderMap) -> Response {
    if !accepts_json(&headers) {
        return ApiError::not_acceptable().into_response();
    }
    let mut g = group_json();
    let obj = g.as_object_mut().expect("object");
    obj.insert("kind".into(), json!("APIGroup"));
    obj.insert("apiVersion".into(), json!("v1"));
    json_response(g)
}

async fn api_resource_list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !accepts_json(&headers) {
        return ApiError::not_acceptable().into_response();
    }
    let reg = state.store.registry();
    let mut names: Vec<String> = reg.resources().to_vec();
    if let Some(live) = &state.live {
        names.extend(live.names());
        names.sort();
        names.dedup();
    }
    let resources: Vec<_> = names
        .iter()
        .map(|name| {
            json!({"name": name, "singularName": "", "namespaced": true,
                   "kind": "ExternalMetricValueList", "verbs": ["get"]})
        })
        .collect();
    json_response(json!({
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": GROUP_VERSION, "resources": resources
    }))
}

/// One served series.
struct Item {
    /// Shared with the target's view: a request copies no label map.
    labels: Arc<BTreeMap<String, String>>,
    value: f64,
    state: Freshness,
}

/// The namespace, metric and selector of a metric request.
fn request(path: &str, query: Option<&str>) -> Result<(String, String, LabelSelector), ApiError> {
    let (namespace, metric) = match parse_metric_path(path) {
        Ok(p) => (p.namespace, p.metric),
        Err(e @ PathError::InvalidSegment { .. }) => {
            return Err(ApiError::bad_request(e.to_string()));
        }
        Err(PathError::NotAMetricPath) => {
            return Err(ApiError::not_found(
                "the server could not find the requested resource",
            ));
        }
    };
    let mut selector = LabelSelector::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "labelSelector" => {
                selector =
                    LabelSelector::parse(&v).map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            "watch" if v == "true" || v == "1" => {
                return Err(ApiError::method_not_allowed(
                    "watch is not supported on external metrics",
                ));
            }
            _ => {}
        }
    }
    Ok((namespace, metric, selector))
}

/// Resolve a metric request to served items, or the error that explains why not: a
/// pass-through metric by its query, a predicted one from the snapshot.
async fn resolve(
    state: &AppState,
    path: &str,
    query: Option<&str>,
) -> Result<(String, i64, Vec<Item>), ApiError> {
    let (namespace, metric, selector) = request(path, query)?;
    let lowercase = metric.to_ascii_lowercase();
    if let Some((live, allowed)) = state
        .live
        .as_ref()
        .and_then(|l| Some((l, l.namespaces(&lowercase)?)))
    {
        let items = live_items(live.as_ref(), allowed, &namespace, &metric, &selector).await?;
        return Ok((metric, state.clock.now() as i64, items));
    }
    predicted(state, &namespace, metric, &selector)
}

/// A pass-through metric's series, read for this request (the binary caches and bounds
/// the query): its failure is a 503 naming the reason, never an empty answer.
async fn live_items(
    live: &dyn crate::LiveMetrics,
    allowed: Option<&[String]>,
    namespace: &str,
    metric: &str,
    selector: &LabelSelector,
) -> Result<Vec<Item>, ApiError> {
    if allowed.is_some_and(|ns| !ns.iter().any(|n| n == namespace)) {
        return Err(ApiError::forbidden(format!(
            "{metric}.{GROUP} is forbidden: namespace \"{namespace}\" is not in the namespaces allowed to read metric \"{metric}\""
        )));
    }
    let series = live
        .query(&metric.to_ascii_lowercase(), namespace, selector)
        .await
        .map_err(|why| {
            tracing::warn!(%namespace, %metric, reason = %why, "pass-through metric request failed");
            ApiError::unavailable(why)
        })?;
    Ok(series
        .into_iter()
        .map(|s| Item {
            labels: Arc::new(s.labels),
            value: s.value,
            state: Freshness::Fresh,
        })
        .collect())
}

/// A predicted metric's items from the snapshot.
fn predicted(
    state: &AppState,
    namespace: &str,
    metric: String,
    selector: &LabelSelector,
) -> Result<(String, i64, Vec<Item>), ApiError> {
    let reg = state.store.registry();
    let not_found = || {
        ApiError::not_found(format!(
            "the server could not find the metric {metric} for namespace {namespace}"
        ))
    };
    let slots = reg.lookup(&metric).ok_or_else(not_found)?;
    let may_read = |v: &crate::TargetView| {
        v.namespaces
            .as_ref()
            .is_none_or(|ns| ns.iter().any(|n| n == namespace))
    };
    // 403 unless the namespace may read at least one series of the metric (checked on the
    // first readable slot, so a metric with thousands of series costs one lookup): the
    // targets' `namespaces` allow-list applies on top of RBAC.
    if !slots.iter().any(|i| may_read(&reg.get(*i))) {
        return Err(ApiError::forbidden(format!(
            "{metric}.{GROUP} is forbidden: namespace \"{namespace}\" is not in the namespaces allowed to read metric \"{metric}\""
        )));
    }
    let candidates = reg.candidates(&metric, selector).unwrap_or_default();
    let visible: Vec<_> = candidates
        .iter()
        .map(|i| reg.get(*i))
        .filter(|v| may_read(v))
        .collect();
    let now = state.clock.now() as i64;
    let mut items = Vec::new();
    for v in visible.iter().filter(|v| selector.matches(&v.labels)) {
        let served = v.serve(now);
        match served.value {
            Ok(value) => items.push(Item {
                labels: v.labels.clone(),
                value,
                state: served.state,
            }),
            // One unservable series fails the request: the HPA sums items, and silently
            // dropping one would scale production down. Logged: the HPA only records a
            // FailedGetExternalMetric event.
            Err(why) => {
                tracing::warn!(
                    %namespace, %metric, target_name = %v.name, reason = %why,
                    "metric request failed: a matching series cannot be served"
                );
                return Err(ApiError::unavailable(why));
            }
        }
    }
    Ok((metric, now, items))
}

async fn metric_values(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !accepts_json(&headers) {
        return Err(ApiError::not_acceptable());
    }
    let (metric, now, items) = resolve(&state, uri.path(), query.as_deref()).await?;
    let timestamp = format_timestamp(now);
    // Serialized straight from borrowed fields (no intermediate `serde_json::Value` tree);
    // fields in the same (alphabetical) order as before.
    #[derive(serde::Serialize)]
    struct Value<'a> {
        #[serde(rename = "metricLabels")]
        metric_labels: &'a BTreeMap<String, String>,
        #[serde(rename = "metricName")]
        metric_name: &'a str,
        timestamp: &'a str,
        value: String,
    }
    #[derive(serde::Serialize)]
    struct List<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        items: Vec<Value<'a>>,
        kind: &'static str,
        metadata: Empty,
    }
    /// Serializes as `{}`.
    #[derive(serde::Serialize)]
    struct Empty {}
    let list = List {
        api_version: GROUP_VERSION,
        items: items
            .iter()
            .map(|it| Value {
                metric_labels: &it.labels,
                metric_name: &metric,
                timestamp: &timestamp,
                value: milli_quantity(it.value).unwrap_or_else(|| "0".into()),
            })
            .collect(),
        kind: "ExternalMetricValueList",
        metadata: Empty {},
    };
    let body = serde_json::to_vec(&list)
        .map_err(|e| ApiError::unavailable(format!("rendering the response: {e}")))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Plain JSON for KEDA's `metrics-api` scaler (`valueLocation: value`): the sum over the
/// matching series, as the HPA would compute it, plus each series.
async fn plain_values(
    State(state): State<AppState>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    match resolve(&state, uri.path(), query.as_deref()).await {
        Ok((metric, now, items)) if !items.is_empty() => json_response(json!({
            "metric": metric,
            "timestamp": format_timestamp(now),
            "value": items.iter().map(|i| i.value).sum::<f64>(),
            "items": items.iter().map(|i| json!({
                "labels": &*i.labels, "value": i.value, "state": i.state
            })).collect::<Vec<_>>(),
        })),
        Ok((metric, ..)) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no series of {metric} matches the selector")})),
        )
            .into_response(),
        Err(e) => (e.code(), Json(json!({"error": e.message()}))).into_response(),
    }
}

async fn ok() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let reg = state.store.registry();
    let now = state.clock.now() as i64;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut warming = 0;
    for i in 0..reg.len() {
        let v = reg.get(i);
        *counts.entry(v.freshness(now).as_str()).or_default() += 1;
        if v.refresh_ok + v.refresh_failed == 0 {
            warming += 1;
        }
    }
    let servable = counts
        .iter()
        .filter(|(k, _)| matches!(**k, "fresh" | "last_good" | "model_only"))
        .map(|(_, n)| n)
        .sum::<usize>();
    let mut summary: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("[+] {k}: {n} targets"))
        .collect();
    summary.push(format!(
        "[{}] first refresh pending: {warming} targets",
        if warming == 0 { "+" } else { "-" }
    ));
    // A failing settings source does not fail readiness: the last good settings serve.
    match state.auth.as_ref().map(|a| (a.settings(), a.health())) {
        None => summary.push("[-] authentication: off (open server)".into()),
        Some((settings, crate::auth::SourceHealth::Current)) => {
            summary.push(format!("[+] authentication: {}", settings.source()))
        }
        Some((settings, crate::auth::SourceHealth::Failing { error, since })) => {
            summary.push(format!(
                "[-] authentication: source failing since {}: {error}; serving the last good settings ({})",
                format_timestamp(since),
                settings.source()
            ))
        }
    }
    // Ready once every target has had its first refresh (history pulled and fitted, or
    // failed) and at least one can be served. During a rolling update the old replica keeps
    // answering until then: a new one that turned ready early would answer 503 for every
    // target still fitting. With nothing servable the pod stays out of the endpoints, so the
    // APIService reports MissingEndpoints instead of serving errors.
    let not_ready = if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        Some("shutting down".to_string())
    } else if warming > 0 {
        Some(format!(
            "{warming} targets have not had their first refresh"
        ))
    } else if servable == 0 {
        Some("no target can be served".to_string())
    } else {
        None
    };
    let (code, verdict) = match not_ready {
        None => (StatusCode::OK, "ok".to_string()),
        Some(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("not ready: {why}"),
        ),
    };
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n{verdict}\n", summary.join("\n")),
    )
        .into_response()
}

async fn version(State(state): State<AppState>) -> Response {
    json_response(json!({
        "major": "0", "minor": "1",
        "gitVersion": format!("v{}", state.version),
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "",
        "goVersion": "n/a", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
    }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.telemetry.encode(),
    )
        .into_response()
}

async fn no_openapi() -> ApiError {
    // The aggregator skips a 404 silently; anything else makes it retry and log forever.
    ApiError::not_found("the server does not serve an OpenAPI document")
}

async fn not_found() -> ApiError {
    ApiError::not_found("the server could not find the requested resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed("only GET is supported")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_follows_the_aggregator_rules() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, v.parse().unwrap());
            m
        };
        assert!(accepts_json(&HeaderMap::new()));
        assert!(accepts_json(&h("application/json")));
        assert!(accepts_json(&h("application/vnd.kubernetes.protobuf, */*")));
        assert!(accepts_json(&h("application/json, */*")));
        assert!(!accepts_json(&h(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )));
        assert!(accepts_json(&h(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!accepts_json(&h("application/vnd.kubernetes.protobuf")));
    }
}
