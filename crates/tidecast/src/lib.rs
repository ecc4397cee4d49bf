//! The `tidecast` command: the CLI over the library crates. A library only so the fuzz
// Functions read as named steps (clippy.toml sets the bound); tests may be longer.
#![cfg_attr(not(test), deny(clippy::too_many_lines))]
//! targets (fuzz/) can reach the config loader; `src/main.rs` calls [`main`].

mod cli;
mod cluster;
mod cmd;
mod config;
mod history;
mod live;
mod logging;
#[cfg(test)]
mod reliability;
mod report;
mod runtime;
mod source;
mod sys;
mod tls;

use clap::Parser;
use std::process::ExitCode;

/// The whole command: parse the arguments, run the subcommand, map its error to an exit code.
pub fn main() -> ExitCode {
    sys::limit_malloc_arenas();
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader closed the pipe (`tidecast forecast ... | head`): it has what it wanted,
        // so stop quietly, as Unix tools do.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", report::Causes(e.as_ref()));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Whether the error is a write to a pipe whose reader has gone.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Whether the error is in the Prometheus settings (a bad URL or header, a file they name
/// that cannot be read) rather than in talking to Prometheus.
fn prometheus_settings(e: &anyhow::Error) -> bool {
    use tidecast_prometheus::Error;
    matches!(
        e.downcast_ref::<Error>(),
        Some(Error::Config(_) | Error::ReadFile { .. })
    )
}

/// 65 (EX_DATAERR) for bad input data, 73 (EX_CANTCREAT) for an output that cannot be
/// written, 64 (EX_USAGE) for bad arguments or config, 1 otherwise.
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(io) = e.downcast_ref::<tidecast_io::Error>() {
        match io {
            tidecast_io::Error::Write { .. } => 73,
            _ => 65,
        }
    } else if e.downcast_ref::<cli::UsageError>().is_some() || prometheus_settings(e) {
        64
    } else if e
        .chain()
        .any(|c| c.downcast_ref::<tidecast_store::ArtifactError>().is_some())
    {
        65
    } else if e.downcast_ref::<cmd::train::SomeFailed>().is_some() {
        3
    } else {
        1
    }
}

/// Entry points for the fuzz targets (fuzz/), not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parse and validate a serve config as `tidecast serve --config` does, with relative
    /// paths under `dir`; an error is the expected answer to most inputs, a panic a bug.
    pub fn config(text: &str, dir: &std::path::Path) -> bool {
        crate::config::Config::parse(text, dir).is_ok()
    }
}
