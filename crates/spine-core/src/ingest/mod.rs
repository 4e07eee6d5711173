//! Ingestion from the outside world (SPEC section 6 and principle 9): verification, then the
//! ledger, then pure normalizers. Everything here is a pure function of a request's bytes.
//!
//! - [`verify`]: the shared parts of signature checks: [`VerifyError`], header lookup,
//!   timestamps, constant-time comparison.
//! - [`Source`]: what one provider is to Spine: how it authenticates, which headers matter,
//!   its delivery id, its normalizer, how it is answered. One module per provider implements
//!   it, verifier and normalizer together; [`source`] is the registry that names them all.
//! - [`Received`] (a request as it arrives, for verification) and [`Stored`] (a request as the
//!   ledger keeps it, for normalizing, first time or replay).
//! - [`Draft`]: what a normalizer makes of a request, before the channel's mapping and the
//!   tenant's identifiers are applied; [`finish`] turns drafts into event inputs and delivery
//!   keys.

use crate::channel::{Direction, MappedValue, Mapping, Privacy, Provider};
use crate::event::EventType;
use crate::idempotency::hex;
use crate::input::{ActorInput, EntityInput, EventInput, SourceInput};
use crate::time::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod verify;

#[cfg(test)]
mod testing;

pub mod claude_code;
pub mod cloudevents;
pub mod file;
pub mod generic;
pub mod github;
pub mod hubspot;
pub mod postmark;
pub mod salesforce;
pub mod standard_webhooks;
pub mod stripe;
pub mod twilio;

pub use verify::{Headers, VerifyError};

/// The registry: the [`Source`] of each provider. Adding a provider is its module and one line
/// here (and its name in [`Provider`]).
pub fn source(provider: Provider) -> &'static dyn Source {
    match provider {
        Provider::Generic => &generic::Generic,
        Provider::Cloudevents => &cloudevents::CloudEvents,
        Provider::Github => &github::GitHub,
        Provider::Salesforce => &salesforce::Salesforce,
        Provider::ClaudeCode => &claude_code::ClaudeCode,
        Provider::Stripe => &stripe::Stripe,
        Provider::StandardWebhooks => &standard_webhooks::StandardWebhooks,
        Provider::Hubspot => &hubspot::HubSpot,
        Provider::Twilio => &twilio::Twilio,
        Provider::Postmark => &postmark::Postmark,
        Provider::File => &file::File,
    }
}

/// A request as it reached the ingest endpoint, for verification.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// `POST`, as the provider sent it.
    pub method: &'a str,
    /// The full URL the provider called: the configured `public_url` (or the request's own
    /// scheme and `Host`), the path and the query. Twilio and HubSpot sign it.
    pub url: &'a str,
    /// Every header, each value as received (a repeated header appears twice).
    pub headers: &'a Headers<'a>,
    /// The raw body.
    pub body: &'a [u8],
    /// Receipt time, Unix seconds: signed timestamps are judged against it.
    pub now: i64,
}

/// A request as the ledger keeps it: the headers that matter (never a secret) and the body.
/// Normalizers read only this, so a replay sees exactly what the first run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The kept headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
    /// When Spine received it: the events' time when the provider gives none.
    pub received_at: Timestamp,
}

impl Stored {
    /// Keeps from `received` only the headers the provider's [`Source::kept_headers`] names
    /// (readable as UTF-8, the first of each name).
    pub fn keep(
        source: &dyn Source,
        received: &Received<'_>,
        received_at: Timestamp,
        privacy: &Privacy,
    ) -> Self {
        let mut headers = Vec::new();
        for wanted in source.kept_headers() {
            let value = received
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .and_then(|(_, value)| std::str::from_utf8(value).ok());
            if let Some(value) = value {
                headers.push(((*wanted).to_owned(), value.trim().to_owned()));
            }
        }
        Self { headers, body: source.scrub(received.body, privacy), received_at }
    }

    /// A kept header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or why it is not.
    pub fn json(&self) -> Result<Value, Unreadable> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Unreadable(format!("the body is not JSON ({e})")))
    }
}

/// How a provider proves a request is its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Only the channel's secret, checked by [`Source::verify`] (signatures, basic auth...).
    ChannelSecret,
    /// A tenant API key allowed to ingest (`Authorization: Bearer spk_...`), or else the
    /// channel's secret as [`Source::verify`] checks it.
    KeyOrChannelSecret,
}

