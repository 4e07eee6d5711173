//! Consumers over real HTTP (SPEC section 8): created at a start position, `next` answers the
//! matching events after the checkpoint without moving it (so a consumer that dies before
//! acknowledging gets them again), long-polls for new ones, `ack` moves forward only unless it
//! rewinds, lag is reported, and all of it stays inside the tenant; on SQLite and on two
//! PostgreSQL nodes (a `next` waiting on one node is woken by a write on the other).

mod common;

use common::{assert_problem, spawn_app, spawn_postgres_nodes, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::time::Duration;

fn invoice(n: u32) -> Value {
    json!({"type": "invoice.paid", "title": format!("Invoice {n} paid"),
           "entity": {"type": "invoice", "id": format!("inv-{n}")}})
}

fn noise(n: u32) -> Value {
    json!({"type": "task.created", "title": format!("Task {n}")})
}

async fn create(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.req(Method::POST, "/v1/consumers", key).json(&body).send().await.unwrap()
}

async fn next(app: &TestApp, name: &str, query: &str) -> (Vec<String>, i64) {
    let (status, page) =
        app.get_json(&format!("/v1/consumers/{name}/next?{query}"), &app.a.read).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let titles = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_owned())
        .collect();
    (titles, page["next_after"].as_i64().unwrap())
}

