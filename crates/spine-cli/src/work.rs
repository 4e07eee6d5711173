//! `spine work --queue Q -- COMMAND ...`: a worker process for the Work API (SPEC section 7).
//!
//! It claims jobs (long-polling, up to `--concurrency` at a time) and runs the command once per
//! job, with the job's JSON on stdin and `SPINE_JOB_ID` in its environment. While the command
//! runs, the lease is extended every third of its length; when a heartbeat learns that the lease
//! was lost (it expired and another worker took the job), the command is killed and nothing is
//! settled. A zero exit completes the job with the command's stdout as the result (JSON when it
//! is a JSON document, else the text) and, with `--note`, as a note on the job's entity; a
//! non-zero exit fails it with the end of its stderr. SIGTERM or Ctrl-C stops claiming and lets
//! the commands that run finish and settle; a second signal kills them and leaves at once (their
//! leases expire and the jobs run again elsewhere).

use crate::config::Settings;
use crate::emit::{client, endpoint};
use crate::error::{CliError, CliResult};
use crate::problem::Problem;
use clap::Args;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The largest result a completion carries (the server's limit).
const MAX_RESULT_BYTES: usize = spine_core::work::input::MAX_RESULT_BYTES;
/// The longest error a failure carries, in characters (the server's limit).
const MAX_ERROR_CHARS: usize = spine_core::work::input::MAX_ERROR_CHARS;
/// How long one claim waits on the server for a job.
const CLAIM_WAIT_SECONDS: u32 = 25;
/// The longest pause between attempts to reach a server that does not answer.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// Arguments of `spine work`.
#[derive(Debug, Args)]
pub struct WorkArgs {
    /// Server URL [default: http://127.0.0.1:7070]
    #[arg(long, env = "SPINE_URL", value_name = "URL")]
    pub url: Option<String>,
    /// Worker API key (prefer the SPINE_KEY variable: flags show in process lists)
    #[arg(long, env = "SPINE_KEY", hide_env_values = true, value_name = "KEY")]
    pub key: Option<String>,
    /// The queue to take jobs from
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub queue: String,
    /// How many jobs run at once
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub concurrency: u32,
    /// Lease length; the lease is extended every third of it while the command runs
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub lease_seconds: u32,
    /// The worker's name on jobs, their events and notes [default: the key's id]
    #[arg(long, value_name = "NAME")]
    pub worker: Option<String>,
    /// Also write the command's stdout as a Markdown note on the job's entity
    #[arg(long)]
    pub note: bool,
    /// The display name of the notes' author (with --note)
    #[arg(long, value_name = "NAME", requires = "note")]
    pub note_author: Option<String>,
    /// Kill a command that runs longer than this and fail its job
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub job_timeout: Option<u64>,
    /// Exit after claiming this many jobs (and settling them)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_jobs: Option<u64>,
    /// Exit once the queue has no job ready, instead of waiting for more
    #[arg(long)]
    pub drain: bool,
    /// The command to run per job, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What every job's task shares.
struct Worker {
    http: reqwest::Client,
    base: String,
    key: String,
    args: WorkArgs,
}

/// Runs `spine work`.
pub async fn run(args: WorkArgs, settings: &Settings) -> CliResult<()> {
    let key = settings.key.as_ref().map(|k| k.expose().to_owned()).ok_or_else(|| {
        CliError::new("no API key: set SPINE_KEY (or pass --key) to a worker key")
    })?;
    let worker = Arc::new(Worker { http: client()?, base: settings.url.clone(), key, args });
    let slots = Arc::new(Semaphore::new(worker.args.concurrency as usize));
    let mut running = JoinSet::new();
    let mut claimed_total = 0_u64;
    let mut reconnect_delay = Duration::from_millis(250);
    let stop = crate::serve::shutdown_signal();
    tokio::pin!(stop);
    let mut stopping = false;
    // Set by a job's task, before it frees its slot, when its command cannot be started at all:
    // then the worker stops instead of failing every job it could claim.
    let fatal: Arc<std::sync::Mutex<Option<CliError>>> = Arc::default();
    let is_fatal = |fatal: &std::sync::Mutex<Option<CliError>>| {
        fatal.lock().map(|f| f.is_some()).unwrap_or(true)
    };
    tracing::info!(queue = %worker.args.queue, command = ?worker.args.command, "waiting for jobs");
    loop {
        let left = worker.args.max_jobs.map_or(u64::MAX, |max| max - claimed_total);
        if left == 0 {
            break;
        }
        while running.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.map_err(|_| CliError::new("closed"))?,
            () = &mut stop => { stopping = true; break }
        };
        if is_fatal(&fatal) {
            break;
        }
        let mut permits = vec![first];
        while (permits.len() as u64) < left {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let wait = if worker.args.drain { 0 } else { CLAIM_WAIT_SECONDS };
        let claim = worker.claim(permits.len(), wait);
        let jobs = tokio::select! {
            jobs = claim => jobs,
            () = &mut stop => { stopping = true; break }
        };
        let jobs = match jobs {
            Ok(jobs) => {
                reconnect_delay = Duration::from_millis(250);
                jobs
            }
            Err(ClaimError::Fatal(e)) => {
                if let Ok(mut fatal) = fatal.lock() {
                    *fatal = Some(e);
                }
                break;
            }
            Err(ClaimError::Retry(why)) => {
                tracing::warn!("cannot claim: {why}; trying again in {reconnect_delay:?}");
                tokio::select! {
                    () = tokio::time::sleep(reconnect_delay) => {}
                    () = &mut stop => { stopping = true; break }
                }
                reconnect_delay = (reconnect_delay * 2).min(MAX_RECONNECT_DELAY);
                continue;
            }
        };
        if jobs.is_empty() && worker.args.drain {
            break;
        }
        claimed_total += jobs.len() as u64;
        for (job, permit) in jobs.into_iter().zip(permits) {
            let (worker, fatal) = (worker.clone(), fatal.clone());
            running.spawn(async move {
                if let Err(e) = worker.process(job).await {
                    if let Ok(mut fatal) = fatal.lock() {
                        *fatal = Some(e);
                    }
                }
                drop(permit);
            });
        }
    }
    if stopping {
        tracing::info!(
            running = running.len(),
            "stopping: no more claims; finishing the jobs held (a second signal kills them)"
        );
    }
    let second = crate::serve::shutdown_signal();
    tokio::pin!(second);
    loop {
        tokio::select! {
            done = running.join_next() => if done.is_none() { break },
            () = &mut second, if stopping => {
                tracing::warn!(
                    running = running.len(),
                    "second signal: killing the commands; their jobs run again once their leases expire"
                );
                running.shutdown().await;
                break;
            }
        }
    }
    let fatal = fatal.lock().ok().and_then(|mut f| f.take());
    fatal.map_or(Ok(()), Err)
}

/// Why a claim did not hand out jobs.
enum ClaimError {
    /// The server cannot be reached or is unwell: try again later.
    Retry(String),
    /// The server refused the claim itself (key, role, queue name): trying again cannot help.
    Fatal(CliError),
}

/// How a job's command ended.
enum Ended {
    /// It exited.
    Exited { status: ExitStatus, stdout: Vec<u8>, stdout_truncated: bool, stderr: String },
    /// It ran past `--job-timeout` and was killed.
    TimedOut,
    /// Another worker holds the job now: the command was killed and nothing is settled.
    LeaseLost,
}

impl Worker {
    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(endpoint(&self.base, path)).bearer_auth(&self.key).json(body)
    }

    /// Claims up to `limit` jobs, waiting up to `wait` seconds for one.
    async fn claim(&self, limit: usize, wait: u32) -> Result<Vec<Value>, ClaimError> {
        let mut body = json!({
            "queue": self.args.queue,
            "limit": limit,
            "lease_seconds": self.args.lease_seconds,
            "wait_seconds": wait,
        });
        if let Some(name) = &self.args.worker {
            body["worker"] = json!(name);
        }
        let response = self
            .post("/v1/work/claim", &body)
            .send()
            .await
            .map_err(|e| ClaimError::Retry(CliError::from(e).to_string()))?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(ClaimError::Retry(Problem::from_response(response).await.to_string()));
        }
        if !status.is_success() {
            return Err(ClaimError::Fatal(Problem::from_response(response).await.into()));
        }
        let mut answer: Value =
            response.json().await.map_err(|e| ClaimError::Retry(CliError::from(e).to_string()))?;
        match answer.get_mut("jobs").map(Value::take) {
            Some(Value::Array(jobs)) => Ok(jobs),
            _ => Err(ClaimError::Retry("the claim's answer holds no `jobs` list".to_owned())),
        }
    }

    /// Runs the command for one claimed job and settles the job by its outcome. Only a command
    /// that cannot be started is an error (the job is failed first, so it runs again elsewhere).
    async fn process(&self, mut job: Value) -> CliResult<()> {
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let token = match job.as_object_mut().and_then(|j| j.remove("lease_token")) {
            Some(Value::String(token)) => token,
            _ => {
                tracing::error!(job = %id, "the claim's answer has no lease token; skipping it");
                return Ok(());
            }
        };
        tracing::info!(job = %id, attempt = %job["attempt"], "running the command");
        let started = std::time::Instant::now();
        let ended = match self.run_command(&id, &token, &job).await {
            Ok(ended) => ended,
            Err(e) => {
                let error = format!("cannot run `{}`: {e}", self.args.command[0]);
                self.settle(&id, "fail", json!({ "lease_token": token, "error": error })).await;
                return Err(CliError::new(error));
            }
        };
        let took = started.elapsed();
        let body = match ended {
            Ended::LeaseLost => {
                tracing::warn!(
                    job = %id,
                    "the lease was lost (it expired and another worker holds the job): \
                     the command was stopped and nothing was settled"
                );
                return Ok(());
            }
            Ended::TimedOut => {
                let seconds = self.args.job_timeout.unwrap_or_default();
                let error = format!("the command ran longer than {seconds} s and was killed");
                ("fail", json!({ "lease_token": token, "error": error }))
            }
            Ended::Exited { status, stderr, .. } if !status.success() => {
                let error = failure_text(status, &stderr);
                ("fail", json!({ "lease_token": token, "error": error }))
            }
            Ended::Exited { stdout_truncated: true, .. } => {
                let error = format!(
                    "the command printed more than {} KiB; a result holds at most that",
                    MAX_RESULT_BYTES / 1024
                );
                ("fail", json!({ "lease_token": token, "error": error }))
            }
            Ended::Exited { stdout, .. } => ("complete", self.completion(&token, &stdout)),
        };
        if self.settle(&id, body.0, body.1).await {
            let outcome = if body.0 == "complete" { "completed" } else { "failed" };
            tracing::info!(job = %id, took = ?took, "{outcome}");
        }
        Ok(())
    }

    /// The body of `complete`: the stdout as the result (its JSON, or else its text) and, with
    /// `--note`, as the note's Markdown.
    fn completion(&self, token: &str, stdout: &[u8]) -> Value {
        let text = String::from_utf8_lossy(stdout);
        let mut body = json!({ "lease_token": token });
        if !text.trim().is_empty() {
            body["result"] = serde_json::from_slice::<Value>(stdout)
                .unwrap_or_else(|_| Value::String(text.trim_end().to_owned()));
            if self.args.note {
                let mut note = json!({ "body": text.trim() });
                if let Some(name) = &self.args.note_author {
                    let id = self.args.worker.clone().unwrap_or_else(|| name.clone());
                    note["author"] = json!({ "id": id, "name": name, "kind": "agent" });
                }
                body["note"] = note;
            }
        }
        body
    }

    /// Starts the command and watches it: heartbeats, the timeout, and its output.
    async fn run_command(&self, id: &str, token: &str, job: &Value) -> std::io::Result<Ended> {
        let (program, rest) = self.args.command.split_first().expect("clap requires a command");
        let mut command = tokio::process::Command::new(program);
        command
            .args(rest)
            .env("SPINE_JOB_ID", id)
            .env("SPINE_JOB_ATTEMPT", job["attempt"].to_string())
            .env("SPINE_QUEUE", &self.args.queue)
            .env("SPINE_URL", &self.base)
            .env("SPINE_KEY", &self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: a Ctrl-C typed at the terminal stops the claiming, not the
        // commands still finishing their jobs.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn()?;
        let input = serde_json::to_vec(job).unwrap_or_default();
        let mut stdin = child.stdin.take();
        let feed = async move {
            if let Some(stdin) = stdin.as_mut() {
                // A command that does not read its input closes the pipe: that is its choice.
                let _ = stdin.write_all(&input).await;
            }
            drop(stdin);
        };
        let stdout = read_bounded(child.stdout.take(), MAX_RESULT_BYTES);
        let stderr = read_tail(child.stderr.take(), MAX_ERROR_CHARS * 4);
        let output = async { tokio::join!(feed, stdout, stderr, child.wait()) };
        tokio::pin!(output);
        let beat = Duration::from_millis(u64::from(self.args.lease_seconds) * 1000 / 3);
        let mut heartbeats = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        let deadline = self.args.job_timeout.map(Duration::from_secs);
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        loop {
            tokio::select! {
                (_, (stdout, truncated), stderr, status) = &mut output => {
                    return Ok(Ended::Exited {
                        status: status?,
                        stdout,
                        stdout_truncated: truncated,
                        stderr,
                    });
                }
                _ = heartbeats.tick() => {
                    if self.heartbeat(id, token).await == Beat::Lost {
                        return Ok(Ended::LeaseLost);
                    }
                }
                () = &mut timeout => return Ok(Ended::TimedOut),
            }
        }
        // Returning drops `output` and with it the child, which `kill_on_drop` kills.
    }

    /// Extends the lease once.
    async fn heartbeat(&self, id: &str, token: &str) -> Beat {
        let body = json!({ "lease_token": token, "lease_seconds": self.args.lease_seconds });
        match self.post(&format!("/v1/work/{id}/heartbeat"), &body).send().await {
            Ok(r) if r.status().is_success() => Beat::Held,
            Ok(r) if matches!(r.status(), StatusCode::CONFLICT | StatusCode::NOT_FOUND) => {
                Beat::Lost
            }
            Ok(r) => {
                tracing::warn!(job = %id, "heartbeat refused: {}", Problem::from_response(r).await);
                Beat::Unknown
            }
            Err(e) => {
                tracing::warn!(job = %id, "heartbeat failed: {}", CliError::from(e));
                Beat::Unknown
            }
        }
    }

    /// Sends `complete` or `fail`, trying again while the server cannot be reached (within the
    /// lease: after it, another worker may hold the job). Whether the server accepted it.
    async fn settle(&self, id: &str, verb: &str, body: Value) -> bool {
        let path = format!("/v1/work/{id}/{verb}");
        let give_up =
            tokio::time::Instant::now() + Duration::from_secs(u64::from(self.args.lease_seconds));
        let mut delay = Duration::from_millis(100);
        loop {
            match self.post(&path, &body).send().await {
                Ok(r) if r.status().is_success() => return true,
                Ok(r) if r.status() == StatusCode::CONFLICT => {
                    tracing::warn!(
                        job = %id,
                        "the lease was lost before the job was settled: another worker runs it again"
                    );
                    return false;
                }
                Ok(r) if !r.status().is_server_error() => {
                    tracing::error!(job = %id, "{verb} refused: {}", Problem::from_response(r).await);
                    return false;
                }
                Ok(r) => tracing::warn!(job = %id, "{verb}: {}", Problem::from_response(r).await),
                Err(e) => tracing::warn!(job = %id, "{verb}: {}", CliError::from(e)),
            }
            if tokio::time::Instant::now() + delay > give_up {
                tracing::error!(job = %id, "could not {verb} the job before its lease ended");
                return false;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RECONNECT_DELAY);
        }
    }
}

/// What a heartbeat learned.
#[derive(Debug, PartialEq, Eq)]
enum Beat {
    /// The lease was extended.
    Held,
    /// Another worker holds the job (or it is gone): stop.
    Lost,
    /// The server could not be asked: go on, the next beat may get through.
    Unknown,
}

/// The error a failed command leaves: the end of its stderr, else its exit status.
fn failure_text(status: ExitStatus, stderr: &str) -> String {
    let stderr = stderr.trim();
    let what = match status.code() {
        Some(code) => format!("the command exited with status {code}"),
        None => format!("the command was killed ({status})"),
    };
    if stderr.is_empty() {
        return what;
    }
    let room = MAX_ERROR_CHARS - what.len() - 2;
    let chars = stderr.chars().count();
    let tail: String = stderr.chars().skip(chars.saturating_sub(room)).collect();
    format!("{what}: {tail}")
}

/// Reads a pipe to its end, keeping the first `max` bytes; whether more came.
async fn read_bounded<R: AsyncRead + Unpin>(pipe: Option<R>, max: usize) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut buf = [0_u8; 8192];
    let mut more = false;
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        more |= n > room;
    }
    (kept, more)
}

