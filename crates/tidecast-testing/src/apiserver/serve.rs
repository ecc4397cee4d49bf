//! The fake's HTTP side: TLS, routes, the request log and faults, the reviews, the
//! ConfigMap's GET/LIST/WATCH, and the discovery documents kubectl reads first.

use super::{
    AUTH_CONFIGMAP_NAME, AUTH_CONFIGMAP_NAMESPACE, Access, Endpoint, Fault, RecordedRequest, Shared,
};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, StatusDetails};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// The serving side of TLS: the generated certificate, no client certificates (callers
/// authenticate with the bearer token), HTTP/2 and HTTP/1.1 offered as kube-apiserver does.
pub(super) fn tls_config(cert_pem: &str, key_pem: &str) -> axum_server::tls_rustls::RustlsConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("a PEM we made");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM we made");
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("the certificate and key match");
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg))
}

/// The routes, behind the middleware that logs each request and applies faults.
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    const CM: &str = "/api/v1/namespaces/{namespace}/configmaps";
    axum::Router::new()
        .route(
            "/apis/authentication.k8s.io/v1/tokenreviews",
            post(token_review),
        )
        .route(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            post(subject_access_review),
        )
        .route(CM, get(list_configmaps))
        .route(&format!("{CM}/{{name}}"), get(get_configmap))
        .route("/api", get(|| async { Json(discovery::api()) }))
        .route("/api/v1", get(|| async { Json(discovery::core_v1()) }))
        .route("/apis", get(|| async { Json(discovery::apis()) }))
        .route(
            "/apis/{group}",
            get(|UrlPath(g): UrlPath<String>| async move { discovery::group(&g) }),
        )
        .route(
            "/apis/{group}/v1",
            get(|UrlPath(g): UrlPath<String>| async move { discovery::resources(&g) }),
        )
        .route("/version", get(|| async { Json(discovery::version()) }))
        .fallback(|req: Request| async move {
            let path = req.uri().path().to_string();
            status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("the server could not find the requested resource ({path})"),
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            record_fault_authenticate,
        ))
        .with_state(shared)
}

/// Log the request, apply the endpoint's fault, then refuse callers without the token.
async fn record_fault_authenticate(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4 << 20).await else {
        return status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "body too large",
        );
    };
    let endpoint = Endpoint::of(parts.uri.path());
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        endpoint,
        authorization: authorization.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        body: (!bytes.is_empty()).then(|| {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        }),
    };
    let authenticated =
        recorded.authorization.as_deref() == Some(&format!("Bearer {}", shared.token));
    shared.lock().requests.push(recorded);

    if let Some(endpoint) = endpoint {
        let mut faults = shared.faults_changed.subscribe();
        loop {
            let fault = shared.lock().faults.get(&endpoint).copied();
            match fault {
                None => break,
                Some(Fault::Delay(d)) => {
                    tokio::time::sleep(d).await;
                    break;
                }
                Some(Fault::Status(code)) => {
                    let code =
                        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let reason = reason_of(code);
                    return status(
                        code,
                        reason,
                        &format!("injected fault: {code} from the fake apiserver"),
                    );
                }
                Some(Fault::Hang) => {
                    if faults.changed().await.is_err() {
                        return StatusCode::SERVICE_UNAVAILABLE.into_response();
                    }
                }
            }
        }
    }
    if !authenticated {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The `metav1.Status` reason apimachinery gives a status code.
fn reason_of(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        410 => "Expired",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

/// A `metav1.Status` failure answer.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    status_with(code, reason, message, None)
}

fn status_with(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<StatusDetails>,
) -> Response {
    let body = Status {
        code: Some(code.as_u16().into()),
        details,
        message: Some(message.to_string()),
        metadata: ListMeta::default(),
        reason: Some(reason.to_string()),
        status: Some("Failure".into()),
    };
    (code, Json(body)).into_response()
}

/// A 400 `metav1.Status`.
fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// Parse a review body: JSON of the right `apiVersion` and `kind`, else the message of the
/// 400 the apiserver's decoder answers.
fn review<T: k8s_openapi::Resource + serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let (api_version, kind) = (
        v["apiVersion"].as_str().unwrap_or(""),
        v["kind"].as_str().unwrap_or(""),
    );
    if api_version != T::API_VERSION || kind != T::KIND {
        return Err(format!(
            "expected apiVersion {:?} and kind {:?}, got {api_version:?} and {kind:?}",
            T::API_VERSION,
            T::KIND
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("decoding {}: {e}", T::KIND))
}

async fn token_review(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut tr: TokenReview = match review(&body) {
        Ok(tr) => tr,
        Err(m) => return bad_request(&m),
    };
    let token = tr.spec.token.clone().unwrap_or_default();
    if token.is_empty() {
        return bad_request("token is required for TokenReview in authentication");
    }
    let user = shared.lock().tokens.get(&token).cloned();
    tr.status = Some(match user {
        Some(user) => TokenReviewStatus {
            authenticated: Some(true),
            user: Some(user),
            // The token is taken as valid for whatever audiences were asked.
            audiences: tr.spec.audiences.clone(),
            error: None,
        },
        None => TokenReviewStatus {
            authenticated: Some(false),
            error: Some("[invalid bearer token, token lookup failed]".into()),
            ..Default::default()
        },
    });
    (StatusCode::CREATED, Json(tr)).into_response()
}

async fn subject_access_review(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut sar: SubjectAccessReview = match review(&body) {
        Ok(sar) => sar,
        Err(m) => return bad_request(&m),
    };
    // The apiserver's validation of the spec.
    let spec = &sar.spec;
    let invalid = match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(_), Some(_)) => Some(
            "spec.resourceAttributes: Invalid value: cannot be specified in combination with nonResourceAttributes",
        ),
        (None, None) => Some(
            "spec.resourceAttributes: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ),
        _ if spec.user.as_deref().unwrap_or("").is_empty()
            && spec.groups.as_deref().unwrap_or(&[]).is_empty() =>
        {
            Some("spec.user: Invalid value: \"\": at least one of user or group must be specified")
        }
        _ => None,
    };
    if let Some(message) = invalid {
        let message =
            format!("SubjectAccessReview.authorization.k8s.io \"\" is invalid: {message}");
        return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &message);
    }
    let authorizer = shared.lock().authorizer.clone();
    sar.status = Some(authorizer(&Access::of(&sar.spec)).status());
    (StatusCode::CREATED, Json(sar)).into_response()
}

