//! Notes (SPEC section 7): `POST /v1/entities/{type}/{id}/notes` writes one (worker or admin:
//! people through an admin session, agents through worker keys), `GET` lists an entity's notes
//! newest first. A note is never edited; a correction supersedes it.

use super::work::default_author;
use super::{path_entity, Path, QueryPairs};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::json::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use spine_core::note::{Note, NoteInput};
use spine_core::{Role, Seq, Timestamp, ValidationErrors};
use uuid::Uuid;

/// The note routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/entities/{type}/{id}/notes", post(add_note).get(list_notes))
}

/// A note's author.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorOut {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: Option<String>,
    /// `user`, `agent` or `system`.
    pub kind: String,
}

/// The entity a note is on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteEntity {
    /// Its type.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Its id.
    pub id: String,
}

/// A note as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoteOut {
    /// UUIDv7.
    pub id: Uuid,
    /// The entity it is on.
    pub entity: NoteEntity,
    /// Markdown.
    pub body: String,
    /// Who wrote it.
    pub author: AuthorOut,
    /// The event it came from.
    pub event_id: Option<Uuid>,
    /// The note it corrects.
    pub supersedes: Option<Uuid>,
    /// The newest note that corrects this one.
    pub superseded_by: Option<Uuid>,
    /// The job whose completion wrote it.
    pub job_id: Option<Uuid>,
    /// The position of its `note.created` event.
    pub seq: i64,
    /// When it was written.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Note> for NoteOut {
    fn from(stored: Note) -> Self {
        let n = stored.note;
        Self {
            id: n.id,
            entity: NoteEntity { entity_type: n.entity.entity_type, id: n.entity.id },
            body: n.body,
            author: AuthorOut {
                id: n.author.id,
                name: n.author.name,
                kind: n.author.kind.as_str().to_owned(),
            },
            event_id: n.event_id,
            supersedes: n.supersedes,
            superseded_by: stored.superseded_by,
            job_id: n.job_id,
            seq: stored.seq.0,
            created_at: stored.created_at,
        }
    }
}

/// A page of notes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotePage {
    /// Newest first.
    pub items: Vec<NoteOut>,
    /// Pass as `cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Writes a note on an entity, recorded as a `note.created` event (worker or admin).
#[utoipa::path(post, path = "/v1/entities/{type}/{id}/notes", tag = "work",
    request_body = spine_core::note::NoteInput,
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id")),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "The note", body = NoteOut),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a worker or admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entity path", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid note, or `supersedes`/`event_id` naming nothing of this entity", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id)): Path<(String, String)>,
    Json(input, _): Json<NoteInput>,
) -> Result<(StatusCode, axum::Json<NoteOut>), ApiError> {
    principal.require(Role::Worker)?;
    let entity = path_entity(&entity_type, &entity_id)?;
    let note =
        input.validate(entity, default_author(&principal, None)).map_err(ApiError::Validation)?;
    let tenant = &principal.tenant;
    let mut errors = ValidationErrors::default();
    if let Some(old) = note.supersedes {
        let same_entity = state.store.get_note(tenant, old).await?.is_some_and(|n| {
            n.note.entity.entity_type == entity_type && n.note.entity.id == entity_id
        });
        if !same_entity {
            errors.push("supersedes", "names no note of this entity");
        }
    }
    if let Some(event) = note.event_id {
        if state.store.get_event(tenant, event, None).await?.is_none() {
            errors.push("event_id", "names no event of this tenant");
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let stored = state.store.add_note(tenant, note).await?;
    tracing::info!(note = %stored.note.id, seq = stored.seq.0, "note written");
    Ok((StatusCode::CREATED, axum::Json(stored.into())))
}

/// An entity's notes, newest first (`limit`, `cursor`; read or worker).
#[utoipa::path(get, path = "/v1/entities/{type}/{id}/notes", tag = "work",
    params(
        ("type" = String, Path, description = "Entity type"),
        ("id" = String, Path, description = "Entity id"),
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 30)"),
        ("cursor" = Option<String>, Query, description = "From the previous page's next_cursor"),
    ),
    responses(
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entity path", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "A page of notes", body = NotePage),
        (status = 400, description = "Invalid query parameters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_notes(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_type, entity_id)): Path<(String, String)>,
    pairs: QueryPairs,
) -> Result<axum::Json<NotePage>, ApiError> {
    principal.require_any(&[Role::Read, Role::Worker])?;
    path_entity(&entity_type, &entity_id)?;
    let (mut limit, mut before) = (state.config.page.default, None);
    let mut errors = ValidationErrors::default();
    for (key, value) in pairs.as_strs() {
        match key {
            "limit" => match state.config.page.parse(value) {
                Ok(n) => limit = n,
                Err(message) => errors.push(key, message),
            },
            "cursor" => match value.parse::<i64>() {
                Ok(seq) if seq > 0 => before = Some(Seq(seq)),
                _ => errors.push(key, "is not a cursor of this list"),
            },
            _ => errors.push(key, "is not a known parameter"),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let notes =
        state.store.list_notes(&principal.tenant, &entity_type, &entity_id, before, limit).await?;
    let next_cursor = (notes.len() == limit as usize)
        .then(|| notes.last().map(|n| n.seq.0.to_string()))
        .flatten();
    Ok(axum::Json(NotePage { items: notes.into_iter().map(NoteOut::from).collect(), next_cursor }))
}
