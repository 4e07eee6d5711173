//! Downstream: outbound webhook deliveries and the library's in-process `emit`.
//!
//! - Deliveries per second to a local receiver, with 1 endpoint and with 100, each endpoint
//!   sent `events` events committed before the clock starts; beside a plain loop that signs and
//!   posts the same bodies to the same receiver (one request in flight per loop, one loop per
//!   endpoint), measured in the same run.
//! - Publish-to-delivery latency at a fixed rate (events posted over HTTP, one endpoint): from
//!   the post to the receiver's arrival, p50 and p99; beside the plain loop's post latency.
//! - `emit` inside the caller's transaction (the library, `crates/spine`): a domain row and its
//!   event per transaction, and a domain row with 100 events per transaction; beside the same
//!   transactions writing the domain rows alone.

use crate::backend::{Backend, Place};
use crate::ingest::RunningServer;
use crate::measure::{ms, percentiles, Row};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What the receiver saw: deliveries counted, and each delivery's arrival by event title.
#[derive(Default)]
struct Seen {
    count: usize,
    arrived: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Seen>>;

async fn receive(State(seen): State<Shared>, headers: HeaderMap, body: Bytes) -> &'static str {
    let now = Instant::now();
    let title = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["title"].as_str().map(str::to_owned));
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.count += 1;
    if let (Some(title), true) = (title, headers.contains_key("webhook-signature")) {
        seen.arrived.entry(title).or_insert(now);
    }
    "ok"
}

/// A receiver on 127.0.0.1 answering 200 to every `POST /in/{n}`.
async fn receiver() -> BenchResult<(String, Shared)> {
    let seen: Shared = Arc::default();
    let app = axum::Router::new().route("/in/{n}", post(receive)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, seen))
}

fn count(seen: &Shared) -> usize {
    seen.lock().unwrap_or_else(|p| p.into_inner()).count
}

