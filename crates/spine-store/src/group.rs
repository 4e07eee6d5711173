//! Group commit, shared by the backends (SPEC principle 5): the writer task that gathers
//! concurrent appends and imports into one transaction, and the [`Plan`] of one such
//! transaction (positions, idempotency judgement, summaries, the rows to insert). A backend
//! supplies only what speaks SQL: a [`Committer`] that opens the transaction, loads what the plan
//! needs ([`Plan::know`], [`Plan::take_id`], [`Plan::add_type`]), inserts [`Plan::rows`] and
//! commits.

use crate::ledger::{Ingest, IngestEvent, IngestOutcome, LedgerEntry, Verdict};
use crate::work::{ClaimRequest, JobRecord, Settle, SettleError};
use crate::{AppendOutcome, CommitNotice, ImportOutcome, Notice, StoreError, StoreResult};
use async_trait::async_trait;
use spine_core::note::{NewNote, Note};
use spine_core::summary::summarize;
use spine_core::work::job::{transition_event, worker_actor, Job};
use spine_core::work::rule::{JobSpec, QueueRule};
use spine_core::work::{Backoff, JobStatus};
use spine_core::{Event, EventType, IdempotencyKey, NewEvent, Seq, TenantId, Timestamp, TypeInfo};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use uuid::Uuid;

/// The events of one request, separated from its reply so the commit can consume them.
pub enum Work {
    /// New events from the API.
    Append(TenantId, Vec<NewEvent>),
    /// Exported events, keeping their ids and times.
    Import(TenantId, Vec<Event>),
    /// An inbound request's events with its ledger entry (or a replay's).
    Ingest(TenantId, Box<Ingest>),
    /// A worker's claim: jobs leased with their `job.processing` events.
    Claim(TenantId, ClaimRequest),
    /// A job settled or revived, with its transition event.
    Settle(TenantId, Uuid, Box<Settle>),
    /// A note with its `note.created` event.
    Note(TenantId, Box<NewNote>),
}

impl Work {
    /// The tenant written to.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Work::Append(t, _)
            | Work::Import(t, _)
            | Work::Ingest(t, _)
            | Work::Claim(t, _)
            | Work::Settle(t, ..)
            | Work::Note(t, _) => t,
        }
    }

    /// The idempotency keys the request uses.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Work::Append(_, events) => events
                .iter()
                .filter_map(|e| e.idempotency_key.as_ref().map(|k| k.as_str()))
                .collect(),
            Work::Import(_, events) => events
                .iter()
                .filter_map(|e| e.idempotency_key.as_ref().map(|k| k.as_str()))
                .collect(),
            Work::Ingest(_, ingest) => ingest
                .events()
                .iter()
                .flat_map(|e| [e.event.idempotency_key.as_ref(), e.correction_key.as_ref()])
                .flatten()
                .map(IdempotencyKey::as_str)
                .collect(),
            Work::Claim(..) | Work::Settle(..) | Work::Note(..) => Vec::new(),
        }
    }

    /// Whether new events of this request may become jobs (so the tenant's rules are needed).
    pub fn creates_events_for_rules(&self) -> bool {
        matches!(self, Work::Append(..) | Work::Ingest(..) | Work::Note(..))
    }

    /// The ids of imported events (appends get fresh ids).
    pub fn imported_ids(&self) -> Vec<Uuid> {
        match self {
            Work::Import(_, events) => events.iter().map(|e| e.id).collect(),
            _ => Vec::new(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Work::Append(_, events) => events.len(),
            Work::Import(_, events) => events.len(),
            // The ledger row counts as one.
            Work::Ingest(_, ingest) => ingest.events().len() + 1,
            Work::Claim(_, claim) => claim.limit as usize,
            Work::Settle(..) | Work::Note(..) => 1,
        }
    }
}

/// A settlement's answer: the job, a refusal, or `None` when the job is not in the tenant.
pub type Settled = Option<Result<Box<JobRecord>, SettleError>>;

/// A committed request's answer.
pub enum Done {
    /// One outcome per appended event.
    Append(Vec<AppendOutcome>),
    /// The import's counts.
    Import(ImportOutcome),
    /// The ingest's verdict and outcomes.
    Ingest(IngestOutcome),
    /// The jobs claimed.
    Claim(Vec<JobRecord>),
    /// The settled job, a refusal, or `None` when the job is not in the tenant.
    Settle(Settled),
    /// The stored note.
    Note(Box<Note>),
}

/// One group commit in a backend: everything in `works` in ONE transaction, answering each
/// request's result (in order) and the notices to announce ([`Plan::notices`]).
#[async_trait]
pub trait Committer: Send + 'static {
    /// Commits every request or none.
    async fn commit(&mut self, works: Vec<Work>) -> StoreResult<(Vec<Done>, Vec<Notice>)>;

    /// After a failed commit: replace a broken connection, if the backend holds one.
    async fn recover(&mut self) {}

    /// Releases what the committer holds when the writer stops.
    async fn close(&mut self) {}
}

