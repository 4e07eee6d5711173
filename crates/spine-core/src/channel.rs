//! Ingestion channels (SPEC section 6), the pure part: which providers there are, and what a
//! channel is made of, validated once at the edge: its name, provider, the event type and
//! direction it produces, whether its activity becomes work, and the mapping (JSON Pointers into
//! the provider's payload) that the `generic` provider reads events with.

use crate::event::EventType;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

mod privacy;
pub use privacy::{Privacy, PrivacyInput};

/// The providers a channel can receive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Any JSON, read through the channel's mapping.
    Generic,
    /// The Standard Webhooks scheme (`webhook-signature`).
    StandardWebhooks,
    /// CloudEvents over HTTP: structured, binary and batch modes.
    Cloudevents,
    /// GitHub (`X-Hub-Signature-256`).
    Github,
    /// Stripe (`Stripe-Signature`).
    Stripe,
    /// Twilio SMS, call status and recordings (`X-Twilio-Signature`).
    Twilio,
    /// Postmark inbound e-mail (HTTP basic auth).
    Postmark,
    /// HubSpot (`X-HubSpot-Signature-v3`), arrays of events.
    Hubspot,
    /// Salesforce outbound messages (SOAP).
    Salesforce,
    /// Multipart file uploads.
    File,
    /// A coding agent's hook JSON.
    ClaudeCode,
}

impl Provider {
    /// Every provider, in the order of SPEC section 6.
    pub const ALL: [Provider; 11] = [
        Self::Generic,
        Self::StandardWebhooks,
        Self::Cloudevents,
        Self::Github,
        Self::Stripe,
        Self::Twilio,
        Self::Postmark,
        Self::Hubspot,
        Self::Salesforce,
        Self::File,
        Self::ClaudeCode,
    ];

    /// The wire name, e.g. `standard-webhooks`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::StandardWebhooks => "standard-webhooks",
            Self::Cloudevents => "cloudevents",
            Self::Github => "github",
            Self::Stripe => "stripe",
            Self::Twilio => "twilio",
            Self::Postmark => "postmark",
            Self::Hubspot => "hubspot",
            Self::Salesforce => "salesforce",
            Self::File => "file",
            Self::ClaudeCode => "claude-code",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
            format!("must be one of {}", names.join(", "))
        })
    }
}

/// Which way a channel's activity goes, seen from the tenant (an inbound call, an outbound
/// e-mail); it decides which side of a message is the contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received from outside (the default).
    #[default]
    Inbound,
    /// Sent to outside.
    Outbound,
}

impl Direction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "inbound" => Ok(Self::Inbound),
            "outbound" => Ok(Self::Outbound),
            _ => Err("must be inbound or outbound".to_owned()),
        }
    }
}

/// The event fields a mapping may fill (SPEC section 6).
pub const MAPPED_FIELDS: &[&str] = &[
    "type",
    "title",
    "description",
    "occurred_at",
    "priority",
    "tags",
    "actor.id",
    "actor.name",
    "actor.kind",
    "entity.type",
    "entity.id",
    "entity.name",
    "source.object_id",
    "source.object_type",
    "idempotency_key",
    "correlation_id",
];

/// Where a mapped field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MappingSource {
    /// A JSON Pointer (RFC 6901) into the payload, e.g. `/data/object/id`.
    Pointer(String),
    /// A constant, e.g. `deal`: any value without a leading `/`.
    Constant(String),
}

/// A channel's mapping: event field -> where its value comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(pub BTreeMap<String, MappingSource>);

/// Longest pointer or constant a mapping holds.
const MAX_SOURCE_CHARS: usize = 512;