async fn ack(app: &TestApp, name: &str, body: Value) -> reqwest::Response {
    let path = format!("/v1/consumers/{name}/ack");
    app.req(Method::POST, &path, &app.a.read).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn next_reads_without_moving_and_ack_moves_forward_only() {
    let app = spawn_app().await;
    for n in 1..=3 {
        app.create_event(&app.a.ingest, &invoice(n)).await;
        app.create_event(&app.a.ingest, &noise(n)).await;
    }
    let r = create(&app, &app.a.admin, json!({"name": "billing", "filter": {"type": "invoice.*"}}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert_eq!(
        (made["checkpoint"].as_i64(), made["head"].as_i64(), made["lag"].as_i64()),
        (Some(0), Some(6), Some(6))
    );

    let (titles, after) = next(&app, "billing", "limit=2").await;
    assert_eq!(titles, ["Invoice 1 paid", "Invoice 2 paid"]);
    assert_eq!(after, 3, "a full page: through its last event");
    // Not acknowledged: the same events again (a consumer that died gets them back).
    assert_eq!(next(&app, "billing", "limit=2").await, (titles.clone(), 3));
    let r = ack(&app, "billing", json!({"through_seq": after})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (titles, after) = next(&app, "billing", "").await;
    assert_eq!(titles, ["Invoice 3 paid"]);
    // Through the head: past the noise, and past the audit event of the consumer's creation.
    assert_eq!(after, 7, "nothing more matches: through the head, past the noise");
    ack(&app, "billing", json!({"through_seq": after})).await;
    assert_eq!(next(&app, "billing", "").await, (vec![], 7));
    // An older acknowledgement changes nothing; a rewind replays.
    let acked: Value = ack(&app, "billing", json!({"through_seq": 2})).await.json().await.unwrap();
    assert_eq!((acked["checkpoint"].as_i64(), acked["lag"].as_i64()), (Some(7), Some(0)));
    ack(&app, "billing", json!({"rewind_to": 2})).await;
    assert_eq!(next(&app, "billing", "").await.0, ["Invoice 2 paid", "Invoice 3 paid"]);

    // Start positions: the end, after a position, since a time.
    let r = create(&app, &app.a.admin, json!({"name": "later", "start": "end"})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["checkpoint"], json!(7));
    let r = create(&app, &app.a.admin, json!({"name": "after", "start": {"after": 4}})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["checkpoint"], json!(4));
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    app.create_event(&app.a.ingest, &invoice(4)).await;
    let r = create(&app, &app.a.admin, json!({"name": "since", "start": {"since": since}})).await;
    // The last position before `since`: the audit event of the "after" consumer's creation.
    assert_eq!(r.json::<Value>().await.unwrap()["checkpoint"], json!(9));
    assert_eq!(next(&app, "since", "").await.0, ["Invoice 4 paid"]);
    assert_eq!(next(&app, "later", "").await.0, ["Invoice 4 paid"]);

    let (_, listed) = app.get_json("/v1/consumers", &app.a.read).await;
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["after", "billing", "later", "since"]);
    let (_, billing) = app.get_json("/v1/consumers/billing", &app.a.read).await;
    assert_eq!((billing["head"].as_i64(), billing["lag"].as_i64()), (Some(11), Some(9)));
    assert_eq!(billing["filter"], json!({"type": "invoice.*"}));

    let r = app.req(Method::DELETE, "/v1/consumers/later", &app.a.admin).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, "/v1/consumers/later/next", &app.a.read).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_requests_are_problems_and_change_nothing() {
    let app = spawn_app().await;
    app.create_event(&app.a.ingest, &invoice(1)).await;
    let r = create(&app, &app.a.read, json!({"name": "x"})).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = create(
        &app,
        &app.a.admin,
        json!({"name": "Bad!", "filter": {"unread": "true"},
                                             "start": "middle"}),
    )
    .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "filter.unread", "start"]);
    let r = create(&app, &app.a.admin, json!({"name": "x", "start": {"after": 99}})).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        create(&app, &app.a.admin, json!({"name": "c"})).await.status(),
        StatusCode::CREATED
    );
    assert_problem(create(&app, &app.a.admin, json!({"name": "c"})).await, StatusCode::CONFLICT)
        .await;

    for body in [json!({}), json!({"through_seq": 1, "rewind_to": 0}), json!({"through_seq": -1})] {
        assert_problem(ack(&app, "c", body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_problem(
        ack(&app, "c", json!({"through_seq": 99})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(ack(&app, "nope", json!({"through_seq": 1})).await, StatusCode::NOT_FOUND).await;
    for query in ["limit=0", "limit=1001", "wait_seconds=31", "cursor=x"] {
        let r = app.req(Method::GET, &format!("/v1/consumers/c/next?{query}"), &app.a.read);
        assert_problem(r.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    }
    // Another tenant's keys find nothing.
    let r = app.req(Method::GET, "/v1/consumers/c", &app.b.read).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = app.req(Method::POST, "/v1/consumers/c/ack", &app.b.read);
    assert_problem(r.json(&json!({"through_seq": 0})).send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    let (_, c) = app.get_json("/v1/consumers/c", &app.a.read).await;
    assert_eq!(c["checkpoint"], json!(0), "nothing moved");
}

/// A `next` that waits is answered by the first matching event committed meanwhile; events
/// that do not match do not end the wait.
async fn long_poll_is_woken_by_a_matching_event(waiting: &TestApp, writer: &TestApp) {
    let r = create(
        waiting,
        &waiting.a.admin,
        json!({"name": "live", "filter": {"type": "invoice.*"},
                                                     "start": "end"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let poll = {
        let (client, url, key) = (
            waiting.client.clone(),
            waiting.url("/v1/consumers/live/next?wait_seconds=20"),
            waiting.a.read.clone(),
        );
        tokio::spawn(async move {
            client.get(url).bearer_auth(key).send().await.unwrap().json::<Value>().await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    writer.create_event(&writer.a.ingest, &noise(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished(), "an event that does not match does not answer the wait");
    writer.create_event(&writer.a.ingest, &invoice(1)).await;
    let page = poll.await.unwrap();
    let titles: Vec<&str> =
        page["events"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Invoice 1 paid"]);
}

#[tokio::test]
async fn a_waiting_next_is_answered_by_the_next_matching_event() {
    let app = spawn_app().await;
    long_poll_is_woken_by_a_matching_event(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_write_on_one_node_answers_a_wait_on_another() {
    let nodes = spawn_postgres_nodes(2, ServerConfig::default()).await;
    long_poll_is_woken_by_a_matching_event(&nodes[0], &nodes[1]).await;
}
