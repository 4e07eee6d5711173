//! The queue-depth gauge: a background task that counts jobs by queue and status over every
//! tenant every few seconds and publishes `spine_work_jobs{queue, status}`. A combination that
//! disappears drops to zero rather than keeping its last value.

use spine_store::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the gauge is refreshed.
const EVERY: Duration = Duration::from_secs(15);

/// Starts the task; it runs until the returned handle is aborted.
pub fn spawn(store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        let mut shown: HashSet<(String, &'static str)> = HashSet::new();
        loop {
            ticks.tick().await;
            let counts = match store.all_queue_counts().await {
                Ok(counts) => counts,
                Err(e) => {
                    tracing::warn!(error = %e, "counting jobs for metrics failed; trying again later");
                    continue;
                }
            };
            let mut now = HashSet::new();
            for count in counts {
                let key = (count.queue, count.status.as_str());
                metrics::gauge!("spine_work_jobs", "queue" => key.0.clone(), "status" => key.1)
                    .set(count.jobs as f64);
                now.insert(key);
            }
            for (queue, status) in shown.difference(&now) {
                metrics::gauge!("spine_work_jobs", "queue" => queue.clone(), "status" => *status)
                    .set(0.0);
            }
            shown = now;
        }
    })
}
