use crate::cli::BacktestArgs;
use crate::history::{self, Levels, quantile_column, usage};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use tidecast_core::{Series, format_duration, format_timestamp};
use tidecast_io::{Column, write_table};
use tidecast_models::{Forecaster, OriginForecast, score};

pub(crate) fn run(args: &BacktestArgs) -> Result<()> {
    let (series, source) = history::load(&args.history)?;
    let (forecaster, levels) = history::forecaster(&args.model)?;
    let horizon = history::duration("horizon", &args.horizon)?;
    let every = history::duration("every", &args.every)?;
    let steps = history::steps(horizon, series.step());
    let origins = origins(args, &series, horizon, every)?;
    let results = replay(&forecaster, &series, &origins, steps, &source)?;
    let (cols, rows) = columns(&series, &results, &levels);
    write_table(Some(&args.out), &cols)?;
    if !args.quiet {
        let summary = Summary {
            series: &series,
            forecaster: &forecaster,
            results: &results,
            from: origins[0],
            every,
            horizon,
            rows,
        };
        summary.print(args)?;
    }
    Ok(())
}

/// The origins `--from`, `--from + --every`, ... up to `--to` (by default the last timestamp
/// minus the horizon, so every origin has actuals to score against).
fn origins(args: &BacktestArgs, series: &Series, horizon: i64, every: i64) -> Result<Vec<i64>> {
    let from = history::instant("from", &args.from)?;
    let last = series.end().expect("a series has points");
    let to = match &args.to {
        Some(v) => history::instant("to", v)?,
        None => last - horizon,
    };
    if from < series.start() {
        return Err(usage(format!(
            "--from {} is before the first sample at {}",
            format_timestamp(from),
            format_timestamp(series.start())
        )));
    }
    if to < from {
        return Err(usage(format!(
            "no origins: --to {} is before --from {}",
            format_timestamp(to),
            format_timestamp(from)
        )));
    }
    Ok((0..)
        .map(|k| from + k * every)
        .take_while(|o| *o <= to)
        .collect())
}

/// Forecast from every origin, with a progress bar on stderr when there are many; errors
/// name the history's `source`.
fn replay(
    forecaster: &Forecaster,
    series: &Series,
    origins: &[i64],
    steps: usize,
    source: &str,
) -> Result<Vec<OriginForecast>> {
    let bar = ProgressBar::new(origins.len() as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} origins, {eta} left")
            .expect("valid template"),
    );
    bar.set_message("backtest");
    if origins.len() < 200 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let results = forecaster.backtest(series, origins, steps, |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    results.map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

/// The output table, one row per origin and step: `origin,timestamp,forecast,lower,upper,
/// actual` and the extra quantiles; with the number of rows.
pub(crate) fn columns(
    series: &Series,
    results: &[OriginForecast],
    levels: &Levels,
) -> (Vec<Column>, usize) {
    let rows: usize = results.iter().map(|r| r.forecast.len()).sum();
    let mut origin = Vec::with_capacity(rows);
    let mut ts = Vec::with_capacity(rows);
    let mut point = Vec::with_capacity(rows);
    let mut actual = Vec::with_capacity(rows);
    let mut qs: Vec<Vec<f64>> = vec![Vec::with_capacity(rows); levels.all.len()];
    let y = series.values();
    for r in results {
        let f = &r.forecast;
        for i in 0..f.len() {
            origin.push(r.origin);
            ts.push(f.timestamp(i));
            point.push(f.point[i]);
            actual.push(y.get(r.last_index + 1 + i).copied().unwrap_or(f64::NAN));
            for (k, l) in levels.all.iter().enumerate() {
                qs[k].push(f.quantile(*l).expect("requested")[i]);
            }
        }
    }
    let mut qs = qs.into_iter();
    let mut cols = vec![
        Column::Timestamp("origin".into(), origin),
        Column::Timestamp("timestamp".into(), ts),
        Column::Float("forecast".into(), point),
        Column::Float("lower".into(), qs.next().expect("lower")),
        Column::Float("upper".into(), qs.next().expect("upper")),
        Column::Float("actual".into(), actual),
    ];
    for (l, v) in levels.extra.iter().zip(qs) {
        cols.push(Column::Float(quantile_column(*l), v));
    }
    (cols, rows)
}

/// What the replay shows on stdout: the model at the last refit, the origins, and the
/// accuracy by horizon.
struct Summary<'a> {
    series: &'a Series,
    forecaster: &'a Forecaster,
    results: &'a [OriginForecast],
    from: i64,
    every: i64,
    horizon: i64,
    rows: usize,
}

impl Summary<'_> {
    fn print(&self, args: &BacktestArgs) -> Result<()> {
        // writeln! rather than println!, which panics when stdout is a closed pipe.
        let mut out = std::io::stdout().lock();
        if let Some(last) = self.results.last() {
            let at = self
                .forecaster
                .refit_point(self.series.timestamp(last.last_index));
            writeln!(
                out,
                "model at the last refit ({}): {}",
                format_timestamp(at),
                last.model
            )?;
        }
        writeln!(
            out,
            "{} origins from {} every {}, {} ahead; {} rows written to {}",
            self.results.len(),
            format_timestamp(self.from),
            format_duration(self.every),
            format_duration(self.horizon),
            self.rows,
            args.out.display()
        )?;
        self.print_scores(&mut out)
    }

    /// MASE, sMAPE, peak under-forecast and coverage at 5, 15, 30 and 60 minutes (those the
    /// step divides and the horizon reaches) and at the full horizon.
    fn print_scores(&self, out: &mut impl Write) -> Result<()> {
        let step = self.series.step();
        let steps = history::steps(self.horizon, step);
        let mut horizons: Vec<usize> = [5, 15, 30, 60]
            .iter()
            .map(|m| m * tidecast_core::SECS_PER_MINUTE)
            .filter(|s| *s % step == 0 && *s <= self.horizon)
            .map(|s| (s / step) as usize)
            .collect();
        horizons.push(steps);
        horizons.dedup();
        writeln!(
            out,
            "{:>8} {:>7} {:>8} {:>9} {:>11} {:>9}",
            "horizon", "pairs", "MASE", "sMAPE %", "peak-under%", "coverage"
        )?;
        for s in score(self.series, self.results, &horizons) {
            writeln!(
                out,
                "{:>8} {:>7} {:>8.3} {:>9.2} {:>11.2} {:>9}",
                format_duration(s.steps as i64 * step),
                s.pairs,
                s.mase,
                s.smape,
                s.peak_under,
                s.coverage
                    .map_or("-".into(), |c| format!("{:.1}%", 100.0 * c)),
            )?;
        }
        Ok(())
    }
}
