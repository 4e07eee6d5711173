//! Spine's benchmark harness (SPEC section 12): `spine bench` runs every figure in one process, on
//! this machine, each beside a baseline measured in the same run, and prints a report.
//!
//! - [`data`]: a deterministic generator of realistic events.
//! - [`measure`]: percentiles, rates and the report rows.
//! - [`backend`]: which store the storage sections measure: SQLite files (the default) or fresh
//!   databases on a PostgreSQL server (`--db postgres://...`), with one or two nodes.
//! - [`baseline`]: the near-physical limit: a plain loop of SQLite inserts of the same rows into
//!   the same schema, without spine's writer, idempotency or HTTP.
//! - [`baseline_pg`]: the same for PostgreSQL: plain multi-row inserts of the store's rows.
//! - [`ingest`]: in-process (through the store) and HTTP ingest, single and batched, and latency
//!   at a fixed rate.
//! - [`limits`]: a quiet tenant's latency alone, beside a hammering tenant held to its rate
//!   limit, and beside the same tenant unlimited.
//! - [`feed`]: first and deep feed pages at 1 or 10 million events.
//! - [`webhook`]: verified webhook ingest (`POST /v1/ingest/{channel}`, a signed Standard
//!   Webhooks channel) beside plain `POST /v1/events` of the same events, and where the difference
//!   goes (the channel read, the ledger commit, the HMAC check, the normalizer).
//! - [`files`]: 10 MiB file uploads to a file channel beside writing the same bytes to disk.
//! - [`work`]: the work queue: jobs claimed and completed per second, one at a time and in
//!   batches, in process and over HTTP, beside a plain `SKIP LOCKED` loop on the same database;
//!   and the latency from an event to a waiting worker's claim of its job.
//! - [`deliveries`]: outbound webhook deliveries per second (1 and 100 endpoints) and their
//!   latency beside a plain signed POST loop, and the library's `emit` in a caller's transaction.
//! - [`hook`]: the wall time of one `spine hook claude-code` call (server up and down) beside
//!   `true` and `curl` posting the same JSON.
//! - [`fanout`]: live delivery to 1,000 and 10,000 SSE subscribers of a separate server process
//!   (latency to the last subscriber, deliveries/s, memory per idle connection), beside nginx +
//!   nchan.

pub mod backend;
pub mod baseline;
pub mod baseline_pg;
pub mod data;
pub mod deliveries;
pub mod fanout;

pub use fanout::Transport;
pub mod feed;
pub mod files;
pub mod hook;
pub mod ingest;
pub mod limits;
pub mod measure;
pub mod webhook;
pub mod work;

use backend::Backend;
use measure::Row;
use std::path::PathBuf;
use std::time::Duration;

