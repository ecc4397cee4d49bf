//! `tidecast simulate`: the HPA replayed on a history three ways, so an analyst sees what a
//! lead and a quantile buy and cost on their own service.

use crate::cli::{ModelArgs, ReplayArgs, SimulateArgs};
use crate::history::{self, usage};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tidecast_core::{SECS_PER_DAY, Series, format_timestamp};
use tidecast_hpa::{Cluster, HpaSpec, Nodes, Outcome, Target, replay};
use tidecast_io::{Column, write_table};
use tidecast_models::OriginForecast;
use tidecast_server::{Mode, Observation, ServedForecast, Staleness, TargetView};

/// Training before the default first replayed instant: two weeks, so a weekly profile and
/// the combination's daily lags have data.
const DEFAULT_TRAINING_DAYS: i64 = 14;

pub(crate) fn run(args: &SimulateArgs) -> Result<()> {
    let (series, source) = history::load(&args.history)?;
    if args.replay.hpa.is_none() {
        return Err(usage("simulate needs --hpa FILE and --pod-capacity N"));
    }
    let plan = Plan::new(&args.replay, &series)?;
    if !args.replay.sweep_leads.is_empty() {
        let sweep = plan.sweep(&args.replay, &args.model, &series, &source)?;
        print_sweep(&sweep);
        if let Some(path) = &args.json {
            write_json(path, &sweep_json(&sweep))?;
        }
        return Ok(());
    }
    let outcomes = plan.compare(&args.model, &series, &source)?;
    print_table(&plan.setup, &outcomes);
    if let Some(path) = &args.json {
        write_json(path, &summary(&plan, &outcomes))?;
    }
    if let Some(path) = &args.out {
        write_table(Some(path), &plan.timeline(&outcomes))?;
    }
    Ok(())
}

/// The HPA, the trace and the cluster: what every replay of one history shares.
pub(crate) struct Plan {
    hpa: HpaSpec,
    pub(crate) setup: Setup,
    trace: Vec<(i64, f64)>,
    pub(crate) pod_capacity: f64,
    pub(crate) quantile: f64,
}

