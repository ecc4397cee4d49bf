//! `tidecast train`: refit a serve config's targets from Prometheus and publish the models
//! that validate to the model store (what the retraining CronJob runs).

use crate::cli::TrainArgs;
use crate::config::{Config, Target};
use crate::runtime::{PrometheusSource, SeriesSource, config_hash, fit_steps, forecaster};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use tidecast_core::{Predict, SECS_PER_DAY, Series, SeriesBuilder, format_timestamp};
use tidecast_models::{Fitted, Forecaster, HorizonScore, OriginForecast, score};
use tidecast_server::{Clock, SystemClock};
use tidecast_store::{Artifact, Store};

/// The most recent stretch the candidate is validated on (it is fitted without it).
const HOLDOUT_SECS: i64 = SECS_PER_DAY;
/// Validation origins are this far apart (at least one step).
const ORIGIN_EVERY_SECS: i64 = 300;
/// The horizons scored (seconds), where the step allows.
const SCORED_HORIZONS: [i64; 4] = [300, 900, 1800, 3600];

/// Some targets failed (exit code 3); the others were published or kept.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} targets failed")]
pub(crate) struct SomeFailed {
    failed: usize,
    total: usize,
}

/// What happened to one target.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Outcome {
    target: String,
    /// `published`, `kept` or `failed`.
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    reason: String,
    /// Mean MASE over the scored horizons on the holdout day: the candidate's and the
    /// current model's (absent when there was none to compare).
    #[serde(skip_serializing_if = "Option::is_none")]
    mase_new: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mase_current: Option<f64>,
}

pub(crate) fn run(args: &TrainArgs) -> Result<()> {
    let cfg = Config::load(&args.config)?;
    let url = match (&args.store, &cfg.models) {
        (Some(u), _) => u.clone(),
        (None, Some(m)) => m.store.clone(),
        (None, None) => {
            return Err(crate::history::usage(
                "no model store: set models.store in the config or pass --store",
            ));
        }
    };
    let store: Arc<dyn Store> = Arc::from(
        tidecast_store::open(&url).map_err(|e| crate::history::usage(format!("--store: {e}")))?,
    );
    let (keep, margin) = cfg
        .models
        .as_ref()
        .map_or((5, 0.05), |m| (m.keep, m.margin));
    let prom = cfg.prometheus.as_ref().ok_or_else(|| {
        crate::history::usage("prometheus: required for train (url of the Prometheus HTTP API)")
    })?;
    let client = prom.client().context("prometheus")?;
    let (index, count) = shard(args)?;
    let now = match &args.at {
        Some(t) => crate::history::instant("--at", t)?,
        None => SystemClock.now() as i64,
    };
    let targets: Vec<(Arc<Target>, Arc<dyn SeriesSource>)> = cfg
        .targets
        .iter()
        .filter(|t| shard_of(&t.name, count) == index)
        .map(|t| {
            let source: Arc<dyn SeriesSource> = Arc::new(PrometheusSource {
                client: client.clone(),
                query: t.query.clone(),
            });
            (t.clone(), source)
        })
        .collect();
    let settings = Settings {
        now,
        force: args.force,
        margin,
        keep,
        stamp_at_refit_point: false,
    };
    let outcomes = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(train_all(
            targets,
            store,
            settings,
            args.jobs.unwrap_or_else(default_jobs).max(1),
        ));
    summarize(&outcomes, index, count)
}

/// Two targets per core: one pulls from Prometheus while the other fits (1,000 1-minute
/// targets on 2 cores: 34.8 s with 4 against 47.2 s with 2); at most 8, well under
/// Prometheus' default query concurrency of 20.
pub(crate) fn default_jobs() -> usize {
    (2 * std::thread::available_parallelism().map_or(1, |n| n.get())).min(8)
}

/// What every target's training shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Train as of this instant (Unix seconds).
    pub(crate) now: i64,
    /// Publish whatever the holdout day says.
    pub(crate) force: bool,
    /// How much worse (a fraction of the current model's MASE) a candidate may be.
    pub(crate) margin: f64,
    /// Versions kept per target.
    pub(crate) keep: usize,
    /// Stamp artifacts and versions with the refit point instead of the wall clock, so the
    /// same history gives the same files (the demo's committed models).
    pub(crate) stamp_at_refit_point: bool,
}

