//! Fan-out to many Server-Sent Events subscribers on one node (SPEC section 12: publish to the
//! last of 10,000 subscribers p99 <= 40 ms, >= 250,000 deliveries/s, <= 10 KiB per idle
//! connection), beside nginx + nchan, a C pub/sub server, measured the same way in the same run.
//!
//! For each subscriber count N, each server runs as its own fresh child process (spine:
//! `spine serve` over a new SQLite database; nchan: nginx with one channel) and:
//!
//! 1. **Memory per idle connection**: read before the N subscribers connect and again after all
//!    are live and have idled a few seconds; the growth over N, in three parts: the server's
//!    memory (sum of `Pss` over its processes, so nchan's shared-memory zone counts once), the
//!    kernel's TCP buffer memory (`/proc/net/sockstat`, system-wide, so it also holds the
//!    subscribers' ends: it overstates the server's share, for both servers alike) and the
//!    kernel's per-socket objects (`/proc/slabinfo`, halved: both ends hold the same objects).
//! 2. **Publish to last subscriber**: K events are published one at a time, one every
//!    `interval` (spine: `POST /v1/events`; nchan: `POST /pub`, the same JSON bodies). Each
//!    publish instant is taken just before its request is sent; each subscriber stamps its
//!    k-th event's arrival into a shared per-event maximum, so the latency of event k is its
//!    last arrival minus its publish instant. At the default pace (50 ms) one event's fan-out
//!    should be done before the next is published; a server slower than that builds a backlog
//!    and the figure then includes queueing (`--fanout-interval-ms` measures at a slower pace).
//! 3. **Deliveries per second**: a burst of B events (spine: `POST /v1/events/batch` of up to
//!    1,000 each; nchan: B single publishes, 4 at a time, as fast as it answers), then N x B
//!    over the time from just before the first publish to the last arrival on any subscriber.
//!    B defaults to about 2 million deliveries' worth (1,000 events for 1,000 subscribers, 200
//!    for 10,000): enough for a steady rate, short enough that no subscriber falls so far
//!    behind that the server cuts it off (spine closes a stream that lags 60 s).
//!
//! Every subscriber must receive every event: missing or extra deliveries are reported as a
//! row (target 0). Subscribers are the lean client of [`sse`], one task each, all in this
//! process: the machine's cores are shared by server and subscribers, for both servers alike.

mod servers;
mod sse;
mod ws;

use crate::data::{self, Rng};
use crate::measure::{ms, percentiles, Percentiles, Row};
use crate::BenchOptions;
use servers::{Memory, Nginx, SpineChild};
use sse::{Tally, Target};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

pub(crate) type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Subscribers mid-handshake at once, so opening 10,000 does not overflow the listen backlog.
const OPEN_CONCURRENCY: usize = 200;
/// Longest wait for all subscribers to be live.
const OPEN_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle time before the "after" memory reading (lets lazy buffers be freed, e.g. after the
/// handshake).
const IDLE: Duration = Duration::from_secs(3);
/// A measurement gives up waiting for deliveries after this long without progress.
const STALL: Duration = Duration::from_secs(15);
/// Connections the nchan burst is published on (spine gets the same events in batch requests).
const PEER_BURST_CONNECTIONS: usize = 4;

/// Runs the section for every subscriber count in `opts.fanout_subscribers`.
pub async fn run(dir: &Path, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let limit = raise_open_files_limit();
    let most = opts.fanout_subscribers.iter().copied().max().unwrap_or(0);
    if limit < most as u64 + 1000 {
        println!("fanout: open-files limit {limit} is below {most} subscribers; expect failures");
    }
    // The same number of cores for both: spine's runtime uses one thread per core, nginx one
    // worker per core (what `worker_processes auto` would pick).
    let workers = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    println!(
        "fanout: baseline = nginx + nchan, {workers} worker process(es); events every {} ms x {}",
        opts.fanout_interval.as_millis(),
        opts.fanout_events,
    );
    let mut rows = Vec::new();
    for &n in &opts.fanout_subscribers {
        for &transport in &opts.fanout_transports {
            rows.extend(compare(dir, opts, n, transport, workers, limit).await?);
        }
    }
    Ok(rows)
}

/// How subscribers connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Server-Sent Events (`GET /v1/stream`; nchan's `/sub` as EventSource).
    Sse,
    /// WebSocket (`GET /v1/ws` and one subscription; nchan's `/sub` upgraded).
    WebSocket,
}

