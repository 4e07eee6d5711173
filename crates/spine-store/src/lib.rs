//! The storage contract every Spine backend implements (SPEC principles 1-6), its error type,
//! and the conformance suite that any backend must pass.
//!
//! - [`Store`]: the trait. Every tenant-owned call takes a `&TenantId`, so a query without a tenant
//!   does not compile.
//! - [`StoreError`]: what can go wrong, knowing nothing of HTTP.
//! - [`notices`]: waiting for a tenant's next commit.
//! - [`model`]: the records the trait speaks in (tenants, keys, pages, stats, outcomes).
//! - `read_state`: [`ReadState`], per-user read, seen and archived state.
//! - `sessions`: [`Sessions`], one-time sign-in codes and Activity Center sessions.
//! - `channels`: [`Channels`], ingestion endpoints with sealed secrets and rotation.
//! - [`consumers`]: [`Consumers`], named durable cursors over the log, and `next_batch`.
//! - `expiry`: [`Expiry`], retention policies and the removal of expired events.
//! - [`webhooks`]: [`Webhooks`], outbound endpoints, their leases and delivery log.
//! - `limits`: [`Limits`], each tenant's rate limits and quotas, its usage, the live nodes.
//! - [`ledger`]: [`Ledger`], every inbound request with its verdict, body and events.
//! - `identifiers`: [`Identifiers`], e-mail addresses and phone numbers naming entities.
//! - `blobs`: [`Blobs`], uploaded files by tenant and content hash, streamed in chunks.
//! - [`work`]: [`WorkQueue`] (queue rules, jobs, leased claims, settlements) and [`Notes`].
//! - [`type_prefix`]: `task.*` patterns as ranges or LIKE patterns, for the SQL backends.
//! - [`group`]: group commit shared by the backends: the writer task and the plan of one
//!   transaction (positions, idempotency judgement, summaries, rows).
//! - [`conformance`]: the behaviour every backend must show, as async test cases; a backend's test
//!   file instantiates them with [`conformance_tests!`].

mod blobs;
mod channels;
pub mod conformance;
pub mod consumers;
mod error;
mod expiry;
pub mod group;
mod identifiers;
pub mod ledger;
mod limits;
pub mod model;
pub mod notices;
mod read_state;
mod sessions;
pub mod type_prefix;
pub mod webhooks;
pub mod work;

pub use blobs::{BlobMeta, Blobs, NewBlob};
pub use channels::{ChannelRecord, Channels};
pub use consumers::{ConsumerRecord, Consumers};
pub use error::StoreError;
pub use expiry::{Candidate, Expiry};
pub use identifiers::{IdentifierRecord, Identifiers};
pub use ledger::{Ledger, LedgerEntry, LedgerQuery, Verdict};
pub use limits::{LimitLayer, Limits, StoredLimits, Usage};
pub use model::*;
pub use read_state::{ReadChange, ReadMarks, ReadNotice, ReadState};
pub use sessions::{NewSecret, NewSessionSecret, Redeemed, SecretRecord, Sessions};
pub use webhooks::{AttemptOutcome, AttemptRecord, Progress, WebhookRecord, Webhooks};
pub use work::{
    ClaimRequest, JobQuery, JobRecord, Notes, QueueCount, Settle, SettleError, WorkQueue,
};

