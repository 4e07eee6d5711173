//! The Standard Webhooks normalizer: one message as one draft (see the parent module).

use crate::ingest::{clip, dotted, str_at, unix_millis, unix_seconds, Draft};
use crate::time::Timestamp;
use serde_json::{json, Map, Value};

/// The type of a message whose payload names none.
pub const UNTYPED: &str = "webhook.received";

/// Most fields of `data` copied into the event's `data`.
const MAX_FIELDS: usize = 32;

/// Fields that name the thing a message is about, most telling first.
const NAME_FIELDS: [&str; 7] =
    ["/name", "/fullName", "/full_name", "/displayName", "/display_name", "/subject", "/email"];

/// `invoice.payment_failed` as a title's opening: `Invoice payment failed`.
fn humanized(kind: &str) -> String {
    let words = kind.replace(['.', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Webhook received".to_owned(),
    }
}

/// An id as text: a non-empty string or an integer.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(clip(s, 256)),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// When the event happened, from the payload's `timestamp`: RFC 3339 as the specification
/// recommends, or a number of Unix seconds (milliseconds when too large to be seconds).
fn time_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Timestamp::parse(s).ok().map(Timestamp::to_rfc3339),
        Value::Number(n) => {
            let n = n.as_i64()?;
            if n.abs() >= 100_000_000_000 {
                unix_millis(n)
            } else {
                unix_seconds(n)
            }
        }
        _ => None,
    }
}

/// Spine's action for a sender's type: only its last word says.
fn action_of(kind: &str) -> &'static str {
    match kind.rsplit('.').next() {
        Some("created" | "create" | "added") => "created",
        Some("deleted" | "delete" | "removed") => "deleted",
        _ => "custom",
    }
}

/// The short fields of `data`: scalars (long text clipped), at most [`MAX_FIELDS`] of them.
fn summary_of(data: &Value) -> Map<String, Value> {
    let Some(fields) = data.as_object() else { return Map::new() };
    fields
        .iter()
        .filter(|(name, _)| !name.is_empty() && name.len() <= 64)
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name.clone(), json!(clip(s, 256)))),
            Value::Number(_) | Value::Bool(_) => Some((name.clone(), value.clone())),
            _ => None,
        })
        .take(MAX_FIELDS)
        .collect()
}

/// One message as a draft; `attempted_at` is the delivery attempt's time, used when the
/// payload says nothing of when the event happened.
pub(super) fn draft(payload: Value, attempted_at: Option<String>) -> Draft {
    let kind = str_at(&payload, "/type");
    let event_type = kind.map_or_else(|| UNTYPED.to_owned(), dotted);
    // The specification allows `data` squashed into the top level.
    let data = payload.get("data").filter(|d| d.is_object()).unwrap_or(&payload);
    let name = NAME_FIELDS.iter().find_map(|pointer| str_at(data, pointer));
    let id = id_of(data.get("id"));
    let head = kind.map_or_else(|| humanized(""), humanized);
    let title = match (str_at(data, "/title"), name, &id) {
        (Some(title), _, _) => title.to_owned(),
        (None, Some(name), _) => format!("{head}: {name}"),
        (None, None, Some(id)) => format!("{head}: {id}"),
        (None, None, None) => head,
    };
    let mut summary = summary_of(data);
    if let Some(kind) = kind {
        summary.insert("type".to_owned(), json!(clip(kind, 256)));
    }
    let occurred_at = time_of(payload.get("timestamp")).or(attempted_at);

    let mut draft = Draft::new(&event_type, clip(&title, 512), "standard-webhooks", Value::Null)
        .action(kind.map_or("custom", action_of))
        .at(occurred_at)
        .data(Value::Object(summary));
    // `contact.created` about `data.id`: the sender's contact is the entity.
    let object_type = kind.and_then(|k| k.split_once('.')).map(|(first, _)| first);
    if let (Some(object_type), Some(id)) = (object_type.filter(|t| !t.trim().is_empty()), &id) {
        draft = draft.entity(object_type, id, name).object(object_type, id);
    }
    draft.payload = payload;
    draft
}

#[cfg(test)]
mod tests {
    use super::super::{StandardWebhooks, ID_HEADER, TIMESTAMP_HEADER};
    use super::*;
    use crate::ingest::{Context, Source, Stored, Unreadable};
    use crate::input::{EventInput, EventLimits};
    use proptest::prelude::*;

    const MESSAGE_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

