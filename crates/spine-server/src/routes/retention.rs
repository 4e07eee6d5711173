//! The tenant's retention policy (SPEC section 8): `PUT /v1/retention` and `GET /v1/retention`
//! (admin). The sweeper ([`crate::retention`]) applies it.

use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::put;
use axum::Router;
use spine_core::retention::RetentionInput;
use spine_core::Role;

/// The retention routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/retention", put(put_retention).get(get_retention))
}

/// Sets the tenant's retention policy (admin): events are kept `max_age_days`, or their type's
/// days (the most specific pattern wins), or until their own `expires_at`; `{}` keeps
/// everything.
#[utoipa::path(put, path = "/v1/retention", tag = "admin",
    request_body = RetentionInput,
    responses(
        (status = 200, description = "The policy, as stored", body = RetentionInput),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_retention(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<RetentionInput>,
) -> Result<axum::Json<RetentionInput>, ApiError> {
    principal.require(Role::Admin)?;
    let policy = input.validate()?.to_input();
    state.store.put_retention(&principal.tenant, &policy).await?;
    tracing::info!(max_age_days = ?policy.max_age_days, types = policy.types.len(), "retention set");
    let data = serde_json::to_value(&policy).unwrap_or_default();
    let action =
        Action::new("retention.set", "tenant", principal.tenant.as_str(), "retention policy set");
    audit::record(&state, &principal, action.with(data)).await;
    Ok(axum::Json(policy))
}

/// The tenant's retention policy (admin); `{}` when it keeps everything.
#[utoipa::path(get, path = "/v1/retention", tag = "admin",
    responses(
        (status = 200, description = "The policy", body = RetentionInput),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_retention(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<RetentionInput>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(axum::Json(state.store.get_retention(&principal.tenant).await?.unwrap_or_default()))
}