/// Where a plan's positions come from.
pub enum Positions {
    /// One counter for the whole database: the last position handed out (SQLite).
    Global(i64),
    /// One counter per tenant: each tenant's last position, read under the tenant's lock
    /// (PostgreSQL).
    PerTenant(BTreeMap<TenantId, i64>),
}

/// An event stored under an idempotency key, before or earlier in this batch.
struct Known {
    event: Event,
    fingerprint: Option<String>,
}

/// A row to insert.
pub struct Row {
    /// The committed event.
    pub event: Event,
    /// Its idempotency fingerprint, when it has a key.
    pub fingerprint: Option<String>,
    /// The event as JSON.
    pub body: String,
}

/// The state of one group commit: what is known before it (stored keys, taken ids, registered
/// types, loaded by the backend) and what it decides (positions, outcomes, rows).
pub struct Plan {
    positions: Positions,
    received_at: Timestamp,
    /// By (tenant, key): what a repeat is judged against.
    known: HashMap<(TenantId, String), Known>,
    /// Registered types of the batch's tenants.
    types: HashMap<TenantId, HashMap<EventType, Option<TypeInfo>>>,
    /// Ids already stored, or taken earlier in this batch (imports skip them).
    taken_ids: HashSet<Uuid>,
    rows: Vec<Row>,
    ledger: Vec<LedgerRow>,
    /// Queue rules of the batch's tenants.
    rules: HashMap<TenantId, Vec<QueueRule>>,
    /// Jobs loaded for this commit (claim candidates and settled jobs), with their events,
    /// updated in place as the plan moves them.
    jobs: HashMap<Uuid, (Job, Option<Event>)>,
    /// Claim candidates by tenant and queue, oldest source event first.
    offers: HashMap<(TenantId, String), Vec<Uuid>>,
    /// New jobs to insert.
    new_jobs: Vec<Job>,
    /// Loaded jobs the plan changed, in first-change order.
    changed_jobs: Vec<Uuid>,
    /// Notes to insert.
    notes: Vec<(TenantId, Note)>,
    /// Tenants whose jobs changed.
    work_tenants: HashSet<TenantId>,
}

/// A ledger write of the plan, committed with its events.
#[derive(Debug, Clone)]
pub enum LedgerRow {
    /// A new entry, with its final verdict and event ids.
    Insert(TenantId, LedgerEntry),
    /// A replayed entry's new event list, and its verdict when the replay produced events.
    Update {
        /// The tenant.
        tenant: TenantId,
        /// The entry.
        id: Uuid,
        /// Every event it produced, first receipt and replays.
        event_ids: Vec<Uuid>,
        /// `Accepted` when the replay created events (a `failed` entry fixed by a new mapping).
        verdict: Option<Verdict>,
    },
}

impl Plan {
    /// An empty plan handing out positions after `positions`, with this receipt time.
    pub fn new(positions: Positions, received_at: Timestamp) -> Self {
        Self {
            positions,
            received_at,
            known: HashMap::new(),
            types: HashMap::new(),
            taken_ids: HashSet::new(),
            rows: Vec::new(),
            ledger: Vec::new(),
            rules: HashMap::new(),
            jobs: HashMap::new(),
            offers: HashMap::new(),
            new_jobs: Vec::new(),
            changed_jobs: Vec::new(),
            notes: Vec::new(),
            work_tenants: HashSet::new(),
        }
    }

    /// The commit's time: events' `received_at`, and the `now` of leases.
    pub fn received_at(&self) -> Timestamp {
        self.received_at
    }

    /// The tenant's queue rules (new events matching one become its jobs).
    pub fn add_rules(&mut self, tenant: TenantId, rules: Vec<QueueRule>) {
        self.rules.insert(tenant, rules);
    }

    /// A claimable job of `queue`, loaded (and locked) by the backend; offer them oldest first.
    pub fn offer(&mut self, queue: &str, job: Job, event: Option<Event>) {
        let key = (job.tenant.clone(), queue.to_owned());
        self.offers.entry(key).or_default().push(job.id);
        self.jobs.entry(job.id).or_insert((job, event));
    }

    /// A job a settlement names, loaded (and locked) by the backend.
    pub fn load_job(&mut self, job: Job, event: Option<Event>) {
        self.jobs.entry(job.id).or_insert((job, event));
    }

    /// A stored event under `key` in `tenant`: later events with that key are judged against it.
    pub fn know(
        &mut self,
        tenant: &TenantId,
        key: String,
        event: Event,
        fingerprint: Option<String>,
    ) {
        self.known.insert((tenant.clone(), key), Known { event, fingerprint });
    }

