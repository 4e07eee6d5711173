//! The Work API's request bodies (SPEC section 7), validated into what the store is asked:
//! claim, heartbeat, complete and fail. Lease tokens are parsed here; their check is the
//! server's (it holds the key).

use super::LeaseToken;
use crate::note::NoteInput;
use crate::validation::ValidationErrors;
use serde::Deserialize;
use serde_json::Value;

/// The longest lease a claim or heartbeat may take.
pub const MAX_LEASE_SECONDS: u32 = 3600;
/// The longest a claim may wait for a job.
pub const MAX_WAIT_SECONDS: u32 = 30;
/// The most jobs one claim hands out.
pub const MAX_CLAIM_LIMIT: u32 = 100;
/// The largest result, serialized.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The longest error text.
pub const MAX_ERROR_CHARS: usize = 16 * 1024;
/// The longest explicit retry delay: 30 days.
pub const MAX_RETRY_IN_SECONDS: u32 = 30 * 24 * 3600;

/// `POST /v1/work/claim`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimInput {
    /// The queue (default `default`).
    pub queue: Option<String>,
    /// How long the lease lasts unless extended (default 60, at most 3600).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub lease_seconds: Option<u32>,
    /// How many jobs at most (default 1, at most 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// The worker's name, shown on the job and its events (default: the key's id).
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub worker: Option<String>,
    /// Wait up to this long for a job when none is ready (long poll; at most 30).
    #[cfg_attr(feature = "openapi", schema(maximum = 30))]
    pub wait_seconds: Option<u32>,
}

/// A validated claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The queue.
    pub queue: String,
    /// The lease length, microseconds.
    pub lease_micros: i64,
    /// The most jobs to hand out.
    pub limit: u32,
    /// The worker's name, if it gave one.
    pub worker: Option<String>,
    /// The long-poll wait, seconds.
    pub wait_seconds: u32,
}

impl ClaimInput {
    /// Validates every field.
    pub fn validate(self) -> Result<Claim, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let queue = self.queue.unwrap_or_else(|| "default".to_owned());
        if !crate::text::is_dotted_name(&queue, 64) {
            errors.push("queue", "must be a lower-case name of up to 64 characters");
        }
        let lease_micros = lease_micros(self.lease_seconds, &mut errors);
        let limit = self.limit.unwrap_or(1);
        if !(1..=MAX_CLAIM_LIMIT).contains(&limit) {
            errors.push("limit", format!("must be from 1 to {MAX_CLAIM_LIMIT}"));
        }
        let wait_seconds = self.wait_seconds.unwrap_or(0);
        if wait_seconds > MAX_WAIT_SECONDS {
            errors.push("wait_seconds", format!("must be at most {MAX_WAIT_SECONDS}"));
        }
        let worker = match self.worker.as_deref().map(|w| crate::text::bounded(w, 1, 128)) {
            Some(Err(m)) => {
                errors.push("worker", m);
                None
            }
            Some(Ok(w)) => Some(w),
            None => None,
        };
        errors.into_result(Claim { queue, lease_micros, limit, worker, wait_seconds })
    }
}

/// `POST /v1/work/{id}/heartbeat`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatInput {
    /// The token the claim answered.
    pub lease_token: String,
    /// The new lease length from now (default 60, at most 3600).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub lease_seconds: Option<u32>,
}

impl HeartbeatInput {
    /// The token and the lease length, microseconds.
    pub fn validate(self) -> Result<(LeaseToken, i64), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let token = token(&self.lease_token, &mut errors);
        let micros = lease_micros(self.lease_seconds, &mut errors);
        let Some(token) = token else { return Err(errors) };
        errors.into_result((token, micros))
    }
}

/// `POST /v1/work/{id}/complete`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// The token the claim answered.
    pub lease_token: String,
    /// Any JSON, up to 64 KiB.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<Value>,
    /// A note written on the job's entity with the completion.
    pub note: Option<NoteInput>,
}

