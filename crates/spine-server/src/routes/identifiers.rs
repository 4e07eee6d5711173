//! Entity identifiers (SPEC section 6): normalized e-mail addresses and phone numbers that put
//! inbound messages on an entity. `POST` adds one (409 if another entity of the tenant holds it),
//! `GET` lists them, `DELETE .../{value}` removes one.

use super::Path;
use crate::audit::{self, Action};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spine_core::identifier::{Identifier, Region};
use spine_core::{Role, ValidationErrors};
use spine_store::{IdentifierRecord, StoreError};

/// The identifier routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/entities/{type}/{id}/identifiers", post(add_identifier).get(list_identifiers))
        .route("/v1/entities/{type}/{id}/identifiers/{value}", delete(delete_identifier))
        .route("/v1/settings/phone-region", get(get_phone_region).put(put_phone_region))
}

/// The tenant's default phone region: phone numbers written without `+` are read in it, for
/// identifiers and for matching inbound messages.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRegion {
    /// ISO 3166 alpha-2 (`US`, `GB`, `DE`), or `null` to fall back to the server's setting.
    #[schema(pattern = "^[A-Za-z]{2}$")]
    pub region: Option<String>,
}

/// The region phone numbers are read in for this tenant: its own, else the server's.
pub async fn region_of(
    state: &AppState,
    tenant: &spine_core::TenantId,
) -> Result<Option<String>, ApiError> {
    Ok(state
        .store
        .phone_region(tenant)
        .await?
        .or_else(|| state.config.default_phone_region.clone()))
}

/// The tenant's default phone region (any reading credential).
#[utoipa::path(get, path = "/v1/settings/phone-region", tag = "ingest",
    responses(
        (status = 200, description = "The tenant's region (null: the server's default applies)", body = PhoneRegion),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer tokens may not", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_phone_region(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<PhoneRegion>, ApiError> {
    principal.require(Role::Read)?;
    Ok(axum::Json(PhoneRegion { region: state.store.phone_region(&principal.tenant).await? }))
}

/// Sets or clears the tenant's default phone region (admin).
#[utoipa::path(put, path = "/v1/settings/phone-region", tag = "ingest",
    request_body = PhoneRegion,
    responses(
        (status = 200, description = "The region now set", body = PhoneRegion),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a region code", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_phone_region(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<PhoneRegion>,
) -> Result<axum::Json<PhoneRegion>, ApiError> {
    principal.require(Role::Admin)?;
    let region = input
        .region
        .as_deref()
        .map(Region::parse)
        .transpose()
        .map_err(|m| ApiError::Validation(ValidationErrors::single("region", m)))?
        .map(|r| r.as_str().to_owned());
    state.store.set_phone_region(&principal.tenant, region.as_deref()).await?;
    tracing::info!(region = region.as_deref().unwrap_or("-"), "phone region set");
    let title = format!("phone region set to {}", region.as_deref().unwrap_or("none"));
    let action = Action::new("phone_region.set", "tenant", principal.tenant.as_str(), title)
        .with(json!({"region": region}));
    audit::record(&state, &principal, action).await;
    Ok(axum::Json(PhoneRegion { region }))
}

/// The body of `POST /v1/entities/{type}/{id}/identifiers`: exactly one of the two.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierInput {
    /// An e-mail address; stored in lower case.
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// A phone number; stored in E.164, read with the default region when it has no `+`.
    #[schema(max_length = 64)]
    pub phone: Option<String>,
}

/// An entity's identifiers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentifierList {
    /// By value.
    #[schema(value_type = Vec<crate::openapi::IdentifierSchema>)]
    pub items: Vec<IdentifierRecord>,
}

/// Adds an identifier to an entity (ingest or admin key).
#[utoipa::path(post, path = "/v1/entities/{type}/{id}/identifiers", tag = "ingest",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id")),
    request_body = IdentifierInput,
    responses(
        (status = 201, description = "Added (or already on this entity)", body = crate::openapi::IdentifierSchema),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a valid entity type or id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another entity holds it", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an e-mail address or phone number", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn add_identifier(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id)): Path<(String, String)>,
    Json(input, _): Json<IdentifierInput>,
) -> Result<(StatusCode, axum::Json<IdentifierRecord>), ApiError> {
    principal.require(Role::Ingest)?;
    super::path_entity(&entity_type, &entity_id)?;
    let region = region_of(&state, &principal.tenant).await?;
    let identifier = match (input.email, input.phone) {
        (Some(email), None) => Identifier::email(&email).map_err(|m| ("email", m)),
        (None, Some(phone)) => {
            Identifier::phone(&phone, region.as_deref()).map_err(|m| ("phone", m))
        }
        _ => Err(("email", "give exactly one of email and phone".to_owned())),
    }
    .map_err(|(field, message)| ApiError::Validation(ValidationErrors::single(field, message)))?;
    let record = state
        .store
        .add_identifier(
            &principal.tenant,
            &entity_type,
            &entity_id,
            identifier.kind(),
            identifier.as_str(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict {
                detail: "another entity of this tenant holds this identifier".into(),
                errors: vec![],
            },
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, axum::Json(record)))
}

/// Lists an entity's identifiers (any reading credential).
#[utoipa::path(get, path = "/v1/entities/{type}/{id}/identifiers", tag = "ingest",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id")),
    responses(
        (status = 200, description = "The identifiers", body = IdentifierList),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer tokens may not", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a valid entity type or id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_identifiers(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id)): Path<(String, String)>,
) -> Result<axum::Json<IdentifierList>, ApiError> {
    principal.require(Role::Read)?;
    super::path_entity(&entity_type, &entity_id)?;
    let items = state.store.list_identifiers(&principal.tenant, &entity_type, &entity_id).await?;
    Ok(axum::Json(IdentifierList { items }))
}

/// Removes one of an entity's identifiers (ingest or admin key).
#[utoipa::path(delete, path = "/v1/entities/{type}/{id}/identifiers/{value}", tag = "ingest",
    params(
        ("type" = String, Path, description = "Entity type"),
        ("id" = String, Path, description = "Entity id"),
        ("value" = String, Path, description = "The identifier, as listed (URL-encoded)"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key may not write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The entity does not hold it", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn delete_identifier(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id, value)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Ingest)?;
    super::path_entity(&entity_type, &entity_id)?;
    if !state.store.delete_identifier(&principal.tenant, &entity_type, &entity_id, &value).await? {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
