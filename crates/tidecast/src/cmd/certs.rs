//! `tidecast certs`: the self-signed serving PKI for an in-cluster install. Writes a CA, a
//! serving certificate for the Service's DNS names, the `tidecast-tls` Secret manifest and
//! the APIService `caBundle` patch that `deploy/overlays/self-signed` applies. A CA already
//! in the output directory is reused, so renewing the serving certificate keeps the
//! `caBundle` the cluster trusts.

use crate::cli::UsageError;
use anyhow::{Context, Result};
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How long the CA is valid: long, because replacing it means re-patching the APIService.
const CA_DAYS: u32 = 3650;

#[derive(Debug, Args)]
pub(crate) struct CertsArgs {
    /// Namespace of the Service (and of the Secret).
    #[arg(long, default_value = "tidecast")]
    pub(crate) namespace: String,
    /// Name of the Service the APIService points at.
    #[arg(long, default_value = "tidecast")]
    pub(crate) service: String,
    /// The cluster's DNS domain, for the `<service>.<namespace>.svc.<domain>` name.
    #[arg(long, default_value = "cluster.local")]
    pub(crate) cluster_domain: String,
    /// Days the serving certificate is valid (the CA: 10 years).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) days: u32,
    /// Output directory (created). ca.crt and ca.key already there are reused.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,
}

pub(crate) fn run(args: &CertsArgs) -> Result<()> {
    let written = write(args)?;
    let mut out = std::io::stdout().lock();
    let dir = args.out.display();
    if written.reused_ca {
        writeln!(out, "reused the CA in {dir} (the caBundle is unchanged)")?;
    } else {
        writeln!(out, "wrote a new CA to {dir}/ca.crt and {dir}/ca.key")?;
    }
    writeln!(
        out,
        "wrote the serving certificate for {} (valid {} days) to {dir}/tls.crt and {dir}/tls.key",
        written.dns_names.join(", "),
        args.days
    )?;
    writeln!(
        out,
        "wrote {dir}/{SECRET_FILE} (Secret {}/tidecast-tls) and {dir}/{PATCH_FILE} (the APIService caBundle)",
        args.namespace
    )?;
    writeln!(out, "caBundle: {}", written.ca_bundle)?;
    writeln!(
        out,
        "keep ca.key out of version control; rerun with the same --out to renew the serving certificate"
    )?;
    Ok(())
}

/// The Secret manifest's file name in the output directory.
pub(crate) const SECRET_FILE: &str = "tidecast-tls.yaml";
/// The APIService patch's file name in the output directory.
pub(crate) const PATCH_FILE: &str = "apiservice-cabundle.yaml";
/// The base64 caBundle's file name in the output directory.
pub(crate) const CA_BUNDLE_FILE: &str = "ca-bundle.base64";

/// What [`write`] produced.
#[derive(Debug)]
pub(crate) struct Written {
    /// Whether the CA in the output directory was reused.
    pub(crate) reused_ca: bool,
    /// The serving certificate's DNS names.
    pub(crate) dns_names: Vec<String>,
    /// Base64 of the CA's PEM, as `APIService.spec.caBundle` takes it.
    pub(crate) ca_bundle: String,
}

/// The CA's subject. Fixed, so a reused CA key rebuilds the same issuer name.
fn ca_params(days: u32) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name
        .push(DnType::CommonName, "tidecast serving CA");
    // It signs serving certificates only, never another CA.
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    valid_for(&mut p, days);
    Ok(p)
}

