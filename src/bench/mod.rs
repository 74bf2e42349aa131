//! `herald bench`: the benchmarks and torture tests of record, run as a user would run them.

pub mod chaos;
mod harness;

use clap::Subcommand;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Kill `herald serve` with SIGKILL at random instants mid-campaign and check that no
    /// recipient was lost or texted twice.
    Chaos(chaos::ChaosArgs),
}

/// Runs one benchmark.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chaos(args) => {
            let report = chaos::run(&args).await?;
            report.print();
            if report.ok() {
                Ok(())
            } else {
                anyhow::bail!("chaos run found lost or duplicated messages")
            }
        }
    }
}
