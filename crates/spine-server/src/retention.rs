//! The sweepers, background tasks that remove what is past its retention:
//!
//! - [`spawn`]: ingest ledger entries and webhook delivery attempts older than their retention
//!   settings, and the chunks of uploads interrupted an hour ago or more, once at start and then
//!   hourly (`spine_ledger_swept_total`, `spine_webhook_attempts_swept_total`);
//! - [`spawn_expiry`]: every tenant's expired events (its retention policy, and each event's
//!   `expires_at`), through the horizon, so live readers that may have missed one are told to
//!   reload (`spine_events_expired_total`).
//!
//! Several nodes sweeping the same database do the same harmless deletes.

use spine_core::retention::Retention;
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{Store, StoreResult};
use std::sync::Arc;
use std::time::Duration;

/// How often the sweeper runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Starts the sweeper; it runs until the returned handle is aborted.
pub fn spawn(
    store: Arc<dyn Store>,
    retention: Duration,
    attempt_retention: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            let before = Timestamp::now().plus_seconds(-seconds_of(retention));
            match store.purge_requests(before).await {
                Ok(0) => {}
                Ok(gone) => {
                    metrics::counter!("spine_ledger_swept_total").increment(gone);
                    tracing::info!(entries = gone, "ingest ledger entries past retention removed");
                }
                Err(e) => tracing::warn!(error = %e, "the ledger sweep failed; trying again later"),
            }
            match store
                .purge_attempts(Timestamp::now().plus_seconds(-seconds_of(attempt_retention)))
                .await
            {
                Ok(0) => {}
                Ok(gone) => {
                    metrics::counter!("spine_webhook_attempts_swept_total").increment(gone);
                    tracing::info!(
                        attempts = gone,
                        "webhook delivery attempts past retention removed"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the delivery log sweep failed; trying again later")
                }
            }
            // An upload interrupted an hour ago will not finish.
            match store.purge_abandoned_uploads(Timestamp::now().plus_seconds(-3600)).await {
                Ok(0) => {}
                Ok(gone) => tracing::info!(chunks = gone, "chunks of interrupted uploads removed"),
                Err(e) => tracing::warn!(error = %e, "the upload sweep failed; trying again later"),
            }
        }
    })
}

fn seconds_of(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Candidates read per round of a tenant's sweep.
const CANDIDATES: u32 = 1000;

/// Starts the expiry sweeper, every `every`; it runs until the returned handle is aborted.
pub fn spawn_expiry(store: Arc<dyn Store>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let tenants = match store.list_tenants().await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %e, "the expiry sweep failed; trying again later");
                    continue;
                }
            };
            for tenant in tenants {
                match expire(store.as_ref(), &tenant.id).await {
                    Ok(0) => {}
                    Ok(gone) => {
                        metrics::counter!("spine_events_expired_total").increment(gone);
                        tracing::info!(tenant = %tenant.id, events = gone, "expired events removed");
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.id, error = %e, "an expiry sweep failed")
                    }
                }
            }
        }
    })
}

/// Removes the tenant's expired events now; answers how many.
pub async fn expire(store: &dyn Store, tenant: &TenantId) -> StoreResult<u64> {
    let policy = match store.get_retention(tenant).await? {
        Some(input) => input.validate().unwrap_or_else(|e| {
            tracing::error!(tenant = %tenant, error = %e, "a stored retention policy no longer reads");
            Retention::default()
        }),
        None => Retention::default(),
    };
    let now = Timestamp::now();
    let older_than = policy.oldest_kept(now);
    let (mut after, mut removed) = (Seq::ZERO, 0);
    loop {
        let candidates =
            store.expiry_candidates(tenant, now, older_than, after, CANDIDATES).await?;
        let Some(last) = candidates.last().map(|c| c.seq) else { break };
        let expired: Vec<Seq> = candidates
            .iter()
            .filter(|c| policy.expired(&c.event_type, c.received_at, c.expires_at, now))
            .map(|c| c.seq)
            .collect();
        if !expired.is_empty() {
            removed += store.remove_events(tenant, &expired).await?.removed;
        }
        if candidates.len() < CANDIDATES as usize {
            break;
        }
        after = last;
    }
    Ok(removed)
}
