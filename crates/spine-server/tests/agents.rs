//! The agent view's reads over real HTTP: coding-agent sessions and per-tool statistics, from
//! hook calls sent through a `claude-code` channel (so tool calls are paired and timed by the
//! server, as in production) and from events posted directly. Sessions come live first with
//! their counts; tool statistics have exact nearest-rank percentiles; another tenant sees
//! nothing; bad parameters and the wrong credentials are refused.

mod common;

use common::{assert_problem, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::Timestamp;

/// An RFC 3339 time `seconds` ago.
fn ago(seconds: i64) -> String {
    Timestamp::now().plus_seconds(-seconds).to_rfc3339()
}

/// Sends Claude Code hook calls through a `claude-code` channel of tenant `a`.
struct Hooks<'a> {
    app: &'a TestApp,
    url: String,
}

impl<'a> Hooks<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let body = json!({"name": "Claude Code", "provider": "claude-code"});
        let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let channel: Value = r.json().await.unwrap();
        Self { app, url: channel["ingest_url"].as_str().unwrap().to_owned() }
    }

    /// One hook call of `session` (in project `project`, run by `user`) made `seconds_ago`;
    /// answers the time its hook ran.
    async fn call(
        &self,
        session: &str,
        user: &str,
        project: &str,
        seconds_ago: i64,
        hook: Value,
    ) -> Timestamp {
        let at = Timestamp::now().plus_seconds(-seconds_ago);
        self.call_at(session, user, project, at, hook).await;
        at
    }

    async fn call_at(&self, session: &str, user: &str, project: &str, at: Timestamp, hook: Value) {
        let mut body = json!({
            "session_id": session,
            "transcript_path": format!("/home/{user}/.claude/{session}.jsonl"),
            "cwd": format!("/home/{user}/{project}"),
            "user": user,
            "hooked_at": at.to_rfc3339(),
        });
        body.as_object_mut().unwrap().extend(hook.as_object().unwrap().clone());
        let r = self.app.client.post(&self.url).bearer_auth(&self.app.a.ingest).json(&body);
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(receipt["verdict"], json!("accepted"), "{receipt}");
    }

    /// A Bash call started `started_ago` and done `took_ms` later, failed or not.
    #[allow(clippy::too_many_arguments)]
    async fn bash(
        &self,
        session: &str,
        user: &str,
        project: &str,
        id: &str,
        started_ago: i64,
        took_ms: i64,
        fail: bool,
    ) {
        let input = json!({"command": "cargo test"});
        let start = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": input, "tool_use_id": id});
        let started = self.call(session, user, project, started_ago, start).await;
        let mut end = json!({"tool_name": "Bash", "tool_input": input, "tool_use_id": id});
        if fail {
            end["hook_event_name"] = json!("PostToolUseFailure");
            end["error"] = json!("exit code 101");
        } else {
            end["hook_event_name"] = json!("PostToolUse");
            end["tool_response"] = json!({"stdout": "ok"});
        }
        // The end's hook ran exactly `took_ms` after the start's.
        let done = Timestamp::from_micros(started.as_micros() + took_ms * 1000).unwrap();
        self.call_at(session, user, project, done, end).await;
    }
}

fn prompt(text: &str) -> Value {
    json!({"hook_event_name": "UserPromptSubmit", "prompt": text})
}

