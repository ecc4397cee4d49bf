//! The `tidecast` binary: a thin CLI over the library crates.

mod cli;
mod cmd;
mod config;
mod history;
mod logging;
mod runtime;
mod source;
mod sys;
mod tls;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    sys::limit_malloc_arenas();
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 65 (EX_DATAERR) for bad input data, 64 (EX_USAGE) for bad arguments or config, 1 otherwise.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<tidecast_io::Error>().is_some() {
        65
    } else if e.downcast_ref::<cli::UsageError>().is_some() {
        64
    } else {
        1
    }
}
