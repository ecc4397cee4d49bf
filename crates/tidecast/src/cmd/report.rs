//! `tidecast report`: the backtest (and, with an HPA, the replays and the sweep) of one or
//! more histories as one HTML page, and the same data as Parquet for notebooks.

use crate::cli::ReportArgs;
use crate::cmd::simulate::{Outcomes, Plan, Sweep};
use crate::history::{self, Levels, usage};
use anyhow::{Context, Result};
use chrono::{TimeZone, Timelike};
use chrono_tz::Tz;
use std::path::Path;
use tidecast_core::{Calendar, SECS_PER_DAY, Series, format_timestamp};
use tidecast_io::{Column, write_table};
use tidecast_models::{Forecaster, OriginForecast};
use tidecast_report::{Band, Cell, ErrorRow, Figure, Frontier, Replay, Report, Run, TargetReport};

/// Training before the default first origin, as simulate's default stretch.
const DEFAULT_TRAINING_DAYS: i64 = 14;

pub(crate) fn run(args: &ReportArgs) -> Result<()> {
    let (forecaster, levels) = history::forecaster(&args.model)?;
    let zone = Calendar::parse_zone(&args.model.timezone)
        .map_err(|e| usage(format!("--timezone: {e}")))?;
    let horizon = history::duration("horizon", &args.horizon)?;
    let every = history::duration("every", &args.every)?;
    let mut targets = Vec::new();
    let mut tables = Tables::default();
    for path in &args.history {
        let series = read(args, path)?;
        let name = target_name(path);
        let job = Job {
            args,
            forecaster: &forecaster,
            levels: &levels,
            zone,
            series: &series,
            name: &name,
            source: path.display().to_string(),
            horizon,
            every,
        };
        targets.push(job.run(&mut tables)?);
    }
    let report = Report {
        title: "tidecast report".into(),
        subtitle: subtitle(args, &targets),
        zone,
        targets,
    };
    let html = tidecast_report::render(&report)?;
    write_html(&args.out, &html)?;
    eprintln!(
        "wrote {} ({} target{})",
        args.out.display(),
        report.targets.len(),
        if report.targets.len() == 1 { "" } else { "s" }
    );
    if let Some(dir) = &args.parquet {
        tables.write(dir, args.replay.hpa.is_some())?;
    }
    Ok(())
}

fn read(args: &ReportArgs, path: &Path) -> Result<Series> {
    let step = args
        .step
        .as_deref()
        .map(|s| history::duration("step", s))
        .transpose()?;
    let opts = tidecast_io::ReadOptions::new()
        .timestamp_column(&args.timestamp_column)
        .value_column(&args.value_column)
        .step(step);
    Ok(tidecast_io::read_series(path, &opts)?)
}

