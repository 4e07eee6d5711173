//! Every provider of SPEC section 6 over real HTTP, with payloads shaped like its documented
//! ones (the fixtures beside each provider's module) and signatures made by its own SDK: valid
//! -> events; wrong secret, tampered body, stale timestamp, missing header -> 401 and a
//! `rejected` entry; redelivery -> the same events. And contact matching: a Postmark sender or a
//! Twilio number registered on an entity puts the event on it.

mod common;

use common::signer::sign;
use common::{assert_problem, spawn_app, spawn_app_with, TestApp};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use spine_server::ServerConfig;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!("../../spine-core/src/ingest/fixtures/", $path))
    };
}

async fn channel(app: &TestApp, provider: &str, secret: Option<&str>) -> Value {
    let mut body = json!({"name": provider, "provider": provider});
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.json().await.unwrap()
}

async fn post(app: &TestApp, url: &str, body: &str, headers: &[(String, String)]) -> Response {
    let mut request = app.client.post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn with(mut headers: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
    headers
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case(name)).cloned().collect()
}

/// Accepted: the receipt's event ids, read back.
async fn accepted(app: &TestApp, r: Response) -> Vec<Value> {
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["verdict"], json!("accepted"), "{receipt}");
    let mut events = Vec::new();
    for id in receipt["event_ids"].as_array().unwrap() {
        let (status, event) =
            app.get_json(&format!("/v1/events/{}", id.as_str().unwrap()), &app.a.read).await;
        assert_eq!(status, StatusCode::OK);
        events.push(event);
    }
    events
}

async fn duplicate(r: Response) {
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["verdict"], json!("duplicate"), "{receipt}");
}

async fn refused(r: Response) {
    let problem = assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["detail"], json!("signature invalid"));
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Every ledger entry of the tenant is `rejected` except those counted.
async fn verdicts(app: &TestApp) -> Vec<String> {
    let (_, page) = app.get_json("/v1/ingest/requests?limit=200", &app.a.admin).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verdict"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn stripe_events_signed_by_the_stripe_sdk() {
    let app = spawn_app().await;
    let ch = channel(&app, "stripe", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    assert!(secret.starts_with("whsec_"));
    let body = fixture!("stripe/invoice.paid.json");
    let headers = sign("stripe", secret, url, body, json!({}));
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["type"], json!("stripe.invoice.paid"));
    assert_eq!(events[0]["entity"]["type"], json!("stripe.customer"));
    duplicate(post(&app, url, body, &headers).await).await;
    refused(post(&app, url, body, &sign("stripe", "whsec_d3Jvbmc=", url, body, json!({}))).await)
        .await;
    refused(post(&app, url, &body.replace("2000", "9000"), &headers).await).await;
    let stale = sign("stripe", secret, url, body, json!({"timestamp": now() - 600}));
    refused(post(&app, url, body, &stale).await).await;
    refused(post(&app, url, body, &[]).await).await;
    assert_eq!(app.count(&app.a.id).await, 1);
    assert_eq!(
        verdicts(&app).await,
        ["rejected", "rejected", "rejected", "rejected", "duplicate", "accepted"]
    );
}