/// What the provider is told when its body cannot be read into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAnswer {
    /// 2xx: the provider would retry a permanently bad payload forever (the ledger keeps it
    /// as `failed`, so nothing is lost).
    Accept,
    /// 400: the sender is a program that can read the problem and fix its request.
    Reject,
}

/// Why a stored request could not be normalized: safe to show (no secrets, no whole bodies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// What a channel tells a normalizer.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The channel's id (part of every delivery key, so channels never dedupe each other).
    pub channel_id: &'a str,
    /// The type the channel produces, if it sets one.
    pub event_type: Option<&'a EventType>,
    /// Which side of a message is the contact.
    pub direction: Direction,
    /// Field overrides (everything, for `generic`).
    pub mapping: &'a Mapping,
    /// What content is cut to and redacted of (`claude-code`).
    pub privacy: &'a Privacy,
}

/// One event as a normalizer reads it from a request, before the channel's mapping and the
/// tenant's identifiers are applied.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// The event, in the API's input shape, so it is validated like any posted event.
    pub event: EventInput,
    /// The JSON the mapping's pointers read (the provider's object for this event).
    pub payload: Value,
    /// The provider's id for this event, if it gives one: a redelivery carries the same.
    pub delivery_id: Option<String>,
    /// The sender's addresses or numbers, as the provider wrote them.
    pub from: Vec<String>,
    /// The recipients' addresses or numbers.
    pub to: Vec<String>,
}

impl Draft {
    /// A draft of `event_type` titled `title`, from the provider `system`, reading `payload`.
    pub fn new(event_type: &str, title: impl Into<String>, system: &str, payload: Value) -> Self {
        Self {
            event: EventInput {
                event_type: Some(event_type.to_owned()),
                title: Some(title.into()),
                source: Some(SourceInput {
                    system: Some(system.to_owned()),
                    object_id: None,
                    object_type: None,
                }),
                ..EventInput::default()
            },
            payload,
            ..Self::default()
        }
    }
}

impl Draft {
    /// Sets the action (`created`, `updated`, `deleted`, `state_changed`, `custom`).
    pub fn action(mut self, action: &str) -> Self {
        self.event.action = Some(action.to_owned());
        self
    }

    /// Sets who did it.
    pub fn actor(mut self, id: &str, name: Option<&str>, kind: &str) -> Self {
        self.event.actor = Some(ActorInput {
            id: Some(clip(id, 256)),
            name: name.map(|n| clip(n, 256)),
            kind: Some(kind.to_owned()),
        });
        self
    }

    /// Sets what it was done to.
    pub fn entity(mut self, entity_type: &str, id: &str, name: Option<&str>) -> Self {
        self.event.entity = Some(EntityInput {
            entity_type: Some(dotted(entity_type)),
            id: Some(clip(id, 256)),
            name: name.map(|n| clip(n, 512)),
        });
        self
    }

    /// Sets the provider's object type and id (`source.object_type`, `source.object_id`).
    pub fn object(mut self, object_type: &str, id: &str) -> Self {
        if let Some(source) = self.event.source.as_mut() {
            source.object_type = Some(clip(object_type, 64));
            source.object_id = Some(clip(id, 256));
        }
        self
    }

    /// Sets when it happened, from the provider's own clock (RFC 3339), when known.
    pub fn at(mut self, occurred_at: Option<String>) -> Self {
        self.event.occurred_at = occurred_at;
        self
    }

    /// Sets the event's `data`: the fields worth showing and summarizing.
    pub fn data(mut self, data: Value) -> Self {
        self.event.data = Some(data);
        self
    }

    /// Sets the provider's id for this event.
    pub fn delivery(mut self, id: impl Into<String>) -> Self {
        self.delivery_id = Some(id.into());
        self
    }
}

/// A provider's name for something (an event name, an object type) as a dotted Spine name:
/// lower case, and any character a name cannot hold replaced by `_`.
pub fn dotted(name: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .take(64)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_' | '.' | ':' | '-') => c,
            _ => '_',
        })
        .collect();
    match cleaned.chars().next() {
        Some('a'..='z' | '0'..='9') => cleaned,
        _ => format!("x{}", cleaned.chars().take(63).collect::<String>()),
    }
}

