//! One module per subcommand.

pub(crate) mod backtest;
pub(crate) mod certs;
mod demo;
mod fetch;
mod forecast;
mod models;
mod report;
mod serve;
pub(crate) mod simulate;
pub(crate) mod train;

use crate::cli::{Cli, Command};

pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Forecast(args) => forecast::run(&args),
        Command::Backtest(args) => backtest::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Models(args) => models::run(&args),
        Command::Certs(args) => certs::run(&args),
    }
}