impl Mapping {
    /// Parses `{"title": "/subject", "entity.type": "deal"}`: known fields only, string values,
    /// pointers with valid escapes (`~0`, `~1`). Errors name `mapping.<field>`.
    pub fn parse(value: &Value) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let Value::Object(entries) = value else {
            return Err(ValidationErrors::single("mapping", "must be an object of field: source"));
        };
        let mut mapping = BTreeMap::new();
        for (field, source) in entries {
            let at = format!("mapping.{field}");
            if !MAPPED_FIELDS.contains(&field.as_str()) {
                errors.push(
                    at,
                    format!("is not a mapped field; fields: {}", MAPPED_FIELDS.join(", ")),
                );
                continue;
            }
            let Value::String(text) = source else {
                errors.push(at, "must be a JSON Pointer (/a/b) or a constant string");
                continue;
            };
            if text.is_empty() || text.chars().count() > MAX_SOURCE_CHARS {
                errors.push(at, format!("must be 1-{MAX_SOURCE_CHARS} characters"));
                continue;
            }
            let parsed = if text.starts_with('/') {
                if !valid_pointer(text) {
                    errors.push(at, "is not a valid JSON Pointer: `~` must be followed by 0 or 1");
                    continue;
                }
                MappingSource::Pointer(text.clone())
            } else {
                MappingSource::Constant(text.clone())
            };
            mapping.insert(field.clone(), parsed);
        }
        errors.into_result(Self(mapping))
    }

    /// The mapped value of `field` in `payload`: the constant, or what the pointer finds
    /// (`None` when it finds nothing or `null`).
    pub fn resolve<'a>(&'a self, field: &str, payload: &'a Value) -> Option<MappedValue<'a>> {
        match self.0.get(field)? {
            MappingSource::Constant(text) => Some(MappedValue::Text(text)),
            MappingSource::Pointer(pointer) => match payload.pointer(pointer)? {
                Value::Null => None,
                found => Some(MappedValue::Json(found)),
            },
        }
    }

    /// The mapping as JSON, as the API shows it.
    pub fn to_json(&self) -> Value {
        let entries = self.0.iter().map(|(field, source)| {
            let text = match source {
                MappingSource::Pointer(t) | MappingSource::Constant(t) => t.clone(),
            };
            (field.clone(), Value::String(text))
        });
        Value::Object(entries.collect())
    }
}

/// A value a mapping found.
#[derive(Debug, Clone, PartialEq)]
pub enum MappedValue<'a> {
    /// A constant from the mapping.
    Text(&'a str),
    /// What a pointer found in the payload.
    Json(&'a Value),
}

/// RFC 6901: `""` or `/`-separated tokens in which `~` is always `~0` or `~1`.
fn valid_pointer(pointer: &str) -> bool {
    let mut chars = pointer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    pointer.is_empty() || pointer.starts_with('/')
}

/// A channel as an admin creates it (`POST /v1/channels`), before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// A label, 1-128 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub name: String,
    /// The provider's wire name.
    #[cfg_attr(feature = "openapi", schema(value_type = Provider))]
    pub provider: String,
    /// The type of the events it produces, when the provider does not decide it.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 128, pattern = r"^[a-z0-9][a-z0-9_.:-]*$")
    )]
    pub event_type: Option<String>,
    /// `inbound` (default) or `outbound`.
    pub direction: Option<Direction>,
    /// Whether its events become work (jobs).
    #[serde(default)]
    pub process: bool,
    /// The work queue for its jobs (default `default`).
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9_.:-]*$"))]
    pub queue: Option<String>,
    /// Field -> JSON Pointer (`/a/b`) or constant; fields: see [`MAPPED_FIELDS`].
    #[cfg_attr(feature = "openapi", schema(value_type = Option<HashMap<String, String>>))]
    pub mapping: Option<Value>,
    /// The signing secret the provider issued (Stripe `whsec_...`, a Twilio auth token...);
    /// absent: Spine generates one in the provider's format.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub secret: Option<String>,
    /// What a `claude-code` channel keeps: the longest value of a tool's input or response
    /// and extra patterns to redact.
    pub privacy: Option<PrivacyInput>,
}

/// A validated channel, ready to store (its id and sealed secret are the caller's to add).
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    /// The label.
    pub name: String,
    /// The provider.
    pub provider: Provider,
    /// The event type it produces, if set.
    pub event_type: Option<EventType>,
    /// Which way its activity goes.
    pub direction: Direction,
    /// Whether its events become work.
    pub process: bool,
    /// The work queue.
    pub queue: String,
    /// The mapping.
    pub mapping: Mapping,
    /// What its content is cut to and redacted of (the `claude-code` provider).
    pub privacy: Privacy,
}

