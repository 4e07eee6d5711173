//! The wire shape of a posted event (`EventInput`) and its validation into a `NewEvent`.
//! Unknown fields are refused, so a client sending `tenant` or `seq` learns it at once.

use crate::event::{
    Action, Actor, ActorKind, Change, Entity, EventType, NewEvent, Priority, Source,
};
use crate::idempotency::IdempotencyKey;
use crate::text::{bounded, clean, is_dotted_name};
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The bounds of SPEC section 11 that apply to one event; every one is configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Characters in `title`.
    pub title_chars: usize,
    /// Bytes of `description`.
    pub description_bytes: usize,
    /// Bytes of `data` (and of `changes`) serialised.
    pub data_bytes: usize,
    /// Number of tags.
    pub tags: usize,
    /// Characters per tag.
    pub tag_chars: usize,
    /// Characters of an idempotency key.
    pub idempotency_key_chars: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            title_chars: 512,
            description_bytes: 16 * 1024,
            data_bytes: 64 * 1024,
            tags: 32,
            tag_chars: 64,
            idempotency_key_chars: 255,
        }
    }
}

/// A posted event before validation, exactly as the client sent it. Its OpenAPI schema (feature
/// `openapi`) carries the default limits of [`EventLimits`] and the patterns validation applies.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Required event type, dotted lower-case (`task.created`).
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(required, max_length = 128, pattern = r"^[a-z0-9][a-z0-9_.:-]*$")
    )]
    pub event_type: Option<String>,
    /// Defaults to `custom`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(created|updated|deleted|state_changed|custom)$")
    )]
    pub action: Option<String>,
    /// Defaults to `{"system": "api"}`.
    pub source: Option<SourceInput>,
    /// Who did it.
    pub actor: Option<ActorInput>,
    /// What it was done to.
    pub entity: Option<EntityInput>,
    /// Required, 1..512 characters.
    #[cfg_attr(feature = "openapi", schema(required, min_length = 1, max_length = 512))]
    pub title: Option<String>,
    /// Up to 16 KiB.
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub description: Option<String>,
    /// A JSON object, up to 64 KiB serialized.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub data: Option<Value>,
    /// `[{field, old, new}]`; required for `updated` (a real change) and `state_changed` (a
    /// `state` change).
    pub changes: Option<Vec<ChangeInput>>,
    /// low, normal, high, urgent.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(low|normal|high|urgent)$"))]
    pub priority: Option<String>,
    /// Up to 32 strings of up to 64 characters.
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub tags: Option<Vec<String>>,
    /// Flow id.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub correlation_id: Option<String>,
    /// Cause id.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub causation_id: Option<String>,
    /// RFC 3339; defaults to receipt time.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub occurred_at: Option<String>,
    /// RFC 3339.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub expires_at: Option<String>,
    /// Alternative to the `Idempotency-Key` header, 1..255 printable characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub idempotency_key: Option<String>,
}

/// `source` as sent.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// Required, dotted lower-case (`github`).
    #[cfg_attr(
        feature = "openapi",
        schema(required, max_length = 64, pattern = r"^[a-z0-9][a-z0-9_.:-]*$")
    )]
    pub system: Option<String>,
    /// Optional.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub object_id: Option<String>,
    /// Optional.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub object_type: Option<String>,
}

/// `actor` as sent.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActorInput {
    /// Required.
    #[cfg_attr(feature = "openapi", schema(required, min_length = 1, max_length = 256))]
    pub id: Option<String>,
    /// Optional.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub name: Option<String>,
    /// user, agent, system, service.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(user|agent|system|service)$"))]
    pub kind: Option<String>,
}

/// `entity` as sent.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntityInput {
    /// Required, dotted lower-case (`task`).
    #[serde(rename = "type")]
    #[cfg_attr(
        feature = "openapi",
        schema(required, max_length = 64, pattern = r"^[a-z0-9][a-z0-9_.:-]*$")
    )]
    pub entity_type: Option<String>,
    /// Required.
    #[cfg_attr(feature = "openapi", schema(required, min_length = 1, max_length = 256))]
    pub id: Option<String>,
    /// Optional.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 512))]
    pub name: Option<String>,
}

