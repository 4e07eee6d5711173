//! `GET /v1/stream` over real HTTP, parsed by a real SSE client (`eventsource-stream`).

mod common;

use common::sse::{next, next_activity, open, post_many, viewer_token, GUARD};
use common::{assert_problem, event, spawn_app};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn an_event_posted_after_subscribing_arrives_with_its_seq_as_id() {
    let app = spawn_app().await;
    let mut s = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
    let created = app.create_event(&app.a.ingest, &event("live one")).await;
    let (id, body) = next_activity(&mut s).await;
    assert_eq!(json!(id), created["seq"]);
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["title"], json!("live one"));
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("spine_live_subscribers"), "the gauge is exported");
    assert!(metrics.contains("spine_live_deliveries_total"), "the counter is exported");
}

#[tokio::test]
async fn last_event_id_resumes_exactly_after_it_then_goes_live() {
    let app = spawn_app().await;
    let seqs = post_many(&app, "old", 5).await;
    let resume = seqs[1].to_string();
    let mut s = open(&app, "/v1/stream", Some(&app.a.read), &[("last-event-id", &resume)]).await;
    for expected in &seqs[2..] {
        assert_eq!(next_activity(&mut s).await.0, *expected);
    }
    let live = app.create_event(&app.a.ingest, &event("new")).await;
    let (id, _) = next_activity(&mut s).await;
    assert_eq!(json!(id), live["seq"], "the live event follows, nothing repeated");
}

#[tokio::test]
async fn after_resumes_exactly_after_it_then_goes_live() {
    let app = spawn_app().await;
    // More than one store page, so catch-up crosses page boundaries.
    let seqs = post_many(&app, "old", 130).await;
    let mut s = open(&app, &format!("/v1/stream?after={}", seqs[3]), Some(&app.a.read), &[]).await;
    for expected in &seqs[4..] {
        assert_eq!(next_activity(&mut s).await.0, *expected);
    }
    let live = app.create_event(&app.a.ingest, &event("new")).await;
    assert_eq!(json!(next_activity(&mut s).await.0), live["seq"]);
}

#[tokio::test]
async fn a_type_filter_delivers_only_matching_events() {
    let app = spawn_app().await;
    let mut s = open(&app, "/v1/stream?type=task.*", Some(&app.a.read), &[]).await;
    for i in 0..3 {
        let other = json!({"type": "doc.edited", "title": format!("doc {i}")});
        app.create_event(&app.a.ingest, &other).await;
    }
    let wanted = app.create_event(&app.a.ingest, &event("a task")).await;
    let (id, body) = next_activity(&mut s).await;
    assert_eq!(json!(id), wanted["seq"]);
    assert_eq!(body["type"], json!("task.created"));
}

#[tokio::test]
async fn a_scoped_viewer_token_in_the_query_sees_only_its_entity_on_resume_and_live() {
    let app = spawn_app().await;
    let in_scope = |title: &str| json!({"type": "task.created", "title": title, "entity": {"type": "task", "id": "t-9"}});
    let before = app.create_event(&app.a.ingest, &event("other entity")).await;
    let mine = app.create_event(&app.a.ingest, &in_scope("mine, old")).await;
    app.create_event(&app.a.ingest, &event("other entity again")).await;
    let token = viewer_token(
        &app,
        json!({"user_id": "u7", "scope": {"entity_type": "task", "entity_id": "t-9"}}),
    )
    .await;
    let path = format!("/v1/stream?token={token}&after={}", before["seq"].as_i64().unwrap() - 1);
    let mut s = open(&app, &path, None, &[]).await;
    assert_eq!(json!(next_activity(&mut s).await.0), mine["seq"], "resume skips other entities");
    app.create_event(&app.a.ingest, &event("other entity, live")).await;
    let live = app.create_event(&app.a.ingest, &in_scope("mine, live")).await;
    let (id, body) = next_activity(&mut s).await;
    assert_eq!(json!(id), live["seq"], "live skips other entities");
    assert_eq!(body["entity"]["id"], json!("t-9"));
}

#[tokio::test]
async fn another_tenants_stream_receives_nothing_of_this_tenant() {
    let app = spawn_app().await;
    let mut s = open(&app, "/v1/stream?after=0", Some(&app.b.read), &[]).await;
    post_many(&app, "a-only", 3).await;
    let own = app.create_event(&app.b.ingest, &event("b's own")).await;
    let (id, body) = next_activity(&mut s).await;
    assert_eq!(json!(id), own["seq"]);
    assert_eq!(body["tenant"], json!(app.b.id.as_str()));
}

