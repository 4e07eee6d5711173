//! The gap checker (SPEC principle 4): several concurrent writers and many subscribers, over SSE
//! and WebSocket, some with filters, that disconnect and reconnect at random moments resuming
//! from their last position. Every subscriber must end with exactly the committed events that
//! match its filter, each once, in `seq` order. The PostgreSQL run does the same with two nodes
//! (servers on stores of their own over one database): writers post to both, and every
//! reconnect goes to the other node.

mod common;

use common::ws::Ws;
use common::{event, spawn_app_with, spawn_postgres_nodes, TestApp};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::sync::Arc;
use std::time::Duration;

/// A small deterministic generator (xorshift), so a failure can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const WRITERS: usize = 4;
const EVENTS_PER_WRITER: usize = 60;

/// Event `i` of writer `w`: types and tags vary so filters select different subsets.
fn generated(w: usize, i: usize) -> Value {
    let mut e = event(&format!("w{w}-{i}"));
    e["type"] = json!(if i.is_multiple_of(3) { "task.created" } else { "deploy.finished" });
    e["tags"] = json!(if i.is_multiple_of(2) { vec!["blue"] } else { vec!["green"] });
    e
}

/// What a subscriber filters on, as query parameters and as a predicate on an event.
#[derive(Clone, Copy)]
enum Filter {
    All,
    Tasks,
    Blue,
}

impl Filter {
    fn query(self) -> Value {
        match self {
            Self::All => json!({}),
            Self::Tasks => json!({"type": "task.*"}),
            Self::Blue => json!({"tag": "blue"}),
        }
    }

    fn url(self) -> &'static str {
        match self {
            Self::All => "",
            Self::Tasks => "&type=task.*",
            Self::Blue => "&tag=blue",
        }
    }

    fn matches(self, e: &Value) -> bool {
        match self {
            Self::All => true,
            Self::Tasks => e["type"] == json!("task.created"),
            Self::Blue => e["tags"] == json!(["blue"]),
        }
    }
}

/// The servers under test: one, or several nodes sharing a database.
type Nodes = Arc<Vec<Arc<TestApp>>>;

/// One subscriber: connects, reads a random number of events, drops the connection, resumes
/// from its last id on the next node, until it has seen `done` (the final head) pass.
async fn subscriber(
    nodes: Nodes,
    filter: Filter,
    websocket: bool,
    seed: u64,
    done: Done,
) -> Vec<i64> {
    let mut rng = Rng(seed);
    let mut got: Vec<i64> = Vec::new();
    let mut position = 0i64;
    for session in (seed as usize).. {
        let app = &nodes[session % nodes.len()];
        let budget = 1 + rng.below(25) as usize;
        let finished = if websocket {
            ws_session(app, filter, &mut position, budget, &mut got, &done).await
        } else {
            sse_session(app, filter, &mut position, budget, &mut got, &done).await
        };
        if finished {
            return got;
        }
        // Reconnect after a random pause, sometimes at once.
        tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    }
    unreachable!("sessions are unbounded")
}

/// The committed log, sent once every writer has finished.
type Done = tokio::sync::watch::Receiver<Option<Arc<Vec<Value>>>>;

/// Whether the writers are done and `position` has reached the last committed event that
/// matches `filter` (a subscriber with nothing to receive is done at once).
fn reached(done: &Done, filter: Filter, position: i64) -> bool {
    let committed = done.borrow();
    let Some(events) = committed.as_ref() else { return false };
    let last = events.iter().filter(|e| filter.matches(e)).map(|e| e["seq"].as_i64().unwrap());
    position >= last.max().unwrap_or(0)
}

/// Records one delivered event, checking it passes the subscriber's filter.
fn record(filter: Filter, event: &Value, got: &mut Vec<i64>, position: &mut i64) {
    assert!(filter.matches(event), "an event outside the filter: {event}");
    let seq = event["seq"].as_i64().unwrap();
    got.push(seq);
    *position = seq;
}

