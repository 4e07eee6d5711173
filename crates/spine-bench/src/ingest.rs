//! Ingest throughput and latency: in-process through the store, and over HTTP with keep-alive
//! connections (single events at full speed, then at a fixed 80 % rate for latency, then batches).

use crate::backend::{Backend, Node};
use crate::data::{self, Rng};
use crate::measure::{ms, percentiles, Row};
use crate::{settle, BenchOptions};
use futures::future::join_all;
use spine_core::{NewEvent, TenantId};
use spine_store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn events(n: usize, seed: u64) -> Vec<NewEvent> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| data::new_event(&mut rng, i)).collect()
}

/// In-process ingest through the store: batches of 1,000, and concurrent single events
/// (group commit), beside the plain-insert baseline; on PostgreSQL with one node and with two
/// (the load split evenly across both).
pub async fn in_process(
    backend: &Backend,
    dir: &std::path::Path,
    n: usize,
) -> BenchResult<Vec<Row>> {
    let base = backend.insert_rate("inproc-baseline", &events(n, 1)).await?;
    let mut rows = vec![Row::new(backend.baseline_name(), base, "events/s", None, "")];
    settle().await;
    let bodies = events(n, 1);
    let disk = crate::baseline::append_fsync_rate(dir, &bodies, 1000)?;
    rows.push(Row::new(
        "physical limit: bodies appended, fdatasync per 1000",
        disk,
        "events/s",
        None,
        "",
    ));
    // The fsync cost curve: fewer events per sync (a sample large enough for 2,000 syncs).
    for per_sync in [1usize, 10, 100] {
        let sample = &bodies[..(per_sync * 2000).min(bodies.len())];
        let rate = crate::baseline::append_fsync_rate(dir, sample, per_sync)?;
        rows.push(Row::new(
            format!("  fdatasync per {per_sync} (the fsync cost curve)"),
            rate,
            "events/s",
            Some(disk),
            "",
        ));
    }
    settle().await;

    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;
    for &count in backend.node_counts() {
        let suffix = backend.suffix(count);
        let (place, nodes) = backend.fresh(&format!("inproc-{count}"), count).await?;
        nodes[0].store().create_tenant(&tenant, "bench").await?;
        let written_before = written(&place).await;
        let stores: Vec<Arc<dyn Store>> = nodes.iter().map(Node::store).collect();

        // One task per node, each appending its share of the batches one after another.
        let batches: Vec<Vec<NewEvent>> = events(n, 2).chunks(1000).map(<[_]>::to_vec).collect();
        let mut shares = vec![Vec::new(); stores.len()];
        for (i, batch) in batches.into_iter().enumerate() {
            shares[i % stores.len()].push(batch);
        }
        let lag = IndexLag::watch(&nodes[0], &tenant);
        let start = Instant::now();
        let tasks = shares.into_iter().zip(&stores).map(|(share, store)| {
            let (store, tenant) = (store.clone(), tenant.clone());
            tokio::spawn(async move {
                for batch in share {
                    store.append(&tenant, batch).await?;
                }
                Ok::<_, spine_store::StoreError>(())
            })
        });
        for r in join_all(tasks).await {
            r??;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let lag = IndexLag::finish(lag).await;
        rows.push(Row::new(
            format!("in-process ingest, batches of 1000{suffix}"),
            rate,
            "events/s",
            Some(base),
            ">= 500000",
        ));
        rows.push(Row::new(
            format!("  the same, against the disk's limit{suffix}"),
            rate,
            "events/s",
            Some(disk),
            "",
        ));
        if let (Some(before), Some(after)) = (written_before, written(&place).await) {
            let what = match place {
                crate::backend::Place::Sqlite(_) => {
                    "storage bytes written per event (WAL + checkpoints)"
                }
                crate::backend::Place::Postgres(_) => "WAL bytes per event (pg_current_wal_lsn)",
            };
            rows.push(Row::new(
                format!("  {what}{suffix}"),
                after.saturating_sub(before) as f64 / n as f64,
                "bytes",
                None,
                "",
            ));
        }
        if let Some((most, caught_up)) = lag {
            rows.push(Row::new(
                format!("  indexer: most events behind the log during the run{suffix}"),
                most as f64,
                "events",
                None,
                "",
            ));
            rows.push(Row::new(
                format!("  indexer: most time behind, at the run's rate{suffix}"),
                most as f64 / rate * 1000.0,
                "ms",
                None,
                "<= 1000",
            ));
            rows.push(Row::new(
                format!("  indexer: caught up after the last commit{suffix}"),
                caught_up.as_secs_f64() * 1000.0,
                "ms",
                None,
                "",
            ));
        }
        settle().await;

        let singles = events(n / 4, 3);
        let per_task = singles.len() / 256;
        let start = Instant::now();
        let tasks = singles.chunks(per_task.max(1)).enumerate().map(|(t, chunk)| {
            let store = stores[t % stores.len()].clone();
            let tenant = tenant.clone();
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                for e in chunk {
                    store.append(&tenant, vec![e]).await?;
                }
                Ok::<_, spine_store::StoreError>(())
            })
        });
        for r in join_all(tasks).await {
            r??;
        }
        let rate = singles.len() as f64 / start.elapsed().as_secs_f64();
        rows.push(Row::new(
            format!("in-process ingest, 256 tasks x single events{suffix}"),
            rate,
            "events/s",
            Some(base),
            "",
        ));
        for node in &nodes {
            node.close().await;
        }
        settle().await;
    }
    Ok(rows)
}

