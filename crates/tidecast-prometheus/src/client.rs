//! The HTTP client: configuration, retries, chunked range queries.

use crate::wire::{error_body, parse_result};
use crate::{Error, LabeledSeries, Labels, MAX_STEPS_PER_QUERY, Result};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tidecast_core::Sample;

/// Credentials sent with every request.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// How to reach Prometheus. Build with [`ClientConfig::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientConfig {
    url: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: usize,
    auth: Auth,
    ca_pem: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    max_parallel: usize,
}

impl ClientConfig {
    /// Defaults: 30 s request timeout, 5 s connect timeout, 256 MiB answers, 4 attempts
    /// with backoff from 250 ms up to 8 s, 4 chunks in flight.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_string(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 256 << 20,
            auth: Auth::None,
            ca_pem: None,
            headers: Vec::new(),
            max_attempts: 4,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_parallel: 4,
        }
    }
    /// Per-request timeout (whole answer).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Largest answer accepted, in bytes.
    pub fn with_max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = n;
        self
    }
    /// Credentials.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    /// Trust this PEM CA bundle (in addition to the system roots).
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }
    /// An extra header on every request (e.g. `X-Scope-OrgID` for Mimir/Cortex tenants).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Attempts per request (1 = no retries).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// First and largest backoff delay between attempts.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }
    /// Chunks fetched concurrently.
    pub fn with_max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = n.max(1);
        self
    }
    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A range query: PromQL evaluated at `start, start + step, ..., <= end` (Unix seconds).
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// PromQL.
    pub query: String,
    /// First evaluation time.
    pub start: i64,
    /// Last evaluation time (inclusive).
    pub end: i64,
    /// Seconds between evaluations.
    pub step: i64,
}

impl RangeQuery {
    /// The chunks `[s, e]` that keep each call within Prometheus' point limit:
    /// `e = min(s + 11000 * step, end)`, next `s = e + step`.
    pub fn chunks(&self) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut s = self.start;
        while s <= self.end {
            let e = (s + MAX_STEPS_PER_QUERY * self.step).min(self.end);
            out.push((s, e));
            s = e + self.step;
        }
        out
    }
}

/// A Prometheus API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    cfg: Arc<ClientConfig>,
}

