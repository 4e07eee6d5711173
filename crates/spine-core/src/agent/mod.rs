//! Coding agents' activity read back from their events: the `claude-code` provider's (or any
//! producer's that posts the same shapes). Pure: the server reads the events and folds them
//! here.
//!
//! - [`sessions`]: an agent's sessions (entity `agent_session`) with their counts, live or
//!   ended, in the order a person wants them (live first, then the latest activity), and the
//!   position a page of them continues after.
//! - [`tools`]: calls, failures and nearest-rank duration percentiles per tool, from the
//!   finished and failed tool calls.

pub mod sessions;
pub mod tools;

pub use sessions::{AgentSession, SessionFold, SessionPosition, LIVE_WINDOW_SECONDS};
pub use tools::{nearest_rank, ToolFold, ToolStats};

use crate::Event;
use serde_json::Value;

/// The entity type of an agent's session.
pub const SESSION_ENTITY: &str = "agent_session";

/// A prompt the user gave the agent.
pub const PROMPT: &str = "agent.prompt";
/// A tool call began.
pub const TOOL_STARTED: &str = "agent.tool.started";
/// A tool call ended (`data.success` false when the tool said it did not succeed).
pub const TOOL_FINISHED: &str = "agent.tool.finished";
/// A tool call failed.
pub const TOOL_FAILED: &str = "agent.tool.failed";
/// A session began (or was resumed).
pub const SESSION_STARTED: &str = "agent.session.started";
/// A session ended.
pub const SESSION_ENDED: &str = "agent.session.ended";

/// A string field of the event's `data`.
fn data_str<'e>(event: &'e Event, field: &str) -> Option<&'e str> {
    event.data.as_ref()?.get(field)?.as_str().filter(|s| !s.is_empty())
}

/// Whether a finished or failed tool call went wrong: a failure, or a finish whose
/// `data.success` is false.
pub fn is_failed_call(event: &Event) -> bool {
    match event.event_type.as_str() {
        TOOL_FAILED => true,
        TOOL_FINISHED => {
            event.data.as_ref().and_then(|d| d.get("success")) == Some(&Value::Bool(false))
        }
        _ => false,
    }
}

/// The project a working directory names: its last path component (`/home/ana/spine` ->
/// `spine`).
pub fn project_of(cwd: &str) -> Option<&str> {
    cwd.trim_end_matches(['/', '\\']).rsplit(['/', '\\']).next().filter(|p| !p.is_empty())
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::Event;
    use serde_json::{json, Value};

    /// A stored agent event of `session` at `second` (from the epoch) with this type and data.
    pub fn agent_event(session: &str, event_type: &str, second: i64, data: Value) -> Event {
        let at = crate::Timestamp::from_micros(second * 1_000_000).unwrap().to_rfc3339();
        serde_json::from_value(json!({
            "id": uuid::Uuid::now_v7(), "seq": 1, "tenant": "t", "type": event_type,
            "action": "custom", "source": {"system": "claude-code"},
            "actor": {"id": "claude-code", "kind": "agent"},
            "entity": {"type": "agent_session", "id": session,
                "name": format!("Claude Code session in {session}")},
            "title": "x", "priority": "normal", "data": data,
            "occurred_at": at, "received_at": at, "summary": "x",
        }))
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::agent_event;
    use super::*;
    use serde_json::json;

    #[test]
    fn a_project_is_the_last_component_of_the_working_directory() {
        assert_eq!(project_of("/home/ana/spine"), Some("spine"));
        assert_eq!(project_of("/home/ana/spine/"), Some("spine"));
        assert_eq!(project_of("C:\\work\\app"), Some("app"));
        assert_eq!(project_of("/"), None);
        assert_eq!(project_of(""), None);
    }

    #[test]
    fn a_failed_call_is_a_failure_or_a_finish_that_did_not_succeed() {
        let call = |ty, data| agent_event("s", ty, 0, data);
        assert!(is_failed_call(&call(TOOL_FAILED, json!({}))));
        assert!(is_failed_call(&call(TOOL_FINISHED, json!({"success": false}))));
        assert!(!is_failed_call(&call(TOOL_FINISHED, json!({"success": true}))));
        assert!(!is_failed_call(&call(TOOL_FINISHED, json!({}))));
        assert!(!is_failed_call(&call(TOOL_STARTED, json!({"success": false}))));
    }
}