/// The file name without its extension.
fn target_name(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn subtitle(args: &ReportArgs, targets: &[TargetReport]) -> String {
    let mut s = format!(
        "model {}, window {}, origins every {}, {} ahead, {} % interval; times in {}",
        args.model.model,
        args.model.window,
        args.every,
        args.horizon,
        (args.model.interval * 100.0).round(),
        args.model.timezone
    );
    if args.replay.hpa.is_some() {
        s.push_str(&format!(
            "; HPA replayed with lead {}, quantile {}, pods ready {} after creation",
            args.replay.lead, args.replay.quantile, args.replay.startup
        ));
    }
    s.push_str(&format!("; {} target(s)", targets.len()));
    s
}

fn write_html(path: &Path, html: &str) -> Result<()> {
    // A sibling then a rename: a reader (or a browser reloading) never sees half a page.
    let tmp = path.with_extension(format!("html.tmp-{}", std::process::id()));
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// One target's work: its backtest, and its replays when an HPA is given.
struct Job<'a> {
    args: &'a ReportArgs,
    forecaster: &'a Forecaster,
    levels: &'a Levels,
    zone: Tz,
    series: &'a Series,
    name: &'a str,
    source: String,
    horizon: i64,
    every: i64,
}

impl Job<'_> {
    fn run(&self, tables: &mut Tables) -> Result<TargetReport> {
        let origins = self.origins()?;
        let steps = history::steps(self.horizon, self.series.step());
        let results = self
            .forecaster
            .backtest(self.series, &origins, steps, |_| {})
            .with_context(|| format!("backtesting {}", self.source))?;
        tables.forecasts(self.name, self.series, &results, self.levels);
        let rows = self.rows(&results);
        let (replay, frontier, mut figures) = match &self.args.replay.hpa {
            Some(_) => self.replays(tables)?,
            None => (None, None, Vec::new()),
        };
        let mut headline = accuracy_figures(&rows, self.levels, results.len());
        headline.append(&mut figures);
        Ok(TargetReport {
            name: self.name.to_string(),
            model: results
                .last()
                .map_or_else(String::new, |r| r.model.to_string()),
            headline,
            band: self.band(&results),
            by_hour: group(&rows, |r| r.hour),
            by_horizon: group(&rows, |r| r.ahead),
            replay,
            frontier,
        })
    }

    /// `--from` (default: 14 days after the first sample) every `--every` until the last
    /// origin whose horizon the data still covers (or `--to`).
    fn origins(&self) -> Result<Vec<i64>> {
        let s = self.series;
        let (first, last) = (s.start(), s.end().expect("a series has points"));
        let from = match &self.args.replay.from {
            Some(v) => history::instant("from", v)?,
            None => first + DEFAULT_TRAINING_DAYS * SECS_PER_DAY,
        };
        let to = match &self.args.replay.to {
            Some(v) => history::instant("to", v)?,
            None => last,
        }
        .min(last)
            - self.horizon;
        if from < first || to < from {
            return Err(usage(format!(
                "{}: no origins: the stretch {} .. {} (less the {} s horizon) does not fit the history {} .. {}",
                self.source,
                format_timestamp(from),
                format_timestamp(to + self.horizon),
                self.horizon,
                format_timestamp(first),
                format_timestamp(last)
            )));
        }
        Ok((0..)
            .map(|k| from + k * self.every)
            .take_while(|o| *o <= to)
            .collect())
    }

    /// Every scored forecast step: its local hour, how far ahead, error and coverage.
    fn rows(&self, results: &[OriginForecast]) -> Vec<Scored> {
        let y = self.series.values();
        let (lo, hi) = (self.levels.lower, self.levels.upper);
        let mut out = Vec::new();
        for r in results {
            let f = &r.forecast;
            let (lower, upper) = (f.quantile(lo), f.quantile(hi));
            for i in 0..f.len() {
                let actual = y.get(r.last_index + 1 + i).copied().unwrap_or(f64::NAN);
                if !actual.is_finite() || !f.point[i].is_finite() {
                    continue;
                }
                let inside = match (lower, upper) {
                    (Some(l), Some(u)) => l[i] <= actual && actual <= u[i],
                    _ => false,
                };
                out.push(Scored {
                    hour: local_hour(self.zone, f.timestamp(i)),
                    ahead: f.timestamp(i) - r.origin,
                    error: f.point[i] - actual,
                    actual,
                    inside,
                });
            }
        }
        out
    }

    /// The forecast of each origin up to the next origin, end to end: every instant
    /// forecast from the newest origin before it, as a refreshing server holds it.
    fn band(&self, results: &[OriginForecast]) -> Band {
        let y = self.series.values();
        let mut band = Band {
            nominal: self.levels.upper - self.levels.lower,
            ahead_secs: (self.series.step(), self.every.min(self.horizon)),
            ..Band::default()
        };
        for r in results {
            let f = &r.forecast;
            let (Some(lower), Some(upper)) =
                (f.quantile(self.levels.lower), f.quantile(self.levels.upper))
            else {
                continue;
            };
            for i in 0..f.len() {
                if f.timestamp(i) > r.origin + self.every {
                    break;
                }
                band.t.push(f.timestamp(i));
                band.actual
                    .push(y.get(r.last_index + 1 + i).copied().unwrap_or(f64::NAN));
                band.forecast.push(f.point[i]);
                band.lower.push(lower[i]);
                band.upper.push(upper[i]);
            }
        }
        band
    }

    /// The three replays, and the sweep when asked, as the page shows them and their
    /// headline figures.
    fn replays(
        &self,
        tables: &mut Tables,
    ) -> Result<(Option<Replay>, Option<Frontier>, Vec<Figure>)> {
        let plan = Plan::new(&self.args.replay, self.series)?;
        let outcomes = plan.compare(&self.args.model, self.series, &self.source)?;
        tables.replay(self.name, plan.timeline(&outcomes));
        let mut figures = replay_figures(&outcomes);
        let replay = self.replay_view(&plan, &outcomes);
        let frontier = if self.args.replay.sweep_leads.is_empty() {
            None
        } else {
            let sweep = plan.sweep(
                &self.args.replay,
                &self.args.model,
                self.series,
                &self.source,
            )?;
            if let Some(c) = sweep.chosen.map(|i| &sweep.cells[i]) {
                figures.push(Figure::new(
                    "recommended",
                    format!("{}m, q{}", c.lead / 60, c.quantile),
                ));
                figures.push(Figure::new(
                    "breach min, recommended (shown on)",
                    format!("{:.1}", c.halves[1].breach_minutes),
                ));
            }
            Some(frontier_view(&sweep))
        };
        Ok((Some(replay), frontier, figures))
    }

    fn replay_view(&self, plan: &Plan, outcomes: &Outcomes) -> Replay {
        let syncs: Vec<i64> = outcomes[0].1.replicas.iter().map(|r| r.0).collect();
        Replay {
            load: syncs.iter().map(|t| plan.load_at(*t)).collect(),
            t: syncs,
            runs: outcomes
                .iter()
                .map(|(name, o)| Run {
                    name: (*name).to_string(),
                    capacity: o
                        .replicas
                        .iter()
                        .map(|r| f64::from(r.2) * plan.pod_capacity)
                        .collect(),
                    breach_minutes: o.breach_minutes,
                    unserved: o.unserved,
                    pod_hours: o.pod_hours,
                    scale_ups: o.scale_ups,
                    scale_downs: o.scale_downs,
                })
                .collect(),
            caption: format!(
                "Ready capacity (ready pods x {}) against load, {} .. {}: reactive on the live metric, predictive on what serve would have served (lead {} s, quantile {}), oracle on the true peak over the lead.",
                plan.pod_capacity,
                format_timestamp(plan.setup.from),
                format_timestamp(plan.setup.to),
                plan.setup.lead,
                plan.quantile
            ),
        }
    }
}

