//! A subscriber that stops reading must not make the server's memory grow with what is written
//! while it sleeps, and must not hold up anyone else (SPEC principle 4). This file holds one
//! test, so the process's anonymous memory is the server's plus the test's own small clients.

mod common;

use common::sse::{next_activity, open};
use common::ws::Ws;
use common::{event, spawn_app_with};
use reqwest::Method;
use serde_json::{json, Value};
use spine_server::ServerConfig;
use tokio::io::AsyncWriteExt;

/// Anonymous resident memory of this process in bytes (heap and stacks; file-backed pages
/// such as SQLite's memory map are not counted).
fn rss_anon() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon in status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

const STALLED: usize = 20;
const EVENTS: usize = 8_000;
/// Written before measuring.
const WARM_UP: usize = 2_000;
const DATA_BYTES: usize = 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscribers_cost_a_fixed_amount_and_others_keep_receiving() {
    // A 16-event shared tail: the tail is a fixed cost bounded by its own settings (tail.rs
    // tests its bounds; with the default 10,000 events of 8 KiB it adds ~45-65 MiB here, most of
    // the margin under the bound below), so this test measures what stalled subscribers add, and
    // the live subscriber reads behind the tail through the store.
    let config = ServerConfig { stream_tail_events: 16, ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    // Stalled subscribers: raw SSE requests and WebSockets whose clients never read again.
    let mut stalled_sse = Vec::new();
    for _ in 0..STALLED / 2 {
        let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let request = format!(
            "GET /v1/stream HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
            app.addr, app.a.read
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        stalled_sse.push(socket);
    }
    let mut stalled_ws = Vec::new();
    for i in 0..STALLED / 2 {
        let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
        ws.subscribe(&format!("s{i}"), json!({}), None).await;
        stalled_ws.push(ws);
    }
    let mut reader = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;
    // A first round, before measuring: the stalled subscribers' sockets fill up and each takes
    // its one page, and the store's page caches and the allocator's arenas warm up, so what is
    // measured after is what writing more costs.
    let mut last = 0;
    let warm_up = write_events(&app, 0, WARM_UP);
    for _ in 0..WARM_UP {
        let (seq, _) = next_activity(&mut reader).await;
        assert!(seq > last);
        last = seq;
    }
    warm_up.await.unwrap();
    let before = rss_anon();

    // 64 MB of events while 20 subscribers read nothing. Buffering them per subscriber would
    // cost 20 x 64 MB; the bound below allows the rest of SQLite's page caches (at most ~140 MB
    // across the store's connections) plus slack, and one copy of the data at most.
    let writer = write_events(&app, WARM_UP / 500, EVENTS);
    // The reading subscriber keeps receiving every event, in order, while the others stall.
    for _ in 0..EVENTS {
        let (seq, _) = next_activity(&mut reader).await;
        assert!(seq > last);
        last = seq;
    }
    writer.await.unwrap();
    let grown = rss_anon().saturating_sub(before);
    let written = (EVENTS * DATA_BYTES) as u64;
    println!(
        "anonymous memory grew by {} MiB while {} MiB were written",
        grown >> 20,
        written >> 20
    );
    assert!(
        grown < 256 << 20,
        "memory grew by {} MiB with {STALLED} stalled subscribers ({} MiB written)",
        grown >> 20,
        written >> 20
    );
    drop(stalled_sse);
    drop(stalled_ws);
}

/// Writes `count` events of [`DATA_BYTES`] each in batches of 500, the first batch numbered
/// `first_round`.
fn write_events(
    app: &common::TestApp,
    first_round: usize,
    count: usize,
) -> tokio::task::JoinHandle<()> {
    let client = app.client.clone();
    let url = app.url("/v1/events/batch");
    let key = app.a.ingest.clone();
    tokio::spawn(async move {
        for round in first_round..first_round + count / 500 {
            let batch: Vec<Value> = (0..500)
                .map(|i| {
                    let mut e = event(&format!("e{round}-{i}"));
                    e["data"] = json!({"blob": "y".repeat(DATA_BYTES)});
                    e
                })
                .collect();
            let r = client
                .request(Method::POST, &url)
                .bearer_auth(&key)
                .json(&json!({"events": batch}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    })
}
