//! The retention contract (SPEC section 8): a tenant's retention policy, the events that may
//! have expired, and their removal through the horizon mechanism, so a live reader that may not
//! have seen a removed event is told to reload (`event: reset`) rather than left with a silent
//! gap.

use crate::{PurgeOutcome, StoreResult};
use async_trait::async_trait;
use spine_core::retention::RetentionInput;
use spine_core::{EventType, Seq, TenantId, Timestamp};

/// A tenant's retention.
#[async_trait]
pub trait Expiry: Send + Sync {
    /// Stores the tenant's policy (replacing the previous one).
    async fn put_retention(&self, tenant: &TenantId, policy: &RetentionInput) -> StoreResult<()>;

    /// The tenant's policy, if it set one.
    async fn get_retention(&self, tenant: &TenantId) -> StoreResult<Option<RetentionInput>>;

    /// Events after `after`, in `seq` order, at most `limit`, that may have expired at `now`:
    /// those whose `expires_at` has passed and, when `older_than` is given, those received
    /// before it. The caller decides with the policy.
    async fn expiry_candidates(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        older_than: Option<Timestamp>,
        after: Seq,
        limit: u32,
    ) -> StoreResult<Vec<Candidate>>;

    /// Removes these events of the tenant with their tags, search entries, read and archive
    /// marks and jobs, raising the horizon to the highest of them first (never lowering it).
    /// Announces [`crate::Notice::Purged`].
    async fn remove_events(&self, tenant: &TenantId, seqs: &[Seq]) -> StoreResult<PurgeOutcome>;
}

/// An event that may have expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its position.
    pub seq: Seq,
    /// Its type.
    pub event_type: EventType,
    /// When Spine received it.
    pub received_at: Timestamp,
    /// When it expires by its own say.
    pub expires_at: Option<Timestamp>,
}
