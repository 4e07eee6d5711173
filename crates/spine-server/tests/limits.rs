//! Rate limits and quotas over real HTTP: a tenant past its write limit gets 429 problems with
//! `Retry-After` and the RateLimit headers while another tenant is served; reads, keys and
//! channels have buckets of their own; the tenant's admin stays within the operator's
//! ceiling; quotas refuse writes with nothing written; two PostgreSQL nodes enforce one limit
//! together.

mod common;

use common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::time::{Duration, Instant};

async fn put_limits(app: &TestApp, key: &str, limits: Value) -> Response {
    app.req(Method::PUT, "/v1/limits", key).json(&limits).send().await.unwrap()
}

async fn set_limits(app: &TestApp, key: &str, limits: Value) -> Value {
    let r = put_limits(app, key, limits).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Checks a 429 carries its problem and headers, and answers its `Retry-After` in seconds (the
/// wait still to go after the refusal was held).
async fn assert_rate_limited(r: Response, policy: &str) -> u64 {
    let header = |name: &str| {
        r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let retry_after: u64 = header("retry-after").parse().expect("Retry-After in seconds");
    let (policy_field, state_field) = (header("ratelimit-policy"), header("ratelimit"));
    assert!(policy_field.starts_with(&format!("\"{policy}\";q=")), "{policy_field}");
    assert!(policy_field.contains(";w="), "{policy_field}");
    assert!(state_field.starts_with(&format!("\"{policy}\";r=")), "{state_field}");
    assert!(state_field.contains(";t="), "{state_field}");
    let problem = assert_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], json!("urn:spine:problem:rate-limited"));
    assert!(problem["detail"].as_str().unwrap().contains(policy), "{problem}");
    retry_after
}

#[tokio::test]
async fn a_tenant_past_its_write_limit_gets_429s_while_another_tenant_is_served() {
    let app = spawn_app().await;
    set_limits(&app, &app.a.admin, json!({"writes_per_second": 2, "write_burst": 5})).await;
    let started = Instant::now();
    let (mut created, mut refused) = (0u64, Vec::new());
    for i in 0..20 {
        let r = app.post_event(&app.a.ingest, &event(&format!("a{i}"))).await;
        match r.status() {
            StatusCode::CREATED => created += 1,
            _ => refused.push(r),
        }
        // The other tenant, writing at the same time, is never refused.
        app.create_event(&app.b.ingest, &event(&format!("b{i}"))).await;
    }
    let allowed = 5 + 2 * started.elapsed().as_secs() + 2;
    assert!((5..=allowed).contains(&created), "{created} admitted of a burst of 5 at 2/s");
    assert!(!refused.is_empty());
    for r in refused {
        assert_rate_limited(r, "writes").await;
    }
    assert_eq!(app.count(&app.a.id).await, created, "nothing refused was written");
    assert_eq!(app.count(&app.b.id).await, 20);

    // A batch counts its events: 5 events do not fit in an empty bucket, even as one request.
    let batch = json!({"events": (0..5).map(|i| event(&format!("batch{i}"))).collect::<Vec<_>>()});
    let r = app.req(Method::POST, "/v1/events/batch", &app.a.ingest).json(&batch).send().await;
    let retry = assert_rate_limited(r.unwrap(), "writes").await;
    assert!(retry <= 3, "5 events at 2/s fit again within 3 s, told {retry}");
    assert_eq!(app.count(&app.a.id).await, created);

    // Refusals reach /metrics, by policy.
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("spine_rate_limited_total{policy=\"writes\"}"), "{metrics}");
}

