//! The work queue (SPEC section 7 and 12): jobs claimed and completed per second, one at a time
//! and in batches of 100, in process (through the store) and over HTTP, beside a minimal
//! claim-and-complete loop in plain SQL on the same database (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL); and the latency from posting an event to a waiting worker's claim of its job.
//!
//! Every Spine claim and completion is a durable commit that also appends its transition event
//! (`job.processing`, `job.completed`) to the log; the baseline's rows carry no events, no lease
//! token and no tenant fence. Both settle each job in two durable commits when taken one at a
//! time.

use crate::backend::{Backend, Node, Place};
use crate::ingest::{client, RunningServer};
use crate::measure::{ms, percentiles, Row};
use crate::{settle, BenchOptions};
use futures::future::join_all;
use serde_json::{json, Value};
use spine_core::input::{EventInput, EventLimits};
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::{NewEvent, TenantId};
use spine_store::{ClaimRequest, Settle, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Jobs per claim in the batched measurements.
const BATCH: u32 = 100;
/// Events posted one at a time for the long-poll latency.
const LATENCY_EVENTS: usize = 200;

/// The section: for each node count, the baselines, then Spine in process and over HTTP, then
/// the long-poll latency.
pub async fn run(backend: &Backend, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    let single_jobs = (opts.work_jobs / 4).max(100);
    let batch_jobs = opts.work_jobs.max(BATCH as usize);
    let name = baseline_name(backend);
    let workers = opts.work_workers.max(1);
    let base_single = plain_loop(backend, single_jobs, 1, workers).await?;
    rows.push(Row::new(format!("{name}, 1 at a time"), base_single, "jobs/s", None, ""));
    let base_batch = plain_loop(backend, batch_jobs, BATCH, workers).await?;
    rows.push(Row::new(format!("{name}, {BATCH} per claim"), base_batch, "jobs/s", None, ""));
    settle().await;

    for &count in backend.node_counts() {
        let suffix = backend.suffix(count);
        let rate = in_process(backend, count, single_jobs, 1, workers).await?;
        let what = format!("work in process: claim+complete 1 at a time{suffix}");
        rows.push(Row::new(what, rate, "jobs/s", Some(base_single), ">= 5000"));
        settle().await;
        let rate = in_process(backend, count, batch_jobs, BATCH, workers).await?;
        let what = format!("work in process: {BATCH} per claim{suffix}");
        rows.push(Row::new(what, rate, "jobs/s", Some(base_batch), ">= 30000"));
        settle().await;
        let rate = over_http(backend, count, single_jobs, 1, workers).await?;
        let what = format!("work over HTTP: claim+complete 1 at a time{suffix}");
        rows.push(Row::new(what, rate, "jobs/s", Some(base_single), ">= 5000"));
        settle().await;
        let rate = over_http(backend, count, batch_jobs, BATCH, workers).await?;
        let what = format!("work over HTTP: {BATCH} per claim{suffix}");
        rows.push(Row::new(what, rate, "jobs/s", Some(base_batch), ">= 30000"));
        settle().await;
        rows.extend(long_poll_latency(backend, count).await?);
        settle().await;
    }
    Ok(rows)
}

fn baseline_name(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite(_) => "baseline: plain SQL claim+complete loop",
        Backend::Postgres(_) => "baseline: plain SKIP LOCKED claim+complete loop",
    }
}

fn bench_tenant() -> BenchResult<TenantId> {
    Ok(TenantId::parse("bench").map_err(|e| e.to_string())?)
}

/// The rule that makes every `bench.job` event a job of the `bench` queue.
fn rule() -> BenchResult<QueueRule> {
    let input: RuleInput =
        serde_json::from_value(json!({"filter": {"type": "bench.job"}, "queue": "bench"}))?;
    Ok(QueueRule::parse("bench", input).map_err(|e| format!("{e:?}"))?)
}

fn job_event(i: usize) -> BenchResult<NewEvent> {
    let input: EventInput = serde_json::from_value(json!({
        "type": "bench.job",
        "title": format!("Job {i}"),
        "entity": {"type": "call", "id": format!("C-{i}")},
        "data": {"n": i},
    }))?;
    let id = uuid::Uuid::now_v7();
    Ok(input.validate(id, None, &EventLimits::default()).map_err(|e| e.to_string())?)
}