/// Reads a pipe to its end, keeping the last `max` bytes, as text.
async fn read_tail<R: AsyncRead + Unpin>(pipe: Option<R>, max: usize) -> String {
    let Some(mut pipe) = pipe else { return String::new() };
    let mut kept = Vec::new();
    let mut buf = [0_u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * max {
            kept.drain(..kept.len() - max);
        }
    }
    let start = kept.len().saturating_sub(max);
    String::from_utf8_lossy(&kept[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_failure_names_the_status_and_keeps_the_end_of_stderr() {
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(failure_text(status, "  \n"), "the command exited with status 3");
        assert_eq!(failure_text(status, "boom\n"), "the command exited with status 3: boom");
        let long = format!("start{}end", "x".repeat(MAX_ERROR_CHARS * 2));
        let text = failure_text(status, &long);
        assert!(text.chars().count() <= MAX_ERROR_CHARS, "{}", text.len());
        assert!(text.ends_with("xend") && !text.contains("start"));
        let killed = failure_text(ExitStatus::from_raw(9), "");
        assert!(killed.starts_with("the command was killed"), "{killed}");
    }

    #[tokio::test]
    async fn pipes_are_read_within_their_bounds() {
        let input: &[u8] = b"0123456789";
        assert_eq!(read_bounded(Some(input), 4).await, (b"0123".to_vec(), true));
        assert_eq!(read_bounded(Some(input), 10).await, (input.to_vec(), false));
        let long = vec![b'a'; 100_000];
        let mut with_end = long.clone();
        with_end.extend_from_slice(b"END");
        let tail = read_tail(Some(with_end.as_slice()), 10).await;
        assert_eq!(tail, "aaaaaaaEND");
    }
}