async fn get_configmap(
    State(shared): State<Arc<Shared>>,
    UrlPath((namespace, name)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let this = namespace == AUTH_CONFIGMAP_NAMESPACE && name == AUTH_CONFIGMAP_NAME;
    if is_watch(&query) {
        return watch_configmap(shared, this, &query);
    }
    match shared.lock().configmap.clone().filter(|_| this) {
        Some(cm) => Json(cm).into_response(),
        None => status_with(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("configmaps \"{name}\" not found"),
            Some(StatusDetails {
                name: Some(name),
                kind: Some("configmaps".into()),
                ..Default::default()
            }),
        ),
    }
}

async fn list_configmaps(
    State(shared): State<Arc<Shared>>,
    UrlPath(namespace): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let this = match selects_the_configmap(query.get("fieldSelector")) {
        Ok(by_name) => namespace == AUTH_CONFIGMAP_NAMESPACE && by_name,
        Err(m) => return bad_request(&m),
    };
    if is_watch(&query) {
        return watch_configmap(shared, this, &query);
    }
    let inner = shared.lock();
    let list = k8s_openapi::List::<ConfigMap> {
        items: inner
            .configmap
            .clone()
            .filter(|_| this)
            .into_iter()
            .collect(),
        metadata: ListMeta {
            resource_version: Some(inner.resource_version.to_string()),
            ..Default::default()
        },
    };
    Json(list).into_response()
}

fn is_watch(query: &HashMap<String, String>) -> bool {
    matches!(query.get("watch").map(String::as_str), Some("true" | "1"))
}

/// Whether a `fieldSelector` selects the auth ConfigMap by name (`None` selects all);
/// other fields are the message of a 400 (the apiserver has no other field labels for
/// ConfigMaps).
fn selects_the_configmap(selector: Option<&String>) -> Result<bool, String> {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return Ok(true);
    };
    let mut selected = true;
    for term in selector.split(',') {
        let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            (f, v, true)
        } else {
            (term, "", true)
        };
        match field.trim() {
            "metadata.name" => selected &= (value.trim() == AUTH_CONFIGMAP_NAME) == equal,
            "metadata.namespace" => selected &= (value.trim() == AUTH_CONFIGMAP_NAMESPACE) == equal,
            other => return Err(format!("field label not supported: {other}")),
        }
    }
    Ok(selected)
}

