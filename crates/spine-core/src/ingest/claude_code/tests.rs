use super::*;
use crate::channel::Privacy;
use crate::channel::{Direction, Mapping};
use crate::ingest::Headers;
use crate::time::Timestamp;
use proptest::prelude::*;

const SESSION: &str = "9f2c8e4a-51b7-4d0e-a3c6-2b1f7e90d4aa";

fn stored(body: &[u8]) -> Stored {
    Stored {
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
        received_at: Timestamp::from_micros(0).unwrap(),
    }
}

fn normalize(body: &[u8]) -> Result<Vec<Draft>, Unreadable> {
    normalize_with(body, &Privacy::default())
}

fn normalize_with(body: &[u8], privacy: &Privacy) -> Result<Vec<Draft>, Unreadable> {
    let mapping = Mapping::default();
    let context = Context {
        channel_id: "ch",
        event_type: None,
        direction: Direction::Inbound,
        mapping: &mapping,
        privacy,
    };
    ClaudeCode.normalize(&stored(body), &context)
}

/// Privacy settings as an admin would send them.
fn privacy(settings: Value) -> Privacy {
    serde_json::from_value::<crate::channel::PrivacyInput>(settings).unwrap().validate().unwrap()
}

fn fixture(name: &str) -> Draft {
    let body: &[u8] = match name {
        "session-start" => include_bytes!("../fixtures/claude-code/session-start.json"),
        "user-prompt-submit" => include_bytes!("../fixtures/claude-code/user-prompt-submit.json"),
        "pre-tool-use-bash" => include_bytes!("../fixtures/claude-code/pre-tool-use-bash.json"),
        "post-tool-use-write" => include_bytes!("../fixtures/claude-code/post-tool-use-write.json"),
        "post-tool-use-failure" => {
            include_bytes!("../fixtures/claude-code/post-tool-use-failure.json")
        }
        "notification" => include_bytes!("../fixtures/claude-code/notification.json"),
        "stop" => include_bytes!("../fixtures/claude-code/stop.json"),
        _ => include_bytes!("../fixtures/claude-code/session-end.json"),
    };
    let mut drafts = normalize(body).unwrap();
    assert_eq!(drafts.len(), 1);
    drafts.remove(0)
}

/// A draft's event passes the API's validation, as the server will check it.
fn assert_valid(draft: &Draft) {
    let limits = crate::input::EventLimits::default();
    let checked = draft.event.clone().validate(uuid::Uuid::nil(), None, &limits);
    assert!(checked.is_ok(), "{:?}", checked.err());
}

/// Checks what every hook event shares: the agent as actor, the session as entity.
fn common(draft: &Draft, event_type: &str, title: &str) {
    assert_valid(draft);
    let event = &draft.event;
    assert_eq!(event.event_type.as_deref(), Some(event_type));
    assert_eq!(event.title.as_deref(), Some(title));
    let actor = event.actor.as_ref().unwrap();
    assert_eq!((actor.id.as_deref(), actor.kind.as_deref()), (Some("claude-code"), Some("agent")));
    let entity = event.entity.as_ref().unwrap();
    assert_eq!(entity.entity_type.as_deref(), Some("agent_session"));
    assert_eq!(
        draft.event.correlation_id.as_deref(),
        entity.id.as_deref(),
        "the session correlates"
    );
    assert_eq!(entity.id.as_deref(), Some(SESSION));
    assert_eq!(entity.name.as_deref(), Some("Claude Code session in shop"));
    assert_eq!(event.source.as_ref().unwrap().system.as_deref(), Some("claude-code"));
    assert_eq!(event.occurred_at, None, "hooks carry no time: the receipt time stands");
    assert_eq!(event.data.as_ref().unwrap()["cwd"], json!("/home/ana/shop"));
}

#[test]
fn session_hooks() {
    let start = fixture("session-start");
    common(&start, "agent.session.started", "Claude Code session started (startup) in shop");
    assert_eq!(start.event.action, None);
    assert_eq!(start.event.data.as_ref().unwrap()["model"], json!("claude-sonnet-4-5"));
    let id = start.delivery_id.as_deref().unwrap();
    assert!(id.starts_with(&format!("{SESSION} SessionStart ")), "{id}");

    let end = fixture("session-end");
    common(&end, "agent.session.ended", "Claude Code session ended (prompt_input_exit) in shop");
    assert_eq!(end.event.action.as_deref(), Some("state_changed"));
    let change = &end.event.changes.as_ref().unwrap()[0];
    assert_eq!((change.old.clone(), change.new.clone()), (json!("active"), json!("ended")));
    assert_eq!(end.event.data.as_ref().unwrap()["reason"], json!("prompt_input_exit"));

    let stop = fixture("stop");
    common(&stop, "agent.stopped", "Claude Code finished its turn in shop");
    assert_eq!(stop.event.data.as_ref().unwrap()["stop_hook_active"], json!(false));

    let note = fixture("notification");
    common(&note, "agent.notification", "Claude needs your permission to use Bash");
    assert_eq!(note.event.action, None);
}

