//! `spine hook`: the coding-agent side of Spine (SPEC section 6, the `claude-code` provider).
//!
//! - `spine hook claude-code` relays one Claude Code hook call (its JSON on stdin) to the
//!   tenant's `claude-code` channel. It exits 0 within a bounded time whatever happens (server
//!   down or slow, a refusal, malformed input), never prints to stdout (a hook's stdout can steer
//!   the agent) and never fails the tool. Every call is first written to a local spool, which is
//!   then flushed oldest first: when the server cannot be reached the calls wait there, and the
//!   next call that gets through sends them in order. The spool is bounded; when it is full the
//!   oldest calls are dropped and counted, and the count is reported once the server is back.
//! - `spine hook install claude-code` and `spine hook uninstall` add and remove the hook entries
//!   in Claude Code's `settings.json` (see [`crate::hook_settings`]).

use crate::error::{CliError, CliResult};
use crate::hook_settings::{self, SpineHook};
use crate::profile::{Profile, Target};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The largest hook input relayed.
const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// The most the spool holds, in bytes and (unless `SPINE_HOOK_SPOOL_CALLS` says otherwise) in
/// calls.
const MAX_SPOOL_BYTES: u64 = 64 * 1024 * 1024;
const MAX_SPOOL_CALLS: usize = 20_000;

/// `spine hook ...`.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Relay one Claude Code hook call (JSON on stdin) to the `claude-code` channel; always
    /// exits 0, prints nothing
    ClaudeCode(RelayArgs),
    /// Add Spine's hooks to Claude Code's settings.json (other settings are kept)
    Install(InstallArgs),
    /// Remove exactly the hooks `spine hook install` added
    Uninstall(UninstallArgs),
}

/// Arguments of `spine hook claude-code`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The longest the whole call may take, reading stdin included
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub timeout_ms: u64,
}

/// The agents `spine hook install` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Agent {
    /// Anthropic's Claude Code.
    ClaudeCode,
}

/// Which settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// `~/.claude/settings.json`: every project of this user.
    User,
    /// `.claude/settings.json` in this directory: shared with the project's team.
    Project,
    /// `.claude/settings.local.json` in this directory: this project, this machine.
    Local,
}

/// Arguments of `spine hook install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agent
    #[arg(value_enum)]
    pub agent: Agent,
    /// Which settings file
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// Post straight to the channel from Claude Code (`http` hooks, the key read from the
    /// SPINE_KEY variable of Claude Code's environment) instead of running `spine hook`
    #[arg(long)]
    pub http: bool,
    /// This settings file instead of the scope's
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
}

/// Arguments of `spine hook uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The agent
    #[arg(value_enum, default_value_t = Agent::ClaudeCode)]
    pub agent: Agent,
    /// Which settings file
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// This settings file instead of the scope's
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
}

/// Runs `spine hook install` or `uninstall` (the relay is [`relay`]).
pub fn run(command: HookCommand) -> CliResult<()> {
    match command {
        HookCommand::ClaudeCode(_) => Ok(()),
        HookCommand::Install(args) => install(args),
        HookCommand::Uninstall(args) => uninstall(args),
    }
}

fn settings_path(scope: Scope, given: Option<PathBuf>) -> CliResult<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    Ok(match scope {
        Scope::User => {
            let home = std::env::var_os("HOME").ok_or_else(|| CliError::new("HOME is not set"))?;
            PathBuf::from(home).join(".claude").join("settings.json")
        }
        Scope::Project => PathBuf::from(".claude").join("settings.json"),
        Scope::Local => PathBuf::from(".claude").join("settings.local.json"),
    })
}

/// Reads a settings file (absent: empty), refusing one that is not a settings object.
fn read_settings(
    path: &Path,
) -> CliResult<(Option<String>, serde_json::Map<String, serde_json::Value>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(CliError::from(e).context(path.display())),
    };
    let settings = hook_settings::parse(text.as_deref().unwrap_or_default()).map_err(|m| {
        CliError::new(format!(
            "{} cannot be changed: {}; fix it (or move it away) and run this again; it was left as it is",
            path.display(),
            m.0
        ))
    })?;
    Ok((text, settings))
}

