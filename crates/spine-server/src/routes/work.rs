//! The Work API (SPEC section 7): claiming jobs under leases (with long-polling), heartbeats,
//! completing and failing with the lease token, retrying dead jobs, listing jobs and queues,
//! and the queue rules that turn events into jobs.
//!
//! A lease token is `<job>.<lease>.<check>`: the check binds it to the tenant, the job and the
//! lease number, so a forged, moved or stale token is a 409 problem and changes nothing.

use super::{Path, QueryPairs};
use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use serde::Serialize;
use serde_json::Value;
use spine_core::note::{Author, AuthorKind};
use spine_core::work::input::{
    check_result, Claim, ClaimInput, CompleteInput, FailInput, HeartbeatInput,
};
use spine_core::work::job::Job;
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::work::{JobStatus, LeaseError, LeaseToken};
use spine_core::{Event, Role, TenantId, Timestamp, ValidationErrors};
use spine_store::{ClaimRequest, JobQuery, JobRecord, Notice, Settle, SettleError};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// The work routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/work", get(list_jobs))
        .route("/v1/work/claim", post(claim))
        .route("/v1/work/queues", get(list_queues))
        .route("/v1/work/rules", get(list_rules))
        .route("/v1/work/rules/{name}", put(put_rule).get(get_rule).delete(delete_rule))
        .route("/v1/work/{job_id}", get(get_job))
        .route("/v1/work/{job_id}/heartbeat", post(heartbeat))
        .route("/v1/work/{job_id}/complete", post(complete))
        .route("/v1/work/{job_id}/fail", post(fail))
        .route("/v1/work/{job_id}/retry", post(retry))
}

/// The entity a job's event is on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobEntity {
    /// The entity's type.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Its id.
    pub id: String,
}

/// A job as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobOut {
    /// UUIDv7.
    pub id: Uuid,
    /// Its queue.
    pub queue: String,
    /// `pending`, `processing`, `completed`, `failed` or `dead`.
    pub status: String,
    /// Claims so far.
    pub attempt: u32,
    /// Claims it may take before a failure makes it dead.
    pub max_attempts: u32,
    /// The holder's token (claim and heartbeat answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_token: Option<String>,
    /// When the lease ends (processing jobs).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lease_expires_at: Option<Timestamp>,
    /// When a pending or failed job may be claimed.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub run_after: Option<Timestamp>,
    /// Whether it waits for earlier jobs of its entity.
    pub ordered: bool,
    /// Who holds or last held it.
    pub worker: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// What its completion returned.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The event it processes.
    pub event_id: Uuid,
    /// That event (absent once retention removed it).
    #[schema(value_type = Option<crate::openapi::EventSchema>)]
    pub event: Option<Event>,
    /// That event's entity.
    pub entity: Option<JobEntity>,
    /// When it was created.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl JobOut {
    fn of(record: JobRecord, lease_token: Option<String>) -> Self {
        let JobRecord { job, event, .. } = record;
        Self::without_event(job, lease_token, event)
    }

    /// The job's fields, with `event` as given.
    pub fn without_event(job: Job, lease_token: Option<String>, event: Option<Event>) -> Self {
        let entity = match (&job.entity_type, &job.entity_id) {
            (Some(t), Some(id)) => Some(JobEntity { entity_type: t.clone(), id: id.clone() }),
            _ => None,
        };
        Self {
            id: job.id,
            queue: job.queue.clone(),
            status: job.state.status.as_str().to_owned(),
            attempt: job.state.attempt,
            max_attempts: job.state.max_attempts,
            lease_token,
            lease_expires_at: job.lease_expires_at(),
            run_after: job.run_after(),
            ordered: job.ordered,
            worker: job.worker.clone(),
            last_error: job.last_error.clone(),
            result: job.result.clone(),
            event_id: job.event_id,
            event,
            entity,
            created_at: job.created_at,
            updated_at: job.updated_at,
        }
    }
}

