//! Retention over real HTTP (SPEC section 8): the policy API, and the sweeper removing exactly
//! the expired events (by their own `expires_at`, and by the policy's age limits, most specific
//! type pattern first) through the horizon, so a subscriber resuming below a removed event gets
//! `event: reset`; on SQLite and across two PostgreSQL nodes.

mod common;

use common::sse::{next, open};
use common::{assert_problem, spawn_app_with, spawn_postgres_nodes, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::{Event, Timestamp};
use spine_server::ServerConfig;
use std::time::Duration;

fn config() -> ServerConfig {
    ServerConfig { retention_sweep_every: Duration::from_millis(200), ..ServerConfig::default() }
}

async fn put(app: &TestApp, key: &str, policy: Value) -> reqwest::Response {
    app.req(Method::PUT, "/v1/retention", key).json(&policy).send().await.unwrap()
}

async fn titles(app: &TestApp) -> Vec<String> {
    let (_, page) = app.get_json("/v1/events?order=seq&limit=100", &app.a.read).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect()
}

/// An event as if it had been received `days` ago (imported: import keeps receipt times).
async fn import_aged(app: &TestApp, event_type: &str, title: &str, days: i64) {
    let made = app.create_event(&app.a.ingest, &json!({"type": "seed.x", "title": "seed"})).await;
    let mut event: Event = serde_json::from_value(made).unwrap();
    event.id = uuid::Uuid::now_v7();
    event.event_type = spine_core::EventType::parse(event_type).unwrap();
    event.title = title.to_owned();
    event.idempotency_key = None;
    event.received_at = Timestamp::now().plus_seconds(-days * 86_400);
    event.occurred_at = event.received_at;
    app.store.import(&app.a.id, vec![event]).await.unwrap();
}

async fn until_titles(app: &TestApp, want: &[&str]) -> Vec<String> {
    for _ in 0..100 {
        let got = titles(app).await;
        if got == want {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    titles(app).await
}

async fn expiry_removes_exactly_the_expired(writer: &TestApp, reader: &TestApp) {
    let r = put(
        writer,
        &writer.a.admin,
        json!({"max_age_days": 30, "types": {"security.*": 365, "chat.*": 1}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, policy) = writer.get_json("/v1/retention", &writer.a.admin).await;
    assert_eq!(policy, json!({"max_age_days": 30, "types": {"security.*": 365, "chat.*": 1}}));

    // By age: a 2-day-old chat message goes (1 day), a 40-day-old security entry stays (365), a
    // 40-day-old task goes (30), a 10-day-old task stays.
    import_aged(writer, "chat.message", "old chat", 2).await;
    import_aged(writer, "security.login", "old audit", 40).await;
    import_aged(writer, "task.created", "old task", 40).await;
    import_aged(writer, "task.created", "recent task", 10).await;
    // By their own expiry: one in a second, one in an hour.
    let soon = Timestamp::now().plus_seconds(1).to_rfc3339();
    let later = Timestamp::now().plus_seconds(3600).to_rfc3339();
    writer
        .create_event(
            &writer.a.ingest,
            &json!({"type": "otp.sent", "title": "code", "expires_at": soon}),
        )
        .await;
    writer
        .create_event(
            &writer.a.ingest,
            &json!({"type": "otp.sent", "title": "later", "expires_at": later}),
        )
        .await;
    // Read on the other node, when there are two.
    let kept = until_titles(
        reader,
        &["seed", "seed", "old audit", "seed", "seed", "recent task", "later"],
    )
    .await;
    assert_eq!(kept, ["seed", "seed", "old audit", "seed", "seed", "recent task", "later"]);

    // A subscriber resuming from before the removed events is told to reload.
    let mut s = open(reader, "/v1/stream?after=0", Some(&reader.a.read), &[]).await;
    let m = next(&mut s).await;
    assert_eq!(m.event, "reset", "{m:?}");
    let body: Value = serde_json::from_str(&m.data).unwrap();
    assert_eq!(body["reason"], json!("purged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_removes_exactly_the_expired_events() {
    let app = spawn_app_with(config()).await;
    expiry_removes_exactly_the_expired(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_postgresql_nodes_a_sweep_reaches_the_readers_of_both() {
    let nodes = spawn_postgres_nodes(2, config()).await;
    expiry_removes_exactly_the_expired(&nodes[0], &nodes[1]).await;
}

#[tokio::test]
async fn policies_are_validated_and_for_admins() {
    let app = spawn_app_with(config()).await;
    assert_problem(put(&app, &app.a.read, json!({})).await, StatusCode::FORBIDDEN).await;
    let r = put(&app, &app.a.admin, json!({"max_age_days": 0, "types": {"Bad": 3}})).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["max_age_days", "types.Bad"]);
    assert_problem(
        put(&app, &app.a.admin, json!({"days": 3})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let (_, policy) = app.get_json("/v1/retention", &app.a.admin).await;
    assert_eq!(policy, json!({}), "nothing was stored");
    let (_, other) = app.get_json("/v1/retention", &app.b.admin).await;
    assert_eq!(other, json!({}));
}
