//! `GET /v1/stream`: the feed as Server-Sent Events (SPEC section 5 "Live"). This module parses
//! and authenticates the request; [`crate::live::reader`] runs the loop.

use super::QueryPairs;
use crate::auth::authenticate_stream;
use crate::error::{ApiError, Problem};
use crate::live::reader::{Reader, Subscription};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use spine_core::filter::FeedRequest;
use spine_core::{Seq, ValidationErrors};
use std::time::Duration;

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The live routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stream", get(stream))
}

/// Live events as Server-Sent Events: catch-up from `Last-Event-ID` or `after`, then live.
#[utoipa::path(get, path = "/v1/stream", tag = "live",
    params(
        crate::openapi::StreamParams,
        crate::openapi::FeedParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this position (wins over `after`)"),
    ),
    responses(
        (status = 200, description = "An endless stream: `event: position` carrying the starting `id:` and a `retry:` hint, then `id: <seq>`, `event: activity`, `data: <event json>` per event; keep-alive comments every 15 s; `event: error` before the server ends it (e.g. an expired viewer token)", body = String, content_type = "text/event-stream"),
        (status = 400, description = "Bad filter or resume point", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let principal = authenticate_stream(&state, &headers, &pairs.0).await?;
    tracing::Span::current().record("tenant", principal.tenant.as_str());
    principal.require_reader()?;
    let req = FeedRequest::from_pairs(pairs.as_strs(), state.config.page, &["token"])
        .map_err(ApiError::InvalidQuery)?;
    if req.cursor.is_some() {
        return Err(invalid("cursor", "streams resume with after= or Last-Event-ID"));
    }
    if pairs.as_strs().any(|(k, v)| k == "order" && v != "seq") {
        return Err(invalid("order", "streams deliver in seq order"));
    }
    let user = principal.user(&headers)?;
    if req.filter.unread && user.is_none() {
        return Err(invalid(
            "unread",
            "needs a user: use a viewer token or send the X-Spine-User header",
        ));
    }
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().ok().and_then(|s| Seq::parse(s).ok()).ok_or_else(|| {
            ApiError::BadRequest("the Last-Event-ID header must be a non-negative integer".into())
        })?),
        None => req.after,
    };
    // Subscribed before the head is read, so a commit in between still wakes the reader.
    let heads = state.live.hub.subscribe(&principal.tenant);
    let after = match resume {
        Some(seq) => seq,
        None => state.store.head(&principal.tenant).await?,
    };
    let subscription = Subscription { principal, filter: req.filter, user, after };
    let reader =
        Reader::new(state.store.clone(), subscription, heads, state.live.shutdown_signal());
    let sse = Sse::new(reader.messages()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    Ok(sse.into_response())
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidQuery(ValidationErrors::single(field, message))
}
