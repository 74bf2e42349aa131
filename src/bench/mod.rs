//! `herald bench`: the benchmarks and torture tests of record, run as a user would run them.
//!
//! Each benchmark starts real processes (`herald simulator`, `herald serve`) from this very
//! binary on loopback, measures, and prints a table and one JSON line. Build with
//! `--release` for figures of record; `herald bench all --quick` is the small version CI runs
//! so the benchmarks never rot (it asserts nothing about speed).

pub mod chaos;
mod harness;
pub mod perf;
pub mod report;
pub mod scale;
mod seed;

use clap::{Args, Subcommand};

/// Size of a run.
#[derive(Debug, Clone, Args)]
pub struct Size {
    /// A small, fast version (CI).
    #[arg(long)]
    pub quick: bool,
    /// Run on PostgreSQL: a server URL (`postgres://USER@HOST:PORT/DB`) on which each run
    /// creates fresh databases `herald_bench_<random>` (dropped afterwards). Default:
    /// SQLite files in a scratch directory.
    #[arg(long)]
    pub database: Option<String>,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Kill `herald serve` with SIGKILL at random instants mid-campaign and check that no
    /// recipient was lost or texted twice (`--nodes N --database postgres://…`: N nodes on
    /// one database, and each number's pacing across them).
    Chaos(chaos::ChaosArgs),
    /// POST one campaign of 100,000 recipients; time to 201 and memory.
    Create(Size),
    /// GET a 1,000,000-recipient campaign and list 1,000 campaigns, with counts.
    Counts(Size),
    /// Send 100,000 recipients to the simulator as fast as Herald can.
    Dispatch(Size),
    /// Pacing accuracy: 10 numbers at mps 10 (and with --long, 1,000 at mps 1).
    Pacing {
        #[command(flatten)]
        size: Size,
        /// Also the long run: 1,000 recipients on one number at mps 1 (about 17 minutes).
        #[arg(long)]
        long: bool,
    },
    /// Signed status callbacks ingested per second.
    Callbacks(Size),
    /// RSS of `herald serve` while a 1,000,000-recipient campaign sends.
    Memory(Size),
    /// Start-up time on an existing 1,000,000-recipient database.
    Startup(Size),
    /// Ten appends of 100,000 recipients to a draft, then a GET with counts and a launch
    /// (`--shuffled`: the phones in a scattered order).
    Append(scale::AppendArgs),
    /// N running one-recipient campaigns on one number at mps 100: send rate and CPU.
    ManyCampaigns(scale::ManyArgs),
    /// Every benchmark above (pacing without --long, chaos excluded).
    All(Size),
}

/// Runs one benchmark (or all).
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chaos(args) => {
            let report = chaos::run(&args).await?;
            report.print();
            if report.ok() {
                Ok(())
            } else {
                anyhow::bail!(
                    "chaos run failed: lost, duplicated or unsettled messages, wrong counts, an \
                     unclean shutdown, or (when checked) a number over its rate"
                )
            }
        }
        BenchCommand::Create(s) => perf::create(&s).await.map(|r| r.print()),
        BenchCommand::Counts(s) => perf::counts(&s).await.map(|r| r.print()),
        BenchCommand::Dispatch(s) => perf::dispatch(&s).await.map(|r| r.print()),
        BenchCommand::Pacing { size, long } => perf::pacing(&size, long).await.map(|r| r.print()),
        BenchCommand::Callbacks(s) => perf::callbacks(&s).await.map(|r| r.print()),
        BenchCommand::Memory(s) => perf::memory(&s).await.map(|r| r.print()),
        BenchCommand::Startup(s) => perf::startup(&s).await.map(|r| r.print()),
        BenchCommand::Append(a) => scale::append(&a.size, a.shuffled).await.map(|r| r.print()),
        BenchCommand::ManyCampaigns(a) => scale::many_campaigns(&a.size, a.campaigns)
            .await
            .map(|r| r.print()),
        BenchCommand::All(s) => {
            perf::create(&s).await?.print();
            perf::counts(&s).await?.print();
            perf::dispatch(&s).await?.print();
            perf::pacing(&s, false).await?.print();
            perf::callbacks(&s).await?.print();
            perf::memory(&s).await?.print();
            perf::startup(&s).await?.print();
            scale::many_campaigns(&s, None).await?.print();
            scale::append(&s, false).await?.print();
            Ok(())
        }
    }
}
