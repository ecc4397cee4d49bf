//! Authentication, in the order of the generic delegating authenticator
//! (k8s.io/apiserver `authenticatorfactory/delegating.go`): the front proxy's certificate
//! and its `X-Remote-*` headers, an ordinary client certificate, a bearer token through
//! TokenReview; the first that succeeds wins, and when none does, any error seen is a 401,
//! and no credential at all is anonymous (also a 401 here, see [`Failure::Anonymous`]).

use super::cache::TtlCache;
use super::settings::{AuthSettings, verify_chain};
use super::{Reviewer, User};
use crate::identity::parse_identity_headers;
use axum::http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use rustls::pki_types::CertificateDer;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The TLS peer's certificate chain (leaf first), put in each request's extensions by the
/// listener, with the outcome of verifying it, computed once per connection and settings
/// version (a connection carries many requests; a CA rotation redoes it).
#[derive(Debug)]
pub struct PeerCertificates {
    chain: Vec<CertificateDer<'static>>,
    verified: Mutex<Option<(u64, Arc<CertOutcome>)>>,
}

impl PeerCertificates {
    /// The chain the peer presented, leaf first; `None` when it presented none.
    pub fn new(chain: Option<&[CertificateDer<'_>]>) -> Option<Arc<Self>> {
        let chain: Vec<_> = chain?.iter().map(|c| c.clone().into_owned()).collect();
        (!chain.is_empty()).then(|| {
            Arc::new(Self {
                chain,
                verified: Mutex::new(None),
            })
        })
    }

    fn outcome(&self, settings: &AuthSettings) -> Arc<CertOutcome> {
        let mut cached = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((generation, outcome)) = cached.as_ref()
            && *generation == settings.generation()
        {
            return outcome.clone();
        }
        let outcome = Arc::new(CertOutcome::of(&self.chain, settings));
        *cached = Some((settings.generation(), outcome.clone()));
        outcome
    }
}

/// What the peer's certificate proves under one settings version.
#[derive(Debug)]
struct CertOutcome {
    /// `None`: no front-proxy CA configured; `Ok`: it is the front proxy.
    front_proxy: Option<Result<(), String>>,
    /// `None`: no client CA configured; `Ok`: the user it names.
    client: Option<Result<User, String>>,
}

impl CertOutcome {
    fn of(chain: &[CertificateDer<'static>], settings: &AuthSettings) -> Self {
        let subject = subject(&chain[0]);
        let front_proxy = settings.request_header.as_ref().map(|rh| {
            verify_chain(rh.verifier.as_ref(), chain)
                .map_err(|e| format!("verifying the front-proxy certificate: {e}"))?;
            let (cn, _) = subject.as_ref().map_err(Clone::clone)?;
            if rh.allowed_names.is_empty() || rh.allowed_names.iter().any(|n| n == cn) {
                Ok(())
            } else {
                Err(format!(
                    "x509: subject with cn={cn} is not in the allowed list of front proxies"
                ))
            }
        });
        let client = settings.client_ca.as_ref().map(|v| {
            verify_chain(v.as_ref(), chain)
                .map_err(|e| format!("verifying the client certificate: {e}"))?;
            let (cn, orgs) = subject.as_ref().map_err(Clone::clone)?;
            if cn.is_empty() {
                return Err("x509: the client certificate has no common name".to_string());
            }
            Ok(User::authenticated(cn.clone(), String::new(), orgs.clone()))
        });
        Self {
            front_proxy,
            client,
        }
    }
}

/// The subject's CN and Os.
fn subject(der: &CertificateDer<'_>) -> Result<(String, Vec<String>), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("x509: the client certificate does not parse: {e}"))?;
    let s = cert.subject();
    let cn = s
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let orgs = s
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .map(str::to_string)
        .collect();
    Ok((cn, orgs))
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No credential: no certificate, no bearer token, no front-proxy user. The generic
    /// server would go on as `system:anonymous` and let the SubjectAccessReview decide;
    /// tidecast refuses anonymous callers outright (only the health paths answer them).
    Anonymous,
    /// Credentials that did not verify, each with its reason.
    Invalid(Vec<String>),
}

impl Failure {
    /// The 401 message.
    pub fn message(&self) -> String {
        match self {
            Failure::Anonymous => "Unauthorized: anonymous requests are not allowed (present a client certificate or a bearer token)".into(),
            Failure::Invalid(why) => format!("Unauthorized: {}", why.join("; ")),
        }
    }
}

/// The authenticator: the current settings (swapped on rotation), the token reviewer and
/// its cache.
#[derive(Debug)]
pub(crate) struct Authenticator {
    pub(crate) tokens: Option<TokenAuth>,
}

/// Bearer tokens through TokenReview, answers cached per token hash.
#[derive(Debug)]
pub(crate) struct TokenAuth {
    pub(crate) reviewer: Arc<dyn Reviewer>,
    pub(crate) timeout: Duration,
    /// Authenticated answers, for the success TTL; unauthenticated ones, for the failure
    /// TTL (the webhook token cache's two TTLs). Reviewer errors are not cached.
    pub(crate) allowed: TtlCache<[u8; 32], User>,
    pub(crate) denied: TtlCache<[u8; 32], String>,
}

impl Authenticator {
    /// The caller of a request.
    pub(crate) async fn authenticate(
        &self,
        settings: &AuthSettings,
        peer: Option<&PeerCertificates>,
        headers: &HeaderMap,
    ) -> Result<User, Failure> {
        let mut errors = Vec::new();
        if let Some(peer) = peer {
            let outcome = peer.outcome(settings);
            match (&outcome.front_proxy, &settings.request_header) {
                (Some(Ok(())), Some(rh)) => {
                    // Not handled without a username header: the certificate may still be
                    // an ordinary client certificate.
                    if let Some(id) = parse_identity_headers(headers, &rh.names) {
                        return Ok(
                            User::authenticated(id.name, id.uid, id.groups).with_extra(id.extra)
                        );
                    }
                }
                (Some(Err(e)), _) => errors.push(e.clone()),
                _ => {}
            }
            match &outcome.client {
                Some(Ok(user)) => return Ok(user.clone()),
                Some(Err(e)) => errors.push(e.clone()),
                None => {}
            }
        }
        if let Some(token) = bearer(headers) {
            match &self.tokens {
                None => errors.push("bearer tokens are not accepted (no TokenReview)".into()),
                Some(t) => match t.review(token).await {
                    Ok(user) => return Ok(user),
                    Err(e) => errors.push(e),
                },
            }
        }
        if errors.is_empty() {
            Err(Failure::Anonymous)
        } else {
            Err(Failure::Invalid(errors))
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl TokenAuth {
    async fn review(&self, token: &str) -> Result<User, String> {
        let key = token_hash(token);
        if let Some(user) = self.allowed.get(&key) {
            return Ok(user);
        }
        if let Some(why) = self.denied.get(&key) {
            return Err(why);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: None,
            },
            ..Default::default()
        };
        let status =
            match tokio::time::timeout(self.timeout, self.reviewer.token_review(review)).await {
                Err(_) => {
                    return Err(format!("token review: no answer within {:?}", self.timeout));
                }
                Ok(Err(e)) => return Err(format!("token review: {e}")),
                Ok(Ok(status)) => status,
            };
        let user = status.user.unwrap_or_default();
        match (status.authenticated, user.username) {
            (Some(true), Some(name)) if !name.is_empty() => {
                let u = User::authenticated(
                    name,
                    user.uid.unwrap_or_default(),
                    user.groups.unwrap_or_default(),
                )
                .with_extra(user.extra.unwrap_or_default());
                self.allowed.insert(key, u.clone());
                Ok(u)
            }
            _ => {
                let why = match status.error.filter(|e| !e.is_empty()) {
                    Some(e) => format!("invalid bearer token: {e}"),
                    None => "invalid bearer token".to_string(),
                };
                self.denied.insert(key, why.clone());
                Err(why)
            }
        }
    }
}

/// SHA-256 of the token: the cache never holds a token itself.
fn token_hash(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_need_the_scheme_and_a_token() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&h("Basic abc")), None);
        assert_eq!(bearer(&h("Bearer ")), None);
        assert_eq!(bearer(&h("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn token_hashes_differ_per_token() {
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_eq!(token_hash("a"), token_hash("a"));
    }
}
