//! TLS without a proxy: a client that trusts a test CA gets the API over HTTPS (HTTP/2 through
//! ALPN), a live SSE stream and a WebSocket (`wss://`, upgraded by hyper rather than served on
//! a socket of its own), and a certificate rotated on disk is served to new connections without
//! a restart.

mod common;

use common::sse::GUARD;
use common::{event, spawn_app_with};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use spine_server::tls::TlsFiles;
use spine_server::ServerConfig;
use std::path::Path;

/// A new CA, and a certificate for `spine.test` it signed: (CA PEM, leaf PEM, leaf key PEM).
fn authority_and_leaf() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["spine.test".to_owned()]).unwrap();
    let leaf_pem = leaf.signed_by(&leaf_key, &issuer).unwrap().pem();
    (ca_pem, leaf_pem, leaf_key.serialize_pem())
}

/// A client trusting only `ca_pem` (no system roots), reaching `spine.test` at `addr`.
fn client(ca_pem: &str, addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .resolve("spine.test", addr)
        .build()
        .unwrap()
}

type Messages = futures::stream::BoxStream<
    'static,
    Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
>;

/// The stream's next message (at most the guard).
async fn next(messages: &mut Messages) -> eventsource_stream::Event {
    let message = tokio::time::timeout(GUARD, messages.next()).await.expect("a message in time");
    message.expect("the stream is open").expect("a well-formed message")
}

/// Posts an event titled `title` over HTTPS.
async fn post(client: &reqwest::Client, base: &str, key: &str, title: &str) {
    let posted =
        client.post(format!("{base}/v1/events")).bearer_auth(key).json(&event(title)).send();
    assert_eq!(posted.await.unwrap().status(), 201);
}

fn write(path: &Path, pem: &str) {
    std::fs::write(path, pem).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_the_api_and_streams_and_a_rotated_certificate_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    let (ca, leaf, key) = authority_and_leaf();
    write(&files.cert, &leaf);
    write(&files.key, &key);
    let config = ServerConfig { tls: Some(files.clone()), ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    let base = format!("https://spine.test:{}", app.addr.port());
    let trusting = client(&ca, app.addr);

    // The API over HTTPS, on HTTP/2 (offered through ALPN).
    let health = trusting.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.version(), reqwest::Version::HTTP_2);
    // Plain HTTP on the same port is not served.
    let plain = app.client.get(format!("http://{}/healthz", app.addr)).send().await;
    assert!(plain.map_or(true, |r| !r.status().is_success()), "plain HTTP answered");

    // A live stream over HTTPS gets an event posted over HTTPS.
    let stream =
        trusting.get(format!("{base}/v1/stream")).bearer_auth(&app.a.read).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut messages = stream.bytes_stream().eventsource().boxed();
    assert_eq!(next(&mut messages).await.event, "position");
    post(&trusting, &base, &app.a.ingest, "over tls").await;
    let activity = next(&mut messages).await;
    assert_eq!(activity.event, "activity");
    assert!(activity.data.contains("over tls"), "{activity:?}");

    // A certificate from another CA, written over the files: a client trusting only that CA
    // fails before, and is served once the server has read the files again.
    let (new_ca, new_leaf, new_key) = authority_and_leaf();
    let trusting_new = client(&new_ca, app.addr);
    assert!(trusting_new.get(format!("{base}/healthz")).send().await.is_err());
    write(&files.cert, &new_leaf);
    write(&files.key, &new_key);
    let deadline = std::time::Instant::now() + GUARD;
    loop {
        // A fresh client each time: a new connection, a new handshake.
        let fresh = client(&new_ca, app.addr);
        if let Ok(r) = fresh.get(format!("{base}/healthz")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the rotated certificate was never served");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The stream opened before the rotation is still open and delivering.
    post(&trusting_new, &base, &app.a.ingest, "after rotation").await;
    assert!(next(&mut messages).await.data.contains("after rotation"));
}

/// A WebSocket over TLS: hyper upgrades it, and the session speaks the same messages as on a
/// plain connection's own socket.
#[tokio::test]
async fn wss_subscriptions_get_events_over_tls() {
    use futures::SinkExt;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    let (ca, leaf, key) = authority_and_leaf();
    write(&files.cert, &leaf);
    write(&files.key, &key);
    let config = ServerConfig { tls: Some(files), ..ServerConfig::default() };
    let app = spawn_app_with(config).await;
    let base = format!("https://spine.test:{}", app.addr.port());
    let trusting = client(&ca, app.addr);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let name = ServerName::try_from("spine.test").unwrap();
    let tls_stream = connector.connect(name, tcp).await.unwrap();
    let mut request =
        format!("wss://spine.test:{}/v1/ws", app.addr.port()).into_client_request().unwrap();
    let bearer = format!("Bearer {}", app.a.read).parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls_stream).await.unwrap();

    let subscribe = r#"{"type":"subscribe","id":"s1","filter":{}}"#;
    socket.send(Message::text(subscribe)).await.unwrap();
    let mut next = async || loop {
        let message = tokio::time::timeout(GUARD, socket.next()).await.expect("a message in time");
        if let Message::Text(text) = message.expect("open").expect("a frame") {
            return serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    };
    assert_eq!(next().await["type"], "subscribed");
    post(&trusting, &base, &app.a.ingest, "over wss").await;
    let activity = next().await;
    assert_eq!(activity["type"], "activity", "{activity}");
    assert_eq!(activity["id"], "s1");
    assert!(activity["event"].to_string().contains("over wss"), "{activity}");
}