/// The answer of a claim.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedJobs {
    /// The jobs leased to the caller, each with its lease token (empty when none was ready).
    pub jobs: Vec<JobOut>,
}

/// A page of jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobPage {
    /// Newest first.
    pub items: Vec<JobOut>,
    /// Pass as `cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Job counts of one queue.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct QueueOut {
    /// The queue.
    pub queue: String,
    /// Jobs waiting to be claimed.
    pub pending: u64,
    /// Jobs under a lease.
    pub processing: u64,
    /// Jobs done.
    pub completed: u64,
    /// Jobs waiting to retry.
    pub failed: u64,
    /// Jobs out of attempts.
    pub dead: u64,
}

/// The tenant's queues.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueList {
    /// By name.
    pub items: Vec<QueueOut>,
}

/// A queue rule as stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleOut {
    /// Its name.
    pub name: String,
    /// The feed filter it matches.
    #[schema(value_type = Object)]
    pub filter: serde_json::Map<String, Value>,
    /// The queue its jobs go to.
    pub queue: String,
    /// Attempts before a job is dead.
    pub max_attempts: u32,
    /// Whether an entity's jobs run one at a time, in order.
    pub ordered: bool,
}

impl From<QueueRule> for RuleOut {
    fn from(rule: QueueRule) -> Self {
        Self {
            name: rule.name,
            filter: rule.filter,
            queue: rule.spec.queue,
            max_attempts: rule.spec.max_attempts,
            ordered: rule.spec.ordered,
        }
    }
}

/// The tenant's rules.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleList {
    /// By name.
    pub items: Vec<RuleOut>,
}

/// Who a claim names as the worker: the claim's `worker`, else the credential.
fn worker_name(principal: &Principal, claim: &Claim) -> String {
    claim.worker.clone().unwrap_or_else(|| principal.acting_as().0)
}

fn lease_token(state: &AppState, tenant: &TenantId, job: &Job) -> String {
    LeaseToken::sign(&state.secret, tenant, job.id, job.state.lease).expose()
}

