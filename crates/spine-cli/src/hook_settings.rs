//! Claude Code's `settings.json`, as `spine hook install` and `uninstall` change it: the hook
//! entries for every event Spine records are added beside whatever is there (other hooks and
//! settings kept, nothing added twice), and removed again without touching anything else.
//!
//! A settings file holds `{"hooks": {"<Event>": [{"matcher": "...", "hooks": [<hook>...]}]}}`.
//! A Spine hook is a `command` hook running `<path>/spine hook claude-code`, or an `http` hook
//! posting to a channel's `/v1/ingest/...` URL with the key from `$SPINE_KEY`.

use serde_json::{json, Map, Value};

/// The events Spine records, and whether they take a tool matcher.
pub const EVENTS: [(&str, bool); 8] = [
    ("PreToolUse", true),
    ("PostToolUse", true),
    ("PostToolUseFailure", true),
    ("UserPromptSubmit", false),
    ("SessionStart", false),
    ("SessionEnd", false),
    ("Stop", false),
    ("Notification", false),
];

/// The hook Spine installs for every event.
#[derive(Debug, Clone, PartialEq)]
pub enum SpineHook {
    /// `type: command`, running this command line.
    Command(String),
    /// `type: http`, posting to this URL with `Authorization: Bearer $SPINE_KEY`.
    Http(String),
}

impl SpineHook {
    /// The hook's JSON as Claude Code reads it.
    pub fn to_json(&self) -> Value {
        match self {
            SpineHook::Command(command) => {
                json!({"type": "command", "command": command, "timeout": 5})
            }
            SpineHook::Http(url) => json!({
                "type": "http",
                "url": url,
                "headers": {"Authorization": "Bearer $SPINE_KEY"},
                "allowedEnvVars": ["SPINE_KEY"],
                "timeout": 5,
            }),
        }
    }
}

/// Whether a hook is one Spine installed (by this or an earlier version, at any path).
pub fn is_spine_hook(hook: &Value) -> bool {
    match hook.get("type").and_then(Value::as_str) {
        Some("command") => hook.get("command").and_then(Value::as_str).is_some_and(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            words.len() == 3
                && words[1..] == ["hook", "claude-code"]
                && words[0].trim_matches(['"', '\'']).rsplit('/').next() == Some("spine")
        }),
        Some("http") => {
            let url = hook.get("url").and_then(Value::as_str).unwrap_or_default();
            let env = hook.get("allowedEnvVars").and_then(Value::as_array);
            url.contains("/v1/ingest/")
                && env.is_some_and(|vars| vars.iter().any(|v| v.as_str() == Some("SPINE_KEY")))
        }
        _ => false,
    }
}

/// Why a settings file cannot be changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses a settings file's text (an empty file is empty settings).
pub fn parse(text: &str) -> Result<Map<String, Value>, Malformed> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(settings)) => {
            check_shape(&settings)?;
            Ok(settings)
        }
        Ok(_) => Err(Malformed("it is not a JSON object".into())),
        Err(e) => Err(Malformed(format!("it is not valid JSON ({e})"))),
    }
}

/// Refuses a `hooks` value this code would have to guess about.
fn check_shape(settings: &Map<String, Value>) -> Result<(), Malformed> {
    let Some(hooks) = settings.get("hooks") else { return Ok(()) };
    let hooks = hooks.as_object().ok_or_else(|| Malformed("`hooks` is not an object".into()))?;
    for (event, groups) in hooks {
        let groups =
            groups.as_array().ok_or_else(|| Malformed(format!("`hooks.{event}` is not a list")))?;
        for group in groups {
            let inner = group.get("hooks").and_then(Value::as_array);
            if !group.is_object() || inner.is_none() {
                return Err(Malformed(format!(
                    "an entry of `hooks.{event}` is not {{\"matcher\", \"hooks\": [...]}}"
                )));
            }
        }
    }
    Ok(())
}

/// Adds `hook` to every event of [`EVENTS`] that lacks it; whether anything changed.
pub fn install(settings: &mut Map<String, Value>, hook: &SpineHook) -> bool {
    let wanted = hook.to_json();
    let hooks = settings.entry("hooks").or_insert_with(|| Value::Object(Map::new()));
    let Some(hooks) = hooks.as_object_mut() else { return false };
    let mut changed = false;
    for (event, matcher) in EVENTS {
        let groups = hooks.entry(event).or_insert_with(|| Value::Array(Vec::new()));
        let Some(groups) = groups.as_array_mut() else { continue };
        let present = groups
            .iter()
            .filter_map(|g| g.get("hooks").and_then(Value::as_array))
            .flatten()
            .any(|h| h == &wanted);
        if present {
            continue;
        }
        // An earlier Spine hook (another path, or the other variant) is replaced.
        for group in groups.iter_mut() {
            if let Some(inner) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                inner.retain(|h| !is_spine_hook(h));
            }
        }
        groups.retain(|g| g.get("hooks").and_then(Value::as_array).is_some_and(|h| !h.is_empty()));
        let mut group = Map::new();
        if matcher {
            group.insert("matcher".into(), json!("*"));
        }
        group.insert("hooks".into(), json!([wanted.clone()]));
        groups.push(Value::Object(group));
        changed = true;
    }
    changed
}

