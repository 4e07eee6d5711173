//! Seen and archived state over real HTTP: `POST /v1/seen`, archive and unarchive, the feed's
//! `unseen` and `archived` filters and flags, `unseen` in the unread count, the viewer default,
//! and the `seen` / `archive` messages on the user's streams.

mod common;

use common::sse::{next, open, viewer_token};
use common::ws::Ws;
use common::{assert_problem, event, spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(app: &TestApp, path: &str, user: &str, body: Value) -> (StatusCode, Value) {
    let r = app.req(Method::POST, path, &app.a.read).header("x-spine-user", user).json(&body);
    let r = r.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, user: &str) -> Value {
    let r = app.req(Method::GET, path, &app.a.read).header("x-spine-user", user);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn titles(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn seen_and_archive_shape_the_users_feed_and_counts() {
    let app = spawn_app().await;
    let mut events = Vec::new();
    for title in ["one", "two", "three"] {
        events.push(app.create_event(&app.a.ingest, &event(title)).await);
    }
    let counts = get(&app, "/v1/unread-count", "ana").await;
    assert_eq!(counts, json!({"unread": 3, "unseen": 3}));
    let (status, body) =
        post(&app, "/v1/seen", "ana", json!({"through_seq": events[1]["seq"]})).await;
    assert_eq!((status, &body["through_seq"]), (StatusCode::OK, &events[1]["seq"]));
    assert_eq!(get(&app, "/v1/unread-count", "ana").await, json!({"unread": 3, "unseen": 1}));
    assert_eq!(titles(&get(&app, "/v1/events?unseen=true", "ana").await), vec!["three"]);
    let page = get(&app, "/v1/events?order=seq", "ana").await;
    let seen: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|i| &i["seen"]).collect();
    assert_eq!(seen, vec![&json!(true), &json!(true), &json!(false)]);

    let id = events[0]["id"].as_str().unwrap();
    let (status, body) = post(&app, &format!("/v1/events/{id}/archive"), "ana", json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": id, "archived": true})));
    assert_eq!(titles(&get(&app, "/v1/events?archived=false", "ana").await), vec!["three", "two"]);
    assert_eq!(titles(&get(&app, "/v1/events?archived=true", "ana").await), vec!["one"]);
    assert_eq!(get(&app, "/v1/unread-count", "ana").await, json!({"unread": 2, "unseen": 1}));
    assert_eq!(titles(&get(&app, "/v1/events?archived=false", "bob").await).len(), 3);
    // A viewer sees unarchived events unless it asks for the archive.
    let ana = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
    let (_, page) = app.get_json("/v1/events", &ana).await;
    assert_eq!(titles(&page), vec!["three", "two"]);
    let (_, page) = app.get_json("/v1/events?archived=true", &ana).await;
    assert_eq!(titles(&page), vec!["one"]);

    let (status, body) = post(&app, &format!("/v1/events/{id}/unarchive"), "ana", json!({})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"id": id, "archived": false})));
    assert_eq!(titles(&get(&app, "/v1/events?archived=false", "ana").await).len(), 3);
}

#[tokio::test]
async fn seen_and_archive_refuse_what_they_cannot_do() {
    let app = spawn_app().await;
    let theirs = app.create_event(&app.b.ingest, &event("theirs")).await;
    let id = theirs["id"].as_str().unwrap();
    let r = app.req(Method::POST, &format!("/v1/events/{id}/archive"), &app.a.read);
    assert_problem(r.header("x-spine-user", "ana").send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    let r = app.req(Method::POST, "/v1/events/not-a-uuid/unarchive", &app.a.read);
    assert_problem(r.header("x-spine-user", "ana").send().await.unwrap(), StatusCode::NOT_FOUND)
        .await;
    let r = app.req(Method::POST, "/v1/seen", &app.a.read).json(&json!({}));
    assert_problem(r.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
    let r = app.req(Method::POST, "/v1/seen", &app.a.read).header("x-spine-user", "ana");
    let r = r.json(&json!({"through_seq": -1})).send().await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = app.req(Method::POST, "/v1/seen", &app.a.ingest).header("x-spine-user", "ana");
    assert_problem(r.json(&json!({})).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    for filter in ["unseen=true", "archived=true", "archived=false"] {
        let r = app.req(Method::GET, &format!("/v1/events?{filter}"), &app.a.read);
        let body = assert_problem(r.send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        assert!(body.to_string().contains("needs a user"), "{filter}: {body}");
    }
    let r = app.req(Method::GET, "/v1/events?archived=maybe", &app.a.read);
    assert_problem(r.header("x-spine-user", "ana").send().await.unwrap(), StatusCode::BAD_REQUEST)
        .await;
}

#[tokio::test]
async fn seen_and_archive_changes_reach_the_users_streams() {
    let app = spawn_app().await;
    // Minted first: minting is audited, and the audit event would be the head.
    let ana = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
    let e = app.create_event(&app.a.ingest, &event("one")).await;
    // The same filters as the feed: archived=false and unseen=true hold for new events.
    let mut sse = open(&app, "/v1/stream?archived=false&unseen=true", Some(&ana), &[]).await;
    let mut ws = Ws::connect(&app, "", Some(&ana)).await;
    ws.subscribe("all", json!({}), None).await;

    let r = app.client.post(app.url("/v1/seen")).bearer_auth(&ana).json(&json!({}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let m = next(&mut sse).await;
    assert_eq!(m.event, "seen", "{m:?}");
    let body: Value = serde_json::from_str(&m.data).unwrap();
    assert_eq!(body, json!({"user_id": "ana", "through_seq": e["seq"]}));
    assert_eq!(ws.expect("seen").await["through_seq"], e["seq"]);

    let id = e["id"].as_str().unwrap();
    let r = app.client.post(app.url(&format!("/v1/events/{id}/archive"))).bearer_auth(&ana);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let m = next(&mut sse).await;
    assert_eq!(m.event, "archive", "{m:?}");
    let body: Value = serde_json::from_str(&m.data).unwrap();
    assert_eq!(
        body,
        json!({"user_id": "ana", "event_id": e["id"], "seq": e["seq"], "archived": true})
    );
    let message = ws.expect("archive").await;
    assert_eq!((&message["event_id"], &message["archived"]), (&e["id"], &json!(true)));
}

/// An archive view's stream (`archived=true`) carries the user's read-state messages and no
/// events: new events are never archived.
#[tokio::test]
async fn an_archive_views_stream_carries_read_state_only() {
    let app = spawn_app().await;
    let e = app.create_event(&app.a.ingest, &event("one")).await;
    let ana = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
    let mut sse = open(&app, "/v1/stream?archived=true&after=0", Some(&ana), &[]).await;
    app.create_event(&app.a.ingest, &event("two")).await;
    let id = e["id"].as_str().unwrap();
    let r = app.client.post(app.url(&format!("/v1/events/{id}/archive"))).bearer_auth(&ana);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let m = next(&mut sse).await;
    assert_eq!(m.event, "archive", "no activity before it: {m:?}");
}
