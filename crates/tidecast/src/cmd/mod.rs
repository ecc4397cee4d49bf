//! One module per subcommand.

mod backtest;
mod fetch;
mod forecast;

use crate::cli::{Cli, Command};

pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Forecast(args) => forecast::run(&args),
        Command::Backtest(args) => backtest::run(&args),
        Command::Fetch(args) => fetch::run(&args),
    }
}