/// The three replays of one setting, by name: reactive, predictive, oracle.
pub(crate) type Outcomes = Vec<(&'static str, Outcome)>;

impl Plan {
    /// Reads the HPA manifest of `args` (which must name one) and checks the stretch
    /// against the history.
    pub(crate) fn new(args: &ReplayArgs, series: &Series) -> Result<Self> {
        let (Some(path), Some(pod_capacity)) = (&args.hpa, args.pod_capacity) else {
            return Err(usage("the replay needs --hpa FILE and --pod-capacity N"));
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let hpa = HpaSpec::from_yaml(&text, args.metric.as_deref())
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        if !pod_capacity.is_finite() || pod_capacity <= 0.0 {
            return Err(usage("--pod-capacity must be positive"));
        }
        Ok(Self {
            hpa,
            setup: Setup::new(args, series)?,
            trace: (0..series.len())
                .filter(|i| !series.values()[*i].is_nan())
                .map(|i| (series.timestamp(i), series.values()[i]))
                .collect(),
            pod_capacity,
            quantile: args.quantile,
        })
    }

    /// Reactive, predictive at the plan's lead and quantile, and oracle, over the stretch.
    pub(crate) fn compare(
        &self,
        model: &ModelArgs,
        series: &Series,
        source: &str,
    ) -> Result<Outcomes> {
        let results = backtest(
            model,
            series,
            &self.setup,
            &[self.quantile],
            self.setup.lead,
            source,
        )?;
        let served = served_map(&results, 0);
        let span = (self.setup.from, self.setup.to);
        Ok(vec![
            ("reactive", self.reactive(span)),
            (
                "predictive",
                self.predictive(span, &served, self.setup.lead),
            ),
            ("oracle", self.oracle(span, self.setup.lead)),
        ])
    }

    /// The load at `t`: the newest observation then (NaN before the first).
    pub(crate) fn load_at(&self, t: i64) -> f64 {
        self.live(t).unwrap_or(f64::NAN)
    }

    /// One row per sync: the load then, and each replay's replicas, ready pods and capacity.
    pub(crate) fn timeline(&self, outcomes: &[(&str, Outcome)]) -> Vec<Column> {
        let syncs: Vec<i64> = outcomes[0].1.replicas.iter().map(|r| r.0).collect();
        let load = syncs.iter().map(|t| self.load_at(*t)).collect();
        let mut columns = vec![
            Column::Timestamp("timestamp".into(), syncs),
            Column::Float("load".into(), load),
        ];
        for (name, o) in outcomes {
            let col = |f: &dyn Fn(&(i64, i32, i32)) -> f64| o.replicas.iter().map(f).collect();
            columns.push(Column::Float(
                format!("{name}_replicas"),
                col(&|r| f64::from(r.1)),
            ));
            columns.push(Column::Float(
                format!("{name}_ready"),
                col(&|r| f64::from(r.2)),
            ));
            columns.push(Column::Float(
                format!("{name}_capacity"),
                col(&|r| f64::from(r.2) * self.pod_capacity),
            ));
        }
        columns
    }

    fn live(&self, t: i64) -> Option<f64> {
        latest(&self.trace, t).map(|(_, v)| v)
    }

    fn run(&self, (from, to): (i64, i64), metric: &dyn Fn(i64) -> Result<f64, String>) -> Outcome {
        let initial = initial_replicas(&self.hpa, self.live(from).unwrap_or(0.0));
        replay(
            &self.hpa,
            self.setup.cluster,
            &self.trace,
            (from, to),
            self.pod_capacity,
            initial,
            metric,
        )
    }

    /// On the live metric, as a reactive HPA reads it.
    fn reactive(&self, span: (i64, i64)) -> Outcome {
        self.run(span, &|t| {
            self.live(t).ok_or_else(|| "no data yet".to_string())
        })
    }

    /// On what serve would have served with `lead`.
    fn predictive(
        &self,
        span: (i64, i64),
        served: &BTreeMap<i64, ServedForecast>,
        lead: i64,
    ) -> Outcome {
        self.run(span, &|t| {
            served_at(served, lead, latest(&self.trace, t), t)
        })
    }

    /// On the true peak over `[t, t + lead]`.
    fn oracle(&self, span: (i64, i64), lead: i64) -> Outcome {
        self.run(span, &|t| {
            peak(&self.trace, t, t + lead)
                .or(self.live(t))
                .ok_or_else(|| "no data".to_string())
        })
    }
}

/// The replayed stretch and the cluster's timing.
pub(crate) struct Setup {
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) lead: i64,
    step: i64,
    pub(crate) cluster: Cluster,
}

impl Setup {
    fn new(args: &ReplayArgs, series: &Series) -> Result<Self> {
        let (first, last) = (series.start(), series.end().expect("a series has points"));
        let from = match &args.from {
            Some(v) => history::instant("from", v)?,
            None => first + DEFAULT_TRAINING_DAYS * SECS_PER_DAY,
        };
        let to = match &args.to {
            Some(v) => history::instant("to", v)?,
            None => last,
        };
        if from < first || to > last || to <= from {
            return Err(usage(format!(
                "the replayed stretch {}..{} must lie inside the history {}..{}",
                format_timestamp(from),
                format_timestamp(to),
                format_timestamp(first),
                format_timestamp(last)
            )));
        }
        if !(args.quantile > 0.0 && args.quantile < 1.0) {
            return Err(usage(format!(
                "--quantile {} is outside (0, 1)",
                args.quantile
            )));
        }
        let cluster = Cluster {
            sync_secs: history::duration("sync", &args.sync)?,
            startup_secs: history::duration("startup", &args.startup)?,
            nodes: args.nodes.as_deref().map(nodes).transpose()?,
        };
        Ok(Self {
            from,
            to,
            lead: history::duration("lead", &args.lead)?,
            step: series.step(),
            cluster,
        })
    }
}

/// `--nodes PODS,DURATION`.
fn nodes(spec: &str) -> Result<Nodes> {
    let bad = || {
        usage(format!(
            "--nodes {spec:?}: expected PODS,DURATION such as 10,3m"
        ))
    };
    let (pods, secs) = spec.split_once(',').ok_or_else(bad)?;
    Ok(Nodes {
        pods_per_node: pods
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(bad)?,
        provision_secs: history::duration("nodes", secs.trim())?,
        unneeded_secs: 600,
    })
}

/// The forecasts serve would hold after each refresh: an honest backtest with an origin every
/// step over the stretch, at `quantiles`, `lead` ahead.
fn backtest(
    model: &ModelArgs,
    series: &Series,
    setup: &Setup,
    quantiles: &[f64],
    lead: i64,
    source: &str,
) -> Result<Vec<OriginForecast>> {
    let (forecaster, _) = history::forecaster(model)?;
    let forecaster = forecaster.quantiles(quantiles);
    let first = setup.from.div_euclid(setup.step) * setup.step - setup.step;
    let origins: Vec<i64> = (0..)
        .map(|k| first + k * setup.step)
        .take_while(|o| *o <= setup.to)
        .filter(|o| *o >= series.start())
        .collect();
    let steps = history::steps(lead, setup.step);
    forecaster
        .backtest(series, &origins, steps, |_| {})
        .with_context(|| format!("backtesting {source}"))
}

/// The served-quantile forecast (the `k`-th quantile) of each origin, as serve stores it.
fn served_map(results: &[OriginForecast], k: usize) -> BTreeMap<i64, ServedForecast> {
    results
        .iter()
        .map(|r| {
            let f = &r.forecast;
            let values = f.quantiles.get(k).map_or(&f.point, |(_, v)| v);
            let served = ServedForecast {
                start: f.start,
                step: f.step,
                values: values.iter().map(|v| *v as f32).collect(),
            };
            (r.origin, served)
        })
        .collect()
}

/// What serve answers at `t`: the server's own policy on the forecast of the newest refresh
/// and the live value then.
fn served_at(
    served: &BTreeMap<i64, ServedForecast>,
    lead: i64,
    live: Option<(i64, f64)>,
    t: i64,
) -> Result<f64, String> {
    let forecast = served
        .range(..=t)
        .next_back()
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    let view = TargetView {
        name: "simulated".into(),
        metric: "simulated".into(),
        labels: std::sync::Arc::default(),
        namespaces: None,
        mode: Mode::Scale,
        lead,
        staleness: Staleness::default(),
        live: live.map(|(t, value)| Observation { t, value }),
        forecast,
        horizons: Vec::new(),
        accuracy: Vec::new(),
        refresh_ok: 1,
        refresh_failed: 0,
        last_error: None,
        model_refit_point: None,
        trail: None,
    };
    view.serve(t).value
}

/// The newest observation at or before `t`.
fn latest(trace: &[(i64, f64)], t: i64) -> Option<(i64, f64)> {
    let k = trace.partition_point(|(ts, _)| *ts <= t);
    k.checked_sub(1).map(|i| trace[i])
}

/// The largest observation in `[from, to]`.
fn peak(trace: &[(i64, f64)], from: i64, to: i64) -> Option<f64> {
    let a = trace.partition_point(|(ts, _)| *ts < from);
    let b = trace.partition_point(|(ts, _)| *ts <= to);
    trace[a..b].iter().map(|(_, v)| *v).reduce(f64::max)
}

/// Replicas steady for the load at the start: what the HPA would want, within its bounds.
fn initial_replicas(hpa: &HpaSpec, load: f64) -> i32 {
    let want = match hpa.target {
        Target::AverageValue(a) => (load / a).ceil(),
        Target::Value(v) => (load / v).ceil(),
    };
    (want as i32).clamp(hpa.min_replicas.max(1), hpa.max_replicas)
}

fn print_table(setup: &Setup, results: &[(&str, Outcome)]) {
    println!(
        "{} .. {}, lead {}s, pods ready {}s after creation",
        format_timestamp(setup.from),
        format_timestamp(setup.to),
        setup.lead,
        setup.cluster.startup_secs
    );
    println!(
        "{:>11} {:>15} {:>14} {:>10} {:>10} {:>12}",
        "", "breach minutes", "unserved", "pod-hours", "scale-ups", "scale-downs"
    );
    for (name, o) in results {
        println!(
            "{name:>11} {:>15.2} {:>14.1} {:>10.1} {:>10} {:>12}",
            o.breach_minutes, o.unserved, o.pod_hours, o.scale_ups, o.scale_downs
        );
    }
}

/// An outcome's five figures as the documented JSON.
fn figures_json(o: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "breach_minutes": o.breach_minutes,
        "unserved": o.unserved,
        "pod_hours": o.pod_hours,
        "scale_ups": o.scale_ups,
        "scale_downs": o.scale_downs,
    })
}