/// What one provider is to Spine. Implementations are unit structs in their own module.
pub trait Source: Sync {
    /// Which provider this is.
    fn provider(&self) -> Provider;

    /// How its requests authenticate.
    fn auth(&self) -> Auth {
        Auth::ChannelSecret
    }

    /// The headers the ledger keeps (lower case): what the normalizer and delivery id need,
    /// never a credential.
    fn kept_headers(&self) -> &'static [&'static str];

    /// Checks a request against the channel's secrets (current and, during a rotation grace
    /// period, previous), on the raw bytes, before anything is parsed.
    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError>;

    /// The body as the ledger keeps it (after verification, which reads the raw bytes): as
    /// received, unless the provider's bodies carry secrets of their own that nobody should
    /// find in the ledger later (a coding agent's hooks, cut and redacted as the channel's
    /// `privacy` says).
    fn scrub(&self, body: &[u8], _privacy: &Privacy) -> Vec<u8> {
        body.to_vec()
    }

    /// The provider's id for the whole delivery, when it gives one (`X-GitHub-Delivery`...).
    fn delivery_id(&self, request: &Stored) -> Option<String>;

    /// Reads a stored request into drafts, one per event.
    fn normalize(&self, request: &Stored, context: &Context<'_>) -> Result<Vec<Draft>, Unreadable>;

    /// Whether an unreadable body is answered 2xx or 400.
    fn failed_answer(&self) -> FailedAnswer {
        FailedAnswer::Accept
    }

    /// A new secret in the provider's own format, from 32 random bytes. `None` when only the
    /// provider can issue it (the admin must pass it).
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        Some(hex(random))
    }

    /// The body of the answer to an accepted or duplicate delivery, with its content type,
    /// when the provider expects something particular (Salesforce's SOAP `Ack`).
    fn accepted_body(&self) -> Option<(&'static str, &'static str)> {
        None
    }
}

/// A draft made ready to validate: the channel's type and mapping applied, its delivery key
/// decided, the contact's identifiers picked by direction.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The event input, validated next like any posted event.
    pub event: EventInput,
    /// The idempotency key that makes a redelivery of this event a repeat.
    pub key: String,
    /// The contact's raw identifiers (e-mail addresses, phone numbers) to match.
    pub contacts: Vec<String>,
    /// Whether the channel's mapping chose the entity: a matched contact replaces only an
    /// entity the provider chose (a message, a call), never one the channel's owner mapped.
    pub entity_mapped: bool,
}

/// Applies the channel to each draft: its event type, then its mapping over the draft's
/// payload (a pointer that finds nothing leaves the provider's value), then the delivery key:
/// from the event's own delivery id, the request's (with the event's index), or, when the
/// provider gives none, the ledger entry's id (so only a replay repeats it).
pub fn finish(
    drafts: Vec<Draft>,
    context: &Context<'_>,
    request_delivery: Option<&str>,
    ledger_id: &str,
) -> Vec<Ready> {
    drafts
        .into_iter()
        .enumerate()
        .map(|(index, draft)| {
            let mut event = draft.event;
            if let Some(event_type) = context.event_type {
                event.event_type = Some(event_type.as_str().to_owned());
            }
            apply_mapping(context.mapping, &draft.payload, &mut event);
            let delivery = match (&draft.delivery_id, request_delivery) {
                (Some(own), _) => format!("e:{own}"),
                (None, Some(request)) => format!("r:{request}:{index}"),
                (None, None) => format!("l:{ledger_id}:{index}"),
            };
            let contacts = match context.direction {
                Direction::Inbound => draft.from,
                Direction::Outbound => draft.to,
            };
            let entity_mapped = ["entity.type", "entity.id"]
                .iter()
                .any(|field| context.mapping.resolve(field, &draft.payload).is_some());
            Ready {
                event,
                key: delivery_key(context.channel_id, &delivery),
                contacts,
                entity_mapped,
            }
        })
        .collect()
}

/// The idempotency key of a delivery on a channel: a hash, so any provider id (long, with any
/// characters) fits the key's bounds.
pub fn delivery_key(channel_id: &str, delivery: &str) -> String {
    let mut h = Sha256::new();
    h.update(channel_id.as_bytes());
    h.update([0]);
    h.update(delivery.as_bytes());
    format!("ingest:{}", hex(&h.finalize()[..16]))
}

