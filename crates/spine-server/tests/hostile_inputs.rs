//! Bad input gets a clear 4xx problem and nothing is written (SPEC section 11, non-negotiable 4):
//! a table of hostile and malformed requests, each answered with the documented status as an
//! RFC 9457 problem, after which the event count is unchanged.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::filter::Scope;
use spine_core::token::ViewerClaims;
use spine_core::{Timestamp, UserId};

/// Who sends a case.
#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Ingest,
    Read,
    Admin,
    Viewer,
    ExpiredViewer,
    TamperedViewer,
    Raw(&'static str),
}

/// How the body is sent.
enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    who: Who,
    headers: Vec<(&'static str, String)>,
    body: Body,
    expect: StatusCode,
}

fn case(name: &'static str, method: Method, path: &str, who: Who, body: Body, expect: u16) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        who,
        headers: Vec::new(),
        body,
        expect: StatusCode::from_u16(expect).unwrap(),
    }
}

fn post_event(name: &'static str, body: Value, expect: u16) -> Case {
    case(name, Method::POST, "/v1/events", Who::Ingest, Body::Json(body), expect)
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

fn raw(content_type: &'static str, bytes: &[u8]) -> Body {
    Body::Raw(content_type, bytes.to_vec())
}

fn cases(valid_key: &str) -> Vec<Case> {
    let ok = json!({"type": "task.created", "title": "fine"});
    let json_ct = "application/json";
    let mut cases = vec![
        // Not JSON, or not the JSON shape.
        case(
            "truncated json",
            Method::POST,
            "/v1/events",
            Who::Ingest,
            raw(json_ct, b"{\"type\":"),
            400,
        ),
        case("not json", Method::POST, "/v1/events", Who::Ingest, raw(json_ct, b"hello"), 400),
        case("empty body", Method::POST, "/v1/events", Who::Ingest, raw(json_ct, b""), 400),
        case(
            "invalid utf-8",
            Method::POST,
            "/v1/events",
            Who::Ingest,
            raw(json_ct, b"{\"type\":\"\xff\"}"),
            400,
        ),
        post_event("array instead of object", json!([]), 422),
        post_event("null body", Value::Null, 422),
        post_event("missing type", json!({"title": "x"}), 422),
        post_event("missing title", json!({"type": "a.b"}), 422),
        post_event("upper-case type", with(ok.clone(), "type", json!("Task.Created")), 422),
        post_event("type with spaces", with(ok.clone(), "type", json!("task created")), 422),
        post_event("type too long", with(ok.clone(), "type", json!("a".repeat(129))), 422),
        post_event("type wrong json type", with(ok.clone(), "type", json!(7)), 422),
        post_event("title too long", with(ok.clone(), "title", json!("x".repeat(513))), 422),
        post_event("blank title", with(ok.clone(), "title", json!("  \u{0}\t ")), 422),
        post_event("title wrong json type", with(ok.clone(), "title", json!({"a": 1})), 422),
        post_event("tenant in body", with(ok.clone(), "tenant", json!("tenant-b")), 422),
        post_event("seq in body", with(ok.clone(), "seq", json!(1)), 422),
        post_event(
            "unknown nested field",
            with(ok.clone(), "actor", json!({"id": "u", "email": "x@y"})),
            422,
        ),
        post_event("bad priority", with(ok.clone(), "priority", json!("critical")), 422),
        post_event("bad action", with(ok.clone(), "action", json!("exploded")), 422),
        post_event(
            "bad actor kind",
            with(ok.clone(), "actor", json!({"id": "u", "kind": "robot"})),
            422,
        ),
        post_event("actor without id", with(ok.clone(), "actor", json!({"name": "Ana"})), 422),
        post_event("entity without type", with(ok.clone(), "entity", json!({"id": "1"})), 422),
        post_event("data not an object", with(ok.clone(), "data", json!([1, 2])), 422),
        // PostgreSQL text cannot hold NUL: refused on every backend, never a 5xx.
        post_event("NUL in a data value", with(ok.clone(), "data", json!({"x": "a\u{0}b"})), 422),
        post_event("NUL in a data key", with(ok.clone(), "data", json!({"a\u{0}": 1})), 422),
        post_event(
            "data over 64 KiB",
            with(ok.clone(), "data", json!({"x": "y".repeat(70_000)})),
            422,
        ),
        post_event(
            "description over 16 KiB",
            with(ok.clone(), "description", json!("d".repeat(17_000))),
            422,
        ),
        post_event(
            "33 tags",
            with(ok.clone(), "tags", json!((0..33).map(|i| format!("t{i}")).collect::<Vec<_>>())),
            422,
        ),
        post_event("tag over 64 chars", with(ok.clone(), "tags", json!(["t".repeat(65)])), 422),
        post_event("tags not an array", with(ok.clone(), "tags", json!("a,b")), 422),
        post_event("occurred_at garbage", with(ok.clone(), "occurred_at", json!("yesterday")), 422),
        post_event(
            "occurred_at before 1970",
            with(ok.clone(), "occurred_at", json!("1969-07-20T20:17:00Z")),
            422,
        ),
        post_event("updated without changes", with(ok.clone(), "action", json!("updated")), 422),
        post_event(
            "idempotency key over 255",
            with(ok.clone(), "idempotency_key", json!("k".repeat(256))),
            422,
        ),
        case(
            "body over 1 MiB",
            Method::POST,
            "/v1/events",
            Who::Ingest,
            raw(
                json_ct,
                format!(
                    "{{\"type\":\"a\",\"title\":\"t\",\"description\":\"{}\"}}",
                    "x".repeat(1_100_000)
                )
                .as_bytes(),
            ),
            413,
        ),
        case(
            "text/plain body",
            Method::POST,
            "/v1/events",
            Who::Ingest,
            raw("text/plain", br#"{"type":"a","title":"t"}"#),
            415,
        ),
        // Batches.
        case(
            "batch of 1001",
            Method::POST,
            "/v1/events/batch",
            Who::Ingest,
            Body::Json(json!({"events": vec![ok.clone(); 1001]})),
            422,
        ),
        case(
            "batch with one invalid item",
            Method::POST,
            "/v1/events/batch",
            Who::Ingest,
            Body::Json(json!({"events": [ok.clone(), ok.clone(), {"type": "BAD", "title": "x"}]})),
            422,
        ),
        case(
            "batch not an object",
            Method::POST,
            "/v1/events/batch",
            Who::Ingest,
            Body::Json(json!([ok.clone()])),
            422,
        ),
        case(
            "batch with unknown field",
            Method::POST,
            "/v1/events/batch",
            Who::Ingest,
            Body::Json(json!({"events": [ok.clone()], "atomic": true})),
            422,
        ),
        // Credentials and roles.
        case("no credential", Method::POST, "/v1/events", Who::Nobody, Body::Json(ok.clone()), 401),
        case(
            "unknown key",
            Method::POST,
            "/v1/events",
            Who::Raw("spk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            Body::Json(ok.clone()),
            401,
        ),
        case("garbage bearer", Method::GET, "/v1/events", Who::Raw("not-a-key"), Body::None, 401),
        case(
            "read key cannot write",
            Method::POST,
            "/v1/events",
            Who::Read,
            Body::Json(ok.clone()),
            403,
        ),
        case("ingest key cannot read", Method::GET, "/v1/events", Who::Ingest, Body::None, 403),
        case(
            "ingest key cannot mint keys",
            Method::POST,
            "/v1/keys",
            Who::Ingest,
            Body::Json(json!({"role": "admin"})),
            403,
        ),
        case(
            "read key cannot register types",
            Method::PUT,
            "/v1/types/a.b",
            Who::Read,
            Body::Json(json!({"label": "x"})),
            403,
        ),
        case(
            "viewer cannot write",
            Method::POST,
            "/v1/events",
            Who::Viewer,
            Body::Json(ok.clone()),
            403,
        ),
        case(
            "viewer cannot mint viewer tokens",
            Method::POST,
            "/v1/viewer-tokens",
            Who::Viewer,
            Body::Json(json!({"user_id": "x"})),
            403,
        ),
        case(
            "expired viewer token",
            Method::GET,
            "/v1/events",
            Who::ExpiredViewer,
            Body::None,
            401,
        ),
        case(
            "tampered viewer token",
            Method::GET,
            "/v1/events",
            Who::TamperedViewer,
            Body::None,
            401,
        ),
        case(
            "key in the query string",
            Method::GET,
            &format!("/v1/events?api_key={valid_key}"),
            Who::Nobody,
            Body::None,
            401,
        ),
        case(
            "tenant creation without operator token",
            Method::POST,
            "/v1/tenants",
            Who::Admin,
            Body::Json(json!({"name": "x"})),
            401,
        ),
        // Queries.
        case(
            "forged cursor",
            Method::GET,
            "/v1/events?cursor=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            Who::Read,
            Body::None,
            400,
        ),
        case(
            "garbage cursor",
            Method::GET,
            "/v1/events?cursor=%21%21%21",
            Who::Read,
            Body::None,
            400,
        ),
        case("limit zero", Method::GET, "/v1/events?limit=0", Who::Read, Body::None, 400),
        case("limit over max", Method::GET, "/v1/events?limit=1000", Who::Read, Body::None, 400),
        case("unknown filter", Method::GET, "/v1/events?tyep=a", Who::Read, Body::None, 400),
        case("bad since", Method::GET, "/v1/events?since=last-week", Who::Read, Body::None, 400),
        case("bad group_by", Method::GET, "/v1/stats?group_by=mood", Who::Read, Body::None, 400),
        case(
            "unread without a user",
            Method::GET,
            "/v1/events?unread=true",
            Who::Read,
            Body::None,
            400,
        ),
        // Administration payloads.
        case(
            "viewer token ttl zero",
            Method::POST,
            "/v1/viewer-tokens",
            Who::Read,
            Body::Json(json!({"user_id": "u", "ttl_seconds": 0})),
            422,
        ),
        case(
            "viewer token bad scope",
            Method::POST,
            "/v1/viewer-tokens",
            Who::Read,
            Body::Json(json!({"user_id": "u", "scope": {"type": ["BAD"]}})),
            422,
        ),
        case(
            "key with unknown role",
            Method::POST,
            "/v1/keys",
            Who::Admin,
            Body::Json(json!({"role": "root"})),
            422,
        ),
        case(
            "type with bad colour",
            Method::PUT,
            "/v1/types/a.b",
            Who::Admin,
            Body::Json(json!({"color": "red"})),
            422,
        ),
        case(
            "type template with unknown path",
            Method::PUT,
            "/v1/types/a.b",
            Who::Admin,
            Body::Json(json!({"summary_template": "{secrets.x}"})),
            422,
        ),
        case(
            "read-all with negative seq",
            Method::POST,
            "/v1/read-all",
            Who::Viewer,
            Body::Json(json!({"through_seq": -5})),
            422,
        ),
        // Seen, archive, previews and sessions.
        case(
            "seen with text seq",
            Method::POST,
            "/v1/seen",
            Who::Viewer,
            Body::Json(json!({"through_seq": "x"})),
            422,
        ),
        case(
            "seen with unknown field",
            Method::POST,
            "/v1/seen",
            Who::Viewer,
            Body::Json(json!({"through": 1})),
            422,
        ),
        case(
            "seen without a user",
            Method::POST,
            "/v1/seen",
            Who::Read,
            Body::Json(json!({})),
            400,
        ),
        case(
            "seen by an ingest key",
            Method::POST,
            "/v1/seen",
            Who::Ingest,
            Body::Json(json!({})),
            403,
        ),
        case(
            "archive a malformed id",
            Method::POST,
            "/v1/events/%00%ff/archive",
            Who::Viewer,
            Body::None,
            404,
        ),
        case(
            "unarchive an unknown id",
            Method::POST,
            "/v1/events/0193a3f0-0000-7000-8000-000000000000/unarchive",
            Who::Viewer,
            Body::None,
            404,
        ),
        case(
            "archived filter not a flag",
            Method::GET,
            "/v1/events?archived=yes",
            Who::Viewer,
            Body::None,
            400,
        ),
        case(
            "unseen filter without a user",
            Method::GET,
            "/v1/events?unseen=true",
            Who::Read,
            Body::None,
            400,
        ),
        case(
            "preview with unknown placeholder",
            Method::POST,
            "/v1/types/a.b/preview",
            Who::Admin,
            Body::Json(json!({"summary_template": "{secrets.x}"})),
            422,
        ),
        case(
            "preview by a read key",
            Method::POST,
            "/v1/types/a.b/preview",
            Who::Read,
            Body::Json(json!({"summary_template": "{title}"})),
            403,
        ),
        case(
            "preview of a bad type",
            Method::POST,
            "/v1/types/A%20B/preview",
            Who::Admin,
            Body::Json(json!({"summary_template": "{title}"})),
            422,
        ),
        case(
            "session without a credential",
            Method::GET,
            "/v1/session",
            Who::Nobody,
            Body::None,
            401,
        ),
        case(
            "sign-out without the CSRF header",
            Method::POST,
            "/v1/session/signout",
            Who::Nobody,
            Body::None,
            403,
        ),
        // Consumers, webhooks and retention.
        case(
            "consumer as an array",
            Method::POST,
            "/v1/consumers",
            Who::Admin,
            Body::Json(json!([1])),
            422,
        ),
        case(
            "consumer with a nested filter",
            Method::POST,
            "/v1/consumers",
            Who::Admin,
            Body::Json(json!({"name": "c", "filter": {"type": {"x": 1}}})),
            422,
        ),
        case(
            "consumer with a huge name",
            Method::POST,
            "/v1/consumers",
            Who::Admin,
            Body::Json(json!({"name": "c".repeat(10_000)})),
            422,
        ),
        case(
            "consumer starting at a number too large",
            Method::POST,
            "/v1/consumers",
            Who::Admin,
            Body::Json(json!({"name": "c", "start": {"after": 1e300}})),
            422,
        ),
        case(
            "next of an unknown consumer",
            Method::GET,
            "/v1/consumers/nope/next",
            Who::Read,
            Body::None,
            404,
        ),
        case(
            "next with a bad limit",
            Method::GET,
            "/v1/consumers/nope/next?limit=abc",
            Who::Read,
            Body::None,
            400,
        ),
        case(
            "ack with a string",
            Method::POST,
            "/v1/consumers/nope/ack",
            Who::Read,
            Body::Json(json!({"through_seq": "12"})),
            422,
        ),
        case(
            "webhook to a script URL",
            Method::POST,
            "/v1/webhooks",
            Who::Admin,
            Body::Json(json!({"url": "javascript:alert(1)"})),
            422,
        ),
        case(
            "webhook with a 10 KB URL",
            Method::POST,
            "/v1/webhooks",
            Who::Admin,
            Body::Json(json!({"url": format!("https://example.com/{}", "a".repeat(10_000))})),
            422,
        ),
        case(
            "webhook to the metadata service",
            Method::POST,
            "/v1/webhooks",
            Who::Admin,
            Body::Json(json!({"url": "http://169.254.169.254/latest/meta-data/"})),
            422,
        ),
        case(
            "webhook by a read key",
            Method::POST,
            "/v1/webhooks",
            Who::Read,
            Body::Json(json!({"url": "https://example.com"})),
            403,
        ),
        case(
            "patch of an unknown webhook",
            Method::PATCH,
            "/v1/webhooks/wh_nope",
            Who::Admin,
            Body::Json(json!({"status": "active"})),
            404,
        ),
        case(
            "webhook status that does not exist",
            Method::PATCH,
            "/v1/webhooks/wh_nope",
            Who::Admin,
            Body::Json(json!({"status": "paused"})),
            422,
        ),
        case(
            "test send to an unknown webhook",
            Method::POST,
            "/v1/webhooks/%00%ff/test",
            Who::Admin,
            Body::None,
            404,
        ),
        case(
            "deliveries with a bad cursor",
            Method::GET,
            "/v1/webhooks/wh_nope/deliveries?cursor=x",
            Who::Admin,
            Body::None,
            400,
        ),
        case(
            "replay of an unknown webhook",
            Method::POST,
            "/v1/webhooks/wh_nope/replay",
            Who::Admin,
            Body::Json(json!({"since_seq": 1})),
            404,
        ),
        case(
            "retention with a string for days",
            Method::PUT,
            "/v1/retention",
            Who::Admin,
            Body::Json(json!({"types": {"a.*": "x"}})),
            422,
        ),
        case(
            "retention of a negative age",
            Method::PUT,
            "/v1/retention",
            Who::Admin,
            Body::Json(json!({"max_age_days": -1})),
            422,
        ),
        case(
            "retention by a read key",
            Method::PUT,
            "/v1/retention",
            Who::Read,
            Body::Json(json!({"max_age_days": 30})),
            403,
        ),
        // Routing.
        case("unknown route", Method::GET, "/v1/nothing-here", Who::Read, Body::None, 404),
        case(
            "malformed event id",
            Method::GET,
            "/v1/events/not-a-uuid",
            Who::Read,
            Body::None,
            404,
        ),
        case("wrong method", Method::DELETE, "/v1/events", Who::Admin, Body::None, 405),
    ];
    let mut long_user =
        case("X-Spine-User too long", Method::GET, "/v1/unread-count", Who::Read, Body::None, 400);
    long_user.headers.push(("X-Spine-User", "u".repeat(300)));
    cases.push(long_user);
    let mut long_key = post_event("Idempotency-Key header over 255", ok.clone(), 422);
    long_key.headers.push(("Idempotency-Key", "k".repeat(256)));
    cases.push(long_key);
    for (name, cookie) in [
        ("forged session cookie", "spine_session=sss_tenant-a.0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ("garbage session cookie", "spine_session=%00%ff<script>"),
        ("session cookie naming no tenant", "spine_session=sss_.x.y"),
    ] {
        let mut forged = case(name, Method::GET, "/v1/events", Who::Nobody, Body::None, 401);
        forged.headers.push(("Cookie", cookie.to_owned()));
        cases.push(forged);
    }
    cases
}

#[tokio::test]
async fn every_hostile_input_gets_its_problem_and_writes_nothing() {
    every_hostile_input(&spawn_app().await).await;
}

/// The same inputs against a node on PostgreSQL, whose text columns refuse what SQLite keeps
/// (NUL characters): still a 4xx problem and nothing written, never a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_on_postgres_gets_its_problem_and_writes_nothing() {
    every_hostile_input(&spawn_postgres_nodes(1, Default::default()).await[0]).await;
}

async fn every_hostile_input(app: &TestApp) {
    app.create_event(&app.a.ingest, &event("the only event")).await;
    let secret = app.store.server_secret().await.unwrap();
    let claims = |exp: i64| ViewerClaims {
        tenant: app.a.id.clone(),
        user: UserId::parse("viewer-1").unwrap(),
        expires_at: exp,
        scope: Scope::default(),
    };
    let now = Timestamp::now().as_unix_seconds();
    let viewer = claims(now + 600).sign(&secret);
    let expired = claims(now - 10).sign(&secret);
    let tampered = claims(now + 600).sign(b"not the server secret");

    let all = cases(&app.a.read);
    assert!(all.len() >= 40, "only {} cases", all.len());
    let mut failures = Vec::new();
    for c in all {
        let mut req = app.client.request(c.method.clone(), app.url(&c.path));
        let credential = match c.who {
            Who::Nobody => None,
            Who::Ingest => Some(app.a.ingest.clone()),
            Who::Read => Some(app.a.read.clone()),
            Who::Admin => Some(app.a.admin.clone()),
            Who::Viewer => Some(viewer.clone()),
            Who::ExpiredViewer => Some(expired.clone()),
            Who::TamperedViewer => Some(tampered.clone()),
            Who::Raw(s) => Some(s.to_owned()),
        };
        if let Some(k) = credential {
            req = req.bearer_auth(k);
        }
        for (name, value) in &c.headers {
            req = req.header(*name, value);
        }
        req = match c.body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Raw(ct, bytes) => req.header("content-type", ct).body(bytes),
        };
        let r = req.send().await.unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
        let status = r.status();
        let ct =
            r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let well_formed = ct.starts_with("application/problem+json")
            && body["status"] == json!(status.as_u16())
            && body["title"].is_string()
            && body["type"].is_string();
        if status != c.expect || !well_formed {
            failures
                .push(format!("{}: expected {} got {} ({ct}) {body}", c.name, c.expect, status));
        }
        if status.is_client_error() && status == StatusCode::UNPROCESSABLE_ENTITY {
            let errors = body["errors"].as_array().map(Vec::len).unwrap_or(0);
            if errors == 0 {
                failures.push(format!("{}: 422 without field errors: {body}", c.name));
            }
        }
        let text = body.to_string();
        if text.contains(&app.a.read) || text.contains(&app.a.ingest) {
            failures.push(format!("{}: a secret was echoed", c.name));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(app.count(&app.a.id).await, 1, "a rejected request wrote something");
    assert_eq!(app.count(&app.b.id).await, 0);
}

#[tokio::test]
async fn hostile_full_text_queries_are_answered_not_crashed() {
    hostile_full_text_queries(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_full_text_queries_on_postgres_are_answered_not_crashed() {
    hostile_full_text_queries(&spawn_postgres_nodes(1, Default::default()).await[0]).await;
}

async fn hostile_full_text_queries(app: &TestApp) {
    app.create_event(&app.a.ingest, &event("Update docs")).await;
    for q in [
        "\"",
        "NEAR(",
        "a OR",
        "*",
        ")",
        "docs\" OR \"x",
        "-docs",
        "^",
        "title:docs",
        "\u{0}",
        "🙂",
    ] {
        let r = app
            .req(Method::GET, "/v1/events", &app.a.read)
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::BAD_REQUEST,
            "q={q:?}: {}",
            r.status()
        );
    }
    let (_, page) = app.get_json("/v1/events?q=docs", &app.a.read).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

/// A body over the limit is answered with its 413 problem, and the connection stays usable: the
/// server reads and discards a bounded rest of the body before answering, so a client is not left
/// with a connection the server dropped (the next request on it would fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_their_413_and_the_next_request_goes_through() {
    let app = spawn_app().await;
    let big =
        format!("{{\"type\":\"a\",\"title\":\"t\",\"description\":\"{}\"}}", "x".repeat(1_100_000));
    for i in 0..40 {
        let r = app
            .req(Method::POST, "/v1/events", &app.a.ingest)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;
        let r = app.post_event(&app.a.ingest, &event(&format!("after {i}"))).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_eq!(app.count(&app.a.id).await, 40);
}
