//! Pulling history from Prometheus for the CLI.

use crate::cli::PrometheusArgs;
use crate::history::{duration, usage};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;
use tidecast_core::parse_timestamp;
use tidecast_prometheus::{ClientSettings, LabeledSeries, RangeQuery};
use tidecast_server::{Clock, SystemClock};

/// The Prometheus settings the flags describe.
pub(crate) fn settings(args: &PrometheusArgs) -> Result<ClientSettings> {
    let url = args
        .prometheus
        .as_deref()
        .ok_or_else(|| usage("--prometheus URL is required"))?;
    let timeout = Duration::from_secs(duration("timeout", &args.timeout)? as u64);
    let mut settings = ClientSettings::new(url)
        .with_timeout(timeout)
        .with_max_attempts(args.attempts)
        .with_max_parallel(args.parallel)
        .with_max_response_bytes(args.max_response_mib << 20);
    if let Some(f) = &args.bearer_token_file {
        settings = settings.with_bearer_token_file(f);
    }
    if let Some(user) = &args.basic_auth_user {
        settings = match &args.basic_auth_password_file {
            Some(f) => settings.with_basic_auth_password_file(user, f),
            None => {
                let password = std::env::var("TIDECAST_PROMETHEUS_PASSWORD").map_err(|_| {
                    usage(
                        "--basic-auth-user needs --basic-auth-password-file or the password in $TIDECAST_PROMETHEUS_PASSWORD",
                    )
                })?;
                settings.with_basic_auth(user, password)
            }
        };
    }
    if let Some(f) = &args.ca_file {
        settings = settings.with_ca_file(f);
    }
    for h in &args.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| usage(format!("--header {h:?}: expected 'Name: value'")))?;
        settings = settings.with_header(k.trim(), v.trim());
    }
    Ok(settings)
}

/// The range query the settings describe, aligned to the step grid.
pub(crate) fn range_query(args: &PrometheusArgs, step: i64) -> Result<RangeQuery> {
    let query = args
        .query
        .clone()
        .ok_or_else(|| usage("--query PROMQL is required with --prometheus"))?;
    let range = duration("range", &args.range)?;
    let end = match &args.end {
        Some(e) => parse_timestamp(e).map_err(|e| usage(format!("--end: {e}")))? as i64,
        None => SystemClock.now() as i64,
    };
    let end = end.div_euclid(step) * step;
    Ok(RangeQuery {
        query,
        start: end - range + step,
        end,
        step,
    })
}

/// Run the range query with a progress bar on stderr for long pulls.
pub(crate) fn pull(args: &PrometheusArgs, step: i64) -> Result<Vec<LabeledSeries>> {
    let client = settings(args)?.client()?;
    let q = range_query(args, step)?;
    let bar = ProgressBar::new(q.chunks().len() as u64).with_style(
        ProgressStyle::with_template("fetch {bar:40} {pos}/{len} chunks, {elapsed}")
            .expect("valid template"),
    );
    if q.chunks().len() < 3 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let progress = |done: usize, _total: usize| bar.set_position(done as u64);
    let result = rt.block_on(client.query_range(&q, &progress));
    bar.finish_and_clear();
    Ok(result?)
}