/// The figures and the replicas at every sync.
fn outcome_json(o: &Outcome) -> serde_json::Value {
    let mut v = figures_json(o);
    v["replicas"] = o
        .replicas
        .iter()
        .map(|(t, r, ready)| serde_json::json!({"t": format_timestamp(*t), "replicas": r, "ready": ready}))
        .collect();
    v
}

fn summary(plan: &Plan, outcomes: &[(&str, Outcome)]) -> serde_json::Value {
    let setup = &plan.setup;
    let mut doc = serde_json::json!({
        "from": format_timestamp(setup.from),
        "to": format_timestamp(setup.to),
        "lead_seconds": setup.lead,
        "quantile": plan.quantile,
        "startup_seconds": setup.cluster.startup_secs,
        "pod_capacity": plan.pod_capacity,
    });
    for (name, o) in outcomes {
        doc[*name] = outcome_json(o);
    }
    doc
}

fn write_json(path: &std::path::Path, doc: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(doc)? + "\n";
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Wall time, for the cost the sweep reports to its user.
#[allow(clippy::disallowed_types)] // the user asked how long the work takes
struct Stopwatch(std::time::Instant);

impl Stopwatch {
    // The user asked how long the work takes: real elapsed time is the answer.
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)]
    fn start() -> Self {
        Self(std::time::Instant::now())
    }
    #[allow(clippy::disallowed_types)]
    fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// One cell of the sweep on one half: the predictive outcome and the oracle's pod-hours.
