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

/// Reads until the server closes the connection, or (`head_only`) until a whole answer head
/// arrived, at most the guard; what it sent.
async fn read_from(socket: &mut TcpStream, head_only: bool) -> Vec<u8> {
    let mut got = Vec::new();
    let done = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        while !(head_only && String::from_utf8_lossy(&got).contains("\r\n\r\n")) {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(done.is_ok(), "neither an answer nor a close within the guard");
    got
}

/// What the server sent before it closed the connection.
async fn read_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    read_from(socket, false).await
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

/// The head of a batch post of `length` bytes by tenant a's ingest key.
fn batch_head(app: &common::TestApp, length: usize) -> String {
    format!(
        "POST /v1/events/batch HTTP/1.1\r\nHost: spine\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
        app.a.ingest
    )
}

/// Sends a batch post's head and then `body` in `pieces` pieces, `pause` apart; the answer's status line.
async fn send_slowly(app: &common::TestApp, body: &[u8], pieces: usize, pause: Duration) -> String {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(batch_head(app, body.len()).as_bytes()).await.unwrap();
    for piece in body.chunks(body.len().div_ceil(pieces)) {
        tokio::time::sleep(pause).await;
        if socket.write_all(piece).await.is_err() {
            break;
        }
    }
    String::from_utf8_lossy(&read_from(&mut socket, true).await).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_a_slow_steady_one_is_served() {
    let config =
        ServerConfig { body_read_timeout: Duration::from_secs(1), ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    let batch = serde_json::json!({"events": (0..200).map(|i| event(&format!("slow {i}"))).collect::<Vec<_>>()});
    let body = serde_json::to_vec(&batch).unwrap();

    // Ten pieces, 300 ms apart: three seconds in all, never a second of silence.
    let steady = send_slowly(&app, &body, 10, Duration::from_millis(300)).await;
    assert!(steady.starts_with("HTTP/1.1 200"), "{steady}");

    // The first piece, then silence: 408 with a problem, and nothing of the batch written.
    let before = app.count(&app.a.id).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(batch_head(&app, body.len()).as_bytes()).await.unwrap();
    socket.write_all(&body[..100]).await.unwrap();
    let answer = String::from_utf8(read_until_closed(&mut socket).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("urn:spine:problem:timeout"), "{answer}");
    assert_eq!(app.count(&app.a.id).await, before, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_steady_50_mib_upload_and_a_stream_outlive_short_timeouts() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        max_file_bytes: 64 * 1024 * 1024,
        ..ServerConfig::default()
    };
    let app = spawn_app_with(config).await;
    let channel: serde_json::Value = app
        .req(reqwest::Method::POST, "/v1/channels", &app.a.admin)
        .json(&serde_json::json!({"name": "Uploads", "provider": "file"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ingest_url = channel["ingest_url"].as_str().unwrap();
    let path = &ingest_url[ingest_url.find("/v1/").unwrap()..];
    let mut stream = open(&app, "/v1/stream", Some(&app.a.read), &[]).await;

    // 50 MiB in one multipart file part.
    let boundary = "spine-slow-upload-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend((0..50u32 * 1024 * 1024).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    // Sent in 2 MiB pieces 120 ms apart: about three seconds in all, never a second of silence.
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path}/files HTTP/1.1\r\nHost: spine\r\nX-Ingestion-Key: {}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        channel["secret"].as_str().unwrap(),
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(2 * 1024 * 1024) {
        tokio::time::sleep(Duration::from_millis(120)).await;
        socket.write_all(piece).await.unwrap();
    }
    let answer = String::from_utf8_lossy(&read_from(&mut socket, true).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The stream opened before the upload is still open, and carries the upload's event.
    let (_, event) = next_activity(&mut stream).await;
    assert_eq!(event["title"].as_str().map(|t| t.contains("big.bin")), Some(true), "{event}");
}

/// Sends `request` on a new connection; what the server sent until `until` appeared (or it
/// closed).
async fn raw(app: &common::TestApp, request: &str, until: &str) -> (TcpStream, String) {
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let done = tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(until) {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(done.is_ok(), "neither {until:?} nor a close within the guard");
    (socket, String::from_utf8_lossy(&got).into_owned())
}

/// Stream requests on plain connections are served outside hyper's connection: the answer is a
/// well-formed HTTP/1.1 response (chunked for HTTP/1.1, ended by the close for HTTP/1.0),
/// refusals are problems with a length, bad heads and bodies are refused, a client that leaves
/// frees its stream at once, and a stream head left unfinished is closed at the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_connections_speak_plain_http_and_free_their_place() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        max_streams_per_tenant: 1,
        ..ServerConfig::default()
    };
    let app = spawn_app_with(config).await;
    let key = app.a.read.clone();
    let get = |version: &str| {
        format!("GET /v1/stream?type=x.* HTTP/{version}\r\nHost: spine\r\nAuthorization: Bearer {key}\r\n\r\n")
    };

    let (mut socket, head) = raw(&app, &get("1.1"), "event: position").await;
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    for line in
        ["content-type: text/event-stream", "transfer-encoding: chunked", "connection: close"]
    {
        assert!(lower.contains(line), "{line} in {head}");
    }
    app.create_event(&app.a.ingest, &serde_json::json!({"type": "y.b", "title": "skipped"})).await;
    let created =
        app.create_event(&app.a.ingest, &serde_json::json!({"type": "x.a", "title": "kept"})).await;
    let mut buf = vec![0u8; 65536];
    let mut body = String::new();
    while !body.contains("event: activity") {
        let n = tokio::time::timeout(GUARD, socket.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the stream ended");
        body.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(body.contains(&format!("\"id\":\"{}\"", created["id"].as_str().unwrap())), "{body}");
    assert!(!body.contains("skipped"), "the filter applies: {body}");

    // The tenant may hold one stream: a second is refused with a problem that has a length ...
    let (_, refused) = raw(&app, &get("1.1"), "}").await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.to_ascii_lowercase().contains("content-length:"), "{refused}");
    // ... until the first client leaves, which frees its place at once.
    drop(socket);
    let mut reopened = None;
    for _ in 0..50 {
        let (socket, head) = raw(&app, &get("1.0"), "\r\n\r\n").await;
        if head.starts_with("HTTP/1.1 200") {
            reopened = Some((socket, head));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (socket, head) = reopened.expect("the stream's place was freed");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding"), "HTTP/1.0: {head}");
    drop(socket);

    // Refusals: no credential, a malformed header, a body.
    let (_, anonymous) = raw(&app, "GET /v1/stream HTTP/1.1\r\nHost: spine\r\n\r\n", "}").await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let (_, malformed) = raw(&app, "GET /v1/stream HTTP/1.1\r\nBad Header\r\n\r\n", "}").await;
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    let with_body = format!(
        "GET /v1/stream HTTP/1.1\r\nAuthorization: Bearer {key}\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let (_, with_body) = raw(&app, &with_body, "}").await;
    assert!(with_body.starts_with("HTTP/1.1 400"), "{with_body}");
    assert!(with_body.contains("no body"), "{with_body}");

    // Half a stream request's head: closed at the timeout without an answer.
    let (_, unfinished) = raw(&app, "GET /v1/stream HTTP/1.1\r\nHost: spine\r\n", "never").await;
    assert!(unfinished.is_empty(), "{unfinished}");
}
