//! Per-user read state (SPEC section 3): mark one event read, mark everything read through a
//! position, the seen watermark, archiving, and the exact unread and unseen counts. The user comes from a viewer token or, for read and
//! admin keys, the `X-Spine-User` header.

use super::Path;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::OptionalJson;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use spine_core::Seq;
use uuid::Uuid;

/// The read-state routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events/{id}/read", post(mark_read))
        .route("/v1/read-all", post(read_all))
        .route("/v1/unread-count", get(unread_count))
        .route("/v1/seen", post(seen))
        .route("/v1/events/{id}/archive", post(archive))
        .route("/v1/events/{id}/unarchive", post(unarchive))
}

/// The answer of `POST /v1/events/{id}/read`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Marked {
    /// The event.
    #[schema(value_type = String)]
    pub id: Uuid,
    /// Always true.
    pub read: bool,
}

/// The body of `POST /v1/read-all`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadAllInput {
    /// Mark read through this position; default: the newest event.
    #[schema(value_type = Option<i64>)]
    pub through_seq: Option<Seq>,
}

/// The answer of `POST /v1/read-all`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Watermark {
    /// Everything at or below this position is read.
    #[schema(value_type = i64)]
    pub through_seq: Seq,
}

/// The answer of `GET /v1/unread-count`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadCount {
    /// Events within scope the user has not read (archived ones excepted).
    pub unread: u64,
    /// Events within scope above the user's seen watermark (archived ones excepted).
    pub unseen: u64,
}

/// The answer of `POST /v1/events/{id}/archive` and `.../unarchive`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Archived {
    /// The event.
    #[schema(value_type = String)]
    pub id: Uuid,
    /// Whether it is archived for the user now.
    pub archived: bool,
}

/// Marks one event read for the user.
#[utoipa::path(post, path = "/v1/events/{id}/read", tag = "read state",
    params(("id" = String, Path, description = "Event id"),
        ("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "Marked", body = Marked),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Marked>, ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(&headers)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    if !state.store.mark_read(&principal.tenant, &user, id, principal.scope()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(Marked { id, read: true }))
}

/// Marks everything through a position read for the user.
#[utoipa::path(post, path = "/v1/read-all", tag = "read state",
    request_body(content = Option<ReadAllInput>, description = "Optional; empty means through the newest event"),
    params(("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "The new watermark", body = Watermark),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn read_all(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    OptionalJson(input): OptionalJson<ReadAllInput>,
) -> Result<Json<Watermark>, ApiError> {
    let (user, through) = watermark_request(&principal, &headers, &input)?;
    let through_seq = state.store.mark_all_read(&principal.tenant, &user, through).await?;
    Ok(Json(Watermark { through_seq }))
}

/// The user and the position of a request that moves a watermark (read-all, seen).
fn watermark_request(
    principal: &Principal,
    headers: &HeaderMap,
    input: &ReadAllInput,
) -> Result<(spine_core::UserId, Option<Seq>), ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(headers)?;
    if input.through_seq.is_some_and(|s| s.0 < 0) {
        return Err(ApiError::invalid("through_seq", "must be a non-negative integer"));
    }
    Ok((user, input.through_seq))
}

/// The user's exact unread count within scope.
#[utoipa::path(get, path = "/v1/unread-count", tag = "read state",
    params(("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "The count", body = UnreadCount),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn unread_count(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<UnreadCount>, ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(&headers)?;
    let (tenant, scope) = (&principal.tenant, principal.scope());
    let unread = state.store.unread_count(tenant, &user, scope).await?;
    let unseen = state.store.unseen_count(tenant, &user, scope).await?;
    Ok(Json(UnreadCount { unread, unseen }))
}

/// Moves the user's seen watermark: opening a feed marks what it showed as seen.
#[utoipa::path(post, path = "/v1/seen", tag = "read state",
    request_body(content = Option<ReadAllInput>, description = "Optional; empty means through the newest event"),
    params(("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "The new seen watermark", body = Watermark),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn seen(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    OptionalJson(input): OptionalJson<ReadAllInput>,
) -> Result<Json<Watermark>, ApiError> {
    let (user, through) = watermark_request(&principal, &headers, &input)?;
    let through_seq = state.store.mark_seen(&principal.tenant, &user, through).await?;
    Ok(Json(Watermark { through_seq }))
}

/// Archives an event for the user: it leaves their feed (`archived=false`, the viewer default)
/// and their counts, and shows under `archived=true`.
#[utoipa::path(post, path = "/v1/events/{id}/archive", tag = "read state",
    params(("id" = String, Path, description = "Event id"),
        ("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "Archived", body = Archived),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn archive(
    state: State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Json<Archived>, ApiError> {
    set_archived(state, principal, headers, id, true).await
}

/// Brings an archived event back into the user's feed.
#[utoipa::path(post, path = "/v1/events/{id}/unarchive", tag = "read state",
    params(("id" = String, Path, description = "Event id"),
        ("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "Unarchived", body = Archived),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn unarchive(
    state: State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    id: Path<String>,
) -> Result<Json<Archived>, ApiError> {
    set_archived(state, principal, headers, id, false).await
}

async fn set_archived(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
    archived: bool,
) -> Result<Json<Archived>, ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(&headers)?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let scope = principal.scope();
    if !state.store.set_archived(&principal.tenant, &user, id, scope, archived).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(Archived { id, archived }))
}
