//! Spine's HTTP server (SPEC section 5): routes, authentication, problems, OpenAPI, metrics.
//!
//! - [`run`]: serve an already-bound listener until a shutdown future resolves (tests pass a
//!   port-0 listener). [`app`] builds the router from an [`AppState`].
//! - [`config`]: [`ServerConfig`], every limit and option of the HTTP layer.
//! - [`state`]: [`AppState`], what handlers share (store, config, secret, key cache).
//! - [`error`]: [`ApiError`], mapped once to RFC 9457 problems.
//! - [`audit`]: the audit trail: every administrative action as an `audit.*` event in the
//!   tenant's log.
//! - [`auth`]: the `Principal` extractor (API keys, viewer tokens), roles, the key cache.
//! - [`cache`]: the time-bounded cache of keys and channels read on every request.
//! - [`json`]: JSON bodies with size limits and field-naming errors.
//! - [`routes`]: one module per area (events, feed, stream, read state, admin, channels,
//!   ingest and its ledger, identifiers, work and notes, agents, consumers, operations).
//! - [`live`]: live delivery: the hub that wakes stream readers, and the reader loop.
//! - [`middleware`]: request ids, tracing spans, URL-credential refusal, timeouts, metrics.
//! - [`openapi`]: `/openapi.json` and `/docs`.
//! - [`metrics`]: the process-wide Prometheus recorder.
//! - [`provision`]: creating tenants and keys, shared with the CLI.
//! - [`retention`]: the sweepers: expired events (through the horizon), old ledger entries and
//!   delivery attempts.
//! - [`work_metrics`]: the background task behind the queue-depth gauge.
//! - [`limits`]: rate limits and storage quotas: the buckets, each tenant's limits in force,
//!   its usage, and the task that keeps this node on the cluster's roll.
//! - [`lag_metrics`]: the background task behind the consumer and webhook lag gauges.
//! - [`webhooks`]: outbound webhooks: the delivery engine and its guarded HTTP client.

pub mod audit;
pub mod auth;
pub mod body_timeout;
pub mod cache;
pub mod config;
pub mod error;
pub mod json;
pub mod lag_metrics;
pub mod limits;
pub mod listen;
pub mod live;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod provision;
pub mod retention;
pub mod routes;
pub mod state;
pub mod tls;
pub mod webhooks;
pub mod work_metrics;

pub use config::ServerConfig;
pub use error::ApiError;
pub use state::AppState;

use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use spine_store::Store;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The whole application: routes, documentation, fallbacks and middleware, over `state`.
pub fn app(state: AppState) -> Router {
    metrics::handle();
    let router = routes::router()
        .merge(openapi::router())
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(CatchPanicLayer::custom(middleware::panic_problem))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe));
    let router = match cors(&state.config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

/// The CORS layer for the configured origins; `None` when CORS is off.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o.trim_end_matches('/')) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring an invalid CORS origin");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-spine-user"),
                HeaderName::from_static("last-event-id"),
                middleware::REQUEST_ID,
            ])
            .expose_headers([header::LOCATION, middleware::REQUEST_ID])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Serves the API on `listener` until `shutdown` resolves, then ends open streams and drains
/// in-flight requests.
/// Loads the server secret from the store once, at start.
pub async fn run(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let secret = store.server_secret().await.map_err(std::io::Error::other)?;
    let (state_store, ledger_retention) = (store.clone(), config.ledger_retention);
    let attempt_retention = config.webhook_log_retention;
    let sweep_every = config.retention_sweep_every;
    let state = AppState::new(store, config, secret);
    let delivery =
        state.config.webhook_delivery.then(|| AbortOnDrop(webhooks::engine::spawn(state.clone())));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "spine server listening");
    }
    let live = state.live.clone();
    let grace = state.config.shutdown_grace;
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    // Streams never finish on their own; without this the graceful shutdown would wait forever.
    let shutdown = async move {
        shutdown.await;
        live.shut_down();
        let _ = stopping.send(());
    };
    let limits = listen::ConnectionLimits {
        header_read_timeout: state.config.header_read_timeout,
        max_connections: state.config.max_connections,
    };
    // `with_state` prepares the routes once: each connection gets a clone of the prepared
    // router (rebuilding every route's service per connection cost about 16 KiB each, measured
    // with heaptrack, which an open stream would then hold for its lifetime).
    let (tls, tls_reload) = match &state.config.tls {
        Some(files) => {
            let (acceptor, reload) = tls::acceptor(files)?;
            (Some(acceptor), Some(AbortOnDrop(reload)))
        }
        None => (None, None),
    };
    let (limiter, announce_every) = (state.limits.clone(), state.config.node_announce_every);
    let serve = listen::serve(listener, app(state).with_state(()), limits, tls, shutdown);
    let upkeep = AbortOnDrop(metrics::spawn_upkeep());
    let node = uuid::Uuid::now_v7().to_string();
    let roll = AbortOnDrop(limiter.spawn_announcer(node, announce_every));
    let sweeper =
        AbortOnDrop(retention::spawn(state_store.clone(), ledger_retention, attempt_retention));
    let expiry = AbortOnDrop(retention::spawn_expiry(state_store.clone(), sweep_every));
    let queue_depth = AbortOnDrop(work_metrics::spawn(state_store.clone()));
    let lag = AbortOnDrop(lag_metrics::spawn(state_store));
    // A client that stopped reading keeps its response unfinished; after the grace period the
    // remaining connections are dropped with the server.
    let deadline = async move {
        if stopped.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        served = serve => served,
        () = deadline => {
            tracing::warn!(?grace, "connections still open after the shutdown grace; dropping them");
            Ok(())
        }
    };
    drop(tls_reload);
    drop(upkeep);
    drop(roll);
    drop(sweeper);
    drop(expiry);
    drop(queue_depth);
    drop(lag);
    // The engine saw the shutdown too; give it a moment to hand its endpoints over.
    if let Some(delivery) = delivery {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while !delivery.0.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    result
}

/// Aborts a background task when the server stops, however `run` returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_is_off_without_origins() {
        assert!(cors(&[]).is_none());
        assert!(cors(&["*".to_owned()]).is_some());
        assert!(cors(&["https://app.example.com".to_owned(), "bad\norigin".to_owned()]).is_some());
    }
}
