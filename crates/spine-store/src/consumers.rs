//! The consumer contract (SPEC section 8): a tenant's named, durable cursors over its log. A
//! consumer is its filter (kept as given) and its checkpoint; reading the events after the
//! checkpoint is the event log's own query, so this contract only keeps and moves checkpoints.

use crate::StoreResult;
use async_trait::async_trait;
use serde_json::{Map, Value};
use spine_core::consumer::Ack;
use spine_core::{Seq, TenantId, Timestamp};

/// A tenant's consumers.
#[async_trait]
pub trait Consumers: Send + Sync {
    /// Stores a new consumer with its checkpoint; `Conflict` if the name is taken.
    async fn create_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        filter: &Map<String, Value>,
        checkpoint: Seq,
    ) -> StoreResult<ConsumerRecord>;

    /// A consumer of this tenant.
    async fn get_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> StoreResult<Option<ConsumerRecord>>;

    /// The tenant's consumers, by name.
    async fn list_consumers(&self, tenant: &TenantId) -> StoreResult<Vec<ConsumerRecord>>;

    /// Applies an acknowledgement atomically (forward only, or a rewind); `None` if there is no
    /// such consumer.
    async fn ack_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        ack: Ack,
    ) -> StoreResult<Option<ConsumerRecord>>;

    /// Removes a consumer; `false` if there was none.
    async fn delete_consumer(&self, tenant: &TenantId, name: &str) -> StoreResult<bool>;

    /// The position of the last event the tenant received before `time` (`Seq::ZERO` when
    /// none): where a consumer that starts `since` that time begins.
    async fn position_before(&self, tenant: &TenantId, time: Timestamp) -> StoreResult<Seq>;
}

/// A stored consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    /// Its name, unique in the tenant.
    pub name: String,
    /// The filter as given.
    pub filter: Map<String, Value>,
    /// Everything at or below it was handled.
    pub checkpoint: Seq,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its checkpoint last changed (or when it was made).
    pub acked_at: Timestamp,
}
