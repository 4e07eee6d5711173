//! Keyset pagination over HTTP (SPEC principle 6): walking the feed page by page while other
//! requests keep inserting returns every event that existed when the walk began exactly once,
//! in order, for both orders and with filters.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Seeds `n` events with occurred_at spread over the past (some sharing a timestamp, so ties
/// are broken by seq), half of them of type `task.*`.
async fn seed(app: &TestApp, n: usize) {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let ty = if i % 2 == 0 { "task.updated" } else { "lead.created" };
            json!({
                "type": ty,
                "title": format!("event {i}"),
                "occurred_at": format!("2026-03-01T{:02}:{:02}:00Z", (i / 3) / 60 % 24, (i / 3) % 60),
                "tags": if i % 3 == 0 { json!(["blue"]) } else { json!(["green"]) },
            })
        })
        .collect();
    for chunk in events.chunks(100) {
        app.create_batch(chunk).await;
    }
}

/// Keeps inserting events (past and present occurred_at) until stopped.
fn keep_inserting(app: Arc<TestApp>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut e = json!({"type": if n % 2 == 0 { "task.updated" } else { "lead.created" },
                "title": format!("concurrent {n}"), "tags": ["blue"]});
            if n % 3 == 0 {
                e["occurred_at"] = json!("2026-03-01T00:00:00Z");
            }
            let r = app.post_event(&app.a.ingest, &e).await;
            assert_eq!(r.status(), StatusCode::CREATED);
            n += 1;
        }
        n
    })
}

/// Walks every page of `query`, returning the items in the order served.
async fn walk(app: &TestApp, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?{query}&limit=7&cursor={c}"),
            None => format!("/v1/events?{query}&limit=7"),
        };
        let (status, page) = app.get_json(&path, &app.a.read).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page_items = page["items"].as_array().unwrap();
        assert!(page_items.len() <= 7);
        items.extend(page_items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        // Let the inserter interleave with the walk.
        tokio::task::yield_now().await;
    }
    items
}

fn key(e: &Value) -> (String, i64) {
    (e["occurred_at"].as_str().unwrap().to_owned(), e["seq"].as_i64().unwrap())
}

async fn check_walk(query: &str, matches: impl Fn(&Value) -> bool) {
    let app = Arc::new(spawn_app().await);
    seed(&app, 240).await;
    let before: Vec<Value> = walk(&app, query).await;
    let expected: HashSet<String> = before
        .iter()
        .filter(|e| matches(e))
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!expected.is_empty());

    let stop = Arc::new(AtomicBool::new(false));
    let inserter = keep_inserting(app.clone(), stop.clone());
    let during = walk(&app, query).await;
    stop.store(true, Ordering::Relaxed);
    let inserted = inserter.await.unwrap();
    assert!(inserted > 0, "the inserter never ran");

    let ids: Vec<String> = during.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an event was served twice");
    for id in &expected {
        assert!(unique.contains(id), "event {id} that existed before the walk was skipped");
    }
    assert!(during.iter().all(&matches), "an event outside the filter was served");
    let seq_order = query.contains("order=seq");
    for pair in during.windows(2) {
        if seq_order {
            assert!(pair[0]["seq"].as_i64() < pair[1]["seq"].as_i64(), "not in seq order");
        } else {
            assert!(
                key(&pair[0]) > key(&pair[1]),
                "not newest-first: {} then {}",
                pair[0],
                pair[1]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_in_occurred_order_while_inserting() {
    check_walk("order=occurred", |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_in_seq_order_while_inserting() {
    check_walk("order=seq", |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_with_type_prefix_filter_while_inserting() {
    check_walk("type=task.*", |e| e["type"] == json!("task.updated")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_with_tag_filter_in_seq_order_while_inserting() {
    check_walk("order=seq&tag=blue", |e| e["tags"].as_array().unwrap().contains(&json!("blue")))
        .await;
}

#[tokio::test]
async fn timeline_pages_through_one_entity() {
    let app = spawn_app().await;
    for i in 0..12 {
        let mut e = event(&format!("step {i}"));
        e["entity"] = json!({"type": "task", "id": if i % 2 == 0 { "t-even" } else { "t-odd" }});
        app.create_event(&app.a.ingest, &e).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/entities/task/t-even/timeline?limit=4".to_owned();
    loop {
        let (status, page) = app.get_json(&path, &app.a.read).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for e in page["items"].as_array().unwrap() {
            assert_eq!(e["entity"]["id"], json!("t-even"));
            seen.push(e["title"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/entities/task/t-even/timeline?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(seen[0], "step 10");
}
