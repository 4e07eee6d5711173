//! JSON request bodies: content type checked (415), size bounded while reading (413), syntax
//! errors answered 400 and type errors 422 naming the field (via `serde_path_to_error`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// Which configured limit a body is held to.
pub trait BodyLimit {
    /// The limit in bytes.
    fn limit(state: &AppState) -> usize;
}

/// The small-body limit (`max_event_body_bytes`), for single events and admin calls.
pub struct Small;

/// The batch limit (`max_batch_body_bytes`).
pub struct Large;

impl BodyLimit for Small {
    fn limit(state: &AppState) -> usize {
        state.config.max_event_body_bytes
    }
}

impl BodyLimit for Large {
    fn limit(state: &AppState) -> usize {
        state.config.max_batch_body_bytes
    }
}

/// A JSON body parsed into `T`; rejections are problems.
pub struct Json<T, L = Small>(pub T, pub PhantomData<L>);

/// Like [`Json`], but an empty body (without content type) parses as `T::default()`.
pub struct OptionalJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> Option<bool> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    Some(
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")),
    )
}

/// How much of an oversized body is still read (and thrown away) before answering 413, and for
/// how long: a client that is still sending when the server answers and closes would otherwise
/// see a reset connection instead of the problem. A larger body gets the answer at once.
const DRAIN_BYTES: u64 = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the body, failing with 413 once it passes `limit`.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || ApiError::PayloadTooLarge(format!("the body must be at most {limit} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|n| n > limit as u64) {
        if declared.is_some_and(|n| n <= DRAIN_BYTES) {
            drain(&mut stream, 0).await;
        }
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if crate::body_timeout::BodyStalled::is(&e) {
                ApiError::BodyTimeout(e.to_string())
            } else {
                ApiError::BadRequest("the request body could not be read".into())
            }
        })?;
        if buf.len() + chunk.len() > limit {
            drain(&mut stream, (buf.len() + chunk.len()) as u64).await;
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Reads and discards the rest of a body, up to [`DRAIN_BYTES`] in all and [`DRAIN_TIME`].
async fn drain(stream: &mut axum::body::BodyDataStream, mut read: u64) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while read <= DRAIN_BYTES {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.len() as u64,
                _ => break,
            }
        }
    })
    .await;
}

/// Parses JSON bytes: syntax errors are 400, shape errors 422 with the field's path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        shape_error(&path, &inner)
    })?;
    de.end().map_err(|e| shape_error(".", &e))?;
    Ok(value)
}

fn shape_error(path: &str, e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m).to_owned();
    match e.classify() {
        serde_json::error::Category::Data => {
            let field = if path == "." || path.is_empty() { "body" } else { path };
            ApiError::invalid(field, message)
        }
        _ => ApiError::BadRequest(format!("the body is not valid JSON: {message}")),
    }
}

impl<T: DeserializeOwned, L: BodyLimit> FromRequest<AppState> for Json<T, L> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if is_json(&parts.headers) != Some(true) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be sent as Content-Type: application/json".into(),
            ));
        }
        let bytes = read_limited(&parts.headers, body, L::limit(state)).await?;
        state.limits.undeclared_body(&parts, bytes.len()).await?;
        Ok(Json(parse(&bytes)?, PhantomData))
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, Small::limit(state)).await?;
        state.limits.undeclared_body(&parts, bytes.len()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) && is_json(&parts.headers) != Some(false) {
            return Ok(OptionalJson(T::default()));
        }
        if is_json(&parts.headers) != Some(true) {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be sent as Content-Type: application/json".into(),
            ));
        }
        Ok(OptionalJson(parse(&bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        events: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        title: String,
    }

    #[test]
    fn syntax_errors_are_400_and_shape_errors_422_with_path() {
        let e = parse::<Outer>(b"{\"events\": [").err();
        assert_eq!(e.map(|e| e.status()), Some(StatusCode::BAD_REQUEST));
        let e = parse::<Outer>(br#"{"events": [{"title": "a"}, {"title": 3}]}"#).err();
        let p = e.map(|e| e.problem());
        assert_eq!(p.as_ref().map(|p| p.status), Some(422));
        let field = p.and_then(|p| p.errors).and_then(|e| e.first().map(|f| f.field.clone()));
        assert_eq!(field.as_deref(), Some("events[1].title"));
        let e = parse::<Outer>(br#"{"events": [], "tenant": "x"}"#).err();
        assert_eq!(e.map(|e| e.status()), Some(StatusCode::UNPROCESSABLE_ENTITY));
        let e = parse::<Outer>(br#"{"events": []} trailing"#).err();
        assert_eq!(e.map(|e| e.status()), Some(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert_eq!(is_json(&h), None);
        h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert_eq!(is_json(&h), Some(true));
        h.insert(header::CONTENT_TYPE, "application/merge-patch+json".parse().unwrap());
        assert_eq!(is_json(&h), Some(true));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(is_json(&h), Some(false));
    }
}