/// What to run and how big.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Events per ingest measurement.
    pub ingest_events: usize,
    /// Seconds per HTTP measurement.
    pub seconds: u64,
    /// Concurrent keep-alive connections for single-event HTTP ingest.
    pub connections: usize,
    /// Events in the feed benchmark's store (1 million by default, 10 million behind a flag).
    pub feed_events: usize,
    /// Where the benchmark databases go (a temporary directory by default).
    pub dir: Option<PathBuf>,
    /// A PostgreSQL server (`postgres://user@host:port/db`): when set, the ingest, http and feed
    /// sections measure the PostgreSQL store, in databases the harness creates on that server
    /// and drops at the end. The fan-out section always runs on SQLite.
    pub postgres: Option<String>,
    /// Timed requests per feed measurement.
    pub samples: usize,
    /// Which sections to run: `ingest`, `http`, `limits`, `feed`, `webhook`, `files`, `work`, `hook`,
    /// `fanout`. Empty runs all but
    /// `fanout`, which only runs when named: it starts nginx beside a spine child process, needs
    /// an open-files limit above the subscriber count, and takes minutes.
    pub only: Vec<String>,
    /// Jobs per batched work-queue measurement (a quarter of it one at a time).
    pub work_jobs: usize,
    /// Concurrent workers (and baseline connections on PostgreSQL) in the work-queue section.
    pub work_workers: usize,
    /// Calls per measurement of the hook section.
    pub hook_calls: usize,
    /// Events sent to the one endpoint of the delivery throughput run (a tenth of them to each
    /// of the hundred).
    pub delivery_events: usize,
    /// Subscriber counts for the fan-out section (1,000 and 10,000 by default).
    pub fanout_subscribers: Vec<usize>,
    /// How the fan-out section's subscribers connect.
    pub fanout_transports: Vec<Transport>,
    /// Events published one at a time, for the fan-out latency.
    pub fanout_events: usize,
    /// Pause between those events: long enough that one event's fan-out is normally done
    /// before the next is published, so the latency is not a queue.
    pub fanout_interval: Duration,
    /// Events in the fan-out burst, for deliveries/s; `None` sizes it for about 2 million
    /// deliveries (at most 1,000 events), so a slow server is not cut off for lagging.
    pub fanout_burst: Option<usize>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            ingest_events: 200_000,
            seconds: 10,
            connections: 64,
            feed_events: 1_000_000,
            samples: 1000,
            dir: None,
            postgres: None,
            only: Vec::new(),
            work_jobs: 20_000,
            work_workers: 64,
            hook_calls: 1000,
            delivery_events: 2000,
            fanout_subscribers: vec![1000, 10_000],
            fanout_transports: vec![Transport::Sse, Transport::WebSocket],
            fanout_events: 200,
            fanout_interval: Duration::from_millis(50),
            fanout_burst: None,
        }
    }
}

/// Sections that run only when named in [`BenchOptions::only`].
const OPT_IN: &[&str] = &["fanout"];

impl BenchOptions {
    fn wants(&self, section: &str) -> bool {
        self.only.iter().any(|s| s == section)
            || (self.only.is_empty() && !OPT_IN.contains(&section))
    }
}

/// Runs the selected sections, printing each row as it is measured, and returns every row.
pub async fn run(opts: BenchOptions) -> Result<Vec<Row>, Box<dyn std::error::Error + Send + Sync>> {
    let tmp = tempfile::tempdir()?;
    let dir = opts.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let backend = Backend::new(opts.postgres.as_deref(), &dir);
    let rows = run_sections(&opts, &dir, &backend).await;
    // Drop the PostgreSQL databases whether or not a section failed.
    let dropped = backend.drop_databases().await;
    let rows = rows?;
    dropped?;
    Ok(rows)
}

async fn run_sections(
    opts: &BenchOptions,
    dir: &std::path::Path,
    backend: &Backend,
) -> Result<Vec<Row>, Box<dyn std::error::Error + Send + Sync>> {
    let mut rows = Vec::new();
    measure::print_header();
    if opts.wants("ingest") {
        rows.extend(ingest::in_process(backend, dir, opts.ingest_events).await?);
    }
    if opts.wants("http") {
        rows.extend(ingest::http(backend, opts).await?);
    }
    if opts.wants("limits") {
        rows.extend(limits::run(backend, opts).await?);
    }
    if opts.wants("feed") {
        rows.extend(feed::run(backend, opts.feed_events, opts.samples).await?);
    }
    if opts.wants("webhook") {
        rows.extend(webhook::run(backend, opts).await?);
    }
    if opts.wants("files") {
        rows.extend(files::run(backend).await?);
    }
    if opts.wants("work") {
        rows.extend(work::run(backend, opts).await?);
    }
    if opts.wants("hook") {
        rows.extend(hook::run(backend, opts.hook_calls).await?);
    }
    if opts.wants("deliveries") {
        rows.extend(deliveries::run(backend, opts.delivery_events).await?);
    }
    if opts.wants("fanout") {
        rows.extend(fanout::run(dir, opts).await?);
    }
    Ok(rows)
}

/// Sleeps briefly between sections so one section's background work (WAL checkpoints) does not
/// bleed into the next section's numbers.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}
