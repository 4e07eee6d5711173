//! File uploads over real HTTP: multipart parts streamed into the blob store, one event per
//! file keyed by its content hash, names sanitized, content types sniffed and never trusted,
//! downloads as attachments to readers and to viewers who may see a carrying event; refusals
//! (too large, malformed, wrong type, no file) store nothing.

mod common;

use common::sse::viewer_token;
use common::{assert_problem, spawn_app, TestApp};
use futures::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BOUNDARY: &str = "----spine-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart body of `(file name, claimed content type, bytes)` parts, plus one text part.
fn multipart(files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
            .as_bytes(),
    );
    for (name, content_type, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

async fn file_channel(app: &TestApp) -> Value {
    let body = json!({"name": "Uploads", "provider": "file"});
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn upload(
    app: &TestApp,
    channel: &Value,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Response {
    let url = format!("{}/files", channel["ingest_url"].as_str().unwrap());
    let r =
        app.client.post(url).header("X-Ingestion-Key", key).header("Content-Type", content_type);
    r.body(body).send().await.unwrap()
}

fn form() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

#[tokio::test]
async fn uploaded_files_become_events_and_download_as_sanitized_attachments() {
    let app = spawn_app().await;
    let channel = file_channel(&app).await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    let pdf: &[u8] = b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n";
    let page: &[u8] = b"<html><script>alert(1)</script></html>";
    let body = multipart(&[
        ("../../etc/=?UTF-8?B?w6lsw6h2ZS5wZGY=?=", "text/html", pdf),
        ("C:\\evil\\page.html", "text/html", page),
    ]);
    let r = upload(&app, &channel, &key, body.clone(), &form()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let uploaded: Value = r.json().await.unwrap();
    assert_eq!(uploaded["verdict"], json!("accepted"));
    let events = uploaded["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let first = &events[0]["data"]["file"];
    assert_eq!(first["sha256"], json!(hash(pdf)));
    assert_eq!(first["name"], json!("élève.pdf"), "path dropped, MIME name decoded");
    assert_eq!(first["content_type"], json!("application/pdf"), "sniffed, not the claim");
    assert_eq!(first["size"], json!(pdf.len()));
    assert_eq!(events[1]["data"]["file"]["name"], json!("page.html"));
    assert_eq!(events[0]["type"], json!("file.uploaded"));

    // The same files again: the same events, nothing new.
    let again: Value = upload(&app, &channel, &key, body, &form()).await.json().await.unwrap();
    assert_eq!(again["verdict"], json!("duplicate"));
    assert_eq!(again["events"][0]["id"], events[0]["id"]);
    assert_eq!(app.count(&app.a.id).await, 2);

    let r = app
        .req(Method::GET, &format!("/v1/files/{}", hash(pdf)), &app.a.read)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''%C3%A9l%C3%A8ve.pdf"), "{disposition}");
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf);
    let r = app
        .req(Method::GET, &format!("/v1/files/{}", hash(page)), &app.a.read)
        .send()
        .await
        .unwrap();
    let served_as = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(!served_as.contains("html"), "HTML is never served as HTML: {served_as}");

    // Viewers: only through an event they may see; other tenants: nothing.
    let allowed =
        viewer_token(&app, json!({"user_id": "ana", "scope": {"type": ["file.*"]}})).await;
    let r =
        app.req(Method::GET, &format!("/v1/files/{}", hash(pdf)), &allowed).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let narrow = viewer_token(&app, json!({"user_id": "ana", "scope": {"type": ["task.*"]}})).await;
    let r =
        app.req(Method::GET, &format!("/v1/files/{}", hash(pdf)), &narrow).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = app
        .req(Method::GET, &format!("/v1/files/{}", hash(pdf)), &app.b.read)
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r =
        app.req(Method::GET, "/v1/files/..%2F..%2Fetc%2Fpasswd", &app.a.read).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn refused_uploads_store_nothing() {
    let app = spawn_app().await;
    let channel = file_channel(&app).await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    // 51 MiB: 413, and neither it nor the small file before it is stored.
    let small: &[u8] = b"first file";
    let big = vec![b'a'; 51 * 1024 * 1024];
    let body = multipart(&[
        ("small.txt", "text/plain", small),
        ("big.bin", "application/octet-stream", &big),
    ]);
    let r = upload(&app, &channel, &key, body, &form()).await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(app.store.get_blob(&app.a.id, &hash(small)).await.unwrap().is_none());
    assert!(app.store.get_blob(&app.a.id, &hash(&big)).await.unwrap().is_none());
    assert_eq!(app.count(&app.a.id).await, 0);

    let truncated = multipart(&[("a.txt", "text/plain", b"abc")]);
    let truncated = truncated[..truncated.len() - 20].to_vec();
    assert_problem(upload(&app, &channel, &key, truncated, &form()).await, StatusCode::BAD_REQUEST)
        .await;
    let only_text = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny\r\n--{BOUNDARY}--\r\n"
    );
    let r = upload(&app, &channel, &key, only_text.into_bytes(), &form()).await;
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let r = upload(&app, &channel, &key, b"{}".to_vec(), "application/json").await;
    assert_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let r =
        upload(&app, &channel, "wrong key", multipart(&[("a.txt", "text/plain", b"a")]), &form())
            .await;
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(app.count(&app.a.id).await, 0);

    let (_, ledger) = app.get_json("/v1/ingest/requests", &app.a.admin).await;
    let verdicts: Vec<&str> = ledger["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["rejected", "failed", "failed", "failed"], "{ledger}");

    // Plain ingest on a file channel points at the upload URL; a generic channel has no /files.
    let r =
        app.client.post(channel["ingest_url"].as_str().unwrap()).body("{}").send().await.unwrap();
    assert_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let generic = json!({"name": "g", "provider": "generic"});
    let r =
        app.req(Method::POST, "/v1/channels", &app.a.admin).json(&generic).send().await.unwrap();
    let generic: Value = r.json().await.unwrap();
    let r =
        upload(&app, &generic, generic["secret"].as_str().unwrap(), multipart(&[]), &form()).await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
}

/// A tenant's file quota: an upload that would pass it is refused with a quota problem and
/// leaves no file and no event; once the quota is full, uploads are refused before reading.
#[tokio::test]
async fn uploads_past_the_file_quota_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let limits = json!({"max_blob_bytes": 16});
    let r = app.req(Method::PUT, "/v1/limits", &app.a.admin).json(&limits).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let channel = file_channel(&app).await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    let first: &[u8] = b"ten bytes!";
    let r =
        upload(&app, &channel, &key, multipart(&[("a.txt", "text/plain", first)]), &form()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let second: &[u8] = b"ten more b";
    let r =
        upload(&app, &channel, &key, multipart(&[("b.txt", "text/plain", second)]), &form()).await;
    let problem = assert_problem(r, StatusCode::FORBIDDEN).await;
    assert_eq!(problem["type"], json!("urn:spine:problem:quota-exceeded"));
    assert!(problem["detail"].as_str().unwrap().contains("max_blob_bytes"), "{problem}");
    assert!(app.store.get_blob(&app.a.id, &hash(second)).await.unwrap().is_none());
    assert_eq!(app.count(&app.a.id).await, 1);
    let (_, view) = app.get_json("/v1/limits", &app.a.admin).await;
    assert_eq!(view["usage"], json!({"events": 1, "blob_bytes": 10}));
}

/// An upload slower than the request timeout still lands: uploads get their own, longer limit.
#[tokio::test]
async fn a_slow_upload_is_not_cut_by_the_request_timeout() {
    let config = spine_server::ServerConfig {
        request_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let app = common::spawn_app_with(config).await;
    let channel = file_channel(&app).await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    let body = multipart(&[("slow.txt", "text/plain", b"arrives slowly")]);
    let (head, tail) = body.split_at(body.len() / 2);
    let parts = vec![head.to_vec(), tail.to_vec()];
    let stream = futures::stream::iter(parts).then(|part| async move {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        Ok::<_, std::io::Error>(part)
    });
    let url = format!("{}/files", channel["ingest_url"].as_str().unwrap());
    let r = app
        .client
        .post(url)
        .header("X-Ingestion-Key", key)
        .header("Content-Type", form())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    // Other routes keep the short limit (the request timeout still applies there).
    let (status, _) = app.get_json("/v1/events", &app.a.read).await;
    assert_eq!(status, StatusCode::OK);
}