/// How far the SQLite indexer falls behind the log during a run: the log's head and the
/// indexer's watermark sampled every 5 ms.
struct IndexLag {
    sampler: tokio::task::JoinHandle<i64>,
    stop: tokio::sync::watch::Sender<bool>,
    store: Arc<spine_sqlite::SqliteStore>,
    tenant: TenantId,
}

impl IndexLag {
    fn watch(node: &Node, tenant: &TenantId) -> Option<Self> {
        let Node::Sqlite(store) = node else { return None };
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (sampled, sampled_tenant) = (store.clone(), tenant.clone());
        let sampler = tokio::spawn(async move {
            let mut most = 0;
            while !*stopped.borrow() {
                if let Ok(head) = sampled.head(&sampled_tenant).await {
                    most = most.max(head.0 - sampled.indexed_through().0);
                }
                let _ = tokio::time::timeout(Duration::from_millis(5), stopped.changed()).await;
            }
            most
        });
        Some(Self { sampler, stop, store: store.clone(), tenant: tenant.clone() })
    }

    /// The most events behind, and how long the indexer took to reach the head after the run.
    async fn finish(this: Option<Self>) -> Option<(i64, Duration)> {
        let this = this?;
        let _ = this.stop.send(true);
        let most = this.sampler.await.ok()?;
        let head = this.store.head(&this.tenant).await.ok()?;
        let start = Instant::now();
        while this.store.indexed_through() < head && start.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Some((most, start.elapsed()))
    }
}

/// A server on port 0 over one node's store, with an admin key of the benchmark's tenant.
pub(crate) struct RunningServer {
    pub url: String,
    pub key: String,
    pub node: Node,
    pub tenant: TenantId,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// One server per node, all serving one tenant (created through the first node) with one
    /// key: two nodes on one database are two spine processes behind a load balancer.
    pub(crate) async fn start_all(nodes: Vec<Node>) -> BenchResult<Vec<Self>> {
        Self::start_all_with(nodes, Default::default()).await
    }

    /// [`RunningServer::start_all`] with a server configuration.
    pub(crate) async fn start_all_with(
        nodes: Vec<Node>,
        config: spine_server::ServerConfig,
    ) -> BenchResult<Vec<Self>> {
        let first = nodes.first().ok_or("no node to serve")?.store();
        let (tenant, key) =
            spine_server::provision::create_tenant_with_admin_key(first.as_ref(), "bench").await?;
        let mut servers = Vec::with_capacity(nodes.len());
        for node in nodes {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}", listener.local_addr()?);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(spine_server::run(
                listener,
                node.store(),
                config.clone(),
                async move {
                    let _ = stopped.await;
                },
            ));
            let (key, tenant) = (key.clone(), tenant.id.clone());
            servers.push(Self { url, key, node, tenant, stop: Some(stop), task });
        }
        Ok(servers)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
        self.node.close().await;
    }

    /// Stops every server of a cluster.
    pub(crate) async fn stop_all(servers: Vec<Self>) {
        for srv in servers {
            srv.stop().await;
        }
    }
}