/// Writes changed settings, keeping the previous file as `<name>.spine-backup`.
fn write_settings(
    path: &Path,
    previous: Option<&str>,
    settings: &serde_json::Map<String, serde_json::Value>,
) -> CliResult<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CliError::from(e).context(dir.display()))?;
    }
    if let Some(previous) = previous {
        let backup = backup_path(path);
        std::fs::write(&backup, previous)
            .map_err(|e| CliError::from(e).context(backup.display()))?;
    }
    let mut text =
        serde_json::to_string_pretty(settings).map_err(|e| CliError::new(e.to_string()))?;
    text.push('\n');
    let tmp = path.with_extension("spine-tmp");
    std::fs::write(&tmp, text).map_err(|e| CliError::from(e).context(tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| CliError::from(e).context(path.display()))
}

/// Where the previous settings are kept.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".spine-backup");
    path.with_file_name(name)
}

fn install(args: InstallArgs) -> CliResult<()> {
    let path = settings_path(args.scope, args.settings)?;
    let hook = if args.http {
        let target = Profile::load()?.resolve(|n| std::env::var(n).ok()).ok_or_else(|| {
            CliError::new(
                "--http needs the server and the channel: run `spine login --url URL --key KEY \
                 --channel ID` first (or set SPINE_URL, SPINE_KEY and SPINE_CHANNEL)",
            )
        })?;
        SpineHook::Http(format!("{}/v1/ingest/{}", target.url, target.channel))
    } else {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::new(format!("cannot find the spine binary: {e}")))?;
        let exe = exe.to_string_lossy();
        let exe = if exe.contains(char::is_whitespace) { format!("'{exe}'") } else { exe.into() };
        SpineHook::Command(format!("{exe} hook claude-code"))
    };
    let (previous, mut settings) = read_settings(&path)?;
    if !hook_settings::install(&mut settings, &hook) {
        println!("{}: Spine's hooks are already there; nothing changed", path.display());
        return Ok(());
    }
    write_settings(&path, previous.as_deref(), &settings)?;
    let events: Vec<&str> = hook_settings::EVENTS.iter().map(|(e, _)| *e).collect();
    println!("{}: added Spine's hooks for {}", path.display(), events.join(", "));
    if previous.is_some() {
        println!("the previous file is kept as {}", backup_path(&path).display());
    }
    if args.http {
        println!("Claude Code must run with SPINE_KEY set to a key of the tenant");
    }
    Ok(())
}

fn uninstall(args: UninstallArgs) -> CliResult<()> {
    let path = settings_path(args.scope, args.settings)?;
    let (previous, mut settings) = read_settings(&path)?;
    if previous.is_none() || !hook_settings::uninstall(&mut settings) {
        println!("{}: no Spine hooks; nothing changed", path.display());
        return Ok(());
    }
    write_settings(&path, previous.as_deref(), &settings)?;
    println!("{}: removed Spine's hooks", path.display());
    Ok(())
}

/// `spine hook claude-code`: everything it does is bounded by `--timeout-ms`, and nothing it
/// meets is an error: the caller is a coding agent's tool call.
pub async fn relay(args: RelayArgs) {
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms.clamp(100, 60_000));
    let _ = tokio::time::timeout_at(deadline.into(), relay_within(deadline)).await;
}

async fn relay_within(deadline: Instant) {
    let Some(input) = read_input().await else { return };
    let Some(body) = prepare(&input) else { return };
    let Some(spool) = Spool::open() else { return };
    // Written first, so that a call cut off by the deadline (or a server that is down) is
    // flushed by the next one, in order.
    if spool.push(&body).is_err() {
        return;
    }
    let Some(target) = Profile::load().ok().and_then(|p| p.resolve(|n| std::env::var(n).ok()))
    else {
        return;
    };
    let Some(_lock) = spool.lock(deadline).await else { return };
    spool.flush(&target, deadline).await;
}

/// Stdin, up to the bound; `None` when it is larger or unreadable.
async fn read_input() -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut input = Vec::new();
    let mut stdin = tokio::io::stdin().take(MAX_INPUT_BYTES as u64 + 1);
    stdin.read_to_end(&mut input).await.ok()?;
    (input.len() <= MAX_INPUT_BYTES).then_some(input)
}

