//! `GET /v1/ws` over a real WebSocket client (`tokio-tungstenite`).

mod common;

use common::sse::{post_many, viewer_token};
use common::ws::Ws;
use common::{event, spawn_app, spawn_app_with};
use serde_json::{json, Value};
use spine_server::ServerConfig;

fn typed(kind: &str, title: &str) -> Value {
    let mut e = event(title);
    e["type"] = json!(kind);
    e
}

#[tokio::test]
async fn several_subscriptions_on_one_socket_each_get_their_filter_in_seq_order() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    let start = ws.subscribe("all", json!({}), None).await;
    ws.subscribe("tasks", json!({"type": "task.*"}), None).await;
    ws.subscribe("blue", json!({"tag": ["blue"], "priority": "high"}), None).await;
    let task = app.create_event(&app.a.ingest, &typed("task.created", "t")).await;
    let mut blue = typed("deploy.finished", "d");
    blue["tags"] = json!(["blue"]);
    blue["priority"] = json!("high");
    let deploy = app.create_event(&app.a.ingest, &blue).await;
    assert!(task["seq"].as_i64().unwrap() > start);

    let mut got: Vec<(String, i64)> = Vec::new();
    for _ in 0..4 {
        let m = ws.expect("activity").await;
        assert_eq!(m["seq"], m["event"]["seq"]);
        got.push((m["id"].as_str().unwrap().to_owned(), m["seq"].as_i64().unwrap()));
    }
    got.sort();
    let (t, d) = (task["seq"].as_i64().unwrap(), deploy["seq"].as_i64().unwrap());
    let expected = vec![
        ("all".to_owned(), t),
        ("all".to_owned(), d),
        ("blue".to_owned(), d),
        ("tasks".to_owned(), t),
    ];
    assert_eq!(got, expected);
}

#[tokio::test]
async fn after_resumes_exactly_after_it_and_unsubscribe_stops_delivery() {
    let app = spawn_app().await;
    let seqs = post_many(&app, "old", 120).await;
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    let start = ws.subscribe("s", json!({}), Some(seqs[9])).await;
    assert_eq!(start, seqs[9]);
    for expected in &seqs[10..] {
        assert_eq!(ws.expect("activity").await["seq"], json!(expected));
    }
    ws.send(json!({"type": "unsubscribe", "id": "s"})).await;
    assert_eq!(ws.expect("unsubscribed").await["id"], json!("s"));
    app.create_event(&app.a.ingest, &event("after unsubscribe")).await;
    ws.send(json!({"type": "ping", "nonce": 7})).await;
    // Nothing of the unsubscribed stream comes before the pong.
    assert_eq!(ws.expect("pong").await["nonce"], json!(7));
    ws.close().await;
}

#[tokio::test]
async fn bad_messages_get_error_messages_and_the_socket_stays_usable() {
    let app = spawn_app_with(ServerConfig { ws_max_subscriptions: 2, ..Default::default() }).await;
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    ws.send_text("{not json").await;
    let e = ws.expect("error").await;
    assert_eq!(e["error"], json!("bad-message"));
    assert!(e.get("id").is_none());
    ws.send(json!({"type": "subscribe", "id": "x", "filter": {}, "tenant": "b"})).await;
    assert_eq!(ws.expect("error").await["error"], json!("bad-message"), "unknown fields refused");
    ws.send(json!({"type": "subscribe", "id": "bad", "filter": {"type": "Not A Type!"}})).await;
    let e = ws.expect("error").await;
    assert_eq!((e["id"].clone(), e["error"].clone()), (json!("bad"), json!("invalid-filter")));
    assert!(e["errors"].as_array().is_some_and(|a| !a.is_empty()), "{e}");
    ws.send(json!({"type": "subscribe", "id": "c", "filter": {"cursor": "abc"}})).await;
    assert_eq!(ws.expect("error").await["error"], json!("invalid-filter"));
    ws.send(json!({"type": "subscribe", "id": "u", "filter": {"unread": true}})).await;
    assert_eq!(ws.expect("error").await["error"], json!("invalid-filter"), "unread needs a user");
    ws.subscribe("one", json!({}), None).await;
    ws.send(json!({"type": "subscribe", "id": "one", "filter": {}})).await;
    assert_eq!(ws.expect("error").await["error"], json!("duplicate-subscription"));
    ws.subscribe("two", json!({}), None).await;
    ws.send(json!({"type": "subscribe", "id": "three", "filter": {}})).await;
    assert_eq!(ws.expect("error").await["error"], json!("too-many-subscriptions"));
    ws.send(json!({"type": "unsubscribe", "id": "nope"})).await;
    assert_eq!(ws.expect("error").await["error"], json!("unknown-subscription"));
    // A message much larger than the socket's read buffer (1 KiB) is read whole.
    let nonce = "n".repeat(60_000);
    ws.send(json!({"type": "ping", "nonce": nonce})).await;
    assert_eq!(ws.expect("pong").await["nonce"], json!(nonce));
    // Still usable: a live event reaches both subscriptions.
    let created = app.create_event(&app.a.ingest, &event("still alive")).await;
    for _ in 0..2 {
        assert_eq!(ws.expect("activity").await["seq"], created["seq"]);
    }
    assert_eq!(app.count(&app.a.id).await, 1, "nothing was written by the bad messages");
}

