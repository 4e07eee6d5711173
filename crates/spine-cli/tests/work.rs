//! `spine work` against real `spine serve` children: the README's call-summarising worker end to
//! end (results, notes, a failure with its stderr), heartbeats keeping a lease longer than the
//! lease length, SIGTERM finishing the job held, clear refusals, and the chaos test (worker
//! processes killed with SIGKILL at random and restarted, on SQLite and on two PostgreSQL nodes).
//! Timeouts here only guard against hanging; nothing asserts on speed.

mod common;

use common::{Sandbox, Server};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any wait may take before the test gives up.
const GUARD: Duration = Duration::from_secs(60);

/// Servers (nodes) on one database with a tenant: its admin key and a worker key.
struct Setup {
    sandbox: Sandbox,
    /// The first node; `nodes` holds the others.
    server: Server,
    nodes: Vec<Server>,
    admin: String,
    worker: String,
    http: reqwest::Client,
}

impl Setup {
    /// One node on a fresh SQLite file.
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let db = sandbox.db("spine.db");
        Self::on(sandbox, &db, 1)
    }

    /// `count` nodes on the database `db`, which holds no tenant yet.
    fn on(sandbox: Sandbox, db: &str, count: usize) -> Self {
        let created = sandbox.json(&["tenant", "create", "work-test", "--json", "--db", db]);
        let admin = created["admin_key"].as_str().unwrap().to_owned();
        let worker_key = ["key", "create", "--tenant", "work-test", "--role", "worker"];
        let key = sandbox.json(&[&worker_key[..], &["--json", "--db", db]].concat());
        let worker = key["key"].as_str().unwrap().to_owned();
        let server = Server::start(&sandbox, db);
        let nodes = (1..count).map(|_| Server::start(&sandbox, db)).collect();
        Self { sandbox, server, nodes, admin, worker, http: reqwest::Client::new() }
    }

    /// Every node's URL.
    fn urls(&self) -> Vec<String> {
        std::iter::once(&self.server).chain(&self.nodes).map(|n| n.url.clone()).collect()
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
        self.rule_with(name, json!({"filter": filter, "queue": queue, "max_attempts": 2})).await;
    }

    async fn rule_with(&self, name: &str, rule: Value) {
        self.send(reqwest::Method::PUT, &format!("/v1/work/rules/{name}"), Some(rule)).await;
    }

    /// Every item of a paged list, following `next_cursor`.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page = match &cursor {
                Some(c) => self.get(&format!("{path}{separator}cursor={c}")).await,
                None => self.get(path).await,
            };
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
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
        self.work_on(&self.server.url, args).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// `spine work --url URL ARGS`, to be spawned.
    fn work_on(&self, url: &str, args: &[&str]) -> std::process::Command {
        let mut all = vec!["work", "--url", url];
        all.extend_from_slice(args);
        let mut command = self.sandbox.command(&all);
        command
            .env("SPINE_KEY", &self.worker)
            .env("SPINE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        command
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

/// A small deterministic generator for the chaos schedule (its seed is printed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// The chaos test: `JOBS` jobs, `WORKERS` `spine work` processes (two jobs at a time each, leases
/// of 1 s, spread over the nodes) that are killed with SIGKILL at random moments and restarted,
/// while each job's command appends `id attempt` to a file. At the end every job is completed
/// exactly once (one `job.completed` event, by the attempt that held the lease then), its effect
/// ran at least once, an effect ran twice only for a job whose attempt is above 1, and no job is
/// lost.
async fn chaos(s: &Setup) {
    const JOBS: usize = 80;
    const WORKERS: usize = 4;
    s.rule_with(
        "chaos",
        json!({"filter": {"type": "chaos.*"}, "queue": "chaos", "max_attempts": 25}),
    )
    .await;
    let effects = s.sandbox.path("effects.txt");
    let mut events = Vec::new();
    for i in 0..JOBS {
        let event = s.emit(json!({"type": "chaos.job", "title": format!("job {i}")})).await;
        events.push(event["id"].as_str().unwrap().to_owned());
    }
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    println!("chaos seed {seed}");
    let mut rng = Rng(seed);
    let urls = s.urls();
    let spawn = |i: usize| {
        let log = std::fs::File::create(s.sandbox.path(&format!("worker-{i}.log"))).unwrap();
        s.work_on(
            &urls[i % urls.len()],
            &[
                "--queue",
                "chaos",
                "--worker",
                &format!("w{i}"),
                "--concurrency",
                "2",
                "--lease-seconds",
                "1",
                "--",
                "sh",
                "-c",
                r#"echo "$SPINE_JOB_ID $SPINE_JOB_ATTEMPT" >> "$EFFECTS"; sleep 0.5"#,
            ],
        )
        .env("EFFECTS", &effects)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
    };
    let mut workers: Vec<Child> = (0..WORKERS).map(spawn).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kills = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(500))).await;
        let counts = s.get("/v1/work/queues").await;
        let queue = counts["items"].as_array().unwrap().iter().find(|q| q["queue"] == "chaos");
        let completed = queue.map_or(0, |q| q["completed"].as_u64().unwrap_or(0));
        if completed == JOBS as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "not every job completed: {counts}");
        // Each round kills one worker at a random moment of its work and starts it again.
        let i = rng.below(WORKERS as u64) as usize;
        workers[i].kill().unwrap();
        workers[i].wait().unwrap();
        kills += 1;
        workers[i] = spawn(i);
    }
    for mut w in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    println!("{kills} workers killed");
    assert!(kills >= 10, "the test killed only {kills} workers");

    // Small pages: the job list's cursor walks every job once.
    let jobs = s.all("/v1/work?queue=chaos&limit=7").await;
    assert_eq!(jobs.len(), JOBS, "one job per event, none lost");
    let distinct: std::collections::HashSet<&str> =
        jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), JOBS, "no job listed twice across pages");
    let completions = s.all("/v1/events?type=job.completed&limit=100").await;
    let effects = std::fs::read_to_string(&effects).unwrap();
    let (mut retried, mut twice) = (0, 0);
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        assert!(events.iter().any(|e| job["event_id"] == e.as_str()), "{job}");
        assert_eq!(job["status"], "completed", "{job}");
        let attempt = job["attempt"].as_u64().unwrap();
        let accepted: Vec<&Value> =
            completions.iter().filter(|e| e["data"]["job_id"] == id).collect();
        assert_eq!(accepted.len(), 1, "job {id} was completed {} times", accepted.len());
        assert_eq!(accepted[0]["data"]["attempt"], attempt, "completed by the holder of the time");
        let ran: Vec<u64> = effects
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(job, _)| *job == id)
            .map(|(_, a)| a.trim().parse().unwrap())
            .collect();
        assert!(!ran.is_empty(), "the effect of job {id} never ran");
        assert!(ran.len() == 1 || attempt > 1, "job {id} ran {ran:?} on its only attempt");
        assert!(ran.iter().all(|a| *a <= attempt), "job {id}: effects {ran:?}, attempt {attempt}");
        retried += usize::from(attempt > 1);
        twice += usize::from(ran.len() > 1);
    }
    println!("{retried} of {JOBS} jobs needed more than one attempt; {twice} effects ran again");
    assert!(retried > 0, "no kill ever interrupted a job: the test proved nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_sqlite_every_job_completes_exactly_once_though_workers_are_killed() {
    chaos(&Setup::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_two_postgresql_nodes_every_job_completes_exactly_once() {
    let (pg, _database) = spine_postgres::testing::fresh_database().await;
    chaos(&Setup::on(Sandbox::new(), &pg, 2)).await;
}