async fn sessions(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, page) = app.get_json(&format!("/v1/agents/sessions{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

#[tokio::test]
async fn sessions_come_live_first_with_their_prompts_calls_and_failures() {
    let app = spawn_app().await;
    let hooks = Hooks::new(&app).await;
    // Ended two hours ago: a prompt, a Bash that worked and one that failed.
    let ended = "sess-ended";
    let begun = json!({"hook_event_name": "SessionStart", "source": "startup"});
    let started = hooks.call(ended, "ana", "spine", 3 * 3600, begun).await;
    hooks.call(ended, "ana", "spine", 3 * 3600 - 10, prompt("fix the tests")).await;
    hooks.bash(ended, "ana", "spine", "toolu_e1", 3 * 3600 - 20, 1200, false).await;
    hooks.bash(ended, "ana", "spine", "toolu_e2", 3 * 3600 - 30, 3000, true).await;
    hooks
        .call(
            ended,
            "ana",
            "spine",
            2 * 3600,
            json!({"hook_event_name": "SessionEnd", "reason": "logout"}),
        )
        .await;
    // Quiet for five hours, never ended: not live.
    hooks.call("sess-idle", "cy", "docs", 5 * 3600, prompt("write the guide")).await;
    // Live: two prompts, one call done, one still running.
    let live = "sess-live";
    hooks
        .call(
            live,
            "bo",
            "web",
            600,
            json!({"hook_event_name": "SessionStart", "source": "startup"}),
        )
        .await;
    hooks.call(live, "bo", "web", 590, prompt("add a page")).await;
    hooks.bash(live, "bo", "web", "toolu_l1", 580, 250, false).await;
    hooks.call(live, "bo", "web", 300, prompt("now test it")).await;
    let running = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "npm test"}, "tool_use_id": "toolu_l2"});
    hooks.call(live, "bo", "web", 60, running).await;

    let page = sessions(&app, &app.a.read, "").await;
    let items = page["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["sess-live", "sess-ended", "sess-idle"], "live first, then latest activity");
    let (l, e, i) = (&items[0], &items[1], &items[2]);
    assert_eq!((l["live"].clone(), l["ended"].clone()), (json!(true), json!(false)));
    assert_eq!((e["live"].clone(), e["ended"].clone()), (json!(false), json!(true)));
    assert_eq!((i["live"].clone(), i["ended"].clone()), (json!(false), json!(false)));
    assert_eq!(
        [&l["prompts"], &l["tool_calls"], &l["failures"]],
        [&json!(2), &json!(2), &json!(0)],
        "{l}"
    );
    assert_eq!(
        [&e["prompts"], &e["tool_calls"], &e["failures"]],
        [&json!(1), &json!(2), &json!(1)]
    );
    assert_eq!((l["project"].clone(), l["user"].clone()), (json!("web"), json!("bo")));
    assert_eq!((e["project"].clone(), e["user"].clone()), (json!("spine"), json!("ana")));
    assert_eq!(l["name"], json!("Claude Code session in web"));
    let time = |v: &Value| Timestamp::parse(v.as_str().unwrap()).unwrap();
    assert_eq!(time(&e["started_at"]), started, "its first hook's time");
    assert!(time(&e["last_event_at"]) > time(&e["started_at"]));
    assert_eq!(page["events_scanned"], json!(14));
    assert_eq!(page["truncated"], json!(false));
    assert_eq!(page["next_cursor"], Value::Null);

    // One session, read from its own events.
    let one = sessions(&app, &app.a.read, "?session=sess-ended").await;
    assert_eq!(one["items"], json!([e]));
    assert_eq!(one["events_scanned"], json!(7));

    // The server timed each call from its hooks: 1.2 s and 3 s.
    let (_, tools) = app.get_json("/v1/agents/tools?session=sess-ended", &app.a.read).await;
    let bash = json!({"tool": "Bash", "calls": 2, "failures": 1, "p50_ms": 1200, "p95_ms": 3000});
    assert_eq!(tools["items"], json!([bash]));

    // Pages of one follow the same order to the end.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = sessions(&app, &app.a.read, &query).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1);
        seen.push(page["items"][0]["id"].as_str().unwrap().to_owned());
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["sess-live", "sess-ended", "sess-idle"]);

    // A period reads only its events: the last hour holds the live session alone.
    let page = sessions(&app, &app.a.read, &format!("?since={}", ago(3600))).await;
    let ids: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["sess-live"]);
    let page = sessions(&app, &app.a.read, &format!("?until={}", ago(4 * 3600))).await;
    assert_eq!(page["items"][0]["id"], json!("sess-idle"));
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // Worker and admin keys read it too; another tenant sees nothing.
    for key in [&app.a.worker, &app.a.admin] {
        assert_eq!(sessions(&app, key, "").await["items"].as_array().unwrap().len(), 3);
    }
    let theirs = sessions(&app, &app.b.read, "").await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(theirs["events_scanned"], json!(0));
    let (_, tools) = app.get_json("/v1/agents/tools", &app.b.read).await;
    assert_eq!(tools["items"], json!([]));
}

/// A tool call posted as an event, as the `claude-code` provider writes them.
fn tool_call(
    session: &str,
    tool: &str,
    id: usize,
    ms: u64,
    failed: bool,
    seconds_ago: i64,
) -> Value {
    json!({
        "type": if failed { "agent.tool.failed" } else { "agent.tool.finished" },
        "title": format!("{tool} call {id}"),
        "source": {"system": "claude-code", "object_type": "tool_use", "object_id": format!("toolu_{session}_{id}")},
        "actor": {"id": "claude-code", "name": "Claude Code", "kind": "agent"},
        "entity": {"type": "agent_session", "id": session, "name": "Claude Code session in spine"},
        "correlation_id": session,
        "occurred_at": ago(seconds_ago),
        "data": {"tool_name": tool, "duration_ms": ms, "success": !failed, "cwd": "/home/ana/spine"},
    })
}