/// The body to relay: the hook's JSON object, with when it ran (`hooked_at`, so that a call
/// flushed from the spool keeps its time) and the user who ran the agent (`user`) added when the
/// hook does not name them. Anything else is not a hook call, and is dropped.
fn prepare(input: &[u8]) -> Option<Vec<u8>> {
    let serde_json::Value::Object(mut hook) = serde_json::from_slice(input).ok()? else {
        return None;
    };
    if !hook.contains_key("hooked_at") {
        let now = time::OffsetDateTime::now_utc();
        if let Ok(at) = now.format(&time::format_description::well_known::Rfc3339) {
            hook.insert("hooked_at".into(), serde_json::Value::String(at));
        }
    }
    if !hook.contains_key("user") {
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok();
        if let Some(user) = user.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) {
            hook.insert("user".into(), serde_json::Value::String(user));
        }
    }
    serde_json::to_vec(&hook).ok()
}

/// The local spool: one file per call, named so that names sort in the order of the calls.
pub struct Spool {
    dir: PathBuf,
    /// The most calls it holds.
    max_calls: usize,
}

/// The held lock of a spool's flush (released when dropped).
struct FlushLock(std::fs::File);

impl Drop for FlushLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// What one delivery attempt came to.
enum Sent {
    /// Stored (or recognised as a repeat): remove it from the spool.
    Done,
    /// The server will never take it (it is not a valid hook call): remove it.
    Refused,
    /// Not now (unreachable, slow, unwell, or not signed in): keep it and stop.
    Later,
}

