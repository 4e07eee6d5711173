//! `spine login` and `spine hook` with the real binary against a real `spine serve`: the hooks
//! installed into a settings file and their command line run with Claude Code's documented
//! payloads (the fixtures of every hook event); the `--http` variant posting the same payloads;
//! a stopped server, whose calls are spooled and flushed in order; settings merged and restored;
//! malformed settings refused. Timeouts only guard against hanging.

mod common;

use common::{Sandbox, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The hook events with their fixture and the event type Spine makes of them.
const FIXTURES: [(&str, &str); 8] = [
    ("session-start", "agent.session.started"),
    ("user-prompt-submit", "agent.prompt"),
    ("pre-tool-use-bash", "agent.tool.started"),
    ("post-tool-use-write", "agent.tool.finished"),
    ("post-tool-use-failure", "agent.tool.failed"),
    ("notification", "agent.notification"),
    ("stop", "agent.stopped"),
    ("session-end", "agent.session.ended"),
];

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spine-core/src/ingest/fixtures/claude-code");
    std::fs::read(dir.join(format!("{name}.json"))).unwrap()
}

/// A server with a tenant, its admin key, an ingest key and a `claude-code` channel.
struct Setup {
    sandbox: Sandbox,
    db: String,
    server: Option<Server>,
    url: String,
    admin: String,
    ingest: String,
    channel: String,
}