/// One change as sent.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    /// Required.
    #[cfg_attr(feature = "openapi", schema(required, min_length = 1, max_length = 128))]
    pub field: Option<String>,
    /// Old value.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub old: Value,
    /// New value.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub new: Value,
}

/// Collects errors while validating, so every problem is reported at once.
struct Checker<'a> {
    errors: ValidationErrors,
    limits: &'a EventLimits,
}

impl Checker<'_> {
    fn text(&mut self, field: &str, value: Option<&str>, min: usize, max: usize) -> Option<String> {
        let value = value?;
        match bounded(value, min, max) {
            Ok(v) => Some(v),
            Err(m) => {
                self.errors.push(field, m);
                None
            }
        }
    }

    fn required(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        if value.is_none() {
            self.errors.push(field, "is required");
        }
        self.text(field, value, 1, max)
    }

    fn name(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        let value = self.required(field, value, max)?;
        if is_dotted_name(&value, max) {
            Some(value)
        } else {
            self.errors
                .push(field, "must be dotted lower-case letters, digits, '_', '.', ':' or '-'");
            None
        }
    }

    fn timestamp(&mut self, field: &str, value: Option<&str>) -> Option<Timestamp> {
        match Timestamp::parse(value?) {
            Ok(t) => Some(t),
            Err(m) => {
                self.errors.push(field, m);
                None
            }
        }
    }

    /// Free JSON: bounded in size, and without NUL characters (`\u0000`), which text columns of
    /// databases such as PostgreSQL cannot hold.
    fn json_size(&mut self, field: &str, value: &impl serde::Serialize) {
        let Ok(value) = serde_json::to_value(value) else {
            self.errors.push(field, "must be JSON");
            return;
        };
        let size = serde_json::to_vec(&value).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > self.limits.data_bytes {
            self.errors.push(field, format!("must be at most {} bytes", self.limits.data_bytes));
        }
        if holds_nul(&value) {
            self.errors.push(field, "must not contain NUL characters (\\u0000)");
        }
    }
}

/// Whether a string or key anywhere in `value` holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

