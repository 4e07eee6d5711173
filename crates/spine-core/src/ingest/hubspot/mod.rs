//! The `hubspot` provider: HubSpot's app webhooks (CRM object events, batched).
//!
//! - [`signature`]: the v3 check, HMAC-SHA256 over method, URI, body and the millisecond
//!   timestamp, within five minutes, keyed with the app's client secret.
//! - [`normalize`]: the body is a JSON array of events (HubSpot sends up to 100 at once), one
//!   draft each, typed `hubspot.<object>.<what>` from `subscriptionType` in snake case
//!   (`hubspot.contact.creation`, `hubspot.deal.property_change`; the generic `object.*`
//!   subscriptions are named after their `objectTypeId`). The CRM object is the entity, a
//!   property change is a change of that field, `occurredAt` is when it happened, and each
//!   event is de-duplicated on its portal and `eventId` (HubSpot does not promise event ids are
//!   unique across accounts). A channel's mapping reads each event's own object
//!   (`/objectId`, `/propertyValue`).

pub mod normalize;
pub mod signature;

pub use signature::{signed_uri, verify, SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_MS};

use super::verify::VerifyError;
use super::{Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use serde_json::Value;

/// Most events one request may carry; HubSpot batches at most 100.
pub const MAX_EVENTS: usize = 1000;

/// The `hubspot` provider.
pub struct HubSpot;

impl Source for HubSpot {
    fn provider(&self) -> Provider {
        Provider::Hubspot
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type", TIMESTAMP_HEADER]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, request.method, request.url, request.body, secrets, request.now)
    }

    /// None for the whole request: each event carries its own id.
    fn delivery_id(&self, _: &Stored) -> Option<String> {
        None
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let events = match request.json()? {
            Value::Array(events) if events.is_empty() => {
                return Err(Unreadable("the array holds no events".to_owned()))
            }
            Value::Array(events) if events.len() > MAX_EVENTS => {
                return Err(Unreadable(format!("at most {MAX_EVENTS} events per request")))
            }
            Value::Array(events) => events,
            _ => return Err(Unreadable("the body must be a JSON array of events".to_owned())),
        };
        events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                normalize::draft(event).ok_or_else(|| {
                    Unreadable(format!("event {index} is not an object with a subscriptionType"))
                })
            })
            .collect()
    }

    /// A UUID, the form of HubSpot's client secrets. Only useful where the admin can set the
    /// secret; HubSpot issues each app's own.
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&random[..16]);
        Some(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Direction, Mapping};
    use crate::time::Timestamp;

    fn normalized(body: &str) -> Result<Vec<Draft>, Unreadable> {
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        let request = Stored {
            headers: vec![],
            body: body.as_bytes().to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        HubSpot.normalize(&request, &context)
    }

    #[test]
    fn unreadable_bodies_say_why() {
        for (body, why) in [
            ("{", "not JSON"),
            ("[]", "no events"),
            (r#"{"eventId": 1}"#, "array"),
            (r#"[{"eventId": 1}]"#, "event 0"),
            (r#"[{"subscriptionType": "contact.creation"}, 3]"#, "event 1"),
        ] {
            let error = normalized(body).unwrap_err();
            assert!(error.0.contains(why), "{body}: {error}");
        }
        let many =
            format!("[{}]", vec![r#"{"subscriptionType": "a.b"}"#; MAX_EVENTS + 1].join(","));
        assert!(normalized(&many).unwrap_err().0.contains("at most"));
        let most = format!("[{}]", vec![r#"{"subscriptionType": "a.b"}"#; MAX_EVENTS].join(","));
        assert_eq!(normalized(&most).unwrap().len(), MAX_EVENTS);
    }

    #[test]
    fn the_source_signs_over_the_request_it_was_given() {
        // The signature module's vector, through the Source: method and URL matter.
        let headers: &crate::ingest::Headers = &[
            ("X-HubSpot-Signature-v3", b"9SvCBNfECBgNjlPOJqQq06x8O0rnbylP1BablkGD+qo="),
            ("X-HubSpot-Request-Timestamp", b"1700000000123"),
        ];
        let request = Received {
            method: "POST",
            url: "https://example.com/webhook?x=1",
            headers,
            body: br#"[{"eventId":1}]"#,
            now: 1_700_000_000,
        };
        let secrets: &[&[u8]] = &[b"hubspot-client-secret"];
        assert_eq!(HubSpot.verify(&request, secrets), Ok(()));
        let elsewhere = Received { url: "https://example.com/webhook?x=2", ..request };
        assert_eq!(HubSpot.verify(&elsewhere, secrets), Err(VerifyError::Mismatch));
        let kept = Stored::keep(
            &HubSpot,
            &request,
            Timestamp::from_micros(0).unwrap(),
            &Default::default(),
        );
        assert_eq!(kept.headers, vec![(TIMESTAMP_HEADER.to_owned(), "1700000000123".to_owned())]);
    }

    #[test]
    fn new_secrets_look_like_client_secrets() {
        let secret = HubSpot.new_secret(&[0xab; 32]).unwrap();
        assert_eq!(secret.len(), 36);
        assert!(uuid::Uuid::parse_str(&secret).is_ok());
        assert_eq!(crate::ingest::source(Provider::Hubspot).provider(), Provider::Hubspot);
    }
}