impl Client {
    /// Build a client; fails on a bad URL, CA bundle or header.
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        // reqwest is built without a bundled crypto provider; install ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = reqwest::Url::parse(&cfg.url)
            .map_err(|e| Error::Config(format!("invalid Prometheus URL {:?}: {e}", cfg.url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "Prometheus URL {:?} must start with http:// or https://",
                cfg.url
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::Config(format!("invalid header name {k:?}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|_| Error::Config(format!("invalid value for header {k}")))?;
            headers.insert(name, value);
        }
        let mut b = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.timeout)
            .user_agent(concat!("tidecast/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &cfg.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("CA bundle: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("CA bundle holds no certificate".into()));
            }
            b = b.tls_certs_merge(certs);
        }
        let http = b
            .build()
            .map_err(|e| Error::Config(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            cfg: Arc::new(cfg),
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// Run a range query of any length: chunked under the point limit, chunks fetched in
    /// parallel, series merged by label set in time order. `progress(done, total)` is
    /// called as chunks complete. Any failed chunk fails the whole query.
    pub async fn query_range(
        &self,
        q: &RangeQuery,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Vec<LabeledSeries>> {
        if q.step <= 0 {
            return Err(Error::Config(format!(
                "step must be positive, got {}s",
                q.step
            )));
        }
        let chunks = q.chunks();
        let total = chunks.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let parts: Vec<Vec<LabeledSeries>> = futures::stream::iter(chunks)
            .map(|(s, e)| {
                let done = &done;
                async move {
                    let r = self.range_chunk(&q.query, s, e, q.step).await;
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(n, total);
                    r
                }
            })
            .buffered(self.cfg.max_parallel)
            .try_collect()
            .await?;
        let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
        for part in parts {
            for s in part {
                merged.entry(s.labels).or_default().extend(s.samples);
            }
        }
        Ok(merged
            .into_iter()
            .map(|(labels, samples)| LabeledSeries { labels, samples })
            .collect())
    }

    /// An instant query at `time` (Unix seconds). A range selector (`m[35d]`) returns raw
    /// samples without the point limit.
    pub async fn query(&self, query: &str, time: Option<f64>) -> Result<Vec<LabeledSeries>> {
        let mut params = vec![("query", query.to_string())];
        if let Some(t) = time {
            params.push(("time", format!("{t}")));
        }
        let (url, body) = self.get("/api/v1/query", &params).await?;
        parse_result(&url, &body)
    }

    async fn range_chunk(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<LabeledSeries>> {
        let params = [
            ("query", query.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ];
        let (url, body) = self.get("/api/v1/query_range", &params).await?;
        parse_result(&url, &body)
    }

    /// GET with retries; returns the URL (for messages) and the body.
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<(String, Vec<u8>)> {
        let url = format!("{}{}", self.cfg.url, path);
        let mut attempt = 1;
        loop {
            match self.try_get(&url, params).await {
                Ok(body) => return Ok((url, body)),
                Err(e) if e.retryable() && attempt < self.cfg.max_attempts => {
                    let delay = self.backoff(attempt);
                    tracing::warn!(url = %url, attempt, error = %Causes(&e), delay_ms = delay.as_millis() as u64, "prometheus request failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(Error::Unavailable {
                    url, status, body, ..
                }) => {
                    return Err(Error::Unavailable {
                        url,
                        status,
                        attempts: attempt,
                        body,
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Exponential backoff with "equal jitter": uniform in `[d/2, d]`, `d = min(max, base * 2^(attempt-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .cfg
            .backoff_base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cfg.backoff_max);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }

    async fn try_get(&self, url: &str, params: &[(&str, String)]) -> Result<Vec<u8>> {
        let mut req = self.http.get(url).query(params);
        match &self.cfg.auth {
            Auth::None => {}
            Auth::Bearer(t) => req = req.bearer_auth(t),
            Auth::Basic { username, password } => req = req.basic_auth(username, Some(password)),
        }
        let mut resp = req.send().await.map_err(|e| self.transport(url, e))?;
        let status = resp.status();
        if let Some(len) = resp.content_length()
            && len as usize > self.cfg.max_response_bytes
        {
            return Err(Error::TooLarge {
                url: url.into(),
                limit: self.cfg.max_response_bytes,
            });
        }
        let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(url, e))? {
            if body.len() + chunk.len() > self.cfg.max_response_bytes {
                return Err(Error::TooLarge {
                    url: url.into(),
                    limit: self.cfg.max_response_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(body);
        }
        let code = status.as_u16();
        if status.is_client_error() && code != 429 {
            let (error_type, error) = error_body(&body).unwrap_or_else(|| {
                (
                    "http".into(),
                    String::from_utf8_lossy(&body[..body.len().min(512)]).into(),
                )
            });
            return Err(Error::Query {
                url: url.into(),
                status: code,
                error_type,
                error,
            });
        }
        Err(Error::Unavailable {
            url: url.into(),
            status: code,
            attempts: 1,
            body: String::from_utf8_lossy(&body[..body.len().min(512)]).into(),
        })
    }

    fn transport(&self, url: &str, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                url: url.into(),
                timeout_ms: self.cfg.timeout.as_millis(),
            }
        } else if e.is_connect() {
            Error::Connect {
                url: url.into(),
                source: Box::new(e),
            }
        } else {
            Error::Transport {
                url: url.into(),
                source: Box::new(e),
            }
        }
    }
}

/// An error and its causes, `: `-separated, for a log line.
struct Causes<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_range_without_gaps_or_overlap() {
        let q = RangeQuery {
            query: "m".into(),
            start: 0,
            end: 60 * 30_000,
            step: 60,
        };
        let c = q.chunks();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], (0, 660_000));
        assert_eq!(c[1].0, c[0].1 + 60);
        assert_eq!(c.last().unwrap().1, 1_800_000);
        let points: i64 = c.iter().map(|(s, e)| (e - s) / 60 + 1).sum();
        assert_eq!(points, 30_001);
        assert!(c.iter().all(|(s, e)| (e - s) / 60 <= MAX_STEPS_PER_QUERY));
    }

    #[test]
    fn a_range_of_exactly_the_limit_is_one_chunk() {
        let q = RangeQuery {
            query: "m".into(),
            start: 0,
            end: MAX_STEPS_PER_QUERY * 60,
            step: 60,
        };
        assert_eq!(q.chunks(), vec![(0, MAX_STEPS_PER_QUERY * 60)]);
    }

    #[test]
    fn bad_urls_and_headers_are_config_errors() {
        assert!(Client::new(ClientConfig::new("ftp://x")).is_err());
        assert!(Client::new(ClientConfig::new("not a url")).is_err());
        let e =
            Client::new(ClientConfig::new("http://x").with_header("bad header", "v")).unwrap_err();
        assert!(e.to_string().contains("bad header"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = Client::new(
            ClientConfig::new("http://127.0.0.1:1")
                .with_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        )
        .unwrap();
        for _ in 0..50 {
            assert!(c.backoff(1) <= Duration::from_millis(100));
            assert!(c.backoff(5) <= Duration::from_millis(400));
            assert!(c.backoff(5) >= Duration::from_millis(200));
        }
    }

    #[test]
    fn secrets_never_print() {
        let a = Auth::Bearer("s3cret".into());
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
