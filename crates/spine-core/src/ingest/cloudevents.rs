//! CloudEvents over HTTP (the HTTP protocol binding, v1.0): structured, batch and binary modes.
//!
//! - Structured mode: `Content-Type: application/cloudevents+json`, the body is one event, an
//!   object with `specversion`, `id`, `source`, `type` and optionally `subject`, `time`,
//!   `datacontenttype`, `data` or `data_base64`.
//! - Batch mode: `application/cloudevents-batch+json`, a JSON array of such events (at most
//!   [`MAX_BATCH`]).
//! - Binary mode: the attributes travel in `ce-*` headers (`ce-specversion`, `ce-id`,
//!   `ce-source`, `ce-type`, `ce-subject`, `ce-time`) and the body is the event's data, typed by
//!   its own `Content-Type`.
//!
//! Authentication is a tenant ingest key or the channel's key ([`verify_channel_key`]); the
//! `OPTIONS` abuse-protection handshake is answered by the server with [`handshake`].
//!
//! Normalizing: one draft per CloudEvent, typed by the event's `type` as a dotted name
//! (`com.github.pull_request.opened` stays as it is); titled by `data.title`, `data.name`, the
//! `subject` or the type; `time` is when it happened; `source` and `id` together are the
//! delivery id, as the specification makes them unique per event. `data` keeps the event's
//! object data (only its top-level scalars when it is large) and the `source` and `id`.

use super::generic::{verify_channel_key, MAX_BATCH};
use super::verify::VerifyError;
use super::{
    clip, dotted, str_at, Auth, Context, Draft, FailedAnswer, Received, Source, Stored, Unreadable,
};
use crate::channel::Provider;
use crate::time::Timestamp;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The structured mode's media type.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// The batch mode's media type.
pub const BATCH: &str = "application/cloudevents-batch+json";
/// Largest event `data` kept whole (serialized bytes); larger data keeps its top-level scalars.
pub const MAX_DATA: usize = 48 * 1024;

/// The binary mode's attribute headers, each `ce-` and the attribute's name.
const ATTRIBUTE_HEADERS: [&str; 6] =
    ["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time"];

/// The `cloudevents` provider.
pub struct CloudEvents;

impl Source for CloudEvents {
    fn provider(&self) -> Provider {
        Provider::Cloudevents
    }

    fn auth(&self) -> Auth {
        Auth::KeyOrChannelSecret
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &[
            "content-type",
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-subject",
            "ce-time",
        ]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify_channel_key(request.headers, secrets)
    }

    /// Each event carries its own id (`source` + `id`); the request as a whole has none.
    fn delivery_id(&self, _: &Stored) -> Option<String> {
        None
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let media = media_type(request);
        let events = if media == BATCH {
            batch(request.json()?)?
        } else if media.starts_with("application/cloudevents") {
            vec![request.json()?]
        } else if request.header("ce-specversion").is_some() {
            vec![binary(request, &media)?]
        } else {
            // Lenient: a structured event posted as plain `application/json`.
            vec![request.json()?]
        };
        events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                draft(event).map_err(|why| {
                    if media == BATCH {
                        Unreadable(format!("event {index}: {why}"))
                    } else {
                        why
                    }
                })
            })
            .collect()
    }

    fn failed_answer(&self) -> FailedAnswer {
        FailedAnswer::Reject
    }
}