/// A tenant with the rule and `jobs` pending jobs, made through `store` (untimed).
async fn seed(store: &dyn Store, tenant: &TenantId, jobs: usize) -> BenchResult<()> {
    store.put_rule(tenant, &rule()?).await?;
    let events = (0..jobs).map(job_event).collect::<BenchResult<Vec<_>>>()?;
    for chunk in events.chunks(1000) {
        store.append(tenant, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Jobs/s of `workers` tasks claiming `limit` jobs at a time through the store and completing
/// each (the completions of one claim concurrently), until the queue is empty.
async fn in_process(
    backend: &Backend,
    nodes: usize,
    jobs: usize,
    limit: u32,
    workers: usize,
) -> BenchResult<f64> {
    let (place, opened) = backend.fresh(&format!("work-inproc-{nodes}-{limit}"), nodes).await?;
    let tenant = bench_tenant()?;
    opened[0].store().create_tenant(&tenant, "bench").await?;
    seed(opened[0].store().as_ref(), &tenant, jobs).await?;
    place.analyze_jobs().await?;
    let stores: Vec<Arc<dyn Store>> = opened.iter().map(Node::store).collect();
    let start = Instant::now();
    let tasks = (0..workers).map(|w| {
        let (store, tenant) = (stores[w % stores.len()].clone(), tenant.clone());
        tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let request = ClaimRequest {
                    queue: "bench".to_owned(),
                    limit,
                    lease_micros: 60_000_000,
                    worker: format!("w{w}"),
                };
                let claimed = store.claim(&tenant, request).await?;
                if claimed.is_empty() {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(done);
                }
                let settles = claimed.into_iter().map(|record| {
                    let settle = Settle::Complete {
                        lease: record.job.state.lease,
                        result: Some(json!({"ok": true})),
                        note: None,
                    };
                    let (store, tenant) = (store.clone(), tenant.clone());
                    async move { store.settle(&tenant, record.job.id, settle).await }
                });
                for settled in join_all(settles).await {
                    settled?.map_err(|e| format!("{e:?}"))?;
                    done += 1;
                }
            }
        })
    });
    let mut done = 0;
    for r in join_all(tasks).await {
        done += r??;
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    for node in opened {
        node.close().await;
    }
    if done != jobs {
        return Err(format!("{done} of {jobs} jobs were completed").into());
    }
    Ok(rate)
}

/// The same over HTTP: `workers` keep-alive workers, spread over one server per node, each
/// claiming `limit` jobs with `POST /v1/work/claim` and completing each with
/// `POST /v1/work/{id}/complete` (a claim's completions concurrently).
async fn over_http(
    backend: &Backend,
    nodes: usize,
    jobs: usize,
    limit: u32,
    workers: usize,
) -> BenchResult<f64> {
    let (place, opened) = backend.fresh(&format!("work-http-{nodes}-{limit}"), nodes).await?;
    let servers = RunningServer::start_all(opened).await?;
    seed(servers[0].node.store().as_ref(), &servers[0].tenant, jobs).await?;
    place.analyze_jobs().await?;
    let http = client(workers * limit as usize)?;
    let start = Instant::now();
    let tasks = (0..workers).map(|w| {
        let (url, key, http) =
            (servers[w % servers.len()].url.clone(), servers[0].key.clone(), http.clone());
        tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let body = json!({"queue": "bench", "limit": limit, "worker": format!("w{w}")});
                let claimed = claim_http(&http, &url, &key, &body).await?;
                if claimed.is_empty() {
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(done);
                }
                let completes = claimed.iter().map(|job| {
                    let id = job["id"].as_str().unwrap_or_default();
                    http.post(format!("{url}/v1/work/{id}/complete"))
                        .bearer_auth(&key)
                        .json(&json!({"lease_token": job["lease_token"], "result": {"ok": true}}))
                        .send()
                });
                for response in join_all(completes).await {
                    response?.error_for_status()?;
                    done += 1;
                }
            }
        })
    });
    let mut done = 0;
    for r in join_all(tasks).await {
        done += r??;
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    RunningServer::stop_all(servers).await;
    if done != jobs {
        return Err(format!("{done} of {jobs} jobs were completed over HTTP").into());
    }
    Ok(rate)
}