/// Removes every Spine hook, and the groups and events it leaves empty; whether anything
/// changed.
pub fn uninstall(settings: &mut Map<String, Value>) -> bool {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut changed = false;
    for groups in hooks.values_mut() {
        let Some(groups) = groups.as_array_mut() else { continue };
        for group in groups.iter_mut() {
            if let Some(inner) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                let before = inner.len();
                inner.retain(|h| !is_spine_hook(h));
                changed |= inner.len() != before;
            }
        }
        groups.retain(|g| g.get("hooks").and_then(Value::as_array).is_none_or(|h| !h.is_empty()));
    }
    hooks.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
    if hooks.is_empty() {
        settings.remove("hooks");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND: &str = "/usr/local/bin/spine hook claude-code";

    fn existing() -> Map<String, Value> {
        parse(
            r#"{"model": "opus", "permissions": {"allow": ["Bash(npm test)"]},
                "hooks": {"PostToolUse": [{"matcher": "Edit|Write",
                    "hooks": [{"type": "command", "command": "prettier --write"}]}],
                          "PreCompact": [{"hooks": [{"type": "command", "command": "echo hi"}]}]}}"#,
        )
        .expect("valid")
    }

    #[test]
    fn install_adds_every_event_once_and_keeps_the_rest() {
        let mut s = existing();
        let before = s.clone();
        assert!(install(&mut s, &SpineHook::Command(COMMAND.into())));
        let again = s.clone();
        assert!(!install(&mut s, &SpineHook::Command(COMMAND.into())), "twice changes nothing");
        assert_eq!(s, again);
        for (event, matcher) in EVENTS {
            let groups = s["hooks"][event].as_array().expect(event);
            let ours: Vec<&Value> = groups
                .iter()
                .filter(|g| g["hooks"].as_array().is_some_and(|h| h.iter().any(is_spine_hook)))
                .collect();
            assert_eq!(ours.len(), 1, "{event}");
            assert_eq!(ours[0].get("matcher").is_some(), matcher, "{event}");
        }
        assert_eq!(s["hooks"]["PostToolUse"][0], before["hooks"]["PostToolUse"][0]);
        assert_eq!(s["hooks"]["PreCompact"], before["hooks"]["PreCompact"]);
        assert_eq!((&s["model"], &s["permissions"]), (&before["model"], &before["permissions"]));

        // The http variant replaces the command one; uninstall restores the original exactly.
        let http = SpineHook::Http("http://127.0.0.1:7070/v1/ingest/ch_1".into());
        assert!(install(&mut s, &http));
        let spine_hooks: usize = s["hooks"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|g| g.as_array().unwrap())
            .flat_map(|g| g["hooks"].as_array().unwrap())
            .filter(|h| is_spine_hook(h))
            .count();
        assert_eq!(spine_hooks, EVENTS.len());
        assert!(uninstall(&mut s));
        assert_eq!(s, before);
        assert!(!uninstall(&mut s), "nothing left to remove");
        let mut empty = Map::new();
        install(&mut empty, &http);
        uninstall(&mut empty);
        assert!(empty.is_empty(), "{empty:?}");
    }

    #[test]
    fn only_spine_hooks_are_recognised() {
        assert!(is_spine_hook(&SpineHook::Command(COMMAND.into()).to_json()));
        assert!(is_spine_hook(&json!({"type": "command", "command": "spine hook claude-code"})));
        for other in [
            json!({"type": "command", "command": "prettier --write"}),
            json!({"type": "command", "command": "myspine hook claude-code"}),
            json!({"type": "command", "command": "spine hook claude-code && rm -rf x"}),
            json!({"type": "http", "url": "https://example.com/hook"}),
        ] {
            assert!(!is_spine_hook(&other), "{other}");
        }
    }

    #[test]
    fn malformed_settings_are_refused() {
        assert_eq!(parse("  ").map(|m| m.len()), Ok(0));
        for bad in [
            "{",
            "[]",
            r#"{"hooks": []}"#,
            r#"{"hooks": {"Stop": {}}}"#,
            r#"{"hooks": {"Stop": [1]}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
