use crate::{Error, Result, format_err};
use polars::prelude::{
    Column as PlColumn, DataFrame, DataType, NamedFrom, ParquetWriter, Series as PlSeries,
    TimeUnit, TimeZone,
};
use std::io::Write;
use std::path::Path;
use tidecast_core::format_timestamp;

/// One column of an output table.
#[derive(Debug, Clone)]
pub enum Column {
    /// Unix seconds, written as RFC 3339 UTC in CSV and as a UTC datetime in Parquet.
    Timestamp(String, Vec<i64>),
    /// Floats; `NaN` is written as an empty cell (CSV) or null (Parquet).
    Float(String, Vec<f64>),
    /// Text, e.g. a label value.
    Text(String, Vec<String>),
}

impl Column {
    fn name(&self) -> &str {
        match self {
            Column::Timestamp(n, _) | Column::Float(n, _) | Column::Text(n, _) => n,
        }
    }
    fn len(&self) -> usize {
        match self {
            Column::Timestamp(_, v) => v.len(),
            Column::Float(_, v) => v.len(),
            Column::Text(_, v) => v.len(),
        }
    }
}

/// Output file format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// `.parquet`/`.pq` is Parquet, anything else CSV.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq") => {
                Format::Parquet
            }
            _ => Format::Csv,
        }
    }
}

/// Write `columns` (all of one length) to `path` (format by extension), or as CSV to
/// stdout when `path` is `None`. Files are written to a temporary sibling and renamed into
/// place, so readers never see a partial file.
pub fn write_table(path: Option<&Path>, columns: &[Column]) -> Result<()> {
    let n = columns.first().map_or(0, Column::len);
    assert!(
        columns.iter().all(|c| c.len() == n),
        "all columns of a table have one length"
    );
    let Some(path) = path else {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        return write_csv(&mut lock, columns, n)
            .and_then(|()| lock.flush())
            .map_err(|source| Error::Write {
                path: "<stdout>".into(),
                source,
            });
    };
    let io_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| format_err(path, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(io_err)?;
        match Format::from_path(path) {
            Format::Csv => {
                let mut w = std::io::BufWriter::new(file);
                write_csv(&mut w, columns, n).map_err(io_err)?;
                w.into_inner()
                    .map_err(|e| io_err(e.into_error()))?
                    .sync_all()
                    .map_err(io_err)?;
            }
            Format::Parquet => {
                let mut df = to_frame(columns).map_err(|e| format_err(path, e))?;
                ParquetWriter::new(file)
                    .finish(&mut df)
                    .map_err(|e| format_err(path, e))?;
            }
        }
        std::fs::rename(&tmp, path).map_err(io_err)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_csv(w: &mut impl Write, columns: &[Column], n: usize) -> std::io::Result<()> {
    let header: Vec<String> = columns.iter().map(|c| csv_cell(c.name())).collect();
    writeln!(w, "{}", header.join(","))?;
    for i in 0..n {
        for (k, c) in columns.iter().enumerate() {
            if k > 0 {
                w.write_all(b",")?;
            }
            match c {
                Column::Timestamp(_, v) => w.write_all(format_timestamp(v[i]).as_bytes())?,
                Column::Float(_, v) if v[i].is_finite() => write!(w, "{}", v[i])?,
                Column::Float(..) => {}
                Column::Text(_, v) => w.write_all(csv_cell(&v[i]).as_bytes())?,
            }
        }
        w.write_all(b"\n")?;
    }
    Ok(())
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn to_frame(columns: &[Column]) -> polars::prelude::PolarsResult<DataFrame> {
    let cols = columns
        .iter()
        .map(|c| -> polars::prelude::PolarsResult<PlColumn> {
            Ok(match c {
                Column::Timestamp(n, v) => {
                    let ms: Vec<i64> = v.iter().map(|t| t * 1000).collect();
                    PlSeries::new(n.as_str().into(), ms)
                        .cast(&DataType::Datetime(
                            TimeUnit::Milliseconds,
                            Some(TimeZone::UTC),
                        ))?
                        .into()
                }
                Column::Float(n, v) => {
                    let opt: Vec<Option<f64>> =
                        v.iter().map(|x| x.is_finite().then_some(*x)).collect();
                    PlSeries::new(n.as_str().into(), opt).into()
                }
                Column::Text(n, v) => PlSeries::new(n.as_str().into(), v.clone()).into(),
            })
        })
        .collect::<polars::prelude::PolarsResult<Vec<_>>>()?;
    DataFrame::new_infer_height(cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReadOptions, read_series};

    fn table() -> Vec<Column> {
        vec![
            Column::Timestamp("timestamp".into(), vec![0, 60, 120]),
            Column::Float("value".into(), vec![1.5, f64::NAN, 3.0]),
            Column::Text("service".into(), vec!["a".into(), "b,c".into(), "d".into()]),
        ]
    }

    #[test]
    fn csv_round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        write_table(Some(&p), &table()).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("timestamp,value,service\n1970-01-01T00:00:00Z,1.5,a\n"));
        assert!(text.contains("1970-01-01T00:01:00Z,,\"b,c\"\n"));
        let s = read_series(&p, &ReadOptions::new()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.observed(), 2);
    }

    #[test]
    fn parquet_round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.parquet");
        write_table(Some(&p), &table()).unwrap();
        let s = read_series(&p, &ReadOptions::new()).unwrap();
        assert_eq!((s.start(), s.step(), s.len(), s.observed()), (0, 60, 3, 2));
        assert_eq!(s.values()[2], 3.0);
    }

    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing-dir").join("out.csv");
        assert!(write_table(Some(&p), &table()).is_err());
        assert!(!p.exists());
    }
}
