//! Prometheus metrics. The recorder is process-global, so it is installed once per process
//! (tests start many servers in one process); every server renders the same registry.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Request counter, by route, method and status.
pub const HTTP_REQUESTS: &str = "spine_http_requests_total";
/// Request latency histogram, by route, method and status.
pub const HTTP_DURATION: &str = "spine_http_request_duration_seconds";
/// Events stored by the HTTP API, by outcome (`created`, `repeat`, `conflict`).
pub const EVENTS_INGESTED: &str = "spine_events_ingested_total";
/// Latency of the store's append (the commit), in seconds.
pub const APPEND_DURATION: &str = "spine_append_duration_seconds";
/// Events per append call.
pub const BATCH_SIZE: &str = "spine_append_batch_size";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

/// The process's Prometheus handle, installing the recorder on first use. `None` when another
/// recorder was installed first (metrics then go there and `/metrics` is empty).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), SIZE_BUCKETS)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "could not install the Prometheus recorder");
                    None
                }
            }
        })
        .as_ref()
}

/// Records one finished HTTP request.
pub fn record_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// Records one append call and its outcomes.
pub fn record_append(batch: usize, elapsed: Duration, created: u64, repeats: u64, conflicts: u64) {
    metrics::histogram!(APPEND_DURATION).record(elapsed.as_secs_f64());
    metrics::histogram!(BATCH_SIZE).record(batch as f64);
    for (outcome, n) in [("created", created), ("repeat", repeats), ("conflict", conflicts)] {
        if n > 0 {
            metrics::counter!(EVENTS_INGESTED, "outcome" => outcome).increment(n);
        }
    }
}

/// Folds recorded histogram samples into their buckets every few seconds while the returned
/// task runs, so samples between scrapes (one per live delivery) do not pile up in memory.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Some(h) = handle() {
                h.run_upkeep();
            }
        }
    })
}

/// The Prometheus text exposition of everything recorded so far.
pub fn render() -> String {
    match handle() {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}
