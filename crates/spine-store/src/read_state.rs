//! The read-state contract (SPEC section 3 and the read-state routes of section 5): per user, a
//! read watermark plus exceptions, a seen watermark, and archived events. Never a flag on the
//! event: each lives in its own table keyed by tenant, user and position.

use crate::StoreResult;
use async_trait::async_trait;
use spine_core::{Scope, Seq, TenantId, UserId};
use uuid::Uuid;

/// Per-user read, seen and archived state. Each change is announced as a
/// [`crate::Notice::Read`] once committed, so the user's live streams follow it.
#[async_trait]
pub trait ReadState: Send + Sync {
    /// Marks one event read for a user; `false` if the event is not in the tenant and scope.
    async fn mark_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<bool>;

    /// Marks everything through `through` (default: the head) read; returns the new watermark.
    async fn mark_all_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq>;

    /// The user's read state above `after`: the watermark and the individually read positions
    /// above both, in order. Live readers start from it and follow [`crate::Notice::Read`] to
    /// decide read flags in memory.
    async fn read_marks(
        &self,
        tenant: &TenantId,
        user: &UserId,
        after: Seq,
    ) -> StoreResult<ReadMarks>;

    /// The user's exact count of unread events within `scope`, archived events excepted.
    async fn unread_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64>;

    /// Moves the user's seen watermark to `through` (default and at most: the head; it never
    /// moves back); returns the new watermark.
    async fn mark_seen(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq>;

    /// The user's exact count of events above the seen watermark within `scope`, archived events
    /// excepted.
    async fn unseen_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64>;

    /// Archives (hides for this user) or unarchives one event; `false` if the event is not in
    /// the tenant and scope. Repeating either is harmless.
    async fn set_archived(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
        archived: bool,
    ) -> StoreResult<bool>;
}

/// A user's read state above a position (see [`ReadState::read_marks`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMarks {
    /// Everything at or below this position is read.
    pub through: Seq,
    /// Positions above `through` (and above the asked position) read one by one, ascending.
    pub marked: Vec<Seq>,
}

/// A change of one user's read state, for that user's live streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadNotice {
    /// The tenant.
    pub tenant: TenantId,
    /// Whose read state changed.
    pub user: UserId,
    /// What changed.
    pub change: ReadChange,
}

/// What a read-state change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadChange {
    /// One event was marked read.
    Event {
        /// The event.
        id: Uuid,
        /// Its position.
        seq: Seq,
    },
    /// Everything through this position is read (the watermark).
    Through(Seq),
    /// Everything through this position has been seen (the seen watermark).
    Seen(Seq),
    /// One event was archived or unarchived.
    Archived {
        /// The event.
        id: Uuid,
        /// Its position.
        seq: Seq,
        /// Archived (`true`) or back in the feed (`false`).
        archived: bool,
    },
}
