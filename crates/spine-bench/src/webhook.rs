//! Verified webhook ingest beside plain `POST /v1/events`: a `standard-webhooks` channel
//! receiving signed `invoice.paid` messages on `POST /v1/ingest/{channel}` (HMAC check, a ledger
//! row, the normalizer, then the event, in one commit), against the same events posted as
//! JSON with an ingest key, on fresh databases in the same run. Both are saturated by the same
//! number of keep-alive connections for the same time, in alternating rounds; every request is
//! prepared (and signed) before the clock starts and is sent once, so none is a duplicate.
//! Then, in-process, where the difference goes: the channel lookup, the store's ledger commit
//! against a plain append, and the CPU of the HMAC check, the normalizer and the plain path's
//! JSON parse per request.

use crate::backend::{Backend, Node};
use crate::data::Rng;
use crate::ingest::{client, RunningServer};
use crate::measure::{ms, percentiles, Row};
use crate::{settle, BenchOptions};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use sha2::Sha256;
use spine_core::channel::{ChannelInput, Direction, Mapping, Provider};
use spine_core::ingest::standard_webhooks::{
    self, StandardWebhooks, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use spine_core::ingest::{Context, Received, Source, Stored};
use spine_core::input::{EventInput, EventLimits};
use spine_core::{NewEvent, Role, TenantId, Timestamp};
use spine_store::ledger::{Ingest, IngestEvent, NewLedgerEntry};
use spine_store::{Store, Verdict};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The webhook rows' target: verification, the ledger and normalizing cost under 30 %.
const TARGET: &str = ">= 0.70x plain";

/// Alternating rounds per path; each path gets `--seconds` in all.
const ROUNDS: u32 = 2;

/// One request, ready to send: its headers (signature or key) and body.
#[derive(Clone)]
struct Prepared {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The `i`-th message: one invoice, the same id, title and time in both forms.
struct Invoice {
    id: String,
    title: String,
    occurred_at: String,
}

impl Invoice {
    fn new(rng: &mut Rng, i: usize) -> Self {
        const NAMES: &[&str] = &["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"];
        let customer = NAMES[rng.below(NAMES.len())];
        let cents = 1000 + rng.below(99_000);
        let micros = (1_780_000_000 - i as i64 * 2) * 1_000_000;
        let occurred_at = Timestamp::from_micros(micros).unwrap_or(Timestamp::MIN).to_rfc3339();
        Self {
            id: format!("inv_{:016x}{i:08}", rng.next_u64()),
            title: format!("{customer} paid invoice #{i} ({}.{:02} EUR)", cents / 100, cents % 100),
            occurred_at,
        }
    }

    /// The Standard Webhooks body: the specification's `{type, timestamp, data}`.
    fn webhook_body(&self) -> Value {
        json!({
            "type": "invoice.paid",
            "timestamp": self.occurred_at,
            "data": {"id": self.id, "title": self.title},
        })
    }

    /// The event the webhook normalizes to, as a plain `POST /v1/events` body: same type,
    /// title, entity, source, time and data, and an idempotency key as long as the channel's
    /// delivery key (`ingest:` and 32 hex digits), so both paths check one.
    fn plain_body(&self, key: &str) -> Value {
        json!({
            "type": "invoice.paid",
            "action": "custom",
            "title": self.title,
            "entity": {"type": "invoice", "id": self.id},
            "source": {
                "system": "standard-webhooks", "object_type": "invoice", "object_id": self.id
            },
            "occurred_at": self.occurred_at,
            "data": {"id": self.id, "title": self.title, "type": "invoice.paid"},
            "idempotency_key": key,
        })
    }
}

/// `v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the bytes
/// inside a `whsec_...` secret: the Standard Webhooks signature (written here because the core's
/// signer is a test helper; the unit test below checks it against the specification's vector).
fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> BenchResult<String> {
    let key = standard_webhooks::decode_secret(secret.as_bytes()).ok_or("not a whsec_ secret")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

fn header(value: &str) -> BenchResult<HeaderValue> {
    Ok(HeaderValue::from_str(value)?)
}

/// `n` signed deliveries, each with its own `webhook-id`, stamped now (the receiver allows five
/// minutes either way).
fn signed_webhooks(n: usize, secret: &str, run: &str) -> BenchResult<Vec<Prepared>> {
    let mut rng = Rng::new(21);
    let timestamp = Timestamp::now().as_unix_seconds().to_string();
    (0..n)
        .map(|i| {
            let body = serde_json::to_vec(&Invoice::new(&mut rng, i).webhook_body())?;
            let id = format!("msg_{run}_{i:08}");
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(HeaderName::from_static(ID_HEADER), header(&id)?);
            headers.insert(HeaderName::from_static(TIMESTAMP_HEADER), header(&timestamp)?);
            let signature = sign(secret, &id, &timestamp, &body)?;
            headers.insert(HeaderName::from_static(SIGNATURE_HEADER), header(&signature)?);
            Ok(Prepared { headers, body })
        })
        .collect()
}

/// The same `n` events as plain posts with an ingest key.
fn plain_posts(n: usize, key: &str, run: &str) -> BenchResult<Vec<Prepared>> {
    let mut rng = Rng::new(21);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(AUTHORIZATION, header(&format!("Bearer {key}"))?);
    (0..n)
        .map(|i| {
            let key = format!("ingest:{run}{i:016x}");
            let body = serde_json::to_vec(&Invoice::new(&mut rng, i).plain_body(&key))?;
            Ok(Prepared { headers: headers.clone(), body })
        })
        .collect()
}

/// One measured path: where it posts, its prepared requests (each sent once, in turn across
/// rounds), and what its rounds measured so far.
struct Target {
    url: String,
    requests: Arc<Vec<Prepared>>,
    next: Arc<AtomicUsize>,
    samples: Vec<Duration>,
    failures: u64,
    elapsed: Duration,
}

impl Target {
    fn new(url: String, requests: Vec<Prepared>) -> Self {
        Self {
            url,
            requests: Arc::new(requests),
            next: Arc::default(),
            samples: Vec::new(),
            failures: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Successful requests/s over every round, each success's latency, and the failures.
    fn result(self) -> (f64, Vec<Duration>, u64) {
        let rate = self.samples.len() as f64 / self.elapsed.as_secs_f64().max(1e-9);
        (rate, self.samples, self.failures)
    }
}

/// One round: `target`'s next requests on `connections` keep-alive connections for `time`,
/// each request once (a connection stops early if they run out), adding the latency of each
/// success (send to answer) and the failures.
async fn saturate(target: &mut Target, connections: usize, time: Duration) -> BenchResult<()> {
    let client = client(connections)?;
    let failures = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + time;
    let start = Instant::now();
    let tasks = (0..connections).map(|_| {
        let (client, requests) = (client.clone(), target.requests.clone());
        let (next, failures, url) = (target.next.clone(), failures.clone(), target.url.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let Some(r) = requests.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                let sent = Instant::now();
                let answer =
                    client.post(&url).headers(r.headers.clone()).body(r.body.clone()).send().await;
                match answer {
                    Ok(a) if a.status().is_success() => samples.push(sent.elapsed()),
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            samples
        })
    });
    for t in join_all(tasks).await {
        target.samples.extend(t?);
    }
    target.elapsed += start.elapsed();
    target.failures += failures.load(Ordering::Relaxed);
    Ok(())
}

/// Sends one request outside the timed part; its answer must be 200 with `expect` in it.
async fn check_one(url: &str, request: &Prepared, expect: &str) -> BenchResult<()> {
    let answer = client(1)?
        .post(url)
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await?;
    let status = answer.status();
    let text = answer.text().await?;
    if !status.is_success() || !text.contains(expect) {
        return Err(format!("{url} answered {status}: {text}").into());
    }
    Ok(())
}

/// A server on a fresh database, with an ingest key and a `standard-webhooks` channel created
/// through the API; the key's plaintext, the channel's ingest path and its secret.
async fn prepared_server(
    backend: &Backend,
    name: &str,
) -> BenchResult<(RunningServer, String, String, String)> {
    let (_, nodes) = backend.fresh(name, 1).await?;
    let server = RunningServer::start_all(nodes).await?.pop().ok_or("no server")?;
    let (ingest_key, record) =
        spine_server::provision::generate_key(Role::Ingest, Some("bench".to_owned()));
    server.node.store().create_key(&server.tenant, record).await?;
    let created: Value = client(1)?
        .post(format!("{}/v1/channels", server.url))
        .bearer_auth(&server.key)
        .json(&json!({"name": "bench webhooks", "provider": "standard-webhooks"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let channel = created["id"].as_str().ok_or("no channel id")?;
    let secret = created["secret"].as_str().ok_or("no channel secret")?.to_owned();
    Ok((server, ingest_key, format!("/v1/ingest/{channel}"), secret))
}

/// Rows for one saturated path: rate, then p50 and p99, each beside the plain path's when
/// given (the ratio column then reads webhook / plain).
fn rate_rows(
    label: &str,
    (rate, mut samples, failures): (f64, Vec<Duration>, u64),
    plain: Option<(f64, f64, f64)>,
) -> (Vec<Row>, (f64, f64, f64)) {
    let p = percentiles(&mut samples);
    let (p50, p99) = (ms(p.p50), ms(p.p99));
    let target = if plain.is_some() { TARGET } else { "" };
    let mut rows = vec![
        Row::new(label, rate, "req/s", plain.map(|p| p.0), target),
        Row::new("  p50 at saturation", p50, "ms", plain.map(|p| p.1), ""),
        Row::new("  p99 at saturation", p99, "ms", plain.map(|p| p.2), ""),
    ];
    if failures > 0 {
        rows.push(Row::new("  failed requests", failures as f64, "requests", None, "0"));
    }
    (rows, (rate, p50, p99))
}

/// The webhook section.
pub async fn run(backend: &Backend, opts: &BenchOptions) -> BenchResult<Vec<Row>> {
    let run = Uuid::now_v7().simple().to_string()[..16].to_owned();
    // Enough for 10,000 requests/s, several times what this machine reaches.
    let n = (opts.seconds as usize * 10_000).max(1000);
    let conns = opts.connections;
    let mut rows = Vec::new();

    // Both servers up front, then the two paths in alternating rounds (plain, webhook, plain,
    // webhook), so load from anything else on the machine falls on both alike.
    let (plain_server, key, _, _) = prepared_server(backend, "webhook-plain").await?;
    let mut requests = plain_posts(n + 1, &key, &run)?;
    let url = format!("{}/v1/events", plain_server.url);
    check_one(&url, &requests.pop().ok_or("no request")?, "\"id\"").await?;
    let mut plain = Target::new(url, requests);

    let (hook_server, _, path, secret) = prepared_server(backend, "webhook-verified").await?;
    let mut requests = signed_webhooks(n + 1, &secret, &run)?;
    let url = format!("{}{path}", hook_server.url);
    check_one(&url, &requests.pop().ok_or("no request")?, "\"accepted\"").await?;
    let mut hook = Target::new(url, requests);

    let round = Duration::from_secs(opts.seconds) / ROUNDS;
    for _ in 0..ROUNDS {
        settle().await;
        saturate(&mut plain, conns, round).await?;
        settle().await;
        saturate(&mut hook, conns, round).await?;
    }
    let label = format!("plain POST /v1/events, ingest key, {conns} connections");
    let (plain_rows, plain) = rate_rows(&label, plain.result(), None);
    rows.extend(plain_rows);
    let label = format!("verified webhook POST /v1/ingest, {conns} connections");
    rows.extend(rate_rows(&label, hook.result(), Some(plain)).0);
    RunningServer::stop(plain_server).await;
    RunningServer::stop(hook_server).await;
    settle().await;

    rows.extend(store_commits(backend, &secret, &run).await?);
    rows.extend(cpu_per_request(&secret, &run)?);
    Ok(rows)
}

/// `n` events as the webhook path validates them, with their ledger entries.
fn receipts(n: usize, secret: &str, run: &str) -> BenchResult<Vec<(NewLedgerEntry, NewEvent)>> {
    let prepared = signed_webhooks(n, secret, run)?;
    let limits = EventLimits::default();
    prepared
        .iter()
        .map(|p| {
            let stored = stored(p, Timestamp::now());
            let (input, key) = normalized(&stored)?;
            let event =
                input.validate(Uuid::now_v7(), Some(&key), &limits).map_err(|e| e.to_string())?;
            let entry = NewLedgerEntry {
                id: Uuid::now_v7(),
                channel_id: "ch_bench".to_owned(),
                provider: Provider::StandardWebhooks,
                received_at: stored.received_at,
                verdict: Verdict::Accepted,
                reason: None,
                delivery_id: StandardWebhooks.delivery_id(&stored),
                headers: stored.headers.clone(),
                body_bytes: stored.body.len() as u64,
                body: stored.body,
            };
            Ok((entry, event))
        })
        .collect()
}

/// The request as the ledger keeps it.
fn stored(p: &Prepared, at: Timestamp) -> Stored {
    let pairs: Vec<(&str, &[u8])> =
        p.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    let received = Received {
        method: "POST",
        url: "http://bench/v1/ingest/ch_bench",
        headers: &pairs,
        body: &p.body,
        now: at.as_unix_seconds(),
    };
    Stored::keep(&StandardWebhooks, &received, at, &Default::default())
}

/// The normalizer's one event (channel defaults: no mapping, inbound) and its delivery key.
fn normalized(stored: &Stored) -> BenchResult<(EventInput, String)> {
    let mapping = Mapping::default();
    let context = Context {
        channel_id: "ch_bench",
        event_type: None,
        direction: Direction::Inbound,
        mapping: &mapping,
        privacy: &spine_core::channel::Privacy::default(),
    };
    let drafts = StandardWebhooks.normalize(stored, &context).map_err(|e| e.0)?;
    let delivery = StandardWebhooks.delivery_id(stored);
    let mut ready = spine_core::ingest::finish(drafts, &context, delivery.as_deref(), "ledger");
    let ready = ready.pop().ok_or("no event")?;
    Ok((ready.event, ready.key))
}

/// The store alone, in-process, 64 tasks committing one request each at a time (as the 64
/// connections do): the event with its ledger row (`Store::ingest`) against the event alone
/// (`Store::append`), on fresh databases.
async fn store_commits(backend: &Backend, secret: &str, run: &str) -> BenchResult<Vec<Row>> {
    let n = 20_000;
    let items = receipts(n, secret, run)?;
    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;

    let node = fresh_node(backend, "webhook-append", &tenant).await?;
    let events: Vec<NewEvent> = items.iter().map(|(_, e)| e.clone()).collect();
    let append = commit_rate(node.store(), &tenant, events, |store, tenant, event| async move {
        store.append(&tenant, vec![event]).await.map(|_| ())
    })
    .await?;
    node.close().await;
    settle().await;

    let node = fresh_node(backend, "webhook-ledger", &tenant).await?;
    let ledger =
        commit_rate(node.store(), &tenant, items, |store, tenant, (entry, event)| async move {
            let events = vec![IngestEvent { event, correction_key: None, job: None }];
            store.ingest(&tenant, Ingest::Receipt(entry, events)).await.map(|_| ())
        })
        .await?;
    node.close().await;
    settle().await;

    // The one store read a webhook request makes and a plain one does not (API keys are cached).
    let node = fresh_node(backend, "webhook-lookup", &tenant).await?;
    let channel = ChannelInput {
        name: "bench".to_owned(),
        provider: Provider::StandardWebhooks.as_str().to_owned(),
        ..ChannelInput::default()
    };
    let (channel, _) = channel.validate().map_err(|e| e.to_string())?;
    node.store().create_channel(&tenant, "ch_bench", &channel, "unopened").await?;
    let lookup = commit_rate(node.store(), &tenant, vec![(); n], |store, _, ()| async move {
        store.find_channel("ch_bench").await.map(|_| ())
    })
    .await?;
    node.close().await;
    settle().await;
    Ok(vec![
        Row::new("in-process Store::find_channel, 64 tasks", lookup, "lookups/s", None, ""),
        Row::new("in-process Store::append, 64 tasks x 1 event", append, "events/s", None, ""),
        Row::new(
            "in-process Store::ingest (+ ledger row), 64 x 1",
            ledger,
            "events/s",
            Some(append),
            "",
        ),
    ])
}

/// One store on a fresh database, with the tenant.
async fn fresh_node(backend: &Backend, name: &str, tenant: &TenantId) -> BenchResult<Node> {
    let (_, mut nodes) = backend.fresh(name, 1).await?;
    let node = nodes.pop().ok_or("no node")?;
    node.store().create_tenant(tenant, "bench").await?;
    Ok(node)
}

/// Items/s of `commit` over `items`, from 64 tasks taking the next item in turn.
async fn commit_rate<T, F, Fut>(
    store: Arc<dyn Store>,
    tenant: &TenantId,
    items: Vec<T>,
    commit: F,
) -> BenchResult<f64>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, TenantId, T) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<(), spine_store::StoreError>> + Send,
{
    let total = items.len();
    let queue = Arc::new(std::sync::Mutex::new(items.into_iter()));
    let start = Instant::now();
    let tasks = (0..64).map(|_| {
        let (store, tenant, queue) = (store.clone(), tenant.clone(), queue.clone());
        tokio::spawn(async move {
            loop {
                let item = queue.lock().map_err(|_| "poisoned")?.next();
                let Some(item) = item else { return BenchResult::Ok(()) };
                commit(store.clone(), tenant.clone(), item).await?;
            }
        })
    });
    for r in join_all(tasks).await {
        r??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// CPU per request on one core, in microseconds: the HMAC check, the normalizer (with keeping
/// the headers, the delivery key and validation), and the plain path's parse and validation.
fn cpu_per_request(secret: &str, run: &str) -> BenchResult<Vec<Row>> {
    let n = 20_000;
    let webhooks = signed_webhooks(n, secret, run)?;
    let plain = plain_posts(n, "spk_unused", run)?;
    let limits = EventLimits::default();
    let now = Timestamp::now();
    let secrets: [&[u8]; 1] = [secret.as_bytes()];
    let per = |start: Instant| start.elapsed().as_secs_f64() * 1e6 / n as f64;

    let start = Instant::now();
    for p in &webhooks {
        let pairs: Vec<(&str, &[u8])> =
            p.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        standard_webhooks::verify(&pairs, &p.body, &secrets, now.as_unix_seconds())
            .map_err(|e| e.to_string())?;
    }
    let verify = per(start);

    let start = Instant::now();
    for p in &webhooks {
        let stored = stored(p, now);
        let (input, key) = normalized(&stored)?;
        input.validate(Uuid::now_v7(), Some(&key), &limits).map_err(|e| e.to_string())?;
    }
    let normalize = per(start);

    let start = Instant::now();
    for p in &plain {
        let input: EventInput = serde_json::from_slice(&p.body)?;
        input.validate(Uuid::now_v7(), None, &limits).map_err(|e| e.to_string())?;
    }
    let parse = per(start);
    Ok(vec![
        Row::new("  CPU: plain parse + validate, per request", parse, "us", None, ""),
        Row::new("  CPU: HMAC verify, per request", verify, "us", None, ""),
        Row::new(
            "  CPU: keep + normalize + validate, per request",
            normalize,
            "us",
            Some(parse),
            "",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_reproduces_the_specification_vector() {
        // The Standard Webhooks reference libraries' test vector.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn prepared_webhooks_verify_and_normalize_like_the_plain_posts() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let webhooks = signed_webhooks(3, secret, "t").unwrap();
        let plain = plain_posts(3, "k", "t").unwrap();
        let now = Timestamp::now();
        for (w, p) in webhooks.iter().zip(&plain) {
            let pairs: Vec<(&str, &[u8])> =
                w.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
            standard_webhooks::verify(&pairs, &w.body, &[secret.as_bytes()], now.as_unix_seconds())
                .unwrap();
            let (from_webhook, _) = normalized(&stored(w, now)).unwrap();
            let posted: EventInput = serde_json::from_slice(&p.body).unwrap();
            assert_eq!(from_webhook.title, posted.title);
            assert_eq!(from_webhook.event_type, posted.event_type);
            assert_eq!(from_webhook.occurred_at, posted.occurred_at);
            assert_eq!(from_webhook.data, posted.data);
        }
        let ids: std::collections::HashSet<_> =
            webhooks.iter().map(|w| w.headers[ID_HEADER].clone()).collect();
        assert_eq!(ids.len(), 3, "every delivery has its own webhook-id");
    }
}
