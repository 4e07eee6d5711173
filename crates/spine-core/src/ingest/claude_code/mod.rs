//! Claude Code hooks: the JSON a coding agent sends from its hooks (its `http` hook type, or
//! `spine hook claude-code` relaying a `command` hook's stdin), one event per hook call.
//!
//! Every hook input has `session_id`, `transcript_path`, `cwd` and `hook_event_name`; tool hooks
//! add `tool_name`, `tool_input` and `tool_use_id`, `PostToolUse` the `tool_response`,
//! `PostToolUseFailure` the `error`; `UserPromptSubmit` has the `prompt`, `SessionStart` its
//! `source`, `SessionEnd` its `reason`, `Notification` a `message`, `Stop` `stop_hook_active`.
//!
//! Events: `agent.session.started`, `agent.session.ended`, `agent.prompt`,
//! `agent.tool.started`, `agent.tool.finished`, `agent.tool.failed`, `agent.notification`,
//! `agent.stopped` (and `agent.<event>` for the other hooks, e.g. `agent.pre_compact`); the
//! actor is the agent `claude-code` (the user who ran it in `data.user`), the entity the session
//! (`agent_session/<session_id>`). Titles read like a terminal
//! history ("Bash: npm test", "Edit src/main.rs", "Prompt: ..."); `data` holds a short summary
//! of the tool's input (the command, the path, the pattern; never a file's contents).
//!
//! Everything is [`redact`]ed first (then by the channel's own patterns, and each content value
//! cut to its `max_chars`: see [`Privacy`]), so neither titles, descriptions, data, the ledger
//! nor the payload a mapping reads carry a token the agent typed or read. Authentication is a tenant ingest key
//! or the channel's key. Delivery ids: the session, the tool use and the hook name; without a
//! tool use, the session, the hook name and a hash of the body.

mod redact;

pub use redact::{is_secret_key, redact, REDACTED};

use super::generic::verify_channel_key;
use super::verify::VerifyError;
use super::{
    clip, dotted, str_at, Auth, Context, Draft, FailedAnswer, Received, Source, Stored, Unreadable,
};
use crate::channel::{Privacy, Provider};
use crate::idempotency::hex;
use crate::input::ChangeInput;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Tool input fields worth a summary: short, scalar, never contents.
const INPUT_FIELDS: [&str; 12] = [
    "command",
    "description",
    "file_path",
    "notebook_path",
    "path",
    "pattern",
    "glob",
    "url",
    "query",
    "subagent_type",
    "run_in_background",
    "replace_all",
];

/// The hook fields that hold content (what a tool read or wrote, what the user typed): each
/// string in them is cut to the channel's `max_chars`.
const CONTENT_FIELDS: [&str; 5] = ["tool_input", "tool_response", "prompt", "error", "message"];

/// The most characters of one tool input field kept in an event's `data` (the ledger keeps up
/// to the channel's `max_chars`), so a dozen of them stay well inside an event's size limit.
const INPUT_CHARS: usize = 1_000;

/// Hook fields copied into `data` as they are (short scalars); `user` is who ran the agent, as
/// `spine hook claude-code` adds it.
const HOOK_FIELDS: [&str; 11] = [
    "user",
    "cwd",
    "permission_mode",
    "source",
    "reason",
    "model",
    "notification_type",
    "stop_hook_active",
    "is_interrupt",
    "agent_type",
    "trigger",
];

/// The `claude-code` provider.
pub struct ClaudeCode;

impl Source for ClaudeCode {
    fn provider(&self) -> Provider {
        Provider::ClaudeCode
    }

    fn auth(&self) -> Auth {
        Auth::KeyOrChannelSecret
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["content-type"]
    }

    fn verify(&self, request: &Received<'_>, secrets: &[&[u8]]) -> Result<(), VerifyError> {
        verify_channel_key(request.headers, secrets)
    }

    /// The ledger keeps the hook input redacted and cut like the events made of it: a token
    /// the agent typed or read is nowhere in Spine. JSON keeps its shape; anything else is
    /// redacted as text.
    fn scrub(&self, body: &[u8], privacy: &Privacy) -> Vec<u8> {
        match serde_json::from_slice::<Value>(body) {
            Ok(mut hook) => {
                protect(&mut hook, privacy);
                serde_json::to_vec(&hook).unwrap_or_default()
            }
            Err(_) => {
                privacy.redact(&redact(&String::from_utf8_lossy(body)), REDACTED).into_bytes()
            }
        }
    }

    /// Each hook call's id is built from its body ([`Draft::delivery_id`]).
    fn delivery_id(&self, _: &Stored) -> Option<String> {
        None
    }

