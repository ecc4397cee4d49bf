//! The refit schedule shared by `forecast`, `backtest` and the server.
//!
//! A model is refitted at every multiple of `refit_every` since the Unix epoch (00:00 UTC
//! daily by default) on the `window` of history ending there, and absorbs each observation
//! after that point as a state update. `forecast` on a history ending at `t` and a
//! backtest origin at `t` therefore run exactly the same computation: the backtest is an
//! honest replay of production.

use crate::coarse::{Coarse, aggregate};
use crate::naive::{Season, SeasonalNaiveSpec};
use crate::tidal::TidalSpec;
use crate::{AutoSpec, Error, Fitted, Result};
use std::str::FromStr;
use std::sync::Arc;
use tidecast_core::{Calendar, Forecast, Predict, SECS_PER_DAY, Series};

/// The training window's default (`tidecast_core`'s, re-exported beside the forecaster).
pub use tidecast_core::DEFAULT_WINDOW_SECS;

/// The model families the CLI and the server can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelKind {
    /// Tidal model, lag regression, MSTL and persistent-level forecasts weighted per horizon
    /// ([`crate::AutoSpec`]); the default.
    #[default]
    Auto,
    /// Tidal profile x level ([`crate::TidalSpec`]).
    Tidal,
    /// Seasonal naive, one day back.
    SeasonalNaiveDay,
    /// Seasonal naive, one week back.
    SeasonalNaiveWeek,
}

impl ModelKind {
    /// Every kind with its CLI name.
    pub const ALL: [(ModelKind, &'static str); 4] = [
        (ModelKind::Auto, "auto"),
        (ModelKind::Tidal, "tidal"),
        (ModelKind::SeasonalNaiveDay, "snaive-day"),
        (ModelKind::SeasonalNaiveWeek, "snaive-week"),
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .expect("every kind is listed")
    }
}

impl FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(_, n)| *n).collect();
                Error::UnknownModel {
                    given: s.to_string(),
                    expected: names.join(", "),
                }
            })
    }
}

/// Fits models on a schedule and forecasts from their updated state.
#[derive(Debug, Clone)]
#[must_use]
pub struct Forecaster {
    kind: ModelKind,
    refit_every: i64,
    window: i64,
    quantiles: Vec<f64>,
    /// Fit on means over buckets of this many seconds when the series is finer.
    coarse: Option<i64>,
    calendar: Arc<Calendar>,
}

/// One backtest origin and the forecast made there.
#[derive(Debug, Clone)]
pub struct OriginForecast {
    /// The origin as given.
    pub origin: i64,
    /// Grid index of the last observation the forecast could use.
    pub last_index: usize,
    /// The forecast.
    pub forecast: Forecast,
    /// The fitted model's name (shared by the origins of one refit).
    pub model: Arc<str>,
}

impl Forecaster {
    /// A forecaster with the default model, daily refits on 42 days and 10 %/90 % quantiles.
    pub fn new(calendar: Arc<Calendar>) -> Self {
        Self {
            kind: ModelKind::Auto,
            refit_every: SECS_PER_DAY,
            window: DEFAULT_WINDOW_SECS,
            quantiles: vec![0.1, 0.9],
            coarse: None,
            calendar,
        }
    }
    /// Fit on means over buckets of `secs` (a multiple of the series' step, dividing the
    /// refit interval) when the series is finer, and read the forecast back per step: a
    /// 1-minute target can then run the combination, which applies from 5 minutes up.
    /// `None` fits the series as it is.
    pub fn aggregate(mut self, secs: Option<i64>) -> Self {
        self.coarse = secs.filter(|s| *s > 0);
        self
    }
    /// The model family.
    pub fn model(mut self, kind: ModelKind) -> Self {
        self.kind = kind;
        self
    }
    /// Seconds between refits (aligned to the Unix epoch).
    pub fn refit_every(mut self, secs: i64) -> Self {
        self.refit_every = secs.max(1);
        self
    }
    /// Seconds of history each fit sees.
    pub fn window(mut self, secs: i64) -> Self {
        self.window = secs.max(1);
        self
    }
    /// Quantile levels to forecast, each in (0, 1).
    pub fn quantiles(mut self, q: &[f64]) -> Self {
        self.quantiles = q.to_vec();
        self
    }

    /// The last refit point at or before `t`.
    pub fn refit_point(&self, t: i64) -> i64 {
        t.div_euclid(self.refit_every) * self.refit_every
    }

