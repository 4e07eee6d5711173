//! Reading the log: the feed, one event, an entity's timeline and stats. Every read is in the
//! credential's tenant and, for viewer tokens, narrowed to the token's scope.

use super::{only_params, Path, QueryPairs};
use crate::auth::Principal;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use spine_core::filter::FeedRequest;
use spine_core::{Cursor, Event, Timestamp, ValidationErrors};
use spine_store::{FeedQuery, GroupBy, Stats, StatsQuery};
use uuid::Uuid;

/// The read routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .route("/v1/entities/{entity_type}/{entity_id}/timeline", get(timeline))
        .route("/v1/stats", get(stats))
}

/// One event as served in a page: the event plus the user's read flag when a user is known.
#[derive(Debug, Serialize)]
pub struct FeedItemOut {
    /// The event's fields.
    #[serde(flatten)]
    pub event: Event,
    /// Whether the requesting user has read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
    /// Whether the requesting user has seen it (it is at or below their seen watermark).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
    /// Whether the requesting user archived it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// The jobs processing it, for status badges (feed pages for keys and sessions; absent
    /// when it has none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobBrief>,
}

/// A job of an event, as a feed item shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobBrief {
    /// The job.
    pub id: uuid::Uuid,
    /// Its queue.
    pub queue: String,
    /// Its status.
    pub status: &'static str,
    /// Claims so far.
    pub attempt: u32,
}

