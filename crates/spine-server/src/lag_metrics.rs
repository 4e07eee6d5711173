//! The lag gauges: a background task that reads every tenant's consumers, webhook endpoints and
//! head every few seconds and publishes `spine_consumer_lag{tenant, consumer}` and
//! `spine_webhook_lag{tenant, webhook}` (positions between the checkpoint or cursor and the
//! head). One that disappears drops to zero rather than keeping its last value.

use spine_store::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// How often the gauges are refreshed.
const EVERY: Duration = Duration::from_secs(15);

/// One gauge's labels: the metric, the tenant, the consumer or webhook.
type Key = (&'static str, String, String);

/// Starts the task; it runs until the returned handle is aborted.
pub fn spawn(store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        let mut shown: HashSet<Key> = HashSet::new();
        loop {
            ticks.tick().await;
            match lags(store.as_ref()).await {
                Ok(lags) => {
                    let mut now = HashSet::new();
                    for (key, lag) in lags {
                        gauge(&key).set(lag as f64);
                        now.insert(key);
                    }
                    for gone in shown.difference(&now) {
                        gauge(gone).set(0.0);
                    }
                    shown = now;
                }
                Err(e) => tracing::warn!(error = %e, "reading consumer and webhook lag failed"),
            }
        }
    })
}

fn gauge((metric, tenant, name): &Key) -> metrics::Gauge {
    match *metric {
        "consumer" => {
            metrics::gauge!("spine_consumer_lag", "tenant" => tenant.clone(), "consumer" => name.clone())
        }
        _ => {
            metrics::gauge!("spine_webhook_lag", "tenant" => tenant.clone(), "webhook" => name.clone())
        }
    }
}

/// Every consumer's and every active endpoint's lag, across tenants.
async fn lags(store: &dyn Store) -> spine_store::StoreResult<Vec<(Key, i64)>> {
    let mut lags = Vec::new();
    for tenant in store.list_tenants().await? {
        let consumers = store.list_consumers(&tenant.id).await?;
        let webhooks = store.list_webhooks(&tenant.id).await?;
        if consumers.is_empty() && webhooks.is_empty() {
            continue;
        }
        let head = store.head(&tenant.id).await?;
        let id = tenant.id.as_str();
        for consumer in consumers {
            let lag = (head.0 - consumer.checkpoint.0).max(0);
            lags.push((("consumer", id.to_owned(), consumer.name), lag));
        }
        for webhook in webhooks {
            let lag = (head.0 - webhook.cursor.0).max(0);
            lags.push((("webhook", id.to_owned(), webhook.id), lag));
        }
    }
    Ok(lags)
}
