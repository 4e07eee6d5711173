//! The outbound-webhook API (SPEC section 8), admin only: endpoints (created with their
//! `whsec_` secret, shown once; changed, disabled and re-enabled; deleted), their delivery log,
//! replay (the cursor moved back) and a test send. The delivery itself is the engine's
//! ([`crate::webhooks::engine`]).

use super::{only_params, Path, QueryPairs};
use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use crate::webhooks::{client, new_secret, seal_secret, secret_owner};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use spine_core::ingest::standard_webhooks::signature::sign;
use spine_core::webhook::schedule::Outcome;
use spine_core::webhook::{message_id, Status, WebhookInput, WebhookPatch};
use spine_core::{Role, Seq, TenantId, Timestamp, ValidationErrors};
use spine_store::{AttemptOutcome, AttemptRecord, WebhookRecord};
use uuid::Uuid;

/// The webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", post(create_webhook).get(list_webhooks))
        .route("/v1/webhooks/{id}", get(get_webhook).patch(update_webhook).delete(delete_webhook))
        .route("/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/v1/webhooks/{id}/replay", post(replay))
        .route("/v1/webhooks/{id}/test", post(test_send))
}

/// An endpoint as the API shows it: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookOut {
    /// Public id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The feed's filter parameters it sends.
    #[schema(value_type = Object)]
    pub filter: Map<String, Value>,
    /// What it is for.
    pub description: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Every matching event at or below this position was delivered or given up on.
    pub cursor: i64,
    /// Positions between the cursor and the tenant's head.
    pub lag: i64,
    /// Attempts made on the next event.
    pub attempt: u32,
    /// When the next event is tried again, after a failure.
    pub next_attempt_at: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl WebhookOut {
    fn of(w: WebhookRecord, head: Seq) -> Self {
        Self {
            lag: (head.0 - w.cursor.0).max(0),
            id: w.id,
            url: w.url,
            filter: w.filter,
            description: w.description,
            status: w.status.as_str().to_owned(),
            disabled_reason: w.disabled_reason,
            cursor: w.cursor.0,
            attempt: w.attempt,
            next_attempt_at: w.next_attempt_at.map(Timestamp::to_rfc3339),
            failing_since: w.failing_since.map(Timestamp::to_rfc3339),
            created_at: w.created_at.to_rfc3339(),
            updated_at: w.updated_at.to_rfc3339(),
        }
    }
}

/// A new endpoint and, this once, its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookCreated {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// The `whsec_` signing secret (Standard Webhooks); it is never shown again.
    pub secret: String,
}

/// The tenant's endpoints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// Oldest first.
    pub items: Vec<WebhookOut>,
}

/// One attempt in the delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptOut {
    /// UUIDv7.
    pub id: Uuid,
    /// The event sent (absent for a test send).
    pub event_id: Option<Uuid>,
    /// Its position.
    pub event_seq: Option<i64>,
    /// Which attempt at this event.
    pub attempt: u32,
    /// When.
    pub at: String,
    /// `delivered`, `retrying`, `failed` (its attempts spent), `disabled` or `test`.
    pub outcome: String,
    /// The answer's status code.
    pub status_code: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
    /// How long it took, milliseconds.
    pub latency_ms: u32,
    /// The start of the answer's body (1 KiB at most).
    pub response: Option<String>,
    /// When the event is tried again.
    pub next_attempt_at: Option<String>,
}

impl From<AttemptRecord> for AttemptOut {
    fn from(a: AttemptRecord) -> Self {
        Self {
            id: a.id,
            event_id: a.event_id,
            event_seq: a.event_seq.map(|s| s.0),
            attempt: a.attempt,
            at: a.at.to_rfc3339(),
            outcome: a.outcome.as_str().to_owned(),
            status_code: a.status_code,
            error: a.error,
            latency_ms: a.latency_ms,
            response: a.response,
            next_attempt_at: a.next_attempt_at.map(Timestamp::to_rfc3339),
        }
    }
}

/// A page of the delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttemptPage {
    /// Newest first.
    pub items: Vec<AttemptOut>,
    /// Pass as `cursor=` for older attempts; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The body of `POST /v1/webhooks/{id}/replay`: exactly one of the two.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayInput {
    /// Send again every matching event from this position on.
    pub since_seq: Option<i64>,
    /// Send again every matching event received since this time (RFC 3339).
    pub since: Option<String>,
}