/// Claims up to `limit` jobs of a queue, waiting up to `wait_seconds` for one (worker).
#[utoipa::path(post, path = "/v1/work/claim", tag = "work",
    request_body = spine_core::work::input::ClaimInput,
    responses(
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The jobs leased (an empty list when none was ready in time)", body = ClaimedJobs),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a worker or admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid claim", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable or shutting down; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn claim(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<ClaimInput>,
) -> Result<axum::Json<ClaimedJobs>, ApiError> {
    principal.require(Role::Worker)?;
    let claim = input.validate().map_err(ApiError::Validation)?;
    let tenant = principal.tenant.clone();
    let request = ClaimRequest {
        queue: claim.queue.clone(),
        limit: claim.limit,
        lease_micros: claim.lease_micros,
        worker: worker_name(&principal, &claim),
    };
    let deadline = Instant::now() + Duration::from_secs(claim.wait_seconds.into());
    // Subscribed before the first look, so a job created in between still wakes this claim.
    let mut notices = state.store.notices();
    let mut shutdown = state.live.shutdown_signal();
    loop {
        let now = Timestamp::now();
        let due = state.store.next_due(&tenant, &claim.queue).await?;
        if due.is_some_and(|at| at <= now) {
            let started = std::time::Instant::now();
            let claimed = state.store.claim(&tenant, request.clone()).await?;
            if !claimed.is_empty() {
                record_claims(&claimed, started.elapsed());
                let jobs = claimed
                    .into_iter()
                    .map(|r| {
                        let lease = lease_token(&state, &tenant, &r.job);
                        JobOut::of(r, Some(lease))
                    })
                    .collect();
                return Ok(axum::Json(ClaimedJobs { jobs }));
            }
        }
        if Instant::now() >= deadline || *shutdown.borrow() {
            return Ok(axum::Json(ClaimedJobs { jobs: Vec::new() }));
        }
        // Wake at the next due time, on a change to the tenant's jobs, or at the deadline. A
        // job due now that another worker took first is looked at again shortly.
        let wake = match due {
            Some(at) if at <= now => Instant::now() + Duration::from_millis(20),
            Some(at) => {
                let micros = (at.as_micros() - now.as_micros()).max(0);
                Instant::now() + Duration::from_micros(micros.unsigned_abs())
            }
            None => deadline,
        }
        .min(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = shutdown.changed() => {}
            _ = work_notice(&mut notices, &tenant) => {}
        }
    }
}

/// Waits for a notice that the tenant's jobs changed (or that notices were lost).
async fn work_notice(notices: &mut tokio::sync::broadcast::Receiver<Notice>, tenant: &TenantId) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match notices.recv().await {
            Ok(Notice::Work { tenant: t }) if &t == tenant => return,
            Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            // The store closed: stop waiting for notices; the deadline still ends the claim.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

fn record_claims(claimed: &[JobRecord], took: Duration) {
    metrics::histogram!("spine_work_claim_seconds").record(took.as_secs_f64());
    for record in claimed {
        let job = &record.job;
        metrics::counter!("spine_work_claimed_total", "queue" => job.queue.clone()).increment(1);
        if record.stolen {
            // Its holder's lease expired without a settlement: a crashed or stalled worker.
            metrics::counter!("spine_work_lease_expired_total", "queue" => job.queue.clone())
                .increment(1);
            continue;
        }
        // How long the job was claimable before this claim took it.
        let waited = (job.updated_at.as_micros() - job.state.run_after).max(0) as f64 / 1e6;
        metrics::histogram!("spine_work_job_wait_seconds", "queue" => job.queue.clone())
            .record(waited);
    }
}

/// The job a token names, checked against the path and the installation secret.
fn lease_of(
    state: &AppState,
    principal: &Principal,
    job_id: Uuid,
    token: LeaseToken,
) -> Result<u64, ApiError> {
    if token.job_id != job_id || !token.verify(&state.secret, &principal.tenant) {
        return Err(conflict("the lease token does not belong to this job"));
    }
    Ok(token.lease)
}

fn conflict(detail: &str) -> ApiError {
    ApiError::Conflict { detail: detail.to_owned(), errors: Vec::new() }
}

fn refused(e: SettleError) -> ApiError {
    match e {
        SettleError::Lease(LeaseError::Stale) => conflict(
            "the lease token is stale: the lease expired and the job was claimed again, or it was settled",
        ),
        SettleError::Lease(LeaseError::Expired) => {
            conflict("the lease has expired; claim the job again to go on")
        }
        SettleError::NotRetryable(status) => conflict(&format!(
            "only dead or failed jobs can be retried; this one is {}",
            status.as_str()
        )),
    }
}

fn job_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound)
}

