//! The ledger sweeper: a background task that removes ingest ledger entries and webhook
//! delivery attempts older than their retention settings, and the chunks of uploads interrupted
//! an hour ago or more, once at start and then hourly. Several nodes sweeping the same database
//! do the same harmless delete. Progress is a metric (`spine_ledger_swept_total`).

use spine_core::Timestamp;
use spine_store::Store;
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
