//! HubSpot's normalizer: one element of the batch as one draft (see the parent module).

use crate::ingest::{clip, dotted, str_at, unix_millis, Draft};
use crate::input::ChangeInput;
use serde_json::{json, Value};

/// The CRM objects of generic (`object.*`) subscriptions, by `objectTypeId`.
const OBJECT_TYPES: [(&str, &str); 12] = [
    ("0-1", "contact"),
    ("0-2", "company"),
    ("0-3", "deal"),
    ("0-5", "ticket"),
    ("0-7", "product"),
    ("0-8", "line_item"),
    ("0-14", "quote"),
    ("0-27", "task"),
    ("0-46", "note"),
    ("0-47", "meeting"),
    ("0-48", "call"),
    ("0-49", "email"),
];

/// Fields worth keeping in the event's `data`: (name in `data`, HubSpot's field).
const DATA_FIELDS: [(&str, &str); 14] = [
    ("portal_id", "portalId"),
    ("app_id", "appId"),
    ("subscription_type", "subscriptionType"),
    ("object_type_id", "objectTypeId"),
    ("object_id", "objectId"),
    ("change_source", "changeSource"),
    ("source_id", "sourceId"),
    ("property_name", "propertyName"),
    ("property_value", "propertyValue"),
    ("primary_object_id", "primaryObjectId"),
    ("new_object_id", "newObjectId"),
    ("association_type", "associationType"),
    ("to_object_id", "toObjectId"),
    ("association_removed", "associationRemoved"),
];

/// `propertyChange` as `property_change`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// `line_item` as `Line item`.
fn label(object: &str) -> String {
    let words = object.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Object".to_owned(),
    }
}

/// An id as text: HubSpot sends integers, a string is read too.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(clip(s, 128)),
        _ => None,
    }
}