    /// An id already stored (an import carrying it is skipped).
    pub fn take_id(&mut self, id: Uuid) {
        self.taken_ids.insert(id);
    }

    /// A registered type; `None` when its registration is unreadable (default summaries).
    pub fn add_type(&mut self, tenant: TenantId, event_type: EventType, info: Option<TypeInfo>) {
        self.types.entry(tenant).or_default().insert(event_type, info);
    }

    /// Judges or places every event of `works`, in order; the answers, one per request.
    pub fn apply(&mut self, works: Vec<Work>) -> Result<Vec<Done>, serde_json::Error> {
        let mut done = Vec::with_capacity(works.len());
        for work in works {
            done.push(match work {
                Work::Append(tenant, events) => {
                    let mut outcomes = Vec::with_capacity(events.len());
                    for event in events {
                        outcomes.push(self.append(&tenant, event)?);
                    }
                    Done::Append(outcomes)
                }
                Work::Import(tenant, events) => {
                    let mut outcome = ImportOutcome::default();
                    for event in events {
                        if self.import(&tenant, event)? {
                            outcome.inserted += 1;
                        } else {
                            outcome.skipped += 1;
                        }
                    }
                    Done::Import(outcome)
                }
                Work::Ingest(tenant, ingest) => Done::Ingest(self.ingest(&tenant, *ingest)?),
                Work::Claim(tenant, claim) => Done::Claim(self.claim(&tenant, claim)?),
                Work::Settle(tenant, id, settle) => {
                    Done::Settle(self.settle(&tenant, id, *settle)?)
                }
                Work::Note(tenant, note) => Done::Note(Box::new(self.note(&tenant, *note)?)),
            });
        }
        Ok(done)
    }

    /// The rows to insert, in position order per tenant.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The ledger writes, in request order.
    pub fn ledger(&self) -> &[LedgerRow] {
        &self.ledger
    }

    /// New jobs to insert.
    pub fn new_jobs(&self) -> &[Job] {
        &self.new_jobs
    }

    /// Loaded jobs in their new state, to update.
    pub fn changed_jobs(&self) -> impl Iterator<Item = &Job> {
        self.changed_jobs.iter().filter_map(|id| self.jobs.get(id).map(|(job, _)| job))
    }

    /// Notes to insert.
    pub fn notes(&self) -> &[(TenantId, Note)] {
        &self.notes
    }

    /// What to announce after the commit: each written tenant's head, and a work notice per
    /// tenant whose jobs changed.
    pub fn notices(&self) -> Vec<Notice> {
        let mut notices: Vec<Notice> = self.heads().into_iter().map(Notice::Commit).collect();
        notices.extend(self.work_tenants.iter().map(|t| Notice::Work { tenant: t.clone() }));
        notices
    }

    /// Hands out up to `limit` offered jobs of the queue under new leases.
    fn claim(
        &mut self,
        tenant: &TenantId,
        claim: ClaimRequest,
    ) -> Result<Vec<JobRecord>, serde_json::Error> {
        let now = self.received_at.as_micros();
        let offered =
            self.offers.remove(&(tenant.clone(), claim.queue.clone())).unwrap_or_default();
        let mut claimed = Vec::new();
        let mut left = Vec::new();
        for id in offered {
            if claimed.len() >= claim.limit as usize {
                left.push(id);
                continue;
            }
            let Some((job, event)) = self.jobs.get(&id).cloned() else { continue };
            let from = job.state.status;
            if let Some(state) = job.state.abandon(now) {
                self.abandon(Job { state, ..job }, event)?;
                continue;
            }
            let Some(state) = job.state.claim(now, claim.lease_micros) else { continue };
            let job = Job {
                state,
                worker: Some(claim.worker.clone()),
                updated_at: self.received_at,
                ..job
            };
            self.transition(&job, event.as_ref(), from, worker_actor(Some(&claim.worker)))?;
            self.put_job(job.clone(), event.clone());
            let stolen = from == JobStatus::Processing;
            claimed.push(JobRecord { job, event, stolen });
        }
        if !left.is_empty() {
            self.offers.insert((tenant.clone(), claim.queue), left);
        }
        Ok(claimed)
    }

    /// Records a job whose lease expired on its last attempt as `dead` (see
    /// [`spine_core::work::JobState::abandon`]), with a `job.dead` event by Spine itself.
    fn abandon(&mut self, job: Job, event: Option<Event>) -> Result<(), serde_json::Error> {
        let holder = job.worker.as_deref().map_or(String::new(), |w| format!(" ({w})"));
        let error = format!(
            "the lease of attempt {} expired: its worker{holder} stopped without settling it",
            job.state.attempt
        );
        let job = Job { last_error: Some(error), updated_at: self.received_at, ..job };
        let spine = spine_core::Actor {
            id: "spine".to_owned(),
            name: None,
            kind: Some(spine_core::ActorKind::System),
        };
        self.transition(&job, event.as_ref(), JobStatus::Processing, spine)?;
        self.put_job(job, event);
        Ok(())
    }

