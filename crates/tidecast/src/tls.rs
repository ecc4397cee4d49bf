//! TLS for the API server (rustls with the ring provider) and the demo's throwaway PKI.

use anyhow::{Context, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The certificates in `pem`, read from `path` (named in errors).
fn certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate in the file",
        path.display()
    );
    Ok(certs)
}

/// A rustls server config from PEM files. Client certificates are requested, never
/// required (probes and token callers have none), and accepted at the handshake whatever
/// their issuer, as Go's `RequestClientCert`: the authenticator verifies the chain on each
/// request against the CAs then current (the front-proxy CA and the client CA, which
/// rotate), and answers a 401 Status instead of a TLS alert.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain = certs(cert, &read(cert)?)?;
    let key = private_key(key, &read(key)?)?;
    config_from_pem(chain, key)
}

/// The private key in `pem`, read from `path` (named in errors).
fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut &pem[..])
        .with_context(|| format!("{}: not a PEM private key", path.display()))?
        .with_context(|| format!("{}: no private key in the file", path.display()))
}

/// [`server_config`] from the parsed certificate chain and key.
fn config_from_pem(
    chain: Vec<CertificateDer<'static>>,
    key_der: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = rustls::ServerConfig::builder()
        .with_client_cert_verifier(Arc::new(RequestClientCert::new()))
        .with_single_cert(chain, key_der)
        .context("the certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Asks for a client certificate and checks that the peer holds its key (the handshake
/// signature), but leaves the chain to the authenticator.
#[derive(Debug)]
struct RequestClientCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl RequestClientCert {
    fn new() -> Self {
        Self {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl rustls::server::danger::ClientCertVerifier for RequestClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    // No CA names: a client then offers its certificate whatever signed it.
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS acceptor that puts the peer's certificate chain into every request of the
/// connection (`Option<Arc<PeerCertificates>>`), for the authenticator.
#[derive(Debug, Clone)]
pub(crate) struct PeerCertAcceptor<A> {
    inner: axum_server::tls_rustls::RustlsAcceptor<A>,
}

impl<A> PeerCertAcceptor<A> {
    pub(crate) fn new(inner: axum_server::tls_rustls::RustlsAcceptor<A>) -> Self {
        Self { inner }
    }
}

type PeerExtension = Option<Arc<tidecast_server::auth::PeerCertificates>>;

type Rustls<A> = axum_server::tls_rustls::RustlsAcceptor<A>;
type RustlsService<A, I, S> = <Rustls<A> as axum_server::accept::Accept<I, S>>::Service;

impl<I, S, A> axum_server::accept::Accept<I, S> for PeerCertAcceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    Rustls<A>: axum_server::accept::Accept<I, S, Stream = tokio_rustls::server::TlsStream<A::Stream>>
        + Clone
        + Send
        + 'static,
    <Rustls<A> as axum_server::accept::Accept<I, S>>::Future: Send,
    RustlsService<A, I, S>: Send,
    A::Stream: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = tokio_rustls::server::TlsStream<A::Stream>;
    type Service =
        <axum::Extension<PeerExtension> as tower::Layer<RustlsService<A, I, S>>>::Service;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send,
        >,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let peer = tidecast_server::auth::PeerCertificates::new(
                stream.get_ref().1.peer_certificates(),
            );
            Ok((stream, tower::Layer::layer(&axum::Extension(peer), service)))
        })
    }
}

/// Watch the serving certificate and key files and swap in a new TLS configuration when
/// their contents change (cert-manager renews the Secret; the kubelet swaps the mounted
/// files): new connections get the new certificate, open ones keep theirs. Files that do
/// not load (half-written, a mismatched pair) leave the current configuration serving; the
/// next check tries again. Each check reads each file once.
pub(crate) async fn reload_on_change(
    files: crate::config::Tls,
    config: axum_server::tls_rustls::RustlsConfig,
    telemetry: Arc<tidecast_server::Telemetry>,
) {
    let mut current = read_files(&files).await.ok();
    if let Some((cert, ..)) = &current {
        report_expiry(&files.cert_file, cert, &telemetry);
    }
    let mut ticker = tokio::time::interval(files.reload_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let loaded = match read_files(&files).await {
            Ok(now) if current.as_ref() == Some(&now) => continue,
            Ok(now) => config_from_contents(&files, &now).map(|c| (c, now)),
            Err(e) => Err(e),
        };
        match loaded {
            Ok((c, now)) => {
                config.reload_from_config(c);
                report_expiry(&files.cert_file, &now.0, &telemetry);
                current = Some(now);
                tracing::info!(cert = %files.cert_file.display(), "serving certificate reloaded");
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "the changed certificate files do not load; still serving the previous ones"
            ),
        }
    }
}

/// [`server_config`] from the contents [`read_files`] returned.
fn config_from_contents(
    files: &crate::config::Tls,
    (cert, key): &(Vec<u8>, Vec<u8>),
) -> Result<Arc<rustls::ServerConfig>> {
    config_from_pem(
        certs(&files.cert_file, cert)?,
        private_key(&files.key_file, key)?,
    )
}

/// The contents of the certificate and key files.
async fn read_files(files: &crate::config::Tls) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |p: &Path| {
        let p = p.to_path_buf();
        async move {
            tokio::fs::read(&p)
                .await
                .with_context(|| format!("reading {}", p.display()))
        }
    };
    Ok((read(&files.cert_file).await?, read(&files.key_file).await?))
}

