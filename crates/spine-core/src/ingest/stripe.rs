//! Stripe webhook signature verification (`Stripe-Signature`).
//!
//! From Stripe's "Verify webhook signatures manually" and its official libraries:
//!
//! - The header is a comma-separated list of `key=value` elements:
//!   `t=<Unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`.
//! - `t` is the timestamp; `v1` is the only live signature scheme. There can be several `v1`
//!   elements (while an endpoint secret is being rolled, Stripe signs with both), and a match
//!   with any of them is enough. `v0` is a test-mode scheme and, like any other unknown element,
//!   is ignored.
//! - The signed payload is `{t}.{raw body}`: the timestamp as it appears in the header, a
//!   literal `.`, then the body bytes.
//! - The signature is HMAC-SHA256 of that payload, keyed with the endpoint's signing secret as
//!   text, `whsec_` prefix included (it is not decoded), sent as lower-case hex.
//! - Compare in constant time; refuse timestamps more than the tolerance away from now. The
//!   libraries default to five minutes ([`TOLERANCE_SECS`]).
//!
//! Normalizing: the body is one Event object, so one event per delivery, typed
//! `stripe.<event type>` (`stripe.invoice.paid`, `stripe.customer.subscription.updated`) and
//! de-duplicated on the event's `id`. The entity is the customer when `data.object` belongs to
//! one (else the object itself); `source` names the object (`invoice`, `in_...`); `created` is
//! when it happened. The title carries the amount in the currency's major unit (Stripe sends
//! minor units) and whom it was for; a `*.updated` event lists `data.previous_attributes`
//! against the object as its changes. Stripe is the actor when it acted by itself
//! (`request.id` null: renewals, retries).

