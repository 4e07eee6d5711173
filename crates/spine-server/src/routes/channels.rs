//! Ingestion channels (SPEC section 6), admin only: create (the secret shown once), list, read,
//! change, rotate the secret with a grace period, delete. Secrets are sealed before they reach
//! the store and never appear in an answer again, nor in a log.

use super::Path;
use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::provision::{self, ChannelError};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::Value;
use spine_core::channel::{ChannelInput, Direction, PrivacyInput, Provider};
use spine_core::ingest;
use spine_core::{Role, Timestamp};
use spine_store::ChannelRecord;

/// The channel routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", post(create_channel).get(list_channels))
        .route("/v1/channels/{id}", get(get_channel).patch(update_channel).delete(delete_channel))
        .route("/v1/channels/{id}/rotate-secret", post(rotate_secret))
}

/// Longest grace period a rotation may keep the old secret for (7 days).
const MAX_GRACE_SECONDS: i64 = 7 * 86_400;
/// The default grace period (24 hours, SPEC section 6).
const DEFAULT_GRACE_SECONDS: i64 = 86_400;

/// A channel as the API shows it: never its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelOut {
    /// Public id; part of the ingest URL.
    pub id: String,
    /// Label.
    pub name: String,
    /// Provider wire name.
    pub provider: String,
    /// The type its events get, when the channel sets one.
    pub event_type: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Whether its events become work.
    pub process: bool,
    /// The work queue.
    pub queue: String,
    /// Event field -> JSON Pointer or constant.
    #[schema(value_type = Object)]
    pub mapping: Value,
    /// What a `claude-code` channel keeps (absent for other providers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyInput>,
    /// A disabled channel answers 404 to providers.
    pub disabled: bool,
    /// The URL to give the provider.
    pub ingest_url: String,
    /// Until when the previous secret still verifies, after a rotation.
    pub previous_secret_valid_until: Option<String>,
    /// When it was made.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// A new channel and, this once, its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelCreated {
    /// The channel.
    #[serde(flatten)]
    pub channel: ChannelOut,
    /// The signing secret or key; it is never shown again.
    pub secret: String,
}

/// The tenant's channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelList {
    /// Oldest first.
    pub items: Vec<ChannelOut>,
}

/// The body of `PATCH /v1/channels/{id}`: fields to change; `event_type: null` clears it.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    /// New label.
    pub name: Option<String>,
    /// New event type, or `null` to let the provider decide.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub event_type: Option<Option<String>>,
    /// `inbound` or `outbound`.
    #[schema(value_type = Option<String>)]
    pub direction: Option<Direction>,
    /// Whether its events become work.
    pub process: Option<bool>,
    /// The work queue.
    pub queue: Option<String>,
    /// A new mapping (replaces the old one).
    #[schema(value_type = Option<Object>)]
    pub mapping: Option<Value>,
    /// New privacy settings of a `claude-code` channel (replace the old ones; fields left out
    /// take their defaults).
    pub privacy: Option<PrivacyInput>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

/// The body of `POST /v1/channels/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// The new secret, when the provider issues it; absent: Spine generates one.
    pub secret: Option<String>,
    /// How long the old secret keeps verifying, 0..=604800 seconds (default 86400).
    pub grace_seconds: Option<i64>,
}

/// The answer to a rotation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretRotated {
    /// The channel.
    #[serde(flatten)]
    pub channel: ChannelOut,
    /// The new secret, shown once.
    pub secret: String,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The base URL providers call: the configured `public_url`, else the request's `Host`.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn out(record: &ChannelRecord, base: &str) -> ChannelOut {
    let s = &record.settings;
    ChannelOut {
        id: record.id.clone(),
        name: s.name.clone(),
        provider: s.provider.as_str().to_owned(),
        event_type: s.event_type.as_ref().map(|t| t.as_str().to_owned()),
        direction: s.direction.as_str().to_owned(),
        process: s.process,
        queue: s.queue.clone(),
        mapping: s.mapping.to_json(),
        privacy: (s.provider == Provider::ClaudeCode).then(|| s.privacy.to_input()),
        disabled: record.disabled,
        ingest_url: format!("{base}/v1/ingest/{}", record.id),
        previous_secret_valid_until: record
            .previous_until
            .filter(|until| *until > Timestamp::now())
            .map(Timestamp::to_rfc3339),
        created_at: record.created_at.to_rfc3339(),
        updated_at: record.updated_at.to_rfc3339(),
    }
}

/// Creates a channel (admin); the secret is in this answer only.
#[utoipa::path(post, path = "/v1/channels", tag = "ingest",
    request_body = crate::openapi::ChannelInputSchema,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = ChannelCreated),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_channel(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(input, _): Json<ChannelInput>,
) -> Result<(StatusCode, axum::Json<ChannelCreated>), ApiError> {
    principal.require(Role::Admin)?;
    let created = provision::create_channel(
        state.store.as_ref(),
        &state.channel_secrets,
        &principal.tenant,
        input,
    )
    .await;
    let (record, secret) = match created {
        Ok(created) => created,
        Err(ChannelError::Invalid(errors)) => return Err(errors.into()),
        Err(ChannelError::Store(e)) => return Err(e.into()),
    };
    let provider = record.settings.provider.as_str();
    tracing::info!(channel = %record.id, provider, "channel created");
    let title = format!("{provider} channel \"{}\" created", record.settings.name);
    let data = json!({"name": record.settings.name, "provider": provider});
    let action = Action::new("channel.created", "channel", &record.id, title).with(data);
    audit::record(&state, &principal, action).await;
    let channel = out(&record, &base_url(&state, &headers));
    Ok((StatusCode::CREATED, axum::Json(ChannelCreated { channel, secret })))
}

