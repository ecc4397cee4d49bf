//! A fake kube-apiserver on loopback for the delegated authentication and authorization
//! tests: HTTPS with its own CA, TokenReview and SubjectAccessReview answered from scripts,
//! GET/LIST/WATCH of `kube-system/extension-apiserver-authentication`, fault injection and
//! a request log. It speaks the real JSON (k8s-openapi types), so the real kube client and
//! kubectl talk to it.

mod pki;

pub use pki::{Ca, CertFiles, Pki};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus, UserInfo};
use k8s_openapi::api::authorization::v1::{
    SubjectAccessReview, SubjectAccessReviewSpec, SubjectAccessReviewStatus,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status, StatusDetails};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// The ConfigMap's namespace.
pub const AUTH_CONFIGMAP_NAMESPACE: &str = "kube-system";
/// The ConfigMap kube-apiserver publishes its authentication settings in.
pub const AUTH_CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// The endpoints faults are injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /apis/authentication.k8s.io/v1/tokenreviews`.
    TokenReview,
    /// `POST /apis/authorization.k8s.io/v1/subjectaccessreviews`.
    SubjectAccessReview,
    /// GET, LIST and WATCH of ConfigMaps (a fault applies when the request arrives;
    /// open watches are ended with [`FakeApiServer::close_watches`]).
    ConfigMap,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        if path.ends_with("/tokenreviews") {
            Some(Endpoint::TokenReview)
        } else if path.ends_with("/subjectaccessreviews") {
            Some(Endpoint::SubjectAccessReview)
        } else if path.contains("/configmaps") {
            Some(Endpoint::ConfigMap)
        } else {
            None
        }
    }
}

/// What an endpoint does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answer this status with a `metav1.Status` body.
    Status(u16),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer (until healed or the server stops).
    Hang,
}

/// One request the fake received, faulty or not.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string (`watch=true&resourceVersion=7`), empty if none.
    pub query: String,
    /// The endpoint the path belongs to (`None` for discovery and unknown paths).
    pub endpoint: Option<Endpoint>,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The body as JSON (a JSON string when it is not JSON); `None` when empty.
    pub body: Option<Value>,
}

/// The attributes of a SubjectAccessReview, flattened as Go's `authorizer.Attributes`:
/// absent fields are empty strings. The full spec is in `spec`.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// `spec.user`.
    pub user: String,
    /// `spec.uid`.
    pub uid: String,
    /// `spec.groups`.
    pub groups: Vec<String>,
    /// `spec.extra`.
    pub extra: BTreeMap<String, Vec<String>>,
    /// True for `resourceAttributes`, false for `nonResourceAttributes`.
    pub resource_request: bool,
    /// The verb of either kind of attributes (`get`, `list`, ...).
    pub verb: String,
    /// `resourceAttributes.group` (the API group; `""` is the core group).
    pub group: String,
    /// `resourceAttributes.version`.
    pub version: String,
    /// `resourceAttributes.resource`.
    pub resource: String,
    /// `resourceAttributes.subresource`.
    pub subresource: String,
    /// `resourceAttributes.name`.
    pub name: String,
    /// `resourceAttributes.namespace`.
    pub namespace: String,
    /// `nonResourceAttributes.path` (the non-resource URL).
    pub path: String,
    /// The spec as received.
    pub spec: SubjectAccessReviewSpec,
}

impl Access {
    fn of(spec: &SubjectAccessReviewSpec) -> Access {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let r = spec.resource_attributes.clone().unwrap_or_default();
        let n = spec.non_resource_attributes.clone().unwrap_or_default();
        Access {
            user: s(&spec.user),
            uid: s(&spec.uid),
            groups: spec.groups.clone().unwrap_or_default(),
            extra: spec.extra.clone().unwrap_or_default(),
            resource_request: spec.resource_attributes.is_some(),
            verb: if spec.resource_attributes.is_some() {
                s(&r.verb)
            } else {
                s(&n.verb)
            },
            group: s(&r.group),
            version: s(&r.version),
            resource: s(&r.resource),
            subresource: s(&r.subresource),
            name: s(&r.name),
            namespace: s(&r.namespace),
            path: s(&n.path),
            spec: spec.clone(),
        }
    }
}

/// A SubjectAccessReview's answer, each with its reason (`status.reason`, or
/// `status.evaluationError` for [`Decision::EvaluationError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `allowed: true`.
    Allow(String),
    /// `allowed: false, denied: true`: an explicit deny, no other authorizer may allow.
    Deny(String),
    /// `allowed: false` alone: what RBAC answers when no rule matches.
    NoOpinion(String),
    /// `allowed: false` with `evaluationError` (the authorizer failed).
    EvaluationError(String),
}

