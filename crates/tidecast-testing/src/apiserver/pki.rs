//! The certificates the authentication tests need, generated with rcgen.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A certificate and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// Which of the [`Pki`]'s CAs signs a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ca {
    /// The CA of ordinary client certificates (`client-ca-file`).
    Client,
    /// The front-proxy CA (`requestheader-client-ca-file`).
    FrontProxy,
    /// A CA that nothing trusts.
    Other,
    /// The CA of the server's serving certificate (what the APIService's caBundle is).
    Serving,
}

impl Ca {
    fn stem(self) -> &'static str {
        match self {
            Ca::Client => "client-ca",
            Ca::FrontProxy => "front-proxy-ca",
            Ca::Other => "other-ca",
            Ca::Serving => "serving-ca",
        }
    }
}

/// The PKI of a cluster's delegated authentication, as PEM files in one directory: three
/// independent CAs (each `<stem>.crt` with its key `<stem>.key`) and a client
/// certificate signed by each.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// CA of ordinary client certificates: the ConfigMap's `client-ca-file`.
    pub client_ca: PathBuf,
    /// Signed by `client_ca`: CN = the user, one O per group.
    pub client: CertFiles,
    /// The front-proxy CA: the ConfigMap's `requestheader-client-ca-file`.
    pub front_proxy_ca: PathBuf,
    /// Signed by `front_proxy_ca` with the front-proxy CN (what kube-apiserver's
    /// `--proxy-client-cert-file` is).
    pub front_proxy: CertFiles,
    /// A CA that neither of the others is related to.
    pub other_ca: PathBuf,
    /// Signed by `other_ca`, with the front-proxy CN: an impostor of the front proxy.
    pub other: CertFiles,
    /// The front-proxy certificate's CN (the ConfigMap's allowed name).
    pub front_proxy_cn: String,
    /// The CA of `serving` (clients trust it to reach the server under test).
    pub serving_ca: PathBuf,
    /// A serving certificate for 127.0.0.1 and localhost signed by `serving_ca`.
    pub serving: CertFiles,
}