async fn until(seen: &Shared, n: usize, within: Duration) -> BenchResult<Duration> {
    let started = Instant::now();
    while count(seen) < n {
        if started.elapsed() > within {
            return Err(format!("only {} of {n} deliveries arrived", count(seen)).into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(started.elapsed())
}

/// The plain loop: `loops` concurrent loops, each signing and posting `each` bodies one at a
/// time; answers requests per second and each post's latency.
async fn plain_loop(url: &str, loops: usize, each: usize) -> BenchResult<(f64, Vec<Duration>)> {
    let http =
        reqwest::Client::builder().pool_max_idle_per_host(loops).tcp_nodelay(true).build()?;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let started = Instant::now();
    let mut tasks = Vec::new();
    for l in 0..loops {
        let (http, target) = (http.clone(), format!("{url}/in/{l}"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(each);
            for i in 0..each {
                let body = serde_json::to_vec(
                    &json!({"type": "bench.plain", "title": format!("plain {l} {i}")}),
                )
                .unwrap_or_default();
                let id = format!("msg_plain_{l}_{i}");
                let ts = spine_core::Timestamp::now().as_unix_seconds();
                let signature =
                    spine_core::ingest::standard_webhooks::signature::sign(secret, &id, ts, &body)
                        .unwrap_or_default();
                let sent = Instant::now();
                let answer = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
                    .send()
                    .await;
                if answer.is_ok() {
                    latencies.push(sent.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    Ok(((loops * each) as f64 / started.elapsed().as_secs_f64(), latencies))
}

/// Endpoints at `url/in/0..n` for the server's tenant, each for every `bench.*` event.
async fn endpoints(server: &RunningServer, url: &str, n: usize) -> BenchResult<()> {
    let http = reqwest::Client::new();
    for i in 0..n {
        http.post(format!("{}/v1/webhooks", server.url))
            .bearer_auth(&server.key)
            .json(&json!({"url": format!("{url}/in/{i}"), "filter": {"type": "bench.*"}}))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}

async fn append(server: &RunningServer, events: usize, tag: &str) -> BenchResult<()> {
    let store = server.node.store();
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let batch = chunk
            .iter()
            .map(|i| {
                let input: spine_core::input::EventInput = serde_json::from_value(
                    json!({"type": "bench.delivered", "title": format!("{tag} {i}")}),
                )?;
                input
                    .validate(uuid::Uuid::now_v7(), None, &Default::default())
                    .map_err(|e| e.to_string().into())
            })
            .collect::<BenchResult<Vec<_>>>()?;
        store.append(&server.tenant, batch).await?;
    }
    Ok(())
}

/// The section.
pub async fn run(backend: &Backend, events: usize) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    let config = spine_server::ServerConfig { webhook_allow_private: true, ..Default::default() };
    for endpoint_count in [1usize, 100] {
        let (_, nodes) = backend.fresh(&format!("deliveries-{endpoint_count}"), 1).await?;
        let server = RunningServer::start_all_with(nodes, config.clone()).await?.remove(0);
        let (url, seen) = receiver().await?;
        endpoints(&server, &url, endpoint_count).await?;
        let per_endpoint = if endpoint_count == 1 { events } else { (events / 10).max(20) };
        append(&server, per_endpoint, "burst").await?;
        let total = per_endpoint * endpoint_count;
        let took = until(&seen, total, Duration::from_secs(600)).await?;
        let (plain, _) = plain_loop(&url, endpoint_count, per_endpoint.min(2000)).await?;
        rows.push(Row::new(
            format!("webhook deliveries/s, {endpoint_count} endpoint(s) (plain signed POST loop)"),
            total as f64 / took.as_secs_f64(),
            "req/s",
            Some(plain),
            "-",
        ));
        server.stop().await;
        crate::settle().await;
    }

    // Latency at a fixed rate: 50 events/s for 10 s, posted over HTTP, one endpoint.
    let (_, nodes) = backend.fresh("deliveries-latency", 1).await?;
    let server = RunningServer::start_all_with(nodes, config).await?.remove(0);
    let (url, seen) = receiver().await?;
    endpoints(&server, &url, 1).await?;
    // The clock starts once the engine drives the endpoint (it leases new ones every second).
    append(&server, 1, "warm-up").await?;
    until(&seen, 1, Duration::from_secs(30)).await?;
    let http = crate::ingest::client(4)?;
    let mut posted: HashMap<String, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    for i in 0..500 {
        ticks.tick().await;
        let title = format!("timed {i}");
        posted.insert(title.clone(), Instant::now());
        http.post(format!("{}/v1/events", server.url))
            .bearer_auth(&server.key)
            .json(&json!({"type": "bench.timed", "title": title}))
            .send()
            .await?
            .error_for_status()?;
    }
    until(&seen, 501, Duration::from_secs(60)).await?;
    let mut latencies: Vec<Duration> = {
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        posted
            .iter()
            .filter_map(|(title, at)| {
                seen.arrived.get(title).map(|arrived| arrived.duration_since(*at))
            })
            .collect()
    };
    let (_, mut plain) = plain_loop(&url, 1, 500).await?;
    let ours = percentiles(&mut latencies);
    let theirs = percentiles(&mut plain);
    rows.push(Row::new(
        "publish -> delivery p50 at 50 events/s (plain POST)",
        ms(ours.p50),
        "ms",
        Some(ms(theirs.p50)),
        "-",
    ));
    rows.push(Row::new(
        "publish -> delivery p99 at 50 events/s (plain POST)",
        ms(ours.p99),
        "ms",
        Some(ms(theirs.p99)),
        "-",
    ));
    server.stop().await;
    crate::settle().await;

    rows.extend(emit(backend).await?);
    Ok(rows)
}

/// The library's `emit` in the caller's transaction, against the same transactions without it.
async fn emit(backend: &Backend) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    for (label, per_tx, transactions) in
        [("one event per transaction", 1usize, 1000usize), ("100 events per transaction", 100, 50)]
    {
        let (place, nodes) = backend.fresh(&format!("emit-{per_tx}"), 1).await?;
        for node in nodes {
            node.close().await;
        }
        let url = match &place {
            Place::Sqlite(path) => format!("sqlite://{}", path.display()),
            Place::Postgres(url) => url.clone(),
        };
        let spine = spine::Spine::open(&url).await?;
        let tenant = spine_core::TenantId::parse("bench")?;
        spine.store().create_tenant(&tenant, "bench").await?;
        let (with, without) = match &place {
            Place::Sqlite(_) => {
                let pool =
                    sqlx::SqlitePool::connect_with(spine::Spine::sqlite_connect_options(&url))
                        .await?;
                sqlx::query("create table orders (id integer primary key, note text)")
                    .execute(&pool)
                    .await?;
                let mut timed = [0.0; 2];
                for (slot, emit) in [(0, true), (1, false)] {
                    let started = Instant::now();
                    for t in 0..transactions {
                        let mut tx = pool.begin_with("begin immediate").await?;
                        sqlx::query("insert into orders (note) values (?)")
                            .bind(format!("order {t}"))
                            .execute(&mut *tx)
                            .await?;
                        if emit {
                            let events = (0..per_tx).map(|i| event(t, i));
                            let emitted = spine.emit(&mut *tx, &tenant, events).await?;
                            tx.commit().await?;
                            emitted.committed();
                        } else {
                            tx.commit().await?;
                        }
                    }
                    timed[slot] = (transactions * per_tx) as f64 / started.elapsed().as_secs_f64();
                }
                (timed[0], timed[1])
            }
            Place::Postgres(_) => {
                let pool = sqlx::PgPool::connect(&url).await?;
                sqlx::query("create table orders (id bigserial primary key, note text)")
                    .execute(&pool)
                    .await?;
                let mut timed = [0.0; 2];
                for (slot, emit) in [(0, true), (1, false)] {
                    let started = Instant::now();
                    for t in 0..transactions {
                        let mut tx = pool.begin().await?;
                        sqlx::query("insert into orders (note) values ($1)")
                            .bind(format!("order {t}"))
                            .execute(&mut *tx)
                            .await?;
                        if emit {
                            let events = (0..per_tx).map(|i| event(t, i));
                            let emitted = spine.emit(&mut *tx, &tenant, events).await?;
                            tx.commit().await?;
                            emitted.committed();
                        } else {
                            tx.commit().await?;
                        }
                    }
                    timed[slot] = (transactions * per_tx) as f64 / started.elapsed().as_secs_f64();
                }
                (timed[0], timed[1])
            }
        };
        // Both rates count `per_tx` per transaction: the ratio is the transactions' rate with
        // the events against without them.
        let baseline = without;
        rows.push(Row::new(
            format!("emit in process, {label} (row-only transactions)"),
            with,
            "ev/s",
            Some(baseline),
            "500k/s batched",
        ));
        crate::settle().await;
    }
    Ok(rows)
}

fn event(t: usize, i: usize) -> spine_core::input::EventInput {
    spine_core::input::EventInput {
        event_type: Some("order.created".to_owned()),
        title: Some(format!("Order {t}/{i} created")),
        ..Default::default()
    }
}
