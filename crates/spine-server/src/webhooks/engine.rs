//! The delivery engine: a background task of `spine serve` that drives every active endpoint.
//!
//! Every second it leases the endpoints no other node holds (and renews its own) for
//! `webhook_lease` (15 s), and runs one driver per leased endpoint. A driver sends the endpoint's matching
//! events one at a time in `seq` order: it reads the first event after the cursor, signs it,
//! posts it, and records the attempt with the progress the schedule decides (advance, retry
//! later, give up on the event, disable the endpoint). Progress is recorded only while this
//! node holds the lease and the cursor is the one read, so a node that lost its lease (paused,
//! partitioned) cannot move the cursor, and a replay in between wins. When a node dies its
//! leases run out and another node's next round takes its endpoints, at the cursor the dead
//! node last recorded: no event is skipped, and the one in flight may be sent twice (receivers
//! drop it by `webhook-id`).

use super::client::{self, Delivery};
use crate::state::AppState;
use spine_core::consumer::consumer_filter;
use spine_core::ingest::standard_webhooks::signature::sign;
use spine_core::webhook::schedule::{self, Next};
use spine_core::webhook::{message_id, Status};
use spine_core::{Cursor, Event, Order, Seq, TenantId, Timestamp};
use spine_store::{AttemptOutcome, AttemptRecord, FeedQuery, Progress, WebhookRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How often leases are taken and renewed.
const ROUND: Duration = Duration::from_secs(1);
/// How long an idle driver waits for a commit before looking again anyway.
const IDLE: Duration = Duration::from_secs(5);

type Key = (TenantId, String);

/// Starts the engine; it runs until the server shuts down (then releases its leases) or the
/// returned handle is aborted.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let node = format!("node-{}", Uuid::now_v7().simple());
        let leased: Arc<Mutex<HashSet<Key>>> = Arc::default();
        let http = client::client(state.config.webhook_allow_private);
        let mut drivers: HashMap<Key, JoinHandle<()>> = HashMap::new();
        let mut shutdown = state.live.shutdown_signal();
        let mut rounds = tokio::time::interval(ROUND);
        loop {
            tokio::select! {
                _ = rounds.tick() => {}
                _ = shutdown.changed() => break,
            }
            let now = Timestamp::now();
            let until = now.plus(state.config.webhook_lease);
            let held = match state.store.lease_webhooks(&node, now, until).await {
                Ok(held) => held.into_iter().collect::<HashSet<Key>>(),
                Err(e) => {
                    tracing::warn!(error = %e, "leasing webhooks failed; trying again");
                    continue;
                }
            };
            drivers.retain(|key, driver| held.contains(key) && !driver.is_finished());
            // Published before the new drivers start: each checks it first.
            *leased.lock().unwrap_or_else(|p| p.into_inner()) = held.clone();
            for key in &held {
                if !drivers.contains_key(key) {
                    let driver = Driver {
                        state: state.clone(),
                        http: http.clone(),
                        node: node.clone(),
                        key: key.clone(),
                        leased: leased.clone(),
                    };
                    drivers.insert(key.clone(), tokio::spawn(driver.run()));
                }
            }
            metrics::gauge!("spine_webhook_endpoints_driven").set(held.len() as f64);
        }
        leased.lock().unwrap_or_else(|p| p.into_inner()).clear();
        for (_, driver) in drivers {
            driver.abort();
        }
        if let Err(e) = state.store.release_webhooks(&node).await {
            tracing::warn!(error = %e, "releasing webhook leases failed; they run out on their own");
        }
    })
}

/// Drives one endpoint while this node holds its lease.
struct Driver {
    state: AppState,
    http: reqwest::Client,
    node: String,
    key: Key,
    leased: Arc<Mutex<HashSet<Key>>>,
}

impl Driver {
    fn holds_lease(&self) -> bool {
        self.leased.lock().unwrap_or_else(|p| p.into_inner()).contains(&self.key)
    }

