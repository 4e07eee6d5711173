//! `spine work` against a real `spine serve` child: the README's call-summarising worker end to
//! end (results, notes, a failure with its stderr), heartbeats keeping a lease longer than the
//! lease length, SIGTERM finishing the job held, and clear refusals. Timeouts here only guard
//! against hanging; nothing asserts on speed.

mod common;

use common::{Sandbox, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any wait may take before the test gives up.
const GUARD: Duration = Duration::from_secs(60);

/// A server with a tenant: its admin key and a worker key.
struct Setup {
    sandbox: Sandbox,
    server: Server,
    admin: String,
    worker: String,
    http: reqwest::Client,
}

impl Setup {
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let db = sandbox.db("spine.db");
        let created = sandbox.json(&["tenant", "create", "work-test", "--json", "--db", &db]);
        let admin = created["admin_key"].as_str().unwrap().to_owned();
        let key = sandbox.json(&[
            "key",
            "create",
            "--tenant",
            "work-test",
            "--role",
            "worker",
            "--json",
            "--db",
            &db,
        ]);
        let worker = key["key"].as_str().unwrap().to_owned();
        let server = Server::start(&sandbox, &db);
        Self { sandbox, server, admin, worker, http: reqwest::Client::new() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.url))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn rule(&self, name: &str, filter: Value, queue: &str) {
        let rule = json!({"filter": filter, "queue": queue, "max_attempts": 2});
        self.send(reqwest::Method::PUT, &format!("/v1/work/rules/{name}"), Some(rule)).await;
    }

    async fn emit(&self, event: Value) -> Value {
        self.send(reqwest::Method::POST, "/v1/events", Some(event)).await
    }

    /// The job of an event.
    async fn job_of(&self, queue: &str, event_id: &str) -> Value {
        let page = self.get(&format!("/v1/work?queue={queue}&limit=100")).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["event_id"] == event_id)
            .unwrap_or_else(|| panic!("no job for {event_id}: {page}"))
            .clone()
    }

    /// Waits until `check` holds for the event's job.
    async fn until_job(
        &self,
        queue: &str,
        event_id: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + GUARD;
        loop {
            let job = self.job_of(queue, event_id).await;
            if check(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "the job never got there: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `spine work ARGS` as a child, with the worker key in SPINE_KEY.
    fn work(&self, args: &[&str]) -> Child {
        let mut all = vec!["work", "--url", &self.server.url];
        all.extend_from_slice(args);
        self.sandbox
            .command(&all)
            .env("SPINE_KEY", &self.worker)
            .env("SPINE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Waits for a child to exit, killing it after the guard.
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + GUARD;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("spine work did not exit: {}", common::text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

fn call(id: &str, from: &str, transcript: Option<&str>) -> Value {
    let mut data = json!({"from": from});
    if let Some(t) = transcript {
        data["transcript"] = json!(t);
    }
    json!({"type": "call.received", "title": format!("Call from {from}"), "action": "created",
           "entity": {"type": "call", "id": id}, "data": data})
}

fn types(page: &Value) -> Vec<String> {
    let items = page["items"].as_array().unwrap();
    items.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
}

/// The README's worked example, as written there: the script in `examples/` summarises calls
/// into results and notes, and a call it cannot summarise fails with what the script said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_worker_summarises_calls_into_notes_and_fails_what_it_cannot() {
    let script = example("summarise-call.sh");
    let text = std::fs::read_to_string(&script).unwrap();
    let readme = std::fs::read_to_string(example("../README.md")).unwrap();
    assert!(readme.contains(&text), "the README shows examples/summarise-call.sh verbatim");

    let s = Setup::new();
    s.rule("calls", json!({"type": "call.*"}), "calls").await;
    let first = s
        .emit(call("C-1", "+15550100", Some("I was billed twice. I want a refund, please.")))
        .await;
    let second = s.emit(call("C-2", "+15550101", Some("Can we get a quote for ten seats?"))).await;
    let empty = s.emit(call("C-3", "+15550102", None)).await;

    let script = script.to_str().unwrap();
    let worker = s.work(&[
        "--queue",
        "calls",
        "--worker",
        "summariser",
        "--note",
        "--note-author",
        "Call summariser",
        "--max-jobs",
        "3",
        "--",
        "sh",
        script,
    ]);
    let out = finish(worker);
    common::assert_success(&out);
    let log = common::text(&out.stderr);
    assert!(out.stdout.is_empty(), "{}", common::text(&out.stdout));

    let job = s.job_of("calls", first["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}\n{log}");
    let result = job["result"].as_str().unwrap();
    assert!(result.starts_with("**Call from +15550100** (9 words, attempt 1)"), "{result}");
    assert!(result.contains("I was billed twice.") && result.contains("Topics: refund"));
    let notes = s.get("/v1/entities/call/C-1/notes").await;
    let note = &notes["items"][0];
    assert_eq!(note["body"].as_str(), Some(result), "{notes}");
    assert_eq!(
        note["author"],
        json!({"id": "summariser", "name": "Call summariser", "kind": "agent"})
    );
    assert_eq!(note["job_id"], job["id"]);
    // The entity's timeline tells it: the call, then its processing, completion and note.
    let timeline = s.get("/v1/entities/call/C-1/timeline").await;
    assert_eq!(
        types(&timeline),
        ["note.created", "job.completed", "job.processing", "call.received"],
        "{timeline}"
    );

    let job = s.job_of("calls", second["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed");
    assert!(job["result"].as_str().unwrap().contains("Topics: quote"), "{job}");

    let job = s.job_of("calls", empty["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["last_error"].as_str().unwrap();
    assert!(
        error.starts_with("the command exited with status 1: job ")
            && error.ends_with("the call's event has no data.transcript"),
        "{error}"
    );
    assert!(log.contains("completed") && log.contains("failed"), "{log}");
    assert!(!log.contains(&s.worker), "the key never reaches the log");
}

/// A command running three times its lease keeps the job: heartbeats extend the lease, so no
/// other worker gets it meanwhile and it completes on its first attempt. JSON output is the
/// result as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_long_job_from_being_stolen() {
    let s = Setup::new();
    s.rule("slow", json!({"type": "task.*"}), "slow").await;
    let event = s.emit(json!({"type": "task.created", "title": "slow one"})).await;
    let event_id = event["id"].as_str().unwrap();
    let worker = s.work(&[
        "--queue",
        "slow",
        "--lease-seconds",
        "1",
        "--max-jobs",
        "1",
        "--",
        "sh",
        "-c",
        "cat >/dev/null; sleep 3; echo '{\"ok\": true, \"job\": \"'$SPINE_JOB_ID'\"}'",
    ]);
    s.until_job("slow", event_id, |j| j["status"] == "processing").await;
    // Meanwhile another worker finds nothing to take, again and again past the lease's length.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let claimed = s
            .http
            .post(format!("{}/v1/work/claim", s.server.url))
            .bearer_auth(&s.worker)
            .json(&json!({"queue": "slow"}))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(claimed["jobs"], json!([]), "the running job was handed out again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = finish(worker);
    common::assert_success(&out);
    let job = s.job_of("slow", event_id).await;
    assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("completed"), Some(1)));
    assert_eq!(job["result"], json!({"ok": true, "job": job["id"]}));
}

/// SIGTERM stops the claiming; the job held runs to its end and is completed; the next job
/// stays pending for another worker; the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_job_held_and_claims_no_more() {
    let s = Setup::new();
    s.rule("q", json!({"type": "task.*"}), "q").await;
    let first = s.emit(json!({"type": "task.created", "title": "one"})).await;
    let second = s.emit(json!({"type": "task.created", "title": "two"})).await;
    let worker = s.work(&["--queue", "q", "--", "sh", "-c", "sleep 2; echo done"]);
    let first_id = first["id"].as_str().unwrap();
    s.until_job("q", first_id, |j| j["status"] == "processing").await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = finish(worker);
    common::assert_success(&out);
    let job = s.job_of("q", first_id).await;
    assert_eq!((job["status"].as_str(), job["result"].as_str()), (Some("completed"), Some("done")));
    let next = s.job_of("q", second["id"].as_str().unwrap()).await;
    assert_eq!(next["status"], "pending", "{next}");
    assert!(common::text(&out.stderr).contains("stopping"));
}

/// A wrong key stops the worker at its first claim with the server's problem; a command that
/// cannot be started fails the job (it runs again elsewhere) and stops the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_key_or_a_missing_command_stops_the_worker_readably() {
    let s = Setup::new();
    let out = s
        .sandbox
        .command(&["work", "--url", &s.server.url, "--queue", "q", "--", "true"])
        .env("SPINE_KEY", "spk_wrong")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = common::assert_clean_failure(&out);
    assert!(stderr.contains("the server answered 401"), "{stderr}");

    let out = s.sandbox.command(&["work", "--queue", "q"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "a command is required");

    s.rule("q", json!({"type": "task.*"}), "q").await;
    let event = s.emit(json!({"type": "task.created", "title": "one"})).await;
    let out = finish(s.work(&["--queue", "q", "--", "/nonexistent/summarise"]));
    let stderr = common::assert_clean_failure(&out);
    assert!(stderr.contains("cannot run `/nonexistent/summarise`"), "{stderr}");
    let job = s.job_of("q", event["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "failed");
    assert!(job["last_error"].as_str().unwrap().starts_with("cannot run"), "{job}");
}