use super::verify::{
    any_match, check_window, decode_lower_hex, header, hmac_sha256, parse_timestamp,
};
use super::verify::{Headers, VerifyError};
use super::{clip, dotted, str_at, unix_seconds};
use super::{Context, Draft, Received, Source, Stored, Unreadable};
use crate::channel::Provider;
use crate::input::ChangeInput;
use crate::time::Timestamp;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How far `t` may be from now, either way: Stripe's default of five minutes.
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// Verifies a Stripe delivery: `secrets` are endpoint signing secrets as their UTF-8 bytes
/// (`whsec_...` as shown by Stripe), `now` is Unix seconds.
pub fn verify(
    headers: &Headers,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), VerifyError> {
    let value = header(headers, SIGNATURE_HEADER)?;
    let mut timestamp_text = None;
    let mut candidates = Vec::new();
    for (key, val) in value.split(',').filter_map(|element| element.split_once('=')) {
        match key {
            // Two timestamps make it ambiguous which one was signed.
            "t" if timestamp_text.is_some() => return Err(VerifyError::Malformed),
            "t" => timestamp_text = Some(val),
            // An entry that is not a 32-byte lower-case hex tag can never match; skip it so a
            // good sibling entry still counts.
            "v1" => candidates.extend(decode_lower_hex(val).filter(|tag| tag.len() == 32)),
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(VerifyError::Malformed)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_window(timestamp, now, TOLERANCE_SECS)?;
    let payload: [&[u8]; 3] = [timestamp_text.as_bytes(), b".", body];
    if any_match(&candidates, secrets, |secret| hmac_sha256(secret, &payload).map(Vec::from)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// The `stripe` provider.
pub struct Stripe;

impl Source for Stripe {
    fn provider(&self) -> Provider {
        Provider::Stripe
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify(request.headers, request.body, secrets, request.now)
    }

    /// The event's own `id` (`evt_...`): a redelivery, or the same event sent to a second
    /// endpoint, carries it again.
    fn delivery_id(&self, request: &Stored) -> Option<String> {
        let event = request.json().ok()?;
        str_at(&event, "/id").map(|id| clip(id, 256))
    }

    fn normalize(&self, request: &Stored, _: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let event = request.json()?;
        if str_at(&event, "/type").is_none() {
            return Err(Unreadable("the body is not a Stripe event (no `type`)".to_owned()));
        }
        Ok(vec![draft(event)])
    }

    /// `whsec_` and the base64 of the random bytes, the shape of Stripe's signing secrets. Only
    /// useful where the admin can set the endpoint's secret (Stripe itself issues its own).
    fn new_secret(&self, random: &[u8; 32]) -> Option<String> {
        Some(format!("whsec_{}", STANDARD.encode(random)))
    }
}

/// Currencies Stripe counts in whole units (no minor unit), from its "zero-decimal" list.
const ZERO_DECIMAL: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with three decimals.
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// Most changed fields one `*.updated` event lists.
const MAX_CHANGES: usize = 20;

/// An amount in the currency's minor unit, written for people: `2000`, `usd` -> `20.00 USD`.
/// `None` unless the currency is a three-letter code.
fn money(minor: i64, currency: &str) -> Option<String> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let code = currency.to_ascii_uppercase();
    let decimals = if ZERO_DECIMAL.contains(&code.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&code.as_str()) {
        3
    } else {
        2
    };
    let sign = if minor < 0 { "-" } else { "" };
    let units = minor.unsigned_abs();
    if decimals == 0 {
        return Some(format!("{sign}{units} {code}"));
    }
    let scale = 10u64.pow(decimals);
    let (whole, cents) = (units / scale, units % scale);
    Some(format!("{sign}{whole}.{cents:0width$} {code}", width = decimals as usize))
}

/// `customer.subscription.updated` as a title's opening: `Customer subscription updated`.
fn humanized(kind: &str) -> String {
    let words = kind.replace(['.', '_'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Stripe event".to_owned(),
    }
}

/// The customer an object belongs to: its id and, where the object says, a name for it.
fn customer_of(object: &Value) -> Option<(&str, Option<&str>)> {
    if str_at(object, "/object") == Some("customer") {
        let name = str_at(object, "/name").or_else(|| str_at(object, "/email"));
        return str_at(object, "/id").map(|id| (id, name));
    }
    let expanded = object.get("customer").filter(|c| c.is_object());
    let id = str_at(object, "/customer").or_else(|| expanded.and_then(|c| str_at(c, "/id")))?;
    let name = [
        "/customer_name",
        "/customer_email",
        "/customer_details/name",
        "/customer_details/email",
        "/billing_details/name",
        "/billing_details/email",
        "/receipt_email",
    ]
    .iter()
    .find_map(|pointer| str_at(object, pointer))
    .or_else(|| expanded.and_then(|c| str_at(c, "/name").or_else(|| str_at(c, "/email"))));
    Some((id, name))
}

/// The object's amount and currency: a charge's or payment intent's `amount`, a checkout
/// session's `amount_total`, an invoice's `total`.
fn amount_of(object: &Value) -> Option<(i64, &str)> {
    let currency = str_at(object, "/currency")?;
    let amount = ["amount", "amount_total", "total", "amount_due"]
        .iter()
        .find_map(|field| object.get(*field).and_then(Value::as_i64))?;
    Some((amount, currency))
}

/// A value short enough to show in a change: scalars and short strings as they are, anything
/// larger as a note of its size (Stripe sends whole arrays when one element changes).
fn compact(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(clip(s, 256)),
        Value::Array(items) => json!(format!("[{} items]", items.len())),
        Value::Object(map) if serde_json::to_vec(value).map_or(true, |v| v.len() > 512) => {
            json!(format!("{{{} fields}}", map.len()))
        }
        other => other.clone(),
    }
}

/// The fields a `*.updated` event changed: `previous_attributes` against the object now.
fn changes_of(object: &Value, previous: Option<&Value>) -> (Vec<String>, Vec<ChangeInput>) {
    let Some(previous) = previous.and_then(Value::as_object) else {
        return (Vec::new(), Vec::new());
    };
    let mut fields = Vec::new();
    let mut changes = Vec::new();
    for (key, old) in previous.iter().filter(|(f, _)| !f.trim().is_empty()).take(MAX_CHANGES) {
        let field = clip(key, 128);
        let (old, new) = (compact(old), compact(object.get(key).unwrap_or(&Value::Null)));
        if old != new {
            changes.push(ChangeInput { field: Some(field.clone()), old, new });
        }
        fields.push(field);
    }
    (fields, changes)
}

/// A change as a few words for a title: `status: trialing → active`, or just the field.
fn change_words(change: &ChangeInput) -> String {
    let field = change.field.as_deref().unwrap_or("?");
    let word = |v: &Value| match v {
        Value::String(s) if s.chars().count() <= 40 => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) | Value::Null => Some(v.to_string()),
        _ => None,
    };
    match (word(&change.old), word(&change.new)) {
        (Some(old), Some(new)) => format!("{field}: {old} → {new}"),
        _ => field.to_owned(),
    }
}

/// Spine's action for a Stripe event type: only its last word says, and `updated` only when
/// the event lists what changed.
fn action_of(kind: &str, changed: bool) -> &'static str {
    match kind.rsplit('.').next() {
        Some("created") => "created",
        Some("deleted") => "deleted",
        Some("updated") if changed => "updated",
        _ => "custom",
    }
}

/// One Stripe event as a draft.
fn draft(event: Value) -> Draft {
    let kind = str_at(&event, "/type").unwrap_or("event");
    let object = event.pointer("/data/object").unwrap_or(&Value::Null);
    let object_type = str_at(object, "/object");
    let object_id = str_at(object, "/id");
    let customer = customer_of(object);
    let amount = amount_of(object).and_then(|(minor, currency)| money(minor, currency));
    let (changed, changes) = changes_of(object, event.pointer("/data/previous_attributes"));
    let failure = str_at(object, "/failure_message")
        .or_else(|| str_at(object, "/last_payment_error/message"));

    let mut title = humanized(kind);
    if let Some(amount) = &amount {
        title = format!("{title}: {amount}");
    }
    if let Some((id, name)) = customer {
        if object_type != Some("customer") {
            title = format!("{title} for {}", name.unwrap_or(id));
        } else if let Some(name) = name {
            title = format!("{title}: {name}");
        }
    }
    if let Some(failure) = failure {
        title = format!("{title} ({failure})");
    } else if !changes.is_empty() {
        let words: Vec<String> = changes.iter().take(3).map(change_words).collect();
        title = format!("{title} ({})", words.join("; "));
    }

    let mut data = json!({"type": kind});
    for (name, value) in [
        ("event_id", event.get("id")),
        ("livemode", event.get("livemode")),
        ("account", event.get("account")),
        ("request_id", event.pointer("/request/id").or_else(|| event.get("request"))),
        ("object", object.get("object")),
        ("id", object.get("id")),
        ("status", object.get("status")),
        ("number", object.get("number")),
        ("description", object.get("description")),
        ("billing_reason", object.get("billing_reason")),
        ("hosted_invoice_url", object.get("hosted_invoice_url")),
        ("receipt_url", object.get("receipt_url")),
        ("failure_code", object.get("failure_code")),
    ] {
        if let Some(value) = value.filter(|v| v.is_string() || v.is_boolean()) {
            data[name] = compact(value);
        }
    }
    if let Some((id, name)) = customer {
        data["customer"] = json!(clip(id, 256));
        if let Some(name) = name {
            data["customer_name"] = json!(clip(name, 256));
        }
    }
    if let Some((minor, currency)) = amount_of(object) {
        data["amount"] = json!(minor);
        data["currency"] = json!(clip(currency, 8));
    }
    if let Some(amount) = amount {
        data["amount_text"] = json!(amount);
    }
    if let Some(failure) = failure {
        data["failure_message"] = json!(clip(failure, 256));
    }
    if !changed.is_empty() {
        data["changed"] = json!(changed);
    }

    let occurred_at = match event.get("created") {
        Some(Value::Number(n)) => n.as_i64().and_then(unix_seconds),
        // Stripe's newer (v2) events write RFC 3339.
        Some(Value::String(s)) => Timestamp::parse(s).ok().map(Timestamp::to_rfc3339),
        _ => None,
    };
    // `request.id` is null when Stripe acted by itself (a renewal, a retry): Stripe is the
    // actor. Otherwise the caller of Stripe's API did it, and Stripe does not say who.
    let automatic = match event.get("request") {
        None | Some(Value::Null) => true,
        Some(request @ Value::Object(_)) => request.get("id").is_none_or(Value::is_null),
        Some(_) => false,
    };

    let mut draft =
        Draft::new(&format!("stripe.{}", dotted(kind)), clip(&title, 512), "stripe", Value::Null)
            .action(action_of(kind, !changes.is_empty()))
            .at(occurred_at)
            .data(data);
    if automatic {
        draft = draft.actor("stripe", Some("Stripe"), "service");
    }
    match (customer, object_type, object_id) {
        (Some((id, name)), _, _) => draft = draft.entity("stripe.customer", id, name),
        (None, Some(object_type), Some(id)) => {
            draft = draft.entity(&format!("stripe.{object_type}"), id, None);
        }
        _ => {}
    }
    if let (Some(object_type), Some(id)) = (object_type, object_id) {
        draft = draft.object(object_type, id);
    }
    if !changes.is_empty() {
        draft.event.changes = Some(changes);
    }
    if let Some(id) = str_at(&event, "/id") {
        draft = draft.delivery(clip(id, 256));
    }
    draft.payload = event;
    draft
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    // Stripe's documentation gives no complete secret/payload/signature example, so these were
    // computed offline with Python's standard library, following the documented scheme:
    // hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_test","object":"event"}',
    //          hashlib.sha256).hexdigest()
    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_test","object":"event"}"#;
    const T: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;
    const SIG: &str = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";
    // The same with key b"whsec_previous_secret".
    const OLD_SECRET: &str = "whsec_previous_secret";
    const OLD_SIG: &str = "b08282dbbceefad8e57d1451dbe92e5373e7088fd54cb1fc08881978f0e264fb";
    const ZERO_SIG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn check(header: &str, body: &[u8], secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let headers: &Headers = &[("Stripe-Signature", header.as_bytes())];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, body, &secrets, now)
    }

    fn valid() -> String {
        format!("t={T},v1={SIG}")
    }

    /// An independent signer for the property tests: the hmac crate used directly.
    fn sign_independently(secret: &[u8], t: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn valid_passes() {
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW), Ok(()));
        // Element order does not matter, and v0 and unknown elements are ignored.
        let header = format!("v0={ZERO_SIG},v1={SIG},t={T},x=y,junk");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_content_mismatch() {
        assert_eq!(check(&valid(), BODY, &[OLD_SECRET], NOW), Err(VerifyError::Mismatch));
        // The secret is used as text: its prefix is part of the key.
        assert_eq!(check(&valid(), BODY, &["test_secret"], NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&valid(), br#"{"id":"evt_test","object":"event "}"#, &[SECRET], NOW),
            Err(VerifyError::Mismatch)
        );
        // A different t inside the window was not the signed one.
        let header = format!("t=1700000001,v1={SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
        // v0 alone is never accepted, even when it holds the right tag.
        let header = format!("t={T},v0={SIG},v1={ZERO_SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps() {
        let max = TOLERANCE_SECS as i64;
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW + max), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW - max), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW + max + 1), Err(VerifyError::Stale));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW - max - 1), Err(VerifyError::Stale));
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            verify(&[], BODY, &[SECRET.as_bytes()], NOW),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        for header in [
            format!("v1={SIG}"),
            format!("t=,v1={SIG}"),
            format!("t=17e8,v1={SIG}"),
            format!("t={T},t={T},v1={SIG}"),
            format!("t={T}"),
            format!("t={T},v0={SIG}"),
            format!("t={T},v1={}", SIG.to_uppercase()),
            format!("t={T},v1={}", &SIG[..62]),
            format!("t={T};v1={SIG}"),
            "garbage".to_owned(),
        ] {
            assert_eq!(
                check(&header, BODY, &[SECRET], NOW),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        let old = format!("t={T},v1={OLD_SIG}");
        assert_eq!(check(&old, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(&old, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    #[test]
    fn several_signatures_one_valid_passes() {
        let header = format!("t={T},v1={ZERO_SIG},v1=nothex,v1={OLD_SIG},v1={SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Ok(()));
        let header = format!("t={T},v1={ZERO_SIG},v1={OLD_SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = format!("t={T},v1={}", sign_independently(SECRET.as_bytes(), T, &body));
            prop_assert_eq!(check(&header, &body, &[SECRET], NOW), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(&header, &tampered, &[SECRET], NOW), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_header_byte_change_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            // The header holds both the timestamp and the signature: a change anywhere in it
            // must fail, whether it lands on `t`, a digit, `v1` or a hex character.
            let mut header = valid().into_bytes();
            let i = at.index(header.len());
            header[i] ^= flip;
            let headers: &Headers = &[("stripe-signature", &header)];
            prop_assert!(verify(headers, BODY, &[SECRET.as_bytes()], NOW).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "t=[0-9]{1,11}(,v[01]=[0-9a-f]{64}){0,3}".prop_map(String::into_bytes),
                    ],
                ),
                0..4,
            ),
            body in prop::collection::vec(any::<u8>(), 0..50),
            now in any::<i64>(),
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, &body, &[SECRET.as_bytes()], now).is_err());
        }
    }

    fn normalized(body: &str) -> Result<Vec<Draft>, Unreadable> {
        let mapping = crate::channel::Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: crate::channel::Direction::Inbound,
            mapping: &mapping,
        };
        let request = Stored {
            headers: vec![("content-type".into(), "application/json; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
            received_at: crate::time::Timestamp::from_micros(0).unwrap(),
        };
        Stripe.normalize(&request, &context)
    }

    /// Normalizes a fixture into its one draft, checking it validates like a posted event and
    /// that the delivery is the event's id.
    fn fixture(body: &str) -> crate::input::EventInput {
        let mut drafts = normalized(body).unwrap();
        assert_eq!(drafts.len(), 1);
        let draft = drafts.remove(0);
        let request = Stored {
            headers: vec![],
            body: body.as_bytes().to_vec(),
            received_at: crate::time::Timestamp::from_micros(0).unwrap(),
        };
        assert_eq!(draft.delivery_id, Stripe.delivery_id(&request));
        assert!(draft.delivery_id.as_deref().unwrap().starts_with("evt_"));
        assert_eq!(draft.payload["id"].as_str(), draft.delivery_id.as_deref(), "the event");
        let limits = crate::input::EventLimits::default();
        if let Err(e) = draft.event.clone().validate(uuid::Uuid::nil(), None, &limits) {
            panic!("{e:?}");
        }
        draft.event
    }

    fn entity(event: &crate::input::EventInput) -> (&str, &str, Option<&str>) {
        let e = event.entity.as_ref().unwrap();
        (e.entity_type.as_deref().unwrap(), e.id.as_deref().unwrap(), e.name.as_deref())
    }

    fn object(event: &crate::input::EventInput) -> (&str, &str) {
        let s = event.source.as_ref().unwrap();
        (s.object_type.as_deref().unwrap(), s.object_id.as_deref().unwrap())
    }

    #[test]
    fn invoice_paid_names_the_amount_and_the_customer() {
        let event = fixture(include_str!("fixtures/stripe/invoice.paid.json"));
        assert_eq!(event.event_type.as_deref(), Some("stripe.invoice.paid"));
        assert_eq!(event.action.as_deref(), Some("custom"));
        assert_eq!(event.title.as_deref(), Some("Invoice paid: 20.00 USD for Jenny Rosen"));
        assert_eq!(entity(&event), ("stripe.customer", "cus_QhqKc3FJgXj1nE", Some("Jenny Rosen")));
        assert_eq!(object(&event), ("invoice", "in_1PqR7yLkdIwHu7ixd2Zb9Q4T"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-08-26T13:55:12.000000Z"));
        // A renewal: nobody called Stripe's API, Stripe did it.
        let actor = event.actor.as_ref().unwrap();
        assert_eq!((actor.id.as_deref(), actor.kind.as_deref()), (Some("stripe"), Some("service")));
        let data = event.data.unwrap();
        assert_eq!(data["amount"], json!(2000));
        assert_eq!(data["currency"], json!("usd"));
        assert_eq!(data["status"], json!("paid"));
        assert_eq!(data["number"], json!("8C3F1A2B-0007"));
        assert_eq!(data["livemode"], json!(false));
        assert!(data.get("request_id").is_none());
    }

    #[test]
    fn subscription_updates_list_what_changed() {
        let event = fixture(include_str!("fixtures/stripe/customer.subscription.updated.json"));
        assert_eq!(event.event_type.as_deref(), Some("stripe.customer.subscription.updated"));
        assert_eq!(event.action.as_deref(), Some("updated"));
        assert_eq!(
            event.title.as_deref(),
            Some(
                "Customer subscription updated for cus_QhqKc3FJgXj1nE \
                 (cancel_at_period_end: false → true; canceled_at: null → 1724683210)"
            )
        );
        assert_eq!(entity(&event), ("stripe.customer", "cus_QhqKc3FJgXj1nE", None));
        assert_eq!(object(&event), ("subscription", "sub_1PqQ2xLkdIwHu7ixTq9Lr0Wb"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-08-26T14:40:11.000000Z"));
        assert!(event.actor.is_none(), "an API call did it, and Stripe does not say whose");
        let changes = event.changes.unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].field.as_deref(), Some("cancel_at_period_end"));
        assert_eq!((&changes[0].old, &changes[0].new), (&json!(false), &json!(true)));
        assert_eq!(changes[1].field.as_deref(), Some("canceled_at"));
        assert_eq!((&changes[1].old, &changes[1].new), (&Value::Null, &json!(1_724_683_210)));
        assert_eq!(event.data.unwrap()["request_id"], json!("req_5Yx2RkGq8mN1aB"));
    }

    #[test]
    fn failed_charges_say_why() {
        let event = fixture(include_str!("fixtures/stripe/charge.failed.json"));
        assert_eq!(event.event_type.as_deref(), Some("stripe.charge.failed"));
        assert_eq!(event.action.as_deref(), Some("custom"));
        assert_eq!(
            event.title.as_deref(),
            Some("Charge failed: 49.99 USD for Jenny Rosen (Your card was declined.)")
        );
        assert_eq!(entity(&event), ("stripe.customer", "cus_QhqKc3FJgXj1nE", Some("Jenny Rosen")));
        assert_eq!(object(&event), ("charge", "ch_3PqT4bLkdIwHu7ix0Vw1Xy2Z"));
        assert_eq!(event.occurred_at.as_deref(), Some("2024-08-26T16:33:37.000000Z"));
        let data = event.data.unwrap();
        assert_eq!(data["failure_code"], json!("card_declined"));
        assert_eq!(data["amount_text"], json!("49.99 USD"));
    }

    #[test]
    fn a_customer_is_its_own_entity() {
        let event = fixture(include_str!("fixtures/stripe/customer.created.json"));
        assert_eq!(event.event_type.as_deref(), Some("stripe.customer.created"));
        assert_eq!(event.action.as_deref(), Some("created"));
        assert_eq!(event.title.as_deref(), Some("Customer created: Jenny Rosen"));
        assert_eq!(entity(&event), ("stripe.customer", "cus_QhqKc3FJgXj1nE", Some("Jenny Rosen")));
        assert_eq!(object(&event), ("customer", "cus_QhqKc3FJgXj1nE"));
    }

    #[test]
    fn objects_without_a_customer_are_the_entity() {
        let body = r#"{"id": "evt_1", "type": "product.deleted", "created": 1700000000,
            "request": null, "data": {"object": {"id": "prod_1", "object": "product"}}}"#;
        let event = fixture(body);
        assert_eq!(event.title.as_deref(), Some("Product deleted"));
        assert_eq!(event.action.as_deref(), Some("deleted"));
        assert_eq!(entity(&event), ("stripe.product", "prod_1", None));
        assert!(event.actor.is_some(), "a null request is Stripe acting by itself");
    }

    #[test]
    fn amounts_use_the_currency_minor_unit() {
        assert_eq!(money(2000, "usd").as_deref(), Some("20.00 USD"));
        assert_eq!(money(5, "eur").as_deref(), Some("0.05 EUR"));
        assert_eq!(money(-1250, "gbp").as_deref(), Some("-12.50 GBP"));
        assert_eq!(money(500, "jpy").as_deref(), Some("500 JPY"));
        assert_eq!(money(1234, "kwd").as_deref(), Some("1.234 KWD"));
        assert_eq!(money(i64::MIN, "usd").as_deref(), Some("-92233720368547758.08 USD"));
        assert_eq!(money(1, "dollars"), None);
    }

    #[test]
    fn unreadable_bodies_say_why() {
        for (body, why) in [("{", "not JSON"), ("[]", "not a Stripe event"), ("{}", "no `type`")] {
            let error = normalized(body).unwrap_err();
            assert!(error.0.contains(why), "{body}: {error}");
        }
        // An updated event whose previous attributes equal the object's is no change.
        let body = r#"{"id": "evt_2", "type": "customer.updated", "data": {
            "object": {"id": "cus_1", "object": "customer", "name": "Ana"},
            "previous_attributes": {"name": "Ana"}}}"#;
        let event = fixture(body);
        assert_eq!(event.action.as_deref(), Some("custom"));
        assert!(event.changes.is_none());
    }

    #[test]
    fn new_secrets_look_like_stripe_ones() {
        let secret = Stripe.new_secret(&[7; 32]).unwrap();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret[6..]).unwrap(), vec![7; 32]);
        assert_eq!(crate::ingest::source(Provider::Stripe).unwrap().provider(), Provider::Stripe);
    }

    /// Arbitrary JSON whose keys are often the ones the normalizer reads.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(vec!["usd", "jpy", "customer", "invoice", "x.updated", "evt_1"])
                .prop_map(Value::from),
        ];
        let key = prop_oneof![
            prop::sample::select(vec![
                "id",
                "type",
                "object",
                "data",
                "previous_attributes",
                "created",
                "request",
                "customer",
                "customer_name",
                "billing_details",
                "email",
                "name",
                "amount",
                "total",
                "currency",
                "failure_message",
                "last_payment_error",
                "message",
                "status",
                "livemode",
            ])
            .prop_map(str::to_owned),
            "\\PC{0,8}",
        ];
        leaf.prop_recursive(4, 48, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let request = Stored {
                headers: vec![],
                body,
                received_at: crate::time::Timestamp::from_micros(0).unwrap(),
            };
            let _ = Stripe.delivery_id(&request);
            let _ = normalized(&String::from_utf8_lossy(&request.body));
        }

        #[test]
        fn any_json_never_panics_and_events_validate(
            top in json_value(),
            object in json_value(),
            previous in json_value(),
            (created, request) in (json_value(), json_value()),
            kind in prop::sample::select(vec!["invoice.paid", "customer.updated", "Weird Type!", ""]),
        ) {
            let limits = crate::input::EventLimits::default();
            let shaped = json!({
                "id": "evt_1", "type": kind, "created": created, "request": request,
                "data": {"object": object, "previous_attributes": previous}
            });
            for body in [top, shaped] {
                if let Ok(drafts) = normalized(&body.to_string()) {
                    for draft in drafts {
                        let checked = draft.event.validate(uuid::Uuid::nil(), None, &limits);
                        prop_assert!(checked.is_ok(), "{:?}", checked.err());
                    }
                }
            }
        }
    }
}
