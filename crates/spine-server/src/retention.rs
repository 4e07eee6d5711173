//! The ledger sweeper: a background task that removes ingest ledger entries older than the
//! retention setting, and the chunks of uploads interrupted an hour ago or more, once at start
//! and then hourly. Several nodes sweeping the same database
//! do the same harmless delete. Progress is a metric (`spine_ledger_swept_total`).

use spine_core::Timestamp;
use spine_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// How often the sweeper runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Starts the sweeper; it runs until the returned handle is aborted.
pub fn spawn(store: Arc<dyn Store>, retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        loop {
            ticks.tick().await;
            let seconds = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
            let before = Timestamp::now().plus_seconds(-seconds);
            match store.purge_requests(before).await {
                Ok(0) => {}
                Ok(gone) => {
                    metrics::counter!("spine_ledger_swept_total").increment(gone);
                    tracing::info!(entries = gone, "ingest ledger entries past retention removed");
                }
                Err(e) => tracing::warn!(error = %e, "the ledger sweep failed; trying again later"),
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