/// `--shard I/N`, else `$JOB_COMPLETION_INDEX` of `--shards`, else the only shard.
fn shard(args: &TrainArgs) -> Result<(usize, usize)> {
    let bad = |m: String| crate::history::usage(m);
    if let Some(s) = &args.shard {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad(format!("--shard {s:?}: expected I/N, e.g. 0/4")))?;
        let (i, n): (usize, usize) = (
            i.trim()
                .parse()
                .map_err(|_| bad(format!("--shard {s:?}: I is not a number")))?,
            n.trim()
                .parse()
                .map_err(|_| bad(format!("--shard {s:?}: N is not a number")))?,
        );
        if n == 0 || i >= n {
            return Err(bad(format!("--shard {s:?}: need 0 <= I < N")));
        }
        return Ok((i, n));
    }
    match std::env::var("JOB_COMPLETION_INDEX") {
        Ok(i) => {
            let n = args.shards.ok_or_else(|| {
                bad("JOB_COMPLETION_INDEX is set: pass --shards N (or TIDECAST_SHARDS), the Job's completions".into())
            })?;
            let i: usize = i
                .trim()
                .parse()
                .map_err(|_| bad(format!("JOB_COMPLETION_INDEX={i:?} is not a number")))?;
            if n == 0 || i >= n {
                return Err(bad(format!(
                    "JOB_COMPLETION_INDEX={i} with --shards {n}: need 0 <= index < N"
                )));
            }
            Ok((i, n))
        }
        Err(_) => Ok((0, 1)),
    }
}

/// The shard a target belongs to: by a hash of its name, so adding targets moves few.
fn shard_of(name: &str, count: usize) -> usize {
    let h = tidecast_store::sha256(name.as_bytes());
    (u64::from_le_bytes(h[..8].try_into().expect("8 bytes")) % count as u64) as usize
}

