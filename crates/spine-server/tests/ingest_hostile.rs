//! Hostile input at the ingest endpoints: JSON bombs, wrong content types, malformed and
//! expanding XML, random bytes and random headers on every provider. Each is a 4xx (or the
//! documented 2xx with a `failed` ledger entry for providers that would retry), a ledger entry,
//! no event, and never a 5xx.

mod common;

use common::signer::sign;
use common::{spawn_app, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn channel(app: &TestApp, provider: &str, secret: Option<&str>) -> Value {
    let mut body = json!({"name": provider, "provider": provider});
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

async fn ledger_len(app: &TestApp) -> usize {
    let (_, page) = app.get_json("/v1/ingest/requests?limit=200", &app.a.admin).await;
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn json_bombs_and_wrong_types_from_verified_senders_are_failed_entries_not_events() {
    let app = spawn_app().await;
    let github = channel(&app, "github", None).await;
    let (secret, url) =
        (github["secret"].as_str().unwrap(), github["ingest_url"].as_str().unwrap());
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let wide = format!("[{}]", vec!["{}"; 200_000].join(","));
    let xml = "<?xml version=\"1.0\"?><push/>";
    for (body, content_type) in [
        (deep.as_str(), "application/json"),
        (wide.as_str(), "application/json"),
        (xml, "application/xml"),
        ("\u{0}\u{1}binary", "application/octet-stream"),
    ] {
        let mut headers = sign("github", secret, url, body, json!({}));
        headers.push(("X-GitHub-Event".into(), "push".into()));
        headers.push(("Content-Type".into(), content_type.into()));
        let mut request = app.client.post(url).body(body.to_owned());
        for (n, v) in &headers {
            request = request.header(n, v);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GitHub would retry: {content_type}");
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(receipt["verdict"], json!("failed"), "{content_type}: {receipt}");
    }
    let generic = channel(&app, "generic", None).await;
    let key = generic["secret"].as_str().unwrap();
    let url = generic["ingest_url"].as_str().unwrap();
    for body in [deep.as_str(), wide.as_str(), xml] {
        let r = app.client.post(url).header("X-Ingestion-Key", key).body(body.to_owned()).send();
        let r = r.await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a program can fix its request");
    }
    assert_eq!(app.count(&app.a.id).await, 0);
    assert_eq!(ledger_len(&app).await, 7);
}

/// A small deterministic generator, so a failure names its case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % max;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn random_bytes_and_headers_never_cause_a_server_error_on_any_provider() {
    let app = spawn_app().await;
    let mut urls = Vec::new();
    for provider in [
        "generic",
        "standard-webhooks",
        "cloudevents",
        "github",
        "stripe",
        "twilio",
        "postmark",
        "hubspot",
        "salesforce",
        "claude-code",
        "file",
    ] {
        let secret = (provider == "salesforce").then_some("00D5e000000HJfgEAG");
        let ch = channel(&app, provider, secret).await;
        urls.push((
            ch["ingest_url"].as_str().unwrap().to_owned(),
            ch["secret"].as_str().unwrap().to_owned(),
        ));
    }
    let header_names = [
        "content-type",
        "x-hub-signature-256",
        "stripe-signature",
        "webhook-signature",
        "webhook-id",
        "webhook-timestamp",
        "x-twilio-signature",
        "x-hubspot-signature-v3",
        "x-hubspot-request-timestamp",
        "authorization",
        "x-ingestion-key",
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "x-github-event",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for case in 0..300 {
        let (url, secret) = &urls[case % urls.len()];
        let target = if case % 7 == 0 { format!("{url}/files") } else { url.clone() };
        let mut request = app.client.post(&target).body(rng.bytes(2048));
        for _ in 0..(rng.next() % 5) {
            let name = header_names[(rng.next() as usize) % header_names.len()];
            let value: String = match rng.next() % 4 {
                0 => secret.clone(),
                1 => format!("Bearer {secret}"),
                2 => "multipart/form-data; boundary=x".to_owned(),
                _ => rng.bytes(40).into_iter().map(|b| char::from(b' ' + b % 94)).collect(),
            };
            request = request.header(name, value);
        }
        let r = request.send().await.unwrap();
        assert!(!r.status().is_server_error(), "case {case} at {target}: {}", r.status());
    }
    let (status, _) = app.get_json("/v1/ingest/requests?limit=200", &app.a.admin).await;
    assert_eq!(status, StatusCode::OK);
}
