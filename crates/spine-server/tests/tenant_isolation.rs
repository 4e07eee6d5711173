//! The cross-tenant rule (SPEC section 4): a credential of tenant B cannot read, count, change or
//! even confirm the existence of anything in tenant A; A's ids answer exactly like ids that do
//! not exist.

mod common;

use common::*;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

/// Status and body with nothing that could differ between two "not found" answers.
async fn shape(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let mut body: Value = r.json().await.unwrap_or(Value::Null);
    if let Some(o) = body.as_object_mut() {
        o.remove("instance");
    }
    (status, body)
}

struct Seeded {
    event_id: String,
    seq: i64,
    key_id: String,
    cursor: String,
}

async fn seed_tenant_a(app: &TestApp) -> Seeded {
    let mut first = None;
    for i in 0..3 {
        let mut e = event(&format!("secret plan {i}"));
        e["entity"] = json!({"type": "deal", "id": "acme-merger", "name": "Acme merger"});
        e["type"] = json!("deal.updated_secretly");
        let v = app.create_event(&app.a.ingest, &e).await;
        first.get_or_insert(v);
    }
    let first = first.unwrap();
    let r = app
        .req(Method::PUT, "/v1/types/deal.updated_secretly", &app.a.admin)
        .json(&json!({"label": "Secret", "summary_template": "{actor.name} did it"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = app
        .req(Method::POST, "/v1/keys", &app.a.admin)
        .json(&json!({"role": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let key: Value = r.json().await.unwrap();
    let (_, page) = app.get_json("/v1/events?limit=1", &app.a.read).await;
    Seeded {
        event_id: first["id"].as_str().unwrap().to_owned(),
        seq: first["seq"].as_i64().unwrap(),
        key_id: key["id"].as_str().unwrap().to_owned(),
        cursor: page["next_cursor"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn another_tenants_ids_answer_exactly_like_missing_ones() {
    let app = spawn_app().await;
    let a = seed_tenant_a(&app).await;
    let missing_event = "01890a5d-ac96-774b-bcce-b302099a8057";
    let b = &app.b;

    // Single event.
    for key in [&b.read, &b.admin] {
        let theirs = shape(
            app.req(Method::GET, &format!("/v1/events/{}", a.event_id), key).send().await.unwrap(),
        )
        .await;
        let missing = shape(
            app.req(Method::GET, &format!("/v1/events/{missing_event}"), key).send().await.unwrap(),
        )
        .await;
        assert_eq!(theirs.0, StatusCode::NOT_FOUND);
        assert_eq!(theirs, missing);
        assert!(!theirs.1.to_string().contains(&a.event_id));
    }

    // Marking read.
    let mark = |id: String| {
        app.req(Method::POST, &format!("/v1/events/{id}/read"), &b.read)
            .header("X-Spine-User", "u1")
            .send()
    };
    let theirs = shape(mark(a.event_id.clone()).await.unwrap()).await;
    let missing = shape(mark(missing_event.to_owned()).await.unwrap()).await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs, missing);

    // Revoking a key.
    let theirs = shape(
        app.req(Method::DELETE, &format!("/v1/keys/{}", a.key_id), &b.admin).send().await.unwrap(),
    )
    .await;
    let missing =
        shape(app.req(Method::DELETE, "/v1/keys/0000000000000000", &b.admin).send().await.unwrap())
            .await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs, missing);
    // ...and A's key still works.
    let (status, _) = app.get_json("/v1/keys", &app.a.admin).await;
    assert_eq!(status, StatusCode::OK);

    // Registered types.
    let theirs = shape(
        app.req(Method::GET, "/v1/types/deal.updated_secretly", &b.read).send().await.unwrap(),
    )
    .await;
    let missing = shape(
        app.req(Method::GET, "/v1/types/deal.never_registered", &b.read).send().await.unwrap(),
    )
    .await;
    assert_eq!(theirs.0, StatusCode::NOT_FOUND);
    assert_eq!(theirs.1["title"], missing.1["title"]);

    // A cursor issued to A is as useless to B as a forged one.
    let theirs = shape(
        app.req(Method::GET, &format!("/v1/events?cursor={}", a.cursor), &b.read)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let forged = shape(
        app.req(
            Method::GET,
            "/v1/events?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &b.read,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(theirs.0, StatusCode::BAD_REQUEST);
    assert_eq!(theirs, forged);
}

#[tokio::test]
async fn another_tenant_sees_nothing_in_feeds_counts_and_lists() {
    let app = spawn_app().await;
    let a = seed_tenant_a(&app).await;
    let b = &app.b;
    for path in [
        "/v1/events",
        "/v1/events?entity_id=acme-merger",
        "/v1/events?q=secret",
        "/v1/events?type=deal.*",
        "/v1/events?order=seq",
        "/v1/entities/deal/acme-merger/timeline",
    ] {
        let (status, body) = app.get_json(path, &b.read).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["items"], json!([]), "{path}: {body}");
        assert_eq!(body["next_cursor"], Value::Null, "{path}");
    }
    let (status, stats) = app.get_json("/v1/stats?group_by=type", &b.read).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["total"], json!(0), "{stats}");
    let r = app
        .req(Method::GET, "/v1/unread-count", &b.read)
        .header("X-Spine-User", "u1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["unread"], json!(0));
    let (_, keys) = app.get_json("/v1/keys", &b.admin).await;
    assert!(!keys.to_string().contains(&a.key_id), "{keys}");
    let (_, types) = app.get_json("/v1/types", &b.read).await;
    assert!(!types.to_string().contains("deal.updated_secretly"), "{types}");

    // Read-all through A's position does not touch A's read state.
    let r = app
        .req(Method::POST, "/v1/read-all", &b.read)
        .header("X-Spine-User", "u1")
        .json(&json!({"through_seq": a.seq + 10}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = app
        .req(Method::GET, "/v1/unread-count", &app.a.read)
        .header("X-Spine-User", "u1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["unread"], json!(3));
}

#[tokio::test]
async fn a_viewer_token_of_another_tenant_reads_nothing() {
    let app = spawn_app().await;
    let a = seed_tenant_a(&app).await;
    let r = app
        .req(Method::POST, "/v1/viewer-tokens", &app.b.read)
        .json(&json!({"user_id": "u1", "ttl_seconds": 600, "scope": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let (status, _) = app.get_json(&format!("/v1/events/{}", a.event_id), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = app.get_json("/v1/events", &token).await;
    assert_eq!(page["items"], json!([]));
}