impl Decision {
    fn status(&self) -> SubjectAccessReviewStatus {
        let mut st = SubjectAccessReviewStatus::default();
        match self {
            Decision::Allow(r) => {
                st.allowed = true;
                st.reason = Some(r.clone());
            }
            Decision::Deny(r) => {
                st.denied = Some(true);
                st.reason = Some(r.clone());
            }
            Decision::NoOpinion(r) => st.reason = Some(r.clone()),
            Decision::EvaluationError(e) => st.evaluation_error = Some(e.clone()),
        }
        st
    }
}

type Authorizer = Arc<dyn Fn(&Access) -> Decision + Send + Sync>;

/// The scripted state, shared by the test thread and the server's runtime.
struct Shared {
    /// The bearer token the fake requires of its callers (the kubeconfig's user).
    token: String,
    addr: SocketAddr,
    inner: Mutex<Inner>,
    /// Bumped on each ConfigMap event and [`FakeApiServer::close_watches`]; watches wait
    /// on it.
    configmap_changed: watch::Sender<u64>,
    /// Bumped whenever faults change; hung requests wait on it.
    faults_changed: watch::Sender<u64>,
    open_watches: AtomicUsize,
}

struct Inner {
    tokens: HashMap<String, UserInfo>,
    authorizer: Authorizer,
    faults: HashMap<Endpoint, Fault>,
    requests: Vec<RecordedRequest>,
    /// The last resourceVersion given out.
    resource_version: u64,
    configmap: Option<ConfigMap>,
    /// Every ConfigMap event (resourceVersion, type, object), for watches from any version.
    events: Vec<(u64, &'static str, ConfigMap)>,
    /// Bumped by [`FakeApiServer::close_watches`]: watches opened before end.
    watch_generation: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fake kube-apiserver on `https://127.0.0.1:<port>`, serving on its own thread and
/// runtime (so synchronous and async tests alike can use it), stopped on drop.
///
/// Its callers must send `Authorization: Bearer <token()>` (what [`kubeconfig`] writes),
/// else 401, as a real apiserver refuses anonymous TokenReviews.
///
/// [`kubeconfig`]: FakeApiServer::kubeconfig
pub struct FakeApiServer {
    shared: Arc<Shared>,
    ca_pem: String,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeApiServer {
    /// Generate a CA and a serving certificate (SANs 127.0.0.1 and localhost) and start
    /// serving on a free loopback port. No tokens are known, every SubjectAccessReview gets
    /// [`Decision::NoOpinion`], and the ConfigMap does not exist (404) until
    /// [`set_configmap`](Self::set_configmap).
    pub fn start() -> FakeApiServer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("a temporary directory");
        const CA_CN: &str = "tidecast fake kube-apiserver CA";
        let (ca_pem, ca_key) = pki::self_signed_ca(CA_CN);
        let (cert_pem, key_pem) = pki::serving_cert(&pki::issuer(CA_CN, &ca_key));
        pki::write(&dir.path().join("ca.crt"), &ca_pem);

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared {
            token: format!("fake-apiserver-caller-{}", addr.port()),
            addr,
            inner: Mutex::new(Inner {
                tokens: HashMap::new(),
                authorizer: Arc::new(|_| {
                    Decision::NoOpinion("no rule of the fake apiserver matches".into())
                }),
                faults: HashMap::new(),
                requests: Vec::new(),
                resource_version: 1000,
                configmap: None,
                events: Vec::new(),
                watch_generation: 0,
            }),
            configmap_changed: watch::channel(0).0,
            faults_changed: watch::channel(0).0,
            open_watches: AtomicUsize::new(0),
        });

        let tls = tls_config(&cert_pem, &key_pem);
        let app = router(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-apiserver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let server = axum_server::from_tcp_rustls(listener, tls)
                        .expect("serve the bound listener")
                        .serve(app.into_make_service());
                    tokio::select! {
                        r = server => r.expect("the fake apiserver serves"),
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here ends open watches and hung requests.
            })
            .expect("spawn the server thread");
        FakeApiServer {
            shared,
            ca_pem,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.shared.addr)
    }

    /// The CA that signed the serving certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA as a file (kept while the server lives).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The bearer token callers must present.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Write a kubeconfig for this server to `path`: one cluster (the URL and
    /// [`ca_path`](Self::ca_path)), one user with [`token`](Self::token), one current
    /// context. JSON, which kubectl and kube's `Kubeconfig::read_from` read as YAML.
    pub fn kubeconfig(&self, path: &Path) {
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {
                "server": self.url(),
                "certificate-authority": self.ca_path(),
            }}],
            "users": [{"name": "fake-caller", "user": {"token": self.token()}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-caller"}}],
            "current-context": "fake",
        });
        pki::write(path, &format!("{config:#}\n"));
    }

    /// TokenReviews of `token` authenticate as `user` from now on.
    pub fn add_token(&self, token: &str, user: UserInfo) {
        self.shared.lock().tokens.insert(token.to_string(), user);
    }

    /// TokenReviews of `token` fail from now on.
    pub fn remove_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    /// Answer SubjectAccessReviews with `f` from now on.
    pub fn authorize(&self, f: impl Fn(&Access) -> Decision + Send + Sync + 'static) {
        self.shared.lock().authorizer = Arc::new(f);
    }

    /// Create or replace the ConfigMap's data: a new resourceVersion (returned), and an
    /// `ADDED` (if it did not exist) or `MODIFIED` event to open watches.
    pub fn set_configmap(&self, data: BTreeMap<String, String>) -> String {
        let mut inner = self.shared.lock();
        inner.resource_version += 1;
        let rv = inner.resource_version;
        let existed = inner.configmap.is_some();
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(AUTH_CONFIGMAP_NAME.into()),
                namespace: Some(AUTH_CONFIGMAP_NAMESPACE.into()),
                uid: Some("f4e1c0de-0000-4000-8000-00000000a001".into()),
                resource_version: Some(rv.to_string()),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        };
        inner.configmap = Some(cm.clone());
        let kind = if existed { "MODIFIED" } else { "ADDED" };
        inner.events.push((rv, kind, cm));
        drop(inner);
        self.shared.configmap_changed.send_modify(|n| *n += 1);
        rv.to_string()
    }

    /// Delete the ConfigMap (a `DELETED` event to open watches; GET answers 404).
    pub fn delete_configmap(&self) {
        let mut inner = self.shared.lock();
        let Some(mut cm) = inner.configmap.take() else {
            return;
        };
        inner.resource_version += 1;
        let rv = inner.resource_version;
        cm.metadata.resource_version = Some(rv.to_string());
        inner.events.push((rv, "DELETED", cm));
        drop(inner);
        self.shared.configmap_changed.send_modify(|n| *n += 1);
    }

    /// End every open watch (as an apiserver restart or a timeout would); the client sees
    /// its stream close and must watch again.
    pub fn close_watches(&self) {
        self.shared.lock().watch_generation += 1;
        self.shared.configmap_changed.send_modify(|n| *n += 1);
    }

    /// How many watches are open now (poll it to know a watcher is connected).
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// `endpoint` answers `status` with a `metav1.Status` body until [`heal`](Self::heal).
    pub fn fail_with(&self, endpoint: Endpoint, status: u16) {
        self.set_fault(endpoint, Some(Fault::Status(status)));
    }

    /// `endpoint` waits `delay` before each answer until [`heal`](Self::heal).
    pub fn delay(&self, endpoint: Endpoint, delay: Duration) {
        self.set_fault(endpoint, Some(Fault::Delay(delay)));
    }

    /// `endpoint` never answers until [`heal`](Self::heal) (hung requests then answer) or
    /// the server stops.
    pub fn hang(&self, endpoint: Endpoint) {
        self.set_fault(endpoint, Some(Fault::Hang));
    }

    /// `endpoint` answers normally again.
    pub fn heal(&self, endpoint: Endpoint) {
        self.set_fault(endpoint, None);
    }

    fn set_fault(&self, endpoint: Endpoint, fault: Option<Fault>) {
        let mut inner = self.shared.lock();
        match fault {
            Some(f) => inner.faults.insert(endpoint, f),
            None => inner.faults.remove(&endpoint),
        };
        drop(inner);
        self.shared.faults_changed.send_modify(|n| *n += 1);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests received so far to `endpoint`.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        let inner = self.shared.lock();
        let to = inner
            .requests
            .iter()
            .filter(|r| r.endpoint == Some(endpoint));
        to.cloned().collect()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A [`UserInfo`] with a name and groups (what most token tables need).
pub fn user_info(username: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        username: Some(username.to_string()),
        groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        ..Default::default()
    }
}

fn tls_config(cert_pem: &str, key_pem: &str) -> axum_server::tls_rustls::RustlsConfig {
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

fn router(shared: Arc<Shared>) -> axum::Router {
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