impl EventInput {
    /// Validates into a `NewEvent` with the given id, or every field error found.
    /// `header_key` is the `Idempotency-Key` header, which wins over the body field.
    pub fn validate(
        self,
        id: Uuid,
        header_key: Option<&str>,
        limits: &EventLimits,
    ) -> Result<NewEvent, ValidationErrors> {
        let mut c = Checker { errors: ValidationErrors::default(), limits };
        let event_type = match self.event_type.as_deref() {
            None => {
                c.errors.push("type", "is required");
                None
            }
            Some(t) if t.starts_with(crate::filter::AUDIT_PREFIX) => {
                c.errors.push("type", "audit.* types are reserved for Spine's own audit trail");
                None
            }
            Some(t) => EventType::parse(t).map_err(|m| c.errors.push("type", m)).ok(),
        };
        let action = self
            .action
            .as_deref()
            .map(|a| Action::parse(a).map_err(|m| c.errors.push("action", m)).ok())
            .unwrap_or(Some(Action::Custom));
        let priority = self
            .priority
            .as_deref()
            .map(|p| Priority::parse(p).map_err(|m| c.errors.push("priority", m)).ok())
            .unwrap_or(Some(Priority::Normal));
        let source = match self.source {
            None => Some(Source::default()),
            Some(s) => {
                let system = c.name("source.system", s.system.as_deref(), 64);
                let object_id = c.text("source.object_id", s.object_id.as_deref(), 1, 256);
                let object_type = c.text("source.object_type", s.object_type.as_deref(), 1, 64);
                system.map(|system| Source { system, object_id, object_type })
            }
        };
        let actor = self.actor.map(|a| {
            let id = c.required("actor.id", a.id.as_deref(), 256);
            let name = c.text("actor.name", a.name.as_deref(), 1, 256);
            let kind = a
                .kind
                .as_deref()
                .and_then(|k| ActorKind::parse(k).map_err(|m| c.errors.push("actor.kind", m)).ok());
            id.map(|id| Actor { id, name, kind })
        });
        let entity = self.entity.map(|e| {
            let entity_type = c.name("entity.type", e.entity_type.as_deref(), 64);
            let id = c.required("entity.id", e.id.as_deref(), 256);
            let name = c.text("entity.name", e.name.as_deref(), 1, 512);
            entity_type.zip(id).map(|(entity_type, id)| Entity { entity_type, id, name })
        });
        let title = c.required("title", self.title.as_deref(), limits.title_chars);
        let description = self.description.as_deref().map(clean).filter(|d| !d.is_empty());
        if description.as_ref().is_some_and(|d| d.len() > limits.description_bytes) {
            c.errors
                .push("description", format!("must be at most {} bytes", limits.description_bytes));
        }
        let data = match self.data {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => {
                c.json_size("data", &map);
                Some(map)
            }
            Some(_) => {
                c.errors.push("data", "must be a JSON object");
                None
            }
        };
        let changes = self.changes.map(|changes| {
            c.json_size("changes", &changes);
            changes
                .into_iter()
                .enumerate()
                .filter_map(|(i, ch)| {
                    let field =
                        c.required(&format!("changes[{i}].field"), ch.field.as_deref(), 128)?;
                    Some(Change { field, old: ch.old, new: ch.new })
                })
                .collect::<Vec<_>>()
        });
        let tags = self.tags.unwrap_or_default();
        if tags.len() > limits.tags {
            c.errors.push("tags", format!("must have at most {} tags", limits.tags));
        }
        let mut clean_tags: Vec<String> = Vec::with_capacity(tags.len());
        for (i, tag) in tags.iter().enumerate() {
            if let Some(t) = c.text(&format!("tags[{i}]"), Some(tag), 1, limits.tag_chars) {
                if !clean_tags.contains(&t) {
                    clean_tags.push(t);
                }
            }
        }
        let correlation_id = c.text("correlation_id", self.correlation_id.as_deref(), 1, 256);
        let causation_id = c.text("causation_id", self.causation_id.as_deref(), 1, 256);
        let occurred_at = c.timestamp("occurred_at", self.occurred_at.as_deref());
        let expires_at = c.timestamp("expires_at", self.expires_at.as_deref());
        let given_key = match (header_key, self.idempotency_key.as_deref()) {
            (Some(h), _) => Some(("Idempotency-Key", h)),
            (None, Some(b)) => Some(("idempotency_key", b)),
            (None, None) => None,
        };
        let given_key = given_key.and_then(|(field, k)| {
            IdempotencyKey::parse(k, limits.idempotency_key_chars)
                .map_err(|m| c.errors.push(field, m))
                .ok()
        });

        if let (Some(action), Some(changes)) = (action, changes.as_ref()) {
            check_lifecycle(&mut c.errors, action, changes);
        } else if matches!(action, Some(Action::Updated | Action::StateChanged)) {
            c.errors.push("changes", "is required for updated and state_changed events");
        }

        let (Some(event_type), Some(action), Some(priority), Some(source), Some(title)) =
            (event_type, action, priority, source, title)
        else {
            return Err(c.errors);
        };
        let (Some(actor), Some(entity)) =
            (actor.map_or(Some(None), |a| a.map(Some)), entity.map_or(Some(None), |e| e.map(Some)))
        else {
            return Err(c.errors);
        };
        let idempotency_key =
            given_key.or_else(|| IdempotencyKey::derive(&source, &event_type, occurred_at));
        c.errors.into_result(NewEvent {
            id,
            event_type,
            action,
            source,
            actor,
            entity,
            title,
            description,
            data,
            changes,
            priority,
            tags: clean_tags,
            correlation_id,
            causation_id,
            occurred_at,
            expires_at,
            idempotency_key,
        })
    }
}

