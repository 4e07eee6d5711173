//! Live delivery's edges over real HTTP: read-state changes on streams, resets after purges and
//! for resume points beyond the log, stream limits, and the lag cut-off.

mod common;

use common::sse::{next, next_activity, open, post_many, viewer_token};
use common::ws::Ws;
use common::{assert_problem, event, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::Seq;
use spine_server::ServerConfig;
use std::time::Duration;

fn data(m: &eventsource_stream::Event) -> Value {
    serde_json::from_str(&m.data).unwrap()
}

#[tokio::test]
async fn read_changes_reach_the_users_streams_only() {
    let app = spawn_app().await;
    // Minted first: minting is audited, and the audit event would be the head.
    let ana = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
    let e = app.create_event(&app.a.ingest, &event("to read")).await;
    let mut ana_stream = open(&app, "/v1/stream", Some(&ana), &[]).await;
    let mut bob_stream =
        open(&app, "/v1/stream", Some(&app.a.read), &[("x-spine-user", "bob")]).await;
    let id = e["id"].as_str().unwrap();
    let r = app.client.post(app.url(&format!("/v1/events/{id}/read"))).bearer_auth(&ana);
    assert!(r.send().await.unwrap().status().is_success());
    let m = next(&mut ana_stream).await;
    assert_eq!(m.event, "read", "{m:?}");
    assert_eq!(data(&m), json!({"user_id": "ana", "event_id": e["id"], "seq": e["seq"]}));

    let r = app
        .req(Method::POST, "/v1/read-all", &app.a.read)
        .header("x-spine-user", "bob")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let m = next(&mut bob_stream).await;
    assert_eq!(m.event, "read", "{m:?}");
    assert_eq!(data(&m), json!({"user_id": "bob", "through_seq": e["seq"]}));
    // Ana's stream got nothing of Bob's: the next thing it sees is a new event.
    let later = app.create_event(&app.a.ingest, &event("later")).await;
    assert_eq!(json!(next_activity(&mut ana_stream).await.0), later["seq"]);
}

/// Read flags and `unread=true` on a user's stream agree with the stored read state, whether
/// the events come from the shared tail (decided in memory) or from the store (a tail of
/// none), on resume and live.
#[tokio::test]
async fn read_flags_and_unread_on_streams_match_the_stored_read_state() {
    for tail_events in [10_000, 0] {
        let app =
            spawn_app_with(ServerConfig { stream_tail_events: tail_events, ..Default::default() })
                .await;
        // An open stream keeps the tenant's tail filling from here on.
        let mut watcher = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
        let seqs = post_many(&app, "flagged", 4).await;
        assert_eq!(next_activity(&mut watcher).await.0, seqs[0]);
        let ana = viewer_token(&app, json!({"user_id": "ana", "ttl_seconds": 600})).await;
        let mark = |path: String, body: Value| {
            let request = app.client.post(app.url(&path)).bearer_auth(&ana).json(&body);
            async move { assert!(request.send().await.unwrap().status().is_success()) }
        };
        let (_, page) = app.get_json("/v1/events?order=seq", &app.a.read).await;
        let id_of = |seq: i64| {
            let items = page["items"].as_array().unwrap();
            let item = items.iter().find(|i| i["seq"] == json!(seq)).unwrap();
            item["id"].as_str().unwrap().to_owned()
        };
        mark("/v1/read-all".into(), json!({"through_seq": seqs[0]})).await;
        mark(format!("/v1/events/{}/read", id_of(seqs[2])), json!({})).await;

        let after = seqs[0] - 1;
        let mut all = open(&app, &format!("/v1/stream?after={after}"), Some(&ana), &[]).await;
        let mut flags = Vec::new();
        for _ in 0..4 {
            let (seq, body) = next_activity(&mut all).await;
            flags.push((seq, body["read"].clone()));
        }
        let expected: Vec<(i64, Value)> =
            seqs.iter().zip([true, false, true, false]).map(|(s, r)| (*s, json!(r))).collect();
        assert_eq!(flags, expected, "tail of {tail_events}");

        let path = format!("/v1/stream?after={after}&unread=true");
        let mut unread = open(&app, &path, Some(&ana), &[]).await;
        assert_eq!(next_activity(&mut unread).await.0, seqs[1]);
        assert_eq!(next_activity(&mut unread).await.0, seqs[3]);
        // Live: a new event arrives unread on both.
        let live = app.create_event(&app.a.ingest, &event("live")).await;
        let (seq, body) = next_activity(&mut unread).await;
        assert_eq!((json!(seq), body["read"].clone()), (live["seq"].clone(), json!(false)));
        let (seq, body) = next_activity(&mut all).await;
        assert_eq!((json!(seq), body["read"].clone()), (live["seq"].clone(), json!(false)));
    }
}

#[tokio::test]
async fn resuming_below_a_purge_starts_with_reset_then_continues_live() {
    let app = spawn_app().await;
    let seqs = post_many(&app, "old", 6).await;
    let outcome = app.store.purge(&app.a.id, Seq(seqs[3])).await.unwrap();
    assert_eq!(outcome.removed, 4);
    let mut s = open(&app, &format!("/v1/stream?after={}", seqs[1]), Some(&app.a.read), &[]).await;
    let m = next(&mut s).await;
    assert_eq!(m.event, "reset", "{m:?}");
    let body = data(&m);
    assert_eq!(body["reason"], json!("purged"));
    assert_eq!(body["horizon"], json!(seqs[3]));
    assert_eq!(m.id, seqs[5].to_string(), "delivery continues from the live end");
    let live = app.create_event(&app.a.ingest, &event("new")).await;
    assert_eq!(json!(next_activity(&mut s).await.0), live["seq"]);

    // Resuming at or above the horizon is no gap: no reset.
    let mut s = open(&app, &format!("/v1/stream?after={}", seqs[3]), Some(&app.a.read), &[]).await;
    assert_eq!(next_activity(&mut s).await.0, seqs[4]);

    // Over a WebSocket, the same.
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    ws.subscribe("s", json!({}), Some(seqs[0])).await;
    let reset = ws.expect("reset").await;
    assert_eq!((reset["id"].clone(), reset["reason"].clone()), (json!("s"), json!("purged")));
}

/// Posts 1,000 events of 16 KB each (16 MB: more than the kernel's socket buffers hold, so a
/// client that pauses keeps the server's reader behind the log); returns their seqs.
async fn post_big(app: &common::TestApp) -> Vec<i64> {
    let mut seqs = Vec::new();
    for round in 0..2 {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                let mut e = event(&format!("e{round}-{i}"));
                e["data"] = json!({"blob": "x".repeat(16 * 1024)});
                e
            })
            .collect();
        let body = app.create_batch(&batch).await;
        let items = body["items"].as_array().expect("batch items");
        seqs.extend(items.iter().map(|i| i["event"]["seq"].as_i64().unwrap()));
    }
    seqs
}

