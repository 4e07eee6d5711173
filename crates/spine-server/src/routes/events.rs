//! Writing events: `POST /v1/events` (one) and `POST /v1/events/batch` (up to the batch limit,
//! all or nothing on validation, one store call).

use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::{Json, Large};
use crate::metrics;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use spine_core::validation::FieldError;
use spine_core::{Event, EventInput, NewEvent, Role, TenantId, ValidationErrors};
use spine_store::AppendOutcome;
use std::time::Instant;
use uuid::Uuid;

/// The event routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(create_event))
        .route("/v1/events/batch", post(create_batch))
}

/// The body of `POST /v1/events/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// The events, in order: 1 to 1,000 (`max_batch_events`).
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<EventInput>,
}

/// One item of a batch answer.
#[derive(Debug, Serialize)]
pub struct BatchItem {
    /// 201 created, 200 idempotent repeat, 409 conflicting repeat.
    pub status: u16,
    /// The stored event (created or repeated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// For a conflict: the problem naming the differing fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// The answer of `POST /v1/events/batch`.
#[derive(Debug, Serialize)]
pub struct BatchResult {
    /// One outcome per input event, in input order.
    pub items: Vec<BatchItem>,
}

fn header_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| v.to_str().map_err(|_| ApiError::invalid("Idempotency-Key", "must be ASCII text")))
        .transpose()
}

fn conflict(existing: &Event, fields: &[&'static str]) -> ApiError {
    ApiError::Conflict {
        detail: format!(
            "event {} was stored under this idempotency key with different content",
            existing.id
        ),
        errors: fields
            .iter()
            .map(|f| FieldError {
                field: (*f).to_owned(),
                message: "differs from the event stored under this idempotency key".to_owned(),
            })
            .collect(),
    }
}

async fn append(
    state: &AppState,
    tenant: &TenantId,
    events: Vec<NewEvent>,
) -> Result<Vec<AppendOutcome>, ApiError> {
    let n = events.len();
    state.limits.check_events(tenant, n as u64).await?;
    let started = Instant::now();
    let outcomes = state.store.append(tenant, events).await?;
    if outcomes.len() != n {
        tracing::error!(
            sent = n,
            got = outcomes.len(),
            "store returned the wrong number of outcomes"
        );
        return Err(ApiError::Internal);
    }
    let count = |f: fn(&AppendOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count() as u64;
    let created = count(|o| matches!(o, AppendOutcome::Created(_)));
    state.limits.added(tenant, created, 0);
    metrics::record_append(
        n,
        started.elapsed(),
        created,
        count(|o| matches!(o, AppendOutcome::Repeat(_))),
        count(|o| matches!(o, AppendOutcome::Conflict { .. })),
    );
    Ok(outcomes)
}

/// Records one event.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body = crate::openapi::EventInputSchema,
    params(("Idempotency-Key" = Option<String>, Header, description = "Wins over the body's idempotency_key")),
    responses(
        (status = 200, description = "Idempotent repeat: the original event", body = crate::openapi::EventSchema),
        (status = 201, description = "Stored", body = crate::openapi::EventSchema),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not ingest, or the tenant is over a storage quota", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Same key, different content", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid event", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over a rate limit; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_event(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(input, _): Json<EventInput>,
) -> Result<Response, ApiError> {
    principal.require(Role::Ingest)?;
    let event =
        input.validate(Uuid::now_v7(), header_key(&headers)?, &state.config.event_limits)?;
    let outcome =
        append(&state, &principal.tenant, vec![event]).await?.pop().ok_or(ApiError::Internal)?;
    match outcome {
        AppendOutcome::Created(e) => {
            let location = HeaderValue::from_str(&format!("/v1/events/{}", e.id))
                .map_err(|_| ApiError::Internal)?;
            Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(e)).into_response())
        }
        AppendOutcome::Repeat(e) => Ok((StatusCode::OK, axum::Json(e)).into_response()),
        AppendOutcome::Conflict { existing, fields } => Err(conflict(&existing, &fields)),
    }
}

/// Records many events in one commit.
#[utoipa::path(post, path = "/v1/events/batch", tag = "events",
    request_body = crate::openapi::BatchInputSchema,
    responses(
        (status = 200, description = "Each item's outcome, in input order", body = crate::openapi::BatchResultSchema),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not ingest, or the tenant is over a storage quota", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Some item is invalid; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over a rate limit; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_batch(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(batch, _): Json<BatchInput, Large>,
) -> Result<axum::Json<BatchResult>, ApiError> {
    principal.require(Role::Ingest)?;
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "is not accepted on batches; set idempotency_key on each event",
        ));
    }
    let max = state.config.max_batch_events;
    if batch.events.is_empty() || batch.events.len() > max {
        return Err(ApiError::invalid("events", format!("must hold 1 to {max} events")));
    }
    let mut errors = ValidationErrors::default();
    let mut valid = Vec::with_capacity(batch.events.len());
    for (i, input) in batch.events.into_iter().enumerate() {
        match input.validate(Uuid::now_v7(), None, &state.config.event_limits) {
            Ok(e) => valid.push(e),
            Err(e) => errors.0.extend(e.prefixed(&format!("events[{i}]")).0),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    state.limits.write(&principal, valid.len() as u64, 0).await?;
    let items = append(&state, &principal.tenant, valid)
        .await?
        .into_iter()
        .map(|o| match o {
            AppendOutcome::Created(e) => BatchItem { status: 201, event: Some(e), problem: None },
            AppendOutcome::Repeat(e) => BatchItem { status: 200, event: Some(e), problem: None },
            AppendOutcome::Conflict { existing, fields } => BatchItem {
                status: 409,
                event: None,
                problem: Some(conflict(&existing, &fields).problem()),
            },
        })
        .collect();
    Ok(axum::Json(BatchResult { items }))
}
