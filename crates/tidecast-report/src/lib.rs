#![doc = include_str!("../README.md")]
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]

mod chart;
mod html;

use chrono_tz::Tz;

pub use html::render;

pub use tidecast_core::format_number as number;

/// Why a report could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A chart failed to draw (plotters' own error, as text: its type is generic over the
    /// backend).
    #[error("drawing the {chart} chart: {reason}")]
    Draw {
        /// Which chart.
        chart: &'static str,
        /// What plotters said.
        reason: String,
    },
    /// The report has no target to show.
    #[error("the report has no targets")]
    Empty,
}

/// The page: a title, the zone its clock times are shown in, and one section per target
/// (an overview table first when there are several).
#[derive(Debug, Clone)]
pub struct Report {
    /// The page title.
    pub title: String,
    /// A line under the title: what was run, on what.
    pub subtitle: String,
    /// Clock times and "hour of day" are local to this zone.
    pub zone: Tz,
    /// One section per target.
    pub targets: Vec<TargetReport>,
}

/// Everything shown for one target.
#[derive(Debug, Clone)]
pub struct TargetReport {
    /// The target's name (the history file, or the configured target).
    pub name: String,
    /// The model at the last refit, as the backtest describes it.
    pub model: String,
    /// The headline numbers, in the order shown; the overview table's columns are the first
    /// target's labels.
    pub headline: Vec<Figure>,
    /// Forecast against actual over the backtested stretch.
    pub band: Band,
    /// Errors by local hour of the forecast instant (`key` = hour 0..23).
    pub by_hour: Vec<ErrorRow>,
    /// Errors by horizon (`key` = seconds ahead).
    pub by_horizon: Vec<ErrorRow>,
    /// The HPA replayed three ways, when an HPA was given.
    pub replay: Option<Replay>,
    /// The lead x quantile sweep, when one was run.
    pub frontier: Option<Frontier>,
}

/// One headline number, already formatted.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// What it is ("MAE", "breach minutes, predictive").
    pub label: String,
    /// Its value as shown.
    pub value: String,
}

impl Figure {
    /// A labelled value.
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// A forecast and its interval against the actuals, on one time axis (Unix seconds).
#[derive(Debug, Clone, Default)]
pub struct Band {
    /// Instants, ascending.
    pub t: Vec<i64>,
    /// Observed values (NaN where missing).
    pub actual: Vec<f64>,
    /// The point forecast.
    pub forecast: Vec<f64>,
    /// The interval's lower edge.
    pub lower: Vec<f64>,
    /// The interval's upper edge.
    pub upper: Vec<f64>,
    /// The interval's nominal central coverage (0.8 for 10th..90th percentiles).
    pub nominal: f64,
    /// How far ahead each shown forecast was made, in seconds, for the caption.
    pub ahead_secs: (i64, i64),
}

/// Errors of the point forecast over one group of forecast instants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorRow {
    /// The group: local hour, or seconds ahead.
    pub key: i64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean of forecast minus actual: positive over-forecasts.
    pub bias: f64,
    /// Share of actuals inside the interval.
    pub coverage: f64,
    /// Forecasts in the group.
    pub n: usize,
}

/// The load and each replay's ready capacity over time, with the replays' figures.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Sync instants (Unix seconds), ascending.
    pub t: Vec<i64>,
    /// The load at each sync.
    pub load: Vec<f64>,
    /// reactive, predictive, oracle (or whichever were run).
    pub runs: Vec<Run>,
    /// A caption: the HPA, the lead and quantile served, the start-up delay.
    pub caption: String,
}

/// One replay: its ready capacity at each sync and what it cost and missed.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// reactive, predictive or oracle.
    pub name: String,
    /// Ready pods x one pod's capacity, at each sync of [`Replay::t`].
    pub capacity: Vec<f64>,
    /// Minutes with load above ready capacity.
    pub breach_minutes: f64,
    /// Load above capacity x minutes.
    pub unserved: f64,
    /// Pods existing x hours.
    pub pod_hours: f64,
    /// Syncs that scaled up.
    pub scale_ups: usize,
    /// Syncs that scaled down.
    pub scale_downs: usize,
}

/// The lead x quantile grid: chosen on one stretch, shown on the next.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    /// The budget: pod-hours at most this many times the oracle's.
    pub budget: f64,
    /// The stretch the recommendation was chosen on, as text.
    pub chosen_on: String,
    /// The stretch it is shown on.
    pub shown_on: String,
    /// Every cell of the grid.
    pub cells: Vec<Cell>,
}

/// One setting of the sweep and its outcome on both stretches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Lead in seconds.
    pub lead_secs: i64,
    /// Quantile served.
    pub quantile: f64,
    /// Breach minutes on the stretch chosen on and on the one shown on.
    pub breach_minutes: [f64; 2],
    /// Pod-hours over the oracle's (same lead, same stretch), on both.
    pub pod_ratio: [f64; 2],
    /// The recommendation.
    pub chosen: bool,
}
