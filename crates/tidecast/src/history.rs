//! Loading a history and the settings that turn it into a forecaster.

use crate::cli::{HistoryArgs, ModelArgs, UsageError};
use anyhow::{Context, Result};
use std::sync::Arc;
use tidecast_core::{Calendar, Series, parse_duration};
use tidecast_models::{Forecaster, ModelKind};

pub(crate) fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

pub(crate) fn duration(flag: &str, v: &str) -> Result<i64> {
    parse_duration(v).map_err(|e| usage(format!("--{flag}: {e}")))
}

/// The instant a `--flag` names (RFC 3339 or Unix seconds), in whole seconds.
pub(crate) fn instant(flag: &str, v: &str) -> Result<i64> {
    tidecast_core::parse_timestamp(v)
        .map(|t| t.floor() as i64)
        .map_err(|e| usage(format!("--{flag}: {e}")))
}

/// Load the history from its file or from Prometheus, with a name for messages.
pub(crate) fn load(args: &HistoryArgs) -> Result<(Series, String)> {
    let step = args
        .step
        .as_deref()
        .map(|s| duration("step", s))
        .transpose()?;
    if let Some(path) = &args.history {
        let opts = tidecast_io::ReadOptions::new()
            .timestamp_column(&args.timestamp_column)
            .value_column(&args.value_column)
            .step(step);
        return Ok((
            tidecast_io::read_series(path, &opts)?,
            path.display().to_string(),
        ));
    }
    let step = step.unwrap_or(60);
    let series = crate::source::pull(&args.source, step)?;
    let url = args.source.prometheus.clone().unwrap_or_default();
    let query = args.source.query.clone().unwrap_or_default();
    let Some(one) = tidecast_prometheus::single_series(&url, &query, series)? else {
        anyhow::bail!("{url}: the query {query:?} returned no data in the requested range");
    };
    let s = tidecast_core::SeriesBuilder::new()
        .step(Some(step))
        .build(&one.samples)
        .with_context(|| format!("{url}: {query}"))?;
    Ok((s, format!("{url} {query}")))
}

/// The quantile levels to forecast: lower, upper, then the extras.
pub(crate) struct Levels {
    pub(crate) all: Vec<f64>,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
    pub(crate) extra: Vec<f64>,
}

pub(crate) fn forecaster(args: &ModelArgs) -> Result<(Forecaster, Levels)> {
    let tz = Calendar::parse_zone(&args.timezone).map_err(|e| usage(format!("--timezone: {e}")))?;
    let mut calendar = Calendar::new(tz);
    if let Some(path) = &args.holidays {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading holiday calendar {}", path.display()))?;
        calendar = calendar
            .with_holidays(&text)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    }
    let kind: ModelKind = args
        .model
        .parse()
        .map_err(|e: tidecast_models::Error| usage(format!("--model: {e}")))?;
    if !(args.interval > 0.0 && args.interval < 1.0) {
        return Err(usage(format!(
            "--interval must be in (0, 1), got {}",
            args.interval
        )));
    }
    if let Some(q) = args.quantiles.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        return Err(usage(format!("--quantiles: {q} is outside (0, 1)")));
    }
    let lower = (1.0 - args.interval) / 2.0;
    let upper = 1.0 - lower;
    let mut all = vec![lower, upper];
    all.extend(&args.quantiles);
    let f = Forecaster::new(Arc::new(calendar))
        .model(kind)
        .refit_every(duration("refit-every", &args.refit_every)?)
        .window(duration("window", &args.window)?)
        .aggregate(match args.aggregate.as_str() {
            "none" => None,
            d => Some(duration("aggregate", d)?),
        })
        .quantiles(&all);
    Ok((
        f,
        Levels {
            all,
            lower,
            upper,
            extra: args.quantiles.clone(),
        },
    ))
}

/// Steps of `step` seconds needed to cover `horizon` seconds.
pub(crate) fn steps(horizon: i64, step: i64) -> usize {
    ((horizon + step - 1) / step).max(1) as usize
}

/// Column name of an extra quantile (`q0.95`).
pub(crate) fn quantile_column(q: f64) -> String {
    format!("q{q}")
}
