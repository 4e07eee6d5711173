//! The channel contract (SPEC section 6): a tenant's ingestion endpoints, each with its provider,
//! what it produces, and its signing secret sealed at rest (the store never sees it in clear:
//! the caller seals with `spine_core::sealed`). Rotation keeps the previous secret until a
//! deadline so signatures made with either pass.

use crate::StoreResult;
use async_trait::async_trait;
use spine_core::channel::NewChannel;
use spine_core::{TenantId, Timestamp};

/// A tenant's channels.
#[async_trait]
pub trait Channels: Send + Sync {
    /// Stores a new channel; `Conflict` if the id is taken.
    async fn create_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        channel: &NewChannel,
        sealed_secret: &str,
    ) -> StoreResult<ChannelRecord>;

    /// A channel by id, in whichever tenant holds it: this is how a provider's request, which
    /// carries no tenant, finds its tenant. Callers holding a tenant's key compare tenants.
    async fn find_channel(&self, id: &str) -> StoreResult<Option<ChannelRecord>>;

    /// A channel of this tenant.
    async fn get_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<ChannelRecord>>;

    /// The tenant's channels, oldest first.
    async fn list_channels(&self, tenant: &TenantId) -> StoreResult<Vec<ChannelRecord>>;

    /// Replaces a channel's settings (never its secrets); `None` if there is no such channel.
    async fn update_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &NewChannel,
        disabled: bool,
    ) -> StoreResult<Option<ChannelRecord>>;

    /// Makes `sealed_secret` the current secret and keeps the current one as the previous
    /// secret until `previous_until`; `None` if there is no such channel.
    async fn rotate_channel_secret(
        &self,
        tenant: &TenantId,
        id: &str,
        sealed_secret: &str,
        previous_until: Timestamp,
    ) -> StoreResult<Option<ChannelRecord>>;

    /// Removes a channel (its ledger entries stay until retention removes them); `false` if
    /// there was none.
    async fn delete_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<bool>;
}

/// A stored channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Public id, unique across tenants (it is in the ingest URL).
    pub id: String,
    /// Its settings.
    pub settings: NewChannel,
    /// A disabled channel refuses every request (404) until enabled again.
    pub disabled: bool,
    /// The current secret, sealed.
    pub secret: String,
    /// The secret before the last rotation, sealed, while it still verifies.
    pub previous_secret: Option<String>,
    /// When the previous secret stops verifying.
    pub previous_until: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its settings or secret last changed.
    pub updated_at: Timestamp,
}

impl ChannelRecord {
    /// The sealed secrets that verify at `now`: the current one, and the previous one during
    /// its grace period.
    pub fn live_secrets(&self, now: Timestamp) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous_secret, self.previous_until) {
            if now < until {
                secrets.push(previous);
            }
        }
        secrets
    }
}