pub(crate) fn client(connections: usize) -> BenchResult<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(connections).tcp_nodelay(true).build()?)
}

pub(crate) fn bodies(n: usize, seed: u64) -> Arc<Vec<Vec<u8>>> {
    let mut rng = Rng::new(seed);
    Arc::new(
        (0..n)
            .map(|i| serde_json::to_vec(&data::event_json(&mut rng, i)).unwrap_or_default())
            .collect(),
    )
}

/// One JSON POST; `true` when answered with a 2xx.
async fn post(client: &reqwest::Client, url: &str, key: &str, body: Vec<u8>) -> bool {
    let r = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    r.map(|r| r.status().is_success()).unwrap_or(false)
}

/// Posts `bodies` round-robin to `path` on `connections` keep-alive connections for `seconds`,
/// each request carrying `per_request` events, the connections split evenly across `servers`;
/// successful events/s.
async fn saturate(
    servers: &[RunningServer],
    path: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    per_request: u64,
    connections: usize,
    seconds: u64,
) -> BenchResult<f64> {
    let client = client(connections)?;
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks = (0..connections).map(|c| {
        let (client, bodies, done) = (client.clone(), bodies.clone(), done.clone());
        let srv = &servers[c % servers.len()];
        let url = format!("{}{path}", srv.url);
        let key = srv.key.clone();
        tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                let body = bodies[i % bodies.len()].clone();
                let r = post(&client, &url, &key, body).await;
                if r {
                    done.fetch_add(per_request, Ordering::Relaxed);
                }
                i += connections;
            }
        })
    });
    join_all(tasks).await;
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Posts single events at a fixed `rate` for `seconds`, spread over `connections`; latency is
/// measured from each request's scheduled send time, so a stall counts against every request
/// it delays (no coordinated omission). The connections are split evenly across `servers`.
async fn fixed_rate_latency(
    servers: &[RunningServer],
    connections: usize,
    rate: f64,
    seconds: u64,
) -> BenchResult<(Vec<Duration>, u64)> {
    let targets: Vec<(String, String)> =
        servers.iter().map(|s| (s.url.clone(), s.key.clone())).collect();
    fixed_rate_latency_at(&targets, connections, rate, seconds).await
}

