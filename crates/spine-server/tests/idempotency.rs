//! Idempotency over real HTTP (SPEC section 3): concurrent duplicates store exactly one event;
//! a conflicting repeat is a 409 naming the fields that differ.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_duplicates_store_exactly_one_event() {
    fifty_duplicates(vec![std::sync::Arc::new(spawn_app().await)]).await;
}

/// The same, split across two nodes sharing one PostgreSQL database: the key is judged under
/// the tenant's head lock and fenced by the unique index, whichever node commits first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_duplicates_split_across_two_postgres_nodes_store_one_event() {
    fifty_duplicates(spawn_postgres_nodes(2, Default::default()).await).await;
}

async fn fifty_duplicates(nodes: Vec<std::sync::Arc<TestApp>>) {
    let app = nodes[0].clone();
    let body = event("Deploy docs");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = nodes[i % nodes.len()].clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .req(Method::POST, "/v1/events", &app.a.ingest)
                .header("Idempotency-Key", "deploy-42")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (status, v["id"].clone(), v["seq"].clone())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let created = answers.iter().filter(|(s, _, _)| *s == StatusCode::CREATED).count();
    let repeats = answers.iter().filter(|(s, _, _)| *s == StatusCode::OK).count();
    assert_eq!((created, repeats), (1, 49), "{answers:?}");
    let (_, id, seq) = &answers[0];
    assert!(id.is_string() && seq.is_i64());
    assert!(answers.iter().all(|(_, i, s)| i == id && s == seq), "{answers:?}");
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn repeat_with_same_key_returns_the_original_event() {
    let app = spawn_app().await;
    let mut body = event("Write tests");
    body["idempotency_key"] = json!("k-1");
    let first = app.create_event(&app.a.ingest, &body).await;
    let r = app.post_event(&app.a.ingest, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn same_key_with_different_content_is_a_conflict_naming_the_fields() {
    let app = spawn_app().await;
    let mut body = event("Write tests");
    body["idempotency_key"] = json!("k-2");
    app.create_event(&app.a.ingest, &body).await;
    body["title"] = json!("Something else");
    body["priority"] = json!("urgent");
    let problem =
        assert_problem(app.post_event(&app.a.ingest, &body).await, StatusCode::CONFLICT).await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["title", "priority"], "{problem}");
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_tenant() {
    let app = spawn_app().await;
    let mut body = event("Shared key");
    body["idempotency_key"] = json!("same");
    let a = app.create_event(&app.a.ingest, &body).await;
    let b = app.create_event(&app.b.ingest, &body).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["tenant"], json!("tenant-a"));
    assert_eq!(b["tenant"], json!("tenant-b"));
}

#[tokio::test]
async fn derived_key_makes_provider_retries_idempotent() {
    let app = spawn_app().await;
    let mut body = event("PR opened");
    body["source"] =
        json!({"system": "github", "object_type": "pull_request", "object_id": "1347"});
    body["occurred_at"] = json!("2026-01-02T03:04:05Z");
    let first = app.create_event(&app.a.ingest, &body).await;
    let r = app.post_event(&app.a.ingest, &body).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
}
