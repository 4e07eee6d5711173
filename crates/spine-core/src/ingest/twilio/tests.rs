//! The `twilio` source: verification through [`Source::verify`], documented payloads as
//! fixtures, hostile forms.

use super::*;
use crate::channel::{Direction, Mapping};
use crate::ingest::{FailedAnswer, Headers};
use crate::input::{EventInput, EventLimits};
use crate::time::Timestamp;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha1::Sha1;

// Twilio's documented example (see `verify`'s tests), sent as the form body it describes.
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
const BODY: &str =
    "To=%2B18005551212&From=%2B12349013030&Digits=1234&Caller=%2B12349013030&CallSid=CA1234567890ABCDE";

fn received<'a>(headers: &'a Headers<'a>, body: &'a [u8]) -> Received<'a> {
    Received { method: "POST", url: URL, headers, body, now: 1_700_000_000 }
}

#[test]
fn the_documented_example_verifies_from_the_raw_body() {
    let headers: &Headers = &[("X-Twilio-Signature", SIG.as_bytes())];
    let secrets: &[&[u8]] = &[TOKEN.as_bytes()];
    assert_eq!(Twilio.verify(&received(headers, BODY.as_bytes()), secrets), Ok(()));
    let tampered = BODY.replace("1234&", "1235&");
    assert_eq!(
        Twilio.verify(&received(headers, tampered.as_bytes()), secrets),
        Err(VerifyError::Mismatch)
    );
    // `+` in a form is a space: an unencoded `+1800...` is another number, signed differently.
    let unencoded = BODY.replace("%2B", "+");
    assert_eq!(
        Twilio.verify(&received(headers, unencoded.as_bytes()), secrets),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        Twilio.verify(&received(&[], BODY.as_bytes()), secrets),
        Err(VerifyError::Missing(SIGNATURE_HEADER))
    );
}