/// Spine, then nchan, with `n` subscribers over `transport`: the rows.
async fn compare(
    dir: &Path,
    opts: &BenchOptions,
    n: usize,
    transport: Transport,
    workers: usize,
    limit: u64,
) -> BenchResult<Vec<Row>> {
    let burst = opts.fanout_burst.unwrap_or((2_000_000 / n).clamp(1, 1000));
    let events = bodies(opts.fanout_events + burst);
    let spine = SpineChild::start(dir).await?;
    let system = System::Spine { url: format!("http://{}", spine.addr), key: spine.key.clone() };
    let measured = measure(&system, transport, &spine.pids(), n, opts, &events).await;
    spine.stop().await;
    let spine_figures = measured?;
    crate::settle().await;

    let peer = match Nginx::start(dir, workers, limit).await {
        Ok(nginx) => {
            let system = System::Nchan { url: format!("http://{}", nginx.addr) };
            let measured = measure(&system, transport, &nginx.pids(), n, opts, &events).await;
            nginx.stop().await;
            match measured {
                Ok(f) => Some(f),
                Err(e) => {
                    println!("fanout {n} subs: nchan measurement failed: {e}");
                    None
                }
            }
        }
        Err(why) => {
            println!("fanout {n} subs: nchan peer unavailable: {why}");
            None
        }
    };
    crate::settle().await;
    Ok(report(n, transport, &spine_figures, peer.as_ref()))
}

/// Soft open-files limit raised as far as allowed, for this process and the servers it starts:
/// 10,000 subscribers need 10,000 descriptors here and as many in the server.
fn raise_open_files_limit() -> u64 {
    const WANTED: u64 = 65_536;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, WANTED, WANTED).is_err() {
        let _ = rlimit::increase_nofile_limit(WANTED);
    }
    rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft).unwrap_or(0)
}

/// What was measured for one server at one subscriber count.
#[derive(Debug, Clone)]
struct Figures {
    /// Subscribers whose stream went live.
    live: usize,
    /// Publish to last subscriber, over the paced events.
    latency: Percentiles,
    /// Deliveries per second in the burst.
    deliveries_per_s: f64,
    /// Per idle connection, in KiB: growth of the server's processes' memory.
    process_kib: f64,
    /// Growth of the kernel's TCP buffer memory (both ends of each connection).
    buffers_kib: f64,
    /// Half the growth of the kernel's socket objects (one end of each connection).
    socket_kib: f64,
    /// Deliveries expected but not seen, plus any extra ones.
    missed: u64,
    /// Events in the burst.
    burst: usize,
    /// Subscribers that failed to open or whose stream ended.
    failed: usize,
    /// Deliveries missed in the paced part.
    missed_paced: u64,
    /// Deliveries missed in the burst.
    missed_burst: u64,
    /// Why subscribers failed, when any did.
    error: Option<String>,
}

/// A server under test: how to subscribe and how to publish.
enum System {
    Spine { url: String, key: String },
    Nchan { url: String },
}

impl System {
    fn target(&self, transport: Transport) -> BenchResult<Target> {
        let (url, path, key, wait_for_position) = match (self, transport) {
            (Self::Spine { url, key }, Transport::Sse) => {
                (url, "/v1/stream", Some(key.clone()), true)
            }
            (Self::Spine { url, key }, Transport::WebSocket) => {
                (url, "/v1/ws", Some(key.clone()), true)
            }
            (Self::Nchan { url }, _) => (url, "/sub", None, false),
        };
        let addr = url.trim_start_matches("http://").parse()?;
        Ok(Target { addr, path: path.to_owned(), key, wait_for_position })
    }

    /// Publishes one event; `Err` unless answered with a 2xx.
    async fn publish(
        &self,
        client: &reqwest::Client,
        event: &serde_json::Value,
    ) -> BenchResult<()> {
        let body = serde_json::to_vec(event)?;
        let request = match self {
            Self::Spine { url, key } => {
                client.post(format!("{url}/v1/events")).bearer_auth(key).body(body)
            }
            Self::Nchan { url } => client.post(format!("{url}/pub")).body(body),
        };
        let status = request.header("content-type", "application/json").send().await?.status();
        if !status.is_success() {
            return Err(format!("publish answered {status}").into());
        }
        Ok(())
    }

