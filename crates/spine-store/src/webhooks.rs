//! The outbound-webhook contract (SPEC section 8): a tenant's endpoints (their sealed signing
//! secret, filter, status and delivery position), the leases that let one node at a time drive
//! an endpoint, and the log of delivery attempts.
//!
//! An endpoint's `cursor` is its checkpoint: every matching event at or below it was delivered
//! or given up on; `attempt` counts the attempts made on the next one. The delivery engine moves
//! them with [`Webhooks::record_attempt`], which applies only while the engine's node holds the
//! endpoint's lease and the cursor is still the one it read (a replay in between wins).

use crate::StoreResult;
use async_trait::async_trait;
use serde_json::{Map, Value};
use spine_core::webhook::{Status, WebhookSettings};
use spine_core::{Seq, TenantId, Timestamp};
use uuid::Uuid;

/// A tenant's outbound webhook endpoints and their delivery log.
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Stores a new endpoint delivering the events after `cursor`; `Conflict` if the id is
    /// taken.
    async fn create_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &WebhookSettings,
        sealed_secret: &str,
        cursor: Seq,
    ) -> StoreResult<WebhookRecord>;

    /// An endpoint of this tenant.
    async fn get_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<WebhookRecord>>;

    /// The tenant's endpoints, oldest first.
    async fn list_webhooks(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>>;

    /// Replaces an endpoint's settings and status. Making a disabled endpoint active clears its
    /// reason and failure time and lets it try its next event at once, where it stopped.
    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &WebhookSettings,
        status: Status,
        disabled_reason: Option<&str>,
    ) -> StoreResult<Option<WebhookRecord>>;

    /// Removes an endpoint and its delivery log; `false` if there was none.
    async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<bool>;

    /// Moves an endpoint's cursor to `cursor` (back, to send again), with a fresh attempt count.
    async fn replay_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        cursor: Seq,
    ) -> StoreResult<Option<WebhookRecord>>;

    /// Across tenants: leases to `node` until `until` every active endpoint whose lease is free,
    /// expired at `now`, or already `node`'s, and answers them.
    async fn lease_webhooks(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<(TenantId, String)>>;

    /// Ends `node`'s leases (it is shutting down), so another node takes over at once.
    async fn release_webhooks(&self, node: &str) -> StoreResult<()>;

    /// Records an attempt and, with `progress`, moves the endpoint, in one transaction. The
    /// attempt is always kept (it happened); the progress applies only while `node` holds the
    /// endpoint's lease at `now` and its cursor is still `progress.expected_cursor`: the answer
    /// says whether it did. A test send has no progress.
    async fn record_attempt(
        &self,
        tenant: &TenantId,
        webhook: &str,
        node: &str,
        now: Timestamp,
        attempt: &AttemptRecord,
        progress: Option<&Progress>,
    ) -> StoreResult<bool>;

    /// An endpoint's attempts, newest first, before the attempt `before` when given.
    async fn list_attempts(
        &self,
        tenant: &TenantId,
        webhook: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<AttemptRecord>>;

    /// Across tenants: removes attempts made before `before`; answers how many.
    async fn purge_attempts(&self, before: Timestamp) -> StoreResult<u64>;
}

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Public id (`wh_...`).
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The filter as given.
    pub filter: Map<String, Value>,
    /// What it is for.
    pub description: Option<String>,
    /// The signing secret, sealed.
    pub secret: String,
    /// Whether deliveries flow.
    pub status: Status,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Every matching event at or below it was delivered or given up on.
    pub cursor: Seq,
    /// Attempts made on the next event.
    pub attempt: u32,
    /// When the next event may be tried again (after a failure).
    pub next_attempt_at: Option<Timestamp>,
    /// Since when every attempt has failed (`None` after a success).
    pub failing_since: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its settings, status or cursor last changed.
    pub updated_at: Timestamp,
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered 2xx.
    Delivered,
    /// Failed; tried again at `next_attempt_at`.
    Retrying,
    /// Failed, and it was the event's last attempt: the endpoint went on without it.
    Failed,
    /// Failed, and the endpoint was disabled.
    Disabled,
    /// A test send (its outcome is in the status code and error).
    Test,
}

impl AttemptOutcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Disabled => "disabled",
            Self::Test => "test",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Delivered, Self::Retrying, Self::Failed, Self::Disabled, Self::Test]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One delivery attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// UUIDv7: the log's order.
    pub id: Uuid,
    /// The event sent (`None` for a test send).
    pub event_id: Option<Uuid>,
    /// Its position.
    pub event_seq: Option<Seq>,
    /// Which attempt at this event (1 for the first).
    pub attempt: u32,
    /// When it was made.
    pub at: Timestamp,
    /// What became of it.
    pub outcome: AttemptOutcome,
    /// The answer's status code, if there was an answer.
    pub status_code: Option<u16>,
    /// Why there was no answer, or why it counts as a failure.
    pub error: Option<String>,
    /// How long it took, milliseconds.
    pub latency_ms: u32,
    /// The start of the answer's body.
    pub response: Option<String>,
    /// When the event is tried again, after a failure.
    pub next_attempt_at: Option<Timestamp>,
}

/// How an attempt moves its endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The cursor the engine read; the progress applies only if it is still the endpoint's.
    pub expected_cursor: Seq,
    /// The new cursor.
    pub cursor: Seq,
    /// The new attempt count.
    pub attempt: u32,
    /// When to try again, after a failure.
    pub next_attempt_at: Option<Timestamp>,
    /// Since when every attempt has failed.
    pub failing_since: Option<Timestamp>,
    /// Disable the endpoint, for this reason.
    pub disable: Option<String>,
}