impl Setup {
    async fn new() -> Self {
        let sandbox = Sandbox::new();
        let db = sandbox.db("spine.db");
        let created = sandbox.json(&["tenant", "create", "agents", "--json", "--db", &db]);
        let admin = created["admin_key"].as_str().unwrap().to_owned();
        let key = sandbox.json(&[
            "key", "create", "--tenant", "agents", "--role", "ingest", "--json", "--db", &db,
        ]);
        let ingest = key["key"].as_str().unwrap().to_owned();
        let server = Server::start(&sandbox, &db);
        let url = server.url.clone();
        let r = reqwest::Client::new()
            .post(format!("{url}/v1/channels"))
            .bearer_auth(&admin)
            .json(&json!({"name": "Claude Code", "provider": "claude-code"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
        let channel = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        Self { sandbox, db, server: Some(server), url, admin, ingest, channel }
    }

    /// A command with the sandbox as the user's home and config and state directories.
    fn at_home(&self, mut cmd: Command) -> Command {
        for (name, _) in std::env::vars() {
            if name.starts_with("SPINE_") || name.starts_with("XDG_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("HOME", self.sandbox.path("home"))
            .env("XDG_CONFIG_HOME", self.sandbox.path("config"))
            .env("XDG_STATE_HOME", self.sandbox.path("state"))
            .env("USER", "ana")
            .current_dir(self.sandbox.path(""));
        cmd
    }

    fn spine(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(common::BIN);
        cmd.args(args);
        self.at_home(cmd).stdin(Stdio::null()).output().unwrap()
    }

    fn login(&self) {
        let out = self.spine(&[
            "login",
            "--url",
            &self.url,
            "--key",
            &self.ingest,
            "--channel",
            &self.channel,
        ]);
        common::assert_success(&out);
        assert!(!common::text(&out.stdout).contains(&self.ingest), "the key is never printed");
    }

    /// Runs a hook command line the way Claude Code does (through a shell, JSON on stdin).
    fn run_hook(&self, command: &str, input: &[u8]) -> (Output, Duration) {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", command]);
        let mut child = self
            .at_home(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (out, started.elapsed())
    }

    /// Starts the stopped server again on the same address.
    fn restart(&mut self) {
        let listen = self.url.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        let server = loop {
            if let Some(server) = Server::try_start(&self.sandbox, &self.db, &listen) {
                break server;
            }
            assert!(Instant::now() < deadline, "the port did not come free");
            std::thread::sleep(Duration::from_millis(200));
        };
        self.server = Some(server);
    }

    /// Every event of the tenant in seq order, page after page.
    async fn events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: Value = reqwest::Client::new()
                .get(format!("{}/v1/events?order=seq&limit=100{cursor}", self.url))
                .bearer_auth(&self.admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            events.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return events,
            }
        }
    }

    /// Waits until the tenant holds `n` events; returns them in seq order.
    async fn until_events(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events().await;
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The (type, title) of each event, and checks what every hook event shares.
fn shapes(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e["actor"]["kind"], "agent", "{e}");
            assert_eq!(e["entity"]["type"], "agent_session", "{e}");
            assert_eq!(e["correlation_id"], e["entity"]["id"], "{e}");
            (e["type"].as_str().unwrap().to_owned(), e["title"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn settings_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The Spine hook written for `event` (the only hook of its group).
fn spine_hook(settings: &Value, event: &str) -> Value {
    let groups = settings["hooks"][event].as_array().unwrap_or_else(|| panic!("no {event}"));
    groups.last().unwrap()["hooks"][0].clone()
}

const EXISTING: &str = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(npm test)"]},
  "hooks": {
    "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write"}]}]
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_hooks_relay_every_event_and_uninstall_restores_the_settings() {
    let s = Setup::new().await;
    s.login();
    let profile = s.sandbox.path("config/spine/profile.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the profile is readable by its owner only");
    }
    let settings = s.sandbox.path("project/.claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, EXISTING).unwrap();
    let path = settings.to_str().unwrap();
    common::assert_success(&s.spine(&["hook", "install", "claude-code", "--settings", path]));
    let again = s.spine(&["hook", "install", "claude-code", "--settings", path]);
    assert!(common::text(&again.stdout).contains("nothing changed"));
    let installed = settings_of(&settings);
    assert_eq!(installed["hooks"]["PostToolUse"][0]["hooks"][0]["command"], "prettier --write");

    for (name, _) in FIXTURES {
        let input = fixture(name);
        let event: Value = serde_json::from_slice(&input).unwrap();
        let hook = spine_hook(&installed, event["hook_event_name"].as_str().unwrap());
        assert_eq!(hook["type"], "command");
        let (out, _) = s.run_hook(hook["command"].as_str().unwrap(), &input);
        assert!(out.status.success(), "{}", common::text(&out.stderr));
        assert!(out.stdout.is_empty(), "a hook prints nothing on stdout");
    }
    let events = s.until_events(FIXTURES.len()).await;
    let got = shapes(&events);
    let want: Vec<&str> = FIXTURES.iter().map(|(_, t)| *t).collect();
    assert_eq!(got.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), want);
    assert!(events.iter().all(|e| e["data"]["user"] == "ana"), "the user rides along");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("sk-live-abcdefghijklmnopqrstuv"), "the prompt's key was redacted");

    common::assert_success(&s.spine(&["hook", "uninstall", "--settings", path]));
    let restored = settings_of(&settings);
    assert_eq!(restored, serde_json::from_str::<Value>(EXISTING).unwrap());
    let backup =
        std::fs::read_to_string(s.sandbox.path("project/.claude/settings.json.spine-backup"));
    assert!(backup.is_ok(), "the file before the change is kept");
    let out = s.spine(&["hook", "uninstall", "--settings", path]);
    assert!(common::text(&out.stdout).contains("nothing changed"));
}

/// `--http` hooks post straight to the channel with the key from `$SPINE_KEY`; posting the
/// same payloads as Claude Code would gives the same events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_hooks_post_the_same_payloads_with_the_same_result() {
    let s = Setup::new().await;
    s.login();
    let settings = s.sandbox.path("settings.json");
    let path = settings.to_str().unwrap();
    common::assert_success(&s.spine(&[
        "hook",
        "install",
        "claude-code",
        "--http",
        "--settings",
        path,
    ]));
    let installed = settings_of(&settings);
    let http = reqwest::Client::new();
    for (name, _) in FIXTURES {
        let input = fixture(name);
        let event: Value = serde_json::from_slice(&input).unwrap();
        let hook = spine_hook(&installed, event["hook_event_name"].as_str().unwrap());
        assert_eq!(hook["type"], "http");
        assert_eq!(hook["allowedEnvVars"], json!(["SPINE_KEY"]));
        // What Claude Code does: interpolate the allowed variable, POST the JSON.
        let mut request = http.post(hook["url"].as_str().unwrap()).body(input);
        for (header, value) in hook["headers"].as_object().unwrap() {
            request =
                request.header(header, value.as_str().unwrap().replace("$SPINE_KEY", &s.ingest));
        }
        let r = request.header("content-type", "application/json").send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    let events = s.until_events(FIXTURES.len()).await;
    let got = shapes(&events);
    let want: Vec<&str> = FIXTURES.iter().map(|(_, t)| *t).collect();
    assert_eq!(got.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), want);
}

/// With the server stopped, 100 hook calls each exit 0 quickly and print nothing; once it is
/// back, the next call sends all of them, in order, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_while_the_server_is_down_are_flushed_in_order_once_it_is_back() {
    let mut s = Setup::new().await;
    s.login();
    drop(s.server.take());
    let command = format!("{} hook claude-code", common::BIN);
    let prompt = |i: usize| {
        let mut hook: Value = serde_json::from_slice(&fixture("user-prompt-submit")).unwrap();
        hook["prompt"] = json!(format!("step {i}"));
        serde_json::to_vec(&hook).unwrap()
    };
    for i in 0..100 {
        let (out, took) = s.run_hook(&command, &prompt(i));
        assert!(out.status.success() && out.stdout.is_empty(), "call {i}: {out:?}");
        // The bound is 2 s; the margin is for starting a process on a loaded machine.
        assert!(took < Duration::from_secs(4), "call {i} took {took:?}");
    }
    let spooled = std::fs::read_dir(s.sandbox.path("state/spine/claude-code-spool"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(spooled, 100);

    s.restart();
    let (out, _) = s.run_hook(&command, &prompt(100));
    assert!(out.status.success() && out.stdout.is_empty());
    let events = s.until_events(101).await;
    let titles: Vec<String> = shapes(&events).into_iter().map(|(_, title)| title).collect();
    let want: Vec<String> = (0..=100).map(|i| format!("Prompt: step {i}")).collect();
    assert_eq!(titles, want, "every call once, in the order made");
    let left = std::fs::read_dir(s.sandbox.path("state/spine/claude-code-spool"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(left, 0, "the spool is empty");
}

/// A spool over its bound (`SPINE_HOOK_SPOOL_CALLS=10` here, 20,000 by default) drops its
/// oldest calls; once the server is back the kept calls arrive in order, followed by a notice
/// saying how many were dropped, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_calls_and_says_how_many() {
    let mut s = Setup::new().await;
    s.login();
    drop(s.server.take());
    let command = format!("SPINE_HOOK_SPOOL_CALLS=10 {} hook claude-code", common::BIN);
    let prompt = |i: usize| {
        let mut hook: Value = serde_json::from_slice(&fixture("user-prompt-submit")).unwrap();
        hook["prompt"] = json!(format!("step {i}"));
        serde_json::to_vec(&hook).unwrap()
    };
    for i in 0..15 {
        let (out, _) = s.run_hook(&command, &prompt(i));
        assert!(out.status.success() && out.stdout.is_empty(), "call {i}: {out:?}");
    }
    s.restart();
    // The 16th call pushes one more out (6 dropped), then flushes the 10 kept.
    let (out, _) = s.run_hook(&command, &prompt(15));
    assert!(out.status.success() && out.stdout.is_empty());
    let events = s.until_events(11).await;
    let titles: Vec<String> =
        events.iter().map(|e| e["title"].as_str().unwrap().to_owned()).collect();
    let mut want: Vec<String> = (6..16).map(|i| format!("Prompt: step {i}")).collect();
    want.push(
        "spine hook: 6 hook calls were dropped while the server could not be reached (the local \
         spool was full)"
            .to_owned(),
    );
    assert_eq!(titles, want);
    assert_eq!(events[10]["type"], json!("agent.notification"));
    assert_eq!(events[10]["data"]["notification_type"], json!("spool_overflow"));
    // Said once: the next call reports nothing more.
    let (out, _) = s.run_hook(&command, &prompt(16));
    assert!(out.status.success());
    let events = s.until_events(12).await;
    assert_eq!(events.len(), 12);
    assert_eq!(events[11]["title"], json!("Prompt: step 16"));
}

/// Garbage on stdin, or no profile at all: exit 0, nothing on stdout. Malformed settings are
/// refused with a clear message and left exactly as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_malformed_settings_change_nothing() {
    let s = Setup::new().await;
    let command = format!("{} hook claude-code", common::BIN);
    for input in [&b"not json"[..], b"[1,2]", b""] {
        let (out, _) = s.run_hook(&command, input);
        assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    }
    // Not logged in: the call waits in the spool for a profile.
    let (out, _) = s.run_hook(&command, &fixture("stop"));
    assert!(out.status.success() && out.stdout.is_empty());
    s.login();
    let (out, _) = s.run_hook(&command, &fixture("session-end"));
    assert!(out.status.success());
    let events = s.until_events(2).await;
    let types: Vec<(String, String)> = shapes(&events);
    assert_eq!(
        types.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["agent.stopped", "agent.session.ended"]
    );

    let settings = s.sandbox.path("broken.json");
    let path = settings.to_str().unwrap();
    for broken in ["{\"hooks\": ", "{\"hooks\": {\"Stop\": {}}}", "[]"] {
        std::fs::write(&settings, broken).unwrap();
        let out = s.spine(&["hook", "install", "claude-code", "--settings", path]);
        let stderr = common::assert_clean_failure(&out);
        assert!(
            stderr.contains("cannot be changed") && stderr.contains("left as it is"),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&settings).unwrap(), broken, "untouched");
        assert!(!s.sandbox.path("broken.json.spine-backup").exists());
    }
}

/// A tool call's finish names its start as its cause and carries the time between the hooks
/// (as the relay recorded them, so a call flushed later from the spool keeps its duration), and
/// reads as a sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_tool_call_names_its_start_and_how_long_it_took() {
    let s = Setup::new().await;
    s.login();
    let command = format!("{} hook claude-code", common::BIN);
    let mut start: Value = serde_json::from_slice(&fixture("pre-tool-use-bash")).unwrap();
    start["hooked_at"] = json!("2026-12-01T10:00:00.000Z");
    let mut finish = start.clone();
    finish["hook_event_name"] = json!("PostToolUse");
    finish["tool_response"] = json!({"stdout": "ok", "stderr": "", "interrupted": false});
    finish["hooked_at"] = json!("2026-12-01T10:00:02.300Z");
    for hook in [&start, &finish] {
        let (out, _) = s.run_hook(&command, &serde_json::to_vec(hook).unwrap());
        assert!(out.status.success() && out.stdout.is_empty());
    }
    let events = s.until_events(2).await;
    assert_eq!(events.len(), 2);
    let (started, finished) = (&events[0], &events[1]);
    assert_eq!(finished["type"], "agent.tool.finished");
    assert_eq!(finished["causation_id"], started["id"], "the finish names its start");
    assert_eq!(finished["data"]["duration_ms"], 2300);
    assert_eq!(finished["summary"], "Claude ran Bash \"npm test\" (2.3 s)");
    assert_eq!(started["summary"], "Claude started Bash \"npm test\"");
}

/// A secret shape and the secret itself, generated: what a coding agent might type or read.
fn secrets() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    prop_oneof![
        "[A-Z0-9]{16}".prop_map(|s| (format!("AKIA{s}"), format!("AKIA{s}"))),
        "[A-Za-z0-9]{24,40}".prop_map(|s| (format!("sk-{s}"), format!("sk-{s}"))),
        "[A-Za-z0-9]{36}".prop_map(|s| (format!("ghp_{s}"), format!("ghp_{s}"))),
        "[A-Za-z0-9]{20,32}".prop_map(|s| (format!("Authorization: Bearer {s}"), s)),
        "[A-Za-z0-9]{12,24}".prop_map(|s| (format!("DB_PASSWORD={s}"), s)),
        "[A-Za-z0-9]{12,24}".prop_map(|s| (format!("postgres://app:{s}@db:5432/shop"), s)),
        "[A-Za-z0-9+/]{40,64}".prop_map(|s| (
            format!("-----BEGIN RSA PRIVATE KEY-----\n{s}\n-----END RSA PRIVATE KEY-----"),
            s
        )),
        // The channel's own pattern: an internal ticket id.
        "[0-9]{6}".prop_map(|s| (format!("ticket ACME-{s}"), format!("ACME-{s}"))),
    ]
}

