//! `tidecast models list|show|diff|rollback`: the model store, read and managed by hand.

use crate::cli::{ModelsArgs, ModelsCommand};
use anyhow::{Context, Result};
use tidecast_core::format_timestamp;
use tidecast_store::{Artifact, Store};

pub(crate) fn run(args: &ModelsArgs) -> Result<()> {
    match &args.command {
        ModelsCommand::List { store } => list(&*open(store)?),
        ModelsCommand::Show {
            what,
            store,
            version,
        } => show(what, store.as_deref(), version.as_deref()),
        ModelsCommand::Diff {
            target,
            store,
            from,
            to,
        } => diff(&*open(store)?, target, from.as_deref(), to.as_deref()),
        ModelsCommand::Rollback {
            target,
            store,
            version,
        } => rollback(&*open(store)?, target, version.as_deref()),
    }
}

fn open(url: &str) -> Result<Box<dyn Store>> {
    tidecast_store::open(url).map_err(|e| crate::history::usage(format!("--store: {e}")))
}

/// A target's artifact (current, or `version`), with the file named in errors.
fn load(store: &dyn Store, target: &str, version: Option<&str>) -> Result<(String, Artifact)> {
    let version = match version {
        Some(v) => v.to_string(),
        None => store
            .current(target)?
            .with_context(|| format!("{target}: no current version in the store"))?,
    };
    let bytes = store.read(target, &version)?;
    let artifact = Artifact::decode(&bytes).with_context(|| format!("{target}/{version}.model"))?;
    Ok((version, artifact))
}

fn list(store: &dyn Store) -> Result<()> {
    let mut failed: Vec<anyhow::Error> = Vec::new();
    println!("TARGET\tVERSION\tTRAINED AT\tDATA END\tMODEL");
    for target in store.targets()? {
        match load(store, &target, None) {
            Ok((version, a)) => println!(
                "{target}\t{version}\t{}\t{}\t{}",
                format_timestamp(a.trained_at),
                format_timestamp(a.data_end),
                a.model_name
            ),
            Err(e) => {
                println!("{target}\t-\t-\t-\tunreadable");
                failed.push(e);
            }
        }
    }
    let reasons: Vec<String> = failed.iter().map(|e| format!("{e:#}")).collect();
    match failed.into_iter().next() {
        None => Ok(()),
        // The first error keeps its ArtifactError, so the exit code says bad data (65).
        Some(e) => Err(e.context(format!("unreadable artifacts: {}", reasons.join("; ")))),
    }
}

fn show(what: &str, store: Option<&str>, version: Option<&str>) -> Result<()> {
    let artifact = match store {
        Some(url) => load(&*open(url)?, what, version)?.1,
        None => {
            let bytes =
                std::fs::read(what).map_err(|e| crate::history::usage(format!("{what}: {e}")))?;
            Artifact::decode(&bytes).with_context(|| what.to_string())?
        }
    };
    println!("{}", serde_json::to_string_pretty(&artifact.to_json())?);
    Ok(())
}

fn diff(store: &dyn Store, target: &str, from: Option<&str>, to: Option<&str>) -> Result<()> {
    let versions = store.versions(target)?;
    let current = store.current(target)?;
    let to = match to {
        Some(v) => v.to_string(),
        None => current
            .clone()
            .with_context(|| format!("{target}: no current version"))?,
    };
    let from = match from {
        Some(v) => v.to_string(),
        None => previous(&versions, &to)
            .with_context(|| format!("{target}: no version before {to} to compare with"))?,
    };
    let (_, a) = load(store, target, Some(&from))?;
    let (_, b) = load(store, target, Some(&to))?;
    println!("{target}: {from} -> {to}");
    let row = |k: &str, x: String, y: String| {
        let mark = if x == y { " " } else { "*" };
        println!("{mark} {k:<14} {x:<40} {y}");
    };
    row(
        "trained at",
        format_timestamp(a.trained_at),
        format_timestamp(b.trained_at),
    );
    row(
        "data end",
        format_timestamp(a.data_end),
        format_timestamp(b.data_end),
    );
    row("samples", a.samples.to_string(), b.samples.to_string());
    row(
        "config hash",
        a.config_hash[..12].into(),
        b.config_hash[..12].into(),
    );
    row("model", a.model_name.clone(), b.model_name.clone());
    for (x, y) in a.scores.iter().zip(&b.scores) {
        row(
            &format!("MASE {} steps", x.steps),
            format!("{:.3}", x.mase),
            format!("{:.3}", y.mase),
        );
    }
    Ok(())
}

/// The version before `v` in `versions` (oldest first).
fn previous(versions: &[String], v: &str) -> Option<String> {
    let i = versions.iter().position(|x| x == v)?;
    i.checked_sub(1).map(|j| versions[j].clone())
}

fn rollback(store: &dyn Store, target: &str, version: Option<&str>) -> Result<()> {
    let current = store
        .current(target)?
        .with_context(|| format!("{target}: no current version"))?;
    let to = match version {
        Some(v) => v.to_string(),
        None => previous(&store.versions(target)?, &current)
            .with_context(|| format!("{target}: no version before {current}"))?,
    };
    // Refuse to point at a file that would not load.
    load(store, target, Some(&to))?;
    store.set_current(target, &to)?;
    println!("{target}: current {current} -> {to}");
    Ok(())
}
