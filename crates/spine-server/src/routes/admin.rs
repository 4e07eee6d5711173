//! Tenant administration: API keys, viewer tokens, registered types, and the operator's
//! `POST /v1/tenants`.

use super::Path;
use crate::audit::{self, Action, Actor};
use crate::auth::{bearer, Credential, Principal};
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::provision;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spine_core::token::ViewerClaims;
use spine_core::validation::FieldError;
use spine_core::{EventType, Role, Scope, TenantId, Timestamp, TypeInfo, UserId, ValidationErrors};
use spine_store::{ApiKeyInfo, StoreError};

/// The administration routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", post(create_key).get(list_keys))
        .route("/v1/keys/{id}", delete(revoke_key))
        .route("/v1/viewer-tokens", post(create_viewer_token))
        .route("/v1/types", get(list_types))
        .route("/v1/types/{type}", get(get_type).put(put_type))
        .route("/v1/types/{type}/preview", post(preview_type))
        .route("/v1/tenants", post(create_tenant))
}

/// The body of `POST /v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreate {
    /// `ingest`, `read` or `admin`.
    pub role: String,
    /// Optional label.
    pub name: Option<String>,
}

/// A new key: its listing fields and, this once, the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyCreated {
    /// The listing fields.
    #[serde(flatten)]
    #[schema(inline, value_type = crate::openapi::KeyInfoSchema)]
    pub info: ApiKeyInfo,
    /// The full key; it is never shown again.
    pub key: String,
}

/// The tenant's keys.
#[derive(Debug, Serialize)]
pub struct KeyList {
    /// Newest first, without secrets.
    pub items: Vec<ApiKeyInfo>,
}

/// Creates a key (admin).
#[utoipa::path(post, path = "/v1/keys", tag = "admin", request_body = KeyCreate,
    responses(
        (status = 201, description = "Created; the key is shown once", body = KeyCreated),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<KeyCreate>,
) -> Result<(StatusCode, axum::Json<KeyCreated>), ApiError> {
    principal.require(Role::Admin)?;
    let mut errors = ValidationErrors::default();
    let role = Role::parse(&input.role).map_err(|m| errors.push("role", m)).ok();
    let name = match input.name.as_deref().map(str::trim) {
        Some(n) if n.is_empty() || n.chars().count() > 128 || n.chars().any(char::is_control) => {
            errors.push("name", "must be 1-128 printable characters");
            None
        }
        other => other.map(str::to_owned),
    };
    let Some(role) = role.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let (key, record) = provision::generate_key(role, name);
    let info = state.store.create_key(&principal.tenant, record).await?;
    tracing::info!(key_id = %info.id, role = role.as_str(), "key created");
    let title = format!("{} key {} created", role.as_str(), info.id);
    let data = json!({"role": role.as_str(), "name": info.name});
    audit::record(
        &state,
        &principal,
        Action::new("key.created", "api_key", &info.id, title).with(data),
    )
    .await;
    Ok((StatusCode::CREATED, axum::Json(KeyCreated { info, key })))
}

/// Lists the tenant's keys (admin).
#[utoipa::path(get, path = "/v1/keys", tag = "admin",
    responses(
        (status = 200, description = "Keys, newest first", body = crate::openapi::KeyListSchema),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<KeyList>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(axum::Json(KeyList { items: state.store.list_keys(&principal.tenant).await? }))
}