    fn normalize(&self, request: &Stored, context: &Context<'_>) -> Result<Vec<Draft>, Unreadable> {
        let mut hook = request.json()?;
        if !hook.is_object() {
            return Err(Unreadable("the hook input must be a JSON object".into()));
        }
        protect(&mut hook, context.privacy);
        let event = str_at(&hook, "/hook_event_name")
            .ok_or_else(|| Unreadable("hook_event_name is missing".into()))?
            .to_owned();
        let session = str_at(&hook, "/session_id")
            .ok_or_else(|| Unreadable("session_id is missing".into()))?
            .to_owned();
        let delivery = match str_at(&hook, "/tool_use_id") {
            Some(tool_use) => format!("{session} {tool_use} {event}"),
            None => {
                let digest = Sha256::digest(&request.body);
                format!("{session} {event} {}", hex(&digest[..16]))
            }
        };
        let input_chars = INPUT_CHARS.min(context.privacy.max_chars);
        Ok(vec![draft(&event, &session, hook, input_chars).delivery(delivery)])
    }

    fn failed_answer(&self) -> FailedAnswer {
        FailedAnswer::Reject
    }
}

/// Redacts a hook input (every string: the built-in redaction, then the channel's patterns),
/// then cuts each string of its content fields to the channel's `max_chars`. Redaction comes
/// first so that a secret is never cut into a piece too short to be recognized.
fn protect(hook: &mut Value, privacy: &Privacy) {
    redact_value(hook, privacy);
    if let Value::Object(fields) = hook {
        for name in CONTENT_FIELDS {
            if let Some(field) = fields.get_mut(name) {
                for_each_string(field, &mut |s| *s = privacy.truncate(s));
            }
        }
    }
}

