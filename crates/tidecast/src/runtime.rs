//! The refresh loop: per target, ingest new observations, update the model's state, refit
//! on schedule, recompute the forecast and publish a new view for the request path.
//!
//! Data flows one way: source -> model -> forecast -> [`MetricStore`] slot. The request
//! path never waits on anything here.

use crate::config::Target;
use crate::report::Causes;
use futures::future::BoxFuture;
use std::sync::Arc;
use tidecast_core::{Predict, Sample, SeriesBuilder, format_duration, format_timestamp};
use tidecast_models::Forecaster;
use tidecast_server::{
    Accuracy, Clock, Freshness, MetricStore, Observation, ServedForecast, TargetView, Trail,
};
use tokio::sync::Semaphore;

/// Where a target's observations come from.
pub(crate) trait SeriesSource: Send + Sync + std::fmt::Debug {
    /// Samples on the step grid in `[start, end]`.
    fn range(
        &self,
        start: i64,
        end: i64,
        step: i64,
    ) -> BoxFuture<'_, Result<Vec<Sample>, SourceError>>;
}

/// Why a source has no samples to give.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SourceError {
    /// Prometheus failed, or answered with several series (the error names the URL).
    #[error(transparent)]
    Prometheus(#[from] tidecast_prometheus::Error),
}

