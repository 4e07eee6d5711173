//! Live delivery (SPEC section 5 "Live", principle 4): a stream is a reader of the log from a
//! position; the in-memory hub only wakes readers, so catch-up and live delivery are one loop.
//!
//! - [`hub`]: [`Hub`], one task turning the store's commit notices into per-tenant wake-ups.
//! - [`reader`]: the reader loop behind `GET /v1/stream`, as a stream of SSE messages.

pub mod hub;
pub mod reader;

pub use hub::Hub;

use spine_store::Store;
use std::sync::Arc;
use tokio::sync::watch;

/// Live subscribers currently connected (a gauge).
pub const SUBSCRIBERS: &str = "spine_live_subscribers";
/// Events delivered to live subscribers (a counter).
pub const DELIVERIES: &str = "spine_live_deliveries_total";

/// What live routes share: the hub and the server's shutdown signal.
pub struct Live {
    /// Wakes readers when their tenant's log grows.
    pub hub: Arc<Hub>,
    /// Turns `true` when the server shuts down, so open streams end instead of holding the
    /// graceful shutdown open forever.
    shutdown: watch::Sender<bool>,
}

impl Live {
    /// Starts the hub over `store`'s commit notices. Needs a Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (shutdown, stopped) = watch::channel(false);
        Self { hub: Hub::start(store, stopped), shutdown }
    }

    /// A receiver that turns `true` on shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every open stream and the hub's task.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }
}
