//! Ingestion over real HTTP: channels (created, listed, changed, rotated, deleted, fenced), a
//! provider's delivery verified with signatures made by its own SDK (`tests/signers`), the
//! ledger's verdicts, redeliveries, rotation grace, replay after a mapping change, and tenant
//! isolation.

mod common;

use common::signer::sign;
use common::{assert_problem, spawn_app, TestApp};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

const GITHUB_PUSH: &str = include_str!("../../spine-core/src/ingest/fixtures/github/push.json");

/// Creates a channel with the tenant's admin key; returns its JSON (with the secret).
pub async fn create_channel(app: &TestApp, body: Value) -> Value {
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    r.json().await.unwrap()
}

/// Posts `body` to the channel with `headers`.
pub async fn deliver(
    app: &TestApp,
    channel: &Value,
    body: &str,
    headers: &[(String, String)],
) -> Response {
    let url = channel["ingest_url"].as_str().unwrap();
    let mut request = app.client.post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn github_headers(secret: &str, url: &str, body: &str, delivery: &str) -> Vec<(String, String)> {
    let mut headers = sign("github", secret, url, body, json!({}));
    headers.push(("X-GitHub-Event".into(), "push".into()));
    headers.push(("X-GitHub-Delivery".into(), delivery.into()));
    headers.push(("Content-Type".into(), "application/json".into()));
    headers
}

async fn ledger(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/v1/ingest/requests{query}"), &app.a.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn channels_are_created_with_a_secret_shown_once_and_managed_by_admins() {
    let app = spawn_app().await;
    let created = create_channel(&app, json!({"name": "Repo", "provider": "github"})).await;
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64, "a generated secret: {created}");
    assert!(created["ingest_url"].as_str().unwrap().ends_with(&format!("/v1/ingest/{id}")));

    let (status, listed) = app.get_json("/v1/channels", &app.a.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], json!(id));
    assert!(!listed.to_string().contains(secret), "the secret is never shown again");
    let (_, one) = app.get_json(&format!("/v1/channels/{id}"), &app.a.admin).await;
    assert!(one.get("secret").is_none());
    let stored = app.store.get_channel(&app.a.id, id).await.unwrap().unwrap();
    assert!(stored.secret.starts_with("sealed.v1.") && !stored.secret.contains(secret));

    let patch = json!({"name": "Repo events", "event_type": "code.push", "disabled": true});
    let r = app.req(Method::PATCH, &format!("/v1/channels/{id}"), &app.a.admin).json(&patch);
    let patched: Value = r.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (patched["name"].clone(), patched["disabled"].clone()),
        (json!("Repo events"), json!(true))
    );
    assert_eq!(patched["event_type"], json!("code.push"));
    let bad = json!({"mapping": {"nonsense": "/x"}, "queue": "Bad Queue"});
    let r = app.req(Method::PATCH, &format!("/v1/channels/{id}"), &app.a.admin).json(&bad);
    let problem = assert_problem(r.send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"mapping.nonsense") && fields.contains(&"queue"), "{problem}");

    // Other roles and other tenants.
    let r = app.req(Method::GET, "/v1/channels", &app.a.read).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = app.req(Method::GET, &format!("/v1/channels/{id}"), &app.b.admin).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let r = app.req(Method::DELETE, &format!("/v1/channels/{id}"), &app.b.admin).send().await;
    assert_problem(r.unwrap(), StatusCode::NOT_FOUND).await;

    // Salesforce's secret is the org id, which only Salesforce issues.
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin);
    let r = r.json(&json!({"name": "SF", "provider": "salesforce"})).send().await.unwrap();
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], json!("secret"));

    let r = app.req(Method::DELETE, &format!("/v1/channels/{id}"), &app.a.admin).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, &format!("/v1/channels/{id}"), &app.a.admin).send().await;
    assert_problem(r.unwrap(), StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_github_delivery_signed_by_its_sdk_becomes_one_event_and_bad_ones_none() {
    let app = spawn_app().await;
    let channel = create_channel(&app, json!({"name": "Repo", "provider": "github"})).await;
    let secret = channel["secret"].as_str().unwrap();
    let url = channel["ingest_url"].as_str().unwrap();

    let headers = github_headers(secret, url, GITHUB_PUSH, "d-1");
    let r = deliver(&app, &channel, GITHUB_PUSH, &headers).await;
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["verdict"], json!("accepted"));
    let event_id = receipt["event_ids"][0].as_str().unwrap().to_owned();
    let (_, event) = app.get_json(&format!("/v1/events/{event_id}"), &app.a.read).await;
    assert_eq!(event["type"], json!("github.push"));
    assert_eq!(event["source"]["system"], json!("github"));
    assert_eq!(
        event["title"],
        json!("baxterthehacker pushed 1 commit to main in octo-org/hello-world")
    );

    // A redelivery (same X-GitHub-Delivery) is an idempotent repeat.
    let again = deliver(&app, &channel, GITHUB_PUSH, &headers).await;
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["verdict"].clone(), again["event_ids"][0].clone()),
        (json!("duplicate"), json!(event_id))
    );
    assert_eq!(app.count(&app.a.id).await, 1);

    // Wrong secret, tampered body, missing signature: 401, a rejected entry, no event.
    let wrong = github_headers("not the secret", url, GITHUB_PUSH, "d-2");
    let tampered_body = GITHUB_PUSH.replace("baxterthehacker", "mallory");
    let missing: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("x-hub-signature-256"))
        .cloned()
        .collect();
    for (body, headers) in
        [(GITHUB_PUSH, &wrong), (tampered_body.as_str(), &headers), (GITHUB_PUSH, &missing)]
    {
        let r = deliver(&app, &channel, body, headers).await;
        let problem = assert_problem(r, StatusCode::UNAUTHORIZED).await;
        assert_eq!(problem["detail"], json!("signature invalid"), "no more detail than that");
    }
    assert_eq!(app.count(&app.a.id).await, 1);
    let entries = ledger(&app, "").await;
    let verdicts: Vec<&str> = entries.iter().map(|e| e["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["rejected", "rejected", "rejected", "duplicate", "accepted"]);
    assert!(entries.iter().all(|e| !e.to_string().contains(secret)), "no secret in the ledger");
    let kept = &entries[4]["headers"];
    assert_eq!(kept["x-github-delivery"], json!("d-1"));
    assert!(kept.get("x-hub-signature-256").is_none());
    let rejected = ledger(&app, "?verdict=rejected").await;
    assert_eq!(rejected.len(), 3);
    let (_, detail) = app
        .get_json(
            &format!("/v1/ingest/requests/{}", entries[4]["id"].as_str().unwrap()),
            &app.a.admin,
        )
        .await;
    assert_eq!(detail["body"], json!(GITHUB_PUSH));

    // An unreadable body from a verified sender: kept as failed, answered 2xx (GitHub retries).
    let broken = "{not json";
    let r = deliver(&app, &channel, broken, &github_headers(secret, url, broken, "d-3")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let failed: Value = r.json().await.unwrap();
    assert_eq!(failed["verdict"], json!("failed"));
    assert_eq!(app.count(&app.a.id).await, 1);
}

#[tokio::test]
async fn after_a_rotation_both_secrets_pass_during_the_grace_period_then_only_the_new() {
    let app = spawn_app().await;
    let channel =
        create_channel(&app, json!({"name": "Repo", "provider": "github", "secret": "old secret"}))
            .await;
    let url = channel["ingest_url"].as_str().unwrap().to_owned();
    let id = channel["id"].as_str().unwrap();
    let rotate = |body: Value| {
        app.req(Method::POST, &format!("/v1/channels/{id}/rotate-secret"), &app.a.admin)
            .json(&body)
            .send()
    };
    let rotated: Value =
        rotate(json!({"secret": "new secret"})).await.unwrap().json().await.unwrap();
    assert_eq!(rotated["secret"], json!("new secret"));
    assert!(rotated["previous_secret_valid_until"].is_string());
    for (n, secret) in ["old secret", "new secret"].into_iter().enumerate() {
        let headers = github_headers(secret, &url, GITHUB_PUSH, &format!("g-{n}"));
        assert_eq!(deliver(&app, &channel, GITHUB_PUSH, &headers).await.status(), StatusCode::OK);
    }
    // A second rotation with no grace: only its secret passes.
    let latest: Value = rotate(json!({"grace_seconds": 0})).await.unwrap().json().await.unwrap();
    let latest_secret = latest["secret"].as_str().unwrap();
    assert!(latest["previous_secret_valid_until"].is_null());
    for (n, secret) in ["old secret", "new secret"].into_iter().enumerate() {
        let headers = github_headers(secret, &url, GITHUB_PUSH, &format!("h-{n}"));
        assert_eq!(
            deliver(&app, &channel, GITHUB_PUSH, &headers).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let headers = github_headers(latest_secret, &url, GITHUB_PUSH, "h-9");
    assert_eq!(deliver(&app, &channel, GITHUB_PUSH, &headers).await.status(), StatusCode::OK);
    let r = rotate(json!({"grace_seconds": -1})).await.unwrap();
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn generic_channels_map_payloads_and_replay_applies_a_changed_mapping() {
    let app = spawn_app().await;
    let channel = create_channel(
        &app,
        json!({"name": "CRM", "provider": "generic", "event_type": "crm.note",
               "mapping": {"title": "/subject", "entity.type": "deal", "entity.id": "/deal"}}),
    )
    .await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    let body = r#"{"subject": "Call back", "headline": "Call Ana back", "deal": 42}"#;
    let headers = vec![
        ("X-Ingestion-Key".to_owned(), key.clone()),
        ("Content-Type".into(), "application/json".into()),
    ];
    let r = deliver(&app, &channel, body, &headers).await;
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["verdict"], json!("accepted"), "{receipt}");
    let first = receipt["event_ids"][0].as_str().unwrap().to_owned();
    let (_, event) = app.get_json(&format!("/v1/events/{first}"), &app.a.read).await;
    assert_eq!(
        (event["title"].clone(), event["entity"]["id"].clone()),
        (json!("Call back"), json!("42"))
    );

    // A tenant key works as well, and a key of another tenant finds no channel.
    let bearer = vec![("Authorization".to_owned(), format!("Bearer {}", app.a.ingest))];
    assert_eq!(deliver(&app, &channel, body, &bearer).await.status(), StatusCode::OK);
    let other = vec![("Authorization".to_owned(), format!("Bearer {}", app.b.ingest))];
    assert_problem(deliver(&app, &channel, body, &other).await, StatusCode::NOT_FOUND).await;
    let reader = vec![("Authorization".to_owned(), format!("Bearer {}", app.a.read))];
    assert_problem(deliver(&app, &channel, body, &reader).await, StatusCode::FORBIDDEN).await;
    let wrong = vec![("X-Ingestion-Key".to_owned(), "nope".to_owned())];
    assert_problem(deliver(&app, &channel, body, &wrong).await, StatusCode::UNAUTHORIZED).await;

    // No title: a failed entry, answered 400 (a program sent it and can fix it).
    let r = deliver(&app, &channel, r#"{"deal": 1}"#, &headers).await;
    let problem = assert_problem(r, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"].as_str().unwrap().contains("title"), "{problem}");

    // Replay of the first request after a mapping change: a corrected event; replaying again
    // repeats it.
    let entries = ledger(&app, "?verdict=accepted").await;
    let request = entries.last().unwrap()["id"].as_str().unwrap().to_owned();
    let id = channel["id"].as_str().unwrap();
    let patch =
        json!({"mapping": {"title": "/headline", "entity.type": "deal", "entity.id": "/deal"}});
    let r = app.req(Method::PATCH, &format!("/v1/channels/{id}"), &app.a.admin).json(&patch);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let replay = |request: String| {
        app.req(Method::POST, &format!("/v1/ingest/requests/{request}/replay"), &app.a.admin).send()
    };
    let replayed: Value = replay(request.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(replayed["verdict"], json!("accepted"), "{replayed}");
    assert_eq!(replayed["events"][0]["title"], json!("Call Ana back"));
    let corrected = replayed["events"][0]["id"].clone();
    assert_ne!(corrected, json!(first));
    let again: Value = replay(request.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        (again["verdict"].clone(), again["events"][0]["id"].clone()),
        (json!("duplicate"), corrected.clone())
    );
    let (_, detail) = app.get_json(&format!("/v1/ingest/requests/{request}"), &app.a.admin).await;
    assert_eq!(detail["event_ids"], json!([first, corrected]));

    // A rejected request is never replayed; an unknown one is a 404; other tenants see none.
    let rejected = ledger(&app, "?verdict=rejected").await;
    let r = replay(rejected[0]["id"].as_str().unwrap().to_owned()).await.unwrap();
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = replay(uuid::Uuid::now_v7().to_string()).await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let (status, theirs) = app.get_json("/v1/ingest/requests", &app.b.admin).await;
    assert_eq!((status, theirs["items"].as_array().unwrap().len()), (StatusCode::OK, 0));
    let r =
        app.req(Method::GET, &format!("/v1/ingest/requests/{request}"), &app.b.admin).send().await;
    assert_problem(r.unwrap(), StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn unknown_disabled_and_oversized_deliveries_are_refused() {
    let app = spawn_app().await;
    let r = app.client.post(app.url("/v1/ingest/ch_nope")).body("{}").send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
    let channel = create_channel(&app, json!({"name": "Repo", "provider": "github"})).await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let r = deliver(&app, &channel, &big, &[]).await;
    assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    let entries = ledger(&app, "").await;
    assert_eq!(entries[0]["verdict"], json!("rejected"));
    assert!(entries[0]["reason"].as_str().unwrap().contains("over"));
    let id = channel["id"].as_str().unwrap();
    let r = app
        .req(Method::PATCH, &format!("/v1/channels/{id}"), &app.a.admin)
        .json(&json!({"disabled": true}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let secret = channel["secret"].as_str().unwrap();
    let url = channel["ingest_url"].as_str().unwrap();
    let r =
        deliver(&app, &channel, GITHUB_PUSH, &github_headers(secret, url, GITHUB_PUSH, "x")).await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
    assert_eq!(app.count(&app.a.id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_works_the_same_on_postgresql_across_nodes() {
    let nodes = common::spawn_postgres_nodes(2, spine_server::ServerConfig::default()).await;
    let (one, two) = (&nodes[0], &nodes[1]);
    let channel = create_channel(one, json!({"name": "Repo", "provider": "github"})).await;
    let secret = channel["secret"].as_str().unwrap();
    let url = channel["ingest_url"].as_str().unwrap();
    let headers = github_headers(secret, url, GITHUB_PUSH, "pg-1");
    let r = deliver(one, &channel, GITHUB_PUSH, &headers).await;
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["verdict"], json!("accepted"));
    // The same delivery reaching the other node is a duplicate: the channel, its sealed secret
    // and the delivery keys are shared through the database.
    let other_url = url.replace(&one.addr.to_string(), &two.addr.to_string());
    let headers = github_headers(secret, &other_url, GITHUB_PUSH, "pg-1");
    let mut request = two.client.post(&other_url).body(GITHUB_PUSH);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let again: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (again["verdict"].clone(), again["event_ids"].clone()),
        (json!("duplicate"), first["event_ids"].clone())
    );
    let bad = github_headers("wrong", url, GITHUB_PUSH, "pg-2");
    assert_problem(deliver(one, &channel, GITHUB_PUSH, &bad).await, StatusCode::UNAUTHORIZED).await;
    let entries = ledger(two, "").await;
    let verdicts: Vec<&str> = entries.iter().map(|e| e["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["rejected", "duplicate", "accepted"]);
    assert_eq!(one.count(&one.a.id).await, 1);
}

/// The ledger keeps bodies up to `ledger_body_bytes`: a longer one is stored cut, says so, and
/// cannot be replayed (its events were still made from the whole body at receipt).
#[tokio::test]
async fn ledger_bodies_are_cut_at_the_limit_and_cut_entries_are_not_replayed() {
    let config = spine_server::ServerConfig { ledger_body_bytes: 64, ..Default::default() };
    let app = common::spawn_app_with(config).await;
    let channel = create_channel(
        &app,
        json!({"name": "CRM", "provider": "generic", "event_type": "crm.note",
               "mapping": {"title": "/subject"}}),
    )
    .await;
    let key = channel["secret"].as_str().unwrap().to_owned();
    let body = json!({"subject": "Long note", "pad": "x".repeat(500)}).to_string();
    let headers = vec![("X-Ingestion-Key".to_owned(), key)];
    let receipt: Value = deliver(&app, &channel, &body, &headers).await.json().await.unwrap();
    assert_eq!(receipt["verdict"], json!("accepted"), "{receipt}");
    let id = receipt["request_id"].as_str().unwrap();
    let (_, detail) = app.get_json(&format!("/v1/ingest/requests/{id}"), &app.a.admin).await;
    assert_eq!(detail["body_bytes"], json!(body.len()));
    assert_eq!(detail["body_truncated"], json!(true));
    assert_eq!(detail["body"].as_str().unwrap(), &body[..64]);
    let r = app.req(Method::POST, &format!("/v1/ingest/requests/{id}/replay"), &app.a.admin);
    assert_problem(r.send().await.unwrap(), StatusCode::CONFLICT).await;
}