use async_trait::async_trait;
use spine_core::{Event, EventType, NewEvent, Scope, Seq, TenantId, TypeInfo};
use uuid::Uuid;

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A Spine backend: the event log and its administration, plus one trait per further
/// capability ([`ReadState`], [`Sessions`], [`Channels`], [`Ledger`], [`Identifiers`], [`Blobs`],
/// [`WorkQueue`], [`Notes`], [`Consumers`], [`Webhooks`], [`Expiry`], [`Limits`]). Implementations are cheap to share (`Arc<dyn Store>`) and safe to call from
/// many tasks at once; writes are group-committed inside the implementation.
#[async_trait]
pub trait Store:
    ReadState
    + Sessions
    + Channels
    + Ledger
    + Identifiers
    + Blobs
    + WorkQueue
    + Notes
    + Consumers
    + Webhooks
    + Expiry
    + Limits
    + Send
    + Sync
    + 'static
{
    /// Applies pending migrations; idempotent.
    async fn migrate(&self) -> StoreResult<()>;

    /// Whether the database answers and migrations are applied (for `/readyz`).
    async fn ready(&self) -> StoreResult<()>;

    /// The installation's signing secret (cursors, viewer tokens), created on first use and
    /// shared by every node using the same database.
    async fn server_secret(&self) -> StoreResult<Vec<u8>>;

    /// Creates a tenant; `StoreError::Conflict` if the id is taken.
    async fn create_tenant(&self, id: &TenantId, name: &str) -> StoreResult<Tenant>;

    /// A tenant by id.
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>>;

    /// Every tenant, by id.
    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>>;

    /// Stores a new API key (already hashed by the caller).
    async fn create_key(&self, tenant: &TenantId, key: NewApiKey) -> StoreResult<ApiKeyInfo>;

    /// Looks a key up by its public id, across tenants: this is how authentication finds the
    /// tenant. Revoked keys are returned with `revoked_at` set; the caller refuses them.
    async fn find_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>>;

    /// The tenant's keys, newest first, without secrets.
    async fn list_keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyInfo>>;

    /// Revokes a key of this tenant; `false` if there is no such key in this tenant.
    async fn revoke_key(&self, tenant: &TenantId, key_id: &str) -> StoreResult<bool>;

    /// Commits events together and answers once they are durable. Each input gets an outcome in
    /// input order: created, an idempotent repeat, or a conflict naming the differing fields.
    /// Two inputs of one call with the same key: the second is judged against the first.
    async fn append(
        &self,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<AppendOutcome>>;

    /// Copies events exported from another installation, keeping their ids, times and
    /// summaries and assigning new positions. Events whose id already exists are skipped.
    async fn import(&self, tenant: &TenantId, events: Vec<Event>) -> StoreResult<ImportOutcome>;

    /// One event by id, if it exists in this tenant and within `scope`.
    async fn get_event(
        &self,
        tenant: &TenantId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<Option<Event>>;

    /// A page of the feed (keyset pagination only; deep pages cost the same as the first).
    async fn query(&self, tenant: &TenantId, query: &FeedQuery) -> StoreResult<Page>;

    /// Counts, optionally grouped, plus the user's unread count when a user is given.
    async fn stats(&self, tenant: &TenantId, query: &StatsQuery) -> StoreResult<Stats>;

    /// The highest committed position of the tenant (`Seq::ZERO` when empty).
    async fn head(&self, tenant: &TenantId) -> StoreResult<Seq>;

    /// The tenant's horizon: every event at or below it has been removed by [`Store::purge`]
    /// (`Seq::ZERO` when nothing was). A reader resuming below it cannot be served without a gap.
    async fn horizon(&self, tenant: &TenantId) -> StoreResult<Seq>;

    /// Removes the tenant's events at or below `through` (clamped to the head) with their tags,
    /// search entries and read marks, raising the horizon first so no reader sees a silent gap.
    /// Announces [`Notice::Purged`].
    async fn purge(&self, tenant: &TenantId, through: Seq) -> StoreResult<PurgeOutcome>;

    /// A new receiver of notices: a [`Notice::Commit`] per tenant touched after each successful
    /// commit, a [`Notice::Read`] after each read-state change, a [`Notice::Purged`] after a
    /// purge, and [`Notice::Resync`] whenever notices may have been missed (receivers then
    /// re-read). A receiver that lags loses notices, not events: its owner re-reads `head`, the
    /// horizon and the log.
    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice>;

    /// Registers or replaces a type's presentation.
    async fn put_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
        info: &TypeInfo,
    ) -> StoreResult<()>;

    /// A registered type's presentation.
    async fn get_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> StoreResult<Option<TypeInfo>>;

    /// Every registered type of the tenant, by type.
    async fn list_types(&self, tenant: &TenantId) -> StoreResult<Vec<(EventType, TypeInfo)>>;
}