/// Extends the holder's lease (worker).
#[utoipa::path(post, path = "/v1/work/{job_id}/heartbeat", tag = "work",
    request_body = spine_core::work::input::HeartbeatInput,
    params(("job_id" = Uuid, Path, description = "The job")),
    responses(
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The job with its new `lease_expires_at`", body = JobOut),
        (status = 404, description = "No such job in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A stale, expired or foreign lease token: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn heartbeat(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input, _): Json<HeartbeatInput>,
) -> Result<axum::Json<JobOut>, ApiError> {
    principal.require(Role::Worker)?;
    let id = job_id(&id)?;
    let (token, micros) = input.validate().map_err(ApiError::Validation)?;
    let lease = lease_of(&state, &principal, id, token)?;
    let job =
        state.store.heartbeat(&principal.tenant, id, lease, micros).await?.map_err(refused)?;
    let lease = lease_token(&state, &principal.tenant, &job);
    Ok(axum::Json(JobOut::without_event(job, Some(lease), None)))
}

/// Completes a job with an optional result and note (worker, with the current lease token).
#[utoipa::path(post, path = "/v1/work/{job_id}/complete", tag = "work",
    request_body = spine_core::work::input::CompleteInput,
    params(("job_id" = Uuid, Path, description = "The job")),
    responses(
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The completed job", body = JobOut),
        (status = 404, description = "No such job in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A stale, expired or foreign lease token: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or a note on a job whose event has no entity", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input, _): Json<CompleteInput>,
) -> Result<axum::Json<JobOut>, ApiError> {
    principal.require(Role::Worker)?;
    let id = job_id(&id)?;
    let CompleteInput { lease_token, result, note } = input;
    let mut errors = ValidationErrors::default();
    let token =
        spine_core::work::input::parse_token(&lease_token).map_err(|e| errors.0.extend(e.0)).ok();
    if let Err(e) = check_result(&result) {
        errors.0.extend(e.0);
    }
    let Some(token) = token else { return Err(ApiError::Validation(errors)) };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let lease = lease_of(&state, &principal, id, token)?;
    let note = match note {
        None => None,
        Some(note) => {
            let record = state.store.get_job(&principal.tenant, id).await?;
            let record = record.ok_or(ApiError::NotFound)?;
            let entity = record.event.as_ref().and_then(|e| e.entity.clone()).ok_or_else(|| {
                ApiError::Validation(ValidationErrors::single(
                    "note",
                    "the job's event has no entity to write a note on",
                ))
            })?;
            let author = default_author(&principal, record.job.worker.as_deref());
            let mut note = note
                .validate(entity, author)
                .map_err(|e| ApiError::Validation(e.prefixed("note")))?;
            note.event_id = note.event_id.or(Some(record.job.event_id));
            Some(Box::new(note))
        }
    };
    let settle = Settle::Complete { lease, result, note };
    settled(&state, &principal, id, settle).await
}

/// A note's default author for this credential: the signed-in user, else the worker (an agent).
pub fn default_author(principal: &Principal, worker: Option<&str>) -> Author {
    match principal.acting_as() {
        (user, true) => Author { id: user, name: None, kind: AuthorKind::User },
        (key, false) => Author {
            id: worker.map(str::to_owned).unwrap_or(key),
            name: None,
            kind: AuthorKind::Agent,
        },
    }
}

/// Fails a job: retried after the backoff or `retry_in_seconds`, dead after its last attempt
/// (worker, with the current lease token).
#[utoipa::path(post, path = "/v1/work/{job_id}/fail", tag = "work",
    request_body = spine_core::work::input::FailInput,
    params(("job_id" = Uuid, Path, description = "The job")),
    responses(
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The failed (or dead) job", body = JobOut),
        (status = 404, description = "No such job in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A stale, expired or foreign lease token: nothing changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn fail(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input, _): Json<FailInput>,
) -> Result<axum::Json<JobOut>, ApiError> {
    principal.require(Role::Worker)?;
    let id = job_id(&id)?;
    let (token, error, retry_micros) = input.validate().map_err(ApiError::Validation)?;
    let lease = lease_of(&state, &principal, id, token)?;
    let settle = Settle::Fail { lease, error, retry_micros, jitter: jitter() };
    settled(&state, &principal, id, settle).await
}

/// A uniform sample in `[0, 1)` for the backoff's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    // Without randomness the delay is the midpoint: still bounded, only less spread.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Moves a dead or failed job back to pending, attempts counted afresh (admin).
#[utoipa::path(post, path = "/v1/work/{job_id}/retry", tag = "work",
    params(("job_id" = Uuid, Path, description = "The job")),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The job, pending again", body = JobOut),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not dead or failed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<JobOut>, ApiError> {
    principal.require(Role::Admin)?;
    let id = job_id(&id)?;
    let (who, is_user) = principal.acting_as();
    let kind = if is_user { spine_core::ActorKind::User } else { spine_core::ActorKind::Service };
    let actor = spine_core::Actor { id: who, name: None, kind: Some(kind) };
    let job = settled(&state, &principal, id, Settle::Retry { actor }).await?;
    let title = format!("job {id} sent back to its queue");
    audit::record(&state, &principal, Action::new("job.retried", "job", id.to_string(), title))
        .await;
    Ok(job)
}

async fn settled(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    settle: Settle,
) -> Result<axum::Json<JobOut>, ApiError> {
    let record = state.store.settle(&principal.tenant, id, settle).await?.map_err(refused)?;
    let status = record.job.state.status;
    let outcome = match status {
        JobStatus::Completed => "completed",
        JobStatus::Failed => "failed",
        JobStatus::Dead => "dead",
        JobStatus::Pending => "retried",
        JobStatus::Processing => "processing",
    };
    metrics::counter!("spine_work_settled_total", "queue" => record.job.queue.clone(), "outcome" => outcome)
        .increment(1);
    tracing::info!(job = %id, status = status.as_str(), "job settled");
    Ok(axum::Json(JobOut::of(record, None)))
}

/// One job (read or worker).
#[utoipa::path(get, path = "/v1/work/{job_id}", tag = "work",
    params(("job_id" = Uuid, Path, description = "The job")),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The job", body = JobOut),
        (status = 404, description = "No such job in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_job(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<JobOut>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    let record = state.store.get_job(&principal.tenant, job_id(&id)?).await?;
    Ok(axum::Json(JobOut::of(record.ok_or(ApiError::NotFound)?, None)))
}

/// Jobs newest first: `status`, `queue`, `entity_type`, `entity_id`, `event_id`, `limit`,
/// `cursor` (read or worker).
#[utoipa::path(get, path = "/v1/work", tag = "work",
    params(
        ("status" = Option<String>, Query, description = "pending, processing, completed, failed or dead"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("entity_type" = Option<String>, Query, description = "Only jobs of this entity type"),
        ("entity_id" = Option<String>, Query, description = "Only jobs of this entity id"),
        ("event_id" = Option<String>, Query, description = "Only jobs of these events: comma-separated ids, up to 100 (the parameter may repeat)"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 30)"),
        ("cursor" = Option<String>, Query, description = "From the previous page's next_cursor"),
    ),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
    pairs: QueryPairs,
) -> Result<axum::Json<JobPage>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    let mut query = JobQuery { limit: state.config.page.default, ..Default::default() };
    let mut errors = ValidationErrors::default();
    for (key, value) in pairs.as_strs() {
        let text = || -> Result<String, String> {
            (!value.is_empty() && value.len() <= 256)
                .then(|| value.to_owned())
                .ok_or_else(|| "must be 1-256 characters".to_owned())
        };
        let outcome = match key {
            "status" => JobStatus::parse(value).map(|s| query.status = Some(s)),
            "queue" => text().map(|q| query.queue = Some(q)),
            "entity_type" => text().map(|t| query.entity_type = Some(t)),
            "entity_id" => text().map(|i| query.entity_id = Some(i)),
            "event_id" => event_ids(value, &mut query.event_ids),
            "limit" => state.config.page.parse(value).map(|n| query.limit = n),
            "cursor" => value
                .parse::<Uuid>()
                .map(|id| query.before = Some(id))
                .map_err(|_| "is not a cursor of this list".to_owned()),
            _ => Err("is not a known parameter".to_owned()),
        };
        if let Err(message) = outcome {
            errors.push(key, message);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let records = state.store.list_jobs(&principal.tenant, &query).await?;
    let next_cursor = (records.len() == query.limit as usize)
        .then(|| records.last().map(|r| r.job.id.to_string()))
        .flatten();
    let items = records.into_iter().map(|r| JobOut::of(r, None)).collect();
    Ok(axum::Json(JobPage { items, next_cursor }))
}

/// The most event ids one job list may name.
const MAX_EVENT_IDS: usize = 100;

/// Adds the comma-separated event ids of one `event_id` parameter.
fn event_ids(value: &str, ids: &mut Vec<Uuid>) -> Result<(), String> {
    for part in value.split(',') {
        let id = part.trim().parse::<Uuid>().map_err(|_| "must be event ids, comma-separated")?;
        if ids.len() == MAX_EVENT_IDS {
            return Err(format!("names more than {MAX_EVENT_IDS} events"));
        }
        ids.push(id);
    }
    Ok(())
}

/// The tenant's queues with job counts by status (read or worker).
#[utoipa::path(get, path = "/v1/work/queues", tag = "work",
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),(status = 200, description = "Queues by name", body = QueueList)),
    security(("bearer" = [])))]
