//! The consumer-lag gauge: a background task that reads every tenant's consumers and head every
//! few seconds and publishes `spine_consumer_lag{tenant, consumer}` (positions between the
//! checkpoint and the head). A consumer that disappears drops to zero rather than keeping its
//! last value.

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
        let mut shown: HashSet<(String, String)> = HashSet::new();
        loop {
            ticks.tick().await;
            match lags(store.as_ref()).await {
                Ok(lags) => {
                    let mut now = HashSet::new();
                    for (tenant, consumer, lag) in lags {
                        let key = (tenant, consumer);
                        gauge(&key).set(lag as f64);
                        now.insert(key);
                    }
                    for gone in shown.difference(&now) {
                        gauge(gone).set(0.0);
                    }
                    shown = now;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading consumer lag failed; trying again later")
                }
            }
        }
    })
}

fn gauge((tenant, consumer): &(String, String)) -> metrics::Gauge {
    metrics::gauge!("spine_consumer_lag", "tenant" => tenant.clone(), "consumer" => consumer.clone())
}

/// `(tenant, consumer, lag)` for every consumer of every tenant.
async fn lags(store: &dyn Store) -> spine_store::StoreResult<Vec<(String, String, i64)>> {
    let mut lags = Vec::new();
    for tenant in store.list_tenants().await? {
        let consumers = store.list_consumers(&tenant.id).await?;
        if consumers.is_empty() {
            continue;
        }
        let head = store.head(&tenant.id).await?;
        for consumer in consumers {
            let lag = (head.0 - consumer.checkpoint.0).max(0);
            lags.push((tenant.id.as_str().to_owned(), consumer.name, lag));
        }
    }
    Ok(lags)
}