/// Redaction end to end: generated secrets typed into commands and read back in tool output go
/// through the real relay; none of them is anywhere in the database afterwards (events, the
/// ledger's bodies, anything) nor in the server's debug log. The built-in shapes and the
/// channel's own extra pattern alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_secrets_never_reach_the_database_or_the_log() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, TestRunner};
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    let created = sandbox.json(&["tenant", "create", "agents", "--json", "--db", &db]);
    let admin = created["admin_key"].as_str().unwrap().to_owned();
    let server = Server::start_logging(&sandbox, &db, &sandbox.path("server.log"));
    let url = server.url.clone();
    let r = reqwest::Client::new()
        .post(format!("{url}/v1/channels"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Claude Code", "provider": "claude-code",
                       "privacy": {"redact": ["ACME-[0-9]{6}"]}}))
        .send()
        .await
        .unwrap();
    let channel = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let mut runner = TestRunner::new(Config { cases: 40, ..Config::default() });
    let strategy = secrets();
    let mut planted = Vec::new();
    let command = format!("{} hook claude-code", common::BIN);
    for i in 0..40 {
        let (shape, secret) = strategy.new_tree(&mut runner).unwrap().current();
        let mut start: Value = serde_json::from_slice(&fixture("pre-tool-use-bash")).unwrap();
        start["tool_use_id"] = json!(format!("toolu_{i}"));
        // Every call also carries a ticket id the channel's own pattern redacts.
        let ticket = format!("ACME-{}", 100_000 + i * 7_919);
        start["tool_input"]["command"] =
            json!(format!("curl -H \"{shape}\" https://api.example.com # {ticket}"));
        let mut finish = start.clone();
        finish["hook_event_name"] = json!("PostToolUse");
        finish["tool_response"] = json!({"stdout": format!("export {shape}\nok"), "stderr": ""});
        for hook in [&start, &finish] {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &command])
                .env("SPINE_URL", &url)
                .env("SPINE_KEY", &admin)
                .env("SPINE_CHANNEL", &channel)
                .env("XDG_STATE_HOME", sandbox.path("state"))
                .env("XDG_CONFIG_HOME", sandbox.path("config"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            std::io::Write::write_all(
                &mut child.stdin.take().unwrap(),
                &serde_json::to_vec(hook).unwrap(),
            )
            .unwrap();
            assert!(child.wait_with_output().unwrap().status.success());
        }
        planted.push((shape, secret));
        planted.push(("the channel's pattern".to_owned(), ticket));
    }
    server.stop();
    let mut stored = Vec::new();
    for file in ["spine.db", "spine.db-wal"] {
        stored.extend(std::fs::read(sandbox.path(file)).unwrap_or_default());
    }
    let stored = String::from_utf8_lossy(&stored);
    let logged = std::fs::read_to_string(sandbox.path("server.log")).unwrap();
    assert!(stored.contains("api.example.com"), "the calls were stored");
    for (shape, secret) in &planted {
        if let Some(at) = stored.find(secret.as_str()) {
            let around: String = stored[at.saturating_sub(300)..].chars().take(500).collect();
            panic!("{secret} ({shape}) is in the database: ...{around:?}");
        }
        assert!(!logged.contains(secret.as_str()), "{secret} ({shape}) is in the log");
    }
}
