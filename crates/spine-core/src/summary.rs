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

/// One piece of a template: literal text, or the path inside a `{path}` placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Splits a template into its pieces: a `{` opens a placeholder that runs to the next `}`; a `{`
/// without a closing `}` is literal text. Validation, rendering and the fallback rule of
/// [`summarize`] all read a template through this one function, so they agree on its placeholders.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            break;
        };
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        out.push(Piece::Placeholder(&after[..close]));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The `{path}` placeholders of a template.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    pieces(template).into_iter().filter_map(|piece| match piece {
        Piece::Placeholder(path) => Some(path),
        Piece::Text(_) => None,
    })
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
///
/// This is the raw rendering: it may leave dangling text such as `completed ""` when a value is
/// missing. Summaries should come from [`summarize`], which falls back to [`default_summary`].
pub fn render_template(template: &str, event: &Event) -> String {
    let json = serde_json::to_value(event).unwrap_or(Value::Null);
    render(template, &json, |_| {})
}

/// Renders `template` against the event's JSON form, calling `seen` with each placeholder's
/// value (`None` when it has none), and strips control characters from the result.
fn render(template: &str, json: &Value, mut seen: impl FnMut(Option<&str>)) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder(path) => {
                let value = lookup(json, path);
                seen(value.as_deref());
                out.push_str(value.as_deref().unwrap_or_default());
            }
        }
    }
    out.chars().filter(|c| !c.is_control()).take(1024).collect()
}

/// Whether a placeholder's value counts as a value: present, not null, and not blank once
/// control characters (which rendering drops) are removed and whitespace is trimmed.
fn has_text(value: Option<&str>) -> bool {
    value.is_some_and(|v| !one_line(v).is_empty())
}

/// `s` trimmed and without control characters, as rendering treats values.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned()
}

/// The work pipeline's own events (SPEC section 7), which Spine writes with `source.system`
/// `spine`: a job's transition reads as its title ("Processing \"Call\" in calls (attempt 1 of
/// 5)"), a note as its author writing on the entity. `None` for every other event.
fn pipeline_summary(e: &Event) -> Option<String> {
    if e.source.system != "spine" {
        return None;
    }
    match (e.event_type.as_str(), e.source.object_type.as_deref()) {
        (t, Some("job")) if t.starts_with("job.") => Some(e.title.clone()),
        ("note.created", Some("note")) => {
            let author = e.actor.as_ref().map_or("Someone", |a| a.display());
            Some(match &e.entity {
                Some(entity) => format!(
                    "{author} wrote a note on {} \"{}\"",
                    entity.entity_type,
                    entity.display()
                ),
                None => format!("{author} wrote a note"),
            })
        }
        _ => None,
    }
}

