use crate::{Error, Result, format_err};
use polars::prelude::*;
use std::path::Path;
use tidecast_core::{Sample, Series, SeriesBuilder, parse_timestamp};

/// How to read a series file.
#[derive(Debug, Clone)]
#[must_use]
pub struct ReadOptions {
    timestamp_column: String,
    value_column: String,
    step: Option<i64>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            timestamp_column: "timestamp".into(),
            value_column: "value".into(),
            step: None,
        }
    }
}

impl ReadOptions {
    /// Read `timestamp` and `value`, inferring the step.
    pub fn new() -> Self {
        Self::default()
    }
    /// The timestamp column's name.
    pub fn timestamp_column(mut self, name: impl Into<String>) -> Self {
        self.timestamp_column = name.into();
        self
    }
    /// The value column's name.
    pub fn value_column(mut self, name: impl Into<String>) -> Self {
        self.value_column = name.into();
        self
    }
    /// Use this step in seconds instead of inferring it.
    pub fn step(mut self, step: Option<i64>) -> Self {
        self.step = step;
        self
    }
}

fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// Read a CSV or Parquet series file into a regular [`Series`].
pub fn read_series(path: &Path, opts: &ReadOptions) -> Result<Series> {
    let samples = read_samples(path, opts)?;
    SeriesBuilder::new()
        .step(opts.step)
        .build(&samples)
        .map_err(|source| Error::Series {
            path: path.to_path_buf(),
            source,
        })
}

/// Read the raw samples of a series file, in file order (non-finite values as `NaN`).
pub fn read_samples(path: &Path, opts: &ReadOptions) -> Result<Vec<Sample>> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return Err(format_err(
            path,
            "is a directory (expected a CSV or Parquet series file)",
        ));
    }
    if meta.len() == 0 {
        return Err(format_err(
            path,
            "the file is empty (expected a header row)",
        ));
    }
    let df = if is_parquet(path) {
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        read_parquet(path, file)?
    } else {
        // Every column as text: parsing is ours, so errors can name the line and the cell.
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(|e| format_err(path, format!("not a readable CSV file: {e}")))?
    };
    let column = |name: &str| {
        df.column(name).map_err(|_| Error::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: df
                .get_column_names()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    };
    let ts_col = column(&opts.timestamp_column)?;
    let val_col = column(&opts.value_column)?;
    if df.height() == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let timestamps = timestamps(path, ts_col)?;
    let values = values(path, val_col)?;
    Ok(timestamps
        .into_iter()
        .zip(values)
        .map(|(timestamp, value)| Sample { timestamp, value })
        .collect())
}

/// A Parquet file's frame. polars panics on some malformed files (fuzzing found its bitmap
/// and footer checks): such a file is an error naming it, not a crash. The panic's message
/// becomes the error's; the process-wide panic hook is swapped for the read so it is not
/// also printed (a read runs before any server thread exists).
fn read_parquet(path: &Path, file: std::fs::File) -> Result<DataFrame> {
    let message = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = message.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        *seen.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }));
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetReader::new(file).finish()
    }));
    std::panic::set_hook(hook);
    match read {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(e)) => Err(format_err(
            path,
            format!("not a readable Parquet file: {e}"),
        )),
        Err(_) => Err(format_err(
            path,
            format!(
                "not a readable Parquet file: the Parquet reader failed on it ({})",
                message.lock().unwrap_or_else(|p| p.into_inner())
            ),
        )),
    }
}

/// Line number of row `i` (the header is line 1).
fn line(i: usize) -> usize {
    i + 2
}

fn timestamps(path: &Path, col: &Column) -> Result<Vec<f64>> {
    let bad = |i: usize, value: String| Error::BadTimestamp {
        path: path.to_path_buf(),
        line: line(i),
        value,
    };
    match col.dtype() {
        DataType::String => col
            .str()
            .map_err(|e| format_err(path, e))?
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let cell = cell.unwrap_or("");
                parse_timestamp(cell).map_err(|_| bad(i, cell.to_string()))
            })
            .collect(),
        DataType::Datetime(unit, _) => {
            let per_second = match unit {
                TimeUnit::Milliseconds => 1e3,
                TimeUnit::Microseconds => 1e6,
                TimeUnit::Nanoseconds => 1e9,
            };
            let raw = col
                .cast(&DataType::Int64)
                .map_err(|e| format_err(path, e))?;
            raw.i64()
                .map_err(|e| format_err(path, e))?
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.map(|v| v as f64 / per_second)
                        .ok_or_else(|| bad(i, "null".into()))
                })
                .collect()
        }
        dt if dt.is_primitive_numeric() => {
            let raw = col
                .cast(&DataType::Float64)
                .map_err(|e| format_err(path, e))?;
            raw.f64()
                .map_err(|e| format_err(path, e))?
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) if v.is_finite() => Ok(v),
                    other => Err(bad(i, format!("{other:?}"))),
                })
                .collect()
        }
        other => Err(format_err(
            path,
            format!("timestamp column has type {other}; expected text, a datetime or Unix seconds"),
        )),
    }
}