#[test]
fn prompts_are_redacted() {
    let prompt = fixture("user-prompt-submit");
    common(
        &prompt,
        "agent.prompt",
        "Prompt: Fix the failing checkout test. The staging key is [redacted] if you need it.",
    );
    let description = prompt.event.description.as_deref().unwrap();
    assert!(description.contains("[redacted]") && !description.contains("sk-live"));
    assert!(!prompt.payload.to_string().contains("sk-live"), "the mapping's payload too");
    assert_eq!(prompt.event.source.as_ref().unwrap().object_type.as_deref(), Some("session"));
}

#[test]
fn tool_hooks() {
    let pre = fixture("pre-tool-use-bash");
    common(&pre, "agent.tool.started", "Bash: npm test");
    assert_eq!(
        pre.delivery_id.as_deref(),
        Some(&*format!("{SESSION} toolu_01ABC123XYZ PreToolUse"))
    );
    let data = pre.event.data.as_ref().unwrap();
    assert_eq!(data["tool_name"], json!("Bash"));
    assert_eq!(data["input"], json!({"command": "npm test", "description": "Run the test suite"}));
    let source = pre.event.source.as_ref().unwrap();
    assert_eq!(
        (source.object_type.as_deref(), source.object_id.as_deref()),
        (Some("tool_use"), Some("toolu_01ABC123XYZ"))
    );

    let write = fixture("post-tool-use-write");
    common(&write, "agent.tool.finished", "Write .env.test");
    let data = write.event.data.as_ref().unwrap();
    assert_eq!(data["success"], json!(true));
    assert_eq!(data["duration_ms"], json!(42));
    assert_eq!(data["input"], json!({"file_path": "/home/ana/shop/.env.test"}), "no contents");
    let payload = write.payload.to_string();
    assert!(!payload.contains("sk_test_4eC39") && !payload.contains("hunter2"), "{payload}");

    let failed = fixture("post-tool-use-failure");
    let title = "Failed: Bash: curl -H \"Authorization: [redacted]\" https://api.github.com/user";
    common(&failed, "agent.tool.failed", title);
    let data = failed.event.data.as_ref().unwrap();
    assert_eq!(data["success"], json!(false));
    assert_eq!(data["is_interrupt"], json!(false));
    assert!(data["error"].as_str().unwrap().contains("exit code 22"));
    assert!(failed.event.description.as_deref().unwrap().contains("401"));
    assert!(!failed.payload.to_string().contains("ghp_16C7"));
    assert_eq!(
        failed.delivery_id.as_deref(),
        Some(&*format!("{SESSION} toolu_01GHI789RST PostToolUseFailure"))
    );
}