/// A coding agent's tool calls (the `claude-code` provider's events) as a sentence:
/// `Claude ran Bash "cargo test" (2.3 s)`, `Claude edited src/lib.rs`. `None` for other events.
fn agent_summary(e: &Event) -> Option<String> {
    if e.source.system != "claude-code" {
        return None;
    }
    let data = e.data.as_ref()?;
    let tool = data.get("tool_name").and_then(Value::as_str)?;
    let took = match data.get("duration_ms").and_then(Value::as_u64) {
        Some(ms) if ms < 1000 => format!(" ({ms} ms)"),
        Some(ms) => format!(" ({:.1} s)", ms as f64 / 1000.0),
        None => String::new(),
    };
    let input = |name: &str| {
        data.get("input").and_then(|i| i.get(name)).and_then(Value::as_str).map(one_line)
    };
    // The title names the path relative to the session's directory: `Edit src/lib.rs`.
    let path = e.title.strip_prefix(tool).map(str::trim).filter(|p| !p.is_empty());
    let what = match (tool, input("command"), path) {
        ("Bash", Some(command), _) => format!("Bash \"{}\"", clip_chars(&command, 120)),
        ("Edit" | "MultiEdit" | "NotebookEdit", _, Some(path)) => format!("edit of {path}"),
        ("Write", _, Some(path)) => format!("write of {path}"),
        ("Read", _, Some(path)) => format!("read of {path}"),
        _ => tool.to_owned(),
    };
    Some(match (e.event_type.as_str(), tool, path) {
        ("agent.tool.started", ..) => format!("Claude started {what}"),
        ("agent.tool.failed", ..) => format!("Claude's {what} failed{took}"),
        ("agent.tool.finished", "Bash", _) => format!("Claude ran {what}{took}"),
        ("agent.tool.finished", "Edit" | "MultiEdit" | "NotebookEdit", Some(path)) => {
            format!("Claude edited {path}{took}")
        }
        ("agent.tool.finished", "Write", Some(path)) => format!("Claude wrote {path}{took}"),
        ("agent.tool.finished", "Read", Some(path)) => format!("Claude read {path}{took}"),
        ("agent.tool.finished", ..) => format!("Claude used {what}{took}"),
        _ => return None,
    })
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn clip_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    s.chars().take(max - 1).chain(['…']).collect()
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
            // The new state is free JSON, not cleaned at validation: an empty, blank or null
            // state reads as "changed the state of" rather than leaving `to ` dangling.
            let state = e
                .changes
                .iter()
                .flatten()
                .find(|c| c.field == "state")
                .and_then(|c| match &c.new {
                    Value::Null => None,
                    Value::String(s) => Some(one_line(s)),
                    other => Some(other.to_string()),
                })
                .filter(|s| !s.is_empty());
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

/// The summary for `event`: the registered template when it renders completely, else the default.
///
/// The rule: a template is used only when **every** placeholder in it has a value. A placeholder
/// has no value when its path is missing from the event, is `null`, or is an empty string after
/// trimming (control characters, which rendering drops, do not count). `{x.name}` falls back to
/// `{x.id}` first, so an actor or entity without a name but with an id counts as present. If any
/// placeholder has no value, the template is not used at all and [`default_summary`] is returned
/// instead: dropping just the empty part would leave half-sentences such as ` created task ""`,
/// while the default summary always reads naturally. The result is trimmed, and a template that
/// renders to blank text also gives the default. [`render_template`] remains available for the
/// raw rendering.
///
/// For example, with the template `{actor.name} created task "{entity.name}"`, an event with an
/// actor `{"id": "u1", "name": "Ana"}` and no entity gets the default summary (`Ana: <title>`
/// for a `custom` event), never `Ana created task ""`.
pub fn summarize(event: &Event, info: Option<&TypeInfo>) -> String {
    let Some(template) = info.and_then(|i| i.summary_template.as_deref()) else {
        return pipeline_summary(event)
            .or_else(|| agent_summary(event))
            .unwrap_or_else(|| default_summary(event));
    };
    let json = serde_json::to_value(event).unwrap_or(Value::Null);
    let mut complete = true;
    let rendered = render(template, &json, |value| complete &= has_text(value));
    let rendered = rendered.trim();
    if complete && !rendered.is_empty() {
        rendered.to_owned()
    } else {
        default_summary(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Seq, TenantId};
    use crate::input::{EventInput, EventLimits};
    use crate::time::Timestamp;
    use proptest::prelude::*;
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
    fn the_pipelines_events_read_as_their_titles_and_notes_as_writing() {
        let note =
            event(json!({"type": "note.created", "action": "created", "title": "Wants a quote",
            "source": {"system": "spine", "object_type": "note", "object_id": "n1"},
            "actor": {"id": "bot", "name": "Summariser", "kind": "agent"},
            "entity": {"type": "contact", "id": "c1", "name": "Ann"}}));
        assert_eq!(summarize(&note, None), "Summariser wrote a note on contact \"Ann\"");
        let job = event(json!({"type": "job.processing", "action": "custom",
            "title": "Processing \"Call\" in calls (attempt 1 of 5)",
            "source": {"system": "spine", "object_type": "job", "object_id": "j1"},
            "entity": {"type": "contact", "id": "c1"}}));
        assert_eq!(summarize(&job, None), "Processing \"Call\" in calls (attempt 1 of 5)");
        // The same types from another system, or with a tenant's template, are not special.
        let mut other = note.clone();
        other.source.system = "crm".into();
        assert_eq!(summarize(&other, None), "Summariser created contact \"Ann\"");
        assert_eq!(summarize(&note, Some(&typed("{actor.name} noted"))), "Summariser noted");
    }

    #[test]
    fn a_coding_agents_tool_calls_read_as_sentences() {
        let call = |ty: &str, title: &str, data: Value| {
            event(json!({"type": ty, "title": title, "source": {"system": "claude-code"},
                "actor": {"id": "claude-code", "kind": "agent"},
                "entity": {"type": "agent_session", "id": "s1"}, "data": data}))
        };
        let bash =
            json!({"tool_name": "Bash", "input": {"command": "cargo test"}, "duration_ms": 2300});
        assert_eq!(
            summarize(&call("agent.tool.finished", "Bash: cargo test", bash.clone()), None),
            "Claude ran Bash \"cargo test\" (2.3 s)"
        );
        assert_eq!(
            summarize(&call("agent.tool.failed", "Failed: Bash: cargo test", bash), None),
            "Claude's Bash \"cargo test\" failed (2.3 s)"
        );
        let edit = json!({"tool_name": "Edit", "input": {"file_path": "/p/src/lib.rs"}, "duration_ms": 40});
        assert_eq!(
            summarize(&call("agent.tool.finished", "Edit src/lib.rs", edit.clone()), None),
            "Claude edited src/lib.rs (40 ms)"
        );
        assert_eq!(
            summarize(&call("agent.tool.started", "Edit src/lib.rs", edit), None),
            "Claude started edit of src/lib.rs"
        );
        let grep = json!({"tool_name": "Grep", "input": {"pattern": "fn main"}});
        assert_eq!(
            summarize(&call("agent.tool.finished", "Grep: fn main", grep), None),
            "Claude used Grep"
        );
        let prompt = call("agent.prompt", "Prompt: hi", json!({}));
        assert_eq!(summarize(&prompt, None), default_summary(&prompt), "not a tool call");
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

    const CREATED: &str = "{actor.name} created task \"{entity.name}\"";

    fn typed(template: &str) -> TypeInfo {
        TypeInfo { summary_template: Some(template.into()), ..Default::default() }
    }

    /// The newcomer case: the template needs an actor and an entity; whatever is missing, the
    /// summary never reads ` created task ""`.
    #[test]
    fn template_with_missing_actor_or_entity_falls_back_to_the_default() {
        let info = typed(CREATED);
        let ana = json!({"id": "u1", "name": "Ana"});
        let task = json!({"type": "task", "id": "7", "name": "Update docs"});

        let neither =
            event(json!({"type": "task.created", "action": "created", "title": "New task"}));
        assert_eq!(render_template(CREATED, &neither), " created task \"\"");
        assert_eq!(summarize(&neither, Some(&info)), "New task");

        let actor_only = event(json!({"type": "task.created", "action": "created",
            "title": "New task", "actor": ana}));
        assert_eq!(summarize(&actor_only, Some(&info)), "Ana: New task");

        let entity_only = event(json!({"type": "task.created", "action": "created",
            "title": "New task", "entity": task}));
        assert_eq!(summarize(&entity_only, Some(&info)), "Someone created task \"Update docs\"");

        let both = event(json!({"type": "task.created", "action": "created",
            "title": "New task", "actor": ana, "entity": task}));
        assert_eq!(summarize(&both, Some(&info)), "Ana created task \"Update docs\"");
    }

    /// Names fall back to ids before the rule applies: an id alone counts as a value.
    #[test]
    fn names_missing_but_ids_present_still_use_the_template() {
        let e = event(json!({"type": "task.created", "action": "created", "title": "x",
            "actor": {"id": "u1"}, "entity": {"type": "task", "id": "7"}}));
        assert_eq!(summarize(&e, Some(&typed(CREATED))), "u1 created task \"7\"");
    }

    #[test]
    fn missing_null_or_blank_data_falls_back_to_the_default() {
        let info = typed("{actor.name} completed \"{entity.name}\" ({data.points} pts)");
        let base = json!({"type": "task.completed", "title": "Done", "actor": {"id": "u1", "name": "Ana"},
            "entity": {"type": "task", "id": "7", "name": "Ship"}});
        let with = |data: Value| {
            let mut body = base.clone();
            body["data"] = data;
            event(body)
        };
        for data in [
            Value::Null,
            json!({"other": 1}),
            json!({"points": null}),
            json!({"points": ""}),
            json!({"points": "  "}),
            json!({"points": "\u{7}"}),
        ] {
            let e = with(data.clone());
            assert_eq!(summarize(&e, Some(&info)), "Ana: Done", "data {data}");
        }
        assert_eq!(
            summarize(&with(json!({"points": 3})), Some(&info)),
            "Ana completed \"Ship\" (3 pts)"
        );
        assert_eq!(
            summarize(&with(json!({"points": 0})), Some(&info)),
            "Ana completed \"Ship\" (0 pts)"
        );
    }

    #[test]
    fn summaries_are_trimmed_and_blank_renderings_use_the_default() {
        let e = event(json!({"type": "a.b", "title": "Built", "data": {"v": "  v2 "}}));
        assert_eq!(summarize(&e, Some(&typed("{data.v} shipped"))), "v2  shipped");
        assert_eq!(summarize(&e, Some(&typed("\u{7}"))), "Built");
        assert_eq!(summarize(&e, None), "Built");
    }

    /// A state that is blank or null reads as "changed the state of", not `to ` with nothing.
    #[test]
    fn default_summary_of_a_blank_state() {
        for new in [json!(""), json!(" \n"), Value::Null] {
            let e = event(json!({"type": "task.moved", "action": "state_changed", "title": "x",
                "entity": {"type": "task", "id": "1"},
                "changes": [{"field": "state", "old": "open", "new": new}]}));
            assert_eq!(default_summary(&e), "Someone changed the state of task \"1\"");
        }
    }

    /// Validation and rendering read placeholders the same way: `{x{actor.name}` is one
    /// placeholder, `x{actor.name`, which is refused, not a valid `{actor.name}`.
    #[test]
    fn validation_and_rendering_agree_on_placeholders() {
        assert!(typed("{x{actor.name}").validate().is_err());
        assert!(typed("{{actor.name}}").validate().is_err());
        assert!(typed("{actor.name} done {").validate().is_ok());
        let e = event(json!({"type": "a.b", "title": "t", "actor": {"id": "u1"}}));
        assert_eq!(summarize(&e, Some(&typed("{actor.name} done {"))), "u1 done {");
    }

    /// What the generated events hold for `data.x`.
    #[derive(Debug, Clone)]
    enum DataX {
        NoData,
        Other,
        Null,
        Empty,
        Blank,
        Control,
        Text(String),
        Number(i64),
    }

    /// Templates a tenant might register, quoting placeholders or not.
    const TEMPLATES: &[&str] = &[
        CREATED,
        "{actor.name} completed \"{entity.name}\" ({data.x} pts)",
        "\"{title}\" by {actor.id}",
        "{entity.type} \"{entity.name}\" is now {data.x}",
        "Deploy of {data.x} finished",
        "{actor.name}: {title}",
        "{title}",
        "Build {source.object_id} done",
        "{action} {entity.type} {entity.id} ({priority})",
        "Nothing to fill",
    ];

    fn arb_name() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]([A-Za-z0-9 ]{0,10}[A-Za-z0-9])?"
    }

    fn arb_data() -> impl Strategy<Value = DataX> {
        prop_oneof![
            Just(DataX::NoData),
            Just(DataX::Other),
            Just(DataX::Null),
            Just(DataX::Empty),
            Just(DataX::Blank),
            Just(DataX::Control),
            arb_name().prop_map(DataX::Text),
            any::<i64>().prop_map(DataX::Number),
        ]
    }

    /// What a placeholder should show, worked out from the inputs rather than the event's JSON.
    fn expected_value(
        path: &str,
        actor: Option<&(String, Option<String>)>,
        entity: Option<&(String, String, Option<String>)>,
        data: &DataX,
        title: &str,
        action: &str,
    ) -> Option<String> {
        match path {
            "actor.id" => actor.map(|a| a.0.clone()),
            "actor.name" => actor.map(|a| a.1.clone().unwrap_or_else(|| a.0.clone())),
            "entity.type" => entity.map(|e| e.0.clone()),
            "entity.id" => entity.map(|e| e.1.clone()),
            "entity.name" => entity.map(|e| e.2.clone().unwrap_or_else(|| e.1.clone())),
            "data.x" => match data {
                DataX::Text(t) => Some(t.clone()),
                DataX::Number(n) => Some(n.to_string()),
                _ => None,
            },
            "title" => Some(title.to_owned()),
            "action" => Some(action.to_owned()),
            "priority" => Some("normal".to_owned()),
            _ => None,
        }
    }

    proptest! {
        #[test]
        fn summaries_never_dangle(
            template in prop::sample::select(TEMPLATES),
            actor in prop::option::of(("[a-z0-9]{1,8}", prop::option::of(arb_name()))),
            entity in prop::option::of(("[a-z]{1,8}", "[a-z0-9]{1,8}", prop::option::of(arb_name()))),
            data in arb_data(),
            title in arb_name(),
            action in prop::sample::select(Action::NAMES),
            state in prop_oneof![Just(json!("done")), Just(json!("")), Just(json!(" ")), Just(Value::Null)],
        ) {
            let mut body = json!({"type": "task.any", "action": action, "title": title});
            if let Some((id, name)) = &actor {
                body["actor"] = json!({"id": id});
                if let Some(n) = name { body["actor"]["name"] = json!(n); }
            }
            if let Some((kind, id, name)) = &entity {
                body["entity"] = json!({"type": kind, "id": id});
                if let Some(n) = name { body["entity"]["name"] = json!(n); }
            }
            body["data"] = match &data {
                DataX::NoData => Value::Null,
                DataX::Other => json!({"y": 1}),
                DataX::Null => json!({"x": null}),
                DataX::Empty => json!({"x": ""}),
                DataX::Blank => json!({"x": "   "}),
                DataX::Control => json!({"x": "\u{1b}"}),
                DataX::Text(t) => json!({"x": t}),
                DataX::Number(n) => json!({"x": n}),
            };
            if matches!(action, "updated" | "state_changed") {
                body["changes"] = json!([{"field": "state", "old": "open", "new": state}]);
            }
            let e = event(body);
            let summary = summarize(&e, Some(&typed(template)));

            prop_assert!(!summary.is_empty());
            prop_assert_eq!(summary.trim(), summary.as_str());
            if template.contains("\"{") {
                prop_assert!(!summary.contains("\"\""), "{:?}", summary);
            }
            let values: Option<Vec<String>> = placeholders(template)
                .map(|p| expected_value(p, actor.as_ref(), entity.as_ref(), &data, &title, action))
                .collect();
            match values {
                Some(values) => {
                    let mut full = template.to_owned();
                    for (path, value) in placeholders(template).zip(values) {
                        full = full.replacen(&format!("{{{path}}}"), &value, 1);
                    }
                    prop_assert_eq!(&summary, &full);
                    prop_assert_eq!(&summary, &render_template(template, &e));
                }
                None => prop_assert_eq!(&summary, &default_summary(&e)),
            }
        }
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
