//! The wall time of one `spine hook claude-code` call, process start to exit, as a coding agent
//! pays it on every tool call: with the server up (the call is relayed) and down (the call is
//! spooled), beside `true` (the cost of starting any process) and `curl` posting the same JSON
//! to the same channel, measured in the same run. p50 and p99 over `calls` calls each.

use crate::backend::Backend;
use crate::ingest::{client, RunningServer};
use crate::measure::{ms, percentiles, Row};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A `PreToolUse` hook input as Claude Code sends it (each call gets its own `tool_use_id`).
fn hook_input(i: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "session_id": "9f2c8e4a-51b7-4d0e-a3c6-2b1f7e90d4aa",
        "transcript_path": "/home/ana/.claude/projects/-home-ana-shop/9f2c8e4a.jsonl",
        "cwd": "/home/ana/shop",
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "cargo test", "description": "Run the tests"},
        "tool_use_id": format!("toolu_bench_{i}"),
    }))
    .unwrap_or_default()
}

/// Times `calls` runs of a command, each given a hook input on stdin.
fn time_calls(calls: usize, make: &dyn Fn() -> Command) -> BenchResult<Vec<Duration>> {
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls {
        let input = hook_input(i);
        let started = Instant::now();
        let mut child =
            make().stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            // `true` does not read its input: a closed pipe is fine.
            let _ = stdin.write_all(&input);
        }
        let status = child.wait()?;
        samples.push(started.elapsed());
        if !status.success() {
            return Err(format!("the command failed: {status}").into());
        }
    }
    Ok(samples)
}

/// `spine hook claude-code` for `target`, with its own state and config directories.
fn spine_hook(spine: &Path, home: &Path, url: &str, key: &str, channel: &str) -> Command {
    let mut cmd = Command::new(spine);
    cmd.args(["hook", "claude-code"])
        .env("SPINE_URL", url)
        .env("SPINE_KEY", key)
        .env("SPINE_CHANNEL", channel)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    cmd
}

/// The section.
pub async fn run(backend: &Backend, calls: usize) -> BenchResult<Vec<Row>> {
    let spine = std::env::current_exe()?;
    let (_, nodes) = backend.fresh("hook", 1).await?;
    let servers = RunningServer::start_all(nodes).await?;
    let server = &servers[0];
    let answer: Value = client(1)?
        .post(format!("{}/v1/channels", server.url))
        .bearer_auth(&server.key)
        .json(&json!({"name": "Claude Code", "provider": "claude-code"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let channel = answer["id"].as_str().ok_or("no channel id")?.to_owned();
    let (url, key) = (server.url.clone(), server.key.clone());
    // A port nothing listens on: the server "down".
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", listener.local_addr()?)
    };
    let dir = tempfile::tempdir()?;
    let home = dir.path().to_path_buf();
    let rows = tokio::task::spawn_blocking(move || -> BenchResult<Vec<Row>> {
        let mut truth = time_calls(calls, &|| Command::new("true"))?;
        let ingest = format!("{url}/v1/ingest/{channel}");
        let curl = || {
            let mut cmd = Command::new("curl");
            cmd.args(["-s", "-o", "/dev/null", "-f", "-X", "POST", "--max-time", "2"])
                .args(["-H", &format!("Authorization: Bearer {key}")])
                .args(["-H", "Content-Type: application/json", "--data-binary", "@-", &ingest]);
            cmd
        };
        let mut curled = time_calls(calls, &curl)?;
        let up_home: PathBuf = home.join("up");
        let mut up = time_calls(calls, &|| spine_hook(&spine, &up_home, &url, &key, &channel))?;
        let down_home: PathBuf = home.join("down");
        let mut spooled =
            time_calls(calls, &|| spine_hook(&spine, &down_home, &down, &key, &channel))?;
        let (t, c) = (percentiles(&mut truth), percentiles(&mut curled));
        let (u, d) = (percentiles(&mut up), percentiles(&mut spooled));
        let row = |name: String, value: Duration, base: Duration| {
            Row::new(name, ms(value), "ms", Some(ms(base)), "")
        };
        Ok(vec![
            Row::new(format!("baseline: `true`, {calls} calls, p50"), ms(t.p50), "ms", None, ""),
            Row::new(format!("baseline: `true`, {calls} calls, p99"), ms(t.p99), "ms", None, ""),
            row("baseline: curl posting the hook, p50 (vs true)".to_owned(), c.p50, t.p50),
            row("baseline: curl posting the hook, p99 (vs true)".to_owned(), c.p99, t.p99),
            row("spine hook claude-code, server up, p50 (vs curl)".to_owned(), u.p50, c.p50),
            row("spine hook claude-code, server up, p99 (vs curl)".to_owned(), u.p99, c.p99),
            row("spine hook claude-code, server down, p50 (vs curl)".to_owned(), d.p50, c.p50),
            row("spine hook claude-code, server down, p99 (vs curl)".to_owned(), d.p99, c.p99),
        ])
    })
    .await??;
    RunningServer::stop_all(servers).await;
    Ok(rows)
}
