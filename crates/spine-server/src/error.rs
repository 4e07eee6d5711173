//! The one application error, mapped once to RFC 9457 `application/problem+json`. Handlers
//! return `Result<_, ApiError>` and use `?`; storage errors convert with `From`. Internal error
//! text is logged here and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spine_core::validation::{FieldError, ValidationErrors};
use spine_store::StoreError;

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad JSON syntax, a bad cursor, a credential in the URL.
    #[error("{0}")]
    BadRequest(String),
    /// Malformed query parameters, with the offending parameters.
    #[error("invalid query parameters")]
    InvalidQuery(ValidationErrors),
    /// Missing, unknown, revoked or expired credential.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid credential that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such thing in this tenant (also: things of other tenants).
    #[error("not found")]
    NotFound,
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A conflicting repeat or a taken name, with the differing fields.
    #[error("{detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// Which fields differ.
        errors: Vec<FieldError>,
    },
    /// The body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not JSON by its content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed but invalid input, with every field error.
    #[error("validation failed")]
    Validation(ValidationErrors),
    /// The store is unavailable (shutting down, unreachable) or the request took too long.
    #[error("{0}")]
    Unavailable(String),
    /// The client stopped sending its body for longer than the body read timeout (408).
    #[error("{0}")]
    BodyTimeout(String),
    /// The tenant has as many open streams as it may (429, with `Retry-After`).
    #[error("{0}")]
    TooManyStreams(String),
    /// A rate limit refused the request (429, with `Retry-After` and the RateLimit headers).
    #[error("{}", .0.detail)]
    RateLimited(Box<RateLimited>),
    /// A storage quota refused the write (403).
    #[error("{0}")]
    QuotaExceeded(String),
    /// The server has as many open streams as it may (503, with `Retry-After`).
    #[error("{0}")]
    ServerFull(String),
    /// Anything unexpected; the detail stays in the logs.
    #[error("internal error")]
    Internal,
}

/// A rate limit's refusal, as the client is told it.
#[derive(Debug)]
pub struct RateLimited {
    /// Which limit, how large, when to retry.
    pub detail: String,
    /// Seconds until the same request would be admitted.
    pub retry_after: u64,
    /// The `RateLimit-Policy` field: the policy's name, quota and window.
    pub policy: String,
    /// The `RateLimit` field: the policy's name, what remains and when it is full again.
    pub state: String,
}

/// The RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Field-level errors, for validation and conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldErrorSchema>>)]
    pub errors: Option<Vec<FieldError>>,
}

/// One field-level error in a problem.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldErrorSchema {
    /// Path of the field, e.g. `events[3].title`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) | Self::ServerFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyStreams(_) | Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaExceeded(_) => StatusCode::FORBIDDEN,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (slug, detail, errors) = match self {
            Self::BadRequest(d) => ("bad-request", d.clone(), None),
            Self::InvalidQuery(e) => {
                ("invalid-query", "some query parameters are invalid".to_owned(), Some(e.0.clone()))
            }
            Self::Unauthorized(d) => ("unauthorized", d.clone(), None),
            Self::Forbidden(d) => ("forbidden", d.clone(), None),
            Self::NotFound => ("not-found", "no such resource".to_owned(), None),
            Self::MethodNotAllowed => {
                ("method-not-allowed", "this route does not accept this method".to_owned(), None)
            }
            Self::Conflict { detail, errors } => {
                ("conflict", detail.clone(), (!errors.is_empty()).then(|| errors.clone()))
            }
            Self::PayloadTooLarge(d) => ("payload-too-large", d.clone(), None),
            Self::UnsupportedMediaType(d) => ("unsupported-media-type", d.clone(), None),
            Self::Validation(e) => {
                ("validation", "the request body is invalid".to_owned(), Some(e.0.clone()))
            }
            Self::Unavailable(d) => ("unavailable", d.clone(), None),
            Self::BodyTimeout(d) => ("timeout", d.clone(), None),
            Self::TooManyStreams(d) => ("too-many-streams", d.clone(), None),
            Self::RateLimited(r) => ("rate-limited", r.detail.clone(), None),
            Self::QuotaExceeded(d) => ("quota-exceeded", d.clone(), None),
            Self::ServerFull(d) => ("server-full", d.clone(), None),
            Self::Internal => ("internal", "an internal error occurred".to_owned(), None),
        };
        let status = self.status();
        Problem {
            problem_type: format!("urn:spine:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }

    /// A 422 naming one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(ValidationErrors::single(field, message))
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(reason) => {
                // The store's wording is for logs; handlers that know more say more.
                tracing::debug!(%reason, "store conflict");
                Self::Conflict {
                    detail: "the request conflicts with an existing resource".to_owned(),
                    errors: Vec::new(),
                }
            }
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "store unavailable");
                Self::Unavailable("the service is temporarily unavailable; retry".to_owned())
            }
            StoreError::Other(err) => {
                tracing::error!(error = %err, "storage error");
                Self::Internal
            }
        }
    }
}

/// Builds a problem response for any status: used for errors raised outside handlers.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    res
}

/// A problem for a bare status produced by a layer (405, 408, 413...).
pub fn problem_for_status(status: StatusCode) -> Problem {
    let (slug, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method-not-allowed", "this route does not accept this method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the request body is too large"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        s if s.is_server_error() => ("internal", "an internal error occurred"),
        _ => ("bad-request", "the request could not be processed"),
    };
    Problem {
        problem_type: format!("urn:spine:problem:{slug}"),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.to_owned(),
        errors: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = problem_response(&self.problem());
        if matches!(self, Self::Unauthorized(_)) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, Self::TooManyStreams(_) | Self::ServerFull(_)) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Self::RateLimited(r) = &self {
            let headers = res.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(r.retry_after));
            for (name, value) in [("ratelimit-policy", &r.policy), ("ratelimit", &r.state)] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            }
        }
        // A store that is unavailable for now (shutting down, unreachable, the request took
        // too long): the client is told when to try again, as for the other 503s.
        if matches!(self, Self::Unavailable(_)) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_statuses_without_leaking_text() {
        let e: ApiError = StoreError::other(std::io::Error::other("disk on fire at /var/x")).into();
        let p = e.problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("disk"));
        assert_eq!(ApiError::from(StoreError::NotFound).status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::from(StoreError::Conflict("x".into())).status(), StatusCode::CONFLICT);
        let u = ApiError::from(StoreError::Unavailable("pool closed".into()));
        assert_eq!(u.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!u.problem().detail.contains("pool"));
    }

    #[test]
    fn validation_problems_list_fields() {
        let e = ApiError::invalid("events[3].title", "is required");
        let v = serde_json::to_value(e.problem()).unwrap_or_default();
        assert_eq!(v["status"], 422);
        assert_eq!(v["errors"][0]["field"], "events[3].title");
        assert!(v["type"].as_str().is_some_and(|t| t.ends_with("validation")));
    }

    #[test]
    fn responses_are_problem_json() {
        let res = ApiError::Unauthorized("no".into()).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
        let busy = ApiError::Unavailable("retry".into()).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1", "every 503 says when to retry");
    }
}