async fn sse_session(
    app: &TestApp,
    filter: Filter,
    position: &mut i64,
    budget: usize,
    got: &mut Vec<i64>,
    done: &Done,
) -> bool {
    let url = app.url(&format!("/v1/stream?after={position}{}", filter.url()));
    let r = app.client.get(url).bearer_auth(&app.a.read).send().await.unwrap();
    assert!(r.status().is_success());
    let mut messages = r.bytes_stream().eventsource();
    let mut taken = 0;
    loop {
        if reached(done, filter, *position) {
            return true;
        }
        let next = tokio::time::timeout(Duration::from_millis(100), messages.next()).await;
        let m = match next {
            Ok(Some(Ok(m))) => m,
            Ok(_) => panic!("the stream ended or broke"),
            Err(_) => continue, // nothing new yet: look at `done` again
        };
        match m.event.as_str() {
            // The stream's own position: everything up to it was delivered or did not match.
            "position" => *position = (*position).max(m.id.parse().unwrap()),
            "activity" => {
                record(filter, &serde_json::from_str(&m.data).unwrap(), got, position);
                taken += 1;
                if taken >= budget {
                    return false; // drop the connection mid-stream
                }
            }
            other => panic!("unexpected message {other}"),
        }
    }
}

async fn ws_session(
    app: &TestApp,
    filter: Filter,
    position: &mut i64,
    budget: usize,
    got: &mut Vec<i64>,
    done: &Done,
) -> bool {
    let mut ws = Ws::connect(app, "", Some(&app.a.read)).await;
    ws.subscribe("s", filter.query(), Some(*position)).await;
    let mut taken = 0;
    loop {
        if reached(done, filter, *position) {
            return true;
        }
        // Ask for a pong now and then: it tells that everything before it was sent.
        ws.send(json!({"type": "ping"})).await;
        loop {
            let m = ws.recv().await.expect("open socket");
            match m["type"].as_str() {
                Some("pong") => break,
                Some("activity") => {
                    record(filter, &m["event"], got, position);
                    taken += 1;
                    if taken >= budget {
                        return false;
                    }
                }
                other => panic!("unexpected message {other:?}: {m}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_ends_with_exactly_the_matching_committed_events_once_in_order() {
    check_gaps(vec![Arc::new(spawn_app_with(ServerConfig::default()).await)]).await;
}

/// The same with a shared tail of 16 events: subscribers that resume fall behind its start, so
/// they read the log through the store and then join the tail, and none may notice the seam.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_crossing_between_the_store_and_a_small_tail_miss_nothing() {
    let config = ServerConfig { stream_tail_events: 16, ..ServerConfig::default() };
    check_gaps(vec![Arc::new(spawn_app_with(config).await)]).await;
}

/// Two nodes on one PostgreSQL database: writers on both, and every subscriber switches node at
/// each reconnect, so a node learns of the other's commits only through the database's
/// notifications and serves the events from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_nodes_give_every_subscriber_the_same_log_across_reconnects() {
    check_gaps(spawn_postgres_nodes(2, ServerConfig::default()).await).await;
}

async fn check_gaps(nodes: Vec<Arc<TestApp>>) {
    let nodes: Nodes = Arc::new(nodes);
    let app = nodes[0].clone();
    let (finish, done) = tokio::sync::watch::channel(None);
    let filters = [Filter::All, Filter::Tasks, Filter::Blue];
    let mut subscribers = Vec::new();
    for i in 0..12u64 {
        let filter = filters[i as usize % 3];
        let websocket = i % 2 == 1;
        let seed = 0x9E37_79B9_7F4A_7C15 ^ (i + 1);
        subscribers.push(tokio::spawn(subscriber(
            nodes.clone(),
            filter,
            websocket,
            seed,
            done.clone(),
        )));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = nodes[w % nodes.len()].clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while i < EVENTS_PER_WRITER {
                // Single events and small batches, interleaved across writers.
                if i % 7 == 0 && i + 3 <= EVENTS_PER_WRITER {
                    let batch: Vec<Value> = (i..i + 3).map(|k| generated(w, k)).collect();
                    let r = app.req(Method::POST, "/v1/events/batch", &app.a.ingest);
                    let r = r.json(&json!({"events": batch})).send().await.unwrap();
                    assert!(r.status().is_success());
                    i += 3;
                } else {
                    app.create_event(&app.a.ingest, &generated(w, i)).await;
                    i += 1;
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // The truth: the committed log, read through the feed in seq order.
    let mut committed: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/events?order=seq&limit=100".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (_, page) = app.get_json(&path, &app.a.read).await;
        committed.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(committed.len(), WRITERS * EVENTS_PER_WRITER);
    finish.send_replace(Some(Arc::new(committed.clone())));

    for (i, handle) in subscribers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("every subscriber catches up")
            .unwrap();
        let filter = filters[i % 3];
        let expected: Vec<i64> = committed
            .iter()
            .filter(|e| filter.matches(e))
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(got, expected, "subscriber {i} (websocket: {})", i % 2 == 1);
    }
}
