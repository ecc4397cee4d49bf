/// Errors from building series, parsing durations and timestamps, and fitting models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duration string such as `15m` could not be parsed.
    #[error("invalid duration {input:?}: {reason} (expected e.g. 90s, 15m, 1h, 7d)")]
    Duration {
        /// The text given.
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A timestamp is neither RFC 3339 nor Unix seconds.
    #[error(
        "invalid timestamp {input:?}: expected RFC 3339 (2026-10-01T06:00:00Z) or Unix seconds"
    )]
    Timestamp {
        /// The text given.
        input: String,
    },
    /// The series has too few samples for what was asked.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// A parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A model's own error (its crate's error type, boxed so the chain of causes is kept).
    #[error(transparent)]
    Model(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
