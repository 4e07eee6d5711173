//! The server's settings: every limit of SPEC section 11 that the HTTP layer enforces, CORS, the
//! operator token and cache lifetimes. The CLI fills it from flags, environment and `spine.toml`.

use spine_core::filter::PageLimits;
use spine_core::input::EventLimits;
use std::time::Duration;

/// Everything the HTTP server can be told. `Default` gives the documented defaults.
#[derive(Clone)]
pub struct ServerConfig {
    /// Per-event field bounds (title, description, data, tags, idempotency key).
    pub event_limits: EventLimits,
    /// Feed page sizes (default 30, max 100).
    pub page: PageLimits,
    /// Largest body accepted by `POST /v1/events` and the other small JSON endpoints (1 MiB).
    pub max_event_body_bytes: usize,
    /// Most events in one `POST /v1/events/batch` (1,000).
    pub max_batch_events: usize,
    /// Largest body accepted by `POST /v1/events/batch` (16 MiB).
    pub max_batch_body_bytes: usize,
    /// Origins allowed by CORS: empty turns CORS off, `"*"` allows any origin.
    pub cors_origins: Vec<String>,
    /// The operator's token for `POST /v1/tenants`; `None` hides that route (404).
    pub admin_token: Option<String>,
    /// How long a looked-up API key is trusted before it is read again, so a revocation made
    /// through another node takes effect within this time.
    pub key_cache_ttl: Duration,
    /// Longest time a request may take to produce its response head (503 problem after).
    pub request_timeout: Duration,
    /// Open live streams (SSE streams plus WebSockets) on this node; more get a 503 problem.
    pub max_streams: usize,
    /// Open live streams of one tenant on this node; more get a 429 problem.
    pub max_streams_per_tenant: usize,
    /// How long a subscriber may stay behind the log before it is closed with a message telling
    /// it to resume (it keeps its place: resuming costs nothing but the reconnect).
    pub stream_max_lag: Duration,
    /// Recent events each watched tenant keeps in memory for its live readers (the shared
    /// tail): readers within it are served without a store query each.
    pub stream_tail_events: usize,
    /// Subscriptions on one WebSocket.
    pub ws_max_subscriptions: usize,
    /// How often an idle stream sends a keep-alive (SSE comment, WebSocket ping).
    pub stream_keep_alive: Duration,
    /// How long a connection may take to send a request's head, and a keep-alive connection
    /// may wait idle for its next request (30 s); streams, WebSockets and bodies being read
    /// are not bound by it.
    pub header_read_timeout: Duration,
    /// Serve HTTPS with this certificate and key (reloaded when the files change); `None`:
    /// plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// How long a request body may send nothing before the request is answered 408 (30 s); a
    /// slow but steady upload is never cut by it.
    pub body_read_timeout: Duration,
    /// Open connections on this node (32,768); at the cap the node accepts no more until one
    /// closes, and logs that it is there.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests and stream goodbyes before dropping the
    /// connections left (a client that stopped reading would otherwise hold it forever).
    pub shutdown_grace: Duration,
    /// How long an Activity Center session lasts after sign-in (it does not slide).
    pub session_ttl: Duration,
    /// The base URL people and providers reach this installation at (`https://spine.example.com`);
    /// it marks the session cookie `Secure` when it is `https`. `None`: the request's own.
    pub public_url: Option<String>,
    /// Largest body `POST /v1/ingest/{channel}` reads (1 MiB); larger is a 413 and a
    /// `rejected` ledger entry.
    pub max_ingest_body_bytes: usize,
    /// Most body bytes a ledger entry keeps (1 MiB); an entry cut shorter cannot be replayed.
    pub ledger_body_bytes: usize,
    /// How long ledger entries are kept (30 days); a sweeper removes older ones.
    pub ledger_retention: Duration,
    /// The region (ISO 3166 alpha-2, e.g. `US`) phone numbers without a `+` are read in, for
    /// identifiers and matching; `None`: such numbers are refused (identifiers) or unmatched.
    pub default_phone_region: Option<String>,
    /// Largest file `POST /v1/ingest/{channel}/files` stores (50 MiB); a larger one is a 413
    /// and nothing of the request is stored.
    pub max_file_bytes: usize,
    /// How long a file upload may take in all (10 minutes) where other requests get
    /// `request_timeout`: 50 MiB over a slow link takes longer than a JSON body.
    pub upload_timeout: Duration,
    /// Whether outbound webhooks may target loopback, private, link-local and other internal
    /// addresses (off: such targets are refused at creation and at connection, against SSRF).
    pub webhook_allow_private: bool,
    /// How long webhook delivery attempts are kept in the log (30 days).
    pub webhook_log_retention: Duration,
    /// Whether this node runs the webhook delivery engine (on; tests of other things may turn
    /// it off).
    pub webhook_delivery: bool,
    /// How long a node's lease on an endpoint lasts (15 s): a dead node's endpoints move to
    /// another node within this.
    pub webhook_lease: Duration,
    /// How often expired events are swept (each tenant's retention policy and events'
    /// `expires_at`); 10 minutes.
    pub retention_sweep_every: Duration,
    /// The waits after each failed attempt (SPEC section 8: 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h, 10 h); not a setting of `spine serve`, tests shorten it.
    pub webhook_retry_delays: Vec<Duration>,
    /// The installation's default rate limits and quotas, also the ceiling of every tenant the
    /// operator set no ceiling for; empty (no limits) by default.
    pub default_limits: spine_core::limits::LimitsInput,
    /// How often this node announces itself on the cluster's roll (5 s); each node enforces
    /// `1 / live nodes` of every limit.
    pub node_announce_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            event_limits: EventLimits::default(),
            page: PageLimits::default(),
            max_event_body_bytes: 1024 * 1024,
            max_batch_events: 1000,
            max_batch_body_bytes: 16 * 1024 * 1024,
            cors_origins: Vec::new(),
            admin_token: None,
            key_cache_ttl: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_streams: 10_000,
            max_streams_per_tenant: 2_000,
            stream_max_lag: Duration::from_secs(60),
            stream_tail_events: 10_000,
            ws_max_subscriptions: 32,
            stream_keep_alive: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 32_768,
            body_read_timeout: Duration::from_secs(30),
            tls: None,
            session_ttl: Duration::from_secs(12 * 3600),
            public_url: None,
            max_ingest_body_bytes: 1024 * 1024,
            ledger_body_bytes: 1024 * 1024,
            ledger_retention: Duration::from_secs(30 * 86_400),
            default_phone_region: None,
            max_file_bytes: 50 * 1024 * 1024,
            upload_timeout: Duration::from_secs(600),
            webhook_allow_private: false,
            webhook_log_retention: Duration::from_secs(30 * 86_400),
            webhook_delivery: true,
            webhook_lease: Duration::from_secs(15),
            retention_sweep_every: Duration::from_secs(600),
            webhook_retry_delays: spine_core::webhook::schedule::RETRY_DELAYS.to_vec(),
            default_limits: spine_core::limits::LimitsInput::default(),
            node_announce_every: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("event_limits", &self.event_limits)
            .field("page", &self.page)
            .field("max_event_body_bytes", &self.max_event_body_bytes)
            .field("max_batch_events", &self.max_batch_events)
            .field("max_batch_body_bytes", &self.max_batch_body_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("key_cache_ttl", &self.key_cache_ttl)
            .field("request_timeout", &self.request_timeout)
            .field("max_streams", &self.max_streams)
            .field("max_streams_per_tenant", &self.max_streams_per_tenant)
            .field("stream_max_lag", &self.stream_max_lag)
            .field("stream_tail_events", &self.stream_tail_events)
            .field("ws_max_subscriptions", &self.ws_max_subscriptions)
            .field("stream_keep_alive", &self.stream_keep_alive)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("tls", &self.tls)
            .field("session_ttl", &self.session_ttl)
            .field("public_url", &self.public_url)
            .field("max_ingest_body_bytes", &self.max_ingest_body_bytes)
            .field("ledger_body_bytes", &self.ledger_body_bytes)
            .field("ledger_retention", &self.ledger_retention)
            .field("default_phone_region", &self.default_phone_region)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("upload_timeout", &self.upload_timeout)
            .field("webhook_allow_private", &self.webhook_allow_private)
            .field("webhook_log_retention", &self.webhook_log_retention)
            .field("webhook_delivery", &self.webhook_delivery)
            .field("webhook_lease", &self.webhook_lease)
            .field("retention_sweep_every", &self.retention_sweep_every)
            .field("webhook_retry_delays", &self.webhook_retry_delays)
            .field("default_limits", &self.default_limits)
            .field("node_announce_every", &self.node_announce_every)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_admin_token() {
        let c = ServerConfig { admin_token: Some("hunter2".into()), ..Default::default() };
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"));
        assert!(text.contains("<redacted>"));
    }
}
