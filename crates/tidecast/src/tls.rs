//! TLS for the API server (rustls with the ring provider) and the demo's throwaway PKI.

use anyhow::{Context, Result};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: no certificate in the file",
        path.display()
    );
    Ok(certs)
}

/// A rustls server config from PEM files. With a client CA, client certificates are
/// requested but not required (kubelet probes and token callers have none), and offered
/// ones must chain to that CA.
pub(crate) fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = certs(cert)?;
    let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("{}: not a PEM private key", key.display()))?
        .with_context(|| format!("{}: no private key in the file", key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("{}: bad CA certificate", ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .context("building the client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .context("the certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Watch the serving certificate, key and client CA files and swap in a new TLS
/// configuration when their contents change (cert-manager renews the Secret; the kubelet
/// swaps the mounted files): new connections get the new certificate, open ones keep theirs.
/// Files that do not load (half-written, a mismatched pair) leave the current configuration
/// serving; the next check tries again.
pub(crate) async fn reload_on_change(
    files: crate::config::Tls,
    config: axum_server::tls_rustls::RustlsConfig,
    telemetry: Arc<tidecast_server::Telemetry>,
) {
    report_expiry(&files.cert_file, &telemetry);
    let paths: Vec<std::path::PathBuf> = [
        Some(files.cert_file.clone()),
        Some(files.key_file.clone()),
        files.client_ca_file.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let read_all = || async {
        let mut all = Vec::with_capacity(paths.len());
        for p in &paths {
            all.push(tokio::fs::read(p).await.ok());
        }
        all
    };
    let mut current = read_all().await;
    let mut ticker = tokio::time::interval(files.reload_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let now = read_all().await;
        if now == current {
            continue;
        }
        match server_config(
            &files.cert_file,
            &files.key_file,
            files.client_ca_file.as_deref(),
        ) {
            Ok(c) => {
                config.reload_from_config(c);
                current = now;
                report_expiry(&files.cert_file, &telemetry);
                tracing::info!(cert = %files.cert_file.display(), "serving certificate reloaded");
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "the changed certificate files do not load; still serving the previous ones"
            ),
        }
    }
}

/// Expiry (notAfter, Unix seconds) of the first certificate in a PEM file.
pub(crate) fn not_after(cert: &Path) -> Result<i64> {
    let der = certs(cert)?.remove(0);
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", cert.display()))?;
    Ok(parsed.validity().not_after.timestamp())
}

/// Export the expiry of the certificate in `cert` and warn when it is near.
pub(crate) fn report_expiry(cert: &Path, telemetry: &tidecast_server::Telemetry) {
    match not_after(cert) {
        Ok(t) => {
            telemetry.set_certificate_expiry(t);
            let left = t - chrono::Utc::now().timestamp();
            if left < 7 * 86_400 {
                tracing::warn!(
                    cert = %cert.display(), days_left = left / 86_400,
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
        assert_eq!(not_after(&pki.server_cert).unwrap(), 67_090_118_400);
        std::fs::write(dir.path().join("bad.crt"), "not a certificate\n").unwrap();
        let e = not_after(&dir.path().join("bad.crt")).unwrap_err();
        assert!(format!("{e:#}").contains("bad.crt"), "{e:#}");
    }
}