    /// Completes, fails or retries a loaded job.
    fn settle(
        &mut self,
        tenant: &TenantId,
        id: Uuid,
        settle: Settle,
    ) -> Result<Settled, serde_json::Error> {
        let Some((job, event)) = self.jobs.get(&id).cloned() else { return Ok(None) };
        if &job.tenant != tenant {
            return Ok(None);
        }
        let now = self.received_at.as_micros();
        let from = job.state.status;
        let (job, actor, note) = match settle {
            Settle::Complete { lease, result, note } => {
                let state = match job.state.complete(lease, now) {
                    Ok(state) => state,
                    Err(e) => return Ok(Some(Err(e.into()))),
                };
                let actor = worker_actor(job.worker.as_deref());
                (Job { state, result, ..job }, actor, note)
            }
            Settle::Fail { lease, error, retry_micros, jitter } => {
                let delay = retry_micros
                    .unwrap_or_else(|| Backoff::default().delay_micros(job.state.attempt, jitter));
                let state = match job.state.fail(lease, now, delay) {
                    Ok(state) => state,
                    Err(e) => return Ok(Some(Err(e.into()))),
                };
                let actor = worker_actor(job.worker.as_deref());
                (Job { state, last_error: Some(error), ..job }, actor, None)
            }
            Settle::Retry { actor } => {
                let Some(state) = job.state.retry(now) else {
                    return Ok(Some(Err(SettleError::NotRetryable(from))));
                };
                (Job { state, ..job }, actor, None)
            }
        };
        let job = Job { updated_at: self.received_at, ..job };
        self.transition(&job, event.as_ref(), from, actor)?;
        if let Some(mut note) = note.map(|n| *n) {
            note.job_id = Some(job.id);
            self.note(tenant, note)?;
        }
        self.put_job(job.clone(), event.clone());
        Ok(Some(Ok(Box::new(JobRecord { job, event, stolen: false }))))
    }

    /// Appends a job's transition event, when its source event is still there.
    fn transition(
        &mut self,
        job: &Job,
        source: Option<&Event>,
        from: JobStatus,
        actor: spine_core::Actor,
    ) -> Result<(), serde_json::Error> {
        self.work_tenants.insert(job.tenant.clone());
        if let Some(source) = source {
            self.append(&job.tenant, transition_event(job, source, from, actor))?;
        }
        Ok(())
    }

    fn put_job(&mut self, job: Job, event: Option<Event>) {
        if !self.changed_jobs.contains(&job.id) {
            self.changed_jobs.push(job.id);
        }
        self.jobs.insert(job.id, (job, event));
    }

    /// Places a note and its `note.created` event.
    fn note(&mut self, tenant: &TenantId, note: NewNote) -> Result<Note, serde_json::Error> {
        let event = match self.append(tenant, note.event())? {
            AppendOutcome::Created(event) => event,
            // The event has no idempotency key, so it is always created.
            other => other.event().clone(),
        };
        let note =
            Note { note, seq: event.seq, created_at: event.received_at, superseded_by: None };
        self.notes.push((tenant.clone(), note.clone()));
        Ok(note)
    }

    /// The jobs a just-created event becomes: the channel's, and one per matching rule's queue.
    fn create_jobs(&mut self, event: &Event, channel: Option<&JobSpec>) {
        let mut specs: Vec<JobSpec> = channel.cloned().into_iter().collect();
        if let Some(rules) = self.rules.get(&event.tenant) {
            for rule in rules.iter().filter(|r| r.matches(event)) {
                if !specs.iter().any(|s| s.queue == rule.spec.queue) {
                    specs.push(rule.spec.clone());
                }
            }
        }
        for spec in specs {
            self.new_jobs.push(Job::new(&spec, event, self.received_at));
            self.work_tenants.insert(event.tenant.clone());
        }
    }

