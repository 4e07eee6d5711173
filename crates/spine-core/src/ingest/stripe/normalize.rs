//! Stripe's normalizer: one Event object as one draft (see the parent module).

use crate::ingest::{clip, dotted, str_at, unix_seconds, Draft};
use crate::input::ChangeInput;
use crate::time::Timestamp;
use serde_json::{json, Value};

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
pub(super) fn draft(event: Value) -> Draft {
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
    use super::super::Stripe;
    use super::*;
    use crate::ingest::{Context, Source, Stored, Unreadable};
    use proptest::prelude::*;

    fn normalized(body: &str) -> Result<Vec<Draft>, Unreadable> {
        let mapping = crate::channel::Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: crate::channel::Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
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
        let event = fixture(include_str!("../fixtures/stripe/invoice.paid.json"));
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
        let event = fixture(include_str!("../fixtures/stripe/customer.subscription.updated.json"));
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
        let event = fixture(include_str!("../fixtures/stripe/charge.failed.json"));
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
        let event = fixture(include_str!("../fixtures/stripe/customer.created.json"));
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

    /// Arbitrary JSON whose keys are often the ones the normalizer reads.
    fn json_value() -> impl Strategy<Value = Value> {
        crate::ingest::testing::json_like(
            vec![
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
            ],
            vec!["usd", "jpy", "customer", "invoice", "x.updated", "evt_1"],
            4,
        )
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