#[tokio::test]
async fn an_api_key_in_the_query_is_refused() {
    let app = spawn_app().await;
    let url = app.url(&format!("/v1/stream?token={}", app.a.read));
    let r = app.client.get(url).send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn bad_resume_points_and_unknown_parameters_are_problems() {
    let app = spawn_app().await;
    for path in ["/v1/stream?after=-1", "/v1/stream?after=x", "/v1/stream?colour=red"] {
        let r = app.req(Method::GET, path, &app.a.read).send().await.unwrap();
        assert_problem(r, StatusCode::BAD_REQUEST).await;
    }
    let r = app
        .req(Method::GET, "/v1/stream", &app.a.read)
        .header("last-event-id", "soon")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let r = app.req(Method::GET, "/v1/stream", &app.a.ingest).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn an_expired_viewer_token_ends_the_stream_with_an_error_message() {
    let app = spawn_app().await;
    let token = viewer_token(&app, json!({"user_id": "u7", "ttl_seconds": 1})).await;
    let mut s = open(&app, "/v1/stream", Some(&token), &[]).await;
    let m = next(&mut s).await;
    assert_eq!(m.event, "error", "{m:?}");
    assert!(m.data.contains("expired"), "{}", m.data);
    let end = tokio::time::timeout(GUARD, s.next()).await.expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let app = spawn_app().await;
    let mut s = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
    app.shut_down().await;
    let end = tokio::time::timeout(GUARD, async {
        while let Some(m) = s.next().await {
            if m.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the stream ends when the server shuts down");
}

#[tokio::test]
async fn concurrent_writers_reach_a_filtered_stream_exactly_once_in_seq_order() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut s = open(&app, "/v1/stream?after=0&type=task.*", Some(&app.a.read), &[]).await;
    let writers = (0..4).map(|w| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for i in 0..25 {
                let body = if i % 2 == 0 {
                    event(&format!("w{w} task {i}"))
                } else {
                    json!({"type": "doc.edited", "title": format!("w{w} doc {i}")})
                };
                let created = app.create_event(&app.a.ingest, &body).await;
                if i % 2 == 0 {
                    tasks.push(created["seq"].as_i64().unwrap());
                }
            }
            tasks
        })
    });
    let mut expected = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        expected.extend(writer.await.unwrap());
    }
    expected.sort_unstable();
    let mut received = Vec::new();
    while received.len() < expected.len() {
        received.push(next_activity(&mut s).await.0);
    }
    assert_eq!(received, expected, "every matching event once, in seq order");
    let last = app.create_event(&app.a.ingest, &event("sentinel")).await;
    assert_eq!(json!(next_activity(&mut s).await.0), last["seq"], "nothing after, nothing twice");
}

#[tokio::test]
async fn the_openapi_document_describes_the_stream() {
    let app = spawn_app().await;
    let doc: Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let get = &doc["paths"]["/v1/stream"]["get"];
    assert!(get["responses"]["200"]["content"]["text/event-stream"].is_object(), "{get}");
    let params: Vec<&str> =
        get["parameters"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for name in ["after", "token", "type", "Last-Event-ID"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
}

/// A first feed page carries the head read before it; a stream opened after it delivers what
/// committed in between, even into an empty, filtered view. Later pages carry no position.
#[tokio::test]
async fn a_first_page_position_lets_a_stream_miss_nothing_committed_since() {
    let app = spawn_app().await;
    let first = app.create_event(&app.a.ingest, &event("before")).await;
    let (_, page) = app.get_json("/v1/events?type=deploy.done", &app.a.read).await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["position"], first["seq"]);
    let between = json!({"type": "deploy.done", "title": "committed between page and stream"});
    let between = app.create_event(&app.a.ingest, &between).await;
    let after = page["position"].as_i64().unwrap().to_string();
    let path = format!("/v1/stream?type=deploy.done&after={after}");
    let mut stream = open(&app, &path, Some(&app.a.read), &[]).await;
    let (seq, body) = next_activity(&mut stream).await;
    assert_eq!((json!(seq), &body["id"]), (between["seq"].clone(), &between["id"]));

    app.create_event(&app.a.ingest, &event("more")).await;
    let (_, page) = app.get_json("/v1/events?limit=1", &app.a.read).await;
    assert!(page["position"].is_i64());
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next_page) =
        app.get_json(&format!("/v1/events?limit=1&cursor={cursor}"), &app.a.read).await;
    assert!(next_page.get("position").is_none(), "{next_page}");
}

/// A subscriber that stops reading while megabytes of events are committed fills its socket:
/// the fan-out pass writes what fits and hands the rest back to the stream's own task, which
/// waits for room. When the client reads again it gets every event once, in order, with
/// nothing torn, and then live events again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_reading_gets_everything_in_order_when_it_reads_again() {
    let app = spawn_app().await;
    let mut s = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
    // Parked once caught up; then 3,000 events of ~2 KiB each arrive while it is not read, in
    // commits of 50, so each fits one pass of the seat: a pass meets the full socket mid-write
    // (the rest handed back), and later commits find the seat released.
    let description = "x".repeat(2_000);
    for batch in 0..60 {
        let events: Vec<Value> = (0..50)
            .map(|i| {
                let title = format!("item {batch}-{i}");
                json!({"type": "bulk.item", "title": title, "description": description})
            })
            .collect();
        app.create_batch(&events).await;
    }
    let mut last = 0;
    for n in 0..3_000 {
        let (seq, body) = next_activity(&mut s).await;
        assert!(seq > last, "event {n}: seq {seq} after {last}");
        let expected = format!("item {}-{}", n / 50, n % 50);
        assert_eq!(body["title"], json!(expected), "event {n} in order");
        last = seq;
    }
    let created = app.create_event(&app.a.ingest, &event("live again")).await;
    let (seq, body) = next_activity(&mut s).await;
    assert_eq!((seq, &body["id"]), (last + 1, &created["id"]));
}