/// Lists the tenant's channels (admin).
#[utoipa::path(get, path = "/v1/channels", tag = "ingest",
    responses(
        (status = 200, description = "Channels, oldest first", body = ChannelList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_channels(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<axum::Json<ChannelList>, ApiError> {
    principal.require(Role::Admin)?;
    let base = base_url(&state, &headers);
    let records = state.store.list_channels(&principal.tenant).await?;
    Ok(axum::Json(ChannelList { items: records.iter().map(|r| out(r, &base)).collect() }))
}

/// One channel (admin).
#[utoipa::path(get, path = "/v1/channels/{id}", tag = "ingest",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The channel", body = ChannelOut),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_channel(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::Json<ChannelOut>, ApiError> {
    principal.require(Role::Admin)?;
    let record =
        state.store.get_channel(&principal.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(out(&record, &base_url(&state, &headers))))
}

/// Changes a channel's settings (admin); the secret stays.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "ingest",
    params(("id" = String, Path, description = "The channel's id")),
    request_body = ChannelPatch,
    responses(
        (status = 200, description = "The changed channel", body = ChannelOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_channel(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(patch, _): Json<ChannelPatch>,
) -> Result<axum::Json<ChannelOut>, ApiError> {
    principal.require(Role::Admin)?;
    let record =
        state.store.get_channel(&principal.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    let s = record.settings;
    // The merged channel is validated like a new one, so a change can never store what
    // creation would refuse.
    let merged = ChannelInput {
        name: patch.name.unwrap_or(s.name),
        provider: s.provider.as_str().to_owned(),
        event_type: match patch.event_type {
            Some(new) => new,
            None => s.event_type.map(|t| t.as_str().to_owned()),
        },
        direction: Some(patch.direction.unwrap_or(s.direction)),
        process: patch.process.unwrap_or(s.process),
        queue: Some(patch.queue.unwrap_or(s.queue)),
        mapping: Some(patch.mapping.unwrap_or_else(|| s.mapping.to_json())),
        secret: None,
        privacy: patch
            .privacy
            .or_else(|| (s.provider == Provider::ClaudeCode).then(|| s.privacy.to_input())),
    };
    let (settings, _) = merged.validate()?;
    let disabled = patch.disabled.unwrap_or(record.disabled);
    let updated = state
        .store
        .update_channel(&principal.tenant, &id, &settings, disabled)
        .await?
        .ok_or(ApiError::NotFound)?;
    state.channels.evict(&id);
    tracing::info!(channel = %id, disabled, "channel changed");
    let title = format!("channel \"{}\" changed", updated.settings.name);
    let data = json!({"name": updated.settings.name, "disabled": disabled});
    let action = Action::new("channel.updated", "channel", &id, title).with(data);
    audit::record(&state, &principal, action).await;
    Ok(axum::Json(out(&updated, &base_url(&state, &headers))))
}

/// Rotates a channel's secret (admin): the old one keeps verifying for the grace period.
#[utoipa::path(post, path = "/v1/channels/{id}/rotate-secret", tag = "ingest",
    params(("id" = String, Path, description = "The channel's id")),
    request_body = RotateSecret,
    responses(
        (status = 200, description = "Rotated; the new secret is shown once", body = SecretRotated),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    crate::json::OptionalJson(input): crate::json::OptionalJson<RotateSecret>,
) -> Result<axum::Json<SecretRotated>, ApiError> {
    principal.require(Role::Admin)?;
    let grace = input.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(ApiError::invalid(
            "grace_seconds",
            format!("must be 0 to {MAX_GRACE_SECONDS}"),
        ));
    }
    if input.secret.as_deref().is_some_and(|s| s.trim().is_empty() || s.len() > 512) {
        return Err(ApiError::invalid("secret", "must be 1-512 characters"));
    }
    let record =
        state.store.get_channel(&principal.tenant, &id).await?.ok_or(ApiError::NotFound)?;
    let secret = provision::channel_secret(ingest::source(record.settings.provider), input.secret)?;
    let sealed =
        provision::seal_channel_secret(&state.channel_secrets, &principal.tenant, &id, &secret);
    let until = Timestamp::now().plus_seconds(grace);
    let rotated = state
        .store
        .rotate_channel_secret(&principal.tenant, &id, &sealed, until)
        .await?
        .ok_or(ApiError::NotFound)?;
    state.channels.evict(&id);
    tracing::info!(channel = %id, grace_seconds = grace, "channel secret rotated");
    let title = format!("channel \"{}\" secret rotated", rotated.settings.name);
    let action = Action::new("channel.secret_rotated", "channel", &id, title)
        .with(json!({"grace_seconds": grace}));
    audit::record(&state, &principal, action).await;
    let channel = out(&rotated, &base_url(&state, &headers));
    Ok(axum::Json(SecretRotated { channel, secret }))
}

/// Deletes a channel (admin); its ledger entries stay until retention removes them.
#[utoipa::path(delete, path = "/v1/channels/{id}", tag = "ingest",
    params(("id" = String, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such channel in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.delete_channel(&principal.tenant, &id).await? {
        return Err(ApiError::NotFound);
    }
    state.channels.evict(&id);
    tracing::info!(channel = %id, "channel deleted");
    let title = format!("channel {id} deleted");
    audit::record(&state, &principal, Action::new("channel.deleted", "channel", &id, title)).await;
    Ok(StatusCode::NO_CONTENT)
}