#[tokio::test]
async fn standard_webhooks_signed_by_the_standardwebhooks_sdk() {
    let app = spawn_app().await;
    let ch = channel(&app, "standard-webhooks", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    let body = fixture!("standard-webhooks/contact.created.json");
    let headers = sign("standard-webhooks", secret, url, body, json!({"id": "msg_1"}));
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["type"], json!("contact.created"));
    duplicate(post(&app, url, body, &headers).await).await;
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    refused(post(&app, url, body, &sign("standard-webhooks", other, url, body, json!({}))).await)
        .await;
    refused(post(&app, url, &body.replace("Ana", "Eve"), &headers).await).await;
    let stale = sign("standard-webhooks", secret, url, body, json!({"timestamp": now() - 600}));
    refused(post(&app, url, body, &stale).await).await;
    refused(post(&app, url, body, &without(&headers, "webhook-signature")).await).await;
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn hubspot_arrays_signed_v3_and_checked_by_the_hubspot_sdk() {
    let app = spawn_app().await;
    let ch = channel(&app, "hubspot", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    let body = fixture!("hubspot/batch.json");
    let headers = with(
        sign("hubspot", secret, url, body, json!({})),
        &[("Content-Type", "application/json")],
    );
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    let count = serde_json::from_str::<Vec<Value>>(body).unwrap().len();
    assert_eq!(events.len(), count, "one event per array element");
    assert!(events.iter().all(|e| e["type"].as_str().unwrap().starts_with("hubspot.")));
    duplicate(post(&app, url, body, &headers).await).await;
    refused(post(&app, url, body, &sign("hubspot", "other", url, body, json!({}))).await).await;
    refused(post(&app, url, &body.replace("subscriber", "customer"), &headers).await).await;
    let stale = sign("hubspot", secret, url, body, json!({"timestamp": now() - 600}));
    refused(post(&app, url, body, &stale).await).await;
    refused(post(&app, url, body, &without(&headers, "x-hubspot-request-timestamp")).await).await;
    assert_eq!(app.count(&app.a.id).await, count as u64);
}

#[tokio::test]
async fn twilio_messages_calls_and_recordings_signed_by_the_twilio_sdk() {
    let app = spawn_app().await;
    let ch = channel(&app, "twilio", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for (body, expected) in [
        (fixture!("twilio/sms-received.txt"), "twilio.sms.received"),
        (fixture!("twilio/call-completed.txt"), "twilio.call.completed"),
        (fixture!("twilio/recording-completed.txt"), "twilio.recording.completed"),
    ] {
        let headers = with(sign("twilio", secret, url, body, json!({})), &form);
        let events = accepted(&app, post(&app, url, body, &headers).await).await;
        assert_eq!(events[0]["type"], json!(expected));
        duplicate(post(&app, url, body, &headers).await).await;
    }
    let body = fixture!("twilio/sms-received.txt");
    let headers = with(sign("twilio", secret, url, body, json!({})), &form);
    let wrong =
        with(sign("twilio", "0123456789abcdef0123456789abcdef", url, body, json!({})), &form);
    refused(post(&app, url, body, &wrong).await).await;
    refused(post(&app, url, &body.replace("Hello", "Hallo"), &headers).await).await;
    refused(post(&app, url, body, &without(&headers, "x-twilio-signature")).await).await;
    assert_eq!(app.count(&app.a.id).await, 3);
}

#[tokio::test]
async fn postmark_inbound_mail_with_basic_auth() {
    let app = spawn_app().await;
    let ch = channel(&app, "postmark", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    let body = fixture!("postmark/inbound.json");
    let headers = with(
        sign("postmark", secret, url, body, json!({})),
        &[("Content-Type", "application/json")],
    );
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["type"], json!("postmark.email.received"));
    assert_eq!(events[0]["tags"], json!(["unmatched"]), "no identifier is registered yet");
    duplicate(post(&app, url, body, &headers).await).await;
    refused(post(&app, url, body, &sign("postmark", "wrong", url, body, json!({}))).await).await;
    refused(post(&app, url, body, &[]).await).await;
}

#[tokio::test]
async fn salesforce_outbound_messages_get_their_soap_ack() {
    let app = spawn_app().await;
    let org = "00D5e000000HJfgEAG";
    let ch = channel(&app, "salesforce", Some(org)).await;
    let url = ch["ingest_url"].as_str().unwrap();
    let body = fixture!("salesforce/opportunity.xml");
    let headers = sign("salesforce", org, url, body, json!({}));
    let r = post(&app, url, body, &headers).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    let ack = r.text().await.unwrap();
    assert!(ack.contains("<Ack>true</Ack>"), "{ack}");
    assert_eq!(app.count(&app.a.id).await, 1);
    let r = post(&app, url, body, &headers).await;
    assert!(
        r.text().await.unwrap().contains("<Ack>true</Ack>"),
        "a redelivery is acknowledged too"
    );
    assert_eq!(app.count(&app.a.id).await, 1);
    let other_org = body.replace(org, "00D000000000001AAA");
    refused(post(&app, url, &other_org, &headers).await).await;
    // Entity expansion is refused before anything is read: no XXE, no billion laughs.
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        body.trim_start_matches(|c| c != '<').split_once("?>").map_or(body, |(_, rest)| rest)
    );
    refused(post(&app, url, &xxe, &headers).await).await;
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn cloudevents_in_structured_binary_and_batch_modes_with_the_handshake() {
    let app = spawn_app().await;
    let ch = channel(&app, "cloudevents", None).await;
    let (secret, url) = (ch["secret"].as_str().unwrap(), ch["ingest_url"].as_str().unwrap());
    let auth = format!("Bearer {secret}");
    let structured = fixture!("cloudevents/structured.json");
    let headers =
        with(vec![], &[("Authorization", &auth), ("Content-Type", "application/cloudevents+json")]);
    let events = accepted(&app, post(&app, url, structured, &headers).await).await;
    assert_eq!(events.len(), 1);
    duplicate(post(&app, url, structured, &headers).await).await;
    let batch = fixture!("cloudevents/batch.json");
    let headers = with(
        vec![],
        &[("Authorization", &auth), ("Content-Type", "application/cloudevents-batch+json")],
    );
    let events = accepted(&app, post(&app, url, batch, &headers).await).await;
    assert_eq!(events.len(), serde_json::from_str::<Vec<Value>>(batch).unwrap().len());
    let binary = with(
        vec![],
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/crm/deals"),
            ("ce-type", "com.example.deal.won"),
            ("ce-subject", "deal-42"),
        ],
    );
    let events = accepted(&app, post(&app, url, r#"{"title": "Deal won"}"#, &binary).await).await;
    assert_eq!(events[0]["type"], json!("com.example.deal.won"));
    let wrong = with(
        vec![],
        &[("Authorization", "Bearer nope"), ("Content-Type", "application/cloudevents+json")],
    );
    assert_problem(post(&app, url, structured, &wrong).await, StatusCode::UNAUTHORIZED).await;
    // Missing required attributes: 400 (senders are programs), a failed entry.
    let broken =
        with(vec![], &[("Authorization", &auth), ("Content-Type", "application/cloudevents+json")]);
    assert_problem(
        post(&app, url, r#"{"specversion": "1.0"}"#, &broken).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let r = app
        .client
        .request(Method::OPTIONS, url)
        .header("WebHook-Request-Origin", "eventemitter.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["webhook-allowed-origin"], "eventemitter.example.com");
}

#[tokio::test]
async fn claude_code_hooks_become_agent_events() {
    let app = spawn_app().await;
    let ch = channel(&app, "claude-code", None).await;
    let url = ch["ingest_url"].as_str().unwrap();
    let headers = with(
        vec![],
        &[
            ("Authorization", &format!("Bearer {}", app.a.ingest)),
            ("Content-Type", "application/json"),
        ],
    );
    let body = fixture!("claude-code/pre-tool-use-bash.json");
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["type"], json!("agent.tool.started"));
    assert_eq!(events[0]["entity"]["type"], json!("agent_session"));
    duplicate(post(&app, url, body, &headers).await).await;
}

/// A `claude-code` channel's privacy settings: shown and changed through the API, refused
/// with named fields when bad or on another provider, and applied before anything is stored:
/// the channel's own patterns are redacted and long tool output is cut, in the event and in
/// the ledger alike; a replay of the ledger's copy gives the same event.
#[tokio::test]
async fn claude_code_channels_cut_and_redact_as_their_privacy_says() {
    let app = spawn_app().await;
    let create =
        |body: Value| app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send();
    let r = create(json!({"name": "Agents", "provider": "claude-code",
        "privacy": {"max_chars": 64, "redact": ["ACME-[0-9]{6}"]}}))
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ch: Value = r.json().await.unwrap();
    assert_eq!(ch["privacy"], json!({"max_chars": 64, "redact": ["ACME-[0-9]{6}"]}));
    let plain = channel(&app, "claude-code", None).await;
    assert_eq!(plain["privacy"], json!({"max_chars": 2000, "redact": []}), "the defaults");
    assert_eq!(channel(&app, "generic", None).await.get("privacy"), None);

    let r = create(json!({"name": "x", "provider": "claude-code",
        "privacy": {"max_chars": 2, "redact": ["(", ".*"]}}))
    .await
    .unwrap();
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["privacy.max_chars", "privacy.redact[0]", "privacy.redact[1]"]);
    let r = create(json!({"name": "x", "provider": "github", "privacy": {}})).await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let (_, listed) = app.get_json("/v1/channels", &app.a.admin).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 3, "nothing was written");

    let url = ch["ingest_url"].as_str().unwrap();
    let headers = with(
        vec![],
        &[
            ("Authorization", &format!("Bearer {}", app.a.ingest)),
            ("Content-Type", "application/json"),
        ],
    );
    let mut hook: Value =
        serde_json::from_str(fixture!("claude-code/pre-tool-use-bash.json")).unwrap();
    hook["hook_event_name"] = json!("PostToolUse");
    hook["tool_input"]["command"] = json!("./deploy --ticket ACME-123456");
    let output = "building... ".repeat(400);
    hook["tool_response"] = json!({"stdout": output, "stderr": "", "interrupted": false});
    let body = hook.to_string();
    let r = post(&app, url, &body, &headers).await;
    let receipt: Value = r.json().await.unwrap();
    let id = receipt["event_ids"][0].as_str().unwrap();
    let (_, event) = app.get_json(&format!("/v1/events/{id}"), &app.a.read).await;
    assert_eq!(event["data"]["input"]["command"], json!("./deploy --ticket [redacted]"));
    assert_eq!(event["title"], json!("Bash: ./deploy --ticket [redacted]"));
    let request = receipt["request_id"].as_str().unwrap();
    let (_, entry) = app.get_json(&format!("/v1/ingest/requests/{request}"), &app.a.admin).await;
    let kept: Value = serde_json::from_str(entry["body"].as_str().unwrap()).unwrap();
    let stdout = kept["tool_response"]["stdout"].as_str().unwrap();
    assert_eq!((stdout.chars().count(), stdout.ends_with('…')), (64, true), "{stdout}");
    assert!(entry["body_bytes"].as_u64().unwrap() < 2000, "{entry}");
    assert!(!entry["body"].as_str().unwrap().contains("ACME-123456"));

    // A change applies to what comes next; the ledger's copy replays to the same event.
    let r = app.req(
        Method::PATCH,
        &format!("/v1/channels/{}", ch["id"].as_str().unwrap()),
        &app.a.admin,
    );
    let r = r.json(&json!({"privacy": {"redact": ["(?i)building"]}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["privacy"], json!({"max_chars": 2000, "redact": ["(?i)building"]}));
    let r = app.req(Method::POST, &format!("/v1/ingest/requests/{request}/replay"), &app.a.admin);
    let replayed: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(replayed["events"][0]["id"], json!(id), "{replayed}");
}

#[tokio::test]
async fn inbound_messages_land_on_the_entity_their_sender_is_registered_on() {
    let config = ServerConfig { default_phone_region: Some("US".into()), ..Default::default() };
    let app = spawn_app_with(config).await;
    let add = |body: Value| {
        app.req(Method::POST, "/v1/entities/contact/c1/identifiers", &app.a.ingest)
            .json(&body)
            .send()
    };
    let r = add(json!({"email": "Ana Silva <ANA.SILVA@example.com>"})).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["value"], json!("ana.silva@example.com"));
    let r = add(json!({"phone": "(415) 555-0100"})).await.unwrap();
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["value"], json!("+14155550100"), "read in the default region");
    let r = app.req(Method::POST, "/v1/entities/contact/c2/identifiers", &app.a.ingest);
    let r = r.json(&json!({"email": "ana.silva@example.com"})).send().await.unwrap();
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = add(json!({"phone": "not a number"})).await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let (_, listed) = app.get_json("/v1/entities/contact/c1/identifiers", &app.a.read).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    let mail = channel(&app, "postmark", None).await;
    let (secret, url) = (mail["secret"].as_str().unwrap(), mail["ingest_url"].as_str().unwrap());
    let body = fixture!("postmark/inbound.json");
    let headers = sign("postmark", secret, url, body, json!({}));
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["entity"], json!({"type": "contact", "id": "c1"}));

    let sms = channel(&app, "twilio", None).await;
    let (secret, url) = (sms["secret"].as_str().unwrap(), sms["ingest_url"].as_str().unwrap());
    let body = "MessageSid=SM0001&SmsSid=SM0001&AccountSid=AC1&From=%2B1+%28415%29+555-0100&To=%2B14155550199&Body=Is+my+order+ready%3F&NumMedia=0&SmsStatus=received";
    let headers = with(
        sign("twilio", secret, url, body, json!({})),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    let events = accepted(&app, post(&app, url, body, &headers).await).await;
    assert_eq!(events[0]["entity"], json!({"type": "contact", "id": "c1"}), "{}", events[0]);

    // A tenant's own region wins over the server's: in GB, a national number reads as +44.
    let put = |key: &str, body: Value| {
        app.req(Method::PUT, "/v1/settings/phone-region", key).json(&body).send()
    };
    let r = put(&app.a.admin, json!({"region": "gb"})).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"region": "GB"}));
    let r = add(json!({"phone": "020 7946 0018"})).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["value"], json!("+442079460018"));
    assert_problem(
        put(&app.a.admin, json!({"region": "XX"})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(put(&app.a.read, json!({"region": "US"})).await.unwrap(), StatusCode::FORBIDDEN)
        .await;
    let (_, theirs) = app.get_json("/v1/settings/phone-region", &app.b.read).await;
    assert_eq!(theirs, json!({"region": null}), "per tenant");

    // Other tenants' identifiers are not theirs to match.
    let r = app.req(Method::GET, "/v1/entities/contact/c1/identifiers", &app.b.read).send().await;
    let theirs: Value = r.unwrap().json().await.unwrap();
    assert_eq!(theirs["items"], json!([]));
    let r = app.req(
        Method::DELETE,
        "/v1/entities/contact/c1/identifiers/%2B14155550100",
        &app.a.ingest,
    );
    assert_eq!(r.send().await.unwrap().status(), StatusCode::NO_CONTENT);
}
