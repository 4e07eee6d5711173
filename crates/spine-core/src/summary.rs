//! Presentation of event types (SPEC section 9): what a tenant registers for a type, and the
//! summary renderer, with a sensible default for unregistered types.

use crate::event::{Action, Event};
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A registered type's presentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeInfo {
    /// Human label, e.g. "Task completed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Icon name for the Activity Center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Whether the UI should highlight it.
    #[serde(default)]
    pub important: bool,
    /// e.g. `{actor.name} completed "{entity.name}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_template: Option<String>,
}

const ROOTS: &[&str] =
    &["actor", "entity", "source", "data", "title", "type", "action", "priority"];

impl TypeInfo {
    /// Checks lengths, the colour's syntax and the template's placeholders.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if self.label.as_ref().is_some_and(|l| l.trim().is_empty() || l.chars().count() > 128) {
            errors.push("label", "must be 1-128 characters");
        }
        if self.icon.as_ref().is_some_and(|i| !crate::text::is_dotted_name(i, 64)) {
            errors.push("icon", "must be a lower-case icon name of up to 64 characters");
        }
        let hex_color = |c: &str| {
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
        };
        if self.color.as_deref().is_some_and(|c| !hex_color(c)) {
            errors.push("color", "must be a #rrggbb colour");
        }
        if let Some(t) = &self.summary_template {
            if t.trim().is_empty() || t.chars().count() > 512 {
                errors.push("summary_template", "must be 1-512 characters");
            }
            for path in placeholders(t) {
                let root = path.split('.').next().unwrap_or_default();
                if !ROOTS.contains(&root) {
                    errors.push(
                        "summary_template",
                        format!(
                            "unknown placeholder {{{path}}}; paths start with {}",
                            ROOTS.join(", ")
                        ),
                    );
                }
            }
        }
        errors.into_result(())
    }
}

/// The `{path}` placeholders of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|part| part.split_once('}').map(|(p, _)| p))
}

/// Looks up a dotted path in the event's JSON form; names fall back to ids.
fn lookup(event: &Value, path: &str) -> Option<String> {
    let direct =
        path.split('.').try_fold(event, |node, part| node.get(part)).and_then(|node| match node {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        });
    direct.or_else(|| path.strip_suffix(".name").and_then(|p| lookup(event, &format!("{p}.id"))))
}

/// Renders `template` for `event`; unknown or missing values render as empty text.
pub fn render_template(template: &str, event: &Event) -> String {
    let json = serde_json::to_value(event).unwrap_or(Value::Null);
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push_str(&lookup(&json, &after[..close]).unwrap_or_default());
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.chars().filter(|c| !c.is_control()).take(1024).collect()
}

/// The default one-line summary, e.g. `Ana created task "Update docs"`.
pub fn default_summary(e: &Event) -> String {
    let subject = e.actor.as_ref().map(|a| a.display().to_owned());
    let Some(entity) = &e.entity else {
        return match subject {
            Some(s) => format!("{s}: {}", e.title),
            None => e.title.clone(),
        };
    };
    let thing = format!("{} \"{}\"", entity.entity_type, entity.display());
    let subject = subject.unwrap_or_else(|| "Someone".to_owned());
    match e.action {
        Action::Created => format!("{subject} created {thing}"),
        Action::Deleted => format!("{subject} deleted {thing}"),
        Action::Updated => {
            let fields: Vec<&str> =
                e.changes.iter().flatten().map(|c| c.field.as_str()).take(5).collect();
            if fields.is_empty() {
                format!("{subject} updated {thing}")
            } else {
                format!("{subject} updated {thing} ({})", fields.join(", "))
            }
        }
        Action::StateChanged => {
            let state =
                e.changes.iter().flatten().find(|c| c.field == "state").map(|c| match &c.new {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            match state {
                Some(s) => format!("{subject} moved {thing} to {s}"),
                None => format!("{subject} changed the state of {thing}"),
            }
        }
        Action::Custom => match &e.actor {
            Some(_) => format!("{subject}: {}", e.title),
            None => e.title.clone(),
        },
    }
}

/// The summary for `event`: the registered template when there is one, else the default.
pub fn summarize(event: &Event, info: Option<&TypeInfo>) -> String {
    match info.and_then(|i| i.summary_template.as_deref()) {
        Some(t) => {
            let rendered = render_template(t, event);
            if rendered.trim().is_empty() {
                default_summary(event)
            } else {
                rendered
            }
        }
        None => default_summary(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Seq, TenantId};
    use crate::input::{EventInput, EventLimits};
    use crate::time::Timestamp;
    use serde_json::json;
    use uuid::Uuid;

    fn event(v: Value) -> Event {
        serde_json::from_value::<EventInput>(v)
            .unwrap()
            .validate(Uuid::nil(), None, &EventLimits::default())
            .unwrap()
            .commit(
                TenantId::parse("t").unwrap(),
                Seq(1),
                Timestamp::from_micros(0).unwrap(),
                String::new(),
            )
    }

    #[test]
    fn default_summaries_read_naturally() {
        let e = event(json!({"type": "task.created", "action": "created", "title": "x",
            "actor": {"id": "u1", "name": "Ana"}, "entity": {"type": "task", "id": "1", "name": "Update docs"}}));
        assert_eq!(default_summary(&e), "Ana created task \"Update docs\"");
        let e = event(json!({"type": "task.moved", "action": "state_changed", "title": "x",
            "actor": {"id": "u1"}, "entity": {"type": "task", "id": "1"},
            "changes": [{"field": "state", "old": "open", "new": "done"}]}));
        assert_eq!(default_summary(&e), "u1 moved task \"1\" to done");
        let e = event(json!({"type": "deploy.finished", "title": "Deployed v2"}));
        assert_eq!(default_summary(&e), "Deployed v2");
    }

    #[test]
    fn templates_fill_paths_and_fall_back_to_ids() {
        let e = event(json!({"type": "task.completed", "title": "x", "actor": {"id": "u7"},
            "entity": {"type": "task", "id": "1", "name": "Ship"}, "data": {"points": 3}}));
        assert_eq!(
            render_template("{actor.name} completed \"{entity.name}\" ({data.points} pts){", &e),
            "u7 completed \"Ship\" (3 pts){"
        );
    }

    #[test]
    fn template_validation() {
        let bad = TypeInfo {
            summary_template: Some("{secret.x}".into()),
            color: Some("red".into()),
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0.len(), 2);
        let good = TypeInfo {
            summary_template: Some("{actor.name} did it".into()),
            color: Some("#aabbcc".into()),
            ..Default::default()
        };
        assert!(good.validate().is_ok());
    }
}