#[test]
fn other_hooks_and_bad_bodies() {
    let compact = json!({"session_id": "s", "hook_event_name": "PreCompact", "trigger": "auto"});
    let draft = &normalize(compact.to_string().as_bytes()).unwrap()[0];
    assert_eq!(draft.event.event_type.as_deref(), Some("agent.pre_compact"));
    assert_eq!(draft.event.title.as_deref(), Some("Claude Code: PreCompact"));
    let secret_key = json!({"session_id": "s", "hook_event_name": "X", "tool_name": "mcp__db__q",
        "tool_input": {"api_key": "plain", "nested": {"password": 1234}}});
    let draft = &normalize(secret_key.to_string().as_bytes()).unwrap()[0];
    assert_eq!(draft.payload["tool_input"]["api_key"], json!(REDACTED));
    assert_eq!(draft.payload["tool_input"]["nested"]["password"], json!(REDACTED));
    assert_eq!(draft.event.title.as_deref(), Some("mcp__db__q"));
    for (body, why) in [
        ("{", "not JSON"),
        ("[]", "object"),
        (r#"{"session_id": "s"}"#, "hook_event_name"),
        (r#"{"hook_event_name": "Stop"}"#, "session_id"),
    ] {
        let error = normalize(body.as_bytes()).unwrap_err();
        assert!(error.0.contains(why), "{body}: {error}");
    }
}

#[test]
fn the_same_hook_call_has_the_same_delivery_id() {
    let body = include_bytes!("../fixtures/claude-code/stop.json");
    let a = normalize(body).unwrap();
    let b = normalize(body).unwrap();
    assert_eq!(a[0].delivery_id, b[0].delivery_id);
    let other = String::from_utf8_lossy(body).replace("false", "true");
    let c = normalize(other.as_bytes()).unwrap();
    assert_ne!(a[0].delivery_id, c[0].delivery_id);
}

#[test]
fn the_channel_key_authenticates() {
    let headers: &Headers = &[("X-Ingestion-Key", b"k1")];
    let request = Received { method: "POST", url: "https://x/", headers, body: b"", now: 0 };
    assert_eq!(ClaudeCode.verify(&request, &[b"k1"]), Ok(()));
    assert_eq!(ClaudeCode.verify(&request, &[b"k2"]), Err(VerifyError::Mismatch));
    assert_eq!(ClaudeCode.failed_answer(), FailedAnswer::Reject);
    assert_eq!(ClaudeCode.auth(), Auth::KeyOrChannelSecret);
}

#[test]
fn the_channel_cuts_content_and_redacts_its_own_patterns() {
    let settings =
        privacy(json!({"max_chars": 40, "redact": ["ACME-[0-9]{6}", "(?i)project falcon"]}));
    let long = "x".repeat(500);
    let hook = json!({
        "session_id": SESSION, "hook_event_name": "PostToolUse", "tool_name": "Bash",
        "tool_use_id": "toolu_1", "cwd": "/home/ana/shop",
        "tool_input": {"command": format!("deploy ACME-123456 --note {long}")},
        "tool_response": {"stdout": format!("Project Falcon shipped {long}"), "stderr": ""},
        "transcript_path": "/home/ana/.claude/projects/shop/9f2c.jsonl",
    });
    let body = hook.to_string();
    let drafts = normalize_with(body.as_bytes(), &settings).unwrap();
    let event = format!("{:?}", drafts[0].event);
    let kept = String::from_utf8(ClaudeCode.scrub(body.as_bytes(), &settings)).unwrap();
    for text in [&event, &kept] {
        assert!(!text.contains("ACME-123456") && !text.to_lowercase().contains("falcon"), "{text}");
        assert!(!text.contains(&"x".repeat(40)), "cut to 40 characters: {text}");
    }
    let command = drafts[0].event.data.as_ref().unwrap()["input"]["command"].as_str().unwrap();
    assert_eq!(command.chars().count(), 40);
    assert!(command.starts_with("deploy [redacted] --note xx") && command.ends_with('…'));
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert!(kept["tool_response"]["stdout"].as_str().unwrap().starts_with("[redacted] shipped x"));
    assert_eq!(kept["tool_response"]["stdout"].as_str().unwrap().chars().count(), 40);
    assert_eq!(kept["transcript_path"], hook["transcript_path"], "paths are kept, never cut");
    // What the ledger keeps normalizes to the same event (a replay sees what receipt saw).
    let again = normalize_with(kept.to_string().as_bytes(), &settings).unwrap();
    assert_eq!(format!("{:?}", again[0].event), event);
    // Not JSON: redacted as text.
    let text = ClaudeCode.scrub(b"ACME-654321 token=abc", &settings);
    assert_eq!(String::from_utf8(text).unwrap(), "[redacted] token=[redacted]");
}

proptest! {
    #[test]
    fn no_configured_secret_survives(
        prefix in "[a-z ]{0,30}",
        digits in "[0-9]{6}",
        suffix in "[a-z ]{0,3000}",
        max_chars in 16u64..200,
        event in prop::sample::select(vec!["PreToolUse", "PostToolUse", "PostToolUseFailure", "UserPromptSubmit"]),
    ) {
        let settings = privacy(json!({"max_chars": max_chars, "redact": ["ACME-[0-9]{6}"]}));
        let secret = format!("ACME-{digits}");
        let text = format!("{prefix}{secret}{suffix}");
        let hook = json!({
            "session_id": SESSION, "hook_event_name": event, "tool_name": "Bash",
            "tool_use_id": "toolu_1", "tool_input": {"command": text, "description": text},
            "tool_response": {"stdout": text, "stderr": text}, "error": text, "prompt": text,
        });
        let body = hook.to_string();
        let drafts = normalize_with(body.as_bytes(), &settings).unwrap();
        let kept = ClaudeCode.scrub(body.as_bytes(), &settings);
        let kept = String::from_utf8(kept).unwrap();
        for stored in [format!("{:?}", drafts[0].event), kept] {
            prop_assert!(!stored.contains(&secret), "{}", stored);
            prop_assert!(!stored.contains(&digits), "not even the digits: {}", stored);
        }
        assert_valid(&drafts[0]);
    }

    #[test]
    fn any_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = normalize(&body);
    }

    #[test]
    fn any_hook_json_never_panics(
        event in prop::sample::select(vec!["SessionStart", "SessionEnd", "UserPromptSubmit",
            "PreToolUse", "PostToolUse", "PostToolUseFailure", "Notification", "Stop", "Odd Ä",
            ""]),
        tool in prop::sample::select(vec!["Bash", "Edit", "Write", "Grep", "WebFetch", "Task", ""]),
        text in "(?s).{0,60}",
        number in any::<i64>(),
    ) {
        let hook = json!({
            "session_id": text, "hook_event_name": event, "tool_name": tool, "cwd": text,
            "tool_input": {"command": text, "file_path": number, "pattern": [text]},
            "tool_response": {"success": text}, "duration_ms": number, "prompt": text,
            "error": text, "message": text, "tool_use_id": number, "source": number,
        });
        if let Ok(drafts) = normalize(hook.to_string().as_bytes()) {
            let event_type = drafts[0].event.event_type.clone().unwrap();
            prop_assert!(crate::text::is_dotted_name(&event_type, 128), "{}", event_type);
        }
    }
}