/// Calls `f` on every string inside a JSON value.
fn for_each_string(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|item| for_each_string(item, f)),
        Value::Object(fields) => fields.values_mut().for_each(|field| for_each_string(field, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Redacts every string of a JSON value, and replaces whole the values of secret-sounding
/// keys (`"password": "..."`, `"api_key": 123`).
fn redact_value(value: &mut Value, privacy: &Privacy) {
    match value {
        Value::String(s) => *s = privacy.redact(&redact(s), REDACTED),
        Value::Array(items) => items.iter_mut().for_each(|item| redact_value(item, privacy)),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                let replaceable =
                    matches!(field, Value::String(_) | Value::Number(_) | Value::Array(_));
                if replaceable && is_secret_key(key) {
                    *field = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(field, privacy);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Spine's type and action for a hook. Only a session's end is a lifecycle change (its state
/// goes from `active` to `ended`, with the hook's `reason`); the rest are `custom`.
fn kind_of(event: &str) -> (String, Option<&'static str>) {
    let (name, action) = match event {
        "SessionStart" => ("session.started", None),
        "SessionEnd" => ("session.ended", Some("state_changed")),
        "UserPromptSubmit" => ("prompt", None),
        "PreToolUse" => ("tool.started", None),
        "PostToolUse" => ("tool.finished", None),
        "PostToolUseFailure" => ("tool.failed", None),
        "Notification" => ("notification", None),
        "Stop" => ("stopped", None),
        "SubagentStop" => ("subagent.stopped", None),
        other => return (format!("agent.{}", dotted(&snake_case(other))), None),
    };
    (format!("agent.{name}"), action)
}

/// `PreCompact` as `pre_compact`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().take(48).enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Text on one line, for a title.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A path relative to the session's directory when it lies inside it.
fn relative<'p>(path: &'p str, cwd: Option<&str>) -> &'p str {
    cwd.and_then(|cwd| path.strip_prefix(cwd.trim_end_matches('/')))
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(path)
}

/// What a tool call did, as a terminal would show it: `Bash: npm test`, `Edit src/main.rs`.
fn tool_summary(tool: &str, input: &Value, cwd: Option<&str>) -> String {
    let field = |name: &str| str_at(input, &format!("/{name}")).map(one_line);
    let path = |name: &str| str_at(input, &format!("/{name}")).map(|p| relative(p, cwd).to_owned());
    let summary = match tool {
        "Bash" => field("command").map(|c| format!("Bash: {c}")),
        "Edit" | "MultiEdit" | "Write" | "Read" => path("file_path").map(|p| format!("{tool} {p}")),
        "NotebookEdit" => path("notebook_path").map(|p| format!("{tool} {p}")),
        "Grep" | "Glob" => field("pattern").map(|p| format!("{tool}: {p}")),
        "WebFetch" => field("url").map(|u| format!("{tool}: {u}")),
        "WebSearch" => field("query").map(|q| format!("{tool}: {q}")),
        "Task" | "Agent" => field("description").map(|d| format!("{tool}: {d}")),
        _ => None,
    };
    clip(&summary.unwrap_or_else(|| tool.to_owned()), 200)
}

/// The short, bounded summary of a tool's input kept in `data`.
fn input_summary(input: &Value, max_chars: usize) -> Map<String, Value> {
    let mut kept = Map::new();
    for name in INPUT_FIELDS {
        match input.get(name) {
            Some(Value::String(s)) => {
                kept.insert(name.to_owned(), json!(clip(s, max_chars)));
            }
            Some(v @ (Value::Bool(_) | Value::Number(_))) => {
                kept.insert(name.to_owned(), v.clone());
            }
            _ => {}
        }
    }
    kept
}

/// One (already redacted) hook input as a draft, keeping up to `input_chars` of each field of
/// a tool's input.
fn draft(event: &str, session: &str, hook: Value, input_chars: usize) -> Draft {
    let (event_type, action) = kind_of(event);
    let cwd = str_at(&hook, "/cwd");
    let project =
        cwd.and_then(|c| c.trim_end_matches('/').rsplit('/').next()).filter(|p| !p.is_empty());
    let tool = str_at(&hook, "/tool_name");
    let null = Value::Null;
    let input = hook.get("tool_input").unwrap_or(&null);
    let summary = tool.map(|t| tool_summary(t, input, cwd));
    let in_project = project.map(|p| format!(" in {p}")).unwrap_or_default();
    let error = str_at(&hook, "/error").map(|e| clip(e, 2000));
    let (title, description) = match event {
        "SessionStart" | "SessionEnd" => {
            let verb = if event == "SessionStart" { "started" } else { "ended" };
            let why = str_at(&hook, "/source").or(str_at(&hook, "/reason"));
            let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
            (format!("Claude Code session {verb}{why}{in_project}"), None)
        }
        "UserPromptSubmit" => {
            let prompt = str_at(&hook, "/prompt").unwrap_or_default();
            (format!("Prompt: {}", clip(&one_line(prompt), 200)), Some(clip(prompt, 4000)))
        }
        "PostToolUseFailure" => {
            let what = summary.clone().unwrap_or_else(|| "a tool".to_owned());
            (format!("Failed: {what}"), error.clone())
        }
        "Notification" => {
            let message = str_at(&hook, "/message").unwrap_or("Claude Code needs attention");
            (one_line(message), None)
        }
        "Stop" => (format!("Claude Code finished its turn{in_project}"), None),
        "SubagentStop" => (format!("Claude Code subagent finished{in_project}"), None),
        _ => match &summary {
            Some(summary) => (summary.clone(), None),
            None => (format!("Claude Code: {event}{in_project}"), None),
        },
    };
    let mut data = Map::new();
    data.insert("hook_event_name".into(), json!(clip(event, 64)));
    for name in HOOK_FIELDS {
        match hook.get(name) {
            Some(Value::String(s)) => {
                data.insert(name.to_owned(), json!(clip(s, 300)));
            }
            Some(v @ Value::Bool(_)) => {
                data.insert(name.to_owned(), v.clone());
            }
            _ => {}
        }
    }
    if let Some(tool) = tool {
        data.insert("tool_name".into(), json!(clip(tool, 128)));
        let kept = input_summary(input, input_chars);
        if !kept.is_empty() {
            data.insert("input".into(), Value::Object(kept));
        }
    }
    if let Some(ms) = hook.get("duration_ms").filter(|v| v.is_number()) {
        data.insert("duration_ms".into(), ms.clone());
    }
    match event {
        "PostToolUse" => {
            let ok = hook.pointer("/tool_response/success").and_then(Value::as_bool);
            data.insert("success".into(), json!(ok.unwrap_or(true)));
        }
        "PostToolUseFailure" => {
            data.insert("success".into(), json!(false));
            if let Some(error) = &error {
                data.insert("error".into(), json!(clip(error, 1000)));
            }
        }
        _ => {}
    }
    let mut draft = Draft::new(&event_type, clip(&title, 512), "claude-code", Value::Null)
        .actor("claude-code", Some("Claude Code"), "agent")
        .entity("agent_session", session, Some(&format!("Claude Code session{in_project}")))
        .data(Value::Object(data));
    draft = match str_at(&hook, "/tool_use_id") {
        Some(tool_use) => draft.object("tool_use", tool_use),
        None => draft.object("session", session),
    };
    if let Some(action) = action {
        draft = draft.action(action);
        draft.event.changes = Some(vec![ChangeInput {
            field: Some("state".to_owned()),
            old: json!("active"),
            new: json!("ended"),
        }]);
    }
    draft.event.description = description.filter(|d| !d.is_empty());
    // The session ties its events together.
    draft.event.correlation_id = Some(clip(session, 255));
    // `spine hook claude-code` records when the hook ran (its call may reach Spine later, from
    // the spool); an `http` hook is received as it runs.
    draft.event.occurred_at = str_at(&hook, "/hooked_at").map(|t| clip(t, 64));
    draft.payload = hook;
    draft
}

#[cfg(test)]
mod tests;