/// Train every target, `jobs` at a time, each from its own source; a JSON line per target
/// (or a progress bar on a terminal) as each ends.
pub(crate) async fn train_all(
    targets: Vec<(Arc<Target>, Arc<dyn SeriesSource>)>,
    store: Arc<dyn Store>,
    s: Settings,
    jobs: usize,
) -> Vec<Outcome> {
    let json = !std::io::stdout().is_terminal();
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(targets.len() as u64).with_style(
            ProgressStyle::with_template("train {bar:40} {pos}/{len} targets, {eta} left")
                .expect("valid template"),
        )
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut tasks = tokio::task::JoinSet::new();
    for (t, source) in targets {
        let (store, permits) = (store.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            train_one(&t, &*source, &*store, s).await
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let o = done.unwrap_or_else(|e| Outcome {
            target: "?".into(),
            result: "failed",
            version: None,
            reason: format!("the training task ended: {e}"),
            mase_new: None,
            mase_current: None,
        });
        if json {
            println!("{}", serde_json::to_string(&o).unwrap_or_default());
        } else {
            bar.println(format!("{}: {} ({})", o.target, o.result, o.reason));
        }
        bar.inc(1);
        out.push(o);
    }
    bar.finish_and_clear();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

async fn train_one(
    t: &Target,
    source: &dyn SeriesSource,
    store: &dyn Store,
    s: Settings,
) -> Outcome {
    let mut o = Outcome {
        target: t.name.clone(),
        result: "failed",
        version: None,
        reason: String::new(),
        mase_new: None,
        mase_current: None,
    };
    match train(t, source, store, s, &mut o).await {
        Ok(()) => {}
        Err(e) => {
            o.result = "failed";
            o.reason = format!("{e:#}");
        }
    }
    o
}

/// Train one target: skip it if the store already holds a model for this refit point, pull
/// the training window plus a holdout day, score the new and the current model on that day,
/// then publish the new one if it is not worse by more than the margin.
async fn train(
    t: &Target,
    source: &dyn SeriesSource,
    store: &dyn Store,
    s: Settings,
    o: &mut Outcome,
) -> Result<()> {
    let step = t.step;
    let f = forecaster(t);
    let refit_point = f.refit_point(s.now.div_euclid(step) * step);
    let current = current(store, &t.name, &config_hash(t));
    if let Ok(Some((v, a))) = &current
        && a.refit_point >= refit_point
        && !s.force
    {
        o.result = "kept";
        o.version = Some(v.clone());
        o.reason = format!(
            "already trained for the refit point {}",
            format_timestamp(refit_point)
        );
        return Ok(());
    }
    let holdout_at = refit_point - HOLDOUT_SECS;
    let series = pull_history(t, source, holdout_at - t.window + step, refit_point).await?;
    let previous = match current {
        Ok(Some((_, a))) if a.refit_point <= holdout_at && a.refit_point >= series.start() => {
            Some(a)
        }
        _ => None,
    };
    let steps = fit_steps(t);
    // The series goes to the blocking task and comes back for the artifact, not copied.
    let (series, fitted) = tokio::task::spawn_blocking(move || {
        let fitted = fit_and_score(&f, &series, previous, holdout_at, refit_point, steps);
        (series, fitted)
    })
    .await?;
    let (candidate_scores, current_scores, model) = fitted?;
    o.mase_new = mean_mase(&candidate_scores);
    o.mase_current = current_scores.as_deref().and_then(mean_mase);
    if let Some(reason) = keep_reason(o.mase_new, o.mase_current, &s) {
        o.result = "kept";
        o.reason = reason;
        return Ok(());
    }
    let (trained_at, published_ms) = if s.stamp_at_refit_point {
        (refit_point, refit_point * 1000)
    } else {
        (s.now, (SystemClock.now() * 1000.0) as i64)
    };
    let artifact =
        crate::runtime::artifact(t, &series, refit_point, model, candidate_scores, trained_at);
    let bytes = artifact.encode()?;
    let version = store.publish(&t.name, &bytes, published_ms)?;
    store.prune(&t.name, s.keep)?;
    o.result = "published";
    o.reason = match o.mase_current {
        Some(c) => format!(
            "holdout MASE {:.3} vs the current {c:.3}",
            o.mase_new.unwrap_or(f64::NAN)
        ),
        None if s.force => "forced".into(),
        None => "no comparable current model".into(),
    };
    o.version = Some(version);
    Ok(())
}

/// A target's history over `start ..= end`, refused when it holds no value.
async fn pull_history(
    t: &Target,
    source: &dyn SeriesSource,
    start: i64,
    end: i64,
) -> Result<Series> {
    let samples = source.range(start, end, t.step).await?;
    if samples.iter().all(|x| !x.value.is_finite()) {
        anyhow::bail!(
            "no data in {} .. {}",
            format_timestamp(start),
            format_timestamp(end)
        );
    }
    Ok(SeriesBuilder::new().step(Some(t.step)).build(&samples)?)
}

type Scores = Vec<HorizonScore>;

/// The candidate fitted at the holdout's start and the current model, each scored on the
/// holdout day; then the model to publish, fitted on everything up to the refit point.
fn fit_and_score(
    f: &Forecaster,
    series: &Series,
    previous: Option<Artifact>,
    holdout_at: i64,
    refit_point: i64,
    steps: usize,
) -> Result<(Scores, Option<Scores>, Fitted)> {
    let step = series.step();
    let horizons: Vec<usize> = SCORED_HORIZONS
        .iter()
        .map(|h| (h / step) as usize)
        .filter(|h| *h >= 1 && *h <= steps)
        .collect();
    let origins: Vec<i64> = (1..)
        .map(|k| holdout_at + k * ORIGIN_EVERY_SECS.max(step))
        .take_while(|o| *o < refit_point)
        .collect();
    let candidate = f.fit_at(series, holdout_at, steps)?;
    let new = evaluate(candidate, series, &origins, steps, f.quantile_levels())?;
    let new = score(series, &new, &horizons);
    let old = match previous {
        Some(a) => {
            let r = evaluate(a.model, series, &origins, steps, f.quantile_levels())?;
            Some(score(series, &r, &horizons))
        }
        None => None,
    };
    let model = f.fit_at(series, refit_point, steps)?;
    Ok((new, old, model))
}

/// Why the current model stays (`None`: publish): the new one is worse by more than the
/// margin, or could not be scored. `--force` publishes regardless.
fn keep_reason(new: Option<f64>, current: Option<f64>, s: &Settings) -> Option<String> {
    let better = match (new, current) {
        (Some(n), Some(c)) => n <= c * (1.0 + s.margin),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if better || s.force {
        return None;
    }
    Some(match (new, current) {
        (Some(n), Some(c)) => format!(
            "the new model's holdout MASE {n:.3} is worse than the current {c:.3} by more than {:.0} %",
            100.0 * s.margin
        ),
        _ => "the new model could not be scored on the holdout day".into(),
    })
}

/// The store's current artifact for a target if it was trained under `hash`; an
/// unreadable one is an error (reported, then replaced by a model that validates).
fn current(store: &dyn Store, target: &str, hash: &str) -> Result<Option<(String, Artifact)>> {
    let Some(v) = store.current(target)? else {
        return Ok(None);
    };
    let a = Artifact::decode(&store.read(target, &v)?)
        .with_context(|| format!("{target}/{v}.model"))?;
    Ok((a.config_hash == hash).then_some((v, a)))
}

/// The forecasts `model` makes at each origin (ascending, after its fit), updated with the
/// series up to each.
fn evaluate(
    mut model: Fitted,
    series: &Series,
    origins: &[i64],
    steps: usize,
    quantiles: &[f64],
) -> Result<Vec<OriginForecast>> {
    let name: Arc<str> = Arc::from(model.name());
    let mut next = series
        .index_at_or_before(model.last_timestamp())
        .map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(origins.len());
    for &origin in origins {
        let Some(last) = series.index_at_or_before(origin) else {
            continue;
        };
        while next <= last {
            model.update(series.timestamp(next), series.values()[next]);
            next += 1;
        }
        out.push(OriginForecast {
            origin,
            last_index: last,
            forecast: model.predict(steps, quantiles)?,
            model: name.clone(),
        });
    }
    Ok(out)
}

fn mean_mase(scores: &[HorizonScore]) -> Option<f64> {
    let m: Vec<f64> = scores
        .iter()
        .map(|s| s.mase)
        .filter(|m| m.is_finite())
        .collect();
    (!m.is_empty()).then(|| m.iter().sum::<f64>() / m.len() as f64)
}

/// Print the summary (a JSON line when stdout is not a terminal); an error if any failed.
pub(crate) fn summarize(outcomes: &[Outcome], index: usize, count: usize) -> Result<()> {
    let n = |r: &str| outcomes.iter().filter(|o| o.result == r).count();
    let (published, kept, failed) = (n("published"), n("kept"), n("failed"));
    if std::io::stdout().is_terminal() {
        println!(
            "shard {index}/{count}: {published} published, {kept} kept, {failed} failed of {} targets",
            outcomes.len()
        );
        for o in outcomes.iter().filter(|o| o.result == "failed") {
            println!("  failed {}: {}", o.target, o.reason);
        }
    } else {
        println!(
            "{}",
            serde_json::json!({"summary": {"shard": format!("{index}/{count}"), "targets": outcomes.len(),
                "published": published, "kept": kept, "failed": failed}})
        );
    }
    if failed > 0 {
        return Err(SomeFailed {
            failed,
            total: outcomes.len(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_targets() {
        let names: Vec<String> = (0..1000).map(|i| format!("svc-{i:05}")).collect();
        let mut counts = [0usize; 4];
        for n in &names {
            counts[shard_of(n, 4)] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), 1000);
        assert!(counts.iter().all(|c| (200..=300).contains(c)), "{counts:?}");
        assert!(names.iter().all(|n| shard_of(n, 1) == 0));
    }
}
