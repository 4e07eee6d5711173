//! SSE helpers: open a stream with a real SSE parser (`eventsource-stream`) and read it.

use super::{event, TestApp};
use eventsource_stream::{Event as Sse, EventStreamError, Eventsource};
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Fails a test instead of letting it hang; never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(10);

pub type Messages = BoxStream<'static, Result<Sse, EventStreamError<reqwest::Error>>>;

/// Opens a stream at `path` with `key` as bearer (or none), plus extra headers.
pub async fn open(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> Messages {
    let mut req = app.client.get(app.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    open_request(req, headers).await
}

/// Opens a stream at `path` with only `headers` (a session cookie, say).
pub async fn open_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Messages {
    open_request(app.client.get(app.url(path)), headers).await
}

async fn open_request(mut req: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> Messages {
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let mut messages = r.bytes_stream().eventsource().boxed();
    // Every stream opens with its starting position, so a client can resume from it.
    let first = next(&mut messages).await;
    assert_eq!(first.event, "position", "{first:?}");
    assert_eq!(first.id, first.data, "{first:?}");
    assert!(first.id.parse::<i64>().is_ok_and(|p| p >= 0), "{first:?}");
    messages
}

/// The next message of the stream, whatever its kind.
pub async fn next(messages: &mut Messages) -> Sse {
    tokio::time::timeout(GUARD, messages.next())
        .await
        .expect("a message within the guard")
        .expect("the stream is still open")
        .expect("a well-formed message")
}

/// The next `activity` message as (id, event json).
pub async fn next_activity(messages: &mut Messages) -> (i64, Value) {
    let m = next(messages).await;
    assert_eq!(m.event, "activity", "{m:?}");
    let body: Value = serde_json::from_str(&m.data).unwrap();
    let id: i64 = m.id.parse().unwrap();
    assert_eq!(body["seq"], json!(id), "the SSE id is the event's seq");
    (id, body)
}

/// Posts `count` events titled `{prefix}{i}`, returning their seqs.
pub async fn post_many(app: &TestApp, prefix: &str, count: usize) -> Vec<i64> {
    let mut seqs = Vec::new();
    for i in 0..count {
        let e = app.create_event(&app.a.ingest, &event(&format!("{prefix}{i}"))).await;
        seqs.push(e["seq"].as_i64().unwrap());
    }
    seqs
}

pub async fn viewer_token(app: &TestApp, body: Value) -> String {
    let r = app.req(Method::POST, "/v1/viewer-tokens", &app.a.read).json(&body).send().await;
    let body: Value = r.unwrap().json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}