    fn normalized(body: &[u8], headers: &[(&str, &str)]) -> Result<Vec<Draft>, Unreadable> {
        let mapping = crate::channel::Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: crate::channel::Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        let request = Stored {
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: body.to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        StandardWebhooks.normalize(&request, &context)
    }

    /// Normalizes a fixture delivered as `MESSAGE_ID` at 2024-03-18T10:05:00Z into its one
    /// event, checking it validates like a posted one and is de-duplicated on the message id.
    fn fixture(body: &str) -> EventInput {
        let headers = [(ID_HEADER, MESSAGE_ID), (TIMESTAMP_HEADER, "1710756300")];
        let mut drafts = normalized(body.as_bytes(), &headers).unwrap();
        assert_eq!(drafts.len(), 1);
        let draft = drafts.remove(0);
        let request = Stored {
            headers: vec![(ID_HEADER.to_owned(), MESSAGE_ID.to_owned())],
            body: vec![],
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        assert_eq!(StandardWebhooks.delivery_id(&request).as_deref(), Some(MESSAGE_ID));
        assert_eq!(draft.delivery_id, None, "one event per message: the message id is enough");
        assert_eq!(draft.payload, serde_json::from_str::<Value>(body).unwrap());
        if let Err(e) = draft.event.clone().validate(uuid::Uuid::nil(), None, &Default::default()) {
            panic!("{e:?}");
        }
        draft.event
    }

    fn entity(event: &EventInput) -> Option<(&str, &str, Option<&str>)> {
        let e = event.entity.as_ref()?;
        Some((e.entity_type.as_deref()?, e.id.as_deref()?, e.name.as_deref()))
    }

    #[test]
    fn a_full_payload_names_its_subject() {
        let event = fixture(include_str!("../fixtures/standard-webhooks/contact.created.json"));
        assert_eq!(event.event_type.as_deref(), Some("contact.created"));
        assert_eq!(event.action.as_deref(), Some("created"));
        assert_eq!(event.title.as_deref(), Some("Contact created: Ana Souza"));
        let id = "6f0c2a8e-5b1d-4c3e-9a77-2d4e8b1f0c35";
        assert_eq!(entity(&event), Some(("contact", id, Some("Ana Souza"))));
        let source = event.source.as_ref().unwrap();
        assert_eq!(source.system.as_deref(), Some("standard-webhooks"));
        assert_eq!(source.object_type.as_deref(), Some("contact"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-18T09:41:27.512034Z"));
        assert!(event.actor.is_none());
        let data = event.data.unwrap();
        assert_eq!(data["email"], json!("ana.souza@example.com"));
        assert_eq!(data["type"], json!("contact.created"), "the sender's type, as sent");
        assert!(data.get("address").is_none(), "only short fields are kept");
    }

    #[test]
    fn a_thin_payload_names_its_id() {
        let event = fixture(include_str!("../fixtures/standard-webhooks/invoice.paid.json"));
        assert_eq!(event.event_type.as_deref(), Some("invoice.paid"));
        assert_eq!(event.action.as_deref(), Some("custom"));
        assert_eq!(event.title.as_deref(), Some("Invoice paid: inv_01HS7Q4W9K2M3N4P5Q6R7S8T9V"));
        let id = "inv_01HS7Q4W9K2M3N4P5Q6R7S8T9V";
        assert_eq!(entity(&event), Some(("invoice", id, None)));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-18T10:02:11.000000Z"));
        let data = event.data.unwrap();
        assert_eq!((&data["amount"], &data["paid"]), (&json!(12900), &json!(true)));
    }

    #[test]
    fn an_untyped_payload_is_a_received_webhook_at_its_attempt_time() {
        let event = fixture(include_str!("../fixtures/standard-webhooks/untyped.json"));
        assert_eq!(event.event_type.as_deref(), Some(UNTYPED));
        assert_eq!(event.action.as_deref(), Some("custom"));
        assert_eq!(event.title.as_deref(), Some("Nightly export finished"));
        assert_eq!(entity(&event), None);
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-18T10:05:00.000000Z"));
        assert_eq!(event.data.unwrap()["rows"], json!(1204));
    }

    #[test]
    fn odd_payloads_still_read() {
        let event = fixture(r#"{"type": "Order Shipped", "timestamp": 1710756300123}"#);
        assert_eq!(event.event_type.as_deref(), Some("order_shipped"));
        assert_eq!(event.title.as_deref(), Some("Order Shipped"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-18T10:05:00.123000Z"));
        let event = fixture(r#"["a", "b"]"#);
        assert_eq!(event.title.as_deref(), Some("Webhook received"));
        let event = fixture(r#"{"type": "ping", "timestamp": "yesterday", "data": {"id": 7}}"#);
        assert_eq!(event.title.as_deref(), Some("Ping: 7"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-18T10:05:00.000000Z"));
        assert_eq!(entity(&event), None, "a one-word type names no kind of thing");
        let error = normalized(b"not json", &[]).unwrap_err();
        assert!(error.0.contains("not JSON"), "{error}");
    }

    /// Arbitrary JSON whose keys are often the ones the normalizer reads.
    fn json_value() -> impl Strategy<Value = Value> {
        crate::ingest::testing::json_like(
            vec!["type", "timestamp", "data", "id", "title", "name", "fullName", "email"],
            vec!["a.created", "2024-03-18T10:02:11Z", ".", "x."],
            4,
        )
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..300),
            timestamp in "\\PC{0,20}",
        ) {
            let _ = normalized(&body, &[(TIMESTAMP_HEADER, &timestamp)]);
        }

        #[test]
        fn any_json_never_panics_and_events_validate(
            top in json_value(),
            (kind, timestamp, data) in (json_value(), json_value(), json_value()),
        ) {
            let shaped = json!({"type": kind, "timestamp": timestamp, "data": data});
            for body in [top, shaped] {
                let drafts = normalized(body.to_string().as_bytes(), &[]);
                for draft in drafts.unwrap_or_default() {
                    let checked = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
                    prop_assert!(checked.is_ok(), "{:?}", checked.err());
                }
            }
        }
    }
}
