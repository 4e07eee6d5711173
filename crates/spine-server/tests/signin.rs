//! Signing in to the Activity Center over real HTTP: one-time codes exchanged for an `HttpOnly`
//! session cookie, friendly pages for codes that do not work, the session acting as a key of
//! its role for its user, the CSRF header, sign-out and expiry.

mod common;

use common::sse::{next, open_with};
use common::{assert_problem, event, spawn_app, spawn_app_with, TestApp};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::{Role, UserId};
use spine_server::{provision, ServerConfig};
use std::time::Duration;

/// A one-time sign-in URL's code for `user` in tenant A.
async fn code(app: &TestApp, user: &str, role: Role, ttl: i64) -> String {
    let user = UserId::parse(user).unwrap();
    let (code, _) = provision::create_signin_code(app.store.as_ref(), &app.a.id, user, role, ttl)
        .await
        .unwrap();
    code
}

/// Opens the sign-in URL; answers the status, the page and the session cookie (`name=value`).
async fn sign_in(app: &TestApp, code: &str) -> (StatusCode, String, Option<String>) {
    let r = app.client.get(app.url("/signin")).query(&[("code", code)]).send().await.unwrap();
    let status = r.status();
    let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "a page for people, not {ct}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cookie = r.headers().get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned());
    let page = r.text().await.unwrap();
    (status, page, cookie)
}

/// Signs in and returns the `Cookie` header value.
async fn session(app: &TestApp, user: &str, role: Role) -> String {
    let code = code(app, user, role, 600).await;
    let (status, _, cookie) = sign_in(app, &code).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).header(COOKIE, cookie)
}

#[tokio::test]
async fn a_code_signs_in_once_with_an_http_only_strict_cookie() {
    let app = spawn_app().await;
    let code = code(&app, "ana", Role::Read, 600).await;
    assert!(code.starts_with(&format!("ssi_{}.", app.a.id.as_str())));
    let (status, page, cookie) = sign_in(&app, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    let cookie = cookie.unwrap();
    for attribute in ["spine_session=sss_", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag without an https public_url");
    let session = cookie.split(';').next().unwrap();

    let r = with_cookie(&app, Method::GET, "/v1/session", session).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        (&me["tenant"], &me["user_id"], &me["role"], &me["credential"]),
        (&json!(app.a.id.as_str()), &json!("ana"), &json!("read"), &json!("session"))
    );
    assert!(me["expires_at"].is_string());

    let (status, page, cookie) = sign_in(&app, &code).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("already been used") && page.contains("spine open"), "{page}");
    assert!(cookie.is_none());
}