    /// Judges or places an ingest's events and decides its ledger write.
    fn ingest(
        &mut self,
        tenant: &TenantId,
        ingest: Ingest,
    ) -> Result<IngestOutcome, serde_json::Error> {
        match ingest {
            Ingest::Receipt(entry, events) => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    outcomes.push(self.ingest_event(tenant, event)?);
                }
                let verdict = match entry.verdict {
                    Verdict::Accepted
                        if !outcomes.is_empty()
                            && outcomes.iter().all(|o| !matches!(o, AppendOutcome::Created(_))) =>
                    {
                        Verdict::Duplicate
                    }
                    verdict => verdict,
                };
                let event_ids = outcomes.iter().map(|o| o.event().id).collect();
                let entry = LedgerEntry {
                    id: entry.id,
                    channel_id: entry.channel_id,
                    provider: entry.provider,
                    received_at: entry.received_at,
                    verdict,
                    reason: entry.reason,
                    delivery_id: entry.delivery_id,
                    event_ids,
                    headers: entry.headers,
                    body: entry.body,
                    body_bytes: entry.body_bytes,
                };
                self.ledger.push(LedgerRow::Insert(tenant.clone(), entry));
                Ok(IngestOutcome { verdict, outcomes })
            }
            Ingest::Replay { id, previous, events } => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    outcomes.push(self.ingest_event(tenant, event)?);
                }
                let created = outcomes.iter().any(|o| matches!(o, AppendOutcome::Created(_)));
                let mut event_ids = previous;
                for outcome in &outcomes {
                    if !event_ids.contains(&outcome.event().id) {
                        event_ids.push(outcome.event().id);
                    }
                }
                let verdict = created.then_some(Verdict::Accepted);
                self.ledger.push(LedgerRow::Update {
                    tenant: tenant.clone(),
                    id,
                    event_ids,
                    verdict,
                });
                let verdict = if created { Verdict::Accepted } else { Verdict::Duplicate };
                Ok(IngestOutcome { verdict, outcomes })
            }
        }
    }

    /// One ingested event: placed, or a repeat of the delivery seen before. A taken delivery key
    /// with different content is the same delivery read differently (a redelivery after a
    /// mapping change): on receipt the stored event stands; a replay stores the corrected
    /// event under its correction key.
    fn ingest_event(
        &mut self,
        tenant: &TenantId,
        ingest: IngestEvent,
    ) -> Result<AppendOutcome, serde_json::Error> {
        let IngestEvent { event, correction_key, job } = ingest;
        let outcome = self.append(tenant, event.clone())?;
        let outcome = match (outcome, correction_key) {
            (AppendOutcome::Conflict { existing, .. }, None) => AppendOutcome::Repeat(existing),
            (AppendOutcome::Conflict { .. }, Some(key)) => {
                let corrected = NewEvent { idempotency_key: Some(key), ..event };
                match self.append(tenant, corrected)? {
                    AppendOutcome::Conflict { existing, .. } => AppendOutcome::Repeat(existing),
                    other => other,
                }
            }
            (outcome, _) => outcome,
        };
        if let (AppendOutcome::Created(event), Some(job)) = (&outcome, &job) {
            // Rules already ran for it in `append`; the channel's job joins them.
            if !self.new_jobs.iter().any(|j| j.event_id == event.id && j.queue == job.queue) {
                self.new_jobs.push(Job::new(job, event, self.received_at));
                self.work_tenants.insert(event.tenant.clone());
            }
        }
        Ok(outcome)
    }

    /// The positions after this plan (to store back in the counter rows).
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// Each written tenant's highest position in this plan.
    pub fn heads(&self) -> Vec<CommitNotice> {
        let mut heads: HashMap<&TenantId, Seq> = HashMap::new();
        for row in &self.rows {
            let head = heads.entry(&row.event.tenant).or_insert(row.event.seq);
            *head = (*head).max(row.event.seq);
        }
        heads
            .into_iter()
            .map(|(tenant, head)| CommitNotice { tenant: tenant.clone(), head })
            .collect()
    }

    /// The summary of a committed event, with its type's registration.
    fn summary(&self, event: &Event) -> String {
        let info = self.types.get(&event.tenant).and_then(|types| types.get(&event.event_type));
        summarize(event, info.and_then(Option::as_ref))
    }

    fn take_seq(&mut self, tenant: &TenantId) -> Seq {
        let last = match &mut self.positions {
            Positions::Global(last) => last,
            Positions::PerTenant(heads) => heads.entry(tenant.clone()).or_insert(0),
        };
        *last += 1;
        Seq(*last)
    }

    /// Judges one new event against its key, or places it.
    fn append(
        &mut self,
        tenant: &TenantId,
        new: NewEvent,
    ) -> Result<AppendOutcome, serde_json::Error> {
        let fingerprint = new.idempotency_key.as_ref().map(|_| new.fingerprint());
        if let (Some(key), Some(fingerprint)) = (&new.idempotency_key, &fingerprint) {
            if let Some(known) = self.known.get(&(tenant.clone(), key.as_str().to_owned())) {
                return Ok(judge(&new, fingerprint, known));
            }
        }
        let seq = self.take_seq(tenant);
        let mut event = new.commit(tenant.clone(), seq, self.received_at, String::new());
        event.summary = self.summary(&event);
        self.taken_ids.insert(event.id);
        self.push(event.clone(), fingerprint)?;
        self.create_jobs(&event, None);
        Ok(AppendOutcome::Created(event))
    }

    /// Places one exported event under a new position; `false` when skipped because its id (or
    /// its idempotency key in this tenant) is already taken.
    fn import(&mut self, tenant: &TenantId, mut event: Event) -> Result<bool, serde_json::Error> {
        let key_taken = event
            .idempotency_key
            .as_ref()
            .is_some_and(|k| self.known.contains_key(&(tenant.clone(), k.as_str().to_owned())));
        if key_taken || !self.taken_ids.insert(event.id) {
            return Ok(false);
        }
        event.tenant = tenant.clone();
        event.seq = self.take_seq(tenant);
        let fingerprint =
            event.idempotency_key.as_ref().map(|_| as_new_event(&event).fingerprint());
        self.push(event, fingerprint)?;
        Ok(true)
    }

    fn push(&mut self, event: Event, fingerprint: Option<String>) -> Result<(), serde_json::Error> {
        let body = serde_json::to_string(&event)?;
        if let Some(key) = &event.idempotency_key {
            let known = Known { event: event.clone(), fingerprint: fingerprint.clone() };
            self.known.insert((event.tenant.clone(), key.as_str().to_owned()), known);
        }
        self.rows.push(Row { event, fingerprint, body });
        Ok(())
    }
}

