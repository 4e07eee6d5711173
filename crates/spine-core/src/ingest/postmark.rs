//! The `postmark` provider: inbound e-mail, as Postmark's inbound webhook posts it (JSON).
//!
//! - Authenticity: HTTP basic auth, which Postmark sends when the webhook URL carries
//!   credentials (`https://any:<secret>@host/...`): any user name, the channel's secret as the
//!   password, compared in constant time.
//! - One e-mail is one `postmark.email.received` event from its sender (`FromFull`), to every
//!   `ToFull` and `CcFull` address, at the message's `Date` (RFC 2822, as the sending server
//!   wrote it; none if unreadable), de-duplicated on Postmark's `MessageID`. The reply alone
//!   (`StrippedTextReply`) or else the text body is the description; attachments are listed
//!   by name, type and size, and their content is dropped, from the payload too.
//! - Postmark's other webhooks (bounces, deliveries, opens: a `RecordType` other than
//!   `Inbound`) are not inbound e-mail and are unreadable here.

use super::verify::{any_match, header, Headers, VerifyError};
use super::{clip, str_at, unix_seconds, Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use crate::text::clean;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// The header carrying the credentials.
pub const AUTHORIZATION: &str = "authorization";

/// Most bytes of an e-mail's text kept as the event's description (the event's own limit).
pub const MAX_DESCRIPTION_BYTES: usize = 16 * 1024;

/// Most attachments listed in an event's data.
const MAX_ATTACHMENTS: usize = 50;

/// Verifies `Authorization: Basic base64(user:password)`: any user, the password one of the
/// channel's `secrets`.
pub fn verify(headers: &Headers, secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let value = header(headers, AUTHORIZATION)?;
    let (scheme, encoded) = value.split_once(' ').ok_or(VerifyError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(VerifyError::Malformed);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| VerifyError::Malformed)?;
    // The user name cannot hold a colon (RFC 7617); the password can.
    let colon = decoded.iter().position(|&b| b == b':').ok_or(VerifyError::Malformed)?;
    let password = decoded.get(colon + 1..).unwrap_or_default();
    if any_match(&[password], secrets, |secret| Some(secret.to_vec())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The `postmark` provider.
pub struct Postmark;

impl Source for Postmark {
    fn provider(&self) -> Provider {
        Provider::Postmark
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, secrets)
    }

    fn delivery_id(&self, _: &Stored) -> Option<String> {
        // The event carries it: the message's `MessageID`.
        None
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let payload = request.json()?;
        if !payload.is_object() {
            return Err(Unreadable("the body is not a JSON object".to_owned()));
        }
        if let Some(kind) = str_at(&payload, "/RecordType").filter(|k| *k != "Inbound") {
            return Err(Unreadable(format!(
                "a Postmark {} webhook, not an inbound e-mail",
                clip(kind, 40)
            )));
        }
        Ok(vec![draft(payload)])
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn clip_bytes(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// An e-mail `Date` as RFC 3339: RFC 2822, less a trailing comment such as `(UTC)`, which
/// some servers add.
fn email_date(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match text.strip_suffix(')').and_then(|rest| rest.rsplit_once('(')) {
        Some((date, _comment)) => date.trim_end(),
        None => text,
    };
    unix_seconds(OffsetDateTime::parse(text, &Rfc2822).ok()?.unix_timestamp())
}

/// The addresses of a `ToFull`/`CcFull` list.
fn addresses(payload: &Value, field: &str) -> Vec<String> {
    payload
        .get(field)
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|r| text(r, "/Email")).collect())
        .unwrap_or_default()
}

/// An e-mail as a draft.
fn draft(mut payload: Value) -> Draft {
    // Attachments' content and the raw message (when Postmark includes it) stay out of
    // everything downstream, the mapping's payload included.
    let attachments = attachments(&mut payload);
    if let Some(raw) = payload.get_mut("RawEmail") {
        *raw = Value::Null;
    }
    let field = |pointer: &str| text(&payload, pointer);
    let from = field("/FromFull/Email").or_else(|| field("/From"));
    let from_name = field("/FromFull/Name").or_else(|| field("/FromName")).map(|n| one_line(&n));
    let subject = field("/Subject").map(|s| one_line(&s));
    let message_id = field("/MessageID");
    let to = addresses(&payload, "ToFull");
    let cc = addresses(&payload, "CcFull");

    let sender = match (&from_name, &from) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (None, Some(email)) => email.clone(),
        (Some(name), None) => name.clone(),
        (None, None) => "unknown sender".to_owned(),
    };
    let about = clip(subject.as_deref().unwrap_or("(no subject)"), 300);
    let title = format!("E-mail from {sender}: {about}");

    let mut data = json!({"to": to, "cc": cc});
    for (field, value) in [
        ("from", from.clone()),
        ("from_name", from_name.clone()),
        ("subject", subject.clone()),
        ("message_id", message_id.clone()),
        ("mailbox_hash", field("/MailboxHash")),
        ("tag", field("/Tag")),
    ] {
        if let Some(value) = value {
            data[field] = json!(clip(&value, 1000));
        }
    }
    if !attachments.is_empty() {
        data["attachments"] = json!(attachments);
    }

    let mut draft =
        Draft::new("postmark.email.received", clip(&title, 512), "postmark", Value::Null)
            .action("created")
            .at(field("/Date").as_deref().and_then(email_date));
    draft.event.description = field("/StrippedTextReply")
        .or_else(|| field("/TextBody"))
        .map(|t| clip_bytes(&t, MAX_DESCRIPTION_BYTES));
    if let Some(email) = &from {
        draft = draft.actor(email, from_name.as_deref(), "user");
    }
    if let Some(id) = &message_id {
        draft = draft
            .entity("postmark.email", id, subject.as_deref())
            .object("inbound_message", id)
            .delivery(id.clone());
    }
    draft.from = from.into_iter().collect();
    draft.to = to.into_iter().chain(cc).collect();
    draft.payload = payload;
    draft.data(data)
}

/// A string field, cleaned as event text is (trimmed, no control characters), if not empty.
fn text(value: &Value, pointer: &str) -> Option<String> {
    str_at(value, pointer).map(clean).filter(|t| !t.is_empty())
}

/// Text for a title: runs of whitespace, line breaks included, as one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lists the attachments by name, type and size, dropping their content from the payload.
fn attachments(payload: &mut Value) -> Vec<Value> {
    let Some(list) = payload.get_mut("Attachments").and_then(Value::as_array_mut) else {
        return Vec::new();
    };
    let mut listed = Vec::new();
    for attachment in list.iter_mut() {
        if let Some(object) = attachment.as_object_mut() {
            object.remove("Content");
        }
        if listed.len() < MAX_ATTACHMENTS {
            listed.push(json!({
                "name": text(attachment, "/Name").map(|n| clip(&n, 255)),
                "content_type": text(attachment, "/ContentType").map(|t| clip(&t, 255)),
                "size": attachment.get("ContentLength").and_then(Value::as_u64),
            }));
        }
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Direction, Mapping};
    use crate::ingest::FailedAnswer;
    use crate::input::EventLimits;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    const SECRET: &str = "4f1c0a9e2b7d4c3a8e6f5b1d0c9a8e7f6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d";

    fn basic(credentials: &[u8]) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(credentials)).into_bytes()
    }

    fn check(value: &[u8], secrets: &[&str]) -> Result<(), VerifyError> {
        let headers: &Headers = &[("Authorization", value)];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, &secrets)
    }

    #[test]
    fn any_user_with_the_secret_as_password_passes() {
        for user in ["postmark", "", "any one"] {
            assert_eq!(check(&basic(format!("{user}:{SECRET}").as_bytes()), &[SECRET]), Ok(()));
        }
        // RFC 7617 example credentials, as a client would send them.
        assert_eq!(check(b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &["open sesame"]), Ok(()));
        assert_eq!(check(b"basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &["open sesame"]), Ok(()));
        // The first colon ends the user: the password keeps the rest.
        assert_eq!(check(&basic(b"u:pa:ss"), &["pa:ss"]), Ok(()));
        // Rotation: either secret passes.
        assert_eq!(check(&basic(b"u:old"), &["new", "old"]), Ok(()));
    }

    #[test]
    fn wrong_missing_and_malformed_credentials_fail() {
        let m = Err(VerifyError::Mismatch);
        assert_eq!(check(&basic(b"u:wrong"), &[SECRET]), m);
        assert_eq!(check(&basic(format!("{SECRET}:").as_bytes()), &[SECRET]), m);
        assert_eq!(check(&basic(format!("u:{SECRET} ").as_bytes()), &[SECRET]), m);
        assert_eq!(check(&basic(b"u:"), &[SECRET]), m);
        assert_eq!(check(&basic(format!("u:{SECRET}").as_bytes()), &[]), m);
        assert_eq!(verify(&[], &[SECRET.as_bytes()]), Err(VerifyError::Missing(AUTHORIZATION)));
        for bad in [
            format!("Bearer {SECRET}").into_bytes(),
            b"Basic".to_vec(),
            b"Basic !!!!".to_vec(),
            basic(SECRET.as_bytes()),
            b"Digest username=\"u\"".to_vec(),
        ] {
            assert_eq!(check(&bad, &[SECRET]), Err(VerifyError::Malformed));
        }
    }

    #[test]
    fn the_source_checks_the_request_and_keeps_no_credential() {
        let value = basic(format!("postmark:{SECRET}").as_bytes());
        let headers: &Headers = &[("Authorization", &value)];
        let request =
            Received { method: "POST", url: "https://x/in", headers, body: b"{}", now: 0 };
        assert_eq!(Postmark.verify(&request, &[SECRET.as_bytes()]), Ok(()));
        assert_eq!(Postmark.kept_headers(), &["content-type"]);
        assert_eq!(Postmark.failed_answer(), FailedAnswer::Accept);
        let secret = Postmark.new_secret(&[7; 32]).unwrap();
        assert_eq!(secret.len(), 64);
    }

    fn normalize(body: &[u8]) -> Result<Vec<Draft>, Unreadable> {
        let request = Stored {
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        let mapping = Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        Postmark.normalize(&request, &context)
    }

    fn fixture(body: &str) -> Draft {
        let mut drafts = normalize(body.as_bytes()).unwrap();
        assert_eq!(drafts.len(), 1);
        let draft = drafts.remove(0);
        let checked =
            draft.event.clone().validate(uuid::Uuid::nil(), None, &EventLimits::default());
        assert!(checked.is_ok(), "{checked:?}");
        draft
    }

    #[test]
    fn an_inbound_email_is_from_its_sender_to_every_recipient() {
        let draft = fixture(include_str!("fixtures/postmark/inbound.json"));
        let event = &draft.event;
        let id = "73e6d360-66eb-11e1-8e72-a8904824019b";
        assert_eq!(event.event_type.as_deref(), Some("postmark.email.received"));
        assert_eq!(event.action.as_deref(), Some("created"));
        assert_eq!(
            event.title.as_deref(),
            Some(
                "E-mail from Ana Silva <ana.silva@example.com>: \
                 Re: Invoice 2024-117 is missing the VAT number"
            )
        );
        let actor = event.actor.as_ref().unwrap();
        assert_eq!(
            (actor.id.as_deref(), actor.name.as_deref(), actor.kind.as_deref()),
            (Some("ana.silva@example.com"), Some("Ana Silva"), Some("user"))
        );
        let entity = event.entity.as_ref().unwrap();
        assert_eq!(
            (entity.entity_type.as_deref(), entity.id.as_deref()),
            (Some("postmark.email"), Some(id))
        );
        assert_eq!(event.occurred_at.as_deref(), Some("2024-02-23T18:21:07.000000Z"));
        assert_eq!(draft.delivery_id.as_deref(), Some(id));
        assert_eq!(
            event.description.as_deref(),
            Some("Thanks, the corrected invoice arrived and looks right.")
        );
        assert_eq!(draft.from, vec!["ana.silva@example.com".to_owned()]);
        assert_eq!(
            draft.to,
            ["support+ticket-4821@inbound.example.org", "bruno@example.com", "billing@example.org"]
        );
        let data = event.data.as_ref().unwrap();
        assert_eq!(data["mailbox_hash"], json!("ticket-4821"));
        assert_eq!(
            data["attachments"][0],
            json!({"name": "invoice-2024-117.pdf", "content_type": "application/pdf", "size": 48213})
        );
        assert!(!data.to_string().contains("JVBERi0"), "no attachment content in data");
        assert!(!draft.payload.to_string().contains("JVBERi0"), "nor in the payload");
        assert_eq!(draft.payload["Attachments"][1]["Name"], json!("screenshot.png"));
        assert_eq!(draft.payload["Tag"], json!("billing"));
    }

    #[test]
    fn a_plain_email_without_name_or_subject_reads_well() {
        let draft = fixture(include_str!("fixtures/postmark/plain.json"));
        let event = &draft.event;
        assert_eq!(event.title.as_deref(), Some("E-mail from Carla@Example.NET: (no subject)"));
        assert_eq!(event.description.as_deref(), Some("Do you ship to Portugal?"));
        // A trailing `(UTC)` comment does not hide the date.
        assert_eq!(event.occurred_at.as_deref(), Some("2024-03-04T08:05:09.000000Z"));
        assert_eq!(draft.from, vec!["Carla@Example.NET".to_owned()], "raw: matching normalizes");
        assert_eq!(event.actor.as_ref().unwrap().name, None);
        assert!(event.data.as_ref().unwrap().get("attachments").is_none());
    }

    #[test]
    fn other_bodies_are_unreadable() {
        for body in [&b"not json"[..], b"[]", b"\"x\"", br#"{"RecordType": "Bounce", "ID": 1}"#] {
            assert!(normalize(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let bare = &normalize(b"{}").unwrap()[0];
        assert_eq!(bare.event.title.as_deref(), Some("E-mail from unknown sender: (no subject)"));
        assert_eq!(bare.delivery_id, None);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DESCRIPTION_BYTES);
        let cut = clip_bytes(&long, MAX_DESCRIPTION_BYTES);
        assert!(cut.len() <= MAX_DESCRIPTION_BYTES && cut.ends_with('…'));
        let body = json!({"MessageID": "m1", "TextBody": "ab€".repeat(6000)}).to_string();
        let draft = fixture(&body);
        assert!(draft.event.description.unwrap().len() <= MAX_DESCRIPTION_BYTES);
        assert_eq!(clip_bytes(" short ", 3), "…");
        assert_eq!(clip_bytes("abcdef", 4), "a…");
        assert_eq!(clip_bytes("abc", 3), "abc");
    }

    proptest! {
        #[test]
        fn any_single_byte_change_of_the_password_fails(
            password in "[!-~]{1,64}",
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let good = basic(format!("postmark:{password}").as_bytes());
            prop_assert_eq!(check(&good, &[&password]), Ok(()));
            let mut changed = password.clone().into_bytes();
            let i = at.index(changed.len());
            changed[i] ^= flip;
            let mut credentials = b"postmark:".to_vec();
            credentials.extend_from_slice(&changed);
            prop_assert_eq!(check(&basic(&credentials), &[&password]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn garbage_headers_never_pass(value in prop::collection::vec(any::<u8>(), 0..100)) {
            prop_assert!(check(&value, &[SECRET]).is_err());
        }

        #[test]
        fn normalizing_never_panics(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = normalize(&body);
        }

        #[test]
        fn any_shape_of_postmark_fields_never_panics(
            fields in prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "From", "FromName", "FromFull", "ToFull", "CcFull", "Subject", "MessageID",
                        "Date", "TextBody", "StrippedTextReply", "Attachments", "RecordType",
                        "RawEmail",
                    ]),
                    prop_oneof![
                        Just(json!(null)),
                        ".{0,20}".prop_map(Value::from),
                        any::<i64>().prop_map(Value::from),
                        Just(json!([{"Email": 1}, {"Email": "a@b.c"}, "x"])),
                        Just(json!({"Email": ["x"], "Name": "N"})),
                        Just(json!([{"Name": 3, "Content": "QQ==", "ContentLength": -1}])),
                    ],
                ),
                0..8,
            ),
        ) {
            let object: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            if let Ok(drafts) = normalize(Value::Object(object).to_string().as_bytes()) {
                for draft in drafts {
                    let checked = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
                    prop_assert!(checked.is_ok(), "{:?}", checked);
                }
            }
        }
    }
}