/// `POST /v1/work/claim` with `body`: the jobs handed out.
async fn claim_http(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> BenchResult<Vec<Value>> {
    let answer: Value = http
        .post(format!("{url}/v1/work/claim"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["jobs"].as_array().cloned().unwrap_or_default())
}

/// Latency from posting an event (`POST /v1/events`, whose commit creates the job) to the claim
/// answer that hands its job to one of four workers already waiting in long-polling claims,
/// for events posted one at a time; beside the post's own round trip (the event's commit).
async fn long_poll_latency(backend: &Backend, nodes: usize) -> BenchResult<Vec<Row>> {
    let suffix = backend.suffix(nodes);
    let (_, opened) = backend.fresh(&format!("work-latency-{nodes}"), nodes).await?;
    let servers = RunningServer::start_all(opened).await?;
    servers[0].node.store().put_rule(&servers[0].tenant, &rule()?).await?;
    let http = client(16)?;
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let waited: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Workers wait on the last node; events go to the first: with two nodes, every wake-up
    // crosses nodes.
    let worker_url = servers[servers.len() - 1].url.clone();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (url, key, http) = (worker_url.clone(), servers[0].key.clone(), http.clone());
            let (sent, waited, stop) = (sent.clone(), waited.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body =
                        json!({"queue": "bench", "wait_seconds": 2, "worker": format!("w{w}")});
                    let claimed = claim_http(&http, &url, &key, &body).await?;
                    let arrived = Instant::now();
                    for job in claimed {
                        let n = job["event"]["data"]["n"].as_u64().unwrap_or(u64::MAX);
                        if let Some(at) = sent.lock().map_err(|_| "poisoned")?.get(&n) {
                            waited.lock().map_err(|_| "poisoned")?.push(arrived - *at);
                        }
                        let id = job["id"].as_str().unwrap_or_default();
                        http.post(format!("{url}/v1/work/{id}/complete"))
                            .bearer_auth(&key)
                            .json(&json!({"lease_token": job["lease_token"]}))
                            .send()
                            .await?
                            .error_for_status()?;
                    }
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    // Let the workers' first claims reach the server and wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut posts = Vec::with_capacity(LATENCY_EVENTS);
    for i in 0..LATENCY_EVENTS {
        let body = json!({"type": "bench.job", "title": format!("Job {i}"), "data": {"n": i}});
        let at = Instant::now();
        sent.lock().map_err(|_| "poisoned")?.insert(i as u64, at);
        http.post(format!("{}/v1/events", servers[0].url))
            .bearer_auth(&servers[0].key)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
        posts.push(at.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while waited.lock().map_err(|_| "poisoned")?.len() < LATENCY_EVENTS && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in join_all(workers).await {
        w??;
    }
    RunningServer::stop_all(servers).await;
    let mut waited = std::mem::take(&mut *waited.lock().map_err(|_| "poisoned")?);
    if waited.len() < LATENCY_EVENTS {
        return Err(format!("only {} of {LATENCY_EVENTS} jobs were claimed", waited.len()).into());
    }
    let (post, claim) = (percentiles(&mut posts), percentiles(&mut waited));
    Ok(vec![
        Row::new(
            format!("event posted -> job claimed by a waiting worker, p50{suffix}"),
            ms(claim.p50),
            "ms",
            Some(ms(post.p50)),
            "",
        ),
        Row::new(
            format!("event posted -> job claimed by a waiting worker, p99{suffix}"),
            ms(claim.p99),
            "ms",
            Some(ms(post.p99)),
            "",
        ),
    ])
}

/// The baseline: `workers` connections (one on SQLite, whose writes are serial anyway) claiming
/// `limit` rows of a minimal jobs table and completing them, each claim and each completion one
/// durable transaction, until none is left; jobs/s.
async fn plain_loop(
    backend: &Backend,
    jobs: usize,
    limit: u32,
    workers: usize,
) -> BenchResult<f64> {
    let (place, nodes) = backend.fresh(&format!("work-baseline-{limit}"), 1).await?;
    for node in nodes {
        node.close().await;
    }
    match place {
        Place::Sqlite(path) => crate::baseline::claim_loop(&path, jobs, limit).await,
        Place::Postgres(url) => crate::baseline_pg::claim_loop(&url, jobs, limit, workers).await,
    }
}