/// Revokes a key (admin); takes effect at once on this node.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "admin",
    params(("id" = String, Path, description = "The key's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.revoke_key(&principal.tenant, &id).await? {
        return Err(ApiError::NotFound);
    }
    state.keys.evict(&id);
    tracing::info!(key_id = %id, "key revoked");
    let title = format!("key {id} revoked");
    audit::record(&state, &principal, Action::new("key.revoked", "api_key", &id, title)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `POST /v1/viewer-tokens`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewerTokenRequest {
    /// The end user the token acts for.
    pub user_id: String,
    /// Lifetime, 1..=86400 seconds (default 3600).
    pub ttl_seconds: Option<i64>,
    /// What the token may see: `{entity_type?, entity_id?, type?: [..], actor?}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub scope: Scope,
}

/// A minted viewer token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViewerToken {
    /// The token, for `Authorization: Bearer` (or `?token=` on streams).
    pub token: String,
    /// RFC 3339 expiry.
    #[schema(value_type = String)]
    pub expires_at: Timestamp,
}

const MAX_TTL: i64 = 86_400;

fn check_scope(scope: &Scope, errors: &mut ValidationErrors) {
    let fields = [
        ("scope.entity_type", &scope.entity_type),
        ("scope.entity_id", &scope.entity_id),
        ("scope.actor", &scope.actor),
    ];
    for (field, value) in fields {
        if value.as_ref().is_some_and(|v| v.trim().is_empty() || v.chars().count() > 512) {
            errors.push(field, "must be 1-512 characters");
        }
    }
    if scope.types.len() > 32 {
        errors.push("scope.type", "must list at most 32 types");
    }
}

/// Mints a viewer token for one end user (read or admin key).
#[utoipa::path(post, path = "/v1/viewer-tokens", tag = "admin", request_body = ViewerTokenRequest,
    responses(
        (status = 200, description = "The token", body = ViewerToken),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_viewer_token(
    State(state): State<AppState>,
    principal: Principal,
    Json(input, _): Json<ViewerTokenRequest>,
) -> Result<axum::Json<ViewerToken>, ApiError> {
    if matches!(principal.credential, Credential::Viewer { .. }) {
        return Err(ApiError::Forbidden("a viewer token may not mint viewer tokens".into()));
    }
    principal.require(Role::Read)?;
    let mut errors = ValidationErrors::default();
    let user = UserId::parse(&input.user_id).map_err(|m| errors.push("user_id", m)).ok();
    let ttl = input.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_TTL).contains(&ttl) {
        errors.push("ttl_seconds", format!("must be from 1 to {MAX_TTL}"));
    }
    check_scope(&input.scope, &mut errors);
    let Some(user) = user.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    // Tokens carry whole seconds: rounded up, so a token lives at least its `ttl` (rounded
    // down, a one-second token minted late in a second expired at once).
    let end = Timestamp::now().plus_seconds(ttl);
    let whole = end.as_unix_seconds() + i64::from(end.as_micros() % 1_000_000 != 0);
    let expires_at = Timestamp::from_micros(whole.saturating_mul(1_000_000)).unwrap_or(end);
    let title = format!("viewer token minted for {}", user.as_str());
    let data = json!({"user_id": user.as_str(), "ttl_seconds": ttl, "scope": input.scope});
    let action = Action::new("viewer_token.minted", "user", user.as_str(), title).with(data);
    let claims = ViewerClaims {
        tenant: principal.tenant.clone(),
        user,
        expires_at: expires_at.as_unix_seconds(),
        scope: input.scope,
    };
    let token = claims.sign(&state.secret);
    audit::record(&state, &principal, action).await;
    Ok(axum::Json(ViewerToken { token, expires_at }))
}

/// A registered type with its presentation.
#[derive(Debug, Serialize)]
pub struct TypeEntry {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Its presentation.
    #[serde(flatten)]
    pub info: TypeInfo,
}

/// Every registered type.
#[derive(Debug, Serialize)]
pub struct TypeList {
    /// By type.
    pub items: Vec<TypeEntry>,
}

/// The body of `POST /v1/types/{type}/preview`: a presentation to try, unsaved.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The template to render, e.g. `{actor.name} completed "{entity.name}"`.
    pub summary_template: Option<String>,
}

/// The answer of a preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The summary the template gives (the default summary when a placeholder has no value).
    pub summary: String,
    /// The event it was rendered for: the tenant's newest of the type; `null` for a sample.
    #[schema(value_type = Option<String>)]
    pub event_id: Option<uuid::Uuid>,
}

/// Renders a summary template against the tenant's newest event of the type (or a sample
/// event), so an admin sees what a template gives before saving it.
#[utoipa::path(post, path = "/v1/types/{type}/preview", tag = "admin",
    params(("type" = String, Path, description = "Event type, e.g. task.created")),
    request_body = PreviewInput,
    responses(
        (status = 200, description = "The rendered summary", body = Preview),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid template", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn preview_type(
    State(state): State<AppState>,
    principal: Principal,
    Path(event_type): Path<String>,
    Json(input, _): Json<PreviewInput>,
) -> Result<axum::Json<Preview>, ApiError> {
    principal.require(Role::Admin)?;
    let event_type = EventType::parse(&event_type).map_err(|m| ApiError::invalid("type", m))?;
    let info = TypeInfo { summary_template: input.summary_template, ..TypeInfo::default() };
    info.validate()?;
    let query = spine_store::FeedQuery {
        filter: spine_core::EventFilter {
            types: vec![spine_core::TypePattern::Exact(event_type.clone())],
            ..Default::default()
        },
        limit: 1,
        ..Default::default()
    };
    let newest = state.store.query(&principal.tenant, &query).await?.items.pop();
    let (event, event_id) = match newest {
        Some(item) => {
            let id = item.event.id;
            (item.event, Some(id))
        }
        None => (sample_event(&principal.tenant, &event_type)?, None),
    };
    let summary = spine_core::summary::summarize(&event, Some(&info));
    Ok(axum::Json(Preview { summary, event_id }))
}