/// A page of the feed.
#[derive(Debug, Serialize)]
pub struct FeedPage {
    /// The events.
    pub items: Vec<FeedItemOut>,
    /// Pass as `cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// On a first page (no `cursor`): the tenant's head, read before the page. A live stream
    /// opened with `after=position` delivers everything this page may lack (and perhaps some
    /// of what it holds: dedupe by id), so a client never misses what commits in between.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

pub(crate) async fn page(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    mut req: FeedRequest,
) -> Result<FeedPage, ApiError> {
    principal.require_reader()?;
    let user = principal.user(headers)?;
    if let (Some(field), None) = (req.filter.needs_user(), &user) {
        return Err(ApiError::InvalidQuery(ValidationErrors::single(
            field,
            "needs a user: use a viewer token or send the X-Spine-User header",
        )));
    }
    // A viewer's feed hides what the viewer archived unless asked (`archived=true`).
    if principal.scope().is_some() && req.filter.archived.is_none() {
        req.filter.archived = Some(false);
    }
    let after = match req.cursor.take() {
        None => None,
        Some(text) => Some(
            Cursor::decode(&text, &state.secret, &principal.tenant, req.order)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ),
    };
    let query = FeedQuery {
        filter: req.filter,
        scope: principal.scope().cloned(),
        order: req.order,
        after,
        limit: req.limit,
        user,
    };
    // Read before the page, so everything at or below it is visible to the page's query.
    let position = match query.after {
        None => Some(state.store.head(&principal.tenant).await?.0),
        Some(_) => None,
    };
    let page = state.store.query(&principal.tenant, &query).await?;
    // Job badges: one indexed lookup per page; viewers (end users) do not see the work queue.
    let mut jobs: std::collections::HashMap<uuid::Uuid, Vec<JobBrief>> = Default::default();
    if principal.scope().is_none() && !page.items.is_empty() {
        let ids: Vec<uuid::Uuid> = page.items.iter().map(|i| i.event.id).collect();
        for job in state.store.jobs_of_events(&principal.tenant, &ids).await? {
            jobs.entry(job.event_id).or_default().push(JobBrief {
                id: job.id,
                queue: job.queue,
                status: job.state.status.as_str(),
                attempt: job.state.attempt,
            });
        }
    }
    Ok(FeedPage {
        position,
        items: page
            .items
            .into_iter()
            .map(|i| FeedItemOut {
                jobs: jobs.remove(&i.event.id).unwrap_or_default(),
                event: i.event,
                read: i.read,
                seen: i.seen,
                archived: i.archived,
            })
            .collect(),
        next_cursor: page.next.map(|c| c.encode(&state.secret, &principal.tenant)),
    })
}

pub(crate) fn feed_request(state: &AppState, pairs: &QueryPairs) -> Result<FeedRequest, ApiError> {
    FeedRequest::from_pairs(pairs.as_strs(), state.config.page, &[]).map_err(ApiError::InvalidQuery)
}

/// The feed: filtered, keyset-paginated.
#[utoipa::path(get, path = "/v1/events", tag = "feed",
    params(crate::openapi::FeedParams),
    responses(
        (status = 200, description = "A page", body = crate::openapi::FeedPageSchema),
        (status = 400, description = "Bad filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    pairs: QueryPairs,
) -> Result<Json<FeedPage>, ApiError> {
    let req = feed_request(&state, &pairs)?;
    Ok(Json(page(&state, &principal, &headers, req).await?))
}

/// One event by id.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "feed",
    params(("id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, description = "The event", body = crate::openapi::EventSchema),
        (status = 400, description = "Invalid X-Spine-User header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event in this tenant and scope", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<FeedItemOut>, ApiError> {
    principal.require_reader()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let user = principal.user(&headers)?;
    let event = state
        .store
        .get_event(&principal.tenant, id, principal.scope())
        .await?
        .ok_or(ApiError::NotFound)?;
    // The read flag of a single event comes from the same store query the feed uses.
    let read = match user {
        None => None,
        Some(user) => {
            let q = FeedQuery {
                filter: spine_core::EventFilter { unread: true, ..Default::default() },
                scope: principal.scope().cloned(),
                order: spine_core::Order::Seq,
                after: Some(Cursor {
                    order: spine_core::Order::Seq,
                    occurred_micros: event.occurred_at.as_micros(),
                    seq: spine_core::Seq(event.seq.0 - 1),
                }),
                limit: 1,
                user: Some(user),
            };
            let page = state.store.query(&principal.tenant, &q).await?;
            Some(page.items.first().is_none_or(|i| i.event.id != event.id))
        }
    };
    Ok(Json(FeedItemOut { event, read, seen: None, archived: None, jobs: Vec::new() }))
}

/// An entity's events, with the feed's filters and paging.
#[utoipa::path(get, path = "/v1/entities/{entity_type}/{entity_id}/timeline", tag = "feed",
    params(
        ("entity_type" = String, Path, description = "Entity type"),
        ("entity_id" = String, Path, description = "Entity id"),
        crate::openapi::FeedParams,
    ),
    responses(
        (status = 200, description = "A page", body = crate::openapi::FeedPageSchema),
        (status = 400, description = "Bad filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Path((entity_type, entity_id)): Path<(String, String)>,
    pairs: QueryPairs,
) -> Result<Json<FeedPage>, ApiError> {
    let mut req = feed_request(&state, &pairs)?;
    req.filter.entity_type = Some(entity_type);
    req.filter.entity_id = Some(entity_id);
    Ok(Json(page(&state, &principal, &headers, req).await?))
}

/// Counts over a window, optionally grouped, plus the user's unread count.
#[utoipa::path(get, path = "/v1/stats", tag = "feed",
    params(
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("group_by" = Option<String>, Query, description = "type, source, priority, actor, day or hour"),
    ),
    responses(
        (status = 200, description = "Counts", body = crate::openapi::StatsSchema),
        (status = 400, description = "Bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Storage unavailable, or the request took too long; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn stats(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    pairs: QueryPairs,
) -> Result<Json<Stats>, ApiError> {
    principal.require_reader()?;
    let mut query = StatsQuery {
        scope: principal.scope().cloned(),
        user: principal.user(&headers)?,
        ..Default::default()
    };
    let mut errors = ValidationErrors::default();
    for (key, value) in only_params(&pairs, &["since", "until", "group_by"])? {
        let outcome = match key {
            "since" => Timestamp::parse(value).map(|t| query.since = Some(t)),
            "until" => Timestamp::parse(value).map(|t| query.until = Some(t)),
            _ => GroupBy::parse(value).map(|g| query.group_by = Some(g)),
        };
        if let Err(m) = outcome {
            errors.push(key, m);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    Ok(Json(state.store.stats(&principal.tenant, &query).await?))
}