#[tokio::test]
async fn tool_statistics_count_calls_and_failures_with_nearest_rank_percentiles() {
    let app = spawn_app().await;
    // Bash: 20 calls of 100, 200, ... 2000 ms, two of them failed: p50 1000, p95 1900.
    for i in 1..=20 {
        let failed = i == 7 || i == 13;
        app.create_event(&app.a.ingest, &tool_call("s1", "Bash", i, i as u64 * 100, failed, 600))
            .await;
    }
    // Edit: 3 calls in another session: p50 20, p95 30.
    for (i, ms) in [(1, 30), (2, 10), (3, 20)] {
        app.create_event(&app.a.ingest, &tool_call("s2", "Edit", i, ms, false, 300)).await;
    }
    // Two days old: outside the default period.
    app.create_event(&app.a.ingest, &tool_call("s1", "Read", 99, 5, false, 2 * 86400)).await;
    // Not tool calls, or not on a session: not counted.
    let mut start = tool_call("s1", "Bash", 50, 0, false, 60);
    start["type"] = json!("agent.tool.started");
    app.create_event(&app.a.ingest, &start).await;
    let mut elsewhere = tool_call("s1", "Bash", 51, 9, false, 60);
    elsewhere["entity"] = json!({"type": "task", "id": "t1"});
    app.create_event(&app.a.ingest, &elsewhere).await;

    let (status, stats) = app.get_json("/v1/agents/tools", &app.a.read).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats["items"],
        json!([
            {"tool": "Bash", "calls": 20, "failures": 2, "p50_ms": 1000, "p95_ms": 1900},
            {"tool": "Edit", "calls": 3, "failures": 0, "p50_ms": 20, "p95_ms": 30},
        ])
    );
    assert_eq!(stats["events_scanned"], json!(23));
    assert_eq!(stats["truncated"], json!(false));
    let period = |v: &Value| Timestamp::parse(v.as_str().unwrap()).unwrap();
    let (since, until) = (period(&stats["period"]["since"]), period(&stats["period"]["until"]));
    assert_eq!(until.as_micros() - since.as_micros(), 86_400_000_000, "the last 24 hours");

    // One session; a week; a period of its own.
    let (_, one) = app.get_json("/v1/agents/tools?session=s2", &app.a.read).await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["items"][0]["tool"], json!("Edit"));
    let week = format!("/v1/agents/tools?since={}", ago(7 * 86400));
    let (_, week) = app.get_json(&week, &app.a.worker).await;
    let read = week["items"].as_array().unwrap().iter().find(|t| t["tool"] == json!("Read"));
    assert_eq!(read.unwrap()["p50_ms"], json!(5));
    let (from, to) = (ago(3 * 86400), ago(86400));
    let (_, old) =
        app.get_json(&format!("/v1/agents/tools?since={from}&until={to}"), &app.a.read).await;
    assert_eq!(
        old["items"],
        json!([{"tool": "Read", "calls": 1, "failures": 0, "p50_ms": 5, "p95_ms": 5}])
    );
    assert_eq!(period(&old["period"]["since"]), period(&json!(from)));
    assert_eq!(period(&old["period"]["until"]), period(&json!(to)));

    let (_, theirs) = app.get_json("/v1/agents/tools", &app.b.read).await;
    assert_eq!(theirs["items"], json!([]));
}

#[tokio::test]
async fn bad_parameters_and_the_wrong_credentials_are_refused() {
    let app = spawn_app().await;
    let bad = [
        ("/v1/agents/sessions?limit=0", "limit"),
        ("/v1/agents/sessions?limit=101", "limit"),
        ("/v1/agents/sessions?limit=ten", "limit"),
        ("/v1/agents/sessions?cursor=nope", "cursor"),
        ("/v1/agents/sessions?since=yesterday", "since"),
        ("/v1/agents/sessions?until=2026-13-01T00:00:00Z", "until"),
        ("/v1/agents/sessions?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("/v1/agents/sessions?session=", "session"),
        ("/v1/agents/sessions?type=agent.prompt", "type"),
        ("/v1/agents/tools?session=", "session"),
        ("/v1/agents/tools?limit=5", "limit"),
        ("/v1/agents/tools?cursor=x", "cursor"),
        ("/v1/agents/tools?since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("/v1/agents/tools?until=1970-01-01T00:00:00Z", "until"),
    ];
    for (path, field) in bad {
        let r = app.req(Method::GET, path, &app.a.read).send().await.unwrap();
        let problem = assert_problem(r, StatusCode::BAD_REQUEST).await;
        let fields: Vec<&Value> =
            problem["errors"].as_array().unwrap().iter().map(|e| &e["field"]).collect();
        assert_eq!(fields, [&json!(field)], "{path}: {problem}");
    }
    // Ingest keys write; viewer tokens are end users, and these figures are the team's.
    let r = app.req(Method::POST, "/v1/viewer-tokens", &app.a.admin);
    let viewer: Value =
        r.json(&json!({"user_id": "u1"})).send().await.unwrap().json().await.unwrap();
    let viewer = viewer["token"].as_str().unwrap().to_owned();
    for path in ["/v1/agents/sessions", "/v1/agents/tools"] {
        for key in [&app.a.ingest, &viewer] {
            let r = app.req(Method::GET, path, key).send().await.unwrap();
            assert_problem(r, StatusCode::FORBIDDEN).await;
        }
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_problem(r, StatusCode::UNAUTHORIZED).await;
        let r = app.req(Method::POST, path, &app.a.read).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
