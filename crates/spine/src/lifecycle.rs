//! Typed lifecycle events: what happened to an object, in the shapes Spine's feeds, timelines
//! and summaries understand (SPEC section 3's actions). Each helper answers an [`EventInput`]
//! to adjust (tags, correlation, idempotency key) before [`crate::Spine::emit`].
//!
//! - [`created`]: with the initial values (`data.initial_values`);
//! - [`updated`]: the field diff over tracked fields (`changes`), or `None` when nothing tracked
//!   changed, so no event is written for a no-op save;
//! - [`deleted`]: with the final values and the reason;
//! - [`state_changed`]: the `state` field's transition and the reason;
//! - [`custom`]: any other type.
//!
//! Types are `<entity type>.<verb>`: `campaign.created`, `campaign.updated`...

use serde_json::{json, Map, Value};
use spine_core::diff::diff;
use spine_core::input::{ActorInput, ChangeInput, EntityInput, EventInput};

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its type, e.g. `campaign`.
    pub entity_type: String,
    /// Its id.
    pub id: String,
    /// A display name.
    pub name: Option<String>,
}

impl Subject {
    /// `entity_type` `id`, named `name`.
    pub fn new(entity_type: &str, id: impl ToString, name: Option<&str>) -> Self {
        Self {
            entity_type: entity_type.to_owned(),
            id: id.to_string(),
            name: name.map(str::to_owned),
        }
    }

    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.entity_type),
            None => format!("{} {}", self.entity_type, self.id),
        }
    }

    fn input(&self) -> EntityInput {
        EntityInput {
            entity_type: Some(self.entity_type.clone()),
            id: Some(self.id.clone()),
            name: self.name.clone(),
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Their id.
    pub id: String,
    /// A display name.
    pub name: Option<String>,
    /// `user`, `service`, `agent` or `system`.
    pub kind: String,
}

impl Actor {
    /// A person.
    pub fn user(id: impl ToString, name: Option<&str>) -> Self {
        Self { id: id.to_string(), name: name.map(str::to_owned), kind: "user".to_owned() }
    }

    /// A service or job.
    pub fn service(id: &str) -> Self {
        Self { id: id.to_owned(), name: None, kind: "service".to_owned() }
    }

    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    fn input(&self) -> ActorInput {
        ActorInput {
            id: Some(self.id.clone()),
            name: self.name.clone(),
            kind: Some(self.kind.clone()),
        }
    }
}

fn base(subject: &Subject, actor: &Actor, verb: &str, action: &str, title: String) -> EventInput {
    EventInput {
        event_type: Some(format!("{}.{verb}", subject.entity_type)),
        action: Some(action.to_owned()),
        actor: Some(actor.input()),
        entity: Some(subject.input()),
        title: Some(title),
        ..EventInput::default()
    }
}

/// `subject` was created by `actor` with these initial values.
pub fn created(
    subject: &Subject,
    actor: &Actor,
    initial_values: &Map<String, Value>,
) -> EventInput {
    let title = format!("{} created {}", actor.label(), subject.label());
    let mut event = base(subject, actor, "created", "created", title);
    event.data = Some(json!({ "initial_values": initial_values }));
    event
}

/// `subject` changed from `old` to `new`: an event listing the `tracked` fields whose value
/// changed (every field when `tracked` is empty), or `None` when none did.
pub fn updated(
    subject: &Subject,
    actor: &Actor,
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    tracked: &[&str],
) -> Option<EventInput> {
    let changes = diff(old, new, tracked);
    if changes.is_empty() {
        return None;
    }
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    let title = format!("{} updated {} ({})", actor.label(), subject.label(), fields.join(", "));
    let mut event = base(subject, actor, "updated", "updated", title);
    event.changes = Some(
        changes
            .into_iter()
            .map(|c| ChangeInput { field: Some(c.field), old: c.old, new: c.new })
            .collect(),
    );
    Some(event)
}

/// `subject` was deleted, with its final values and why.
pub fn deleted(
    subject: &Subject,
    actor: &Actor,
    final_values: &Map<String, Value>,
    reason: Option<&str>,
) -> EventInput {
    let title = format!("{} deleted {}", actor.label(), subject.label());
    let mut event = base(subject, actor, "deleted", "deleted", title);
    event.data = Some(json!({ "final_values": final_values, "reason": reason }));
    event
}

/// `subject`'s state went from `from` to `to`, and why.
pub fn state_changed(
    subject: &Subject,
    actor: &Actor,
    from: &str,
    to: &str,
    reason: Option<&str>,
) -> EventInput {
    let title = format!("{} moved {} from {from} to {to}", actor.label(), subject.label());
    let mut event = base(subject, actor, "state_changed", "state_changed", title);
    event.changes = Some(vec![ChangeInput {
        field: Some("state".to_owned()),
        old: json!(from),
        new: json!(to),
    }]);
    event.data = Some(json!({ "reason": reason }));
    event
}

/// Any other event about `subject`: `event_type` (a full type such as `campaign.launched`),
/// a title and data.
pub fn custom(
    event_type: &str,
    subject: &Subject,
    actor: &Actor,
    title: &str,
    data: Option<Value>,
) -> EventInput {
    EventInput {
        event_type: Some(event_type.to_owned()),
        action: Some("custom".to_owned()),
        actor: Some(actor.input()),
        entity: Some(subject.input()),
        title: Some(title.to_owned()),
        data,
        ..EventInput::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spine_core::input::EventLimits;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn valid(event: EventInput) -> spine_core::NewEvent {
        event.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).expect("valid")
    }

    #[test]
    fn every_helper_makes_a_valid_event_of_its_action() {
        let subject = Subject::new("campaign", 7, Some("Spring sale"));
        let ana = Actor::user("u1", Some("Ana"));
        let made =
            valid(created(&subject, &ana, &map(json!({"name": "Spring sale", "budget": 100}))));
        assert_eq!(
            (made.event_type.as_str(), made.action.as_str()),
            ("campaign.created", "created")
        );
        assert_eq!(made.title, "Ana created campaign Spring sale");
        let old = map(json!({"name": "Spring sale", "budget": 100, "notes": "a"}));
        let new = map(json!({"name": "Spring sale", "budget": 150, "notes": "b"}));
        let changed = valid(
            updated(&subject, &ana, &old, &new, &["name", "budget"]).expect("budget changed"),
        );
        let changes = changed.changes.expect("changes");
        assert_eq!(
            (changes.len(), changes[0].field.as_str()),
            (1, "budget"),
            "untracked notes left out"
        );
        assert!(updated(
            &subject,
            &ana,
            &old,
            &map(json!({"name": "Spring sale", "budget": 100, "notes": "z"})),
            &["name", "budget"]
        )
        .is_none());
        let gone = valid(deleted(&subject, &ana, &new, Some("ended")));
        assert_eq!(gone.data.expect("data")["reason"], json!("ended"));
        let moved = valid(state_changed(
            &subject,
            &Actor::service("scheduler"),
            "draft",
            "live",
            Some("launch date"),
        ));
        assert_eq!(moved.action.as_str(), "state_changed");
        assert_eq!(
            valid(custom("campaign.launched", &subject, &ana, "Launched", None)).action.as_str(),
            "custom"
        );
    }
}