#[test]
fn secrets_look_like_auth_tokens_and_no_credential_is_kept() {
    let secret = Twilio.new_secret(&[0xab; 32]).unwrap();
    assert_eq!(secret.len(), 32);
    assert!(secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(Twilio.kept_headers(), &["content-type"]);
    assert_eq!(Twilio.failed_answer(), FailedAnswer::Accept);
}

fn stored(body: &str) -> Stored {
    Stored {
        headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
        body: body.as_bytes().to_vec(),
        received_at: Timestamp::from_micros(1_700_000_000_000_000).unwrap(),
    }
}

fn normalize(body: &str) -> Result<Vec<Draft>, Unreadable> {
    let mapping = Mapping::default();
    let context = Context {
        channel_id: "ch",
        event_type: None,
        direction: Direction::Inbound,
        mapping: &mapping,
        privacy: &crate::channel::Privacy::default(),
    };
    Twilio.normalize(&stored(body), &context)
}

/// The one draft of a fixture, checked to validate like a posted event.
fn fixture(body: &str) -> Draft {
    let mut drafts = normalize(body).unwrap();
    assert_eq!(drafts.len(), 1);
    let draft = drafts.remove(0);
    let checked = draft.event.clone().validate(uuid::Uuid::nil(), None, &EventLimits::default());
    assert!(checked.is_ok(), "{checked:?}");
    draft
}

/// Type, action, title, actor id and kind, entity type and id, time, delivery id.
type Expected<'a> =
    (&'a str, &'a str, &'a str, (&'a str, &'a str), (&'a str, &'a str), Option<&'a str>, &'a str);

fn check(draft: &Draft, expected: Expected<'_>) {
    let event: &EventInput = &draft.event;
    let actor = event.actor.as_ref().unwrap();
    let entity = event.entity.as_ref().unwrap();
    let actual: Expected<'_> = (
        event.event_type.as_deref().unwrap(),
        event.action.as_deref().unwrap(),
        event.title.as_deref().unwrap(),
        (actor.id.as_deref().unwrap(), actor.kind.as_deref().unwrap()),
        (entity.entity_type.as_deref().unwrap(), entity.id.as_deref().unwrap()),
        event.occurred_at.as_deref(),
        draft.delivery_id.as_deref().unwrap(),
    );
    assert_eq!(actual, expected);
    assert_eq!(event.source.as_ref().unwrap().system.as_deref(), Some("twilio"));
}

#[test]
fn an_incoming_sms_is_from_its_sender() {
    let draft = fixture(include_str!("../fixtures/twilio/sms-received.txt"));
    let sid = "SM1f0e4a2b3c5d6e7f8091a2b3c4d5e6f7";
    check(
        &draft,
        (
            "twilio.sms.received",
            "created",
            "SMS from +14155550100: Hello there, is the order ready?",
            ("+14155550100", "user"),
            ("twilio.message", sid),
            None,
            sid,
        ),
    );
    assert_eq!(draft.from, vec!["+14155550100".to_owned()]);
    assert_eq!(draft.to, vec!["+14155550199".to_owned()]);
    assert_eq!(draft.event.description.as_deref(), Some("Hello there, is the order ready?"));
    let data = draft.event.data.as_ref().unwrap();
    assert_eq!(data["body"], json!("Hello there, is the order ready?"));
    assert_eq!(data["segments"], json!("1"));
    assert_eq!(draft.payload["FromCity"], json!("SAN FRANCISCO"));
    let source = draft.event.source.as_ref().unwrap();
    assert_eq!(source.object_type.as_deref(), Some("message"));
    assert_eq!(source.object_id.as_deref(), Some(sid));
}

#[test]
fn an_mms_without_text_names_its_attachments() {
    let draft = fixture(include_str!("../fixtures/twilio/mms-received.txt"));
    let sid = "MM8e7d6c5b4a39281706f5e4d3c2b1a098";
    check(
        &draft,
        (
            "twilio.sms.received",
            "created",
            "MMS from +14155550100: 2 attachments",
            ("+14155550100", "user"),
            ("twilio.message", sid),
            None,
            sid,
        ),
    );
    let media = &draft.event.data.as_ref().unwrap()["media"];
    assert_eq!(media.as_array().map(Vec::len), Some(2));
    assert_eq!(media[1]["content_type"], json!("application/pdf"));
    assert!(draft.event.description.is_none());
}

#[test]
fn a_whatsapp_message_names_its_channel_and_drops_the_prefix() {
    let draft = fixture(include_str!("../fixtures/twilio/whatsapp-received.txt"));
    let sid = "SM2a3b4c5d6e7f80910a1b2c3d4e5f6a7b";
    check(
        &draft,
        (
            "twilio.whatsapp.received",
            "created",
            "WhatsApp message from +4915123456789: Hallo! Is the shop open on Sunday?",
            ("+4915123456789", "user"),
            ("twilio.message", sid),
            None,
            sid,
        ),
    );
    assert_eq!(draft.event.actor.as_ref().unwrap().name.as_deref(), Some("Ana"));
    assert_eq!(draft.from, vec!["+4915123456789".to_owned()]);
    assert_eq!(draft.to, vec!["+14155238886".to_owned()]);
}

#[test]
fn status_callbacks_of_sent_messages_are_state_changes() {
    let sid = "SM9a8b7c6d5e4f30211f0e9d8c7b6a5f4e";
    let delivered = fixture(include_str!("../fixtures/twilio/message-status-delivered.txt"));
    check(
        &delivered,
        (
            "twilio.sms.delivered",
            "state_changed",
            "SMS to +14155550100 delivered",
            ("twilio", "service"),
            ("twilio.message", sid),
            None,
            &format!("{sid}:delivered"),
        ),
    );
    assert_eq!(delivered.to, vec!["+14155550100".to_owned()]);
    let change = &delivered.event.changes.as_ref().unwrap()[0];
    assert_eq!((change.field.as_deref(), &change.new), (Some("state"), &json!("delivered")));
    let failed = fixture(include_str!("../fixtures/twilio/message-status-undelivered.txt"));
    check(
        &failed,
        (
            "twilio.sms.undelivered",
            "state_changed",
            "SMS to +14155550100 undelivered (error 30003)",
            ("twilio", "service"),
            ("twilio.message", sid),
            None,
            &format!("{sid}:undelivered"),
        ),
    );
    assert_eq!(failed.event.data.as_ref().unwrap()["error_code"], json!("30003"));
}

#[test]
fn calls_are_from_the_caller_at_twilios_time() {
    let sid = "CA5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a";
    let ringing = fixture(include_str!("../fixtures/twilio/call-incoming.txt"));
    check(
        &ringing,
        (
            "twilio.call.ringing",
            "created",
            "Call from +14155550100 to +14155550199 is ringing",
            ("+14155550100", "user"),
            ("twilio.call", sid),
            None,
            &format!("{sid}:ringing"),
        ),
    );
    let completed = fixture(include_str!("../fixtures/twilio/call-completed.txt"));
    check(
        &completed,
        (
            "twilio.call.completed",
            "state_changed",
            "Call from +14155550100 to +14155550199 completed (1 min 5 s)",
            ("+14155550100", "user"),
            ("twilio.call", sid),
            Some("2024-02-23T18:21:07.000000Z"),
            &format!("{sid}:completed"),
        ),
    );
    let data = completed.event.data.as_ref().unwrap();
    assert_eq!((&data["duration"], &data["direction"]), (&json!(65), &json!("inbound")));
    assert_eq!(completed.from, vec!["+14155550100".to_owned()]);
    assert_eq!(completed.to, vec!["+14155550199".to_owned()]);
}

#[test]
fn a_recording_belongs_to_its_call_and_ends_after_its_length() {
    let draft = fixture(include_str!("../fixtures/twilio/recording-completed.txt"));
    let sid = "RE6f5e4d3c2b1a09f8e7d6c5b4a3928170";
    check(
        &draft,
        (
            "twilio.recording.completed",
            "created",
            "Call recording completed (42 s)",
            ("twilio", "service"),
            ("twilio.call", "CA5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a"),
            Some("2024-02-23T18:21:02.000000Z"),
            &format!("{sid}:completed"),
        ),
    );
    let data = draft.event.data.as_ref().unwrap();
    assert!(data["url"].as_str().unwrap().ends_with(sid));
    assert!(draft.from.is_empty() && draft.to.is_empty());
}

#[test]
fn forms_without_a_known_sid_are_unreadable() {
    for body in ["", "{\"MessageSid\": \"SM1\"}", "CallSid=CA1", "Body=hi&From=%2B14155550100"] {
        assert!(normalize(body).is_err(), "{body:?}");
    }
    let minimal = &normalize("MessageSid=SM1").unwrap()[0];
    assert_eq!(minimal.event.title.as_deref(), Some("SMS from unknown"));
    assert!(minimal.from.is_empty());
}

#[test]
fn times_are_rfc_2822() {
    assert_eq!(
        rfc2822("Mon, 16 Aug 2010 03:45:01 +0000").as_deref(),
        Some("2010-08-16T03:45:01.000000Z")
    );
    assert_eq!(
        rfc2822("Mon, 16 Aug 2010 05:45:01 +0200").as_deref(),
        Some("2010-08-16T03:45:01.000000Z")
    );
    assert_eq!(rfc2822("2010-08-16T03:45:01Z"), None);
    assert_eq!(duration(60), "1 min");
}

/// An independent signer: the documented string, one HMAC-SHA1, base64.
fn sign(token: &str, url: &str, pairs: &[(String, String)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort();
    let mut s = url.to_owned();
    for (k, v) in sorted {
        s.push_str(&k);
        s.push_str(&v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn param_names() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "MessageSid",
        "SmsSid",
        "SmsStatus",
        "MessageStatus",
        "From",
        "To",
        "Body",
        "NumMedia",
        "MediaUrl0",
        "MediaContentType0",
        "CallSid",
        "CallStatus",
        "CallDuration",
        "Timestamp",
        "Direction",
        "RecordingSid",
        "RecordingStatus",
        "RecordingDuration",
        "RecordingStartTime",
        "ErrorCode",
        "x",
    ])
}

proptest! {
    #[test]
    fn normalizing_never_panics(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = normalize(&String::from_utf8_lossy(&body));
        let _ = Twilio.normalize(
            &Stored { headers: vec![], body, received_at: Timestamp::from_micros(0).unwrap() },
            &Context {
                channel_id: "ch",
                event_type: None,
                direction: Direction::Outbound,
                mapping: &Mapping::default(),
                privacy: &crate::channel::Privacy::default(),
            },
        );
    }

    #[test]
    fn any_form_of_twilio_parameters_never_panics_and_types_are_valid(
        pairs in prop::collection::vec((param_names(), ".{0,30}"), 0..12),
    ) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        if let Ok(drafts) = normalize(&body) {
            for draft in drafts {
                let event_type = draft.event.event_type.clone().unwrap();
                prop_assert!(crate::text::is_dotted_name(&event_type, 128), "{}", event_type);
                prop_assert!(draft.event.title.as_deref().unwrap().chars().count() <= 512);
                let checked = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
                prop_assert!(checked.is_ok(), "{:?}", checked);
            }
        }
    }

    #[test]
    fn any_byte_change_of_a_signed_form_fails(
        values in prop::collection::vec("[ -~]{1,12}", 1..5),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let pairs: Vec<(String, String)> =
            values.iter().enumerate().map(|(i, v)| (format!("P{i}"), v.clone())).collect();
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        let sig = sign(TOKEN, URL, &pairs);
        let headers: &Headers = &[("x-twilio-signature", sig.as_bytes())];
        let secrets: &[&[u8]] = &[TOKEN.as_bytes()];
        prop_assert_eq!(Twilio.verify(&received(headers, body.as_bytes()), secrets), Ok(()));
        let mut tampered = body.clone().into_bytes();
        let i = at.index(tampered.len());
        tampered[i] ^= flip;
        // A change that decodes to the same signed text (`%41` for `A`) is the same request.
        let decoded: Vec<(String, String)> = form_urlencoded::parse(&tampered).into_owned().collect();
        prop_assume!(sign(TOKEN, URL, &decoded) != sig);
        prop_assert!(Twilio.verify(&received(headers, &tampered), secrets).is_err());
    }
}
