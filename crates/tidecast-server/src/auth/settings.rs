//! The delegated authentication settings: the CAs and request-header names of
//! `kube-system/extension-apiserver-authentication` (or the same from files), with the
//! certificate verifiers built once per version.

use crate::identity::{HeaderNames, HeaderNamesError};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why settings do not load; names the key (or file) and the reason.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A CA bundle that is not PEM certificates, or has none.
    #[error("{key}: {reason}")]
    Bundle {
        /// The ConfigMap key or file path.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A list value that is not a JSON array of strings.
    #[error("{key}: not a JSON array of strings ({source})")]
    List {
        /// The ConfigMap key.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A configured header name that is not one.
    #[error("{key}: {source}")]
    HeaderName {
        /// The ConfigMap key.
        key: String,
        /// The bad name.
        #[source]
        source: HeaderNamesError,
    },
    /// Neither CA is set: no caller could ever authenticate with a certificate or through
    /// the front proxy.
    #[error(
        "neither client-ca-file nor requestheader-client-ca-file is set: no client certificate could be verified"
    )]
    NoCa,
}

/// The front proxy's settings (`requestheader-*`).
#[derive(Debug, Clone)]
pub(crate) struct RequestHeader {
    pub(crate) verifier: Arc<dyn ClientCertVerifier>,
    /// Empty: any CN signed by the CA.
    pub(crate) allowed_names: Vec<String>,
    pub(crate) names: HeaderNames,
}

/// The request-header settings as given (PEM and lists), for [`AuthSettings::from_pem`].
#[derive(Debug, Clone, Default)]
pub struct RequestHeaderPem {
    /// The PEM bundle of the CA the front proxy's certificate must chain to.
    pub client_ca: Vec<u8>,
    /// Where it came from, named in errors.
    pub client_ca_source: String,
    /// Allowed CNs; empty allows any.
    pub allowed_names: Vec<String>,
    /// `requestheader-username-headers`.
    pub username_headers: Vec<String>,
    /// `requestheader-uid-headers`.
    pub uid_headers: Vec<String>,
    /// `requestheader-group-headers`.
    pub group_headers: Vec<String>,
    /// `requestheader-extra-headers-prefix`.
    pub extra_headers_prefix: Vec<String>,
}

/// One version of the settings. Immutable: a change (CA rotation) builds a new one with a
/// new [`AuthSettings::generation`], so per-connection verification results are redone.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    generation: u64,
    pub(crate) client_ca: Option<Arc<dyn ClientCertVerifier>>,
    pub(crate) request_header: Option<RequestHeader>,
    /// Where these came from ("configmap kube-system/... resourceVersion 7", "files").
    source: String,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// The ConfigMap keys the generic apiserver reads.
pub mod keys {
    /// CA of ordinary client certificates.
    pub const CLIENT_CA: &str = "client-ca-file";
    /// CA of the front proxy's certificate.
    pub const REQUESTHEADER_CA: &str = "requestheader-client-ca-file";
    /// Allowed CNs of the front proxy's certificate.
    pub const ALLOWED_NAMES: &str = "requestheader-allowed-names";
    /// Username header names.
    pub const USERNAME_HEADERS: &str = "requestheader-username-headers";
    /// UID header names.
    pub const UID_HEADERS: &str = "requestheader-uid-headers";
    /// Group header names.
    pub const GROUP_HEADERS: &str = "requestheader-group-headers";
    /// Extra header prefixes.
    pub const EXTRA_PREFIXES: &str = "requestheader-extra-headers-prefix";
}

impl AuthSettings {
    /// From the `extension-apiserver-authentication` ConfigMap's data; `source` names it in
    /// logs and `/readyz`.
    pub fn from_configmap(
        data: &BTreeMap<String, String>,
        source: impl Into<String>,
    ) -> Result<Self, SettingsError> {
        let list = |key: &str| -> Result<Vec<String>, SettingsError> {
            match data.get(key).map(|s| s.trim()) {
                None | Some("") => Ok(Vec::new()),
                Some(text) => serde_json::from_str(text).map_err(|source| SettingsError::List {
                    key: key.to_string(),
                    source,
                }),
            }
        };
        let request_header = match data.get(keys::REQUESTHEADER_CA) {
            Some(pem) if !pem.trim().is_empty() => Some(RequestHeaderPem {
                client_ca: pem.as_bytes().to_vec(),
                client_ca_source: keys::REQUESTHEADER_CA.to_string(),
                allowed_names: list(keys::ALLOWED_NAMES)?,
                username_headers: list(keys::USERNAME_HEADERS)?,
                uid_headers: list(keys::UID_HEADERS)?,
                group_headers: list(keys::GROUP_HEADERS)?,
                extra_headers_prefix: list(keys::EXTRA_PREFIXES)?,
            }),
            _ => None,
        };
        let client_ca = data
            .get(keys::CLIENT_CA)
            .filter(|p| !p.trim().is_empty())
            .map(|p| (p.as_bytes(), keys::CLIENT_CA));
        Self::from_pem(client_ca, request_header, source)
    }