/// Creates an endpoint (admin); its secret is in this answer only. New endpoints receive the
/// events committed after their creation.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    request_body = WebhookInput,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = WebhookCreated),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or a refused target address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<WebhookInput>,
) -> Result<(StatusCode, axum::Json<WebhookCreated>), ApiError> {
    principal.require(Role::Admin)?;
    let settings = input.validate()?;
    client::check_target(&settings.url, state.config.webhook_allow_private)
        .await
        .map_err(|why| ApiError::invalid("url", why))?;
    let tenant = &principal.tenant;
    let id = format!("wh_{}", Uuid::now_v7().simple());
    let secret = new_secret();
    let sealed = seal_secret(&state.webhook_secrets, tenant, &id, &secret);
    let head = state.store.head(tenant).await?;
    let record = state.store.create_webhook(tenant, &id, &settings, &sealed, head).await?;
    tracing::info!(webhook = %id, "webhook created");
    let title = format!("webhook to {} created", host(&settings.url));
    let data = json!({"host": host(&settings.url)});
    let action = Action::new("webhook.created", "webhook", &id, title).with(data);
    audit::record(&state, &principal, action).await;
    let webhook = WebhookOut::of(record, head);
    Ok((StatusCode::CREATED, axum::Json(WebhookCreated { webhook, secret })))
}

/// Lists the tenant's endpoints (admin).
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The endpoints, oldest first", body = WebhookList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<WebhookList>, ApiError> {
    principal.require(Role::Admin)?;
    let head = state.store.head(&principal.tenant).await?;
    let records = state.store.list_webhooks(&principal.tenant).await?;
    Ok(axum::Json(WebhookList {
        items: records.into_iter().map(|w| WebhookOut::of(w, head)).collect(),
    }))
}

async fn found(state: &AppState, tenant: &TenantId, id: &str) -> Result<WebhookRecord, ApiError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ApiError::NotFound);
    }
    state.store.get_webhook(tenant, id).await?.ok_or(ApiError::NotFound)
}

/// One endpoint (admin).
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookOut),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookOut>, ApiError> {
    principal.require(Role::Admin)?;
    let head = state.store.head(&principal.tenant).await?;
    Ok(axum::Json(WebhookOut::of(found(&state, &principal.tenant, &id).await?, head)))
}

/// Changes an endpoint (admin): its URL, filter, description, or status (`active` re-enables a
/// disabled endpoint where it stopped).
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The changed endpoint", body = WebhookOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid, or a refused target address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(patch, _): Json<WebhookPatch>,
) -> Result<axum::Json<WebhookOut>, ApiError> {
    principal.require(Role::Admin)?;
    let tenant = &principal.tenant;
    let current = found(&state, tenant, &id).await?;
    let url_changed = patch.url.is_some();
    // The merged endpoint is validated like a new one.
    let settings = WebhookInput {
        url: patch.url.unwrap_or(current.url),
        filter: patch.filter.unwrap_or(current.filter),
        description: patch.description.or(current.description),
    }
    .validate()?;
    if url_changed {
        client::check_target(&settings.url, state.config.webhook_allow_private)
            .await
            .map_err(|why| ApiError::invalid("url", why))?;
    }
    let status = patch.status.unwrap_or(current.status);
    let reason = match status {
        Status::Active => None,
        Status::Disabled if current.status == Status::Disabled => current.disabled_reason,
        Status::Disabled => Some("disabled by an admin".to_owned()),
    };
    let updated = state
        .store
        .update_webhook(tenant, &id, &settings, status, reason.as_deref())
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(webhook = %id, status = status.as_str(), "webhook changed");
    let title = format!("webhook to {} changed", host(&settings.url));
    let data = json!({"host": host(&settings.url), "status": status.as_str()});
    let action = Action::new("webhook.updated", "webhook", &id, title).with(data);
    audit::record(&state, &principal, action).await;
    let head = state.store.head(tenant).await?;
    Ok(axum::Json(WebhookOut::of(updated, head)))
}