/// A WATCH of the ConfigMap (`selected`: whether the request's path and selector match
/// it): newline-delimited `{"type":..., "object":...}` events after `resourceVersion`
/// (none or "0": an `ADDED` of the current state first), until `timeoutSeconds`, a
/// [`FakeApiServer::close_watches`] or the client goes away. `sendInitialEvents=true` sends
/// the current state and the `k8s.io/initial-events-end` bookmark.
fn watch_configmap(
    shared: Arc<Shared>,
    selected: bool,
    query: &HashMap<String, String>,
) -> Response {
    let rv = query
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let initial_events = query.get("sendInitialEvents").map(String::as_str) == Some("true");
    let timeout = match query.get("timeoutSeconds").map(|s| s.parse::<u64>()) {
        None => Duration::from_secs(1800),
        Some(Ok(s)) => Duration::from_secs(s),
        Some(Err(_)) => return bad_request("timeoutSeconds: not a number"),
    };
    let inner = shared.lock();
    let mut pending = VecDeque::new();
    let after = if rv.is_empty() || rv == "0" || initial_events {
        if let Some(cm) = inner.configmap.as_ref().filter(|_| selected) {
            pending.push_back(json!({"type": "ADDED", "object": cm}));
        }
        if initial_events {
            // The apiserver's bookmark: an object of the watched kind with only a version.
            pending.push_back(json!({"type": "BOOKMARK", "object": {
                "kind": "ConfigMap", "apiVersion": "v1", "metadata": {
                    "resourceVersion": inner.resource_version.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}}));
        }
        inner.resource_version
    } else {
        match rv.parse::<u64>() {
            Ok(rv) => rv,
            Err(_) => {
                drop(inner);
                let m = format!("resourceVersion: Invalid value: {rv:?}: must be a number");
                return bad_request(&m);
            }
        }
    };
    let generation = inner.watch_generation;
    drop(inner);
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    let stream = WatchStream {
        changed: shared.configmap_changed.subscribe(),
        shared,
        selected,
        after,
        generation,
        pending,
        deadline: tokio::time::Instant::now() + timeout,
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        let mut line = serde_json::to_vec(&event).expect("events serialize");
        line.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(line)), s))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The state of one open watch.
struct WatchStream {
    shared: Arc<Shared>,
    changed: watch::Receiver<u64>,
    selected: bool,
    /// Events up to this resourceVersion are sent (or were before the watch began).
    after: u64,
    generation: u64,
    /// Events to send, as JSON.
    pending: VecDeque<Value>,
    deadline: tokio::time::Instant,
}

impl WatchStream {
    /// The next event, `None` when the watch ends.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            // Seen before reading, so a change after the read wakes the wait below.
            self.changed.borrow_and_update();
            {
                let inner = self.shared.lock();
                if inner.watch_generation != self.generation {
                    return None;
                }
                let after = self.after;
                for (rv, kind, cm) in inner.events.iter().filter(|(rv, ..)| *rv > after) {
                    self.after = *rv;
                    if self.selected {
                        self.pending.push_back(json!({"type": kind, "object": cm}));
                    }
                }
            }
            if self.pending.is_empty() {
                tokio::select! {
                    r = self.changed.changed() => r.ok()?,
                    _ = tokio::time::sleep_until(self.deadline) => return None,
                }
            }
        }
    }
}

impl Drop for WatchStream {
    fn drop(&mut self) {
        self.shared.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The discovery documents kubectl reads before a request: the core group's ConfigMaps and
/// the two review groups, nothing else.
mod discovery {
    use super::*;

    pub(super) fn api() -> Value {
        json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
    }

    pub(super) fn core_v1() -> Value {
        json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [{
            "name": "configmaps", "singularName": "configmap", "namespaced": true,
            "kind": "ConfigMap", "verbs": ["get", "list", "watch"], "shortNames": ["cm"]}]})
    }

    const GROUPS: [(&str, &str, &str, &str); 2] = [
        (
            "authentication.k8s.io",
            "tokenreviews",
            "tokenreview",
            "TokenReview",
        ),
        (
            "authorization.k8s.io",
            "subjectaccessreviews",
            "subjectaccessreview",
            "SubjectAccessReview",
        ),
    ];

    fn group_doc(name: &str) -> Value {
        let v1 = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": [v1.clone()], "preferredVersion": v1})
    }

    pub(super) fn apis() -> Value {
        let groups: Vec<Value> = GROUPS.iter().map(|g| group_doc(g.0)).collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    pub(super) fn group(name: &str) -> Response {
        match GROUPS.iter().find(|g| g.0 == name) {
            Some(g) => Json(group_doc(g.0)).into_response(),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            ),
        }
    }

    pub(super) fn resources(name: &str) -> Response {
        match GROUPS.iter().find(|g| g.0 == name) {
            Some((group, plural, singular, kind)) => Json(json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/v1"),
                "resources": [{"name": plural, "singularName": singular, "namespaced": false,
                               "kind": kind, "verbs": ["create"]}]}))
            .into_response(),
            None => status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource"),
        }
    }

    pub(super) fn version() -> Value {
        json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-tidecast-fake",
               "platform": "linux/amd64"})
    }
}