/// The lifecycle shapes of SPEC section 3: `updated` lists only fields whose value changed;
/// `state_changed` carries the `state` field.
fn check_lifecycle(errors: &mut ValidationErrors, action: Action, changes: &[Change]) {
    match action {
        Action::Updated => {
            if changes.is_empty() {
                errors.push("changes", "must list at least one changed field for updated events");
            }
            for (i, ch) in changes.iter().enumerate() {
                if ch.old == ch.new {
                    errors.push(format!("changes[{i}]"), "old and new are equal: not a change");
                }
            }
        }
        Action::StateChanged if !changes.iter().any(|c| c.field == "state") => {
            errors.push("changes", "must include the `state` field for state_changed events");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<NewEvent, ValidationErrors> {
        let input: EventInput = serde_json::from_value(v).unwrap();
        input.validate(Uuid::nil(), None, &EventLimits::default())
    }

    #[test]
    fn audit_types_are_reserved() {
        let input: EventInput =
            serde_json::from_value(serde_json::json!({"type": "audit.key.created", "title": "x"}))
                .unwrap();
        let errors = input.validate(Uuid::now_v7(), None, &EventLimits::default()).unwrap_err();
        assert_eq!(errors.0[0].field, "type");
        assert!(errors.0[0].message.contains("reserved"));
    }

    #[test]
    fn minimal_event_gets_defaults() {
        let e = input(json!({"type": "task.created", "title": "  Hello\u{0} "})).unwrap();
        assert_eq!(e.title, "Hello");
        assert_eq!(e.action, Action::Custom);
        assert_eq!(e.priority, Priority::Normal);
        assert_eq!(e.source.system, "api");
        assert!(e.idempotency_key.is_none());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errs = input(json!({
            "type": "Bad Type", "title": "", "priority": "meh", "action": "exploded",
            "actor": {"name": "no id"}, "tags": ["", "ok"], "occurred_at": "noon",
            "data": [1, 2]
        }))
        .unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        for f in
            ["type", "title", "priority", "action", "actor.id", "tags[0]", "occurred_at", "data"]
        {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    /// NUL characters in free JSON are refused with the field named (text fields drop them),
    /// so no store is ever handed a string it cannot hold.
    #[test]
    fn nul_characters_in_free_json_are_refused() {
        for (field, body) in [
            ("data", json!({"type": "a.b", "title": "t", "data": {"k": "a\u{0}b"}})),
            ("data", json!({"type": "a.b", "title": "t", "data": {"deep": [{"k\u{0}": 1}]}})),
            (
                "changes",
                json!({"type": "a.b", "title": "t", "action": "updated",
                       "changes": [{"field": "f", "old": "x", "new": "\u{0}"}]}),
            ),
        ] {
            let errs = input(body).unwrap_err();
            assert!(
                errs.0.iter().any(|e| e.field == field && e.message.contains("NUL")),
                "{errs:?}"
            );
        }
        assert!(input(json!({"type": "a.b", "title": "t", "data": {"k": "fine \\u0000"}})).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<EventInput, _> =
            serde_json::from_value(json!({"type": "a", "title": "t", "tenant": "other"}));
        assert!(r.is_err());
    }

    #[test]
    fn header_key_wins_over_body_key() {
        let i: EventInput =
            serde_json::from_value(json!({"type": "a", "title": "t", "idempotency_key": "body"}))
                .unwrap();
        let e = i.validate(Uuid::nil(), Some("header"), &EventLimits::default()).unwrap();
        assert_eq!(e.idempotency_key.unwrap().as_str(), "header");
    }

    #[test]
    fn key_is_derived_from_source_object() {
        let a = input(json!({"type": "a", "title": "t",
            "source": {"system": "github", "object_id": "42", "object_type": "issue"}}))
        .unwrap();
        assert!(a.idempotency_key.unwrap().as_str().starts_with("derived:"));
    }

    #[test]
    fn lifecycle_shapes_are_checked() {
        assert!(input(json!({"type": "a", "title": "t", "action": "updated"})).is_err());
        assert!(input(json!({"type": "a", "title": "t", "action": "updated",
            "changes": [{"field": "x", "old": 1, "new": 1}]}))
        .is_err());
        assert!(input(json!({"type": "a", "title": "t", "action": "state_changed",
            "changes": [{"field": "status", "old": "a", "new": "b"}]}))
        .is_err());
        assert!(input(json!({"type": "a", "title": "t", "action": "state_changed",
            "changes": [{"field": "state", "old": "a", "new": "b"}]}))
        .is_ok());
    }

    #[test]
    fn oversized_data_is_refused() {
        let big = "x".repeat(70 * 1024);
        assert!(input(json!({"type": "a", "title": "t", "data": {"big": big}})).is_err());
    }
}