pub(crate) struct Cell {
    pub(crate) lead: i64,
    pub(crate) quantile: f64,
    pub(crate) halves: [Outcome; 2],
    pub(crate) oracle_pod_hours: [f64; 2],
}

impl Cell {
    /// Pod-hours over the oracle's on half `h`.
    pub(crate) fn ratio(&self, h: usize) -> f64 {
        self.halves[h].pod_hours / self.oracle_pod_hours[h].max(f64::MIN_POSITIVE)
    }
}

/// The lead x quantile grid on both halves of the stretch and the recommendation.
pub(crate) struct Sweep {
    pub(crate) cells: Vec<Cell>,
    pub(crate) chosen: Option<usize>,
    pub(crate) budget: f64,
    pub(crate) halves: [(i64, i64); 2],
}

impl Plan {
    /// The lead x quantile grid on both halves of the stretch, and the recommendation: the
    /// fewest breach minutes on the first half within `--budget` x the oracle's pod-hours
    /// there, shown on the second half, where it was not chosen.
    pub(crate) fn sweep(
        &self,
        args: &ReplayArgs,
        model: &ModelArgs,
        series: &Series,
        source: &str,
    ) -> Result<Sweep> {
        if args.sweep_quantiles.is_empty() {
            return Err(usage("--sweep-leads needs --sweep-quantiles"));
        }
        if let Some(q) = args
            .sweep_quantiles
            .iter()
            .find(|q| !(**q > 0.0 && **q < 1.0))
        {
            return Err(usage(format!("--sweep-quantiles: {q} is outside (0, 1)")));
        }
        let leads = args
            .sweep_leads
            .iter()
            .map(|l| history::duration("sweep-leads", l))
            .collect::<Result<Vec<i64>>>()?;
        let longest = leads.iter().copied().max().unwrap_or(self.setup.lead);
        let clock = Stopwatch::start();
        let results = backtest(
            model,
            series,
            &self.setup,
            &args.sweep_quantiles,
            longest,
            source,
        )?;
        let backtest_secs = clock.secs();
        let mid = self.setup.from + (self.setup.to - self.setup.from) / 2;
        let halves = [(self.setup.from, mid), (mid, self.setup.to)];
        // Each quantile's forecasts serve every lead: built once, not once per cell.
        let served: Vec<_> = (0..args.sweep_quantiles.len())
            .map(|k| served_map(&results, k))
            .collect();
        let mut cells = Vec::new();
        for &lead in &leads {
            let oracle = halves.map(|h| self.oracle(h, lead).pod_hours);
            for (&quantile, served) in args.sweep_quantiles.iter().zip(&served) {
                cells.push(Cell {
                    lead,
                    quantile,
                    halves: halves.map(|h| self.predictive(h, served, lead)),
                    oracle_pod_hours: oracle,
                });
            }
        }
        eprintln!(
            "backtest: {} origins in {backtest_secs:.2} s; {} replays in {:.2} s",
            results.len(),
            cells.len() * 2 + leads.len() * 2,
            clock.secs() - backtest_secs
        );
        let chosen = recommend(&cells, args.budget);
        Ok(Sweep {
            cells,
            chosen,
            budget: args.budget,
            halves,
        })
    }
}