/// `POST /v1/work/{id}/fail`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    /// The token the claim answered.
    pub lease_token: String,
    /// What went wrong, up to 16 KiB.
    pub error: String,
    /// Retry after this many seconds instead of the default backoff.
    #[cfg_attr(feature = "openapi", schema(maximum = 2592000))]
    pub retry_in_seconds: Option<u32>,
}

impl FailInput {
    /// The token, the error text and the explicit delay, microseconds.
    pub fn validate(self) -> Result<(LeaseToken, String, Option<i64>), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let token = token(&self.lease_token, &mut errors);
        let error = crate::text::bounded(&self.error, 1, MAX_ERROR_CHARS)
            .map_err(|m| errors.push("error", m))
            .ok();
        let retry = self.retry_in_seconds.map(|s| i64::from(s) * 1_000_000);
        if self.retry_in_seconds.is_some_and(|s| s > MAX_RETRY_IN_SECONDS) {
            errors.push("retry_in_seconds", format!("must be at most {MAX_RETRY_IN_SECONDS}"));
        }
        let (Some(token), Some(error)) = (token, error) else { return Err(errors) };
        errors.into_result((token, error, retry))
    }
}

/// Checks a completion's result size; the token is checked with [`parse_token`].
pub fn check_result(result: &Option<Value>) -> Result<(), ValidationErrors> {
    let size = result.as_ref().map_or(0, |r| serde_json::to_vec(r).map_or(usize::MAX, |v| v.len()));
    if size > MAX_RESULT_BYTES {
        return Err(ValidationErrors::single("result", "must be at most 64 KiB of JSON"));
    }
    Ok(())
}

/// Parses a lease token's text.
pub fn parse_token(text: &str) -> Result<LeaseToken, ValidationErrors> {
    let mut errors = ValidationErrors::default();
    match token(text, &mut errors) {
        Some(token) => Ok(token),
        None => Err(errors),
    }
}

fn token(text: &str, errors: &mut ValidationErrors) -> Option<LeaseToken> {
    let parsed = LeaseToken::parse(text);
    if parsed.is_none() {
        errors.push("lease_token", "is not a lease token");
    }
    parsed
}

fn lease_micros(seconds: Option<u32>, errors: &mut ValidationErrors) -> i64 {
    let seconds = seconds.unwrap_or(60);
    if !(1..=MAX_LEASE_SECONDS).contains(&seconds) {
        errors.push("lease_seconds", format!("must be from 1 to {MAX_LEASE_SECONDS}"));
    }
    i64::from(seconds) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_default_and_bound_every_field() {
        let claim = ClaimInput::default().validate().expect("defaults");
        assert_eq!(claim.queue, "default");
        assert_eq!((claim.lease_micros, claim.limit, claim.wait_seconds), (60_000_000, 1, 0));
        let bad: ClaimInput = serde_json::from_value(json!({
            "queue": "Bad", "lease_seconds": 0, "limit": 101, "wait_seconds": 31, "worker": " "
        }))
        .expect("shape");
        let fields: Vec<String> =
            bad.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["queue", "lease_seconds", "limit", "wait_seconds", "worker"]);
    }

    #[test]
    fn settlements_need_a_token_and_bounded_values() {
        let fail =
            FailInput { lease_token: "nope".into(), error: "".into(), retry_in_seconds: None };
        assert_eq!(fail.validate().unwrap_err().0.len(), 2);
        let token = format!("{}.3.abcd", uuid::Uuid::nil());
        let fail =
            FailInput { lease_token: token, error: "boom".into(), retry_in_seconds: Some(2) };
        let (t, e, retry) = fail.validate().expect("valid");
        assert_eq!((t.lease, e.as_str(), retry), (3, "boom", Some(2_000_000)));
        assert!(check_result(&Some(json!("x".repeat(70_000)))).is_err());
        assert!(check_result(&Some(json!({"summary": "ok"}))).is_ok());
    }
}
