//! Outbound webhooks (SPEC section 8), the pure part: what an endpoint is made of (validated
//! once: its URL, filter and description), which addresses it may not reach ([`address`]),
//! the retry schedule and when an endpoint is disabled ([`schedule`]), and what a delivery
//! carries: its stable message id, and the bounded excerpt of an answer kept in the log.
//!
//! Deliveries are signed with the Standard Webhooks scheme
//! ([`crate::ingest::standard_webhooks::signature::sign`]), one event per request, as the API
//! serves it.

pub mod address;
pub mod schedule;

use crate::consumer::consumer_filter;
use crate::filter::EventFilter;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The longest URL an endpoint may have.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 512;
/// How much of an answer's body the delivery log keeps.
pub const EXCERPT_BYTES: usize = 1024;

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where deliveries are posted: `https://` (or `http://`) with a host, no user name or
    /// password, up to 2048 bytes.
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub url: String,
    /// The feed's filter parameters as keys (`{"type": "deal.*"}`), as for consumers. Absent:
    /// every event.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Map<String, Value>,
    /// What it is for, up to 512 characters.
    pub description: Option<String>,
}

/// The body of `PATCH /v1/webhooks/{id}`: fields to change.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    /// A new URL.
    pub url: Option<String>,
    /// A new filter (replaces the old one).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Option<Map<String, Value>>,
    /// A new description.
    pub description: Option<String>,
    /// `active` (re-enables a disabled endpoint, which resumes where it stopped) or `disabled`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub status: Option<Status>,
}

/// Whether an endpoint is being delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Deliveries flow.
    Active,
    /// Nothing is sent until an admin makes it active again.
    Disabled,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            _ => Err("must be active or disabled".to_owned()),
        }
    }
}

/// A validated endpoint's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The URL, checked.
    pub url: String,
    /// The filter as given.
    pub filter: Map<String, Value>,
    /// The filter, parsed.
    pub matcher: EventFilter,
    /// What it is for.
    pub description: Option<String>,
}

impl WebhookInput {
    /// Validates every field, reporting all errors at once.
    pub fn validate(self) -> Result<WebhookSettings, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let url = check_url(&self.url).map_err(|m| errors.push("url", m)).ok();
        let matcher = consumer_filter(&self.filter).map_err(|e| errors.0.extend(e.0)).ok();
        let description = match self.description.as_deref().map(str::trim) {
            Some(d) if d.chars().count() > MAX_DESCRIPTION => {
                errors.push("description", format!("must be at most {MAX_DESCRIPTION} characters"));
                None
            }
            Some("") | None => None,
            Some(d) => Some(crate::text::clean(d)),
        };
        match (url, matcher) {
            (Some(url), Some(matcher)) => errors.into_result(WebhookSettings {
                url,
                filter: self.filter,
                matcher,
                description,
            }),
            _ => Err(errors),
        }
    }
}

/// A URL a delivery may be posted to: `http` or `https`, a host, no credentials (they would
/// show in logs and answers; use the signature to authenticate Spine), no fragment. Whether its
/// host may be reached is decided where names are resolved ([`address::refused`]).
pub fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_URL_BYTES {
        return Err(format!("must be 1-{MAX_URL_BYTES} bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    Ok(url.to_string())
}

/// The `webhook-id` of an event's delivery: the same for every attempt and every replay, so a
/// receiver can drop repeats.
pub fn message_id(event: Uuid) -> String {
    format!("msg_{}", event.simple())
}

/// What the delivery log keeps of an answer's body: its first [`EXCERPT_BYTES`] as text,
/// control characters (other than line breaks and tabs) dropped.
pub fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT_BYTES)];
    String::from_utf8_lossy(cut)
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn webhook(v: Value) -> Result<WebhookSettings, ValidationErrors> {
        serde_json::from_value::<WebhookInput>(v).expect("webhook json").validate()
    }

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            check_url(" https://hooks.example.com/in?x=1 "),
            Ok("https://hooks.example.com/in?x=1".to_owned())
        );
        assert!(check_url("http://[::1]:8080/").is_ok(), "addresses are judged when connecting");
        for bad in [
            "",
            "ftp://x/",
            "https://",
            "mailto:a@b.c",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "not a url",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES))).is_err());
    }

    #[test]
    fn endpoints_validate_every_field() {
        let ok = webhook(json!({"url": "https://example.com/hook", "filter": {"type": "deal.*"},
                                "description": " Deals to the CRM "}))
        .unwrap();
        assert_eq!(
            (ok.description.as_deref(), ok.matcher.types.len()),
            (Some("Deals to the CRM"), 1)
        );
        let errors = webhook(json!({"url": "ftp://x", "filter": {"unread": true},
                                    "description": "x".repeat(600)}))
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "filter.unread", "description"]);
        assert!(serde_json::from_value::<WebhookInput>(
            json!({"url": "https://a.b", "secret": "x"})
        )
        .is_err());
    }

    #[test]
    fn message_ids_and_excerpts() {
        let id = Uuid::nil();
        assert_eq!(message_id(id), "msg_00000000000000000000000000000000");
        assert_eq!(excerpt(b"ok\x00\x1b[31m\nfine"), "ok[31m\nfine");
        assert_eq!(excerpt(&[b'a'; 5000]).len(), EXCERPT_BYTES);
        assert_eq!(excerpt(&[0xff, b'x']), "\u{fffd}x");
    }
}