/// Expiry (notAfter, Unix seconds) of the first certificate in `pem`, read from `cert`.
pub(crate) fn not_after(cert: &Path, pem: &[u8]) -> Result<i64> {
    let der = certs(cert, pem)?.remove(0);
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", cert.display()))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// Export the expiry of the certificate in `pem` (read from `cert`) and warn when it is near.
fn report_expiry(cert: &Path, pem: &[u8], telemetry: &tidecast_server::Telemetry) {
    match not_after(cert, pem) {
        Ok(t) => {
            telemetry.set_certificate_expiry(t);
            let left = t - chrono::Utc::now().timestamp();
            if left < tidecast_core::SECS_PER_WEEK {
                tracing::warn!(
                    cert = %cert.display(), days_left = left / tidecast_core::SECS_PER_DAY,
                    "the serving certificate expires within a week"
                );
            }
        }
        Err(e) => tracing::warn!(error = format!("{e:#}"), "reading the certificate's expiry"),
    }
}

/// Files of the demo PKI.
#[derive(Debug)]
pub(crate) struct DemoPki {
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) client_cert: PathBuf,
    pub(crate) client_key: PathBuf,
}

/// Write a CA, a server certificate for 127.0.0.1/localhost and a client certificate
/// (CN `demo-user`, O `system:authenticated`) into `dir`.
pub(crate) fn demo_pki(dir: &Path) -> Result<DemoPki> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tidecast demo CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "tidecast");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, "demo-user");
    client
        .distinguished_name
        .push(DnType::OrganizationName, "system:authenticated");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &issuer)?;

    let pki = DemoPki {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("tls.crt"),
        server_key: dir.join("tls.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    let write = |p: &Path, s: String| {
        std::fs::write(p, s).with_context(|| format!("writing {}", p.display()))
    };
    write(&pki.ca, ca_cert.pem())?;
    write(&pki.server_cert, server_cert.pem())?;
    write(&pki.server_key, server_key.serialize_pem())?;
    write(&pki.client_cert, client_cert.pem())?;
    write(&pki.client_key, client_key.serialize_pem())?;
    Ok(pki)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_read_from_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let pki = demo_pki(dir.path()).unwrap();
        // rcgen's default validity runs to 4096-01-01.
        let pem = std::fs::read(&pki.server_cert).unwrap();
        assert_eq!(not_after(&pki.server_cert, &pem).unwrap(), 67_090_118_400);
        let bad = dir.path().join("bad.crt");
        let e = not_after(&bad, b"not a certificate\n").unwrap_err();
        assert!(format!("{e:#}").contains("bad.crt"), "{e:#}");
    }
}