    /// Fit the model as it would have been fitted at refit point `at`.
    pub fn fit_at(&self, history: &Series, at: i64, steps: usize) -> Result<Fitted> {
        let train = history.window(at - self.window + 1, at);
        let step = train.step();
        match self.coarse {
            Some(c) if c > step => {
                if c % step != 0 || self.refit_every % c != 0 {
                    return Err(Error::AggregateNotWhole {
                        step,
                        aggregate: c,
                        refit_every: self.refit_every,
                    });
                }
                let means = aggregate(&train, c)?;
                let newest = means.values().last().copied().unwrap_or(f64::NAN);
                let coarse_steps = ((steps as i64 * step + c - 1) / c) as usize;
                let inner = self.fit_grid(&means, at, coarse_steps)?;
                let last = train.end().unwrap_or(at);
                Ok(Fitted::Coarse(Box::new(Coarse::new(
                    inner, step, c, last, newest,
                ))))
            }
            _ => self.fit_grid(&train, at, steps),
        }
    }

    /// Fit the model family on `train` as it is.
    fn fit_grid(&self, train: &Series, at: i64, steps: usize) -> Result<Fitted> {
        if train.observed() == 0 {
            return Err(Error::EmptyWindow {
                window: self.window,
                at: tidecast_core::format_timestamp(at),
            });
        }
        let cal = self.calendar.clone();
        Ok(match self.kind {
            ModelKind::Auto => Fitted::Auto(Box::new(
                AutoSpec::new().max_horizon(steps).fit_auto(train, cal)?,
            )),
            ModelKind::Tidal => {
                Fitted::Tidal(TidalSpec::new().max_horizon(steps).fit_tidal(train, cal)?)
            }
            ModelKind::SeasonalNaiveDay => {
                Fitted::SeasonalNaive(SeasonalNaiveSpec::new(Season::Day).fit_naive(train)?)
            }
            ModelKind::SeasonalNaiveWeek => {
                Fitted::SeasonalNaive(SeasonalNaiveSpec::new(Season::Week).fit_naive(train)?)
            }
        })
    }

    /// The model [`Forecaster::forecast`] forecasts with: fitted at the last refit point of
    /// `history`, its state updated with every observation after it. Its
    /// [`Predict::name`] says what the fit chose.
    pub fn fit_latest(&self, history: &Series, steps: usize) -> Result<Fitted> {
        let last = history.end().ok_or_else(|| Error::NotEnoughData {
            model: "a forecast",
            needed: "a history".into(),
            got: "an empty one".into(),
        })?;
        let at = self.refit_point(last);
        let mut model = self.fit_at(history, at, steps)?;
        let from = history.index_at_or_before(at).map_or(0, |i| i + 1);
        for i in from..history.len() {
            model.update(history.timestamp(i), history.values()[i]);
        }
        Ok(model)
    }

    /// Forecast `steps` grid points after the end of `history`.
    pub fn forecast(&self, history: &Series, steps: usize) -> Result<Forecast> {
        Ok(self
            .fit_latest(history, steps)?
            .predict(steps, &self.quantiles)?)
    }

    /// The quantile levels forecasts carry.
    pub fn quantile_levels(&self) -> &[f64] {
        &self.quantiles
    }

    /// Rolling-origin replay: for each origin (ascending), the forecast `forecast` would
    /// make on the history cut at that origin. `progress` is called after each origin.
    pub fn backtest(
        &self,
        history: &Series,
        origins: &[i64],
        steps: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<OriginForecast>> {
        if origins.windows(2).any(|w| w[1] < w[0]) {
            return Err(Error::OriginsNotAscending);
        }
        let mut out = Vec::with_capacity(origins.len());
        /// The model of the current refit: its refit point, the model, the next history
        /// index to feed it, and its name.
        struct Current {
            at: i64,
            model: Fitted,
            seen: usize,
            name: Arc<str>,
        }
        let mut current: Option<Current> = None;
        for (k, &origin) in origins.iter().enumerate() {
            let Some(last) = history.index_at_or_before(origin) else {
                return Err(Error::OriginBeforeData(tidecast_core::format_timestamp(
                    origin,
                )));
            };
            let at = self.refit_point(history.timestamp(last));
            if current.as_ref().is_none_or(|c| c.at != at) {
                let model = self.fit_at(history, at, steps)?;
                current = Some(Current {
                    at,
                    name: Arc::from(model.name()),
                    model,
                    seen: history.index_at_or_before(at).map_or(0, |i| i + 1),
                });
            }
            let c = current.as_mut().expect("set above");
            while c.seen <= last {
                c.model
                    .update(history.timestamp(c.seen), history.values()[c.seen]);
                c.seen += 1;
            }
            out.push(OriginForecast {
                origin,
                last_index: last,
                forecast: c.model.predict(steps, &self.quantiles)?,
                model: c.name.clone(),
            });
            progress(k + 1);
        }
        Ok(out)
    }
}
