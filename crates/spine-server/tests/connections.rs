//! Connection hygiene: a client that never finishes its request head, and a keep-alive
//! connection left idle, are closed after the header read timeout, while a live stream on the
//! same node outlives it; at the connection cap the node accepts no more until one closes.

mod common;

use common::sse::{next_activity, open, GUARD};
use common::{event, spawn_app_with};
use spine_server::ServerConfig;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (at most the guard); what it sent before.
async fn read_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let closed = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open past the guard");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_heads_and_idle_keep_alives_are_closed_but_streams_are_not() {
    let config =
        ServerConfig { header_read_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    let mut stream = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;

    // A request line and no end of the head.
    let mut unfinished = TcpStream::connect(app.addr).await.unwrap();
    unfinished.write_all(b"GET /healthz HTTP/1.1\r\nHost: spine\r\n").await.unwrap();
    // A whole request, answered, then nothing on the kept-alive connection.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: spine\r\n\r\n").await.unwrap();

    let answered = String::from_utf8(read_until_closed(&mut idle).await).unwrap();
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    let unanswered = read_until_closed(&mut unfinished).await;
    assert!(!String::from_utf8_lossy(&unanswered).contains("200 OK"), "no answer to half a head");

    // The stream opened before both is still open after they were closed, and delivers.
    let created = app.create_event(&app.a.ingest, &event("after the timeouts")).await;
    let (seq, body) = next_activity(&mut stream).await;
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["seq"].as_i64(), Some(seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_a_new_client_waits_for_a_free_place() {
    let config = ServerConfig { max_connections: 3, ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    // Three connections that send nothing fill the node.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Give the server a moment to accept them all, so the next one is the fourth.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = app.client.clone();
    let url = app.url("/healthz");
    let waiting = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "a fourth connection was served while three were open");

    // One place frees: the waiting client is accepted and answered.
    drop(held.pop());
    let status = tokio::time::timeout(GUARD, waiting).await.expect("served").unwrap().unwrap();
    assert_eq!(status, 200);
}
