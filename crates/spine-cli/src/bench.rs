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
    /// Measure the PostgreSQL store on this server instead of SQLite (ingest, http and feed
    /// sections): `postgres://USER@HOST:PORT/DB`. The user must be able to create databases and
    /// roles; the harness creates `spine_bench_*` databases there and drops them at the end.
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// Sections to run: ingest, http, limits, feed, webhook, files, work, hook, deliveries, fanout
    /// (comma-separated
    /// or repeated)
    /// [default: all but fanout, which starts nginx + nchan and 10,000 connections: name it to
    /// run it].
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Jobs per batched work-queue measurement (a quarter of it for the one-at-a-time rows).
    #[arg(long, default_value_t = 20_000)]
    pub work_jobs: usize,
    /// Concurrent workers in the work-queue section (and the baseline's connections on
    /// PostgreSQL).
    #[arg(long, default_value_t = 64)]
    pub work_workers: usize,
    /// Calls per measurement of the hook section (`spine hook claude-code`, `true`, `curl`).
    #[arg(long, default_value_t = 1000)]
    pub hook_calls: usize,
    /// Events sent to the one endpoint of the delivery throughput run (a tenth of them to each
    /// of the hundred endpoints).
    #[arg(long, default_value_t = 2000)]
    pub delivery_events: usize,
    /// How the fan-out section's subscribers connect: `sse`, `ws` or both (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = ["sse".to_owned(), "ws".to_owned()])]
    pub transports: Vec<String>,
    /// Subscriber counts for the fan-out section (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10_000])]
    pub subscribers: Vec<usize>,
    /// Events published one at a time for the fan-out latency.
    #[arg(long, default_value_t = 200)]
    pub fanout_events: usize,
    /// Milliseconds between those events.
    #[arg(long, default_value_t = 50)]
    pub fanout_interval_ms: u64,
    /// Events in the fan-out burst (deliveries/s) [default: 2 million deliveries' worth, at most
    /// 1,000].
    #[arg(long)]
    pub fanout_burst: Option<usize>,
    /// Also print the rows as one JSON array at the end.
    #[arg(long)]
    pub json: bool,
}

/// Runs the harness.
pub async fn run(args: BenchArgs) -> CliResult<()> {
    const SECTIONS: [&str; 10] = [
        "ingest",
        "http",
        "limits",
        "feed",
        "webhook",
        "files",
        "work",
        "hook",
        "deliveries",
        "fanout",
    ];
    if let Some(bad) = args.only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        return Err(CliError::new(format!(
            "unknown section {bad:?}: use ingest, http, limits, feed, webhook, files, work, hook, deliveries or fanout"
        )));
    }
    let mut transports = Vec::new();
    for t in &args.transports {
        transports.push(match t.as_str() {
            "sse" => spine_bench::Transport::Sse,
            "ws" => spine_bench::Transport::WebSocket,
            other => {
                return Err(CliError::new(format!("--transports: {other:?} is not sse or ws")))
            }
        });
    }
    if args.subscribers.contains(&0) {
        return Err(CliError::new("--subscribers: each count must be at least 1"));
    }
    if let Some(url) = &args.db {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(CliError::new(
                "--db: the benchmark measures PostgreSQL there: give postgres://USER@HOST:PORT/DB \
                 (SQLite databases go in --dir)",
            ));
        }
    }
    let opts = spine_bench::BenchOptions {
        ingest_events: args.ingest_events.max(1000),
        seconds: args.seconds.max(1),
        connections: args.connections.max(1),
        feed_events: if args.ten_million { 10_000_000 } else { args.feed_events.max(1000) },
        samples: args.samples.max(1),
        dir: args.dir,
        postgres: args.db,
        only: args.only,
        work_jobs: args.work_jobs.max(100),
        work_workers: args.work_workers.clamp(1, 256),
        hook_calls: args.hook_calls.max(1),
        delivery_events: args.delivery_events.max(100),
        fanout_subscribers: args.subscribers,
        fanout_transports: transports,
        fanout_events: args.fanout_events.max(1),
        fanout_interval: std::time::Duration::from_millis(args.fanout_interval_ms),
        fanout_burst: args.fanout_burst.map(|b| b.max(1)),
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
