//! The routes of SPEC section 5, one module per area, each with `fn router()`; this module
//! merges them and holds the small extractors they share.
//!
//! - [`events`]: `POST /v1/events`, `POST /v1/events/batch`.
//! - [`feed`]: the feed, one event, entity timelines, stats.
//! - [`read_state`]: mark read, mark all read, unread count.
//! - [`stream`]: `GET /v1/stream`, live events as Server-Sent Events.
//! - [`admin`]: keys, viewer tokens, types, tenants.
//! - [`audit`]: the audit trail, `GET /v1/audit`.
//! - [`channels`]: ingestion channels, their sealed secrets and rotation.
//! - [`ingest`]: receiving from providers, and the ledger with replay.
//! - [`identifiers`]: e-mail addresses and phone numbers that name entities.
//! - [`files`]: multipart uploads into the blob store, and downloads as attachments.
//! - [`work`]: claiming, heartbeats and settling jobs under leases; job lists, queues, rules.
//! - [`notes`]: notes on entities.
//! - [`agents`]: coding agents' sessions and per-tool statistics, read from their events.
//! - [`consumers`]: durable consumers: `next` (long-poll) and `ack` over named checkpoints.
//! - [`webhooks`]: outbound webhook endpoints, their delivery log, replay and test sends.
//! - [`retention`]: the tenant's retention policy.
//! - [`limits`]: the tenant's rate limits and quotas, and the operator's ceiling over them.
//! - [`ops`]: health, readiness, metrics.
//! - [`session`]: signing in to the Activity Center (one-time codes, the session cookie).
//! - [`ui`]: the Activity Center and `<spine-feed>`, static files embedded in the binary.

pub mod admin;
pub mod agents;
pub mod audit;
pub mod channels;
pub mod consumers;
pub mod events;
pub mod feed;
pub mod files;
pub mod identifiers;
pub mod ingest;
pub mod limits;
pub mod notes;
pub mod ops;
pub mod read_state;
pub mod retention;
pub mod session;
pub mod stream;
pub mod ui;
pub mod webhooks;
pub mod work;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::Uri;
use axum::Router;
use serde::de::DeserializeOwned;

/// Every API route, without middleware.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(events::router())
        .merge(feed::router())
        .merge(read_state::router())
        .merge(stream::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(channels::router())
        .merge(ingest::router())
        .merge(identifiers::router())
        .merge(files::router())
        .merge(work::router())
        .merge(notes::router())
        .merge(agents::router())
        .merge(consumers::router())
        .merge(webhooks::router())
        .merge(retention::router())
        .merge(limits::router())
        .merge(ops::router())
        .merge(session::router())
        .merge(ui::router())
}

/// The decoded query pairs of a URI, in order (repeated keys kept).
pub fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    match uri.query() {
        None | Some("") => Ok(Vec::new()),
        Some(_) => Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|Query(pairs)| pairs)
            .map_err(|_| ApiError::BadRequest("the query string is malformed".into())),
    }
}

/// The query pairs of the request, as an extractor.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        query_pairs(&parts.uri).map(QueryPairs)
    }
}

impl QueryPairs {
    /// The pairs as string slices, for the core's parsers.
    pub fn as_strs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Path parameters; a value that does not parse means there is no such resource (404).
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Refuses any query parameter not in `allowed` and returns the pairs by name.
pub fn only_params<'a>(
    pairs: &'a QueryPairs,
    allowed: &[&str],
) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    let mut errors = spine_core::ValidationErrors::default();
    for (k, _) in pairs.as_strs() {
        if !allowed.contains(&k) {
            errors.push(k, "is not a known parameter");
        }
    }
    if errors.is_empty() {
        Ok(pairs.as_strs().collect())
    } else {
        Err(ApiError::InvalidQuery(errors))
    }
}

/// The entity an `/v1/entities/{type}/{id}/...` path names, bounded like the event model's
/// (a path outside those bounds names nothing: 404).
pub fn path_entity(entity_type: &str, entity_id: &str) -> Result<spine_core::Entity, ApiError> {
    if !spine_core::text::is_dotted_name(entity_type, 64)
        || entity_id.is_empty()
        || entity_id.len() > 256
    {
        return Err(ApiError::NotFound);
    }
    Ok(spine_core::Entity {
        entity_type: entity_type.to_owned(),
        id: entity_id.to_owned(),
        name: None,
    })
}
