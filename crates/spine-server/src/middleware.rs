//! What wraps every request: a request id (`x-request-id`, generated if absent, echoed), a
//! tracing span (method, route, request id, tenant; never secrets or payloads), the refusal of
//! credentials in the URL, the request timeout, metrics, security headers, and the rule that
//! every error leaves as `application/problem+json`.

use crate::auth::query_has_credential;
use crate::error::{problem_for_status, problem_response, ApiError, PROBLEM_JSON};
use crate::metrics;
use crate::routes::query_pairs;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::time::Instant;
use tracing::Instrument;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Paths where a viewer token may travel as `?token=` (EventSource cannot send headers).
fn is_stream_route(route: &str) -> bool {
    matches!(route, "/v1/stream" | "/v1/ws")
}

/// File uploads stream up to `max_file_bytes` per file from clients on any link: they get the
/// upload timeout instead of the request timeout.
fn is_upload_route(route: &str) -> bool {
    route == "/v1/ingest/{channel}/files"
}

/// A claim may wait up to `MAX_WAIT_SECONDS` for a job before it starts its work.
fn is_long_poll_route(route: &str) -> bool {
    route == "/v1/work/claim"
}

fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().simple().to_string(), str::to_owned)
}

/// The outermost application middleware; see the module documentation.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let id = request_id(&req);
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %id,
        tenant = tracing::field::Empty,
        key_id = tracing::field::Empty,
        session_id = tracing::field::Empty,
    );
    let refused = match query_pairs(req.uri()) {
        Err(e) => Some(e),
        Ok(pairs) if query_has_credential(&pairs, is_stream_route(&route)) => {
            // Refused as unauthenticated: a key in a URL is never accepted (and never logged).
            Some(ApiError::Unauthorized(
                "credentials must be sent in the Authorization header, never in the URL".into(),
            ))
        }
        Ok(_) => None,
    };
    let response = match refused {
        Some(e) => e.into_response(),
        None => {
            let limit = if is_upload_route(&route) {
                state.config.upload_timeout
            } else if is_long_poll_route(&route) {
                let wait = spine_core::work::input::MAX_WAIT_SECONDS;
                state.config.request_timeout + std::time::Duration::from_secs(wait.into())
            } else {
                state.config.request_timeout
            };
            let timeout = state.config.body_read_timeout;
            let req = req.map(|body| crate::body_timeout::limit(body, timeout));
            match tokio::time::timeout(limit, next.run(req).instrument(span.clone())).await {
                Ok(r) => r,
                Err(_) => ApiError::Unavailable("the request took too long".into()).into_response(),
            }
        }
    };
    let mut response = as_problem(response);
    let status = response.status().as_u16();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    let elapsed = started.elapsed();
    metrics::record_request(&route, method.as_str(), status, elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    // Per-request lines are debug-level: at tens of thousands of requests a second an info line
    // each would cost more than the request. Server errors always show.
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::debug!(status, elapsed_ms, "request finished");
        }
    });
    response
}

/// Turns an error response that is not already a problem (405 from routing, a layer's 413 or
/// 408, ...) into one, keeping its status and headers such as `Allow`.
fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // Pages for people (the sign-in answers) are HTML on purpose.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = problem_response(&problem_for_status(status));
    let (problem_parts, body) = problem.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        problem_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static(PROBLEM_JSON)),
    );
    Response::from_parts(parts, body)
}

/// Answers a panicking handler with a generic 500 problem (the panic is logged, never sent).
pub fn panic_problem(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let text = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = text, "handler panicked");
    ApiError::Internal.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn bare_error_responses_become_problems() {
        let mut bare = Response::new(Body::empty());
        *bare.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        bare.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        let p = as_problem(bare);
        assert_eq!(p.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(p.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(p.headers()[header::ALLOW], "GET");
        let ok = as_problem(Response::new(Body::empty()));
        assert!(ok.headers().get(header::CONTENT_TYPE).is_none());
    }
}
