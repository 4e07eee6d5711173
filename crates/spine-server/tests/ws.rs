//! `GET /v1/ws` over a real WebSocket client (`tokio-tungstenite`).

mod common;

use common::sse::{post_many, viewer_token};
use common::ws::Ws;
use common::{event, spawn_app, spawn_app_with};
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// A socket whose two subscriptions have caught up parks on its tenant's tail, which then writes
/// their messages itself; the client stops reading while 2,500 events of ~2 KiB arrive (in
/// commits of 25, so both subscriptions' messages fit one pass), so a pass meets the full socket
/// mid-frame and later ones find the seat released. When the client reads again, each
/// subscription gets every event once, in order, with nothing torn, and then live events again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_gets_everything_in_order_when_it_reads_again() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(&app, "", Some(&app.a.read)).await;
    ws.subscribe("all", json!({}), None).await;
    ws.subscribe("bulk", json!({"type": "bulk.item"}), None).await;
    let description = "x".repeat(2_000);
    for batch in 0..100 {
        let events: Vec<Value> = (0..25)
            .map(|i| {
                let title = format!("item {batch}-{i}");
                json!({"type": "bulk.item", "title": title, "description": description})
            })
            .collect();
        app.create_batch(&events).await;
    }
    let mut got: HashMap<String, (i64, usize)> = HashMap::new();
    for _ in 0..5_000 {
        let m = ws.expect("activity").await;
        let id = m["id"].as_str().unwrap().to_owned();
        let seq = m["seq"].as_i64().unwrap();
        let (last, count) = got.entry(id.clone()).or_insert((0, 0));
        assert!(seq > *last, "{id}: seq {seq} after {last}");
        let expected = format!("item {}-{}", *count / 25, *count % 25);
        assert_eq!(m["event"]["title"], json!(expected), "{id}: event {count} in order");
        assert_eq!(m["event"]["seq"], json!(seq));
        (*last, *count) = (seq, *count + 1);
    }
    assert_eq!(got["all"].1, 2_500);
    assert_eq!(got["bulk"].1, 2_500);
    app.create_event(&app.a.ingest, &event("live again")).await;
    let m = ws.expect("activity").await;
    assert_eq!((&m["id"], &m["event"]["title"]), (&json!("all"), &json!("live again")));
}

/// A client frame as a browser sends it: masked, final or not.
fn client_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The next server frame: (opcode, payload). Server frames are final and never masked here.
async fn server_frame(tcp: &mut TcpStream) -> (u8, Vec<u8>) {
    let read = async {
        let mut head = [0u8; 2];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0] & 0xf0, 0x80, "final, no extension bits");
        assert_eq!(head[1] & 0x80, 0, "not masked");
        let len = match head[1] & 0x7f {
            126 => u64::from(tcp.read_u16().await.unwrap()),
            127 => tcp.read_u64().await.unwrap(),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        tcp.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0f, payload)
    };
    tokio::time::timeout(common::sse::GUARD, read).await.expect("a frame in time")
}

/// Sends a raw upgrade request and returns the response head.
async fn handshake(tcp: &mut TcpStream, version_line: &str, extra: &str, key: &str) -> String {
    let request = format!(
        "GET /v1/ws {version_line}\r\nHost: spine\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {key}\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tcp.read_u8().await.expect("a response head");
        head.push(byte);
    }
    String::from_utf8(head).unwrap()
}

/// On a plain connection the WebSocket is served on its own socket: the accept key is RFC
/// 6455's (its own example), a message fragmented around a ping is understood and the ping
/// answered, events arrive as text frames, and a frame that breaks the protocol (unmasked)
/// closes the socket with 1002. Upgrades that are not HTTP/1.1 or not version 13 are problems.
#[tokio::test]
async fn the_protocol_on_a_socket_of_its_own() {
    let app = spawn_app().await;
    for (line, extra) in [("HTTP/1.1", "Sec-WebSocket-Version: 8\r\n"), ("HTTP/1.0", "")] {
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        let head = handshake(&mut tcp, line, extra, &app.a.read).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{line} {extra}: {head}");
        assert!(head.contains("application/problem+json"), "{head}");
    }

    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    let head = handshake(&mut tcp, "HTTP/1.1", "Sec-WebSocket-Version: 13\r\n", &app.a.read).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"), "{head}");
    assert!(head.contains("upgrade: websocket\r\n"), "{head}");

    let subscribe = br#"{"type":"subscribe","id":"raw","filter":{}}"#;
    let (first, second) = subscribe.split_at(10);
    let mut bytes = client_frame(0x1, false, first);
    bytes.extend(client_frame(0x9, true, b"are you there"));
    bytes.extend(client_frame(0x0, true, second));
    tcp.write_all(&bytes).await.unwrap();
    assert_eq!(server_frame(&mut tcp).await, (0xA, b"are you there".to_vec()), "the pong");
    let (opcode, payload) = server_frame(&mut tcp).await;
    assert_eq!(opcode, 0x1);
    let subscribed: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!((&subscribed["type"], &subscribed["id"]), (&json!("subscribed"), &json!("raw")));

    let created = app.create_event(&app.a.ingest, &event("raw frames")).await;
    let (opcode, payload) = server_frame(&mut tcp).await;
    assert_eq!(opcode, 0x1);
    let activity: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(activity["type"], "activity");
    assert_eq!(activity["id"], "raw");
    assert_eq!(activity["seq"], created["seq"]);
    assert_eq!(activity["event"]["id"], created["id"]);

    // Unmasked: a protocol error.
    let mut unmasked = client_frame(0x1, true, b"{}");
    unmasked[1] &= 0x7f;
    unmasked.drain(2..6);
    for (i, b) in unmasked[2..].iter_mut().enumerate() {
        *b ^= [0x37, 0xfa, 0x21, 0x3d][i % 4];
    }
    tcp.write_all(&unmasked).await.unwrap();
    let (opcode, payload) = server_frame(&mut tcp).await;
    assert_eq!(opcode, 0x8, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the socket closes after the close frame");
}
