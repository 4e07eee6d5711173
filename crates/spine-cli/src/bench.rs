//! `spine bench`: runs the project's benchmark harness (`spine-bench`, SPEC section 12) and
//! prints each figure beside the baseline measured in the same run. Method and results are in
//! BENCHMARKS.md.

use crate::error::{CliError, CliResult};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `spine bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events per in-process ingest measurement.
    #[arg(long, default_value_t = 200_000)]
    pub ingest_events: usize,
    /// Seconds per HTTP measurement.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keep-alive connections for single-event HTTP ingest.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Events in the feed benchmark's store.
    #[arg(long, default_value_t = 1_000_000)]
    pub feed_events: usize,
    /// Timed requests per feed measurement.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Run the feed benchmark at 10 million events (overrides --feed-events).
    #[arg(long)]
    pub ten_million: bool,
    /// Where to put the benchmark databases [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Sections to run: ingest, http, feed (comma-separated or repeated) [default: all].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also print the rows as one JSON array at the end.
    #[arg(long)]
    pub json: bool,
}

/// Runs the harness.
pub async fn run(args: BenchArgs) -> CliResult<()> {
    if let Some(bad) = args.only.iter().find(|s| !["ingest", "http", "feed"].contains(&s.as_str()))
    {
        return Err(CliError::new(format!("unknown section {bad:?}: use ingest, http or feed")));
    }
    let opts = spine_bench::BenchOptions {
        ingest_events: args.ingest_events.max(1000),
        seconds: args.seconds.max(1),
        connections: args.connections.max(1),
        feed_events: if args.ten_million { 10_000_000 } else { args.feed_events.max(1000) },
        samples: args.samples.max(1),
        dir: args.dir,
        only: args.only,
    };
    let rows = spine_bench::run(opts)
        .await
        .map_err(|e| CliError::new(format!("benchmark failed: {e}")))?;
    if args.json {
        let json = serde_json::to_string(&rows).map_err(|e| CliError::new(e.to_string()))?;
        println!("{json}");
    }
    Ok(())
}