    /// Publishes `events` as fast as the server takes them: spine in batch requests of up to
    /// 1,000 (its batch limit), nchan one by one on a few connections (it has no batch publish).
    async fn burst(
        &self,
        client: &reqwest::Client,
        events: &[serde_json::Value],
    ) -> BenchResult<()> {
        match self {
            Self::Spine { url, key } => {
                for chunk in events.chunks(1000) {
                    let body = serde_json::to_vec(&serde_json::json!({ "events": chunk }))?;
                    let status = client
                        .post(format!("{url}/v1/events/batch"))
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?
                        .status();
                    if !status.is_success() {
                        return Err(format!("batch publish answered {status}").into());
                    }
                }
                Ok(())
            }
            Self::Nchan { .. } => {
                // Each connection publishes every PEER_BURST_CONNECTIONS-th event, so the
                // channel's order interleaves them; only counts and the last arrival are used.
                let lanes = (0..PEER_BURST_CONNECTIONS).map(|lane| async move {
                    for event in events.iter().skip(lane).step_by(PEER_BURST_CONNECTIONS) {
                        self.publish(client, event).await?;
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                });
                for r in futures::future::join_all(lanes).await {
                    r?;
                }
                Ok(())
            }
        }
    }
}

/// The subscriber tasks, aborted (their connections closed) when dropped.
struct Subscribers(Vec<JoinHandle<()>>);

impl Drop for Subscribers {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Opens `n` subscribers to `system`, at most [`OPEN_CONCURRENCY`] mid-handshake at a time, and
/// waits until each is live or failed.
async fn open(
    target: Arc<Target>,
    transport: Transport,
    tally: &Arc<Tally>,
    n: usize,
) -> BenchResult<Subscribers> {
    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut tasks = Subscribers(Vec::with_capacity(n));
    for _ in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let (live_tx, live_rx) = oneshot::channel();
        let (target, tally_) = (target.clone(), tally.clone());
        tasks.0.push(match transport {
            Transport::Sse => tokio::spawn(sse::subscribe(target, tally_, live_tx)),
            Transport::WebSocket => tokio::spawn(ws::subscribe(target, tally_, live_tx)),
        });
        tokio::spawn(async move {
            let _ = tokio::time::timeout(OPEN_TIMEOUT, live_rx).await;
            drop(permit);
        });
    }
    let deadline = Instant::now() + OPEN_TIMEOUT;
    while tally.ready.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(tasks)
}

/// Waits until `expected` deliveries of events `range` were seen, or none came for [`STALL`].
async fn delivered(tally: &Tally, range: std::ops::Range<usize>, expected: u64) -> u64 {
    let (mut seen, mut progress) = (0, Instant::now());
    loop {
        let now = tally.delivered(range.clone());
        if now >= expected {
            return now;
        }
        if now != seen {
            (seen, progress) = (now, Instant::now());
        } else if progress.elapsed() > STALL {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The three measurements for one server (processes `pids`) and `n` subscribers.
async fn measure(
    system: &System,
    transport: Transport,
    pids: &[u32],
    n: usize,
    opts: &BenchOptions,
    bodies: &[serde_json::Value],
) -> BenchResult<Figures> {
    let k = opts.fanout_events;
    let burst = bodies.len() - k;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(PEER_BURST_CONNECTIONS)
        .tcp_nodelay(true)
        .build()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = Memory::read(pids);
    let tally = Arc::new(Tally::new(Instant::now(), k + burst));
    let subscribers = open(Arc::new(system.target(transport)?), transport, &tally, n).await?;
    let live = tally.ready.load(Ordering::Relaxed);
    tokio::time::sleep(IDLE).await;
    let after = Memory::read(pids);
    let per_conn = |bytes: i64| bytes as f64 / live.max(1) as f64 / 1024.0;
    let grew = |f: fn(&Memory) -> u64| f(&after) as i64 - f(&before) as i64;
    let (process_kib, buffers_kib) =
        (per_conn(grew(|m| m.processes)), per_conn(grew(|m| m.kernel_tcp)));
    let socket_kib = per_conn(grew(|m| m.socket_slab)) / 2.0;

    // Paced single publishes: publish-to-last-subscriber latency.
    let mut published_at = Vec::with_capacity(k);
    let start = tokio::time::Instant::now();
    for (i, event) in bodies[..k].iter().enumerate() {
        tokio::time::sleep_until(start + opts.fanout_interval * i as u32).await;
        published_at.push(tally.now());
        system.publish(&client, event).await?;
    }
    let paced = delivered(&tally, 0..k, (live * k) as u64).await;
    let mut latencies: Vec<Duration> = published_at
        .iter()
        .zip(&tally.last_arrival)
        .filter_map(|(&at, last)| {
            let last = last.load(Ordering::Relaxed);
            (last > 0).then(|| Duration::from_nanos(last.saturating_sub(at)))
        })
        .collect();
    let latency = percentiles(&mut latencies);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // A burst: deliveries per second.
    let first = tally.now();
    system.burst(&client, &bodies[k..k + burst]).await?;
    let burst_seen = delivered(&tally, k..k + burst, (live * burst) as u64).await;
    let last = tally.last_arrival[k..k + burst]
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .max()
        .unwrap_or(first);
    let seconds = Duration::from_nanos(last.saturating_sub(first)).as_secs_f64();
    let deliveries_per_s = if seconds > 0.0 { burst_seen as f64 / seconds } else { 0.0 };

    let missed_paced = ((live * k) as u64).saturating_sub(paced);
    let missed_burst = ((live * burst) as u64).saturating_sub(burst_seen);
    let missed = missed_paced + missed_burst + tally.unexpected.load(Ordering::Relaxed);
    let error = tally.first_error.lock().ok().and_then(|e| e.clone());
    drop(subscribers);
    Ok(Figures {
        live,
        latency,
        deliveries_per_s,
        process_kib,
        buffers_kib,
        socket_kib,
        missed,
        burst,
        failed: tally.failed.load(Ordering::Relaxed),
        missed_paced,
        missed_burst,
        error,
    })
}

/// The rows for one subscriber count, spine beside nchan.
fn report(n: usize, transport: Transport, spine: &Figures, peer: Option<&Figures>) -> Vec<Row> {
    let at_scale = n >= 10_000;
    let target = |t: &'static str| if at_scale { t } else { "" };
    let (kind, conn) = match transport {
        Transport::Sse => ("", "SSE"),
        Transport::WebSocket => (" ws", "WebSocket"),
    };
    let name = |what: &str| format!("fanout {n}{kind} subs: {what}");
    let mut rows = Vec::new();
    if spine.live < n || peer.is_some_and(|p| p.live < n) {
        rows.push(Row::new(
            name("subscribers live"),
            spine.live as f64,
            "streams",
            peer.map(|p| p.live as f64),
            "all",
        ));
    }
    for (who, f) in std::iter::once(("spine", spine)).chain(peer.map(|p| ("nchan", p))) {
        if let Some(e) = &f.error {
            println!(
                "fanout {n}{kind} subs: {who}: {} stream(s) failed or were ended by the server \
                 (missed deliveries: {} paced, {} in the burst); first: {e}",
                f.failed, f.missed_paced, f.missed_burst
            );
        }
    }
    rows.push(Row::new(
        name("publish->last p50"),
        ms(spine.latency.p50),
        "ms",
        peer.map(|p| ms(p.latency.p50)),
        "",
    ));
    rows.push(Row::new(
        name("publish->last p99"),
        ms(spine.latency.p99),
        "ms",
        peer.map(|p| ms(p.latency.p99)),
        target("<= 40 ms"),
    ));
    rows.push(Row::new(
        name(&format!("deliveries/s (burst of {})", spine.burst)),
        spine.deliveries_per_s,
        "deliv/s",
        peer.map(|p| p.deliveries_per_s),
        target(">= 250000"),
    ));
    let total = |f: &Figures| f.process_kib + f.buffers_kib + f.socket_kib;
    rows.push(Row::new(
        name(&format!("memory per idle {conn} conn")),
        total(spine),
        "KiB",
        peer.map(total),
        "<= 10 KiB",
    ));
    for (what, part) in [
        ("  server process (Pss)", (|f: &Figures| f.process_kib) as fn(&Figures) -> f64),
        ("  kernel TCP buffers (sockstat, both ends)", |f| f.buffers_kib),
        ("  kernel socket objects (slab, one end)", |f| f.socket_kib),
    ] {
        rows.push(Row::new(what, part(spine), "KiB", peer.map(part), ""));
    }
    if spine.missed > 0 || peer.is_some_and(|p| p.missed > 0) {
        rows.push(Row::new(
            name("missed or extra deliveries"),
            spine.missed as f64,
            "deliv",
            peer.map(|p| p.missed as f64),
            "0",
        ));
    }
    rows
}

/// The events published, as request JSON (the same bodies for both servers).
fn bodies(n: usize) -> Vec<serde_json::Value> {
    let mut rng = Rng::new(21);
    (0..n).map(|i| data::event_json(&mut rng, i)).collect()
}