/// A cause from another crate, boxed: the fit's error type belongs to the models crate.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a refresh could not publish a new forecast.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefreshError {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The refit's window holds no sample at all.
    #[error("no data in the {} before {}", format_duration(*window), format_timestamp(*at))]
    NoData {
        /// The training window, in seconds.
        window: i64,
        /// The refit point.
        at: i64,
    },
    /// The samples do not form a regular series.
    #[error("the history does not form a series")]
    Series(#[source] tidecast_core::Error),
    /// The model could not be fitted.
    #[error("fitting the model")]
    Fit(#[source] BoxError),
    /// The fit's blocking task panicked or was cancelled.
    #[error("the fit task ended without a result")]
    FitTask(#[source] tokio::task::JoinError),
    /// The fitted model could not forecast.
    #[error("forecasting")]
    Predict(#[source] BoxError),
    /// The forecast lacks a quantile level it was asked for.
    #[error("the forecast lacks the quantile {0}")]
    MissingQuantile(f64),
    /// No model has been fitted yet.
    #[error("no model yet")]
    NoModel,
    /// The store has no usable model and the server may not fit its own.
    #[error("no usable model in the store ({0}) and models.fit_locally is false")]
    NoStoredModel(String),
    /// The limit on concurrent refits was closed (the process is stopping).
    #[error("the refit queue is closed")]
    Closed(#[source] tokio::sync::AcquireError),
}

/// The model store a server reads, shared by its targets.
#[derive(Debug)]
pub(crate) struct StoredModels {
    pub(crate) store: Box<dyn tidecast_store::Store>,
    /// Whether a target may be fitted here when the store has no usable model for it.
    pub(crate) fit_locally: bool,
}

/// The settings a target's fitted model is trained with, shared by `serve` and `train`.
pub(crate) fn forecaster(cfg: &Target) -> Forecaster {
    Forecaster::new(cfg.calendar.clone())
        .refit_every(cfg.refit_every)
        .window(cfg.window)
        .quantiles(&[cfg.quantile, 0.1, 0.9])
}

/// The forecast horizon a target's fit is tuned for, in steps (the horizon of its
/// forecasts, capped at an hour: weights and calibration past that are extrapolated).
pub(crate) fn fit_steps(cfg: &Target) -> usize {
    served_steps(cfg).min(((tidecast_core::SECS_PER_HOUR / cfg.step) as usize).max(1))
}

/// Steps each refresh forecasts: far enough to serve through `hard_limit` plus the lead.
fn served_steps(cfg: &Target) -> usize {
    ((cfg.staleness.hard_limit + cfg.lead) / cfg.step + 1) as usize
}

/// The artifact's `config_hash` for a target's settings.
pub(crate) fn config_hash(cfg: &Target) -> String {
    tidecast_store::sha256_hex(cfg.model_key.as_bytes())
}

/// The artifact of `model`, fitted for `cfg` at `refit_point` on `series` (which may
/// reach further back than the window), scored with `scores`.
pub(crate) fn artifact(
    cfg: &Target,
    series: &tidecast_core::Series,
    refit_point: i64,
    model: tidecast_models::Fitted,
    scores: Vec<tidecast_models::HorizonScore>,
    trained_at: i64,
) -> tidecast_store::Artifact {
    let window_start = refit_point - cfg.window + cfg.step;
    tidecast_store::Artifact {
        target: cfg.name.clone(),
        config_hash: config_hash(cfg),
        tidecast_version: env!("CARGO_PKG_VERSION").into(),
        trained_at,
        refit_point,
        window_secs: cfg.window,
        data_start: series.start().max(window_start),
        data_end: refit_point,
        samples: series.window(window_start, refit_point).observed(),
        step: cfg.step,
        model_name: model.name().to_string(),
        scores,
        model,
    }
}

/// A PromQL query that must return a single series.
#[derive(Debug)]
pub(crate) struct PrometheusSource {
    pub(crate) client: tidecast_prometheus::Client,
    pub(crate) query: String,
}

impl SeriesSource for PrometheusSource {
    fn range(
        &self,
        start: i64,
        end: i64,
        step: i64,
    ) -> BoxFuture<'_, Result<Vec<Sample>, SourceError>> {
        Box::pin(async move {
            let q = tidecast_prometheus::RangeQuery {
                query: self.query.clone(),
                start,
                end,
                step,
            };
            let r = self.client.query_range(&q, &|_, _| {}).await?;
            let one = tidecast_prometheus::single_series(self.client.url(), &self.query, r)?;
            Ok(one.map(|s| s.samples).unwrap_or_default())
        })
    }
}

/// A synthetic tide (the demo): values exist up to the clock's now.
#[derive(Debug)]
pub(crate) struct SyntheticSource {
    pub(crate) generator: tidecast_core::synth::TidalGenerator,
    pub(crate) clock: Arc<dyn Clock>,
}

impl SeriesSource for SyntheticSource {
    fn range(
        &self,
        start: i64,
        end: i64,
        step: i64,
    ) -> BoxFuture<'_, Result<Vec<Sample>, SourceError>> {
        let now = self.clock.now() as i64;
        let out = (0..)
            .map(|k| start + k * step)
            .take_while(|t| *t <= end.min(now))
            .map(|t| Sample {
                timestamp: t as f64,
                value: self.generator.value(t),
            })
            .collect();
        Box::pin(async move { Ok(out) })
    }
}

/// Horizons exported as forecasts and scored for accuracy.
const HORIZONS: [i64; 4] = [5 * MINUTE, 15 * MINUTE, 30 * MINUTE, 60 * MINUTE];
/// Seconds in a minute, for the horizons above.
const MINUTE: i64 = tidecast_core::SECS_PER_MINUTE;

/// A forecast waiting for its actual.
#[derive(Debug, Clone, Copy)]
struct Pending {
    target_t: i64,
    horizon_idx: u8,
    // f32: thousands of targets each hold ~100 of these.
    point: f32,
    lower: f32,
    upper: f32,
}

/// Exponentially weighted accuracy by horizon (about the last 100 pairs).
#[derive(Debug, Clone, Default)]
struct AccuracyTracker {
    pending: std::collections::VecDeque<Pending>,
    stats: [Accuracy; 4],
}

impl AccuracyTracker {
    fn new() -> Self {
        let mut stats = [Accuracy::default(); 4];
        for (s, h) in stats.iter_mut().zip(HORIZONS) {
            s.horizon = h;
        }
        Self {
            pending: Default::default(),
            stats,
        }
    }

    fn observe(&mut self, t: i64, actual: f64) {
        // Exponential weight of a new error: the rolling accuracy spans about 100 forecasts.
        const W: f64 = 1.0 / 100.0;
        while let Some(p) = self.pending.front().copied() {
            if p.target_t > t {
                break;
            }
            self.pending.pop_front();
            if p.target_t < t || !actual.is_finite() {
                continue;
            }
            let s = &mut self.stats[usize::from(p.horizon_idx)];
            let (point, lower, upper) =
                (f64::from(p.point), f64::from(p.lower), f64::from(p.upper));
            let w = (1.0 / (s.n + 1) as f64).max(W);
            s.n += 1;
            s.mae += w * ((actual - point).abs() - s.mae);
            if actual > 0.0 {
                s.mape += w * (100.0 * (actual - point).abs() / actual - s.mape);
            }
            let inside = if lower <= actual && actual <= upper {
                1.0
            } else {
                0.0
            };
            s.coverage += w * (inside - s.coverage);
        }
    }

    /// Queue forecasts to score. One forecast per horizon is in flight at a time: accuracy
    /// is sampled once per horizon length, which keeps ~4 entries per target instead of
    /// ~100 (a server holds thousands of targets).
    fn record(&mut self, items: impl IntoIterator<Item = Pending>) {
        for p in items {
            if self.pending.iter().any(|q| q.horizon_idx == p.horizon_idx) {
                continue;
            }
            let pos = self.pending.partition_point(|q| q.target_t <= p.target_t);
            self.pending.insert(pos, p);
        }
    }
}

/// One target's refresh state.
#[derive(Debug)]
pub(crate) struct TargetRuntime {
    index: usize,
    cfg: Arc<Target>,
    source: Arc<dyn SeriesSource>,
    forecaster: Forecaster,
    model: Option<tidecast_models::Fitted>,
    fitted_for: Option<i64>,
    models: Option<Arc<StoredModels>>,
    /// The last store version read for this target (loaded, or found unusable).
    checked_version: Option<String>,
    /// Why the store's current model could not be used, if it could not.
    store_problem: Option<String>,
    live: Option<Observation>,
    forecast: ServedForecast,
    horizons: Vec<(i64, f64)>,
    accuracy: AccuracyTracker,
    ok: u64,
    failed: u64,
    last_error: Option<String>,
    last_state: Option<Freshness>,
    /// What the live board draws, kept only when it is on.
    board: Option<BoardTrail>,
}

/// The recent actuals and the latest band of one target, for the live board: on the
/// target's grid, 4 bytes a point.
#[derive(Debug)]
struct BoardTrail {
    /// How much is kept behind the newest observation and drawn ahead of it, in seconds.
    span: i64,
    step: i64,
    /// Unix seconds of `actual[0]`.
    start: i64,
    actual: std::collections::VecDeque<f32>,
    trail: Arc<Trail>,
}

impl BoardTrail {
    fn newest(&self) -> Option<i64> {
        (!self.actual.is_empty()).then(|| self.start + self.step * (self.actual.len() as i64 - 1))
    }

    /// `value` at grid instant `t`, later than any before (missing points between are NaN).
    fn observe(&mut self, t: i64, value: f64) {
        match self.newest() {
            None => self.start = t,
            Some(n) if t <= n => return,
            Some(n) => {
                // A gap longer than the span keeps nothing before it.
                let missing = ((t - n) / self.step - 1).min(self.span / self.step + 1);
                self.actual
                    .extend(std::iter::repeat_n(f32::NAN, missing.max(0) as usize));
                self.start = t - self.step * self.actual.len() as i64;
            }
        }
        self.actual.push_back(value as f32);
        while self.start < t - self.span {
            self.actual.pop_front();
            self.start += self.step;
        }
    }

    /// The tail of a refit's history, so a board shows the recent past from the start.
    fn seed(&mut self, samples: &[tidecast_core::Sample]) {
        let Some(end) = samples.last().map(|s| s.timestamp.round() as i64) else {
            return;
        };
        for s in samples {
            let t = s.timestamp.round() as i64;
            if t >= end - self.span {
                self.observe(t, s.value);
            }
        }
    }

    fn band(&mut self, f: &tidecast_core::Forecast, lo: &[f64], hi: &[f64]) {
        let n = ((self.span / f.step.max(1)) as usize).min(f.len());
        self.trail = Arc::new(Trail {
            step: self.step,
            actual_start: self.start,
            actual: self.actual.iter().copied().collect(),
            band_start: f.start,
            lower: lo[..n].iter().map(|v| *v as f32).collect(),
            upper: hi[..n].iter().map(|v| *v as f32).collect(),
        });
    }
}

impl TargetRuntime {
    pub(crate) fn new(index: usize, cfg: Arc<Target>, source: Arc<dyn SeriesSource>) -> Self {
        let forecaster = forecaster(&cfg);
        Self {
            index,
            cfg,
            source,
            forecaster,
            model: None,
            fitted_for: None,
            models: None,
            checked_version: None,
            store_problem: None,
            live: None,
            forecast: ServedForecast::default(),
            horizons: Vec::new(),
            accuracy: AccuracyTracker::new(),
            ok: 0,
            failed: 0,
            last_error: None,
            last_state: None,
            board: None,
        }
    }

    /// Keep what the live board draws: `span` seconds of actuals behind and of band ahead.
    pub(crate) fn with_board(mut self, span: i64) -> Self {
        let step = self.cfg.step;
        self.board = Some(BoardTrail {
            span,
            step,
            start: 0,
            actual: Default::default(),
            trail: Arc::default(),
        });
        self
    }

    /// The view of a target nothing is known about yet.
    pub(crate) fn initial_view(cfg: &Target) -> TargetView {
        TargetView {
            name: cfg.name.clone(),
            metric: cfg.metric.clone(),
            labels: cfg.labels.clone(),
            namespaces: cfg.namespaces.clone(),
            mode: cfg.mode,
            lead: cfg.lead,
            staleness: cfg.staleness,
            live: None,
            forecast: ServedForecast::default(),
            horizons: Vec::new(),
            accuracy: Vec::new(),
            refresh_ok: 0,
            refresh_failed: 0,
            last_error: None,
            model_refit_point: None,
            trail: None,
        }
    }

    /// Serve models from `models` (a model store) before fitting.
    pub(crate) fn with_models(mut self, models: Arc<StoredModels>) -> Self {
        self.models = Some(models);
        self
    }

    fn steps(&self) -> usize {
        served_steps(&self.cfg)
    }

    /// Swap in the store's current model if it is new to this runtime and usable at
    /// `refit_point`: trained under the same settings, at `refit_point` (or earlier when this
    /// server may not fit its own); true if it did. Each version is read and decoded once:
    /// one found unusable is not read again (a version for a later refit point, from a
    /// clock ahead of this one, is looked at again).
    fn load_stored(&mut self, refit_point: i64) -> bool {
        let Some(models) = self.models.clone() else {
            return false;
        };
        let name = self.cfg.name.clone();
        let read = models.store.current(&name).and_then(|v| match v {
            Some(v) if self.checked_version.as_ref() != Some(&v) => {
                models.store.read(&name, &v).map(|bytes| Some((v, bytes)))
            }
            _ => Ok(None),
        });
        let (version, bytes) = match read {
            Ok(Some(found)) => found,
            Ok(None) => return false,
            Err(e) => {
                self.store_problem(e.to_string());
                return false;
            }
        };
        let decoded = tidecast_store::Artifact::decode(&bytes);
        drop(bytes);
        crate::sys::note_heap_churn();
        let artifact = match decoded {
            Ok(a) if a.config_hash == config_hash(&self.cfg) => a,
            Ok(a) => {
                self.checked_version = Some(version.clone());
                self.store_problem(format!(
                    "{name}/{version}.model was trained under other settings (config hash {} here {})",
                    &a.config_hash[..12.min(a.config_hash.len())],
                    &config_hash(&self.cfg)[..12]
                ));
                return false;
            }
            Err(e) => {
                self.checked_version = Some(version.clone());
                self.store_problem(format!("{name}/{version}.model: {e}"));
                return false;
            }
        };
        let current = self.fitted_for.unwrap_or(i64::MIN);
        let usable = artifact.refit_point == refit_point
            || (!models.fit_locally
                && artifact.refit_point <= refit_point
                && artifact.refit_point >= current);
        if artifact.refit_point <= refit_point {
            self.checked_version = Some(version.clone());
        }
        if !usable {
            return false;
        }
        tracing::info!(
            target_name = %self.cfg.name, %version, model = %artifact.model_name,
            refit_point = %format_timestamp(artifact.refit_point), "model loaded from the store"
        );
        self.fitted_for = Some(artifact.refit_point);
        // A copy made after the file's bytes are freed, as after a fit (see `refit`).
        self.model = Some(artifact.model.clone());
        self.store_problem = None;
        true
    }

    /// The store's current model cannot be used: logged, and kept for the refresh error.
    fn store_problem(&mut self, why: String) {
        tracing::warn!(target_name = %self.cfg.name, reason = %why, "stored model not used; the current model keeps serving");
        self.store_problem = Some(why);
    }

    /// One refresh at `now`: never panics, always publishes a view.
    pub(crate) async fn refresh(&mut self, now: i64, store: &MetricStore, fits: &Semaphore) {
        match self.try_refresh(now, fits).await {
            Ok(()) => {
                self.ok += 1;
                self.last_error = None;
            }
            Err(e) => {
                self.failed += 1;
                let error = Causes(&e).to_string();
                tracing::warn!(target_name = %self.cfg.name, %error, "refresh failed");
                self.last_error = Some(error);
            }
        }
        let view = self.view();
        let state = view.freshness(now);
        if self.last_state != Some(state) {
            // An `Option` field is recorded only when `Some`: no data, no `age_s` key.
            let age_s = view.live.map(|l| now - l.t);
            match state {
                Freshness::Fresh => {
                    tracing::info!(target_name = %self.cfg.name, state = state.as_str(), age_s, "target state")
                }
                _ => {
                    tracing::warn!(target_name = %self.cfg.name, state = state.as_str(), age_s, "target state")
                }
            }
            self.last_state = Some(state);
        }
        store.update(self.index, view);
    }

    async fn try_refresh(&mut self, now: i64, fits: &Semaphore) -> Result<(), RefreshError> {
        let step = self.cfg.step;
        let now_grid = now.div_euclid(step) * step;
        let refit_point = self.forecaster.refit_point(now_grid);
        // A new version in the store replaces the model between two refreshes (the view is
        // published whole, so a request sees the old model's answer or the new one's).
        let loaded = self.load_stored(refit_point);
        if !loaded && self.fitted_for != Some(refit_point) {
            if self.models.as_ref().is_none_or(|m| m.fit_locally) {
                match self.refit(refit_point, fits).await {
                    Ok(()) => {}
                    // Keep serving from the old model's state; the next refresh retries.
                    Err(e) if self.model.is_some() => {
                        tracing::warn!(target_name = %self.cfg.name, error = %Causes(&e), "refit failed; keeping the previous model");
                    }
                    Err(e) => return Err(e),
                }
            } else if self.model.is_none() {
                return Err(RefreshError::NoStoredModel(
                    self.store_problem
                        .clone()
                        .unwrap_or_else(|| format!("nothing for {} yet", self.cfg.name)),
                ));
            }
        }
        let steps = self.steps();
        let model = self.model.as_mut().ok_or(RefreshError::NoModel)?;
        let from = model.last_timestamp() + step;
        if from <= now_grid {
            let samples = self.source.range(from, now_grid, step).await?;
            for s in samples {
                let t = s.timestamp.round() as i64;
                if t <= model.last_timestamp() {
                    continue;
                }
                model.update(t, s.value);
                self.accuracy.observe(t, s.value);
                if let Some(b) = &mut self.board {
                    b.observe(t, s.value);
                }
                if s.value.is_finite() {
                    self.live = Some(Observation { t, value: s.value });
                }
            }
        }
        let f = model
            .predict(steps, &[self.cfg.quantile, 0.1, 0.9])
            .map_err(|e| RefreshError::Predict(e.into()))?;
        let quantile = |l: f64| f.quantile(l).ok_or(RefreshError::MissingQuantile(l));
        let served = quantile(self.cfg.quantile)?;
        let (lo, hi) = (quantile(0.1)?, quantile(0.9)?);
        self.forecast = ServedForecast {
            start: f.start,
            step: f.step,
            values: served.iter().map(|v| *v as f32).collect(),
        };
        if let Some(b) = &mut self.board {
            b.band(&f, lo, hi);
        }
        self.horizons.clear();
        let mut pending = Vec::new();
        for (k, h) in HORIZONS.iter().enumerate() {
            let i = (h / step) as usize;
            if i >= 1 && i <= f.len() {
                self.horizons.push((*h, f.point[i - 1]));
                pending.push(Pending {
                    target_t: f.timestamp(i - 1),
                    horizon_idx: k as u8,
                    point: f.point[i - 1] as f32,
                    lower: lo[i - 1] as f32,
                    upper: hi[i - 1] as f32,
                });
            }
        }
        self.accuracy.record(pending);
        Ok(())
    }

    async fn refit(&mut self, refit_point: i64, fits: &Semaphore) -> Result<(), RefreshError> {
        let step = self.cfg.step;
        let start = refit_point - self.cfg.window + step;
        // The permit covers the history pull too: thousands of targets refitting at once
        // must not each hold weeks of samples while waiting for a core.
        let _permit = fits.acquire().await.map_err(RefreshError::Closed)?;
        let samples = self.source.range(start, refit_point, step).await?;
        if samples.is_empty() {
            return Err(RefreshError::NoData {
                window: self.cfg.window,
                at: refit_point,
            });
        }
        let series = SeriesBuilder::new()
            .step(Some(step))
            .build(&samples)
            .map_err(RefreshError::Series)?;
        let forecaster = self.forecaster.clone();
        let steps = fit_steps(&self.cfg);
        // tokio's clock: paused in tests like every other time the refresh loop reads.
        let t0 = tokio::time::Instant::now();
        let model = tokio::task::spawn_blocking(move || {
            let fitted = forecaster.fit_at(&series, refit_point, steps)?;
            drop(series);
            // A copy made once the fit's temporaries are freed packs the model's small
            // allocations together instead of leaving them among the holes the fit left.
            Ok::<_, tidecast_models::Error>(fitted.clone())
        })
        .await
        .map_err(RefreshError::FitTask)?
        .map_err(|e| RefreshError::Fit(e.into()))?;
        crate::sys::note_heap_churn();
        tracing::info!(
            target_name = %self.cfg.name, model = model.name(),
            refit_point = %format_timestamp(refit_point), samples = samples.len(),
            fit_ms = t0.elapsed().as_millis() as u64, "model refitted"
        );
        if let Some(b) = &mut self.board {
            b.seed(&samples);
        }
        if let Some(last) = samples.iter().rev().find(|s| s.value.is_finite()) {
            let t = last.timestamp.round() as i64;
            if self.live.is_none_or(|l| l.t < t) {
                self.live = Some(Observation {
                    t,
                    value: last.value,
                });
            }
        }
        self.model = Some(model);
        self.fitted_for = Some(refit_point);
        Ok(())
    }

    fn view(&self) -> TargetView {
        TargetView {
            live: self.live,
            forecast: self.forecast.clone(),
            horizons: self.horizons.clone(),
            accuracy: self.accuracy.stats.to_vec(),
            refresh_ok: self.ok,
            refresh_failed: self.failed,
            last_error: self.last_error.clone(),
            model_refit_point: self.model.as_ref().and(self.fitted_for),
            trail: self.board.as_ref().map(|b| b.trail.clone()),
            ..Self::initial_view(&self.cfg)
        }
    }
}

/// Run every target's refresh loop until the process ends. `speed` converts the clock's
/// seconds into real seconds (1 in production, >1 for the demo's accelerated clock).
pub(crate) fn spawn_all(
    runtimes: Vec<TargetRuntime>,
    store: Arc<MetricStore>,
    clock: Arc<dyn Clock>,
    speed: f64,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Refits (history pull + fit) in flight: two per core keeps the cores busy while pulls
    // wait on Prometheus, and bounds the memory of thousands of targets refitting at once.
    let fits = Arc::new(Semaphore::new(
        2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
    ));
    let first = Arc::new(Semaphore::new(FIRST_REFRESHES_IN_FLIGHT));
    let n = runtimes.len().max(1);
    let trimmer = tokio::spawn(trim_after_model_work());
    runtimes
        .into_iter()
        .enumerate()
        .map(|(k, mut rt)| {
            let (store, clock, fits) = (store.clone(), clock.clone(), fits.clone());
            let first = first.clone();
            tokio::spawn(async move {
                // A clock that stands still (speed 0) sees nothing new: a refresh a second
                // brings every target up at once.
                let every = if speed > 0.0 {
                    std::time::Duration::from_secs_f64(rt.cfg.refresh as f64 / speed)
                } else {
                    std::time::Duration::from_secs(1)
                };
                let started = tokio::time::Instant::now();
                // The first refresh as soon as a slot is free, so a pod turns ready as fast
                // as Prometheus answers; a bounded few in flight, never thousands at once.
                if let Ok(_slot) = first.acquire().await {
                    Box::pin(rt.refresh(clock.now() as i64, &store, &fits)).await;
                }
                // Later refreshes keep target k's slot k/n of the interval, so the steady
                // queries to Prometheus are spread evenly.
                let mut next = started + every.mul_f64(k as f64 / n as f64);
                while next <= tokio::time::Instant::now() {
                    next += every;
                }
                let mut tick = tokio::time::interval_at(next, every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    // Boxed: the refresh's state machine (the pull, the fit's task, the
                    // store) is allocated while it runs, not kept in each waiting task.
                    Box::pin(rt.refresh(clock.now() as i64, &store, &fits)).await;
                }
            })
        })
        .chain([trimmer])
        .collect()
}

/// First refreshes in flight at start-up: well under Prometheus' default
/// `--query.max-concurrency` (20), so a starting pod leaves room for other queries.
const FIRST_REFRESHES_IN_FLIGHT: usize = 8;

/// How often the heap is trimmed while fits or model loads go on.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Trim the heap ([`crate::sys::trim_heap`]) every [`TRIM_EVERY`] in which model work ran:
/// after a start-up's or a day's refits, what they freed goes back to the OS.
async fn trim_after_model_work() {
    let mut seen = crate::sys::heap_churn();
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = crate::sys::heap_churn();
        if now != seen {
            seen = now;
            // Off the async worker: a trim takes the allocator's locks for milliseconds.
            let _ = tokio::task::spawn_blocking(crate::sys::trim_heap).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A synthetic source that can be switched off (Prometheus down).
    #[derive(Debug)]
    struct Switchable {
        inner: SyntheticSource,
        down: AtomicBool,
    }
    impl SeriesSource for Switchable {
        fn range(
            &self,
            start: i64,
            end: i64,
            step: i64,
        ) -> BoxFuture<'_, Result<Vec<Sample>, SourceError>> {
            if self.down.load(Ordering::SeqCst) {
                return Box::pin(async {
                    Err(SourceError::Prometheus(
                        tidecast_prometheus::Error::Connect {
                            url: "http://prometheus:9090/api/v1/query_range".into(),
                            source: Box::new(std::io::Error::new(
                                std::io::ErrorKind::ConnectionRefused,
                                "connection refused",
                            )),
                        },
                    ))
                });
            }
            self.inner.range(start, end, step)
        }
    }

    /// Unix time that follows tokio's (pausable) clock.
    #[derive(Debug)]
    struct TokioClock {
        base: f64,
        start: tokio::time::Instant,
    }
    impl Clock for TokioClock {
        fn now(&self) -> f64 {
            self.base + self.start.elapsed().as_secs_f64()
        }
    }

    fn target() -> Arc<Target> {
        let yaml = r#"
tls: {cert_file: a, key_file: b}
targets:
  - {name: tv, metric: lb_connections_predicted, labels: {service: tv}, query: x, timezone: Asia/Shanghai, window: 8d}
"#;
        crate::config::Config::parse(yaml, std::path::Path::new("."))
            .unwrap()
            .targets
            .remove(0)
    }

    #[tokio::test(start_paused = true)]
    async fn the_staleness_chain_under_paused_time() {
        // 2026-10-20T08:30:00Z = 16:30 in Shanghai, half an hour before the evening peak.
        let clock: Arc<dyn Clock> = Arc::new(TokioClock {
            base: 1_792_485_000.0,
            start: tokio::time::Instant::now(),
        });
        let generator = tidecast_core::synth::TidalGenerator::new(
            chrono_tz::Tz::Asia__Shanghai,
            200.0,
            4000.0,
            1,
        );
        let source = Arc::new(Switchable {
            inner: SyntheticSource {
                generator,
                clock: clock.clone(),
            },
            down: AtomicBool::new(false),
        });
        let cfg = target();
        let store = MetricStore::new(vec![TargetRuntime::initial_view(&cfg)]);
        let fits = Semaphore::new(1);
        let mut rt = TargetRuntime::new(0, cfg, source.clone());
        let serve = |store: &MetricStore| store.registry().get(0).serve(clock.now() as i64);

        assert_eq!(serve(&store).state, Freshness::NoData);
        rt.refresh(clock.now() as i64, &store, &fits).await;
        let s = serve(&store);
        assert_eq!(s.state, Freshness::Fresh);
        let live = store.registry().get(0).live.unwrap().value;
        let fresh_value = s.value.unwrap();
        assert!(fresh_value >= live, "never below live");

        // 16:50: the 17:00 peak is inside the 15-minute lead; the value has risen ahead of it.
        tokio::time::advance(std::time::Duration::from_secs(20 * 60)).await;
        rt.refresh(clock.now() as i64, &store, &fits).await;
        let risen = serve(&store).value.unwrap();
        let live_now = store.registry().get(0).live.unwrap().value;
        assert!(
            risen > 2.0 * live_now,
            "served {risen} rises ahead of the peak (live {live_now})"
        );

        // Prometheus goes down: fresh -> last_good -> model_only -> expired, each visible.
        source.down.store(true, Ordering::SeqCst);
        let mut seen = Vec::new();
        for _ in 0..30 {
            tokio::time::advance(std::time::Duration::from_secs(300)).await;
            rt.refresh(clock.now() as i64, &store, &fits).await;
            let s = serve(&store);
            if seen.last() != Some(&s.state) {
                seen.push(s.state);
            }
            match s.state {
                Freshness::Expired => assert!(s.value.is_err(), "expired never serves a value"),
                _ => assert!(s.value.is_ok()),
            }
        }
        // The first 5 minutes without data are still within `stale_after`.
        assert_eq!(
            seen,
            vec![
                Freshness::Fresh,
                Freshness::LastGood,
                Freshness::ModelOnly,
                Freshness::Expired
            ]
        );
        let v = store.registry().get(0);
        // The last error names the URL and keeps its cause.
        assert!(v.refresh_failed >= 25);
        assert_eq!(
            v.last_error.as_deref(),
            Some("cannot connect to http://prometheus:9090/api/v1/query_range: connection refused")
        );

        // Recovery: fresh again as soon as data flows.
        source.down.store(false, Ordering::SeqCst);
        rt.refresh(clock.now() as i64, &store, &fits).await;
        assert_eq!(serve(&store).state, Freshness::Fresh);
    }

    #[test]
    fn the_board_trail_keeps_a_grid_with_gaps_and_its_span_only() {
        let mut b = BoardTrail {
            span: 300,
            step: 60,
            start: 0,
            actual: Default::default(),
            trail: Arc::default(),
        };
        for (t, v) in [(600, 1.0), (660, 2.0), (840, 5.0), (840, 9.0), (780, 9.0)] {
            b.observe(t, v);
        }
        let got: Vec<String> = b.actual.iter().map(|v| v.to_string()).collect();
        assert_eq!(
            (b.start, got),
            (
                600,
                vec!["1", "2", "NaN", "NaN", "5"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>()
            )
        );
        b.observe(1200, 7.0);
        assert_eq!(b.start, 900, "five minutes behind the newest");
        assert_eq!(b.actual.len(), 6);
        assert_eq!(b.newest(), Some(1200));
        b.observe(100_000, 8.0);
        assert_eq!(
            (b.start, b.actual.len()),
            (99_700, 6),
            "a long gap keeps only the span"
        );
    }

    #[test]
    fn accuracy_scores_each_forecast_against_its_actual() {
        let mut a = AccuracyTracker::new();
        a.record([Pending {
            target_t: 60,
            horizon_idx: 0,
            point: 90.0,
            lower: 80.0,
            upper: 95.0,
        }]);
        a.observe(60, 100.0);
        assert_eq!(a.stats[0].n, 1);
        assert_eq!(a.stats[0].mae, 10.0);
        assert_eq!(a.stats[0].mape, 10.0);
        assert_eq!(a.stats[0].coverage, 0.0);
        assert!(a.pending.is_empty());
    }
}