fn values(path: &Path, col: &Column) -> Result<Vec<f64>> {
    match col.dtype() {
        DataType::String => col
            .str()
            .map_err(|e| format_err(path, e))?
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                parse_value(cell.unwrap_or("")).ok_or_else(|| Error::BadValue {
                    path: path.to_path_buf(),
                    line: line(i),
                    value: cell.unwrap_or("").to_string(),
                })
            })
            .collect(),
        dt if dt.is_primitive_numeric() => {
            let raw = col
                .cast(&DataType::Float64)
                .map_err(|e| format_err(path, e))?;
            Ok(raw
                .f64()
                .map_err(|e| format_err(path, e))?
                .iter()
                .map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::NAN))
                .collect())
        }
        other => Err(format_err(
            path,
            format!("value column has type {other}; expected numbers"),
        )),
    }
}

/// A value cell: a number, or a missing marker (empty, NaN, Inf, null) as `NaN`.
fn parse_value(cell: &str) -> Option<f64> {
    let c = cell.trim();
    if c.is_empty() || c.eq_ignore_ascii_case("null") || c.eq_ignore_ascii_case("na") {
        return Some(f64::NAN);
    }
    let v: f64 = c.parse().ok()?;
    Some(if v.is_finite() { v } else { f64::NAN })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn read(text: &str) -> Result<Series> {
        let f = file(text);
        read_series(f.path(), &ReadOptions::new())
    }

    /// Regression: files the fuzzer made polars panic on (its bitmap, footer and page
    /// checks) are an error naming the file.
    #[test]
    fn malformed_parquet_that_panics_polars_is_an_error_naming_the_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/malformed");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let e = read_samples(&path, &ReadOptions::new())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&path.display().to_string()), "{e}");
            assert!(e.contains("not a readable Parquet file"), "{e}");
            seen += 1;
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn rfc3339_and_unix_seconds_both_read() {
        let s = read("timestamp,value\n2026-10-01T06:00:00Z,1\n2026-10-01T14:01:00+08:00,2\n1790834520,3\n1790834580.0,4\n").unwrap();
        assert_eq!(s.start(), 1_790_834_400);
        assert_eq!(s.step(), 60);
        assert_eq!(s.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn unsorted_rows_and_duplicates_keep_the_last_value() {
        let s = read("timestamp,value\n120,3\n0,1\n60,2\n0,7\n").unwrap();
        assert_eq!(s.values(), &[7.0, 2.0, 3.0]);
    }

    #[test]
    fn empty_nan_and_inf_cells_are_missing() {
        let s = read("timestamp,value\n0,1\n60,\n120,NaN\n180,+Inf\n240,-inf\n300,6\n").unwrap();
        assert_eq!(s.observed(), 2);
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn dst_bearing_offsets_map_to_the_right_instants() {
        // New York, the night clocks fall back: 01:30 EDT then 01:30 EST are an hour apart.
        let s = read(
            "timestamp,value\n2026-11-01T01:00:00-04:00,1\n2026-11-01T01:30:00-04:00,2\n\
             2026-11-01T01:00:00-05:00,3\n2026-11-01T01:30:00-05:00,4\n",
        )
        .unwrap();
        assert_eq!(s.step(), 1800);
        assert_eq!(s.values(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn other_columns_are_ignored_and_named_columns_selected() {
        let f = file("host,ts,conns\na,0,1\na,60,2\n");
        let s = read_series(
            f.path(),
            &ReadOptions::new()
                .timestamp_column("ts")
                .value_column("conns"),
        )
        .unwrap();
        assert_eq!(s.values(), &[1.0, 2.0]);
    }

    #[test]
    fn a_bad_timestamp_names_file_line_and_cell() {
        let f = file("timestamp,value\n0,1\n60,2\nyesterday,3\n");
        let e = read_series(f.path(), &ReadOptions::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{}:4:", f.path().display())), "{e}");
        assert!(e.contains("yesterday"), "{e}");
    }

    #[test]
    fn a_bad_value_names_file_line_and_cell() {
        let e = read("timestamp,value\n0,1\n60,lots\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3:") && e.contains("lots"), "{e}");
    }

    #[test]
    fn a_missing_column_lists_the_columns_there_are() {
        let e = read("time,val\n0,1\n").unwrap_err().to_string();
        assert!(
            e.contains("no column \"timestamp\"") && e.contains("time, val"),
            "{e}"
        );
    }

    #[test]
    fn empty_files_and_header_only_files_are_errors() {
        assert!(read("").unwrap_err().to_string().contains("empty"));
        assert!(
            read("timestamp,value\n")
                .unwrap_err()
                .to_string()
                .contains("no data rows")
        );
    }

    #[test]
    fn a_directory_is_named_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_samples(dir.path(), &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn a_single_row_cannot_give_a_step() {
        let e = read("timestamp,value\n0,1\n").unwrap_err().to_string();
        assert!(e.contains("two distinct timestamps"), "{e}");
    }
}