    async fn run(self) {
        let (tenant, id) = (&self.key.0, &self.key.1);
        let mut notices = self.state.store.notices();
        while self.holds_lease() {
            let webhook = match self.state.store.get_webhook(tenant, id).await {
                Ok(Some(w)) if w.status == Status::Active => w,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "reading a webhook failed");
                    tokio::time::sleep(ROUND).await;
                    continue;
                }
            };
            let now = Timestamp::now();
            if let Some(at) = webhook.next_attempt_at.filter(|at| *at > now) {
                // Wake at the retry time, or sooner to notice a replay or a change.
                tokio::time::sleep(at.since(now).min(ROUND)).await;
                continue;
            }
            match self.next_event(&webhook).await {
                Ok(Some(event)) => self.deliver(&webhook, &event).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(
                        IDLE,
                        spine_store::notices::commit(&mut notices, tenant),
                    )
                    .await;
                }
                Err(e) => {
                    tracing::warn!(webhook = %id, error = %e, "reading the next event failed");
                    tokio::time::sleep(ROUND).await;
                }
            }
        }
    }

    /// The first matching event after the cursor.
    async fn next_event(&self, webhook: &WebhookRecord) -> spine_store::StoreResult<Option<Event>> {
        let Ok(filter) = consumer_filter(&webhook.filter) else {
            tracing::error!(webhook = %webhook.id, "a stored webhook filter no longer parses");
            return Ok(None);
        };
        let query = FeedQuery {
            filter,
            scope: None,
            order: Order::Seq,
            after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: webhook.cursor }),
            limit: 1,
            user: None,
        };
        let page = self.state.store.query(&webhook.tenant, &query).await?;
        Ok(page.items.into_iter().next().map(|item| item.event))
    }

    /// Sends `event` once and records what came of it.
    async fn deliver(&self, webhook: &WebhookRecord, event: &Event) {
        let owner = super::secret_owner(&webhook.tenant, &webhook.id);
        let secret = match self.state.webhook_secrets.open(&owner, &webhook.secret) {
            Ok(secret) => String::from_utf8_lossy(&secret).into_owned(),
            Err(e) => {
                tracing::error!(webhook = %webhook.id, error = %e, "a webhook secret does not open");
                tokio::time::sleep(IDLE).await;
                return;
            }
        };
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "encoding an event failed");
                return;
            }
        };
        let id = message_id(event.id);
        let timestamp = Timestamp::now().as_unix_seconds();
        let Some(signature) = sign(&secret, &id, timestamp, &body) else {
            tracing::error!(webhook = %webhook.id, "a webhook secret is not a whsec_ secret");
            return;
        };
        let delivery =
            Delivery { url: &webhook.url, message_id: &id, timestamp, signature: &signature, body };
        let sent =
            client::send(&self.http, delivery, self.state.config.webhook_allow_private).await;
        let now = Timestamp::now();
        let attempt = webhook.attempt + 1;
        let failing_since = match sent.outcome {
            schedule::Outcome::Delivered => None,
            _ => Some(webhook.failing_since.unwrap_or(now)),
        };
        let failing_for = failing_since.map(|since| now.since(since));
        let delays = &self.state.config.webhook_retry_delays;
        let next = schedule::after_with(delays, attempt, sent.outcome, failing_for);
        let (outcome, progress) = match next {
            Next::Advance => {
                (AttemptOutcome::Delivered, progress(webhook, event.seq, 0, None, None))
            }
            Next::GiveUp => {
                (AttemptOutcome::Failed, progress(webhook, event.seq, 0, None, failing_since))
            }
            Next::Retry(wait) => {
                let p =
                    progress(webhook, webhook.cursor, attempt, Some(now.plus(wait)), failing_since);
                (AttemptOutcome::Retrying, p)
            }
            Next::Disable(why) => {
                let mut p = progress(webhook, webhook.cursor, attempt, None, failing_since);
                p.disable = Some(why.to_owned());
                (AttemptOutcome::Disabled, p)
            }
        };
        let record = AttemptRecord {
            id: Uuid::now_v7(),
            event_id: Some(event.id),
            event_seq: Some(event.seq),
            attempt,
            at: now,
            outcome,
            status_code: sent.status,
            error: sent.error,
            latency_ms: u32::try_from(sent.latency.as_millis()).unwrap_or(u32::MAX),
            response: sent.response,
            next_attempt_at: progress.next_attempt_at,
        };
        metrics::counter!("spine_webhook_attempts_total", "outcome" => outcome.as_str())
            .increment(1);
        metrics::histogram!("spine_webhook_attempt_seconds").record(sent.latency.as_secs_f64());
        if outcome == AttemptOutcome::Delivered {
            metrics::histogram!("spine_webhook_delivery_delay_seconds")
                .record(now.since(event.received_at).as_secs_f64());
        }
        if outcome == AttemptOutcome::Disabled {
            tracing::warn!(webhook = %webhook.id, reason = ?progress.disable, "webhook disabled");
        }
        let recorded = self
            .state
            .store
            .record_attempt(&webhook.tenant, &webhook.id, &self.node, now, &record, Some(&progress))
            .await;
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::info!(
                webhook = %webhook.id,
                "an attempt's progress was not applied (the lease moved or a replay came first)"
            ),
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "recording an attempt failed");
                tokio::time::sleep(ROUND).await;
            }
        }
    }
}

fn progress(
    webhook: &WebhookRecord,
    cursor: Seq,
    attempt: u32,
    next_attempt_at: Option<Timestamp>,
    failing_since: Option<Timestamp>,
) -> Progress {
    Progress {
        expected_cursor: webhook.cursor,
        cursor,
        attempt,
        next_attempt_at,
        failing_since,
        disable: None,
    }
}