pub async fn list_queues(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<QueueList>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    let mut items: Vec<QueueOut> = Vec::new();
    for count in state.store.queue_counts(&principal.tenant).await? {
        if items.last().is_none_or(|q| q.queue != count.queue) {
            items.push(QueueOut { queue: count.queue.clone(), ..Default::default() });
        }
        if let Some(q) = items.last_mut() {
            match count.status {
                JobStatus::Pending => q.pending = count.jobs,
                JobStatus::Processing => q.processing = count.jobs,
                JobStatus::Completed => q.completed = count.jobs,
                JobStatus::Failed => q.failed = count.jobs,
                JobStatus::Dead => q.dead = count.jobs,
            }
        }
    }
    Ok(axum::Json(QueueList { items }))
}

/// Creates or replaces a queue rule (admin).
#[utoipa::path(put, path = "/v1/work/rules/{name}", tag = "work",
    request_body = spine_core::work::rule::RuleInput,
    params(("name" = String, Path, description = "The rule's name")),
    responses(
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The rule", body = RuleOut),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rule", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Json(input, _): Json<RuleInput>,
) -> Result<axum::Json<RuleOut>, ApiError> {
    principal.require(Role::Admin)?;
    let rule = QueueRule::parse(&name, input).map_err(ApiError::Validation)?;
    state.store.put_rule(&principal.tenant, &rule).await?;
    tracing::info!(rule = %rule.name, queue = %rule.spec.queue, "queue rule saved");
    let title = format!("queue rule {} saved", rule.name);
    let action = Action::new("queue_rule.set", "queue_rule", rule.name.as_str(), title)
        .with(serde_json::json!({"queue": rule.spec.queue}));
    audit::record(&state, &principal, action).await;
    Ok(axum::Json(rule.into()))
}