/// A property's value as a few words for a title.
fn value_words(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(clip(s, 100)),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// The object an event is about: the legacy `contact.*` names it, a generic `object.*` gives
/// its `objectTypeId` (custom objects become `object_<id>`).
fn object_of(event: &Value, named: &str) -> String {
    if named != "object" {
        return dotted(&snake(named));
    }
    match str_at(event, "/objectTypeId") {
        Some(type_id) => OBJECT_TYPES
            .iter()
            .find(|(id, _)| *id == type_id)
            .map_or_else(|| dotted(&format!("object_{type_id}")), |(_, name)| (*name).to_owned()),
        None => "object".to_owned(),
    }
}

/// Who did it: a HubSpot user (`sourceId` `userId:...`), or the kind of source HubSpot names
/// (`API`, `IMPORT`, `CRM_UI`...).
fn actor_of(event: &Value) -> Option<(String, &'static str)> {
    let source_id = str_at(event, "/sourceId");
    if let Some(user) = source_id.filter(|s| s.starts_with("userId:")) {
        return Some((user.to_owned(), "user"));
    }
    let source = str_at(event, "/changeSource")?;
    let kind = if matches!(source, "API" | "INTEGRATION") { "service" } else { "system" };
    Some((format!("hubspot:{}", dotted(source)), kind))
}

/// One event of the batch as a draft; `None` unless it is an object with a subscription type.
pub(super) fn draft(event: Value) -> Option<Draft> {
    let subscription = str_at(&event, "/subscriptionType")?;
    let (named, what) = subscription.split_once('.').unwrap_or((subscription, ""));
    let object = object_of(&event, named);
    let what = snake(what);
    let mut event_type = match what.as_str() {
        "" => format!("hubspot.{object}"),
        what => format!("hubspot.{object}.{}", dotted(what)),
    };
    // Dotted names are ASCII, so this cuts on a character boundary.
    event_type.truncate(128);
    let id = ["/objectId", "/primaryObjectId", "/fromObjectId"]
        .iter()
        .find_map(|pointer| id_of(event.pointer(pointer)));
    let subject = match &id {
        Some(id) => format!("{} {id}", label(&object)),
        None => label(&object),
    };

    let property = str_at(&event, "/propertyName");
    let value = event.get("propertyValue").filter(|v| !v.is_null());
    let change = property.zip(value).map(|(field, new)| ChangeInput {
        field: Some(clip(field, 128)),
        old: Value::Null,
        new: match new {
            Value::String(s) => json!(clip(s, 1024)),
            other => other.clone(),
        },
    });
    let title = match what.as_str() {
        "creation" => format!("{subject} created"),
        "deletion" => format!("{subject} deleted"),
        "privacy_deletion" => format!("{subject} deleted for privacy"),
        "restore" => format!("{subject} restored"),
        "merge" => {
            let merged: Vec<String> = event
                .get("mergedObjectIds")
                .and_then(Value::as_array)
                .map(|ids| ids.iter().take(5).filter_map(|v| id_of(Some(v))).collect())
                .unwrap_or_default();
            match merged.is_empty() {
                true => format!("{subject} merged"),
                false => format!("{subject} merged with {}", merged.join(", ")),
            }
        }
        "property_change" => match (property, value.and_then(value_words)) {
            (Some(property), Some(words)) if words.is_empty() => {
                format!("{subject}: {property} cleared")
            }
            (Some(property), Some(words)) => format!("{subject}: {property} set to {words}"),
            (Some(property), None) => format!("{subject}: {property} changed"),
            (None, _) => format!("{subject} changed"),
        },
        "association_change" => {
            let other = str_at(&event, "/associationType")
                .and_then(|t| t.split_once("_TO_"))
                .map_or_else(|| "object".to_owned(), |(_, to)| to.to_lowercase().replace('_', " "));
            let to = id_of(event.get("toObjectId")).unwrap_or_else(|| "?".to_owned());
            let removed = event.get("associationRemoved").and_then(Value::as_bool) == Some(true);
            let verb = if removed { "no longer associated" } else { "associated" };
            format!("{subject} {verb} with {other} {to}")
        }
        "" => match &id {
            Some(id) => format!("HubSpot {subscription} for {id}"),
            None => format!("HubSpot {subscription}"),
        },
        other => format!("{subject}: {}", other.replace('_', " ")),
    };
    let action = match (what.as_str(), &change) {
        ("creation", _) => "created",
        ("deletion" | "privacy_deletion", _) => "deleted",
        ("property_change", Some(_)) => "updated",
        _ => "custom",
    };

    let mut data = json!({});
    for (name, field) in DATA_FIELDS {
        match event.get(field) {
            Some(Value::String(s)) => data[name] = json!(clip(s, 256)),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => data[name] = v.clone(),
            _ => {}
        }
    }
    if let Some(merged) = event.get("mergedObjectIds").and_then(Value::as_array) {
        let ids: Vec<String> = merged.iter().take(20).filter_map(|v| id_of(Some(v))).collect();
        data["merged_object_ids"] = json!(ids);
    }

    let mut draft = Draft::new(&event_type, clip(&title, 512), "hubspot", Value::Null)
        .action(action)
        .at(event.get("occurredAt").and_then(Value::as_i64).and_then(unix_millis))
        .data(data);
    if let Some(id) = &id {
        draft = draft.entity(&format!("hubspot.{object}"), id, None).object(&object, id);
    }
    if let Some((actor, kind)) = actor_of(&event) {
        draft = draft.actor(&actor, None, kind);
    }
    if let Some(change) = change {
        draft.event.changes = Some(vec![change]);
    }
    if let Some(event_id) = id_of(event.get("eventId")) {
        draft = match id_of(event.get("portalId")) {
            Some(portal) => draft.delivery(format!("{portal}:{event_id}")),
            None => draft.delivery(event_id),
        };
    }
    draft.payload = event;
    Some(draft)
}

#[cfg(test)]
mod tests {
    use super::super::HubSpot;
    use super::*;
    use crate::ingest::{Context, Source, Stored};
    use crate::input::{EventInput, EventLimits};
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn normalized(body: &[u8]) -> Result<Vec<Draft>, crate::ingest::Unreadable> {
        let mapping = crate::channel::Mapping::default();
        let context = Context {
            channel_id: "ch",
            event_type: None,
            direction: crate::channel::Direction::Inbound,
            mapping: &mapping,
            privacy: &crate::channel::Privacy::default(),
        };
        let request = Stored {
            headers: vec![],
            body: body.to_vec(),
            received_at: Timestamp::from_micros(0).unwrap(),
        };
        HubSpot.normalize(&request, &context)
    }

    /// Normalizes a fixture, checking each event validates like a posted one and carries its
    /// own delivery id and payload.
    fn fixture(body: &str) -> Vec<(EventInput, String)> {
        let items: Vec<Value> = serde_json::from_str(body).unwrap();
        let drafts = normalized(body.as_bytes()).unwrap();
        assert_eq!(drafts.len(), items.len());
        drafts
            .into_iter()
            .zip(items)
            .map(|(draft, item)| {
                assert_eq!(draft.payload, item, "the payload is the event's own element");
                let limits = EventLimits::default();
                if let Err(e) = draft.event.clone().validate(uuid::Uuid::nil(), None, &limits) {
                    panic!("{e:?}");
                }
                (draft.event, draft.delivery_id.unwrap())
            })
            .collect()
    }

    fn entity(event: &EventInput) -> (&str, &str) {
        let e = event.entity.as_ref().unwrap();
        (e.entity_type.as_deref().unwrap(), e.id.as_deref().unwrap())
    }

    fn actor(event: &EventInput) -> Option<(&str, &str)> {
        let a = event.actor.as_ref()?;
        Some((a.id.as_deref()?, a.kind.as_deref()?))
    }

    #[test]
    fn the_documented_batch_is_one_event_each() {
        let events = fixture(include_str!("../fixtures/hubspot/batch.json"));
        let (change, delivery) = &events[0];
        assert_eq!(delivery, "33:3816279340");
        assert_eq!(change.event_type.as_deref(), Some("hubspot.contact.property_change"));
        assert_eq!(change.action.as_deref(), Some("updated"));
        assert_eq!(
            change.title.as_deref(),
            Some("Contact 1246965: lifecyclestage set to subscriber")
        );
        assert_eq!(entity(change), ("hubspot.contact", "1246965"));
        assert_eq!(change.occurred_at.as_deref(), Some("2016-05-02T19:11:47.945000Z"));
        assert_eq!(actor(change), Some(("hubspot:academy", "system")));
        let changes = change.changes.as_ref().unwrap();
        assert_eq!(changes[0].field.as_deref(), Some("lifecyclestage"));
        assert_eq!((&changes[0].old, &changes[0].new), (&Value::Null, &json!("subscriber")));
        let data = change.data.as_ref().unwrap();
        assert_eq!(
            (&data["portal_id"], &data["property_value"]),
            (&json!(33), &json!("subscriber"))
        );

        let (created, delivery) = &events[1];
        assert_eq!(delivery, "33:3816279480");
        assert_eq!(created.event_type.as_deref(), Some("hubspot.contact.creation"));
        assert_eq!(created.action.as_deref(), Some("created"));
        assert_eq!(created.title.as_deref(), Some("Contact 1246978 created"));
        assert_eq!(actor(created), Some(("hubspot:import", "system")));

        let (deleted, _) = &events[2];
        assert_eq!(deleted.event_type.as_deref(), Some("hubspot.deal.deletion"));
        assert_eq!(deleted.action.as_deref(), Some("deleted"));
        assert_eq!(deleted.title.as_deref(), Some("Deal 9035728412 deleted"));
        assert_eq!(entity(deleted), ("hubspot.deal", "9035728412"));
        assert_eq!(actor(deleted), Some(("userId:4271356", "user")));
        assert_eq!(deleted.occurred_at.as_deref(), Some("2016-05-02T19:13:32.310000Z"));
    }

    #[test]
    fn merges_and_associations_name_the_other_side() {
        let events = fixture(include_str!("../fixtures/hubspot/merge-and-association.json"));
        let (merge, delivery) = &events[0];
        assert_eq!(delivery, "7654321:1875004325");
        assert_eq!(merge.event_type.as_deref(), Some("hubspot.contact.merge"));
        assert_eq!(merge.action.as_deref(), Some("custom"));
        assert_eq!(merge.title.as_deref(), Some("Contact 65059681032 merged with 65059681555"));
        assert_eq!(entity(merge), ("hubspot.contact", "65059681032"));
        assert_eq!(merge.data.as_ref().unwrap()["merged_object_ids"], json!(["65059681555"]));
        assert_eq!(actor(merge), Some(("userId:45678", "user")));

        let (association, _) = &events[1];
        assert_eq!(association.event_type.as_deref(), Some("hubspot.contact.association_change"));
        assert_eq!(
            association.title.as_deref(),
            Some("Contact 65059681032 associated with company 18420933117")
        );
        assert_eq!(entity(association), ("hubspot.contact", "65059681032"));
        assert_eq!(association.occurred_at.as_deref(), Some("2024-02-26T22:30:12.004000Z"));
    }

    #[test]
    fn generic_subscriptions_are_named_after_their_object_type() {
        let events = fixture(include_str!("../fixtures/hubspot/generic-objects.json"));
        let (deal, _) = &events[0];
        assert_eq!(deal.event_type.as_deref(), Some("hubspot.deal.creation"));
        assert_eq!(deal.title.as_deref(), Some("Deal 30117762504 created"));
        assert_eq!(entity(deal), ("hubspot.deal", "30117762504"));
        assert_eq!(actor(deal), Some(("hubspot:api", "service")));
        let source = deal.source.as_ref().unwrap();
        assert_eq!(source.object_type.as_deref(), Some("deal"));

        let (ticket, _) = &events[1];
        assert_eq!(ticket.event_type.as_deref(), Some("hubspot.ticket.property_change"));
        assert_eq!(ticket.title.as_deref(), Some("Ticket 18873302: hs_pipeline_stage set to 4"));
        assert_eq!(ticket.occurred_at.as_deref(), Some("2024-11-13T14:13:40.456000Z"));
    }

    #[test]
    fn sparse_events_still_read() {
        let body = r#"[
            {"subscriptionType": "object.creation", "objectTypeId": "2-7654321", "objectId": 5},
            {"subscriptionType": "contact.propertyChange", "objectId": "9", "propertyName": "email"},
            {"subscriptionType": "conversation.newMessage", "objectId": 4, "eventId": 8},
            {"subscriptionType": "contact.associationChange", "fromObjectId": 1,
             "associationType": "CONTACT_TO_LINE_ITEM", "toObjectId": 2, "associationRemoved": true},
            {"subscriptionType": "weird"},
            {"subscriptionType": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
        ]"#;
        let drafts = normalized(body.as_bytes()).unwrap();
        let events: Vec<&EventInput> = drafts.iter().map(|d| &d.event).collect();
        assert_eq!(events[0].event_type.as_deref(), Some("hubspot.object_2-7654321.creation"));
        assert_eq!(events[0].title.as_deref(), Some("Object 2-7654321 5 created"));
        // No value: nothing to record as a change, so not an update.
        assert_eq!(events[1].title.as_deref(), Some("Contact 9: email changed"));
        assert_eq!(events[1].action.as_deref(), Some("custom"));
        assert_eq!(events[2].title.as_deref(), Some("Conversation 4: new message"));
        assert_eq!(drafts[2].delivery_id.as_deref(), Some("8"));
        assert_eq!(
            events[3].title.as_deref(),
            Some("Contact 1 no longer associated with line item 2")
        );
        assert_eq!(events[4].event_type.as_deref(), Some("hubspot.weird"));
        assert_eq!(events[4].title.as_deref(), Some("HubSpot weird"));
        assert!(drafts[4].delivery_id.is_none());
        for event in events {
            let checked = event.clone().validate(uuid::Uuid::nil(), None, &EventLimits::default());
            assert!(checked.is_ok(), "{checked:?}");
        }
    }

    /// Arbitrary JSON whose keys are often the ones the normalizer reads.
    fn json_value() -> impl Strategy<Value = Value> {
        crate::ingest::testing::json_like(
            vec![
                "subscriptionType",
                "objectId",
                "objectTypeId",
                "eventId",
                "portalId",
                "occurredAt",
                "propertyName",
                "propertyValue",
                "sourceId",
                "changeSource",
                "mergedObjectIds",
                "fromObjectId",
                "toObjectId",
                "associationType",
            ],
            vec!["contact.propertyChange", "object.merge", "0-3", "userId:1", "A_TO_B", ""],
            3,
        )
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = normalized(&body);
        }

        #[test]
        fn any_json_never_panics_and_events_validate(
            top in json_value(),
            items in prop::collection::vec(json_value(), 1..4),
            subscription in prop::sample::select(vec![
                "contact.propertyChange", "deal.creation", "object.deletion", "company.merge",
                "contact.associationChange", "x", ".", "Ticket.", "",
            ]),
        ) {
            let items: Vec<Value> = items
                .into_iter()
                .map(|mut item| {
                    if let Value::Object(map) = &mut item {
                        map.insert("subscriptionType".to_owned(), json!(subscription));
                    }
                    item
                })
                .collect();
            for body in [top, Value::Array(items)] {
                let drafts = normalized(body.to_string().as_bytes());
                for draft in drafts.unwrap_or_default() {
                    let checked = draft.event.validate(uuid::Uuid::nil(), None, &EventLimits::default());
                    prop_assert!(checked.is_ok(), "{:?}", checked.err());
                }
            }
        }
    }
}
