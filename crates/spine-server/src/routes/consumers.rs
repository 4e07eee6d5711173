//! The Consumer API (SPEC section 8): named durable cursors over the tenant's log. `next`
//! answers the matching events after the checkpoint (waiting up to `wait_seconds` for one)
//! without moving it; `ack` moves it. A consumer that crashes before acknowledging gets the
//! same events again: at-least-once by construction.
//!
//! Admins create and delete consumers; a read key reads and acknowledges them (the program
//! that consumes needs nothing more). Viewer tokens have no consumers.

use super::{only_params, Path, QueryPairs};
use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::json;
use serde_json::{Map, Value};
use spine_core::consumer::{consumer_filter, is_name, AckInput, ConsumerInput, Start};
use spine_core::{Event, Role, Seq, TenantId, ValidationErrors};
use spine_store::consumers::next_batch;
use spine_store::ConsumerRecord;
use std::time::Duration;
use tokio::time::Instant;

/// The default and largest number of events one `next` answers.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// The longest a `next` may wait for an event.
const MAX_WAIT_SECONDS: u64 = 30;

/// The consumer routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/consumers", post(create_consumer).get(list_consumers))
        .route("/v1/consumers/{name}", get(get_consumer).delete(delete_consumer))
        .route("/v1/consumers/{name}/next", get(next))
        .route("/v1/consumers/{name}/ack", post(ack))
}

/// A consumer as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerOut {
    /// Its name.
    pub name: String,
    /// The feed's filter parameters it reads with.
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// Every event at or below this position was handled.
    pub checkpoint: i64,
    /// The tenant's head when this answer was made.
    pub head: i64,
    /// Positions between the checkpoint and the head (events of every type: an upper bound on
    /// the matching events still to handle).
    pub lag: i64,
    /// When it was made.
    pub created_at: String,
    /// When its checkpoint last moved.
    pub acked_at: String,
}

impl ConsumerOut {
    fn of(record: ConsumerRecord, head: Seq) -> Self {
        Self {
            lag: (head.0 - record.checkpoint.0).max(0),
            head: head.0,
            name: record.name,
            filter: record.filter,
            checkpoint: record.checkpoint.0,
            created_at: record.created_at.to_rfc3339(),
            acked_at: record.acked_at.to_rfc3339(),
        }
    }
}

/// The tenant's consumers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsumerList {
    /// By name.
    pub items: Vec<ConsumerOut>,
}

/// The answer to `next`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextEvents {
    /// The matching events after the checkpoint, in `seq` order.
    #[schema(value_type = Vec<crate::openapi::EventSchema>)]
    pub events: Vec<Event>,
    /// Acknowledge through this position once these events are handled: the last event's
    /// position, or, when no more events match, the head this answer read up to (so positions
    /// of events that do not match are passed over too).
    pub next_after: i64,
}