impl Pki {
    /// Generate the CAs and certificates into `dir` (created if missing): the client
    /// certificate has CN `user` and an O per group, the front-proxy certificate and the
    /// impostor have CN `front_proxy_cn`. All are valid now and for centuries (rcgen's
    /// default validity); client certificates carry the clientAuth EKU.
    pub fn generate(dir: &Path, user: &str, groups: &[&str], front_proxy_cn: &str) -> Pki {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        for ca in [Ca::Client, Ca::FrontProxy, Ca::Other, Ca::Serving] {
            let (cert, key) = self_signed_ca(&ca_cn(ca));
            write(&dir.join(format!("{}.crt", ca.stem())), &cert);
            write(&dir.join(format!("{}.key", ca.stem())), &key);
        }
        let mut pki = Pki {
            dir: dir.to_path_buf(),
            client_ca: dir.join("client-ca.crt"),
            client: CertFiles {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            front_proxy_ca: dir.join("front-proxy-ca.crt"),
            front_proxy: CertFiles {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            other_ca: dir.join("other-ca.crt"),
            other: CertFiles {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            },
            front_proxy_cn: front_proxy_cn.to_string(),
            serving_ca: dir.join("serving-ca.crt"),
            serving: CertFiles {
                cert: dir.join("serving.crt"),
                key: dir.join("serving.key"),
            },
        };
        let serving_ca_key = read(&dir.join("serving-ca.key"));
        let (cert, key) = serving_cert(&issuer(&ca_cn(Ca::Serving), &serving_ca_key));
        write(&pki.serving.cert, &cert);
        write(&pki.serving.key, &key);
        pki.client = pki.issue(Ca::Client, "client", user, groups);
        pki.front_proxy = pki.issue(Ca::FrontProxy, "front-proxy-client", front_proxy_cn, &[]);
        pki.other = pki.issue(Ca::Other, "other-client", front_proxy_cn, &[]);
        pki
    }

    /// One more client certificate signed by `ca`, CN `cn`, one O per entry of `orgs`,
    /// written as `<name>.crt` and `<name>.key` (e.g. a front-proxy certificate whose CN
    /// is not in the allowed names).
    pub fn issue(&self, ca: Ca, name: &str, cn: &str, orgs: &[&str]) -> CertFiles {
        let key_path = self.dir.join(format!("{}.key", ca.stem()));
        let ca_key = KeyPair::from_pem(&read(&key_path))
            .unwrap_or_else(|e| panic!("{}: not a key: {e}", key_path.display()));
        // The issuer needs the CA's name, key and key usages: the ones it was made with.
        let issuer = Issuer::new(ca_params(&ca_cn(ca)), ca_key);
        let (cert, key) = client_cert(cn, orgs, &issuer);
        let files = CertFiles {
            cert: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
        };
        write(&files.cert, &cert);
        write(&files.key, &key);
        files
    }

    /// The `kube-system/extension-apiserver-authentication` data kube-apiserver would
    /// publish for this PKI: both CAs, the front-proxy CN as the one allowed name, and the
    /// conventional `X-Remote-*` header names (all lists as JSON array strings).
    pub fn configmap_data(&self) -> BTreeMap<String, String> {
        let names = serde_json::to_string(&[&self.front_proxy_cn]).expect("strings serialize");
        [
            ("client-ca-file", read(&self.client_ca)),
            ("requestheader-client-ca-file", read(&self.front_proxy_ca)),
            ("requestheader-allowed-names", names),
            (
                "requestheader-username-headers",
                r#"["X-Remote-User"]"#.into(),
            ),
            (
                "requestheader-group-headers",
                r#"["X-Remote-Group"]"#.into(),
            ),
            (
                "requestheader-extra-headers-prefix",
                r#"["X-Remote-Extra-"]"#.into(),
            ),
            ("requestheader-uid-headers", r#"["X-Remote-Uid"]"#.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

fn ca_cn(ca: Ca) -> String {
    format!("tidecast test {}", ca.stem())
}

/// The parameters of a CA named `cn`; deterministic, so an [`Issuer`] can be rebuilt from
/// them and the CA's key.
fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A new self-signed CA named `cn`: (certificate PEM, key PEM).
pub(super) fn self_signed_ca(cn: &str) -> (String, String) {
    let key = KeyPair::generate().expect("ring generates keys");
    let cert = ca_params(cn).self_signed(&key).expect("a CA signs itself");
    (cert.pem(), key.serialize_pem())
}

/// An [`Issuer`] from a CA's key PEM, for a CA made by [`self_signed_ca`] with `cn`.
pub(super) fn issuer(cn: &str, key_pem: &str) -> Issuer<'static, KeyPair> {
    Issuer::new(
        ca_params(cn),
        KeyPair::from_pem(key_pem).expect("a key we wrote"),
    )
}

/// A client certificate (clientAuth) for `cn` with an O per entry of `orgs`:
/// (certificate PEM, key PEM).
fn client_cert(cn: &str, orgs: &[&str], issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to parse");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().expect("ring generates keys");
    let cert = params.signed_by(&key, issuer).expect("the CA signs");
    let der = with_subject(cert.der(), &subject(cn, orgs), issuer.key());
    let pem = pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    (pem, key.serialize_pem())
}

/// The DER of the Name CN=`cn`, O=`orgs[0]`, O=`orgs[1]`, ...: one RDN each, as Go's
/// `pkix.Name` writes several organizations.
fn subject(cn: &str, orgs: &[&str]) -> Vec<u8> {
    const CN: [u8; 3] = [0x55, 0x04, 0x03]; // 2.5.4.3
    const O: [u8; 3] = [0x55, 0x04, 0x0a]; // 2.5.4.10
    let rdn = |oid: &[u8], value: &str| {
        let attribute = [der::tlv(0x06, oid), der::tlv(0x0c, value.as_bytes())].concat();
        der::tlv(0x31, &der::tlv(0x30, &attribute))
    };
    let mut rdns = rdn(&CN, cn);
    for o in orgs {
        rdns.extend(rdn(&O, o));
    }
    der::tlv(0x30, &rdns)
}

/// `cert` with its subject replaced by `subject` (DER Name), signed again by `ca_key`.
/// Kubernetes reads each O of a client certificate as a group, and rcgen keeps one value
/// per attribute type, so the subject is written here.
fn with_subject(cert: &[u8], subject: &[u8], ca_key: &KeyPair) -> Vec<u8> {
    use rcgen::SigningKey;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let (tbs, rest) = der::next(der::content(cert));
    let (algorithm, _) = der::next(rest);
    // TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity,
    //                               subject, subjectPublicKeyInfo, [3] extensions }
    let mut fields = Vec::new();
    let mut rest = der::content(tbs);
    while !rest.is_empty() {
        let (field, more) = der::next(rest);
        fields.push(field);
        rest = more;
    }
    assert_eq!(
        fields.len(),
        8,
        "an X.509 v3 certificate as rcgen writes it"
    );
    fields[5] = subject;
    let tbs = der::tlv(0x30, &fields.concat());
    let signature = ca_key.sign(&tbs).expect("the CA key signs");
    let bits = der::tlv(0x03, &[&[0u8][..], &signature].concat());
    der::tlv(0x30, &[&tbs[..], algorithm, &bits].concat())
}

/// Just enough DER: single-byte tags, definite lengths.
mod der {
    /// The length of the TLV at the start of `input`: (header length, content length).
    fn lengths(input: &[u8]) -> (usize, usize) {
        match input[1] {
            n if n < 0x80 => (2, n as usize),
            n => {
                let k = (n & 0x7f) as usize;
                let len = input[2..2 + k].iter().fold(0, |a, b| a << 8 | *b as usize);
                (2 + k, len)
            }
        }
    }

    /// The first TLV of `input`, whole, and what follows it.
    pub(super) fn next(input: &[u8]) -> (&[u8], &[u8]) {
        let (header, len) = lengths(input);
        input.split_at(header + len)
    }

    /// The content of the TLV `tlv`.
    pub(super) fn content(tlv: &[u8]) -> &[u8] {
        let (header, len) = lengths(tlv);
        &tlv[header..header + len]
    }

    /// A TLV of `tag` around `content`.
    pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let len = content.len();
        let mut out = vec![tag];
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend(&bytes[skip..]);
        }
        out.extend(content);
        out
    }
}

/// A serving certificate (serverAuth) for 127.0.0.1 and localhost: (certificate PEM, key PEM).
pub(super) fn serving_cert(issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver (tidecast fake)");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().expect("ring generates keys");
    let cert = params.signed_by(&key, issuer).expect("the CA signs");
    (cert.pem(), key.serialize_pem())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub(super) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
