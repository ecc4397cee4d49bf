//! `tidecast simulate`: the HPA replayed on a history three ways, so an analyst sees what a
//! lead and a quantile buy and cost on their own service.

use crate::cli::SimulateArgs;
use crate::history::{self, usage};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tidecast_core::{SECS_PER_DAY, Series, format_timestamp, parse_timestamp};
use tidecast_hpa::{Cluster, HpaSpec, Nodes, Outcome, Target, replay};
use tidecast_server::{Mode, Observation, ServedForecast, Staleness, TargetView};

/// Training before the default first replayed instant: two weeks, so a weekly profile and
/// the combination's daily lags have data.
const DEFAULT_TRAINING_DAYS: i64 = 14;

pub(crate) fn run(args: &SimulateArgs) -> Result<()> {
    let (series, source) = history::load(&args.history)?;
    let text = std::fs::read_to_string(&args.hpa)
        .with_context(|| format!("reading {}", args.hpa.display()))?;
    let hpa = HpaSpec::from_yaml(&text, args.metric.as_deref())
        .map_err(|e| usage(format!("{}: {e}", args.hpa.display())))?;
    let setup = Setup::new(args, &series)?;
    let served = served_forecasts(args, &series, &setup, &source)?;
    let trace: Vec<(i64, f64)> = (0..series.len())
        .filter(|i| !series.values()[*i].is_nan())
        .map(|i| (series.timestamp(i), series.values()[i]))
        .collect();
    let live = |t: i64| latest(&trace, t);
    let initial = initial_replicas(&hpa, live(setup.from).map_or(0.0, |(_, v)| v));
    let run = |metric: &dyn Fn(i64) -> Result<f64, String>| {
        replay(
            &hpa,
            setup.cluster,
            &trace,
            (setup.from, setup.to),
            args.pod_capacity,
            initial,
            metric,
        )
    };
    let reactive = run(&|t| {
        live(t)
            .map(|(_, v)| v)
            .ok_or_else(|| "no data yet".to_string())
    });
    let predictive = run(&|t| served_at(&served, &setup, live(t), t));
    let oracle = run(&|t| {
        peak(&trace, t, t + setup.lead)
            .or(live(t).map(|(_, v)| v))
            .ok_or_else(|| "no data".to_string())
    });
    let results = [
        ("reactive", &reactive),
        ("predictive", &predictive),
        ("oracle", &oracle),
    ];
    print_table(&setup, &results);
    if let Some(path) = &args.json {
        write_json(path, args, &setup, &results)?;
    }
    Ok(())
}

/// The replayed stretch and the cluster's timing.
struct Setup {
    from: i64,
    to: i64,
    lead: i64,
    step: i64,
    cluster: Cluster,
}

impl Setup {
    fn new(args: &SimulateArgs, series: &Series) -> Result<Self> {
        let time = |flag: &str, v: &str| {
            parse_timestamp(v)
                .map(|t| t.floor() as i64)
                .map_err(|e| usage(format!("--{flag}: {e}")))
        };
        let (first, last) = (series.start(), series.end().expect("a series has points"));
        let from = match &args.from {
            Some(v) => time("from", v)?,
            None => first + DEFAULT_TRAINING_DAYS * SECS_PER_DAY,
        };
        let to = match &args.to {
            Some(v) => time("to", v)?,
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
        if !args.pod_capacity.is_finite() || args.pod_capacity <= 0.0 {
            return Err(usage("--pod-capacity must be positive"));
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

/// The forecast serve would hold after each refresh: an honest backtest with an origin every
/// step, at the served quantile, as far ahead as the lead.
fn served_forecasts(
    args: &SimulateArgs,
    series: &Series,
    setup: &Setup,
    source: &str,
) -> Result<BTreeMap<i64, ServedForecast>> {
    let (forecaster, _) = history::forecaster(&args.model)?;
    let forecaster = forecaster.quantiles(&[args.quantile]);
    let first = setup.from.div_euclid(setup.step) * setup.step - setup.step;
    let origins: Vec<i64> = (0..)
        .map(|k| first + k * setup.step)
        .take_while(|o| *o <= setup.to)
        .filter(|o| *o >= series.start())
        .collect();
    let steps = history::steps(setup.lead, setup.step);
    let results = forecaster
        .backtest(series, &origins, steps, |_| {})
        .with_context(|| format!("backtesting {source}"))?;
    Ok(results
        .into_iter()
        .map(|r| {
            let f = &r.forecast;
            let values = f.quantiles.first().map_or(&f.point, |(_, v)| v);
            let served = ServedForecast {
                start: f.start,
                step: f.step,
                values: values.iter().map(|v| *v as f32).collect(),
            };
            (r.origin, served)
        })
        .collect())
}

/// What serve answers at `t`: the server's own policy on the forecast of the newest refresh
/// and the live value then.
fn served_at(
    served: &BTreeMap<i64, ServedForecast>,
    setup: &Setup,
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
        labels: BTreeMap::new(),
        namespaces: None,
        mode: Mode::Scale,
        lead: setup.lead,
        staleness: Staleness::default(),
        live: live.map(|(t, value)| Observation { t, value }),
        forecast,
        horizons: Vec::new(),
        accuracy: Vec::new(),
        refresh_ok: 1,
        refresh_failed: 0,
        last_error: None,
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

fn print_table(setup: &Setup, results: &[(&str, &Outcome)]) {
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

fn write_json(
    path: &std::path::Path,
    args: &SimulateArgs,
    setup: &Setup,
    results: &[(&str, &Outcome)],
) -> Result<()> {
    let mut doc = serde_json::json!({
        "from": format_timestamp(setup.from),
        "to": format_timestamp(setup.to),
        "lead_seconds": setup.lead,
        "quantile": args.quantile,
        "startup_seconds": setup.cluster.startup_secs,
        "pod_capacity": args.pod_capacity,
    });
    for (name, o) in results {
        doc[*name] = serde_json::json!({
            "breach_minutes": o.breach_minutes,
            "unserved": o.unserved,
            "pod_hours": o.pod_hours,
            "scale_ups": o.scale_ups,
            "scale_downs": o.scale_downs,
            "replicas": o.replicas.iter().map(|(t, r, ready)| {
                serde_json::json!({"t": format_timestamp(*t), "replicas": r, "ready": ready})
            }).collect::<Vec<_>>(),
        });
    }
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    if path.as_os_str() == "-" {
        print!("{text}");
        return Ok(());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
