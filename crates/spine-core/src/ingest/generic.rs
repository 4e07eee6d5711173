//! The `generic` provider: any JSON, read through the channel's mapping (SPEC section 6).
//!
//! - Authenticity: a tenant key allowed to ingest as `Authorization: Bearer spk_...` (checked by
//!   the server), or the channel's secret in `X-Ingestion-Key` or as the bearer token.
//! - Payload: one JSON object is one event; an array of objects is one event per object (at most
//!   [`MAX_BATCH`]). Nothing is assumed about its shape: the mapping's pointers pick the title,
//!   actor, entity, time and the rest, and the whole object becomes the event's `data`.
//! - Delivery id: the `Idempotency-Key` header, or the mapped `idempotency_key` per event.
//! - A payload the mapping cannot make an event of (no title, no type) is answered 400: the
//!   sender is a program that can fix its request.

use super::verify::{any_match, bearer, header, Headers, VerifyError};
use super::{Auth, Context, Draft, FailedAnswer, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use serde_json::Value;

/// The header carrying the channel's secret.
pub const KEY_HEADER: &str = "x-ingestion-key";

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;

/// The `generic` provider.
pub struct Generic;

/// Checks the channel secret given in `X-Ingestion-Key` or as a bearer token; shared by the
/// providers that authenticate with a plain key (CloudEvents, coding agents).
pub fn verify_channel_key(headers: &Headers, secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let presented = match header(headers, KEY_HEADER) {
        Err(VerifyError::Missing(_)) => bearer(headers)?,
        other => other?,
    };
    if any_match(&[presented.as_bytes()], secrets, |secret| Some(secret.to_vec())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

impl Source for Generic {
    fn provider(&self) -> Provider {
        Provider::Generic
    }

    fn auth(&self) -> Auth {
        Auth::KeyOrChannelSecret
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type", "idempotency-key"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify_channel_key(request.headers, secrets)
    }

    fn delivery_id(&self, request: &Stored) -> Option<String> {
        request.header("idempotency-key").map(str::to_owned)
    }

    fn normalize(&self, request: &Stored, context: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let objects = match request.json()? {
            Value::Array(items) if items.len() > MAX_BATCH => {
                return Err(Unreadable(format!("at most {MAX_BATCH} events per request")))
            }
            Value::Array(items) if items.is_empty() => {
                return Err(Unreadable("the array holds no events".to_owned()))
            }
            Value::Array(items) => items,
            object @ Value::Object(_) => vec![object],
            _ => {
                return Err(Unreadable("the body must be a JSON object or an array of them".into()))
            }
        };
        objects
            .into_iter()
            .enumerate()
            .map(|(index, object)| {
                if !object.is_object() {
                    return Err(Unreadable(format!("item {index} is not a JSON object")));
                }
                let mut draft = Draft { payload: object.clone(), ..Draft::default() };
                draft.event.data = Some(object);
                draft.event.source = Some(crate::input::SourceInput {
                    system: Some(Provider::Generic.as_str().to_owned()),
                    object_id: None,
                    object_type: None,
                });
                // The mapped idempotency key names the delivery; the event's own key is Spine's.
                draft.delivery_id = context
                    .mapping
                    .resolve("idempotency_key", &draft.payload)
                    .and_then(|v| match v {
                        crate::channel::MappedValue::Text(t) => Some(t.to_owned()),
                        crate::channel::MappedValue::Json(Value::String(s)) => Some(s.clone()),
                        crate::channel::MappedValue::Json(Value::Number(n)) => Some(n.to_string()),
                        crate::channel::MappedValue::Json(_) => None,
                    });
                Ok(draft)
            })
            .collect()
    }

    fn failed_answer(&self) -> FailedAnswer {
        FailedAnswer::Reject
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Direction, Mapping};
    use crate::ingest::finish;
    use crate::time::Timestamp;
    use serde_json::json;

    fn stored(body: &str, headers: &[(&str, &str)]) -> Stored {
        Stored {
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body: body.as_bytes().to_vec(),
            received_at: Timestamp::from_micros(1_700_000_000_000_000).unwrap(),
        }
    }

    #[test]
    fn the_channel_key_authenticates_in_either_header() {
        let secrets: &[&[u8]] = &[b"new", b"old"];
        let check = |headers: &Headers| verify_channel_key(headers, secrets);
        assert_eq!(check(&[("X-Ingestion-Key", b"old")]), Ok(()));
        assert_eq!(check(&[("Authorization", b"Bearer new")]), Ok(()));
        assert_eq!(check(&[("X-Ingestion-Key", b"nope")]), Err(VerifyError::Mismatch));
        assert_eq!(check(&[("Authorization", b"Basic bmV3")]), Err(VerifyError::Malformed));
        assert_eq!(check(&[]), Err(VerifyError::Missing("authorization")));
    }

    #[test]
    fn the_mapping_reads_an_object_and_each_item_of_an_array() {
        let mapping = Mapping::parse(&json!({
            "type": "/kind", "title": "/subject", "entity.type": "deal", "entity.id": "/deal",
            "idempotency_key": "/id"
        }))
        .unwrap();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        let body = r#"[{"id": "a1", "kind": "deal.won", "subject": "Won", "deal": 7},
                       {"id": 2, "kind": "deal.lost", "subject": "Lost", "deal": 8}]"#;
        let request = stored(body, &[]);
        let drafts = Generic.normalize(&request, &context).unwrap();
        assert_eq!(drafts.len(), 2);
        assert_eq!(drafts[1].delivery_id.as_deref(), Some("2"));
        let ready = finish(drafts, &context, Generic.delivery_id(&request).as_deref(), "l");
        assert_eq!(ready[0].event.title.as_deref(), Some("Won"));
        assert_eq!(ready[1].event.event_type.as_deref(), Some("deal.lost"));
        assert_eq!(ready[1].event.entity.as_ref().unwrap().id.as_deref(), Some("8"));
        assert_eq!(ready[0].event.data.as_ref().unwrap()["subject"], json!("Won"));
    }

    #[test]
    fn unreadable_bodies_say_why() {
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        for (body, why) in
            [("{", "not JSON"), ("[]", "no events"), ("3", "object"), ("[1]", "item 0")]
        {
            let error = Generic.normalize(&stored(body, &[]), &context).unwrap_err();
            assert!(error.0.contains(why), "{body}: {error}");
        }
        let many = format!("[{}]", vec!["{}"; MAX_BATCH + 1].join(","));
        assert!(Generic.normalize(&stored(&many, &[]), &context).is_err());
        let request = stored("{}", &[("idempotency-key", "k1")]);
        assert_eq!(Generic.delivery_id(&request).as_deref(), Some("k1"));
    }
}
