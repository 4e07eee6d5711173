//! The work pipeline's storage contracts (SPEC section 7): [`WorkQueue`] (queue rules, jobs
//! created with their events, claims under fencing leases, settlements) and [`Notes`].
//!
//! Every transition that appends an event (claim, complete, fail, retry, a note) goes through
//! the backend's group-commit writer, so a job's status and the `job.*` event recording it
//! commit together with a position; jobs are created by the same commit as their source event.

use crate::StoreResult;
use async_trait::async_trait;
use serde_json::Value;
use spine_core::note::{NewNote, Note};
use spine_core::work::job::Job;
use spine_core::work::rule::QueueRule;
use spine_core::work::{JobStatus, LeaseError};
use spine_core::{Actor, Event, Seq, TenantId, Timestamp};
use uuid::Uuid;

/// A claim, as the writer runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The queue.
    pub queue: String,
    /// The most jobs to hand out.
    pub limit: u32,
    /// The lease length, microseconds.
    pub lease_micros: i64,
    /// The worker's name (the claim's, else the key's).
    pub worker: String,
}

/// A job with the event it processes (`None` once retention removed that event).
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// The job.
    pub job: Job,
    /// Its source event.
    pub event: Option<Event>,
    /// Whether this claim took the job from a holder whose lease had expired (a steal): set in
    /// a claim's answer only.
    pub stolen: bool,
}

/// How a job is settled or revived.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// Done, by the holder of `lease`, with an optional result and note.
    Complete {
        /// The lease number the token names.
        lease: u64,
        /// What the work produced.
        result: Option<Value>,
        /// A note written on the job's entity in the same commit.
        note: Option<Box<NewNote>>,
    },
    /// Failed by the holder of `lease`: retried after `retry_micros`, or after the default
    /// backoff computed with `jitter` (a uniform sample in `[0, 1)`); dead after its last attempt.
    Fail {
        /// The lease number the token names.
        lease: u64,
        /// What went wrong.
        error: String,
        /// An explicit delay.
        retry_micros: Option<i64>,
        /// The backoff's random part.
        jitter: f64,
    },
    /// A dead or failed job back to pending (an admin's `retry`), by `actor`.
    Retry {
        /// Who retried it.
        actor: Actor,
    },
}

/// Why a settlement changed nothing (the API answers 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The lease token is not the current, unexpired lease.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// Only dead or failed jobs are retried.
    #[error("only dead or failed jobs can be retried; this one is {}", .0.as_str())]
    NotRetryable(JobStatus),
}

/// The filters of `GET /v1/work`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs with this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this queue.
    pub queue: Option<String>,
    /// Only jobs of this entity type.
    pub entity_type: Option<String>,
    /// Only jobs of this entity id.
    pub entity_id: Option<String>,
    /// Only jobs of these events (none: any event).
    pub event_ids: Vec<Uuid>,
    /// Only jobs created before this one (newest first keyset).
    pub before: Option<Uuid>,
    /// Page size.
    pub limit: u32,
}

/// Jobs of one queue in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueCount {
    /// The queue.
    pub queue: String,
    /// The status.
    pub status: JobStatus,
    /// How many jobs.
    pub jobs: u64,
}

/// Queue rules, jobs, claims and settlements.
#[async_trait]
pub trait WorkQueue {
    /// Creates or replaces a rule.
    async fn put_rule(&self, tenant: &TenantId, rule: &QueueRule) -> StoreResult<()>;

    /// The tenant's rules, by name (an unreadable stored rule is skipped and logged).
    async fn list_rules(&self, tenant: &TenantId) -> StoreResult<Vec<QueueRule>>;

    /// Removes a rule; `false` when there was none.
    async fn delete_rule(&self, tenant: &TenantId, name: &str) -> StoreResult<bool>;

    /// Claims up to `limit` claimable jobs of the queue (pending or failed and due, or
    /// processing with an expired lease), oldest source event first, skipping jobs of an
    /// ordered entity while an earlier job of it is unsettled. Each claimed job gets a new lease
    /// and a `job.processing` event, in one commit.
    async fn claim(&self, tenant: &TenantId, claim: ClaimRequest) -> StoreResult<Vec<JobRecord>>;

    /// Extends the holder's lease to `now + lease_micros`; `StoreError::NotFound` when the job
    /// is not in this tenant.
    async fn heartbeat(
        &self,
        tenant: &TenantId,
        job: Uuid,
        lease: u64,
        lease_micros: i64,
    ) -> StoreResult<Result<Job, SettleError>>;

    /// Completes, fails or retries a job with its transition event (and note) in one commit;
    /// a refusal changes nothing. `StoreError::NotFound` when the job is not in this tenant.
    async fn settle(
        &self,
        tenant: &TenantId,
        job: Uuid,
        settle: Settle,
    ) -> StoreResult<Result<JobRecord, SettleError>>;

    /// One job.
    async fn get_job(&self, tenant: &TenantId, job: Uuid) -> StoreResult<Option<JobRecord>>;

    /// Jobs newest first.
    async fn list_jobs(&self, tenant: &TenantId, query: &JobQuery) -> StoreResult<Vec<JobRecord>>;

    /// The jobs of these events (for status badges), without their events.
    async fn jobs_of_events(&self, tenant: &TenantId, events: &[Uuid]) -> StoreResult<Vec<Job>>;

    /// Job counts by queue and status.
    async fn queue_counts(&self, tenant: &TenantId) -> StoreResult<Vec<QueueCount>>;

    /// Job counts by queue and status over every tenant (for metrics).
    async fn all_queue_counts(&self) -> StoreResult<Vec<QueueCount>>;

    /// When the queue's next job becomes claimable (`<= now` when one is claimable now), by
    /// the same rules as [`WorkQueue::claim`]; `None` when nothing will be without a change.
    async fn next_due(&self, tenant: &TenantId, queue: &str) -> StoreResult<Option<Timestamp>>;
}

/// Notes on entities.
#[async_trait]
pub trait Notes {
    /// Stores a note with its `note.created` event in one commit.
    async fn add_note(&self, tenant: &TenantId, note: NewNote) -> StoreResult<Note>;

    /// One note.
    async fn get_note(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<Note>>;

    /// An entity's notes, newest first, before position `before`.
    async fn list_notes(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Note>>;
}
