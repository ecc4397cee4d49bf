//! How a user says to reach Prometheus: the one settings type behind the CLI's flags and the
//! serve config's `prometheus:` section.

use crate::{Auth, Client, ClientConfig, Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where Prometheus is and how to authenticate, as configured. Secrets and CA bundles are
/// named by file (as Kubernetes mounts them) and read by [`ClientSettings::client`], so a
/// configuration can be checked without holding them.
///
/// ```
/// use std::time::Duration;
/// use tidecast_prometheus::ClientSettings;
///
/// let settings = ClientSettings::new("http://prometheus.monitoring:9090")
///     .with_timeout(Duration::from_secs(10))
///     .with_header("X-Scope-OrgID", "tenant-a");
/// let client = settings.client().unwrap();
/// assert_eq!(client.url(), "http://prometheus.monitoring:9090");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientSettings {
    /// URL, timeouts, retries, headers: everything that needs no file.
    base: ClientConfig,
    bearer_token_file: Option<PathBuf>,
    basic_auth: Option<(String, Password)>,
    ca_file: Option<PathBuf>,
}

/// Where the basic auth password comes from.
#[derive(Clone)]
enum Password {
    File(PathBuf),
    Given(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::File(p) => write!(f, "File({})", p.display()),
            // Never print secrets.
            Password::Given(_) => f.write_str("Given(<redacted>)"),
        }
    }
}

impl ClientSettings {
    /// Settings for the Prometheus HTTP API at `url`, with [`ClientConfig::new`]'s defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            base: ClientConfig::new(url),
            bearer_token_file: None,
            basic_auth: None,
            ca_file: None,
        }
    }

    /// Per-request timeout (whole answer).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.base = self.base.with_timeout(t);
        self
    }

    /// Send `Authorization: Bearer <token>`, the token read from `path` (trimmed).
    pub fn with_bearer_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.bearer_token_file = Some(path.into());
        self
    }

    /// HTTP basic authentication, the password read from `path` (trimmed, as Prometheus'
    /// own `password_file`).
    pub fn with_basic_auth_password_file(
        mut self,
        username: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> Self {
        self.basic_auth = Some((username.into(), Password::File(path.into())));
        self
    }

    /// HTTP basic authentication with a password already at hand (e.g. from the environment).
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.basic_auth = Some((username.into(), Password::Given(password.into())));
        self
    }

    /// Trust the PEM CA bundle in `path` (in addition to the system roots).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// An extra header on every request (e.g. `X-Scope-OrgID` for Mimir/Cortex tenants).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.base = self.base.with_header(name, value);
        self
    }

    /// Attempts per request (1 = no retries).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.base = self.base.with_max_attempts(n);
        self
    }

    /// Chunks fetched concurrently.
    pub fn with_max_parallel(mut self, n: usize) -> Self {
        self.base = self.base.with_max_parallel(n);
        self
    }

    /// Largest answer accepted, in bytes.
    pub fn with_max_response_bytes(mut self, n: usize) -> Self {
        self.base = self.base.with_max_response_bytes(n);
        self
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.base.url()
    }

    /// Read the files the settings name and build the client. Fails naming the file that
    /// cannot be read, or on a bad URL, CA bundle or header, or when both a bearer token and
    /// basic auth are configured.
    pub fn client(&self) -> Result<Client> {
        let mut cfg = self.base.clone().with_auth(self.auth()?);
        if let Some(path) = &self.ca_file {
            cfg = cfg.with_ca_pem(std::fs::read(path).map_err(read_error("CA file", path))?);
        }
        Client::new(cfg)
    }

    fn auth(&self) -> Result<Auth> {
        match (&self.bearer_token_file, &self.basic_auth) {
            (Some(_), Some(_)) => Err(Error::Config(
                "a bearer token file and basic auth are both set; use one".into(),
            )),
            (Some(path), None) => Ok(Auth::Bearer(read_secret("bearer token file", path)?)),
            (None, Some((username, password))) => Ok(Auth::Basic {
                username: username.clone(),
                password: match password {
                    Password::File(path) => read_secret("basic auth password file", path)?,
                    Password::Given(p) => p.clone(),
                },
            }),
            (None, None) => Ok(Auth::None),
        }
    }
}

/// A secret file's content without surrounding whitespace (the newline `echo` leaves).
fn read_secret(what: &'static str, path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(read_error(what, path))?;
    Ok(text.trim().to_string())
}

fn read_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::ReadFile { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named_with_its_cause() {
        let e = ClientSettings::new("http://127.0.0.1:9090")
            .with_bearer_token_file("/no/such/token")
            .client()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "reading the bearer token file /no/such/token"
        );
        let cause = std::error::Error::source(&e).expect("the io error is kept");
        assert!(cause.to_string().contains("No such file"), "{cause}");
    }

    #[test]
    fn a_bearer_token_and_basic_auth_together_are_refused() {
        let e = ClientSettings::new("http://127.0.0.1:9090")
            .with_bearer_token_file("/t")
            .with_basic_auth("u", "p")
            .client()
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }

    #[test]
    fn passwords_never_print() {
        let s = ClientSettings::new("http://x").with_basic_auth("alice", "s3cret");
        let shown = format!("{s:?}");
        assert!(
            shown.contains("alice") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
