//! The ingest ledger (SPEC section 6): every inbound request, kept with its verdict, the headers
//! that matter, its body up to a size limit, and the events it produced. A request's events and
//! its ledger entry commit in ONE transaction (through the group-commit writer), so an entry
//! never names an event that is not there and an accepted event always has its entry.

use crate::{AppendOutcome, StoreResult};
use async_trait::async_trait;
use serde::Serialize;
use spine_core::channel::Provider;
use spine_core::{IdempotencyKey, NewEvent, TenantId, Timestamp};
use uuid::Uuid;

/// The ledger of inbound requests.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Commits a request's events and its ledger entry together (or, for a replay, the new
    /// events and the entry's updated event list). Answers the verdict and each event's outcome.
    async fn ingest(&self, tenant: &TenantId, ingest: Ingest) -> StoreResult<IngestOutcome>;

    /// A page of the tenant's entries, newest first.
    async fn list_requests(
        &self,
        tenant: &TenantId,
        query: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>>;

    /// One entry with its stored body.
    async fn get_request(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<LedgerEntry>>;

    /// Removes every tenant's entries received before `before` (retention); how many went.
    async fn purge_requests(&self, before: Timestamp) -> StoreResult<u64>;
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Verified and normalized into new events.
    Accepted,
    /// Verified, and every event it carries was delivered before.
    Duplicate,
    /// Not verified: bad or missing signature or key.
    Rejected,
    /// Verified, but its body could not be read into events.
    Failed,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "accepted" => Ok(Self::Accepted),
            "duplicate" => Ok(Self::Duplicate),
            "rejected" => Ok(Self::Rejected),
            "failed" => Ok(Self::Failed),
            _ => Err("must be one of accepted, duplicate, rejected, failed".to_owned()),
        }
    }
}

/// A request to record, as the server judged it before the commit.
#[derive(Debug, Clone)]
pub struct NewLedgerEntry {
    /// Its id, chosen by the caller (delivery keys of id-less providers use it).
    pub id: Uuid,
    /// The channel it came in on.
    pub channel_id: String,
    /// The channel's provider.
    pub provider: Provider,
    /// When it arrived.
    pub received_at: Timestamp,
    /// `Accepted` when it has events to commit (the commit may make it `Duplicate`), else
    /// `Rejected` or `Failed`.
    pub verdict: Verdict,
    /// Why it was rejected or failed (never a secret).
    pub reason: Option<String>,
    /// The provider's delivery id, when it gave one.
    pub delivery_id: Option<String>,
    /// The headers that matter, never a credential.
    pub headers: Vec<(String, String)>,
    /// The body, cut at the size limit.
    pub body: Vec<u8>,
    /// The body's size as received.
    pub body_bytes: u64,
}

/// One event of an ingest, with what to do if its delivery key is taken by different content.
#[derive(Debug, Clone)]
pub struct IngestEvent {
    /// The event, its idempotency key being the delivery key.
    pub event: NewEvent,
    /// For a replay: the key a corrected event is stored under when the delivery key holds
    /// different content (a mapping changed). `None` on receipt: a taken key means the
    /// delivery was seen before, and the stored event stands.
    pub correction_key: Option<IdempotencyKey>,
    /// The job the event becomes when it is created (a channel with `process: true`).
    pub job: Option<spine_core::work::rule::JobSpec>,
}

/// What one ingest commits.
#[derive(Debug, Clone)]
pub enum Ingest {
    /// A request as received: its entry and (when accepted) its events.
    Receipt(NewLedgerEntry, Vec<IngestEvent>),
    /// A replay of entry `id`: new events are added to the ids it already lists.
    Replay {
        /// The entry replayed.
        id: Uuid,
        /// The event ids it lists now.
        previous: Vec<Uuid>,
        /// The events the current normalizer made of it.
        events: Vec<IngestEvent>,
    },
}

impl Ingest {
    /// The events it commits.
    pub fn events(&self) -> &[IngestEvent] {
        match self {
            Ingest::Receipt(_, events) | Ingest::Replay { events, .. } => events,
        }
    }
}

/// What an ingest did.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// The verdict recorded.
    pub verdict: Verdict,
    /// Each event's outcome, in order (a delivery seen before is a `Repeat`).
    pub outcomes: Vec<AppendOutcome>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerQuery {
    /// Only this channel's.
    pub channel: Option<String>,
    /// Only this verdict.
    pub verdict: Option<Verdict>,
    /// Entries older than this one (its receipt time and id), for the next page.
    pub before: Option<(Timestamp, Uuid)>,
    /// At most this many.
    pub limit: usize,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    /// Its id.
    pub id: Uuid,
    /// The channel it came in on.
    pub channel_id: String,
    /// The provider.
    pub provider: Provider,
    /// When it arrived.
    pub received_at: Timestamp,
    /// What became of it.
    pub verdict: Verdict,
    /// Why it was rejected or failed.
    pub reason: Option<String>,
    /// The provider's delivery id.
    pub delivery_id: Option<String>,
    /// The events it produced (or, for a duplicate, the events delivered before).
    pub event_ids: Vec<Uuid>,
    /// The headers that matter.
    pub headers: Vec<(String, String)>,
    /// The stored body (cut at the size limit).
    pub body: Vec<u8>,
    /// The body's size as received.
    pub body_bytes: u64,
}