/// A made-up event of `event_type` with every common field, for previews of unused types.
fn sample_event(tenant: &TenantId, event_type: &EventType) -> Result<spine_core::Event, ApiError> {
    let input: spine_core::EventInput = serde_json::from_value(serde_json::json!({
        "type": event_type.as_str(),
        "action": "created",
        "title": "Update the onboarding guide",
        "actor": {"id": "ana", "name": "Ana", "kind": "user"},
        "entity": {"type": "task", "id": "T-1", "name": "Update the onboarding guide"},
    }))
    .map_err(|e| {
        tracing::error!(error = %e, "the sample event does not parse");
        ApiError::Internal
    })?;
    let new = input
        .validate(uuid::Uuid::now_v7(), None, &spine_core::input::EventLimits::default())
        .map_err(ApiError::from)?;
    Ok(new.commit(tenant.clone(), spine_core::Seq(0), Timestamp::now(), String::new()))
}

fn parse_type(t: &str) -> Result<EventType, ApiError> {
    EventType::parse(t).map_err(|_| ApiError::NotFound)
}

/// Registers or replaces a type's presentation (admin).
#[utoipa::path(put, path = "/v1/types/{type}", tag = "admin",
    params(("type" = String, Path, description = "Event type, e.g. task.created")),
    request_body = crate::openapi::TypeInfoSchema,
    responses(
        (status = 200, description = "Stored", body = crate::openapi::TypeEntrySchema),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_type(
    State(state): State<AppState>,
    principal: Principal,
    Path(event_type): Path<String>,
    Json(info, _): Json<TypeInfo>,
) -> Result<axum::Json<TypeEntry>, ApiError> {
    principal.require(Role::Admin)?;
    let event_type = EventType::parse(&event_type).map_err(|m| ApiError::invalid("type", m))?;
    info.validate()?;
    state.store.put_type(&principal.tenant, &event_type, &info).await?;
    let title = format!("type {event_type} registered");
    let data = serde_json::to_value(&info).unwrap_or_default();
    let action = Action::new("type.registered", "event_type", event_type.as_str(), title);
    audit::record(&state, &principal, action.with(data)).await;
    Ok(axum::Json(TypeEntry { event_type, info }))
}

/// A registered type's presentation.
#[utoipa::path(get, path = "/v1/types/{type}", tag = "admin",
    params(("type" = String, Path, description = "Event type")),
    responses(
        (status = 200, description = "The presentation", body = crate::openapi::TypeEntrySchema),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not registered", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_type(
    State(state): State<AppState>,
    principal: Principal,
    Path(event_type): Path<String>,
) -> Result<axum::Json<TypeEntry>, ApiError> {
    principal.require_reader()?;
    let event_type = parse_type(&event_type)?;
    let info =
        state.store.get_type(&principal.tenant, &event_type).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(TypeEntry { event_type, info }))
}

/// Every registered type of the tenant.
#[utoipa::path(get, path = "/v1/types", tag = "admin",
    responses(
        (status = 200, description = "Registered types", body = crate::openapi::TypeListSchema),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_types(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<TypeList>, ApiError> {
    principal.require_reader()?;
    let items = state
        .store
        .list_types(&principal.tenant)
        .await?
        .into_iter()
        .map(|(event_type, info)| TypeEntry { event_type, info })
        .collect();
    Ok(axum::Json(TypeList { items }))
}

/// The body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Display name; the id is its slug.
    pub name: String,
}

/// A new tenant and its first admin key (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantCreated {
    /// The tenant's id.
    #[schema(value_type = String)]
    pub tenant_id: TenantId,
    /// Display name.
    pub name: String,
    /// An admin key for the tenant; never shown again.
    pub admin_key: String,
}

/// Proof that the request carries the server operator's token (checked before the body is read).
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.config.admin_token.as_deref().ok_or(ApiError::NotFound)?;
        let presented = bearer(&parts.headers)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), expected.as_bytes())) {
            return Err(ApiError::Unauthorized("the operator token is invalid".into()));
        }
        Ok(Operator)
    }
}

/// Creates a tenant (server operator token; 404 when none is configured).
#[utoipa::path(post, path = "/v1/tenants", tag = "admin", request_body = TenantCreate,
    responses(
        (status = 201, description = "Created", body = TenantCreated),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong operator token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No operator token configured", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("operator" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    _operator: Operator,
    Json(input, _): Json<TenantCreate>,
) -> Result<(StatusCode, axum::Json<TenantCreated>), ApiError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be 1-256 printable characters"));
    }
    let id = TenantId::slugify(name).map_err(|m| ApiError::invalid("name", m))?;
    let (tenant, admin_key) = provision::create_tenant_with_admin_key(state.store.as_ref(), name)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict {
                detail: format!("a tenant with id {id} already exists"),
                errors: vec![FieldError {
                    field: "name".to_owned(),
                    message: format!("its id {id} is taken"),
                }],
            },
            other => other.into(),
        })?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    let title = format!("tenant {} created", tenant.id);
    let action = Action::new("tenant.created", "tenant", tenant.id.as_str(), title)
        .with(json!({"name": tenant.name}));
    audit::record_as(&state, &tenant.id, Actor::Operator, action).await;
    Ok((
        StatusCode::CREATED,
        axum::Json(TenantCreated { tenant_id: tenant.id, name: tenant.name, admin_key }),
    ))
}