/// [`fixed_rate_latency`] against `(server URL, key)` targets.
pub(crate) async fn fixed_rate_latency_at(
    targets: &[(String, String)],
    connections: usize,
    rate: f64,
    seconds: u64,
) -> BenchResult<(Vec<Duration>, u64)> {
    let client = client(connections)?;
    let bodies = bodies(50_000, 12);
    let total = (rate * seconds as f64) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(50);
    let failures = Arc::new(AtomicU64::new(0));
    let tasks = (0..connections).map(|c| {
        let (client, bodies, failures) = (client.clone(), bodies.clone(), failures.clone());
        let (url, key) = &targets[c % targets.len()];
        let (url, key) = (format!("{url}/v1/events"), key.clone());
        tokio::spawn(async move {
            let mut samples = Vec::with_capacity(total / connections + 1);
            let mut i = c;
            while i < total {
                let scheduled = start + interval * i as u32;
                tokio::time::sleep_until(scheduled.into()).await;
                let body = bodies[i % bodies.len()].clone();
                let r = post(&client, &url, &key, body).await;
                if !r {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                samples.push(scheduled.elapsed());
                i += connections;
            }
            samples
        })
    });
    let mut all = Vec::with_capacity(total);
    for t in join_all(tasks).await {
        all.extend(t?);
    }
    Ok((all, failures.load(Ordering::Relaxed)))
}

/// Batches of 1,000 events as request bodies.
fn batch_bodies() -> Arc<Vec<Vec<u8>>> {
    let mut rng = Rng::new(13);
    Arc::new(
        (0..40)
            .map(|b| {
                let events: Vec<_> =
                    (0..1000).map(|i| data::event_json(&mut rng, b * 1000 + i)).collect();
                serde_json::to_vec(&serde_json::json!({"events": events})).unwrap_or_default()
            })
            .collect(),
    )
}

/// The HTTP ingest section; on PostgreSQL with one node and with two (one server per node on
/// one database, the client connections split across them).
pub async fn http(backend: &Backend, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let base =
        backend.insert_rate("http-baseline", &events(opts.ingest_events.min(100_000), 4)).await?;
    let mut rows = vec![Row::new(backend.baseline_name(), base, "events/s", None, "")];
    settle().await;

    for &count in backend.node_counts() {
        let suffix = backend.suffix(count);
        let (_, nodes) = backend.fresh(&format!("http-single-{count}"), count).await?;
        let servers = RunningServer::start_all(nodes).await?;
        let rate =
            saturate(&servers, "/v1/events", bodies(50_000, 11), 1, opts.connections, opts.seconds)
                .await?;
        rows.push(Row::new(
            format!("HTTP single-event ingest, {} connections{suffix}", opts.connections),
            rate,
            "events/s",
            Some(base),
            ">= 20000",
        ));
        settle().await;
        let target_rate = rate * 0.8;
        let (mut samples, failures) =
            fixed_rate_latency(&servers, opts.connections, target_rate, opts.seconds).await?;
        let p = percentiles(&mut samples);
        rows.push(Row::new(
            format!("  at fixed {target_rate:.0}/s (80 %): p50{suffix}"),
            ms(p.p50),
            "ms",
            None,
            "",
        ));
        rows.push(Row::new(
            format!("  at fixed {target_rate:.0}/s (80 %): p99{suffix}"),
            ms(p.p99),
            "ms",
            None,
            "<= 10 ms",
        ));
        if failures > 0 {
            rows.push(Row::new(
                format!("  at fixed rate: failed requests{suffix}"),
                failures as f64,
                "requests",
                None,
                "0",
            ));
        }
        // The latency curve: the same measurement at fixed rates, the highest past what the
        // store may sustain (its failures and delays then show as such).
        for rate in [500.0, 2000.0, 5000.0, 10_000.0] {
            settle().await;
            let (mut samples, failures) =
                fixed_rate_latency(&servers, opts.connections, rate, opts.seconds).await?;
            let p = percentiles(&mut samples);
            let target = if rate <= 5000.0 { "<= 10 ms" } else { "" };
            for (name, value, target) in
                [("p50", p.p50, ""), ("p99", p.p99, target), ("p99.9", p.p999, "")]
            {
                rows.push(Row::new(
                    format!("  latency curve at fixed {rate:.0}/s: {name}{suffix}"),
                    ms(value),
                    "ms",
                    None,
                    target,
                ));
            }
            if failures > 0 {
                rows.push(Row::new(
                    format!("  latency curve at fixed {rate:.0}/s: failed requests{suffix}"),
                    failures as f64,
                    "requests",
                    None,
                    "0",
                ));
            }
        }
        RunningServer::stop_all(servers).await;
        settle().await;

        let (_, nodes) = backend.fresh(&format!("http-batch-{count}"), count).await?;
        let servers = RunningServer::start_all(nodes).await?;
        let rate =
            saturate(&servers, "/v1/events/batch", batch_bodies(), 1000, 4, opts.seconds).await?;
        rows.push(Row::new(
            format!("HTTP batched ingest, 1000/batch, 4 connections{suffix}"),
            rate,
            "events/s",
            Some(base),
            backend.batched_http_target(),
        ));
        RunningServer::stop_all(servers).await;
        settle().await;
    }
    Ok(rows)
}

/// What has been written so far where `place` keeps its data: this process's storage writes for
/// SQLite (`/proc/self/io`), the server's WAL position for PostgreSQL.
async fn written(place: &crate::backend::Place) -> Option<u64> {
    match place {
        crate::backend::Place::Sqlite(_) => crate::baseline::process_write_bytes(),
        crate::backend::Place::Postgres(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
            let lsn: Option<i64> =
                sqlx::query_scalar("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
                    .fetch_one(&mut conn)
                    .await
                    .ok()?;
            let _ = conn.close().await;
            lsn.and_then(|l| u64::try_from(l).ok())
        }
    }
}
