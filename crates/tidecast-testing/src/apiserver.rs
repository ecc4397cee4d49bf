//! A fake kube-apiserver on loopback for the delegated authentication and authorization
//! tests: HTTPS with its own CA, TokenReview and SubjectAccessReview answered from scripts,
//! GET/LIST/WATCH of `kube-system/extension-apiserver-authentication`, fault injection and
//! a request log. It speaks the real JSON (k8s-openapi types), so the real kube client and
//! kubectl talk to it.

mod pki;
mod serve;

pub use pki::{Ca, CertFiles, Pki};

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{SubjectAccessReviewSpec, SubjectAccessReviewStatus};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
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
    /// The attributes of a spec as sent (e.g. one read back from [`RecordedRequest::body`]).
    pub fn from_spec(spec: SubjectAccessReviewSpec) -> Access {
        Access::of(&spec)
    }

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
    /// Bumped by [`FakeApiServer::close_watches`]: watches of an older generation end.
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

        let tls = serve::tls_config(&cert_pem, &key_pem);
        let app = serve::router(shared.clone());
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
