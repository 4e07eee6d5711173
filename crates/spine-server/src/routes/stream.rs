//! `GET /v1/stream` (the feed as Server-Sent Events) and `GET /v1/ws` (WebSocket), SPEC section
//! 5 "Live". This module parses, authenticates and admits the request; [`crate::live`] runs the
//! subscriptions.

use super::QueryPairs;
use crate::auth::authenticate_stream;
use crate::error::{ApiError, Problem};
use crate::live::reader::{Reader, ReaderContext, Subscription};
use crate::live::sse;
use crate::live::ws::{self, Session};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use spine_core::filter::FeedRequest;
use spine_core::{Seq, ValidationErrors};
use std::convert::Infallible;

/// The live routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stream", get(stream)).route("/v1/ws", get(ws))
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
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant has too many open streams", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server has too many open streams, or storage is unavailable; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    pairs: QueryPairs,
) -> Result<Response, ApiError> {
    let principal = authenticate_stream(&state, &headers, &pairs.0).await?;
    state.limits.read(&principal).await?;
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
    if let (Some(field), None) = (req.filter.needs_user(), &user) {
        return Err(invalid(
            field,
            "needs a user: use a viewer token or send the X-Spine-User header",
        ));
    }
    let filter = req.filter.live();
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(v.to_str().ok().and_then(|s| Seq::parse(s).ok()).ok_or_else(|| {
            ApiError::BadRequest("the Last-Event-ID header must be a non-negative integer".into())
        })?),
        None => req.after,
    };
    let permit = state.live.limits.acquire(&principal.tenant)?;
    // Subscribed before the reader reads the head, so a commit in between still wakes it.
    let wakeups = state.live.hub.subscribe(&principal.tenant);
    let subscription = Subscription { principal, filter, user, resume };
    let reader = Reader::start(reader_context(&state), subscription, wakeups, true).await?;
    let session = sse::Detachable::new(reader, permit, state.config.stream_keep_alive);
    let messages = sse::body(session.clone());
    let headers =
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")];
    let body = Body::from_stream(messages.map(Ok::<_, Infallible>));
    let mut response = (headers, body).into_response();
    // A connection that can serve the stream on its own socket takes the session from here.
    response.extensions_mut().insert(session);
    Ok(response)
}

/// Live events over a WebSocket, several subscriptions per socket (see [`crate::live::ws`] for
/// the messages).
#[utoipa::path(get, path = "/v1/ws", tag = "live",
    params(
        ("token" = Option<String>, Query, description = "A viewer token, for browsers (API keys go in the Authorization header)"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol. Client messages: `subscribe {id, filter, after?}`, `unsubscribe {id}`, `ping`. Server messages: `subscribed`, `activity {id, seq, event}`, `reset`, `read`, `unsubscribed`, `pong`, `error {id?, error, detail}`"),
        (status = 400, description = "Not a WebSocket upgrade, or a bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid credential", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Needs a read or admin key, or a viewer token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant has too many open streams", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server has too many open streams", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn ws(
    State(state): State<AppState>,
    version: Version,
    headers: HeaderMap,
    pairs: QueryPairs,
    own_socket: Option<Extension<ws::OwnSocket>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let principal = authenticate_stream(&state, &headers, &pairs.0).await?;
    state.limits.read(&principal).await?;
    tracing::Span::current().record("tenant", principal.tenant.as_str());
    principal.require_reader()?;
    if let Some((key, _)) = pairs.as_strs().find(|(k, _)| *k != "token") {
        return Err(invalid(key, "filters go in each subscribe message, not in the URL"));
    }
    let user = principal.user(&headers)?;
    let not_upgrade =
        || ApiError::BadRequest("this endpoint speaks WebSocket: send an upgrade request".into());
    if own_socket.is_some() {
        // A plain connection served outside hyper: the session runs on its socket.
        let accept = ws::accept_key(version, &headers).ok_or_else(not_upgrade)?;
        let permit = state.live.limits.acquire(&principal.tenant)?;
        return Ok(ws::switching(accept, Session::new(state, principal, user, permit)));
    }
    let upgrade = upgrade.map_err(|_| not_upgrade())?;
    let permit = state.live.limits.acquire(&principal.tenant)?;
    let session = Session::new(state, principal, user, permit);
    Ok(upgrade
        .max_message_size(ws::MAX_CLIENT_MESSAGE)
        // The read buffer's default (128 KiB) is filled in whole before each read, so every
        // socket held that much; client messages are small, and larger ones still fit (the
        // buffer grows for them).
        .read_buffer_size(ws::READ_BUFFER)
        .on_upgrade(move |socket| session.run(socket))
        .into_response())
}

fn reader_context(state: &AppState) -> ReaderContext {
    ReaderContext {
        store: state.store.clone(),
        shutdown: state.live.shutdown_signal(),
        max_lag: state.config.stream_max_lag,
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::InvalidQuery(ValidationErrors::single(field, message))
}
