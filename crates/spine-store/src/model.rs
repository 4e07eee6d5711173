//! The records the `Store` trait speaks in.

use crate::ReadNotice;
use serde::Serialize;
use spine_core::{
    Cursor, Event, EventFilter, Order, Role, Scope, Seq, TenantId, Timestamp, UserId,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Its id (a slug).
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A key to store: the caller generated the secret and hashed it; the store never sees it.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Public id, the part of the key before the secret; unique across tenants.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// What it may do.
    pub role: Role,
    /// Optional label.
    pub name: Option<String>,
}

/// A key as listed to its tenant's admins: never the secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    /// Public id.
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// Optional label.
    pub name: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// A key as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// The listing fields.
    pub info: ApiKeyInfo,
    /// SHA-256 of the secret, compared in constant time by the caller.
    pub secret_hash: Vec<u8>,
}

/// The outcome of one appended event.
#[derive(Debug, Clone, PartialEq)]
pub enum AppendOutcome {
    /// Stored now.
    Created(Event),
    /// Same key, same content: the original event.
    Repeat(Event),
    /// Same key, different content: the original and the fields that differ.
    Conflict {
        /// The event stored first under the key.
        existing: Event,
        /// Names of the fields whose content differs.
        fields: Vec<&'static str>,
    },
}

impl AppendOutcome {
    /// The stored event this outcome refers to.
    pub fn event(&self) -> &Event {
        match self {
            Self::Created(e) | Self::Repeat(e) => e,
            Self::Conflict { existing, .. } => existing,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    /// Events copied in.
    pub inserted: u64,
    /// Events whose id was already present.
    pub skipped: u64,
}

/// A feed request as the store executes it.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// The filters (`q` and `unread` included).
    pub filter: EventFilter,
    /// A viewer token's scope, ANDed with the filter.
    pub scope: Option<Scope>,
    /// The order.
    pub order: Order,
    /// Continue after this position (the cursor's order must equal `order`).
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: u32,
    /// The user for `read` flags and `unread=true`.
    pub user: Option<UserId>,
}

/// One event in a page, with the requesting user's read flag when a user was given.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    /// The event.
    pub event: Event,
    /// `Some(read)` when the query named a user.
    pub read: Option<bool>,
    /// `Some(seen)` (at or below the user's seen watermark) when the query named a user.
    pub seen: Option<bool>,
    /// `Some(archived)` when the query named a user.
    pub archived: Option<bool>,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// At most `limit` events in the requested order.
    pub items: Vec<FeedItem>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

/// How `stats` groups its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By event type.
    Type,
    /// By `source.system`.
    Source,
    /// By priority.
    Priority,
    /// By `actor.id` (events without actor under the empty key).
    Actor,
    /// By UTC day of `occurred_at`, `YYYY-MM-DD`.
    Day,
    /// By UTC hour of `occurred_at`, `YYYY-MM-DDTHH:00Z`.
    Hour,
}

impl GroupBy {
    /// Parses `type|source|priority|actor|day|hour`.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "type" => Self::Type,
            "source" => Self::Source,
            "priority" => Self::Priority,
            "actor" => Self::Actor,
            "day" => Self::Day,
            "hour" => Self::Hour,
            _ => return Err("must be one of type, source, priority, actor, day, hour".to_owned()),
        })
    }
}

/// A stats request.
#[derive(Debug, Clone, Default)]
pub struct StatsQuery {
    /// `occurred_at >= since`.
    pub since: Option<Timestamp>,
    /// `occurred_at < until`.
    pub until: Option<Timestamp>,
    /// Optional grouping.
    pub group_by: Option<GroupBy>,
    /// A viewer token's scope.
    pub scope: Option<Scope>,
    /// The user whose unread count to include.
    pub user: Option<UserId>,
}

/// One group's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupCount {
    /// The group's key.
    pub key: String,
    /// Events in it.
    pub count: u64,
}

/// Stats over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Events in the window (and scope).
    pub total: u64,
    /// The user's unread count (whole log within scope), when a user was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<u64>,
    /// Counts per group, largest first (time groups in time order), when grouped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupCount>,
}

/// Sent after each successful commit, once per tenant the commit touched: readers of that tenant
/// may have new events up to `head`. A wake-up only; readers re-read the log (SPEC principle 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitNotice {
    /// The tenant whose log grew.
    pub tenant: TenantId,
    /// The tenant's highest position in the commit.
    pub head: Seq,
}

/// What a store announces to live readers after a change is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A tenant's log grew.
    Commit(CommitNotice),
    /// A user's read state changed.
    Read(ReadNotice),
    /// A tenant's events at or below `horizon` were removed: a reader resuming below it has a
    /// gap it cannot fill and must be told to reload.
    Purged {
        /// The tenant whose log shrank.
        tenant: TenantId,
        /// The new horizon.
        horizon: Seq,
    },
    /// A tenant's jobs changed (created, settled, failed, retried): waiting claims look again.
    Work {
        /// The tenant.
        tenant: TenantId,
    },
    /// Notices from other nodes may have been missed (the connection carrying them dropped and
    /// came back): re-read every watched tenant's head, horizon and read state.
    Resync,
}

/// The answer of [`crate::Store::purge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeOutcome {
    /// Events removed.
    pub removed: u64,
    /// The tenant's horizon afterwards: no event at or below it is held any more.
    pub horizon: Seq,
}
