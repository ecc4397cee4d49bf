#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod read;
mod write;

pub use read::{ReadOptions, read_samples, read_series};
pub use write::{Column, Format, write_table};

use std::path::PathBuf;

/// Errors reading or writing series files. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An output could not be created or written (a missing directory, a full disk, a closed
    /// pipe): not a problem of the input data.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The output file (or `<stdout>`).
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid CSV or Parquet.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A required column is absent.
    #[error("{path}: no column {column:?} (columns are: {available})")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has.
        available: String,
    },
    /// A timestamp cell cannot be parsed.
    #[error(
        "{path}:{line}: invalid timestamp {value:?} (expected RFC 3339 such as 2026-10-01T06:00:00Z, or Unix seconds)"
    )]
    BadTimestamp {
        /// The file.
        path: PathBuf,
        /// 1-based line number (the header is line 1) or Parquet row + 1.
        line: usize,
        /// The cell's text.
        value: String,
    },
    /// A value cell is neither a number nor a missing marker.
    #[error(
        "{path}:{line}: invalid value {value:?} (expected a number; empty, NaN or Inf mean missing)"
    )]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cell's text.
        value: String,
    },
    /// The file has a header but no data rows.
    #[error("{path}: no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The rows do not make a usable series.
    #[error("{path}: {source}")]
    Series {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: tidecast_core::Error,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn format_err(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
