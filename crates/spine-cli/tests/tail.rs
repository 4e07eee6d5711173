//! `spine tail` against real `spine serve` children: filtered NDJSON in seq order, resumption
//! across a `kill -9` and restart of the server on the same port, and a clean refusal of a bad
//! key. Timeouts here only guard against hanging; nothing asserts on speed.

mod common;

use common::{Sandbox, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long any wait may take before the test gives up.
const GUARD: Duration = Duration::from_secs(20);

/// A `spine tail --json` child, killed when dropped, whose stdout lines arrive on `lines`.
struct Tail {
    child: Child,
    lines: Receiver<String>,
}

impl Tail {
    fn start(sandbox: &Sandbox, url: &str, key: &str, filters: &[&str]) -> Self {
        let mut args = vec!["tail", "--json", "--url", url, "--key", key];
        args.extend_from_slice(filters);
        let mut child = sandbox
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The seq of the next NDJSON line, or `None` if none came within `wait`.
    fn next_seq(&self, wait: Duration) -> Option<u64> {
        let line = self.lines.recv_timeout(wait).ok()?;
        let event: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout is not NDJSON ({e}): {line}"));
        Some(event["seq"].as_u64().unwrap_or_else(|| panic!("no seq: {line}")))
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tenant in a fresh database: the sandbox, the database URL and an admin key.
fn tenant() -> (Sandbox, String, String) {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    let created = sandbox.json(&["tenant", "create", "tail-test", "--json", "--db", &db]);
    let key = created["admin_key"].as_str().unwrap().to_owned();
    (sandbox, db, key)
}

/// Posts one event and returns its seq.
async fn post(client: &reqwest::Client, url: &str, key: &str, kind: &str, title: &str) -> u64 {
    let response = client
        .post(format!("{url}/v1/events"))
        .bearer_auth(key)
        .json(&json!({"type": kind, "title": title}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "post failed: {}", response.status());
    let stored: Value = response.json().await.unwrap();
    stored["seq"].as_u64().unwrap()
}

/// Posts `task.warmup` events until the tail prints one; returns every seq posted and the
/// first one printed.
async fn until_connected(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    tail: &Tail,
) -> (Vec<u64>, u64) {
    let deadline = Instant::now() + GUARD;
    let mut posted = Vec::new();
    while Instant::now() < deadline {
        posted.push(post(client, url, key, "task.warmup", "warm-up").await);
        if let Some(first) = tail.next_seq(Duration::from_millis(200)) {
            return (posted, first);
        }
    }
    panic!("the tail printed nothing within {GUARD:?}");
}

/// Reads the tail until it prints `last`, returning everything printed on the way.
fn read_through(tail: &Tail, first: u64, last: u64) -> Vec<u64> {
    let deadline = Instant::now() + GUARD;
    let mut seen = vec![first];
    while seen.last() != Some(&last) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tail.next_seq(left) {
            Some(seq) => seen.push(seq),
            None => panic!("waiting for seq {last}, the tail printed only {seen:?}"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_every_matching_event_once_in_seq_order() {
    let (sandbox, db, key) = tenant();
    let server = Server::start(&sandbox, &db);
    let client = reqwest::Client::new();
    let tail = Tail::start(&sandbox, &server.url, &key, &["--type", "task.*"]);
    let (warmup, first) = until_connected(&client, &server.url, &key, &tail).await;

    let mut expected: Vec<u64> = warmup.into_iter().filter(|&s| s >= first).collect();
    for i in 0..20 {
        post(&client, &server.url, &key, "lead.created", &format!("lead {i}")).await;
        expected.push(post(&client, &server.url, &key, "task.created", &format!("task {i}")).await);
    }
    let last = *expected.last().unwrap();
    assert_eq!(read_through(&tail, first, last), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_resumes_across_a_server_kill_and_restart_on_the_same_port() {
    let (sandbox, db, key) = tenant();
    let mut server = Server::start(&sandbox, &db);
    let url = server.url.clone();
    let client = reqwest::Client::new();
    let tail = Tail::start(&sandbox, &url, &key, &[]);
    let (warmup, first) = until_connected(&client, &url, &key, &tail).await;
    let mut expected: Vec<u64> = warmup.into_iter().filter(|&s| s >= first).collect();
    for i in 0..10 {
        expected.push(post(&client, &url, &key, "task.created", &format!("before {i}")).await);
    }

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let listen = url.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + GUARD;
    let _restarted = loop {
        if let Some(server) = Server::try_start(&sandbox, &db, &listen) {
            break server;
        }
        assert!(Instant::now() < deadline, "could not restart the server on {listen}");
        std::thread::sleep(Duration::from_millis(100));
    };

    for i in 0..10 {
        expected.push(post(&client, &url, &key, "task.created", &format!("after {i}")).await);
    }
    let last = *expected.last().unwrap();
    assert_eq!(read_through(&tail, first, last), expected);
}

#[test]
fn a_bad_key_or_filter_exits_with_a_readable_error_and_no_retries() {
    let (sandbox, db, key) = tenant();
    let server = Server::start(&sandbox, &db);
    for args in [
        ["tail", "--url", &server.url, "--key", "spine_not_a_real_key", "--json"],
        ["tail", "--url", &server.url, "--key", &key, "--priority=sky-high"],
    ] {
        let mut child = sandbox
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + GUARD;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("spine {args:?} kept running instead of exiting");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = common::assert_clean_failure(&out);
        assert!(stderr.contains("the server answered 4"), "{stderr}");
        assert!(!stderr.contains("reconnecting"), "{stderr}");
        assert!(out.stdout.is_empty(), "{}", common::text(&out.stdout));
    }
}

/// Two `spine serve` nodes on one PostgreSQL: `spine tail` on node B prints events posted to
/// node A (woken across nodes by LISTEN/NOTIFY; the data comes from the shared log), and events
/// posted alternately to both nodes arrive once each, in seq order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_on_one_node_prints_events_posted_to_another() {
    let (pg, _database) = spine_postgres::testing::fresh_database().await;
    let sandbox = Sandbox::new();
    let created = sandbox.json(&["tenant", "create", "two-nodes", "--json", "--db", &pg]);
    let key = created["admin_key"].as_str().unwrap().to_owned();
    let (node_a, node_b) = (Server::start(&sandbox, &pg), Server::start(&sandbox, &pg));
    let tail = Tail::start(&sandbox, &node_b.url, &key, &[]);
    let client = reqwest::Client::new();
    // Live on node B (warm-up events go to B itself, so no cross-node wake-up is needed yet).
    let (posted, first) = until_connected(&client, &node_b.url, &key, &tail).await;
    let warm_last = *posted.last().unwrap();
    read_through(&tail, first, warm_last);

    // Posted to node A only: node B's stream wakes for these only through A's notices.
    let mut expected = Vec::new();
    for i in 0..3 {
        expected.push(post(&client, &node_a.url, &key, "task.created", &format!("a{i}")).await);
    }
    let seen =
        read_through(&tail, tail.next_seq(GUARD).expect("an event from node A"), expected[2]);
    assert_eq!(seen, expected, "node A's events reach node B's stream");
    // Then alternately to both.
    let mut expected = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &node_a } else { &node_b };
        expected.push(post(&client, &node.url, &key, "task.created", &format!("n{i}")).await);
    }
    let seen = read_through(&tail, tail.next_seq(GUARD).expect("the next event"), expected[5]);
    assert_eq!(seen, expected, "every event once, in seq order, from both nodes");
}