/// Deletes an endpoint and its delivery log (admin).
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.delete_webhook(&principal.tenant, &id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(webhook = %id, "webhook deleted");
    let title = format!("webhook {id} deleted");
    audit::record(&state, &principal, Action::new("webhook.deleted", "webhook", &id, title)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The endpoint's delivery attempts, newest first (admin).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The endpoint's id"),
        ("limit" = Option<u32>, Query, description = "Page size (default 30, at most 100)"),
        ("cursor" = Option<String>, Query, description = "From a previous page's `next_cursor`"),
    ),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    pairs: QueryPairs,
) -> Result<axum::Json<AttemptPage>, ApiError> {
    principal.require(Role::Admin)?;
    let (mut limit, mut before) = (state.config.page.default, None);
    let mut errors = ValidationErrors::default();
    for (key, value) in only_params(&pairs, &["limit", "cursor"])? {
        let outcome = match key {
            "limit" => state.config.page.parse(value).map(|n| limit = n),
            _ => value
                .parse::<Uuid>()
                .map(|id| before = Some(id))
                .map_err(|_| "is not a cursor of this list".to_owned()),
        };
        if let Err(message) = outcome {
            errors.push(key, message);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let webhook = found(&state, &principal.tenant, &id).await?;
    let items = state.store.list_attempts(&principal.tenant, &webhook.id, before, limit).await?;
    let next_cursor =
        (items.len() == limit as usize).then(|| items.last().map(|a| a.id.to_string())).flatten();
    Ok(axum::Json(AttemptPage {
        items: items.into_iter().map(AttemptOut::from).collect(),
        next_cursor,
    }))
}

/// Sends again every matching event from a position or time on (admin): the endpoint's cursor
/// moves back there (never forward: events not yet sent are not skipped).
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body = ReplayInput,
    responses(
        (status = 200, description = "The endpoint, its cursor moved back", body = WebhookOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of since_seq and since, or a bad value", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(input, _): Json<ReplayInput>,
) -> Result<axum::Json<WebhookOut>, ApiError> {
    principal.require(Role::Admin)?;
    let tenant = &principal.tenant;
    let webhook = found(&state, tenant, &id).await?;
    let from = match (input.since_seq, input.since) {
        (Some(seq), None) if seq >= 1 => Seq(seq - 1),
        (Some(_), None) => return Err(ApiError::invalid("since_seq", "must be at least 1")),
        (None, Some(time)) => {
            let time = Timestamp::parse(&time).map_err(|e| ApiError::invalid("since", e))?;
            state.store.position_before(tenant, time).await?
        }
        _ => return Err(ApiError::invalid("since_seq", "give exactly one of since_seq and since")),
    };
    let cursor = from.min(webhook.cursor);
    let replayed =
        state.store.replay_webhook(tenant, &id, cursor).await?.ok_or(ApiError::NotFound)?;
    tracing::info!(webhook = %id, cursor = %cursor, "webhook replay");
    let title = format!("webhook {id} replayed after position {cursor}");
    let action =
        Action::new("webhook.replayed", "webhook", &id, title).with(json!({"after_seq": cursor.0}));
    audit::record(&state, &principal, action).await;
    let head = state.store.head(tenant).await?;
    Ok(axum::Json(WebhookOut::of(replayed, head)))
}

/// Sends a signed test delivery now (admin): a `spine.webhook.test` payload outside the log;
/// the attempt is recorded (outcome `test`) and answered.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "What the test delivery came to", body = AttemptOut),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn test_send(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<axum::Json<AttemptOut>, ApiError> {
    principal.require(Role::Admin)?;
    let tenant = &principal.tenant;
    let webhook = found(&state, tenant, &id).await?;
    let secret = state
        .webhook_secrets
        .open(&secret_owner(tenant, &webhook.id), &webhook.secret)
        .map_err(|e| {
            tracing::error!(webhook = %webhook.id, error = %e, "a webhook secret does not open");
            ApiError::Internal
        })?;
    let secret = String::from_utf8_lossy(&secret).into_owned();
    let now = Timestamp::now();
    let test_id = Uuid::now_v7();
    let body = json!({
        "id": test_id,
        "type": "spine.webhook.test",
        "title": "A test delivery from Spine",
        "tenant": tenant.as_str(),
        "occurred_at": now.to_rfc3339(),
        "data": {"webhook_id": webhook.id},
    });
    let body = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    let message = message_id(test_id);
    let timestamp = now.as_unix_seconds();
    let signature = sign(&secret, &message, timestamp, &body).ok_or(ApiError::Internal)?;
    let http = client::client(state.config.webhook_allow_private);
    let delivery = client::Delivery {
        url: &webhook.url,
        message_id: &message,
        timestamp,
        signature: &signature,
        body,
    };
    let sent = client::send(&http, delivery, state.config.webhook_allow_private).await;
    let record = AttemptRecord {
        id: Uuid::now_v7(),
        event_id: None,
        event_seq: None,
        attempt: 1,
        at: now,
        outcome: AttemptOutcome::Test,
        status_code: sent.status,
        error: sent.error.or_else(|| {
            (sent.outcome != Outcome::Delivered).then(|| "the answer was not 2xx".to_owned())
        }),
        latency_ms: u32::try_from(sent.latency.as_millis()).unwrap_or(u32::MAX),
        response: sent.response,
        next_attempt_at: None,
    };
    state.store.record_attempt(tenant, &webhook.id, "test", now, &record, None).await?;
    let title = format!("test delivery sent to webhook {}", webhook.id);
    let action = Action::new("webhook.tested", "webhook", &webhook.id, title)
        .with(json!({"status_code": record.status_code}));
    audit::record(&state, &principal, action).await;
    Ok(axum::Json(record.into()))
}

/// The host of an endpoint URL, for the audit trail: the rest of a URL may carry a token.
fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "an endpoint".to_owned())
}