#[tokio::test]
async fn codes_that_do_not_work_get_friendly_pages() {
    let app = spawn_app().await;
    let (status, page, _) = sign_in(&app, "not-a-code").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("not valid"), "{page}");
    let expired = code(&app, "ana", Role::Read, -1).await;
    let (status, page, cookie) = sign_in(&app, &expired).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("expired") && cookie.is_none(), "{page}");
    // A well-formed code with the wrong secret, and one naming another tenant.
    let good = code(&app, "ana", Role::Read, 600).await;
    let forged = format!("{}AAAA", &good[..good.len() - 4]);
    assert_eq!(sign_in(&app, &forged).await.0, StatusCode::NOT_FOUND);
    let other_tenant = good.replacen(app.a.id.as_str(), app.b.id.as_str(), 1);
    assert_eq!(sign_in(&app, &other_tenant).await.0, StatusCode::NOT_FOUND);
    let r = app.client.get(app.url("/signin")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Still good after all that: nothing above spent it.
    assert_eq!(sign_in(&app, &good).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_session_reads_as_its_user_and_changes_only_with_the_csrf_header() {
    let app = spawn_app().await;
    let e = app.create_event(&app.a.ingest, &event("one")).await;
    let b_event = app.create_event(&app.b.ingest, &event("theirs")).await;
    let session = session(&app, "ana", Role::Read).await;
    let r = with_cookie(&app, Method::GET, "/v1/events", &session).send().await.unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["read"], json!(false), "a session knows its user");
    let path = format!("/v1/events/{}", b_event["id"].as_str().unwrap());
    let r = with_cookie(&app, Method::GET, &path, &session).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;

    let r = with_cookie(&app, Method::POST, "/v1/read-all", &session).json(&json!({}));
    let body = assert_problem(r.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains("x-spine-csrf"), "{body}");
    assert_eq!(
        app.store.unread_count(&app.a.id, &UserId::parse("ana").unwrap(), None).await.unwrap(),
        1
    );
    let r = with_cookie(&app, Method::POST, "/v1/read-all", &session)
        .header("x-spine-csrf", "1")
        .json(&json!({}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    let r = with_cookie(&app, Method::GET, "/v1/unread-count", &session).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["unread"], json!(0));

    // A read session may not administer; an admin session may.
    let keys = with_cookie(&app, Method::POST, "/v1/keys", &session)
        .header("x-spine-csrf", "1")
        .json(&json!({"role": "read"}));
    let body = assert_problem(keys.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(body["detail"].as_str().unwrap().contains("--role admin"), "{body}");
    let admin = self::session(&app, "root", Role::Admin).await;
    let keys = with_cookie(&app, Method::POST, "/v1/keys", &admin)
        .header("x-spine-csrf", "1")
        .json(&json!({"role": "read", "name": "from the browser"}));
    assert_eq!(keys.send().await.unwrap().status(), StatusCode::CREATED);
    // An API key still wins over a cookie, and needs no CSRF header.
    let r = app.req(Method::POST, "/v1/read-all", &app.a.read).header(COOKIE, &session);
    let r = r.header("x-spine-user", "zoe").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(e["id"].is_string());
}

#[tokio::test]
async fn a_session_streams_live_events_with_its_cookie() {
    let app = spawn_app().await;
    let session = session(&app, "ana", Role::Read).await;
    let mut stream = open_with(&app, "/v1/stream", &[("cookie", &session)]).await;
    let e = app.create_event(&app.a.ingest, &event("live")).await;
    let m = next(&mut stream).await;
    assert_eq!(m.event, "activity");
    let body: Value = serde_json::from_str(&m.data).unwrap();
    assert_eq!((&body["id"], &body["read"]), (&e["id"], &json!(false)));
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let app = spawn_app().await;
    let session = session(&app, "ana", Role::Read).await;
    let r = with_cookie(&app, Method::POST, "/v1/session/signout", &session).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let r = with_cookie(&app, Method::POST, "/v1/session/signout", &session)
        .header("x-spine-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let cleared = r.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("spine_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let r = with_cookie(&app, Method::GET, "/v1/session", &session).send().await.unwrap();
    let body = assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("signed out"), "{body}");
}

#[tokio::test]
async fn an_expired_session_is_told_so() {
    let config = ServerConfig { session_ttl: Duration::from_secs(1), ..Default::default() };
    let app = spawn_app_with(config).await;
    let session = session(&app, "ana", Role::Read).await;
    let r = with_cookie(&app, Method::GET, "/v1/session", &session).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = with_cookie(&app, Method::GET, "/v1/events", &session).send().await.unwrap();
    let body = assert_problem(r, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].as_str().unwrap().contains("expired"), "{body}");
}

#[tokio::test]
async fn the_activity_center_pages_are_served_with_a_strict_policy() {
    let app = spawn_app().await;
    for path in
        ["/", "/entities/task/T-1", "/events/0193", "/work", "/agents", "/admin", "/admin/keys"]
    {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(r.text().await.unwrap().contains("<!doctype html>"), "{path}");
    }
    let r = app.client.get(app.url("/embed/spine-feed.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let etag = r.headers()["etag"].clone();
    let again = app.client.get(app.url("/embed/spine-feed.js")).header("if-none-match", etag);
    assert_eq!(again.send().await.unwrap().status(), StatusCode::NOT_MODIFIED);
    let r = app.client.get(app.url("/ui/../Cargo.toml")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.client.get(app.url("/ui/no-such-file.js")).send().await.unwrap();
    assert_problem(r, StatusCode::NOT_FOUND).await;
}
