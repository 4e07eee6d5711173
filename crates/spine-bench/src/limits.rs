//! Rate limits under a noisy neighbour: one tenant posts single events at a steady 200/s while
//! another hammers the same server on 32 connections. The quiet tenant's latency is measured
//! alone (the baseline), beside the hammering tenant held to its limit (1,000 events/s), and
//! beside the same hammering with no limit, so the report shows what the limit protects.

use crate::backend::Backend;
use crate::ingest::{bodies, client, fixed_rate_latency_at, RunningServer};
use crate::measure::{ms, percentiles, Row};
use crate::{settle, BenchOptions};
use futures::future::join_all;
use spine_core::limits::LimitsInput;
use spine_core::Role;
use spine_store::LimitLayer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The quiet tenant's steady rate.
const QUIET_RATE: f64 = 200.0;
/// The quiet tenant's connections.
const QUIET_CONNECTIONS: usize = 8;
/// The hammering tenant's connections.
const NOISY_CONNECTIONS: usize = 32;
/// The hammering tenant's limit, events/s (and its burst).
const NOISY_LIMIT: u64 = 1_000;

/// What one hammering run did.
struct Hammered {
    accepted: u64,
    refused: u64,
    elapsed: Duration,
}

/// Posts single events as fast as `connections` allow until `stop`, counting 2xx and 429.
async fn hammer(
    url: String,
    key: String,
    connections: usize,
    stop: Instant,
) -> BenchResult<Hammered> {
    let client = client(connections)?;
    let bodies = bodies(10_000, 21);
    let (accepted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let tasks = (0..connections).map(|c| {
        let (client, bodies) = (client.clone(), bodies.clone());
        let (accepted, refused) = (accepted.clone(), refused.clone());
        let (url, key) = (format!("{url}/v1/events"), key.clone());
        tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < stop {
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(bodies[i % bodies.len()].clone())
                    .send()
                    .await;
                match r.map(|r| r.status().as_u16()) {
                    Ok(200..=299) => accepted.fetch_add(1, Ordering::Relaxed),
                    Ok(429) => refused.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
                i += connections;
            }
        })
    });
    join_all(tasks).await;
    Ok(Hammered {
        accepted: accepted.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    })
}

/// The section: the quiet tenant's p50/p99 alone, beside a limited neighbour, beside an
/// unlimited one.
pub async fn run(backend: &Backend, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    let (_, nodes) = backend.fresh("limits", 1).await?;
    // Limits changed through the store reach the server within the cache's TTL.
    let config = spine_server::ServerConfig {
        key_cache_ttl: Duration::from_millis(200),
        ..Default::default()
    };
    let servers = RunningServer::start_all_with(nodes, config).await?;
    let server = servers.first().ok_or("no server")?;
    let store = server.node.store();
    let (noisy, _) =
        spine_server::provision::create_tenant_with_admin_key(store.as_ref(), "noisy").await?;
    let (noisy_key, new_key) = spine_server::provision::generate_key(Role::Ingest, None);
    store.create_key(&noisy.id, new_key).await?;
    let quiet = [(server.url.clone(), server.key.clone())];
    let seconds = opts.seconds;

    let (mut alone, _) =
        fixed_rate_latency_at(&quiet, QUIET_CONNECTIONS, QUIET_RATE, seconds).await?;
    let alone = percentiles(&mut alone);
    rows.push(Row::new("noisy neighbour: quiet tenant alone, p50", ms(alone.p50), "ms", None, ""));
    rows.push(Row::new("noisy neighbour: quiet tenant alone, p99", ms(alone.p99), "ms", None, ""));

    for limited in [true, false] {
        settle().await;
        let limits = if limited {
            LimitsInput {
                writes_per_second: Some(NOISY_LIMIT),
                write_burst: Some(NOISY_LIMIT),
                ..Default::default()
            }
        } else {
            LimitsInput::default()
        };
        store.put_limits(&noisy.id, LimitLayer::Own, &limits).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stop = Instant::now() + Duration::from_secs(seconds) + Duration::from_millis(500);
        let hammering =
            tokio::spawn(hammer(server.url.clone(), noisy_key.clone(), NOISY_CONNECTIONS, stop));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (mut beside, failures) =
            fixed_rate_latency_at(&quiet, QUIET_CONNECTIONS, QUIET_RATE, seconds).await?;
        let hammered = hammering.await??;
        let beside = percentiles(&mut beside);
        let how = if limited { "limited to 1,000/s" } else { "unlimited" };
        for (name, value, base) in [("p50", beside.p50, alone.p50), ("p99", beside.p99, alone.p99)]
        {
            let target = if limited && name == "p99" { "<= 2x" } else { "" };
            rows.push(Row::new(
                format!("  quiet tenant beside a neighbour {how}: {name}"),
                ms(value),
                "ms",
                Some(ms(base)),
                target,
            ));
        }
        let secs = hammered.elapsed.as_secs_f64();
        rows.push(Row::new(
            format!("  neighbour {how}: accepted"),
            hammered.accepted as f64 / secs,
            "events/s",
            None,
            "",
        ));
        rows.push(Row::new(
            format!("  neighbour {how}: refused (429)"),
            hammered.refused as f64 / secs,
            "req/s",
            None,
            "",
        ));
        if failures > 0 {
            rows.push(Row::new(
                format!("  quiet tenant beside a neighbour {how}: failed"),
                failures as f64,
                "requests",
                None,
                "0",
            ));
        }
    }
    RunningServer::stop_all(servers).await;
    settle().await;
    Ok(rows)
}