/// Creates a consumer (admin).
#[utoipa::path(post, path = "/v1/consumers", tag = "consumers",
    request_body = ConsumerInput,
    responses(
        (status = 201, description = "Created", body = ConsumerOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A consumer of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_consumer(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<ConsumerInput>,
) -> Result<(StatusCode, axum::Json<ConsumerOut>), ApiError> {
    principal.require(Role::Admin)?;
    let consumer = input.validate()?;
    let tenant = &principal.tenant;
    let head = state.store.head(tenant).await?;
    let checkpoint = match consumer.start {
        Start::Beginning => Seq::ZERO,
        Start::End => head,
        Start::After(seq) if seq > head => {
            return Err(ApiError::invalid("start", format!("is past the head ({head})")));
        }
        Start::After(seq) => seq,
        Start::Since(time) => state.store.position_before(tenant, time).await?,
    };
    let record =
        state.store.create_consumer(tenant, &consumer.name, &consumer.filter, checkpoint).await?;
    tracing::info!(consumer = %record.name, checkpoint = %checkpoint, "consumer created");
    let title = format!("consumer {} created", record.name);
    let action = Action::new("consumer.created", "consumer", record.name.as_str(), title)
        .with(json!({"checkpoint": checkpoint.0}));
    audit::record(&state, &principal, action).await;
    Ok((StatusCode::CREATED, axum::Json(ConsumerOut::of(record, head))))
}

/// Lists the tenant's consumers with their lag (read).
#[utoipa::path(get, path = "/v1/consumers", tag = "consumers",
    responses(
        (status = 200, description = "The consumers, by name", body = ConsumerList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a read key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_consumers(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<ConsumerList>, ApiError> {
    principal.require(Role::Read)?;
    let head = state.store.head(&principal.tenant).await?;
    let records = state.store.list_consumers(&principal.tenant).await?;
    let items = records.into_iter().map(|r| ConsumerOut::of(r, head)).collect();
    Ok(axum::Json(ConsumerList { items }))
}

/// One consumer with its lag (read).
#[utoipa::path(get, path = "/v1/consumers/{name}", tag = "consumers",
    params(("name" = String, Path, description = "The consumer's name")),
    responses(
        (status = 200, description = "The consumer", body = ConsumerOut),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a read key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such consumer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_consumer(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<axum::Json<ConsumerOut>, ApiError> {
    principal.require(Role::Read)?;
    let head = state.store.head(&principal.tenant).await?;
    let record = found(&state, &principal.tenant, &name).await?;
    Ok(axum::Json(ConsumerOut::of(record, head)))
}

/// A consumer of the tenant, or 404.
async fn found(
    state: &AppState,
    tenant: &TenantId,
    name: &str,
) -> Result<ConsumerRecord, ApiError> {
    if !is_name(name) {
        return Err(ApiError::NotFound);
    }
    state.store.get_consumer(tenant, name).await?.ok_or(ApiError::NotFound)
}

/// `next`'s parameters.
fn next_params(pairs: &QueryPairs) -> Result<(u32, Duration), ApiError> {
    let (mut limit, mut wait) = (DEFAULT_LIMIT, Duration::ZERO);
    let mut errors = ValidationErrors::default();
    for (key, value) in only_params(pairs, &["limit", "wait_seconds"])? {
        let number = value.parse::<u64>().ok();
        match key {
            "limit" => match number.filter(|n| (1..=u64::from(MAX_LIMIT)).contains(n)) {
                Some(n) => limit = n as u32,
                None => errors.push(key, format!("must be 1-{MAX_LIMIT}")),
            },
            _ => match number.filter(|n| *n <= MAX_WAIT_SECONDS) {
                Some(n) => wait = Duration::from_secs(n),
                None => errors.push(key, format!("must be 0-{MAX_WAIT_SECONDS}")),
            },
        }
    }
    if errors.is_empty() {
        Ok((limit, wait))
    } else {
        Err(ApiError::InvalidQuery(errors))
    }
}

/// The matching events after the checkpoint, waiting up to `wait_seconds` for one; the
/// checkpoint does not move (read).
#[utoipa::path(get, path = "/v1/consumers/{name}/next", tag = "consumers",
    params(
        ("name" = String, Path, description = "The consumer's name"),
        ("limit" = Option<u32>, Query, description = "At most this many events (1-1000, default 100)"),
        ("wait_seconds" = Option<u32>, Query, description = "Wait up to this long for an event when there is none (0-30, default 0)"),
    ),
    responses(
        (status = 200, description = "The events (none when none came in time) and the position to acknowledge", body = NextEvents),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a read key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such consumer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn next(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    pairs: QueryPairs,
) -> Result<axum::Json<NextEvents>, ApiError> {
    principal.require(Role::Read)?;
    let (limit, wait) = next_params(&pairs)?;
    let tenant = principal.tenant.clone();
    let consumer = found(&state, &tenant, &name).await?;
    let filter = consumer_filter(&consumer.filter).map_err(|_| {
        tracing::error!(consumer = %consumer.name, "a stored consumer filter no longer parses");
        ApiError::Internal
    })?;
    let deadline = Instant::now() + wait;
    // Subscribed before the first look, so a commit in between still wakes this call.
    let mut notices = state.store.notices();
    let mut shutdown = state.live.shutdown_signal();
    loop {
        let (events, next_after) =
            next_batch(state.store.as_ref(), &tenant, consumer.checkpoint, &filter, limit).await?;
        if !events.is_empty() || Instant::now() >= deadline || *shutdown.borrow() {
            return Ok(axum::Json(NextEvents { events, next_after: next_after.0 }));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
            _ = spine_store::notices::commit(&mut notices, &tenant) => {}
        }
    }
}

/// Moves the checkpoint: forward with `through_seq` (an older one changes nothing), anywhere
/// with `rewind_to` (read).
#[utoipa::path(post, path = "/v1/consumers/{name}/ack", tag = "consumers",
    params(("name" = String, Path, description = "The consumer's name")),
    request_body = AckInput,
    responses(
        (status = 200, description = "The consumer, acknowledged", body = ConsumerOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a read key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such consumer", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both positions, or a position past the head", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn ack(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Json(input, _): Json<AckInput>,
) -> Result<axum::Json<ConsumerOut>, ApiError> {
    principal.require(Role::Read)?;
    let ack = input.validate()?;
    if !is_name(&name) {
        return Err(ApiError::NotFound);
    }
    let head = state.store.head(&principal.tenant).await?;
    if ack.seq() > head {
        let field = match ack {
            spine_core::consumer::Ack::Through(_) => "through_seq",
            spine_core::consumer::Ack::RewindTo(_) => "rewind_to",
        };
        return Err(ApiError::invalid(field, format!("is past the head ({head})")));
    }
    let record =
        state.store.ack_consumer(&principal.tenant, &name, ack).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(ConsumerOut::of(record, head)))
}

/// Deletes a consumer (admin).
#[utoipa::path(delete, path = "/v1/consumers/{name}", tag = "consumers",
    params(("name" = String, Path, description = "The consumer's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such consumer", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_consumer(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if !is_name(&name) || !state.store.delete_consumer(&principal.tenant, &name).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(consumer = %name, "consumer deleted");
    let title = format!("consumer {name} deleted");
    audit::record(&state, &principal, Action::new("consumer.deleted", "consumer", &name, title))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
