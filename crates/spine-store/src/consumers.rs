//! The consumer contract (SPEC section 8): a tenant's named, durable cursors over its log. A
//! consumer is its filter (kept as given) and its checkpoint; reading the events after the
//! checkpoint is the event log's own query, so this contract only keeps and moves checkpoints.

use crate::{FeedQuery, Store, StoreResult};
use async_trait::async_trait;
use serde_json::{Map, Value};
use spine_core::consumer::Ack;
use spine_core::{Cursor, Event, EventFilter, Order, Seq, TenantId, Timestamp};

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

/// The events a consumer reads next: at most `limit` events matching `filter` after
/// `checkpoint`, in `seq` order, and the position to acknowledge once they are handled: the last
/// event's when the batch is full, else the head read before the events (every position up to
/// it is committed and was looked at, so positions of events that do not match are passed over
/// too).
pub async fn next_batch(
    store: &dyn Store,
    tenant: &TenantId,
    checkpoint: Seq,
    filter: &EventFilter,
    limit: u32,
) -> StoreResult<(Vec<Event>, Seq)> {
    let head = store.head(tenant).await?;
    let query = FeedQuery {
        filter: filter.clone(),
        scope: None,
        order: Order::Seq,
        after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: checkpoint }),
        limit,
        user: None,
    };
    let page = store.query(tenant, &query).await?;
    let full = page.next.is_some();
    let events: Vec<Event> = page.items.into_iter().map(|item| item.event).collect();
    let next_after = match events.last() {
        Some(last) if full => last.seq,
        last => head.max(last.map_or(Seq::ZERO, |e| e.seq)).max(checkpoint),
    };
    Ok((events, next_after))
}