    /// From PEM bundles (each with the name of where it came from) and the request-header
    /// lists: the standalone settings of the demo and of a server without a cluster.
    pub fn from_pem(
        client_ca: Option<(&[u8], &str)>,
        request_header: Option<RequestHeaderPem>,
        source: impl Into<String>,
    ) -> Result<Self, SettingsError> {
        if client_ca.is_none() && request_header.is_none() {
            return Err(SettingsError::NoCa);
        }
        let client_ca = client_ca
            .map(|(pem, name)| verifier(pem, name))
            .transpose()?;
        let request_header = request_header
            .map(|rh| -> Result<RequestHeader, SettingsError> {
                let names = HeaderNames::new(
                    &rh.username_headers,
                    &rh.uid_headers,
                    &rh.group_headers,
                    &rh.extra_headers_prefix,
                )
                .map_err(|source| SettingsError::HeaderName {
                    key: "requestheader headers".into(),
                    source,
                })?;
                Ok(RequestHeader {
                    verifier: verifier(&rh.client_ca, &rh.client_ca_source)?,
                    allowed_names: rh.allowed_names,
                    names,
                })
            })
            .transpose()?;
        Ok(Self {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            client_ca,
            request_header,
            source: source.into(),
        })
    }

    /// Unique per loaded version.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Where the settings came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether a front-proxy CA is configured.
    pub fn has_request_header(&self) -> bool {
        self.request_header.is_some()
    }

    /// Whether a client CA is configured.
    pub fn has_client_ca(&self) -> bool {
        self.client_ca.is_some()
    }
}

/// A verifier of client certificate chains against the CAs in `pem` (EKU clientAuth,
/// validity now, intermediates from the peer's chain): webpki through rustls.
fn verifier(pem: &[u8], name: &str) -> Result<Arc<dyn ClientCertVerifier>, SettingsError> {
    let bad = |reason: String| SettingsError::Bundle {
        key: name.to_string(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate in the bundle".into()));
    }
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| bad(format!("building the verifier: {e}")))
}

/// Verify `chain` (leaf first) with `verifier`; the error says why not.
pub(crate) fn verify_chain(
    verifier: &dyn ClientCertVerifier,
    chain: &[CertificateDer<'static>],
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pki() -> (tempfile::TempDir, tidecast_testing::Pki) {
        let dir = tempfile::tempdir().unwrap();
        let pki = tidecast_testing::Pki::generate(dir.path(), "u", &["g"], "front-proxy-client");
        (dir, pki)
    }

    #[test]
    fn the_configmap_of_a_cluster_loads_both_cas_and_the_header_names() {
        let (_d, pki) = pki();
        let s = AuthSettings::from_configmap(&pki.configmap_data(), "cm").unwrap();
        assert!(s.has_client_ca() && s.has_request_header());
        let rh = s.request_header.as_ref().unwrap();
        assert_eq!(rh.allowed_names, ["front-proxy-client"]);
        assert_eq!(rh.names.username()[0].as_str(), "x-remote-user");
        assert_eq!(rh.names.extra_prefixes(), ["x-remote-extra-"]);
        assert_eq!(s.source(), "cm");
        let again = AuthSettings::from_configmap(&pki.configmap_data(), "cm").unwrap();
        assert_ne!(
            s.generation(),
            again.generation(),
            "each load is a new version"
        );
    }

    #[test]
    fn a_bad_key_is_named_in_the_error() {
        let (_d, pki) = pki();
        let mut data = pki.configmap_data();
        data.insert(keys::ALLOWED_NAMES.into(), "front-proxy-client".into());
        let e = AuthSettings::from_configmap(&data, "cm").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("requestheader-allowed-names: not a JSON array"),
            "{e}"
        );
        let mut data = pki.configmap_data();
        data.insert(
            keys::CLIENT_CA.into(),
            "-----BEGIN CERTIFICATE-----\nAAAA\n".into(),
        );
        let e = AuthSettings::from_configmap(&data, "cm").unwrap_err();
        assert!(e.to_string().starts_with("client-ca-file: "), "{e}");
        let mut data = pki.configmap_data();
        data.insert(keys::CLIENT_CA.into(), "no pem here".into());
        let e = AuthSettings::from_configmap(&data, "cm").unwrap_err();
        assert_eq!(
            e.to_string(),
            "client-ca-file: no certificate in the bundle"
        );
        let mut data = pki.configmap_data();
        data.insert(keys::GROUP_HEADERS.into(), r#"["bad header"]"#.into());
        let e = AuthSettings::from_configmap(&data, "cm").unwrap_err();
        assert!(e.to_string().contains("bad header"), "{e}");
    }

    #[test]
    fn a_configmap_without_either_ca_is_refused() {
        let e = AuthSettings::from_configmap(&BTreeMap::new(), "cm").unwrap_err();
        assert!(matches!(e, SettingsError::NoCa), "{e}");
    }

    #[test]
    fn chains_verify_only_against_their_own_ca() {
        let (_d, pki) = pki();
        let s = AuthSettings::from_configmap(&pki.configmap_data(), "cm").unwrap();
        let chain = |p: &std::path::Path| -> Vec<CertificateDer<'static>> {
            rustls_pemfile::certs(&mut &std::fs::read(p).unwrap()[..])
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let client_ca = s.client_ca.as_ref().unwrap().as_ref();
        let proxy_ca = s.request_header.as_ref().unwrap().verifier.as_ref();
        assert_eq!(verify_chain(client_ca, &chain(&pki.client.cert)), Ok(()));
        assert!(verify_chain(proxy_ca, &chain(&pki.client.cert)).is_err());
        assert_eq!(
            verify_chain(proxy_ca, &chain(&pki.front_proxy.cert)),
            Ok(())
        );
        let other = verify_chain(client_ca, &chain(&pki.other.cert)).unwrap_err();
        assert!(other.contains("UnknownIssuer"), "{other}");
        assert!(verify_chain(client_ca, &[]).is_err());
    }
}