/// Validity from yesterday (clocks in a cluster drift) to `days` from today, at midnight UTC.
fn valid_for(p: &mut CertificateParams, days: u32) {
    use chrono::Datelike;
    let day = |offset: i64| {
        let d = chrono::Utc::now().date_naive() + chrono::Duration::days(offset);
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    p.not_before = day(-1);
    p.not_after = day(i64::from(days));
}

/// Write everything into `args.out`.
pub(crate) fn write(args: &CertsArgs) -> Result<Written> {
    for (flag, v) in [
        ("--namespace", &args.namespace),
        ("--service", &args.service),
    ] {
        if !dns_label(v) {
            return Err(UsageError(format!(
                "{flag}: {v:?} is not a DNS label (lowercase letters, digits and '-')"
            ))
            .into());
        }
    }
    let dir = &args.out;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let (ca_pem, ca_key_pair, reused_ca) = match (ca_crt.exists(), ca_key.exists()) {
        (true, true) => {
            let key = KeyPair::from_pem(&read(&ca_key)?)
                .with_context(|| format!("{}: not a PEM private key", ca_key.display()))?;
            (read(&ca_crt)?, key, true)
        }
        (false, false) => {
            let key = KeyPair::generate()?;
            let cert = ca_params(CA_DAYS)?.self_signed(&key)?;
            (cert.pem(), key, false)
        }
        _ => anyhow::bail!(
            "{} holds only one of ca.crt and ca.key: restore the other, or remove both for a new CA",
            dir.display()
        ),
    };
    // The validity bounds do not enter the issuer: its name, key identifier and usages do.
    let ca_spki = rcgen::PublicKeyData::subject_public_key_info(&ca_key_pair);
    let issuer = Issuer::new(ca_params(CA_DAYS)?, ca_key_pair);

    let svc = format!("{}.{}.svc", args.service, args.namespace);
    let dns_names = vec![svc.clone(), format!("{svc}.{}", args.cluster_domain)];
    let mut server = CertificateParams::new(dns_names.clone())?;
    server.distinguished_name.push(DnType::CommonName, &svc);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    valid_for(&mut server, args.days);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;
    if reused_ca {
        check_issued_by(&ca_crt, &ca_pem, &ca_spki, server_cert.der())?;
    }

    let ca_bundle = base64(ca_pem.as_bytes());
    if !reused_ca {
        write_file(&ca_crt, &ca_pem, false)?;
        write_file(&ca_key, &issuer.key().serialize_pem(), true)?;
    }
    let (tls_crt, tls_key) = (server_cert.pem(), server_key.serialize_pem());
    write_file(&dir.join("tls.crt"), &tls_crt, false)?;
    write_file(&dir.join("tls.key"), &tls_key, true)?;
    write_file(
        &dir.join(SECRET_FILE),
        &secret_manifest(&args.namespace, &tls_crt, &tls_key, &ca_pem),
        true,
    )?;
    write_file(&dir.join(PATCH_FILE), &apiservice_patch(&ca_bundle), false)?;
    write_file(&dir.join(CA_BUNDLE_FILE), &format!("{ca_bundle}\n"), false)?;
    Ok(Written {
        reused_ca,
        dns_names,
        ca_bundle,
    })
}

/// A reused CA must carry the name `leaf` names as its issuer and the key (`key_spki`) that
/// signed it: a ca.crt from another tool, or a mismatched pair, would otherwise yield a
/// certificate that the caBundle does not verify.
fn check_issued_by(ca_crt: &Path, ca_pem: &str, key_spki: &[u8], leaf: &[u8]) -> Result<()> {
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .with_context(|| format!("{}: no certificate in the file", ca_crt.display()))?
        .with_context(|| format!("{}: not a PEM certificate file", ca_crt.display()))?;
    fn parse<'a>(
        path: &Path,
        der: &'a [u8],
    ) -> Result<x509_parser::certificate::X509Certificate<'a>> {
        x509_parser::parse_x509_certificate(der)
            .map(|(_, c)| c)
            .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", path.display()))
    }
    let (ca, leaf) = (parse(ca_crt, ca_der.as_ref())?, parse(ca_crt, leaf)?);
    anyhow::ensure!(
        ca.subject().as_raw() == leaf.issuer().as_raw() && ca.public_key().raw == key_spki,
        "{} was not made by tidecast certs with this ca.key: remove ca.crt and ca.key for a new CA",
        ca_crt.display()
    );
    Ok(())
}

/// An RFC 1123 label, as Kubernetes names namespaces and Services.
fn dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Write `text` to `path`; `secret` files are readable by their owner only.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    o.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

fn secret_manifest(namespace: &str, crt: &str, key: &str, ca: &str) -> String {
    format!(
        "# The serving certificate of tidecast, written by `tidecast certs`. Holds a private key:\n\
         # keep it out of version control.\n\
         apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n  name: tidecast-tls\n  namespace: {namespace}\n  \
         labels:\n    app.kubernetes.io/name: tidecast\n\
         type: kubernetes.io/tls\n\
         data:\n  tls.crt: {}\n  tls.key: {}\n  ca.crt: {}\n",
        base64(crt.as_bytes()),
        base64(key.as_bytes()),
        base64(ca.as_bytes())
    )
}

fn apiservice_patch(ca_bundle: &str) -> String {
    format!(
        "# The CA that signed tidecast-tls, written by `tidecast certs`: kube-apiserver verifies\n\
         # the serving certificate against it.\n\
         apiVersion: apiregistration.k8s.io/v1\n\
         kind: APIService\n\
         metadata:\n  name: v1beta1.external.metrics.k8s.io\n\
         spec:\n  caBundle: {ca_bundle}\n"
    )
}

/// Standard base64 with padding (RFC 4648), as Kubernetes encodes `[]byte` fields.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

    fn args(out: &Path) -> CertsArgs {
        CertsArgs {
            namespace: "tidecast".into(),
            service: "tidecast".into(),
            cluster_domain: "cluster.local".into(),
            days: 1,
            out: out.to_path_buf(),
        }
    }

    #[test]
    fn a_namespace_that_is_not_a_dns_label_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = write(&CertsArgs {
            namespace: "Tide_cast".into(),
            ..args(dir.path())
        })
        .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
        assert!(
            format!("{e}").starts_with("--namespace: \"Tide_cast\""),
            "{e}"
        );
    }

    #[test]
    fn one_of_ca_crt_and_ca_key_alone_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "x").unwrap();
        let e = write(&args(dir.path())).unwrap_err();
        assert!(
            format!("{e:#}").contains("only one of ca.crt and ca.key"),
            "{e:#}"
        );
    }
}