#[tokio::test]
async fn a_purge_past_a_catching_up_readers_position_resets_it_mid_stream() {
    let app = spawn_app().await;
    let seqs = post_big(&app).await;
    let mut s = open(&app, "/v1/stream?after=0", Some(&app.a.read), &[]).await;
    assert_eq!(next_activity(&mut s).await.0, seqs[0]);
    // The paused client keeps the reader behind; the purge passes its position.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.store.purge(&app.a.id, Seq(seqs[990])).await.unwrap();
    // What it read before the purge arrives, in order and without a hole; then a reset.
    let mut expected = seqs[1..].iter();
    loop {
        let m = next(&mut s).await;
        if m.event == "reset" {
            assert_eq!(data(&m)["horizon"], json!(seqs[990]), "{m:?}");
            assert_eq!(m.id, seqs[999].to_string());
            break;
        }
        assert_eq!(m.event, "activity", "{m:?}");
        assert_eq!(m.id, expected.next().expect("not past the end").to_string());
    }
}

#[tokio::test]
async fn a_resume_point_beyond_the_log_resets_to_the_live_end() {
    let app = spawn_app().await;
    let seqs = post_many(&app, "e", 2).await;
    let mut s = open(&app, "/v1/stream", Some(&app.a.read), &[("last-event-id", "999999")]).await;
    let m = next(&mut s).await;
    assert_eq!(m.event, "reset", "{m:?}");
    assert_eq!(data(&m)["reason"], json!("ahead-of-log"));
    assert_eq!(m.id, seqs[1].to_string());
}

#[tokio::test]
async fn stream_limits_answer_429_per_tenant_and_503_per_node_with_retry_after() {
    let config = ServerConfig { max_streams: 3, max_streams_per_tenant: 2, ..Default::default() };
    let app = spawn_app_with(config).await;
    let _one = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
    let _two = Ws::connect(&app, "", Some(&app.a.read)).await;
    let r = app.req(Method::GET, "/v1/stream", &app.a.read).send().await.unwrap();
    assert_eq!(r.headers()["retry-after"], "5");
    let p = assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(p["detail"].as_str().unwrap().contains("streams"), "{p}");
    let Err((status, _)) = Ws::try_connect(&app, "", Some(&app.a.read)).await else {
        panic!("a third stream of tenant a")
    };
    assert_eq!(status, 429);
    let _three = open(&app, "/v1/stream", Some(&app.b.read), &[]).await;
    let r = app.req(Method::GET, "/v1/stream", &app.b.read).send().await.unwrap();
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    // Closing a stream gives its place back.
    drop(_one);
    let mut reopened = None;
    for _ in 0..100 {
        let r = app.req(Method::GET, "/v1/stream", &app.a.read).send().await.unwrap();
        if r.status() == StatusCode::OK {
            reopened = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened.is_some(), "the place of a closed stream is given back");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("spine_live_rejected_total"), "{metrics}");
}

#[tokio::test]
async fn a_subscriber_behind_for_longer_than_the_lag_limit_is_told_to_resume() {
    let config = ServerConfig { stream_max_lag: Duration::from_millis(300), ..Default::default() };
    let app = spawn_app_with(config).await;
    post_big(&app).await;
    let mut s = open(&app, "/v1/stream?after=0", Some(&app.a.read), &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut delivered = 0;
    let error = loop {
        let m = next(&mut s).await;
        match m.event.as_str() {
            "activity" => delivered += 1,
            "error" => break data(&m),
            other => panic!("unexpected {other}"),
        }
    };
    assert_eq!(error["error"], json!("lagging"), "{error}");
    assert!(error["detail"].as_str().unwrap().contains("resume"), "{error}");
    assert!(delivered < 1000, "cut off before the end: {delivered}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("spine_live_disconnects_total{reason=\"lagging\"}"), "{metrics}");
}
