//! Delegated authentication and authorization of every request (spec section 3): who is
//! calling ([`authn`]), whether they may ([`authz`]), with the settings of
//! `extension-apiserver-authentication` swapped in live ([`Auth::set_settings`]).
//!
//! Fail closed: a doubt about identity is a 401, a doubt about permission a 403, a failing
//! reviewer a 500 Status; never an allow. The health paths alone answer anyone.

mod authn;
mod authz;
mod cache;
mod settings;

pub use authn::{Failure, PeerCertificates};
pub use authz::{ALWAYS_ALLOW_GROUP, Attributes, Decision};
pub use settings::{AuthSettings, RequestHeaderPem, SettingsError, keys};

use crate::status::ApiError;
use arc_swap::ArcSwap;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewStatus};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewStatus};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The group every authenticated user gets.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Paths anyone may read, without credentials (the kubelet's probes have none).
pub const ALWAYS_ALLOW_PATHS: [&str; 3] = ["/healthz", "/livez", "/readyz"];

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct User {
    /// The username (non-empty).
    pub name: String,
    /// The UID, empty if unknown.
    pub uid: String,
    /// Groups, `system:authenticated` included.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with `system:authenticated` added to `groups` if missing.
    pub fn authenticated(name: String, uid: String, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.into());
        }
        Self {
            name,
            uid,
            groups,
            extra: BTreeMap::new(),
        }
    }

    /// With these extra attributes.
    pub fn with_extra(mut self, extra: BTreeMap<String, Vec<String>>) -> Self {
        self.extra = extra;
        self
    }
}

/// A reviewer's failure (transport, HTTP status, decoding).
pub type ReviewError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed review call.
pub type ReviewFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ReviewError>> + Send + 'a>>;

/// Who answers TokenReviews and SubjectAccessReviews: kube-apiserver through the kube
/// client in the binary, a fake in tests.
pub trait Reviewer: Send + Sync + std::fmt::Debug {
    /// Create the TokenReview; its status.
    fn token_review(&self, review: TokenReview) -> ReviewFuture<'_, TokenReviewStatus>;
    /// Create the SubjectAccessReview; its status.
    fn access_review(
        &self,
        review: SubjectAccessReview,
    ) -> ReviewFuture<'_, SubjectAccessReviewStatus>;
}

/// How the gate decides, given to [`Auth::new`].
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Reviews TokenReviews and SubjectAccessReviews.
    pub reviewer: Option<Arc<dyn Reviewer>>,
    /// Accept bearer tokens, through TokenReview (needs a reviewer).
    pub tokens: bool,
    /// Authorize through SubjectAccessReview (needs a reviewer); false allows every
    /// authenticated caller (standalone use without a cluster).
    pub subject_access_review: bool,
    /// How long an allowed/authenticated answer is reused.
    pub allowed_ttl: Duration,
    /// How long a denied/unauthenticated answer is reused.
    pub denied_ttl: Duration,
    /// The bound on one review call: past it the request fails closed.
    pub timeout: Duration,
}

