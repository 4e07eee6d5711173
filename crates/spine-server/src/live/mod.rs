//! Live delivery (SPEC section 5 "Live", principle 4): a subscription is a reader of the log
//! from a position; the in-memory hub only wakes readers, so catch-up and live delivery are one
//! loop.
//!
//! - [`hub`]: [`Hub`], one task turning the store's notices into per-tenant wake-ups.
//! - [`tail`]: each watched tenant's recent events, read from the log once for all readers.
//! - [`reader`]: the reader loop, yielding transport-neutral outputs.
//! - [`sse`]: those outputs as Server-Sent Events (`GET /v1/stream`).
//! - [`wire`] and [`seat`]: streams on sockets of their own, and the fan-out that writes to
//!   the ones that caught up without waking their tasks.
//! - [`ws`]: a WebSocket session with several subscriptions (`GET /v1/ws`).
//! - [`limits`]: open streams per tenant and per node.

pub mod hub;
pub mod limits;
pub mod reader;
pub mod seat;
pub mod sse;
pub mod tail;
pub mod wire;
pub mod ws;

pub use hub::Hub;

use crate::config::ServerConfig;
use limits::StreamLimits;
use spine_store::Store;
use std::sync::Arc;
use tokio::sync::watch;

/// Live subscribers (SSE streams and WebSockets) currently connected (a gauge).
pub const SUBSCRIBERS: &str = "spine_live_subscribers";
/// Events delivered to live subscribers (a counter).
pub const DELIVERIES: &str = "spine_live_deliveries_total";
/// Seconds from an event's commit to its delivery to a subscriber (a histogram): the lag.
pub const LAG_SECONDS: &str = "spine_live_delivery_lag_seconds";
/// Subscriptions ended, by `reason` (client, shutdown, token-expired, unavailable, lagging,
/// stalled).
pub const DISCONNECTS: &str = "spine_live_disconnects_total";
/// Streams refused by a limit, by `reason` (tenant_full, server_full).
pub const REJECTED: &str = "spine_live_rejected_total";
/// Times the hub fell behind the store's notices and re-read heads (a counter).
pub const HUB_LAGS: &str = "spine_live_hub_lags_total";

/// What live routes share: the hub, the stream limits and the server's shutdown signal.
pub struct Live {
    /// Wakes readers when their tenant's log grows.
    pub hub: Arc<Hub>,
    /// Open streams per tenant and per node.
    pub limits: Arc<StreamLimits>,
    /// Turns `true` when the server shuts down, so open streams end instead of holding the
    /// graceful shutdown open forever.
    shutdown: watch::Sender<bool>,
}

impl Live {
    /// Starts the hub over `store`'s notices, with `config`'s stream limits and tail size.
    /// Needs a Tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: &ServerConfig) -> Self {
        let (shutdown, stopped) = watch::channel(false);
        Self {
            hub: Hub::start(store, stopped, config.stream_tail_events),
            limits: StreamLimits::new(config.max_streams, config.max_streams_per_tenant),
            shutdown,
        }
    }

    /// A receiver that turns `true` on shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every open stream and the hub's task.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
        // Readers wait on their tenant's head alone: wake them to see the signal.
        self.hub.wake_all();
    }
}