#[tokio::test]
async fn upgrades_without_credentials_or_with_foreign_parameters_are_problems() {
    let app = spawn_app().await;
    let Err((status, body)) = Ws::try_connect(&app, "", None).await else { panic!("no key") };
    assert_eq!(status, 401, "{body}");
    let Err((status, _)) = Ws::try_connect(&app, "?type=a.b", Some(&app.a.read)).await else {
        panic!("a filter in the URL")
    };
    assert_eq!(status, 400);
    let Err((status, _)) = Ws::try_connect(&app, "", Some(&app.a.ingest)).await else {
        panic!("an ingest key may not read")
    };
    assert_eq!(status, 403);
    // A plain GET without the upgrade is a problem too.
    let r = app.req(reqwest::Method::GET, "/v1/ws", &app.a.read).send().await.unwrap();
    common::assert_problem(r, reqwest::StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_scoped_viewer_token_sees_only_its_entity_and_another_tenants_token_nothing() {
    let app = spawn_app().await;
    let mut other = event("other entity");
    other["entity"]["id"] = json!("t-2");
    app.create_event(&app.a.ingest, &other).await;
    let mine = app.create_event(&app.a.ingest, &event("mine")).await;
    let scope = json!({"entity_type": "task", "entity_id": "t-1"});
    let token =
        viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600, "scope": scope})).await;
    let mut ws = Ws::connect(&app, &format!("?token={token}"), None).await;
    ws.subscribe("s", json!({}), Some(0)).await;
    assert_eq!(ws.expect("activity").await["seq"], mine["seq"], "resume sees only its entity");
    app.create_event(&app.a.ingest, &other).await;
    let live = app.create_event(&app.a.ingest, &event("mine live")).await;
    assert_eq!(ws.expect("activity").await["seq"], live["seq"], "live too");

    let mut b = Ws::connect(&app, "", Some(&app.b.read)).await;
    b.subscribe("s", json!({}), Some(0)).await;
    b.send(json!({"type": "ping"})).await;
    b.expect("pong").await;
}

#[tokio::test]
async fn read_changes_arrive_once_per_socket_for_its_user() {
    let app = spawn_app().await;
    let token = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
    let mut ws = Ws::connect(&app, &format!("?token={token}"), None).await;
    ws.subscribe("one", json!({}), None).await;
    ws.subscribe("two", json!({}), None).await;
    let e = app.create_event(&app.a.ingest, &event("to read")).await;
    ws.expect("activity").await;
    ws.expect("activity").await;
    let id = e["id"].as_str().unwrap();
    let r = app
        .req(reqwest::Method::POST, &format!("/v1/events/{id}/read"), &app.a.read)
        .header("x-spine-user", "bob")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app
        .client
        .post(app.url(&format!("/v1/events/{id}/read")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let read = ws.expect("read").await;
    assert_eq!(read["user_id"], json!("ana"), "bob's change is not ana's business: {read}");
    assert_eq!(read["event_id"], e["id"]);
    assert_eq!(read["seq"], e["seq"]);
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_the_restart_code() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    ws.subscribe("s", json!({}), None).await;
    let addr = app.addr;
    let stopping = tokio::spawn(app.shut_down());
    let closed = ws.expect("closed").await;
    assert_eq!(closed["code"], json!(1012), "{closed}");
    stopping.await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the server is gone");
}