impl ChannelInput {
    /// Validates every field, reporting all errors at once. The secret is checked for size only
    /// and returned apart, so it never travels inside a value that might be logged.
    pub fn validate(self) -> Result<(NewChannel, Option<String>), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name =
            crate::text::bounded(&self.name, 1, 128).map_err(|m| errors.push("name", m)).ok();
        let provider = Provider::parse(&self.provider).map_err(|m| errors.push("provider", m)).ok();
        let event_type = match self.event_type.as_deref().map(EventType::parse) {
            Some(Err(m)) => {
                errors.push("event_type", m);
                None
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let queue = self.queue.unwrap_or_else(|| "default".to_owned());
        if !crate::text::is_dotted_name(&queue, 64) {
            errors.push("queue", "must be a lower-case name of up to 64 characters");
        }
        let mapping = match self.mapping.as_ref().map(Mapping::parse) {
            Some(Err(e)) => {
                errors.0.extend(e.0);
                None
            }
            Some(Ok(m)) => Some(m),
            None => Some(Mapping::default()),
        };
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty() || s.len() > 512) {
            errors.push("secret", "must be 1-512 characters");
        }
        let privacy = match &self.privacy {
            Some(_) if provider.is_some_and(|p| p != Provider::ClaudeCode) => {
                errors.push("privacy", "applies to claude-code channels only");
                None
            }
            Some(input) => input.validate().map_err(|e| errors.0.extend(e.0)).ok(),
            None => Some(Privacy::default()),
        };
        let (Some(name), Some(provider), Some(mapping), Some(privacy)) =
            (name, provider, mapping, privacy)
        else {
            return Err(errors);
        };
        let channel = NewChannel {
            name,
            provider,
            event_type,
            direction: self.direction.unwrap_or_default(),
            process: self.process,
            queue,
            mapping,
            privacy,
        };
        errors.into_result((channel, self.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn providers_round_trip_their_wire_names() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
        }
        assert!(Provider::parse("GitHub").unwrap_err().contains("standard-webhooks"));
    }

    #[test]
    fn mappings_read_pointers_and_constants() {
        let mapping = Mapping::parse(&json!({
            "title": "/subject", "entity.type": "deal", "entity.id": "/ref/id",
            "actor.name": "/a~1b", "tags": "/labels", "description": "/missing"
        }))
        .unwrap();
        let payload = json!({"subject": "Hello", "ref": {"id": 42}, "a/b": "Ana",
                             "labels": ["x"], "missing": null});
        assert_eq!(mapping.resolve("title", &payload), Some(MappedValue::Json(&json!("Hello"))));
        assert_eq!(mapping.resolve("entity.type", &payload), Some(MappedValue::Text("deal")));
        assert_eq!(mapping.resolve("entity.id", &payload), Some(MappedValue::Json(&json!(42))));
        assert_eq!(mapping.resolve("actor.name", &payload), Some(MappedValue::Json(&json!("Ana"))));
        assert_eq!(mapping.resolve("description", &payload), None, "null finds nothing");
        assert_eq!(mapping.resolve("priority", &payload), None, "unmapped");
        assert_eq!(mapping.to_json()["entity.type"], json!("deal"));
    }

    #[test]
    fn bad_mappings_name_their_fields() {
        let errors = Mapping::parse(&json!({
            "title": "/a~2", "nonsense": "/x", "entity.id": 7, "tags": ""
        }))
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in ["mapping.title", "mapping.nonsense", "mapping.entity.id", "mapping.tags"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert!(Mapping::parse(&json!(["/a"])).is_err());
    }

    #[test]
    fn channel_input_validates_every_field_at_once() {
        let input: ChannelInput = serde_json::from_value(json!({
            "name": "", "provider": "fax", "event_type": "Bad Type", "queue": "Q!",
            "mapping": {"x": "/y"}, "secret": " "
        }))
        .unwrap();
        let errors = input.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for f in ["name", "provider", "event_type", "queue", "mapping.x", "secret"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert!(!format!("{errors:?}").contains("whsec"), "no secret in errors");

        let input: ChannelInput = serde_json::from_value(json!({
            "name": "Stripe", "provider": "stripe", "secret": "whsec_abc"
        }))
        .unwrap();
        let (channel, secret) = input.validate().unwrap();
        assert_eq!(
            (channel.provider, channel.direction, channel.queue.as_str()),
            (Provider::Stripe, Direction::Inbound, "default")
        );
        assert_eq!(secret.as_deref(), Some("whsec_abc"));
        assert!(serde_json::from_value::<ChannelInput>(
            json!({"name": "x", "provider": "github", "tenant": "b"})
        )
        .is_err());
    }

    proptest! {
        #[test]
        fn pointer_validation_agrees_with_escapes(tokens in proptest::collection::vec("[a-z~/01]{0,6}", 0..4)) {
            let pointer: String = tokens.iter().map(|t| format!("/{t}")).collect();
            let expected = !pointer.contains('~')
                || pointer.match_indices('~').all(|(i, _)| matches!(pointer.as_bytes().get(i + 1), Some(b'0' | b'1')));
            prop_assert_eq!(valid_pointer(&pointer), expected);
            // Whatever it says, resolving never panics.
            let mapping = Mapping(BTreeMap::from([("title".to_owned(), MappingSource::Pointer(pointer))]));
            let _ = mapping.resolve("title", &json!({"a": {"b": [1, 2]}}));
        }
    }
}
