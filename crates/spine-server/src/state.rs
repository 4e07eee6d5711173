//! The shared state every handler receives: the store, the configuration, the signing secret,
//! the API key cache, live delivery and the rate limiter. Cheap to clone (all `Arc`s).

use crate::auth::KeyCache;
use crate::cache::TtlCache;
use crate::config::ServerConfig;
use crate::limits::Limiter;
use crate::live::Live;
use spine_core::sealed::SealingKey;
use spine_store::{ChannelRecord, Store};
use std::sync::Arc;

/// What handlers share. One per server.
#[derive(Clone)]
pub struct AppState {
    /// The backend; every tenant-owned call takes the tenant from the authenticated principal.
    pub store: Arc<dyn Store>,
    /// Limits and options.
    pub config: Arc<ServerConfig>,
    /// The installation secret that signs cursors and viewer tokens.
    pub secret: Arc<[u8]>,
    /// Recently verified API keys, so each request does not read the keys table.
    pub keys: Arc<KeyCache>,
    /// The live hub and the shutdown signal that ends open streams.
    pub live: Arc<Live>,
    /// Seals and opens channel secrets (a key derived from the installation secret).
    pub channel_secrets: Arc<SealingKey>,
    /// The key outbound webhook secrets are sealed with.
    pub webhook_secrets: Arc<SealingKey>,
    /// Recently read channels, by id: every delivery looks its channel up.
    pub channels: Arc<TtlCache<ChannelRecord>>,
    /// Rate limits and quotas: the buckets, each tenant's limits in force, its usage.
    pub limits: Arc<Limiter>,
}

impl AppState {
    /// State over `store`, with the server `secret` loaded from it. Starts the live hub, so it
    /// needs a Tokio runtime.
    pub fn new(store: Arc<dyn Store>, config: ServerConfig, secret: Vec<u8>) -> Self {
        let keys = Arc::new(KeyCache::new(config.key_cache_ttl));
        let live = Arc::new(Live::start(store.clone(), &config));
        let channel_secrets = Arc::new(crate::provision::channel_sealing_key(&secret));
        let webhook_secrets = Arc::new(crate::webhooks::sealing_key(&secret));
        let channels = Arc::new(TtlCache::new(config.key_cache_ttl));
        let limits =
            Arc::new(Limiter::new(store.clone(), config.default_limits, config.key_cache_ttl));
        Self {
            store,
            config: Arc::new(config),
            secret: secret.into(),
            keys,
            live,
            channel_secrets,
            webhook_secrets,
            channels,
            limits,
        }
    }
}