/// One rule (read).
#[utoipa::path(get, path = "/v1/work/rules/{name}", tag = "work",
    params(("name" = String, Path, description = "The rule's name")),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "The rule", body = RuleOut),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<axum::Json<RuleOut>, ApiError> {
    principal.require(Role::Read)?;
    let rules = state.store.list_rules(&principal.tenant).await?;
    let rule = rules.into_iter().find(|r| r.name == name).ok_or(ApiError::NotFound)?;
    Ok(axum::Json(rule.into()))
}

/// The tenant's rules (read).
#[utoipa::path(get, path = "/v1/work/rules", tag = "work",
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),(status = 200, description = "Rules by name", body = RuleList)),
    security(("bearer" = [])))]
pub async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<RuleList>, ApiError> {
    principal.require(Role::Read)?;
    let rules = state.store.list_rules(&principal.tenant).await?;
    Ok(axum::Json(RuleList { items: rules.into_iter().map(RuleOut::from).collect() }))
}

/// Removes a rule; jobs it created stay (admin).
#[utoipa::path(delete, path = "/v1/work/rules/{name}", tag = "work",
    params(("name" = String, Path, description = "The rule's name")),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 204, description = "Removed"),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_rule(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.delete_rule(&principal.tenant, &name).await? {
        let title = format!("queue rule {name} deleted");
        let action = Action::new("queue_rule.deleted", "queue_rule", name.as_str(), title);
        audit::record(&state, &principal, action).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