impl Default for AuthOptions {
    /// The generic server's: 10 s for both caches; a 5 s review bound (the aggregator's
    /// probe allows 5 s, and it is allowed without review).
    fn default() -> Self {
        Self {
            reviewer: None,
            tokens: false,
            subject_access_review: false,
            allowed_ttl: Duration::from_secs(10),
            denied_ttl: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Bound on cached review answers of each kind.
const CACHE_ENTRIES: usize = 8192;

/// The state of the settings' source, for `/readyz`, logs and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SourceHealth {
    /// The settings in use are the source's latest.
    #[default]
    Current,
    /// Reading the source fails; the last good settings are still in use.
    Failing {
        /// The last error.
        error: String,
        /// Since when (Unix seconds).
        since: i64,
    },
}

/// The authentication and authorization gate in front of the router.
#[derive(Debug)]
pub struct Auth {
    settings: ArcSwap<AuthSettings>,
    health: Mutex<SourceHealth>,
    authn: authn::Authenticator,
    authz: authz::Mode,
}

/// Why [`Auth::new`] refuses the options.
#[derive(Debug, thiserror::Error)]
#[error("TokenReview and SubjectAccessReview need a reviewer (a cluster connection)")]
pub struct NoReviewer;

impl Auth {
    /// The gate over the first settings.
    pub fn new(settings: AuthSettings, options: AuthOptions) -> Result<Self, NoReviewer> {
        let reviewer = options.reviewer.clone().filter(|_| options.tokens);
        if options.tokens && reviewer.is_none() {
            return Err(NoReviewer);
        }
        let tokens = reviewer.map(|reviewer| authn::TokenAuth {
            reviewer,
            timeout: options.timeout,
            allowed: cache::TtlCache::new(options.allowed_ttl, CACHE_ENTRIES),
            denied: cache::TtlCache::new(options.denied_ttl, CACHE_ENTRIES),
        });
        let authz = if options.subject_access_review {
            authz::Mode::Review(authz::ReviewAuth {
                reviewer: options.reviewer.ok_or(NoReviewer)?,
                timeout: options.timeout,
                allowed: cache::TtlCache::new(options.allowed_ttl, CACHE_ENTRIES),
                denied: cache::TtlCache::new(options.denied_ttl, CACHE_ENTRIES),
            })
        } else {
            authz::Mode::AllowAuthenticated
        };
        Ok(Self {
            settings: ArcSwap::from_pointee(settings),
            health: Mutex::new(SourceHealth::Current),
            authn: authn::Authenticator { tokens },
            authz,
        })
    }

    /// Swap in new settings (a CA rotation): requests from now on use them, connections
    /// re-verify their certificates against them; the source is current again.
    pub fn set_settings(&self, settings: AuthSettings) {
        tracing::info!(
            source = settings.source(),
            client_ca = settings.has_client_ca(),
            request_header = settings.has_request_header(),
            "authentication settings loaded"
        );
        self.settings.store(Arc::new(settings));
        self.set_health(SourceHealth::Current);
    }

    /// The settings in use.
    pub fn settings(&self) -> Arc<AuthSettings> {
        self.settings.load_full()
    }

    /// Record the state of the settings' source.
    pub fn set_health(&self, health: SourceHealth) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
    }

    /// The state of the settings' source.
    pub fn health(&self) -> SourceHealth {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether authorization goes through SubjectAccessReview.
    pub fn reviews_access(&self) -> bool {
        matches!(self.authz, authz::Mode::Review(_))
    }

    /// Authenticate and authorize one request. `Ok` carries the user, and the credentials
    /// and identity headers are then removed from `headers` (as the generic server does,
    /// so a handler never sees them); `Err` is the answer to give (401, 403 or 500 Status),
    /// already logged with its reason.
    pub async fn check(
        &self,
        method: &axum::http::Method,
        path: &str,
        headers: &mut axum::http::HeaderMap,
        peer: Option<&PeerCertificates>,
    ) -> Result<User, (Outcome, ApiError)> {
        let settings = self.settings.load();
        let user = match self.authn.authenticate(&settings, peer, headers).await {
            Ok(u) => u,
            Err(f) => {
                let outcome = match f {
                    Failure::Anonymous => Outcome::Anonymous,
                    Failure::Invalid(_) => Outcome::Unauthenticated,
                };
                tracing::warn!(%path, reason = %f.message(), "request refused: not authenticated");
                return Err((outcome, ApiError::unauthorized(f.message())));
            }
        };
        let attrs = Attributes::of(method, path);
        match self.authz.authorize(&user, &attrs).await {
            Decision::Allow => {
                headers.remove(axum::http::header::AUTHORIZATION);
                if let Some(rh) = &settings.request_header {
                    crate::identity::clear_identity_headers(headers, &rh.names);
                }
                Ok(user)
            }
            Decision::Deny(why) => {
                let msg = attrs.forbidden(&user.name, &why);
                tracing::warn!(%path, user = %user.name, reason = %msg, "request refused: forbidden");
                Err((Outcome::Forbidden, ApiError::forbidden(msg)))
            }
            Decision::Error(why) => {
                tracing::error!(%path, user = %user.name, reason = %why, "request refused: authorization failed");
                Err((Outcome::AuthorizationError, ApiError::internal(why)))
            }
        }
    }
}

/// How a request fared at the gate (the label of `tidecast_auth_requests_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Authenticated and authorized.
    Allowed,
    /// No credentials.
    Anonymous,
    /// Credentials that did not verify.
    Unauthenticated,
    /// Authenticated, not permitted.
    Forbidden,
    /// The reviewer failed.
    AuthorizationError,
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Anonymous => "anonymous",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::AuthorizationError => "authorization_error",
        }
    }
}