fn frontier_view(sweep: &Sweep) -> Frontier {
    let stretch = |h: (i64, i64)| format!("{} .. {}", format_timestamp(h.0), format_timestamp(h.1));
    Frontier {
        budget: sweep.budget,
        chosen_on: stretch(sweep.halves[0]),
        shown_on: stretch(sweep.halves[1]),
        cells: sweep
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| Cell {
                lead_secs: c.lead,
                quantile: c.quantile,
                breach_minutes: [c.halves[0].breach_minutes, c.halves[1].breach_minutes],
                pod_ratio: [c.ratio(0), c.ratio(1)],
                chosen: sweep.chosen == Some(i),
            })
            .collect(),
    }
}

/// One scored forecast step.
struct Scored {
    hour: i64,
    ahead: i64,
    error: f64,
    actual: f64,
    inside: bool,
}

fn local_hour(zone: Tz, t: i64) -> i64 {
    zone.timestamp_opt(t, 0)
        .single()
        .map_or(0, |d| i64::from(d.hour()))
}

/// MAE, bias and coverage per key, ascending.
fn group(rows: &[Scored], key: impl Fn(&Scored) -> i64) -> Vec<ErrorRow> {
    let mut groups: std::collections::BTreeMap<i64, Vec<&Scored>> = Default::default();
    for r in rows {
        groups.entry(key(r)).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(key, g)| {
            let n = g.len() as f64;
            ErrorRow {
                key,
                mae: g.iter().map(|r| r.error.abs()).sum::<f64>() / n,
                bias: g.iter().map(|r| r.error).sum::<f64>() / n,
                coverage: g.iter().filter(|r| r.inside).count() as f64 / n,
                n: g.len(),
            }
        })
        .collect()
}

