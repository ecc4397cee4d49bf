#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod auto;
mod calibration;
mod coarse;
mod engine;
mod error;
mod fitted;
mod lagreg;
mod metrics;
mod mstl;
mod naive;
mod packed;
mod profile;
mod tidal;
mod transform;

pub use auto::{Auto, AutoSpec};
pub use engine::{DEFAULT_WINDOW_SECS, Forecaster, ModelKind, OriginForecast};
pub use error::{Error, Result};
pub use fitted::Fitted;
pub use metrics::{HorizonScore, score};
pub use naive::{Season, SeasonalNaive, SeasonalNaiveSpec};
pub use profile::ProfileKind;
pub use tidal::{Tidal, TidalSpec};

/// Files under the repository's `tests/data` for unit tests.
#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    fn path(name: &str) -> PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(name)
    }

    /// The first `limit` values of the Taylor half-hourly electricity series.
    pub(crate) fn taylor(limit: usize) -> Vec<f64> {
        series("taylor_uk_electricity", limit)
    }

    /// The first `limit` values of a series in `tests/data` (its second column).
    pub(crate) fn series(name: &str, limit: usize) -> Vec<f64> {
        std::fs::read_to_string(path(&format!("{name}.csv")))
            .unwrap()
            .lines()
            .skip(1)
            .take(limit)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    }

    /// A golden fixture from `tests/data/golden`, parsed.
    pub(crate) fn golden(name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(path(&format!("golden/{name}"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// A fixture's array of numbers (`field`, or a row of it with `row`).
    pub(crate) fn numbers(v: &serde_json::Value) -> Vec<f64> {
        v.as_array()
            .expect("an array")
            .iter()
            .map(|x| x.as_f64().expect("a number"))
            .collect()
    }
}