/// Repeat or conflict for a new event whose key is already taken. The fingerprint recognises a
/// repeat cheaply; a client-given `occurred_at` is not part of it, so it is compared apart.
fn judge(new: &NewEvent, fingerprint: &str, known: &Known) -> AppendOutcome {
    let same_time = new.occurred_at.is_none_or(|at| at == known.event.occurred_at);
    if same_time && known.fingerprint.as_deref() == Some(fingerprint) {
        return AppendOutcome::Repeat(known.event.clone());
    }
    let fields = new.differing_fields(&known.event);
    if fields.is_empty() {
        AppendOutcome::Repeat(known.event.clone())
    } else {
        AppendOutcome::Conflict { existing: known.event.clone(), fields }
    }
}

/// The client-decided part of a stored event, to fingerprint imported events like new ones.
fn as_new_event(e: &Event) -> NewEvent {
    NewEvent {
        id: e.id,
        event_type: e.event_type.clone(),
        action: e.action,
        source: e.source.clone(),
        actor: e.actor.clone(),
        entity: e.entity.clone(),
        title: e.title.clone(),
        description: e.description.clone(),
        data: e.data.clone(),
        changes: e.changes.clone(),
        priority: e.priority,
        tags: e.tags.clone(),
        correlation_id: e.correlation_id.clone(),
        causation_id: e.causation_id.clone(),
        occurred_at: Some(e.occurred_at),
        expires_at: e.expires_at,
        idempotency_key: e.idempotency_key.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The writer task

/// Requests that may wait for the writer; more are refused as unavailable for now.
const QUEUE_DEPTH: usize = 8192;
/// Events that may wait for the writer; more are refused as unavailable for now (a client
/// told to retry later instead of a queue, and its memory, growing without bound).
const QUEUED_EVENTS: usize = 200_000;
/// Notices a lagging receiver may fall behind by before it loses some (it then re-reads).
const NOTICE_DEPTH: usize = 1024;
/// How many times the writer yields to the runtime for more requests before committing, when
/// the previous commit served several callers: callers answered by one commit need a moment to
/// send their next request, and without it they land in a small commit of their own, which
/// costs a whole flush for a handful of events. Yields rather than a timed wait: a durable
/// commit on this machine's disk costs about 0.15 ms, and the runtime's timers tick in whole
/// milliseconds, so the 1 ms sleep this replaced cost HTTP single-event ingest a third of its
/// rate (13.1k -> 19.5k events/s, BENCHMARKS.md).
const LINGER_YIELDS: usize = 8;

/// What the writer is asked to do.
enum Request {
    /// Work, where its answer goes, and its place in the queue (given back when it is taken).
    Work(Work, Reply, OwnedSemaphorePermit),
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Where a request's answer goes.
enum Reply {
    Append(oneshot::Sender<StoreResult<Vec<AppendOutcome>>>),
    Import(oneshot::Sender<StoreResult<ImportOutcome>>),
    Ingest(oneshot::Sender<StoreResult<IngestOutcome>>),
    Claim(oneshot::Sender<StoreResult<Vec<JobRecord>>>),
    Settle(oneshot::Sender<StoreResult<Settled>>),
    Note(oneshot::Sender<StoreResult<Box<Note>>>),
}

/// Sends a writer's answer to a caller expecting `$variant`.
macro_rules! answer {
    ($tx:expr, $result:expr, $variant:ident, $mismatch:expr) => {{
        // A caller that stopped waiting has dropped its receiver; its work is committed anyway.
        let _ = $tx.send(match $result {
            Ok(Done::$variant(value)) => Ok(value),
            Ok(_) => Err($mismatch()),
            Err(e) => Err(e),
        });
    }};
}

impl Reply {
    fn send(self, result: StoreResult<Done>) {
        let mismatch = || StoreError::Other("writer answered the wrong kind of request".into());
        match self {
            Reply::Append(tx) => answer!(tx, result, Append, mismatch),
            Reply::Import(tx) => answer!(tx, result, Import, mismatch),
            Reply::Ingest(tx) => answer!(tx, result, Ingest, mismatch),
            Reply::Claim(tx) => answer!(tx, result, Claim, mismatch),
            Reply::Settle(tx) => answer!(tx, result, Settle, mismatch),
            Reply::Note(tx) => answer!(tx, result, Note, mismatch),
        }
    }
}

/// The same failure for another waiting caller (errors are not `Clone`: the text is kept).
fn again(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Other(inner) => StoreError::Other(inner.to_string().into()),
    }
}

fn queue_full() -> StoreError {
    metrics::counter!("spine_write_queue_full_total").increment(1);
    StoreError::Unavailable("the write queue is full; retry shortly".to_owned())
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

/// The sending side of a store's writer task; cheap to clone. `append` and `import` send their
/// events through a channel with a oneshot reply; the task drains every queued request (up to
/// `max_batch_events`), hands them to the [`Committer`] as one transaction, and only then
/// answers. If the transaction fails, every request in it gets the error and nothing is written.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Request>,
    /// One permit per event that may wait in the queue.
    places: Arc<Semaphore>,
    /// How many there are.
    queue_limit: usize,
    /// Where the store announces commits (per tenant), read-state changes and purges.
    notices: broadcast::Sender<Notice>,
}

impl WriterHandle {
    /// Starts the writer task over `committer`.
    pub fn spawn(committer: impl Committer, max_batch_events: usize) -> Self {
        Self::spawn_bounded(committer, max_batch_events, QUEUED_EVENTS)
    }

    /// [`WriterHandle::spawn`] with at most `queued_events` events waiting.
    pub fn spawn_bounded(
        committer: impl Committer,
        max_batch_events: usize,
        queued_events: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let (notices, _) = broadcast::channel(NOTICE_DEPTH);
        tokio::spawn(run(Box::new(committer), rx, notices.clone(), max_batch_events));
        let queue_limit = queued_events.max(1);
        Self { tx, places: Arc::new(Semaphore::new(queue_limit)), queue_limit, notices }
    }

    /// Queues `work` for the writer, or refuses it as unavailable for now when the queue is
    /// full (a single request larger than the whole queue needs an empty one).
    fn submit(&self, work: Work, reply: Reply) -> StoreResult<()> {
        let size = work.len().clamp(1, self.queue_limit);
        let places = u32::try_from(size).unwrap_or(u32::MAX);
        let place = self.places.clone().try_acquire_many_owned(places).map_err(|e| match e {
            TryAcquireError::Closed => writer_gone(),
            TryAcquireError::NoPermits => queue_full(),
        })?;
        self.tx.try_send(Request::Work(work, reply, place)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => queue_full(),
            mpsc::error::TrySendError::Closed(_) => writer_gone(),
        })
    }

    /// A new receiver of notices.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Announces a change committed outside the writer (read state, purges).
    pub fn announce(&self, notice: Notice) {
        // Without receivers `send` fails; nobody is listening, so that is fine.
        let _ = self.notices.send(notice);
    }

    /// Appends and waits for the commit.
    pub async fn append(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<AppendOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Append(tenant, events), Reply::Append(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Imports and waits for the commit.
    pub async fn import(&self, tenant: TenantId, events: Vec<Event>) -> StoreResult<ImportOutcome> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Import(tenant, events), Reply::Import(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Commits an inbound request's events with its ledger entry and waits for the commit.
    pub async fn ingest(&self, tenant: TenantId, ingest: Ingest) -> StoreResult<IngestOutcome> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Ingest(tenant, Box::new(ingest)), Reply::Ingest(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Claims jobs and waits for the commit.
    pub async fn claim(
        &self,
        tenant: TenantId,
        claim: ClaimRequest,
    ) -> StoreResult<Vec<JobRecord>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Claim(tenant, claim), Reply::Claim(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Settles a job and waits for the commit.
    pub async fn settle(&self, tenant: TenantId, id: Uuid, settle: Settle) -> StoreResult<Settled> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Settle(tenant, id, Box::new(settle)), Reply::Settle(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Stores a note and waits for the commit.
    pub async fn note(&self, tenant: TenantId, note: NewNote) -> StoreResult<Box<Note>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Note(tenant, Box::new(note)), Reply::Note(reply))?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Lets the writer commit everything queued before this call, then stops it.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Request::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(
    mut committer: Box<dyn Committer>,
    mut rx: mpsc::Receiver<Request>,
    notices: broadcast::Sender<Notice>,
    max_batch_events: usize,
) {
    let mut stop = None;
    let mut concurrent = false;
    while stop.is_none() {
        let first = match rx.try_recv() {
            Ok(request) => request,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => match rx.recv().await {
                Some(request) => request,
                None => break,
            },
        };
        let (mut works, mut replies, mut events) = (Vec::new(), Vec::new(), 0usize);
        let mut next = Some(first);
        // A lone sequential caller never waits; only callers that share commits do.
        let mut lingered = !concurrent;
        loop {
            let Some(request) = next.take() else {
                if lingered || events >= max_batch_events {
                    break;
                }
                lingered = true;
                for _ in 0..LINGER_YIELDS {
                    tokio::task::yield_now().await;
                    if let Ok(request) = rx.try_recv() {
                        next = Some(request);
                        break;
                    }
                }
                continue;
            };
            match request {
                Request::Shutdown { done } => {
                    stop = Some(done);
                    break;
                }
                Request::Work(work, reply, _place) => {
                    events += work.len();
                    works.push(work);
                    replies.push(reply);
                }
            }
            if events < max_batch_events {
                next = rx.try_recv().ok();
            }
        }
        concurrent = replies.len() > 1;
        if works.is_empty() {
            continue;
        }
        let started = Instant::now();
        match committer.commit(works).await {
            Ok((done, announced)) => {
                metrics::histogram!("spine_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::histogram!("spine_commit_batch_events").record(events as f64);
                // Without receivers `send` fails; nobody is waiting, so that is fine.
                for notice in announced {
                    let _ = notices.send(notice);
                }
                for (reply, done) in replies.into_iter().zip(done) {
                    reply.send(Ok(done));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), events, "group commit failed");
                for reply in replies {
                    reply.send(Err(again(&e)));
                }
                committer.recover().await;
            }
        }
    }
    // Requests queued behind the shutdown are dropped: their callers see `Unavailable`.
    rx.close();
    committer.close().await;
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spine_core::input::{EventInput, EventLimits};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::sync::Notify;

    /// Answers every request once `open` is notified, counting the events it committed.
    struct Gate {
        open: Arc<Notify>,
        committed: Arc<Mutex<usize>>,
    }

    #[async_trait]
    impl Committer for Gate {
        async fn commit(&mut self, works: Vec<Work>) -> StoreResult<(Vec<Done>, Vec<Notice>)> {
            self.open.notified().await;
            self.open.notify_one();
            let mut done = Vec::new();
            for work in works {
                *self.committed.lock().expect("lock") += work.len();
                done.push(Done::Append(Vec::new()));
            }
            Ok((done, Vec::new()))
        }
    }

    fn events(n: usize) -> Vec<NewEvent> {
        let input: EventInput =
            serde_json::from_value(serde_json::json!({"type": "a.b", "title": "t"})).expect("json");
        (0..n)
            .map(|_| input.clone().validate(Uuid::now_v7(), None, &EventLimits::default()))
            .collect::<Result<_, _>>()
            .expect("valid")
    }

    #[tokio::test]
    async fn a_full_queue_refuses_more_work_as_unavailable_and_takes_it_again_once_drained() {
        let (open, committed) = (Arc::new(Notify::new()), Arc::new(Mutex::new(0)));
        let gate = Gate { open: open.clone(), committed: committed.clone() };
        let writer = WriterHandle::spawn_bounded(gate, 100, 250);
        let tenant = TenantId::parse("acme").expect("tenant");
        // The writer takes the first request and waits at the gate; two more fill the queue.
        let mut accepted = Vec::new();
        for _ in 0..3 {
            let (w, t, e) = (writer.clone(), tenant.clone(), events(100));
            accepted.push(tokio::spawn(async move { w.append(t, e).await }));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 100 events are being committed and 200 wait: 100 more do not fit.
        let refused = writer.append(tenant.clone(), events(100)).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{:?}", refused.err());
        // A request larger than the whole queue waits for an empty one: refused as well now.
        let too_big = writer.append(tenant.clone(), events(300)).await;
        assert!(matches!(too_big, Err(StoreError::Unavailable(_))), "{:?}", too_big.err());

        open.notify_one();
        for request in accepted {
            request.await.expect("task").expect("committed once the gate opens");
        }
        assert_eq!(*committed.lock().expect("lock"), 300, "every accepted event, none refused");
        writer.append(tenant.clone(), events(100)).await.expect("room again");
        writer.append(tenant, events(300)).await.expect("an empty queue takes a large one");
    }
}
