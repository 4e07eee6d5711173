//! A tenant's rate limits and quotas: `PUT /v1/limits` and `GET /v1/limits` (the tenant's
//! admin, within the operator's ceiling), and `PUT /v1/tenants/{id}/limits` and
//! `GET /v1/tenants/{id}/limits` (the operator's ceiling for one tenant). [`crate::limits`]
//! enforces them.

use super::admin::Operator;
use super::Path;
use crate::audit::{self, Action, Actor};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::put;
use axum::Router;
use serde::Serialize;
use spine_core::limits::LimitsInput;
use spine_core::{Role, TenantId};
use spine_store::LimitLayer;

/// The limits routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/limits", put(put_limits).get(get_limits))
        .route("/v1/tenants/{id}/limits", put(put_ceiling).get(get_ceiling))
}

/// A tenant's limits: what is in force and where it comes from, and what it holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    /// The limits enforced now: the tenant's own within the ceiling (absent: unlimited).
    pub in_force: LimitsInput,
    /// What the tenant's admin set (`PUT /v1/limits`).
    pub own: LimitsInput,
    /// The most the tenant may allow itself: the operator's ceiling for it, else the
    /// installation's defaults.
    pub ceiling: LimitsInput,
    /// What the tenant holds against its quotas.
    pub usage: UsageView,
    /// The nodes sharing the rate limits: each enforces its share of every rate and burst.
    pub nodes: u64,
}

/// What a tenant holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    /// Events in the log.
    pub events: u64,
    /// Bytes of uploaded files.
    pub blob_bytes: u64,
}

async fn view(state: &AppState, tenant: &TenantId) -> Result<LimitsView, ApiError> {
    let stored = state.store.get_limits(tenant).await?;
    let defaults = state.limits.defaults();
    let ceiling = stored.ceiling.map_or(*defaults, |c| c.or(defaults));
    let own = stored.own.unwrap_or_default();
    let usage = state.store.usage(tenant).await?;
    Ok(LimitsView {
        in_force: LimitsInput::effective(defaults, Some(&ceiling), Some(&own)),
        own,
        ceiling,
        usage: UsageView { events: usage.events, blob_bytes: usage.blob_bytes },
        nodes: state.limits.nodes(),
    })
}

/// Sets the tenant's own limits (admin), replacing the previous ones; each must be within the
/// operator's ceiling, and an absent field means "as high as the ceiling allows".
#[utoipa::path(put, path = "/v1/limits", tag = "admin",
    request_body = LimitsInput,
    responses(
        (status = 200, description = "The limits now in force", body = LimitsView),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is out of range or above the ceiling", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_limits(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<LimitsInput>,
) -> Result<axum::Json<LimitsView>, ApiError> {
    principal.require(Role::Admin)?;
    let limits = input.validate()?;
    let stored = state.store.get_limits(&principal.tenant).await?;
    let defaults = state.limits.defaults();
    limits.above(&stored.ceiling.map_or(*defaults, |c| c.or(defaults)))?;
    state.store.put_limits(&principal.tenant, LimitLayer::Own, &limits).await?;
    state.limits.changed(&principal.tenant);
    tracing::info!(limits = ?limits, "tenant limits set");
    let data = serde_json::to_value(limits).unwrap_or_default();
    let action = Action::new("limits.set", "tenant", principal.tenant.as_str(), "limits set");
    audit::record(&state, &principal, action.with(data)).await;
    Ok(axum::Json(view(&state, &principal.tenant).await?))
}

/// The tenant's limits: in force, its own, the ceiling, and its usage (admin).
#[utoipa::path(get, path = "/v1/limits", tag = "admin",
    responses(
        (status = 200, description = "The limits", body = LimitsView),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_limits(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<LimitsView>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(axum::Json(view(&state, &principal.tenant).await?))
}

/// Sets the operator's ceiling for one tenant (server operator token), replacing the previous
/// one; an absent field falls back to the installation's default. The tenant's own limits
/// above it are capped at once.
#[utoipa::path(put, path = "/v1/tenants/{id}/limits", tag = "admin",
    request_body = LimitsInput,
    params(("id" = String, Path, description = "The tenant")),
    responses(
        (status = 200, description = "The tenant's limits now", body = LimitsView),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or no operator token configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value is out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = [])))]
pub async fn put_ceiling(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
    Json(input, _): Json<LimitsInput>,
) -> Result<axum::Json<LimitsView>, ApiError> {
    let tenant = existing_tenant(&state, &id).await?;
    let ceiling = input.validate()?;
    state.store.put_limits(&tenant, LimitLayer::Ceiling, &ceiling).await?;
    state.limits.changed(&tenant);
    tracing::info!(tenant = %tenant, ceiling = ?ceiling, "tenant ceiling set");
    let data = serde_json::to_value(ceiling).unwrap_or_default();
    let action = Action::new("limits.ceiling_set", "tenant", tenant.as_str(), "limits ceiling set");
    audit::record_as(&state, &tenant, Actor::Operator, action.with(data)).await;
    Ok(axum::Json(view(&state, &tenant).await?))
}

/// One tenant's limits (server operator token).
#[utoipa::path(get, path = "/v1/tenants/{id}/limits", tag = "admin",
    params(("id" = String, Path, description = "The tenant")),
    responses(
        (status = 200, description = "The limits", body = LimitsView),
        (status = 401, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant, or no operator token configured", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = [])))]
pub async fn get_ceiling(
    State(state): State<AppState>,
    _operator: Operator,
    Path(id): Path<String>,
) -> Result<axum::Json<LimitsView>, ApiError> {
    let tenant = existing_tenant(&state, &id).await?;
    Ok(axum::Json(view(&state, &tenant).await?))
}

async fn existing_tenant(state: &AppState, id: &str) -> Result<TenantId, ApiError> {
    let tenant = TenantId::parse(id).map_err(|_| ApiError::NotFound)?;
    state.store.get_tenant(&tenant).await?.ok_or(ApiError::NotFound)?;
    Ok(tenant)
}