fn accuracy_figures(rows: &[Scored], levels: &Levels, origins: usize) -> Vec<Figure> {
    let n = rows.len().max(1) as f64;
    let mae = rows.iter().map(|r| r.error.abs()).sum::<f64>() / n;
    let mean = rows.iter().map(|r| r.actual).sum::<f64>() / n;
    let coverage = rows.iter().filter(|r| r.inside).count() as f64 / n;
    vec![
        Figure::new("origins", origins.to_string()),
        Figure::new("MAE", tidecast_report::number(mae)),
        Figure::new(
            "MAE / mean actual",
            if mean.abs() > 0.0 {
                format!("{:.1} %", 100.0 * mae / mean.abs())
            } else {
                "-".into()
            },
        ),
        Figure::new(
            "interval coverage",
            format!(
                "{:.1} % (nominal {:.0} %)",
                100.0 * coverage,
                100.0 * (levels.upper - levels.lower)
            ),
        ),
    ]
}

fn replay_figures(outcomes: &Outcomes) -> Vec<Figure> {
    let mut out: Vec<Figure> = outcomes
        .iter()
        .map(|(name, o)| {
            Figure::new(
                format!("breach min, {name}"),
                format!("{:.1}", o.breach_minutes),
            )
        })
        .collect();
    let hours = |n: &str| {
        outcomes
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, o)| o.pod_hours)
    };
    if let (Some(p), Some(o)) = (hours("predictive"), hours("oracle")) {
        out.push(Figure::new(
            "pod-hours, predictive / oracle",
            format!("{:.3}x", p / o.max(f64::MIN_POSITIVE)),
        ));
    }
    out
}

/// The rows every target adds to the Parquet files, target by target.
#[derive(Default)]
struct Tables {
    forecasts: Vec<Vec<Column>>,
    replays: Vec<Vec<Column>>,
}

impl Tables {
    /// The backtest's own columns (`tidecast backtest --out`), after a `target` column.
    fn forecasts(
        &mut self,
        name: &str,
        series: &Series,
        results: &[OriginForecast],
        levels: &Levels,
    ) {
        let (mut cols, rows) = crate::cmd::backtest::columns(series, results, levels);
        cols.insert(
            0,
            Column::Text("target".into(), vec![name.to_string(); rows]),
        );
        self.forecasts.push(cols);
    }

    fn replay(&mut self, name: &str, mut timeline: Vec<Column>) {
        let n = match timeline.first() {
            Some(Column::Timestamp(_, v)) => v.len(),
            _ => 0,
        };
        timeline.insert(0, Column::Text("target".into(), vec![name.to_string(); n]));
        self.replays.push(timeline);
    }

    fn write(self, dir: &Path, with_replay: bool) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let forecasts = dir.join("forecasts.parquet");
        write_table(Some(&forecasts), &concat(self.forecasts)?)?;
        eprintln!("wrote {}", forecasts.display());
        if with_replay {
            let replay = dir.join("replay.parquet");
            write_table(Some(&replay), &concat(self.replays)?)?;
            eprintln!("wrote {}", replay.display());
        }
        Ok(())
    }
}

/// Tables of the same columns, one after another.
fn concat(tables: Vec<Vec<Column>>) -> Result<Vec<Column>> {
    let mut tables = tables.into_iter();
    let Some(mut out) = tables.next() else {
        return Ok(Vec::new());
    };
    for table in tables {
        let same = table.len() == out.len()
            && table
                .iter()
                .zip(&out)
                .all(|(a, b)| column_name(a) == column_name(b));
        if !same {
            anyhow::bail!(
                "the targets' tables have different columns; write one report per target"
            );
        }
        for (into, from) in out.iter_mut().zip(table) {
            match (into, from) {
                (Column::Timestamp(_, a), Column::Timestamp(_, b)) => a.extend(b),
                (Column::Float(_, a), Column::Float(_, b)) => a.extend(b),
                (Column::Text(_, a), Column::Text(_, b)) => a.extend(b),
                _ => anyhow::bail!("a column changed type between targets"),
            }
        }
    }
    Ok(out)
}

fn column_name(c: &Column) -> &str {
    match c {
        Column::Timestamp(n, _) | Column::Float(n, _) | Column::Text(n, _) => n,
    }
}
