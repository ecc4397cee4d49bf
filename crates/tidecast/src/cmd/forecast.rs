use crate::cli::ForecastArgs;
use crate::history::{self, quantile_column};
use anyhow::Result;
use tidecast_core::Predict;
use tidecast_io::{Column, write_table};

pub(crate) fn run(args: &ForecastArgs) -> Result<()> {
    let (series, source) = history::load(&args.history)?;
    let (forecaster, levels) = history::forecaster(&args.model)?;
    let horizon = history::duration("horizon", &args.horizon)?;
    let steps = history::steps(horizon, series.step());
    let model = forecaster
        .fit_latest(&series, steps)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let f = model
        .predict(steps, forecaster.quantile_levels())
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    let q = |l: f64| f.quantile(l).expect("requested").to_vec();
    let mut cols = vec![
        Column::Timestamp(
            "timestamp".into(),
            (0..f.len()).map(|i| f.timestamp(i)).collect(),
        ),
        Column::Float("forecast".into(), f.point.clone()),
        Column::Float("lower".into(), q(levels.lower)),
        Column::Float("upper".into(), q(levels.upper)),
    ];
    for &l in &levels.extra {
        cols.push(Column::Float(quantile_column(l), q(l)));
    }
    debug_assert_eq!(levels.all.len(), 2 + levels.extra.len());
    write_table(args.out.as_deref(), &cols)?;
    // What the fit chose (profile, decays, combination weights), for whoever reviews the
    // forecast: on stderr, so the CSV on stdout stays clean, and once the output is written
    // (a failed write or a closed pipe says only that).
    eprintln!("model: {}", model.name());
    Ok(())
}
