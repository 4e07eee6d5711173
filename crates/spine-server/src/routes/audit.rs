//! The audit trail (`GET /v1/audit`, admin): the tenant's `audit.*` events, every administrative
//! action ([`crate::audit`] writes them), with the feed's filters, order and paging.

use super::feed::{feed_request, page, FeedPage};
use super::QueryPairs;
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use spine_core::filter::{TypePattern, AUDIT_PREFIX};
use spine_core::{Role, ValidationErrors};

/// The audit route.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(list_audit))
}

/// The tenant's audit trail (admin): the feed of `audit.*` events, newest first, with the
/// feed's filters (`type` narrowed to audit types such as `audit.key.*`, `actor`,
/// `entity_type`, `since`, `until`, `q`, `order`, `limit`, `cursor`).
#[utoipa::path(get, path = "/v1/audit", tag = "admin",
    params(crate::openapi::FeedParams),
    responses(
        (status = 200, description = "A page of audit events", body = crate::openapi::FeedPageSchema),
        (status = 400, description = "Bad filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    pairs: QueryPairs,
) -> Result<Json<FeedPage>, ApiError> {
    principal.require(Role::Admin)?;
    let mut req = feed_request(&state, &pairs)?;
    if req.filter.types.is_empty() {
        let all = TypePattern::parse("audit.*").map_err(|_| ApiError::Internal)?;
        req.filter.types.push(all);
    } else if req.filter.types.iter().any(|t| !audit_pattern(t)) {
        return Err(ApiError::InvalidQuery(ValidationErrors::single(
            "type",
            "the audit trail holds only audit.* types",
        )));
    }
    Ok(Json(page(&state, &principal, &headers, req).await?))
}

/// Whether a type pattern stays within the audit trail.
fn audit_pattern(pattern: &TypePattern) -> bool {
    match pattern {
        TypePattern::Exact(t) => t.as_str().starts_with(AUDIT_PREFIX),
        TypePattern::Prefix(p) => p.starts_with(AUDIT_PREFIX),
    }
}
