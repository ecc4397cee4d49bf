use crate::cli::FetchArgs;
use crate::history::duration;
use anyhow::Result;
use std::collections::BTreeSet;
use tidecast_io::{Column, write_table};

pub(crate) fn run(args: &FetchArgs) -> Result<()> {
    let step = duration("step", &args.step)?;
    let series = crate::source::pull(&args.source, step)?;
    let names: BTreeSet<&String> = series.iter().flat_map(|s| s.labels.keys()).collect();
    let rows: usize = series.iter().map(|s| s.samples.len()).sum();
    let mut ts = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(rows);
    let mut labels: Vec<Vec<String>> = vec![Vec::with_capacity(rows); names.len()];
    for s in &series {
        for x in &s.samples {
            // Prometheus evaluates range queries at whole seconds of the step grid.
            ts.push(x.timestamp.round() as i64);
            values.push(x.value);
            for (k, name) in names.iter().enumerate() {
                labels[k].push(s.labels.get(*name).cloned().unwrap_or_default());
            }
        }
    }
    let mut cols = vec![
        Column::Timestamp("timestamp".into(), ts),
        Column::Float("value".into(), values),
    ];
    for (name, v) in names.iter().zip(labels) {
        cols.push(Column::Text((*name).clone(), v));
    }
    write_table(Some(&args.out), &cols)?;
    eprintln!(
        "{} series, {rows} samples written to {}",
        series.len(),
        args.out.display()
    );
    Ok(())
}