impl Spool {
    /// The spool's directory: `$XDG_STATE_HOME/spine/claude-code-spool`, else
    /// `$HOME/.local/state/spine/claude-code-spool`.
    pub fn dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
        Some(base.join("spine").join("claude-code-spool"))
    }

    /// The spool, holding at most `SPINE_HOOK_SPOOL_CALLS` calls (1-1,000,000; anything
    /// else means the default, 20,000: a hook never fails on its environment).
    fn open() -> Option<Self> {
        let max_calls = std::env::var("SPINE_HOOK_SPOOL_CALLS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|n| (1..=1_000_000).contains(n))
            .unwrap_or(MAX_SPOOL_CALLS);
        Self::at(Self::dir()?, max_calls)
    }

    fn at(dir: PathBuf, max_calls: usize) -> Option<Self> {
        std::fs::create_dir_all(&dir).ok()?;
        Some(Self { dir, max_calls })
    }

    /// The spooled calls, oldest first, with their sizes.
    fn entries(&self) -> Vec<(PathBuf, u64)> {
        let Ok(read) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut entries: Vec<(PathBuf, u64)> = read
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        entries.sort();
        entries
    }

    /// Adds a call (as a whole file: a reader never sees half of one), dropping the oldest
    /// when the spool is over its bound.
    fn push(&self, body: &[u8]) -> std::io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let name = format!("{now:024}-{}.json", uuid::Uuid::now_v7().simple());
        let tmp = self.dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, self.dir.join(name))?;
        let entries = self.entries();
        let mut bytes: u64 = entries.iter().map(|(_, size)| size).sum();
        let mut count = entries.len();
        let mut dropped = 0;
        for (path, size) in &entries {
            if bytes <= MAX_SPOOL_BYTES && count <= self.max_calls {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                dropped += 1;
            }
            bytes -= size;
            count -= 1;
        }
        if dropped > 0 {
            self.change_dropped(dropped);
        }
        Ok(())
    }

    fn dropped_path(&self) -> PathBuf {
        self.dir.join("dropped")
    }

    /// Changes the count of dropped calls by `delta` under its own short lock, so that
    /// concurrent hooks dropping calls, and a flush reporting them, never lose a count.
    fn change_dropped(&self, delta: i64) -> u64 {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("dropped.lock"));
        let held = lock.as_ref().is_ok_and(|file| file.lock().is_ok());
        let count: u64 = std::fs::read_to_string(self.dropped_path())
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let count = count.saturating_add_signed(delta);
        if delta != 0 {
            let _ = match count {
                0 => std::fs::remove_file(self.dropped_path()),
                n => std::fs::write(self.dropped_path(), n.to_string()),
            };
        }
        if let (Ok(file), true) = (lock, held) {
            let _ = file.unlock();
        }
        count
    }

    /// Waits (until the deadline) for the right to flush: one flush at a time keeps the order.
    async fn lock(&self, deadline: Instant) -> Option<FlushLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))
            .ok()?;
        loop {
            match file.try_lock() {
                Ok(()) => return Some(FlushLock(file)),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(_) => return None,
            }
        }
    }

    /// Sends the spooled calls oldest first, until one cannot be sent or time runs out; then,
    /// when the spool is empty and calls were dropped, says how many.
    async fn flush(&self, target: &Target, deadline: Instant) {
        let Ok(http) = reqwest::Client::builder()
            .user_agent(concat!("spine-hook/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_millis(500))
            .build()
        else {
            return;
        };
        let url = format!("{}/v1/ingest/{}", target.url, target.channel);
        for (path, _) in self.entries() {
            let Ok(body) = std::fs::read(&path) else { continue };
            match send(&http, &url, &target.key, body, deadline).await {
                Sent::Done | Sent::Refused => {
                    let _ = std::fs::remove_file(&path);
                }
                Sent::Later => return,
            }
        }
        let dropped = self.change_dropped(0);
        if dropped > 0 {
            let notice = serde_json::json!({
                "hook_event_name": "Notification",
                "session_id": "spine-hook-spool",
                "notification_type": "spool_overflow",
                "message": format!(
                    "spine hook: {dropped} hook calls were dropped while the server could not be \
                     reached (the local spool was full)"
                ),
            });
            let body = serde_json::to_vec(&notice).unwrap_or_default();
            if matches!(send(&http, &url, &target.key, body, deadline).await, Sent::Done) {
                // Only what was reported: calls dropped meanwhile are reported next time.
                self.change_dropped(-(dropped as i64));
            }
        }
    }
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: Vec<u8>,
    deadline: Instant,
) -> Sent {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Sent::Later;
    }
    let request = http
        .post(url)
        .bearer_auth(key)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(left)
        .body(body);
    match request.send().await {
        Ok(r) if r.status().is_success() => Sent::Done,
        // The body itself is refused: sending it again cannot help.
        Ok(r) if matches!(r.status().as_u16(), 400 | 413 | 415 | 422) => Sent::Refused,
        _ => Sent::Later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_objects_are_relayed_and_the_user_is_added() {
        assert!(prepare(b"not json").is_none());
        assert!(prepare(b"[1, 2]").is_none());
        let body = prepare(br#"{"hook_event_name": "Stop", "user": "ana"}"#).expect("an object");
        let hook: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(hook["user"], "ana", "a user the hook names is kept");
    }

    /// Concurrent hooks over a full spool: it keeps the newest calls up to its bound, and every
    /// dropped call is counted exactly once (each removal is counted by the one that made it,
    /// and counts are changed under their own lock).
    #[test]
    fn a_full_spool_drops_the_oldest_and_counts_each_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::at(dir.path().join("spool"), 10).expect("spool");
        std::thread::scope(|threads| {
            for t in 0..4 {
                let spool = &spool;
                threads.spawn(move || {
                    for i in 0..50 {
                        spool.push(format!("{{\"t\": {t}, \"i\": {i}}}").as_bytes()).expect("push");
                    }
                });
            }
        });
        let kept = spool.entries();
        assert_eq!(kept.len(), 10);
        assert_eq!(spool.change_dropped(0), 190, "200 calls, 10 kept");
        // Each thread's calls are kept in its own order: names sort by time.
        let last: Vec<serde_json::Value> = kept
            .iter()
            .map(|(path, _)| {
                serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
            })
            .collect();
        for t in 0..4 {
            let mine: Vec<u64> =
                last.iter().filter(|h| h["t"] == t).map(|h| h["i"].as_u64().unwrap()).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
            assert!(mine.iter().all(|i| *i >= 40), "only the newest are kept: {mine:?}");
        }
        assert_eq!(spool.change_dropped(-190), 0);
        assert!(!spool.dropped_path().exists(), "a zero count leaves no file");
    }

    #[test]
    fn the_backup_sits_beside_the_settings() {
        assert_eq!(
            backup_path(Path::new("/p/.claude/settings.json")),
            PathBuf::from("/p/.claude/settings.json.spine-backup")
        );
    }
}