#[tokio::test]
async fn reads_each_key_and_each_channel_have_buckets_of_their_own() {
    let app = spawn_app().await;
    set_limits(
        &app,
        &app.a.admin,
        json!({"reads_per_second": 1, "read_burst": 3, "key_writes_per_second": 2,
               "ingest_per_second": 1, "ingest_burst": 2}),
    )
    .await;
    for _ in 0..3 {
        let r = app.req(Method::GET, "/v1/events", &app.a.read).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // A refusal is held until a token is due (here up to a second), so the refusals are sent
    // together: the bucket is empty for all of them.
    let (feed, stream, again) = tokio::join!(
        app.req(Method::GET, "/v1/events", &app.a.read).send(),
        app.req(Method::GET, "/v1/stream", &app.a.read).send(),
        app.req(Method::GET, "/v1/stats", &app.a.read).send(),
    );
    let statuses = [&feed, &stream, &again].map(|r| r.as_ref().unwrap().status());
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(refused >= 2, "at most one of them finds the token due after the hold: {statuses:?}");
    for r in [feed, stream, again] {
        let r = r.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_rate_limited(r, "reads").await;
        }
    }
    // Writes are counted apart from reads.
    app.create_event(&app.a.ingest, &event("still writing")).await;

    // One key past its own rate; another key of the tenant still writes.
    app.create_event(&app.a.ingest, &event("second")).await;
    let r = app.post_event(&app.a.ingest, &event("third")).await;
    assert_rate_limited(r, "key-writes").await;
    app.create_event(&app.a.admin, &event("another key")).await;

    // A channel past its delivery rate is refused before anything is recorded.
    let body = json!({"name": "CRM", "provider": "generic", "event_type": "crm.note",
                      "mapping": {"title": "/subject"}});
    let r = app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let channel: Value = r.json().await.unwrap();
    let deliver = || {
        app.client
            .post(channel["ingest_url"].as_str().unwrap())
            .header("X-Ingestion-Key", channel["secret"].as_str().unwrap())
            .header("Content-Type", "application/json")
            .body(r#"{"subject": "Call back"}"#)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(deliver().await.unwrap().status(), StatusCode::OK);
    }
    assert_rate_limited(deliver().await.unwrap(), "ingest").await;
    let query = spine_store::LedgerQuery { limit: 100, ..Default::default() };
    let ledger = app.store.list_requests(&app.a.id, &query).await.unwrap();
    assert_eq!(ledger.len(), 2, "the refused delivery left no ledger entry");
}

/// Body bytes are counted for the tenant and for each key, declared or sent in chunks.
#[tokio::test]
async fn body_bytes_are_counted_per_key_declared_or_chunked() {
    let app = spawn_app().await;
    set_limits(&app, &app.a.admin, json!({"key_write_bytes_per_second": 1000})).await;
    let mut big = event("bytes");
    big["description"] = json!("x".repeat(600));
    // Declared: the first fits the key's second of bytes, the second does not.
    app.create_event(&app.a.ingest, &big).await;
    let r = app.post_event(&app.a.ingest, &big).await;
    assert_rate_limited(r, "key-write-bytes").await;
    // Another key has bytes of its own.
    app.create_event(&app.a.admin, &big).await;
    // Chunked, with no Content-Length: counted as it is read, against the same bucket.
    let body = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(100).map(|c| Ok(c.to_vec())).collect();
    let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = app
        .req(Method::POST, "/v1/events", &app.a.admin)
        .header("content-type", "application/json")
        .body(stream)
        .send()
        .await
        .unwrap();
    assert_rate_limited(r, "key-write-bytes").await;
    assert_eq!(app.count(&app.a.id).await, 2, "nothing refused was written");
}

#[tokio::test]
async fn the_tenant_admin_sets_limits_within_the_operator_ceiling() {
    let app = spawn_app().await;
    let operator = app.admin_token.clone();
    let ceiling = |id: &str| format!("/v1/tenants/{id}/limits");
    let r = app
        .req(Method::PUT, &ceiling(app.a.id.as_str()), &operator)
        .json(&json!({"writes_per_second": 100, "max_events": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r =
        put_limits(&app, &app.a.admin, json!({"writes_per_second": 500, "reads_per_second": 7}))
            .await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], json!("writes_per_second"), "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("100"), "{problem}");

    let view = set_limits(&app, &app.a.admin, json!({"writes_per_second": 50})).await;
    assert_eq!(view["in_force"]["writes_per_second"], json!(50));
    assert_eq!(
        view["in_force"]["max_events"],
        json!(1000),
        "the ceiling applies where own is silent"
    );
    assert_eq!(view["ceiling"]["writes_per_second"], json!(100));
    assert_eq!(view["own"], json!({"writes_per_second": 50}));
    assert_eq!(view["usage"], json!({"events": 0, "blob_bytes": 0}));
    let (status, got) = app.get_json("/v1/limits", &app.a.admin).await;
    assert_eq!((status, &got["in_force"]), (StatusCode::OK, &view["in_force"]));

    // Lowering the ceiling caps what the tenant set at once.
    let r = app
        .req(Method::PUT, &ceiling(app.a.id.as_str()), &operator)
        .json(&json!({"writes_per_second": 10}))
        .send()
        .await
        .unwrap();
    let now: Value = r.json().await.unwrap();
    assert_eq!(now["in_force"]["writes_per_second"], json!(10));

    // Only an admin sets limits; values are checked; other tenants and bad tokens see nothing.
    assert_problem(put_limits(&app, &app.a.ingest, json!({})).await, StatusCode::FORBIDDEN).await;
    let r = put_limits(&app, &app.a.admin, json!({"reads_per_second": 0, "writes": 1})).await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = put_limits(&app, &app.a.admin, json!({"reads_per_second": 0})).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], json!("reads_per_second"));
    let (_, b) = app.get_json("/v1/limits", &app.b.admin).await;
    assert_eq!(b["in_force"], json!({}), "tenant b has no limits");
    let r = app.req(Method::GET, &ceiling(app.a.id.as_str()), &app.a.admin).send().await.unwrap();
    assert_problem(r, StatusCode::UNAUTHORIZED).await;
    let r = app.req(Method::GET, &ceiling("no-such-tenant"), &operator).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn quotas_refuse_writes_past_them_with_nothing_written() {
    let app = spawn_app().await;
    set_limits(&app, &app.a.admin, json!({"max_events": 3})).await;
    app.create_event(&app.a.ingest, &event("one")).await;
    app.create_event(&app.a.ingest, &event("two")).await;
    let batch = json!({"events": [event("three"), event("four")]});
    let r = app.req(Method::POST, "/v1/events/batch", &app.a.ingest).json(&batch).send().await;
    let problem = assert_problem(r.unwrap(), StatusCode::FORBIDDEN).await;
    assert_eq!(problem["type"], json!("urn:spine:problem:quota-exceeded"));
    assert!(problem["detail"].as_str().unwrap().contains("max_events"), "{problem}");
    assert_eq!(app.count(&app.a.id).await, 2, "the batch wrote nothing");
    app.create_event(&app.a.ingest, &event("three")).await;
    let r = app.post_event(&app.a.ingest, &event("four")).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    assert_eq!(app.count(&app.a.id).await, 3);
    app.create_event(&app.b.ingest, &event("other tenant")).await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("spine_quota_refused_total{quota=\"max_events\"}"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_nodes_enforce_one_tenant_limit_together() {
    let config =
        ServerConfig { node_announce_every: Duration::from_millis(100), ..Default::default() };
    let nodes = spawn_postgres_nodes(2, config).await;
    // Each node sees the other on the roll (asked as tenant b, so tenant a's limits are not
    // cached by either node before they are set).
    for node in &nodes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, view) = node.get_json("/v1/limits", &node.b.admin).await;
            if view["nodes"] == json!(2) {
                break;
            }
            assert!(Instant::now() < deadline, "the nodes never saw each other: {view}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    set_limits(a, &a.a.admin, json!({"writes_per_second": 1, "write_burst": 20})).await;
    let started = Instant::now();
    let sent = (0..60).map(|i| async move {
        let node = if i % 2 == 0 { a } else { b };
        node.post_event(&node.a.ingest, &event(&format!("e{i}"))).await
    });
    let mut created = 0u64;
    for r in futures::future::join_all(sent).await {
        match r.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_rate_limited(r, "writes").await;
            }
        }
    }
    // Each node holds half the burst and half the rate: together the limit, not twice it.
    let refilled = started.elapsed().as_secs() + 1;
    assert!(created >= 18, "the two shares together admit about the burst: {created}");
    assert!(created <= 20 + refilled + 2, "{created} admitted; one node alone would take 20");
    assert_eq!(a.count(&a.a.id).await, created);
}