/// The request's media type, lower case, without parameters.
fn media_type(request: &Stored) -> String {
    let content_type = request.header("content-type").unwrap_or_default();
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Whether a media type holds JSON (`application/json`, `text/json`, `...+json`).
fn is_json(media: &str) -> bool {
    media == "application/json" || media == "text/json" || media.ends_with("+json")
}

/// The events of a batch: a non-empty array of at most [`MAX_BATCH`].
fn batch(body: Value) -> Result<Vec<Value>, Unreadable> {
    match body {
        Value::Array(items) if items.is_empty() => Err(Unreadable("the batch is empty".into())),
        Value::Array(items) if items.len() > MAX_BATCH => {
            Err(Unreadable(format!("at most {MAX_BATCH} events per batch")))
        }
        Value::Array(items) => Ok(items),
        _ => Err(Unreadable("a batch must be a JSON array of events".into())),
    }
}

/// A binary-mode event as the structured form would hold it: the attributes from the `ce-*`
/// headers and the body as `data` (JSON when its type says so, else text when it is UTF-8).
fn binary(request: &Stored, media: &str) -> Result<Value, Unreadable> {
    let mut event = Map::new();
    for name in ATTRIBUTE_HEADERS {
        if let Some(value) = request.header(name) {
            let attribute = name.trim_start_matches("ce-");
            event.insert(attribute.to_owned(), Value::String(value.to_owned()));
        }
    }
    if !media.is_empty() {
        event.insert("datacontenttype".into(), Value::String(media.to_owned()));
    }
    if is_json(media) && !request.body.is_empty() {
        let data: Value = serde_json::from_slice(&request.body)
            .map_err(|e| Unreadable(format!("the data is not JSON ({e})")))?;
        event.insert("data".into(), data);
    } else if let Ok(text) = std::str::from_utf8(&request.body) {
        if !text.is_empty() {
            event.insert("data".into(), Value::String(text.to_owned()));
        }
    }
    Ok(Value::Object(event))
}

/// A required string attribute.
fn required<'v>(event: &'v Value, name: &'static str) -> Result<&'v str, Unreadable> {
    str_at(event, &format!("/{name}"))
        .ok_or_else(|| Unreadable(format!("the required attribute {name} is missing")))
}

/// The event's data as JSON: `data`, or `data_base64` decoded when its content type is JSON.
fn data_of(event: &Value) -> Option<Value> {
    if let Some(data) = event.get("data") {
        return Some(data.clone());
    }
    let encoded = event.get("data_base64")?.as_str()?;
    let media = str_at(event, "/datacontenttype").unwrap_or("application/json");
    let media = media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !is_json(&media) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Object data as the event's `data`: whole when small, else its top-level scalars (long
/// strings clipped) up to the same budget.
fn bounded(data: &Map<String, Value>) -> Map<String, Value> {
    let size = serde_json::to_vec(data).map_or(usize::MAX, |bytes| bytes.len());
    if size <= MAX_DATA {
        return data.clone();
    }
    let mut kept = Map::new();
    let mut budget = MAX_DATA;
    for (key, value) in data {
        let value = match value {
            Value::String(s) => Value::String(clip(s, 1024)),
            Value::Number(_) | Value::Bool(_) | Value::Null => value.clone(),
            Value::Array(_) | Value::Object(_) => continue,
        };
        let cost = key.len() + value.to_string().len() + 4;
        if cost > budget {
            break;
        }
        budget -= cost;
        kept.insert(key.clone(), value);
    }
    kept
}

/// One CloudEvent (structured form) as a draft.
fn draft(event: Value) -> Result<Draft, Unreadable> {
    if !event.is_object() {
        return Err(Unreadable("an event must be a JSON object".into()));
    }
    let version = required(&event, "specversion")?;
    if version != "1.0" {
        return Err(Unreadable(format!(
            "specversion {} is not supported (1.0 is)",
            clip(version, 16)
        )));
    }
    let id = required(&event, "id")?;
    let source = required(&event, "source")?;
    let event_type = required(&event, "type")?;
    let subject = str_at(&event, "/subject");
    let data = data_of(&event);
    let object = data.as_ref().and_then(Value::as_object);
    let title = object
        .and_then(|d| {
            ["title", "name"].into_iter().find_map(|field| {
                d.get(field).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
            })
        })
        .or(subject)
        .unwrap_or(event_type);
    let occurred_at = str_at(&event, "/time").filter(|t| Timestamp::parse(t).is_ok());
    let mut fields = object.map(bounded).unwrap_or_default();
    fields.insert("ce_source".into(), json!(clip(source, 1024)));
    fields.insert("ce_id".into(), json!(clip(id, 256)));
    let delivery = format!("{source} {id}");
    let mut draft = Draft::new(&dotted(event_type), clip(title, 512), "cloudevents", Value::Null)
        .at(occurred_at.map(str::to_owned))
        .data(Value::Object(fields))
        .delivery(delivery);
    if let (Some(subject), Some(source)) = (subject, draft.event.source.as_mut()) {
        source.object_id = Some(clip(subject, 256));
    }
    draft.payload = event;
    Ok(draft)
}

/// The answer to the CloudEvents webhook `OPTIONS` validation request (abuse protection,
/// "HTTP 1.1 Web Hooks for Event Delivery" section 4): permission for the requesting origin
/// (`WebHook-Request-Origin` echoed, or `*`) at the requested rate (`WebHook-Request-Rate`
/// echoed when it is a positive integer, else `*`, no limit), and `Allow: POST`. Values that
/// could not be a header's are replaced by `*`, so the answer never carries what it was sent
/// verbatim unless it is plain.
pub fn handshake(origin: Option<&str>, rate: Option<&str>) -> Vec<(&'static str, String)> {
    let plain = |s: &&str| {
        !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic() && b != b',')
    };
    let origin = origin.map(str::trim).filter(plain).unwrap_or("*");
    let rate = rate
        .map(str::trim)
        .filter(|r| r.len() <= 9 && r.parse::<u32>().is_ok_and(|n| n > 0))
        .unwrap_or("*");
    vec![
        ("WebHook-Allowed-Origin", origin.to_owned()),
        ("WebHook-Allowed-Rate", rate.to_owned()),
        ("Allow", "POST".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Direction, Mapping};
    use crate::ingest::Headers;
    use proptest::prelude::*;

    fn stored(body: &[u8], headers: &[(&str, &str)]) -> Stored {
        Stored {
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: body.to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        }
    }

    fn normalize(request: &Stored) -> Result<Vec<Draft>, Unreadable> {
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        CloudEvents.normalize(request, &context)
    }

    /// A draft's event passes the API's validation, as the server will check it.
    fn assert_valid(draft: &Draft) {
        let limits = crate::input::EventLimits::default();
        let checked = draft.event.clone().validate(uuid::Uuid::nil(), None, &limits);
        assert!(checked.is_ok(), "{:?}", checked.err());
    }

    #[test]
    fn a_structured_event_becomes_one_draft() {
        let body = include_bytes!("fixtures/cloudevents/structured.json");
        let request =
            stored(body, &[("content-type", "application/cloudevents+json; charset=utf-8")]);
        let drafts = normalize(&request).unwrap();
        assert_eq!(drafts.len(), 1);
        let draft = &drafts[0];
        assert_valid(draft);
        let event = &draft.event;
        assert_eq!(event.event_type.as_deref(), Some("com.github.pull_request.opened"));
        assert_eq!(event.title.as_deref(), Some("Add the batch mode to the HTTP binding"));
        assert_eq!(event.action, None, "custom, by default");
        assert!(event.actor.is_none() && event.entity.is_none());
        assert_eq!(event.occurred_at.as_deref(), Some("2018-04-05T17:31:00Z"));
        let source = event.source.as_ref().unwrap();
        assert_eq!(source.system.as_deref(), Some("cloudevents"));
        assert_eq!(source.object_id.as_deref(), Some("123"));
        assert_eq!(
            draft.delivery_id.as_deref(),
            Some("https://github.com/cloudevents/spec/pull A234-1234-1234")
        );
        let data = event.data.as_ref().unwrap();
        assert_eq!(data["number"], json!(123));
        assert_eq!(data["ce_id"], json!("A234-1234-1234"));
        assert_eq!(data["ce_source"], json!("https://github.com/cloudevents/spec/pull"));
        assert_eq!(draft.payload["comexampleextension1"], json!("value"), "the whole event");
        assert_eq!(CloudEvents.delivery_id(&request), None);
    }

    #[test]
    fn a_batch_becomes_one_draft_per_event() {
        let body = include_bytes!("fixtures/cloudevents/batch.json");
        let drafts = normalize(&stored(body, &[("content-type", BATCH)])).unwrap();
        assert_eq!(drafts.len(), 2);
        drafts.iter().for_each(assert_valid);
        let created = &drafts[0].event;
        assert_eq!(created.event_type.as_deref(), Some("com.example.order.created"));
        assert_eq!(created.title.as_deref(), Some("Order 1001"));
        assert_eq!(created.occurred_at.as_deref(), Some("2024-03-01T09:15:00+01:00"));
        assert_eq!(drafts[0].delivery_id.as_deref(), Some("/shop/orders order-1001"));
        let shipped = &drafts[1].event;
        assert_eq!(shipped.title.as_deref(), Some("order-1001"), "the subject, without a title");
        assert_eq!(shipped.occurred_at, None);
        assert_eq!(shipped.data.as_ref().unwrap()["carrier"], json!("DHL"), "data_base64 read");
        assert_eq!(drafts[1].delivery_id.as_deref(), Some("/shop/orders order-1001-shipped"));
    }

    #[test]
    fn a_binary_mode_event_reads_its_headers() {
        let body = include_bytes!("fixtures/cloudevents/binary-data.json");
        let headers = [
            ("content-type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "b-512"),
            ("ce-source", "urn:ci:builds"),
            ("ce-type", "CI.Build.Finished"),
            ("ce-time", "2024-05-02T10:00:00Z"),
        ];
        let drafts = normalize(&stored(body, &headers)).unwrap();
        let draft = &drafts[0];
        assert_valid(draft);
        assert_eq!(draft.event.event_type.as_deref(), Some("ci.build.finished"));
        assert_eq!(draft.event.title.as_deref(), Some("Build 512 finished"));
        assert_eq!(draft.event.occurred_at.as_deref(), Some("2024-05-02T10:00:00Z"));
        assert_eq!(draft.delivery_id.as_deref(), Some("urn:ci:builds b-512"));
        assert_eq!(draft.payload["data"]["status"], json!("success"));
        assert_eq!(draft.payload["datacontenttype"], json!("application/json"));
        assert_eq!(draft.payload["type"], json!("CI.Build.Finished"));
        assert_eq!(draft.event.data.as_ref().unwrap()["duration_s"], json!(184));

        // Text data stays in the payload; the title falls back to the type.
        let text = [
            ("content-type", "text/plain"),
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t.x"),
        ];
        let drafts = normalize(&stored(b"hello", &text)).unwrap();
        assert_eq!(drafts[0].payload["data"], json!("hello"));
        assert_eq!(drafts[0].event.title.as_deref(), Some("t.x"));
    }

    #[test]
    fn missing_attributes_and_other_versions_are_unreadable() {
        let structured = [("content-type", STRUCTURED)];
        let event = |v: Value| serde_json::to_vec(&v).unwrap();
        let full = json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t"});
        assert!(normalize(&stored(&event(full.clone()), &structured)).is_ok());
        for missing in ["specversion", "id", "source", "type"] {
            let mut e = full.clone();
            e.as_object_mut().unwrap().remove(missing);
            let why = normalize(&stored(&event(e), &structured)).unwrap_err();
            assert!(why.0.contains(missing), "{why}");
        }
        let old = json!({"specversion": "0.3", "id": "1", "source": "s", "type": "t"});
        assert!(normalize(&stored(&event(old), &structured)).unwrap_err().0.contains("0.3"));
        let binary = [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "s")];
        assert!(normalize(&stored(b"", &binary)).unwrap_err().0.contains("type"));
        let batch = [("content-type", BATCH)];
        for (body, why) in [("[]", "empty"), ("{}", "array"), ("[1]", "event 0"), ("{", "JSON")] {
            let error = normalize(&stored(body.as_bytes(), &batch)).unwrap_err();
            assert!(error.0.contains(why), "{body}: {error}");
        }
        let many = format!("[{}]", vec![full.to_string(); MAX_BATCH + 1].join(","));
        assert!(normalize(&stored(many.as_bytes(), &batch)).is_err());
        // A time that is not RFC 3339 is dropped: the receipt time stands in.
        let odd =
            json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "time": "now"});
        assert_eq!(
            normalize(&stored(&event(odd), &structured)).unwrap()[0].event.occurred_at,
            None
        );
    }

    #[test]
    fn large_data_keeps_only_its_top_level_scalars() {
        let data = json!({
            "title": "Big", "count": 3, "ok": true,
            "blob": "x".repeat(60_000), "nested": {"a": 1}, "list": [1, 2]
        });
        let body =
            json!({"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": data});
        let drafts = normalize(&stored(body.to_string().as_bytes(), &[])).unwrap();
        let kept = drafts[0].event.data.as_ref().unwrap();
        assert_eq!(kept["count"], json!(3));
        assert_eq!(kept["title"], json!("Big"));
        assert!(kept.get("nested").is_none() && kept.get("list").is_none());
        assert!(kept["blob"].as_str().unwrap().chars().count() <= 1024);
        assert!(kept.to_string().len() <= MAX_DATA);
        assert_eq!(drafts[0].payload["data"]["nested"]["a"], json!(1), "the payload stays whole");
    }

    #[test]
    fn the_handshake_echoes_plain_values_only() {
        let answer = handshake(Some("eventemitter.example.com"), Some("120"));
        assert_eq!(
            answer,
            vec![
                ("WebHook-Allowed-Origin", "eventemitter.example.com".to_owned()),
                ("WebHook-Allowed-Rate", "120".to_owned()),
                ("Allow", "POST".to_owned()),
            ]
        );
        let answer = handshake(None, None);
        assert_eq!(answer[0].1, "*");
        assert_eq!(answer[1].1, "*");
        let answer = handshake(Some("evil\r\nSet-Cookie: x"), Some("-5"));
        assert_eq!((answer[0].1.as_str(), answer[1].1.as_str()), ("*", "*"));
        assert_eq!(handshake(None, Some("0"))[1].1, "*");
    }

    #[test]
    fn the_channel_key_authenticates() {
        let headers: &Headers = &[("Authorization", b"Bearer k1")];
        let request = Received { method: "POST", url: "https://x/", headers, body: b"", now: 0 };
        assert_eq!(CloudEvents.verify(&request, &[b"k1"]), Ok(()));
        assert_eq!(CloudEvents.verify(&request, &[b"k2"]), Err(VerifyError::Mismatch));
        assert_eq!(CloudEvents.auth(), Auth::KeyOrChannelSecret);
        assert_eq!(CloudEvents.failed_answer(), FailedAnswer::Reject);
    }

    proptest! {
        #[test]
        fn any_bytes_in_any_mode_never_panic(
            body in prop::collection::vec(any::<u8>(), 0..300),
            mode in 0usize..4,
        ) {
            let headers: &[(&str, &str)] = match mode {
                0 => &[("content-type", STRUCTURED)],
                1 => &[("content-type", BATCH)],
                2 => &[("content-type", "application/json"), ("ce-specversion", "1.0"),
                       ("ce-id", "1"), ("ce-source", "s"), ("ce-type", "t")],
                _ => &[],
            };
            let _ = normalize(&stored(&body, headers));
        }

        #[test]
        fn any_json_event_never_panics(
            fields in prop::collection::vec(
                (
                    prop::sample::select(vec!["specversion", "id", "source", "type", "subject",
                        "time", "data", "data_base64", "datacontenttype"]),
                    prop_oneof![
                        Just(json!("1.0")),
                        any::<i64>().prop_map(|n| json!(n)),
                        ".{0,20}".prop_map(|s| json!(s)),
                        Just(json!({"title": 1, "name": ""})),
                        Just(json!([1, {"a": null}])),
                        Just(Value::Null),
                    ],
                ),
                0..9,
            ),
        ) {
            let event: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let body = serde_json::to_vec(&Value::Object(event)).unwrap();
            if let Ok(drafts) = normalize(&stored(&body, &[("content-type", STRUCTURED)])) {
                let event_type = drafts[0].event.event_type.clone().unwrap();
                prop_assert!(crate::text::is_dotted_name(&event_type, 64));
            }
        }
    }
}