/// The cell with the fewest breach minutes on the first half among those within budget
/// there (fewer pod-hours on a tie); `None` when none is.
fn recommend(cells: &[Cell], budget: f64) -> Option<usize> {
    cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.halves[0].pod_hours <= budget * c.oracle_pod_hours[0])
        .min_by(|(_, a), (_, b)| {
            let key = |c: &Cell| (c.halves[0].breach_minutes, c.halves[0].pod_hours);
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .map(|(i, _)| i)
}

fn print_sweep(sweep: &Sweep) {
    let Sweep {
        cells,
        chosen,
        budget,
        halves,
    } = sweep;
    let (chosen, budget) = (*chosen, *budget);
    println!(
        "sweep chosen on {} .. {}, shown on {} .. {}",
        format_timestamp(halves[0].0),
        format_timestamp(halves[0].1),
        format_timestamp(halves[1].0),
        format_timestamp(halves[1].1)
    );
    println!(
        "{:>6} {:>9} {:>16} {:>20} {:>16} {:>20}",
        "lead",
        "quantile",
        "breach min (1st)",
        "pod-h / oracle (1st)",
        "breach min (2nd)",
        "pod-h / oracle (2nd)"
    );
    for (i, c) in cells.iter().enumerate() {
        println!(
            "{:>5}m {:>9} {:>16.2} {:>20.3} {:>16.2} {:>20.3}{}",
            c.lead / 60,
            c.quantile,
            c.halves[0].breach_minutes,
            c.ratio(0),
            c.halves[1].breach_minutes,
            c.ratio(1),
            if Some(i) == chosen {
                "  <- recommended"
            } else {
                ""
            }
        );
    }
    match chosen {
        Some(i) => println!(
            "recommended: lead {}m, quantile {} (fewest breach minutes within {budget}x the oracle's pod-hours on the first half)",
            cells[i].lead / 60,
            cells[i].quantile
        ),
        None => println!("no cell is within {budget}x the oracle's pod-hours on the first half"),
    }
}

fn sweep_json(sweep: &Sweep) -> serde_json::Value {
    let Sweep {
        cells,
        chosen,
        budget,
        halves,
    } = sweep;
    let half = |h: (i64, i64)| serde_json::json!({"from": format_timestamp(h.0), "to": format_timestamp(h.1)});
    let cells_json: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| {
            let one = |h: usize| {
                let mut v = figures_json(&c.halves[h]);
                v["oracle_pod_hours"] = c.oracle_pod_hours[h].into();
                v
            };
            serde_json::json!({"lead_seconds": c.lead, "quantile": c.quantile, "chosen_on": one(0), "shown_on": one(1)})
        })
        .collect();
    serde_json::json!({
        "budget": budget,
        "chosen_on": half(halves[0]),
        "shown_on": half(halves[1]),
        "cells": cells_json,
        "recommendation": chosen.map(|i| serde_json::json!({"lead_seconds": cells[i].lead, "quantile": cells[i].quantile})),
    })
}