/// A mapped value as text: strings as they are, numbers and booleans printed.
fn text_of(value: MappedValue<'_>) -> Option<String> {
    match value {
        MappedValue::Text(t) => Some(t.to_owned()),
        MappedValue::Json(Value::String(s)) => Some(s.clone()),
        MappedValue::Json(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        MappedValue::Json(_) => None,
    }
}

/// A mapped time: RFC 3339 text as it is; a number as Unix seconds, or milliseconds when it is
/// too large to be seconds (providers use both).
fn time_of(value: MappedValue<'_>) -> Option<String> {
    if let MappedValue::Json(Value::Number(n)) = value {
        let n = n.as_i64()?;
        let micros = if n.abs() >= 100_000_000_000 {
            n.checked_mul(1_000)?
        } else {
            n.checked_mul(1_000_000)?
        };
        return Timestamp::from_micros(micros).map(Timestamp::to_rfc3339);
    }
    text_of(value)
}

/// Mapped tags: an array of strings, or one string.
fn tags_of(value: MappedValue<'_>) -> Option<Vec<String>> {
    match value {
        MappedValue::Json(Value::Array(items)) => {
            Some(items.iter().filter_map(|v| text_of(MappedValue::Json(v))).collect())
        }
        other => text_of(other).map(|t| vec![t]),
    }
}

/// Overrides `event`'s fields with what `mapping` finds in `payload`.
pub fn apply_mapping(mapping: &Mapping, payload: &Value, event: &mut EventInput) {
    let get = |field: &str| mapping.resolve(field, payload);
    let text = |field: &str| get(field).and_then(text_of);
    if let Some(v) = text("type") {
        event.event_type = Some(v);
    }
    if let Some(v) = text("title") {
        event.title = Some(v);
    }
    if let Some(v) = text("description") {
        event.description = Some(v);
    }
    if let Some(v) = get("occurred_at").and_then(time_of) {
        event.occurred_at = Some(v);
    }
    if let Some(v) = text("priority") {
        event.priority = Some(v);
    }
    if let Some(v) = get("tags").and_then(tags_of) {
        event.tags = Some(v);
    }
    if let Some(v) = text("idempotency_key") {
        event.idempotency_key = Some(v);
    }
    if let Some(v) = text("correlation_id") {
        event.correlation_id = Some(v);
    }
    let (actor_id, actor_name, actor_kind) =
        (text("actor.id"), text("actor.name"), text("actor.kind"));
    if actor_id.is_some() || actor_name.is_some() || actor_kind.is_some() {
        let actor = event.actor.get_or_insert(ActorInput { id: None, name: None, kind: None });
        actor.id = actor_id.or(actor.id.take());
        actor.name = actor_name.or(actor.name.take());
        actor.kind = actor_kind.or(actor.kind.take());
    }
    let (entity_type, entity_id, entity_name) =
        (text("entity.type"), text("entity.id"), text("entity.name"));
    if entity_type.is_some() || entity_id.is_some() || entity_name.is_some() {
        let entity =
            event.entity.get_or_insert(EntityInput { entity_type: None, id: None, name: None });
        entity.entity_type = entity_type.or(entity.entity_type.take());
        entity.id = entity_id.or(entity.id.take());
        entity.name = entity_name.or(entity.name.take());
    }
    let (object_id, object_type) = (text("source.object_id"), text("source.object_type"));
    if object_id.is_some() || object_type.is_some() {
        let source = event.source.get_or_insert(SourceInput {
            system: None,
            object_id: None,
            object_type: None,
        });
        source.object_id = object_id.or(source.object_id.take());
        source.object_type = object_type.or(source.object_type.take());
    }
}

/// Shortens provider text to `max` characters for a title, marking the cut with `…`.
pub fn clip(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A provider's Unix time (seconds) as RFC 3339, when it is a plausible instant.
pub fn unix_seconds(seconds: i64) -> Option<String> {
    Timestamp::from_micros(seconds.checked_mul(1_000_000)?).map(Timestamp::to_rfc3339)
}

/// A provider's Unix time in milliseconds as RFC 3339.
pub fn unix_millis(millis: i64) -> Option<String> {
    Timestamp::from_micros(millis.checked_mul(1_000)?).map(Timestamp::to_rfc3339)
}

/// A string field of a JSON object.
pub fn str_at<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_provider_is_registered_as_itself() {
        for provider in Provider::ALL {
            let source = source(provider);
            assert_eq!(source.provider(), provider);
            for header in source.kept_headers() {
                assert_eq!(*header, header.to_ascii_lowercase(), "{provider:?}");
                for secret_bearing in ["authorization", "x-ingestion-key", "cookie"] {
                    assert_ne!(*header, secret_bearing, "{provider:?} must not keep credentials");
                }
            }
        }
    }

    #[test]
    fn the_channel_type_and_mapping_override_the_provider() {
        let mapping = Mapping::parse(&json!({
            "title": "/subject", "entity.type": "deal", "entity.id": "/ref",
            "occurred_at": "/at", "tags": "/labels", "actor.name": "/who"
        }))
        .unwrap();
        let event_type = EventType::parse("crm.note").unwrap();
        let context = Context {
            channel_id: "ch1",
            event_type: Some(&event_type),
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &Privacy::default(),
        };
        let mut draft = Draft::new(
            "x.y",
            "Provider title",
            "x",
            json!({
                "subject": "Mapped", "ref": 42, "at": 1_700_000_000, "labels": ["a", "b"], "who": "Ana"
            }),
        );
        draft.from = vec!["ana@example.com".into()];
        draft.to = vec!["desk@example.com".into()];
        let ready = finish(vec![draft], &context, Some("d1"), "l1");
        let event = &ready[0].event;
        assert_eq!(event.event_type.as_deref(), Some("crm.note"));
        assert_eq!(event.title.as_deref(), Some("Mapped"));
        let entity = event.entity.as_ref().unwrap();
        assert_eq!(
            (entity.entity_type.as_deref(), entity.id.as_deref()),
            (Some("deal"), Some("42"))
        );
        assert_eq!(event.occurred_at.as_deref(), Some("2023-11-14T22:13:20.000000Z"));
        assert_eq!(event.tags, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(event.actor.as_ref().unwrap().name.as_deref(), Some("Ana"));
        assert_eq!(ready[0].contacts, vec!["ana@example.com".to_owned()]);
        assert_eq!(ready[0].key, delivery_key("ch1", "r:d1:0"));
    }

    #[test]
    fn delivery_keys_separate_channels_and_events() {
        let (mapping, privacy) = (Mapping::default(), Privacy::default());
        let context = |id| Context {
            channel_id: id,
            event_type: None,
            direction: Direction::Outbound,
            mapping: &mapping,
            privacy: &privacy,
        };
        let drafts = || {
            let mut own = Draft::new("a.b", "t", "x", json!({}));
            own.delivery_id = Some("evt_1".into());
            own.to = vec!["+14155550100".into()];
            vec![own, Draft::new("a.b", "t", "x", json!({}))]
        };
        let a = finish(drafts(), &context("ch1"), None, "l1");
        let again = finish(drafts(), &context("ch1"), None, "l2");
        let other = finish(drafts(), &context("ch2"), None, "l1");
        assert_eq!(a[0].key, again[0].key, "the event's own id repeats across deliveries");
        assert_ne!(a[1].key, again[1].key, "without ids, each ledger entry is its own delivery");
        assert_ne!(a[0].key, other[0].key, "channels never dedupe each other");
        assert_eq!(a[0].contacts, vec!["+14155550100".to_owned()]);
        assert!(a[0].key.len() < 64);
    }

    #[test]
    fn provider_names_become_dotted_names() {
        assert_eq!(dotted("pull_request"), "pull_request");
        assert_eq!(dotted("Customer Subscription/Updated"), "customer_subscription_updated");
        assert_eq!(dotted(""), "x");
        assert_eq!(dotted("_x"), "x_x");
        assert!(crate::text::is_dotted_name(&dotted(&"É".repeat(100)), 64));
    }

    #[test]
    fn clipping_and_times() {
        assert_eq!(clip("  short ", 10), "short");
        assert_eq!(clip("abcdefghijk", 5), "abcd…");
        assert_eq!(unix_seconds(0).as_deref(), Some("1970-01-01T00:00:00.000000Z"));
        assert_eq!(unix_millis(1_700_000_000_123).as_deref(), Some("2023-11-14T22:13:20.123000Z"));
        assert_eq!(unix_seconds(i64::MAX), None);
    }
}
