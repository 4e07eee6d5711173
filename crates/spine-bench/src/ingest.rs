//! Ingest throughput and latency: in-process through the store, and over HTTP with keep-alive
//! connections (single events at full speed, then at a fixed 80 % rate for latency, then batches).

use crate::data::{self, Rng};
use crate::measure::{ms, percentiles, Row};
use crate::{baseline, fresh_store, settle, BenchOptions};
use futures::future::join_all;
use spine_core::{NewEvent, TenantId};
use spine_store::Store;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn events(n: usize, seed: u64) -> Vec<NewEvent> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| data::new_event(&mut rng, i)).collect()
}

/// In-process ingest through the store: batches of 1,000, and concurrent single events
/// (group commit), beside the plain-insert baseline.
pub async fn in_process(dir: &Path, n: usize) -> BenchResult<Vec<Row>> {
    let base = baseline::insert_rate(dir, &events(n, 1)).await?;
    let mut rows = vec![Row::new("baseline: plain SQLite insert loop", base, "events/s", None, "")];
    settle().await;

    let store = fresh_store(dir, "inproc.db").await?;
    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;
    store.create_tenant(&tenant, "bench").await?;
    let batch = events(n, 2);
    let start = Instant::now();
    for chunk in batch.chunks(1000) {
        store.append(&tenant, chunk.to_vec()).await?;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    rows.push(Row::new(
        "in-process ingest, batches of 1000",
        rate,
        "events/s",
        Some(base),
        ">= 500000",
    ));
    settle().await;

    let singles = events(n / 4, 3);
    let per_task = singles.len() / 256;
    let start = Instant::now();
    let tasks = singles.chunks(per_task.max(1)).map(|chunk| {
        let store = store.clone();
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
        "in-process ingest, 256 tasks x single events",
        rate,
        "events/s",
        Some(base),
        "",
    ));
    store.close().await;
    Ok(rows)
}

/// A server on port 0 over a fresh store, with an ingest key.
pub(crate) struct RunningServer {
    pub url: String,
    pub key: String,
    pub store: Arc<spine_sqlite::SqliteStore>,
    pub tenant: TenantId,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub(crate) async fn start(store: Arc<spine_sqlite::SqliteStore>) -> BenchResult<Self> {
        let (tenant, key) =
            spine_server::provision::create_tenant_with_admin_key(store.as_ref(), "bench").await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dyn_store: Arc<dyn Store> = store.clone();
        let task =
            tokio::spawn(spine_server::run(listener, dyn_store, Default::default(), async move {
                let _ = stopped.await;
            }));
        Ok(Self { url, key, store, tenant: tenant.id, stop: Some(stop), task })
    }

    pub(crate) async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
        self.store.close().await;
    }
}

fn client(connections: usize) -> BenchResult<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(connections).tcp_nodelay(true).build()?)
}

fn bodies(n: usize, seed: u64) -> Arc<Vec<Vec<u8>>> {
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
/// each request carrying `per_request` events; successful events/s.
async fn saturate(
    srv: &RunningServer,
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
/// it delays (no coordinated omission).
async fn fixed_rate_latency(
    srv: &RunningServer,
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
        let url = format!("{}/v1/events", srv.url);
        let key = srv.key.clone();
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

/// The HTTP ingest section.
pub async fn http(dir: &Path, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let base = baseline::insert_rate(dir, &events(opts.ingest_events.min(100_000), 4)).await?;
    let mut rows = vec![Row::new("baseline: plain SQLite insert loop", base, "events/s", None, "")];
    settle().await;

    let srv = RunningServer::start(fresh_store(dir, "http-single.db").await?).await?;
    let rate =
        saturate(&srv, "/v1/events", bodies(50_000, 11), 1, opts.connections, opts.seconds).await?;
    rows.push(Row::new(
        format!("HTTP single-event ingest, {} connections", opts.connections),
        rate,
        "events/s",
        Some(base),
        ">= 20000",
    ));
    settle().await;
    let target_rate = rate * 0.8;
    let (mut samples, failures) =
        fixed_rate_latency(&srv, opts.connections, target_rate, opts.seconds).await?;
    let p = percentiles(&mut samples);
    rows.push(Row::new(
        format!("  at fixed {target_rate:.0}/s (80 %): p50"),
        ms(p.p50),
        "ms",
        None,
        "",
    ));
    rows.push(Row::new(
        format!("  at fixed {target_rate:.0}/s (80 %): p99"),
        ms(p.p99),
        "ms",
        None,
        "<= 10 ms",
    ));
    if failures > 0 {
        rows.push(Row::new(
            "  at fixed rate: failed requests",
            failures as f64,
            "requests",
            None,
            "0",
        ));
    }
    srv.stop().await;
    settle().await;

    let srv = RunningServer::start(fresh_store(dir, "http-batch.db").await?).await?;
    let rate = saturate(&srv, "/v1/events/batch", batch_bodies(), 1000, 4, opts.seconds).await?;
    rows.push(Row::new(
        "HTTP batched ingest, 1000/batch, 4 connections",
        rate,
        "events/s",
        Some(base),
        ">= 200000",
    ));
    srv.stop().await;
    Ok(rows)
}
