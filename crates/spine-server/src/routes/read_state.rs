//! Per-user read state (SPEC section 3): mark one event read, mark everything read through a
//! position, and the exact unread count. The user comes from a viewer token or, for read and
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
    /// Events within scope the user has not read.
    pub unread: u64,
}

/// Marks one event read for the user.
#[utoipa::path(post, path = "/v1/events/{id}/read", tag = "read state",
    params(("id" = String, Path, description = "Event id"),
        ("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "Marked", body = Marked),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event in this tenant and scope", body = Problem, content_type = "application/problem+json"),
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
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn read_all(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    OptionalJson(input): OptionalJson<ReadAllInput>,
) -> Result<Json<Watermark>, ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(&headers)?;
    if input.through_seq.is_some_and(|s| s.0 < 0) {
        return Err(ApiError::invalid("through_seq", "must be a non-negative integer"));
    }
    let through_seq =
        state.store.mark_all_read(&principal.tenant, &user, input.through_seq).await?;
    Ok(Json(Watermark { through_seq }))
}

/// The user's exact unread count within scope.
#[utoipa::path(get, path = "/v1/unread-count", tag = "read state",
    params(("X-Spine-User" = Option<String>, Header, description = "The user, with a read or admin key")),
    responses(
        (status = 200, description = "The count", body = UnreadCount),
        (status = 400, description = "No user given", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn unread_count(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<UnreadCount>, ApiError> {
    principal.require_reader()?;
    let user = principal.require_user(&headers)?;
    let unread = state.store.unread_count(&principal.tenant, &user, principal.scope()).await?;
    Ok(Json(UnreadCount { unread }))
}
