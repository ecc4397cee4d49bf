#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod client;
mod settings;
mod store;
mod wire;

pub use client::{Auth, Client, ClientConfig, RangeQuery};
pub use settings::ClientSettings;
pub use store::{RefreshStats, SeriesStore};

use std::collections::BTreeMap;
use tidecast_core::Sample;

/// Entry points for the fuzz targets (fuzz/), not an API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{LabeledSeries, Result};

    /// Parse a `query` or `query_range` answer body as the client does; `url` is only
    /// for messages.
    pub fn parse_result(url: &str, body: &[u8]) -> Result<Vec<LabeledSeries>> {
        crate::wire::parse_result(url, body)
    }

    /// The `errorType` and `error` of an error answer body, if it is one.
    pub fn error_body(body: &[u8]) -> Option<(String, String)> {
        crate::wire::error_body(body)
    }

    /// One sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`).
    pub fn parse_value(s: &str) -> Option<f64> {
        crate::wire::parse_value(s)
    }
}

/// Prometheus' limit on points per series in one `query_range` call is 11,000 steps.
pub const MAX_STEPS_PER_QUERY: i64 = 11_000;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledSeries {
    /// The series' labels (`__name__` included when the query keeps it).
    pub labels: Labels,
    /// Samples in time order; non-finite values are `NaN` (missing).
    pub samples: Vec<Sample>,
}

/// Format a label set the PromQL way: `{service="tv-api",lb="slb-1"}`.
pub fn format_labels(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The one series of a result that must hold at most one (a forecast or serving target):
/// `Ok(None)` when there is no data, an error naming the label sets when there are several.
pub fn single_series(
    url: &str,
    query: &str,
    mut series: Vec<LabeledSeries>,
) -> Result<Option<LabeledSeries>> {
    match series.len() {
        0 | 1 => Ok(series.pop()),
        count => {
            let mut sets: Vec<String> = series
                .iter()
                .take(5)
                .map(|s| format_labels(&s.labels))
                .collect();
            if count > 5 {
                sets.push("...".into());
            }
            Err(Error::NotOneSeries {
                url: url.to_string(),
                query: query.to_string(),
                count,
                label_sets: sets.join(", "),
            })
        }
    }
}

/// Errors talking to Prometheus. Each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable (bad URL, unreadable CA file, bad header).
    #[error("prometheus client configuration: {0}")]
    Config(String),
    /// No connection could be made (refused, DNS, TLS) after all retries.
    #[error("cannot connect to {url}")]
    Connect {
        /// The URL requested.
        url: String,
        /// What failed (the HTTP client's error and its causes).
        #[source]
        source: BoxError,
    },
    /// The server did not answer within the request timeout, after all retries.
    #[error("{url}: no complete answer within {timeout_ms} ms")]
    Timeout {
        /// The URL requested.
        url: String,
        /// The per-request timeout.
        timeout_ms: u128,
    },
    /// The connection broke while the answer was being read, after all retries.
    #[error("{url}: connection lost while reading the answer")]
    Transport {
        /// The URL requested.
        url: String,
        /// What failed (the HTTP client's error and its causes).
        #[source]
        source: BoxError,
    },
    /// A file the settings name (token, password, CA bundle) cannot be read.
    #[error("reading the {what} {}", path.display())]
    ReadFile {
        /// Which file it is, e.g. `bearer token file`.
        what: &'static str,
        /// The path as configured.
        path: std::path::PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// Prometheus rejected the query (4xx): its `errorType` and `error`, verbatim.
    #[error("{url}: HTTP {status}: {error_type}: {error}")]
    Query {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// Prometheus' `errorType` (e.g. `bad_data`).
        error_type: String,
        /// Prometheus' `error` message.
        error: String,
    },
    /// The server kept failing (5xx or 429) after all retries.
    #[error("{url}: HTTP {status} after {attempts} attempts: {body}")]
    Unavailable {
        /// The URL requested.
        url: String,
        /// The last HTTP status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The start of the last response body.
        body: String,
    },
    /// The answer exceeded the configured size limit.
    #[error(
        "{url}: answer larger than the {limit} byte limit; shorten the range or raise the limit"
    )]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A query that must return one series returned several.
    #[error(
        "{url}: the query {query:?} returned {count} series ({label_sets}); exactly one is needed: aggregate it, e.g. sum(...), or select one label set"
    )]
    NotOneSeries {
        /// The Prometheus base URL.
        url: String,
        /// The PromQL.
        query: String,
        /// Series returned.
        count: usize,
        /// The first few label sets.
        label_sets: String,
    },
    /// The answer is not the JSON the Prometheus API documents.
    #[error("{url}: malformed answer: {message}")]
    Decode {
        /// The URL requested.
        url: String,
        /// What was wrong.
        message: String,
    },
}

impl Error {
    /// Whether another attempt may succeed.
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Timeout { .. }
                | Error::Transport { .. }
                | Error::Unavailable { .. }
        )
    }
}

/// The cause of a connect or transport error, boxed so the HTTP client's types stay out of
/// this crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
