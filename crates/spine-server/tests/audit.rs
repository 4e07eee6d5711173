//! The audit trail over real HTTP: a walk through every administrative route, each of which
//! must append exactly one `audit.*` event to the tenant's log naming its actor, with no
//! secret in it (not the keys, channel and webhook secrets, viewer tokens or session cookies
//! the walk was given, nor a token in a webhook's URL); reads append nothing; `GET /v1/audit`
//! is for admins and filters like a feed; viewers never see the trail.

mod common;

use common::receiver::Receiver;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_core::{Role, UserId};
use spine_server::{provision, ServerConfig};

/// The walk: the app, the audit events seen so far, and every secret handed out.
struct Walk {
    app: TestApp,
    seen: usize,
    secrets: Vec<String>,
    /// The last `name=value` cookie a response set.
    cookie: Option<String>,
}

impl Walk {
    async fn audit(&self, query: &str) -> Vec<Value> {
        let (status, page) =
            self.app.get_json(&format!("/v1/audit?limit=100{query}"), &self.app.a.admin).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// Sends one administrative request, expects `status`, then checks exactly one audit event
    /// of `kind` was appended, by `actor`, with no secret in it. Answers the response body.
    async fn step(
        &mut self,
        kind: &str,
        actor: &str,
        request: reqwest::RequestBuilder,
        status: StatusCode,
    ) -> Value {
        let r = request.send().await.unwrap();
        let got = r.status();
        if let Some(cookie) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = cookie.split(';').next().unwrap_or_default();
            let value = value.split_once('=').map_or("", |(_, v)| v);
            if !value.is_empty() {
                self.secrets.push(value.to_owned());
                self.cookie = cookie.split(';').next().map(str::to_owned);
            }
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(got, status, "{kind}: {body}");
        for field in ["key", "secret", "token"] {
            if let Some(s) = body[field].as_str() {
                self.secrets.push(s.to_owned());
            }
        }
        let items = self.audit("").await;
        assert_eq!(items.len(), self.seen + 1, "{kind}: exactly one audit event");
        self.seen += 1;
        let newest = &items[0];
        assert_eq!(newest["type"], json!(format!("audit.{kind}")), "{newest}");
        assert_eq!(newest["actor"]["id"], json!(actor), "{newest}");
        assert_eq!(newest["source"]["system"], json!("spine"));
        self.assert_no_secret(newest);
        body
    }

    /// [`Walk::step`] for a request with an optional JSON body.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        kind: &str,
        actor: &str,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let mut request = self.app.req(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.step(kind, actor, request, status).await
    }

    fn assert_no_secret(&self, event: &Value) {
        let text = event.to_string();
        for secret in &self.secrets {
            assert!(!text.contains(secret.as_str()), "a secret in {text}");
        }
    }
}

#[tokio::test]
async fn every_administrative_route_appends_exactly_one_audit_event_without_secrets() {
    let receiver = Receiver::start();
    let config = ServerConfig { webhook_allow_private: true, ..Default::default() };
    let app = spawn_app_with(config).await;
    let (admin, operator) = (app.a.admin.clone(), app.admin_token.clone());
    let admin_key_id = admin.split('_').nth(1).unwrap().to_owned();
    let me = format!("key:{admin_key_id}");
    let mut w = Walk { app, seen: 0, secrets: vec![admin.clone(), operator.clone()], cookie: None };

    // Keys and viewer tokens.
    let key = w
        .call(
            "key.created",
            &me,
            Method::POST,
            "/v1/keys",
            &admin,
            Some(json!({"role": "read", "name": "ci"})),
            StatusCode::CREATED,
        )
        .await;
    let id = key["id"].as_str().unwrap().to_owned();
    w.call(
        "key.revoked",
        &me,
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let viewer = json!({"user_id": "u1", "scope": {"entity_type": "task"}});
    w.call(
        "viewer_token.minted",
        &me,
        Method::POST,
        "/v1/viewer-tokens",
        &admin,
        Some(viewer.clone()),
        StatusCode::OK,
    )
    .await;
    let template = json!({"summary_template": "{actor.name} made {entity.name}"});
    w.call(
        "type.registered",
        &me,
        Method::PUT,
        "/v1/types/task.created",
        &admin,
        Some(template.clone()),
        StatusCode::OK,
    )
    .await;

    // Channels, a delivery, its replay.
    let channel = json!({"name": "CRM", "provider": "generic", "event_type": "crm.note", "mapping": {"title": "/subject"}});
    let channel = w
        .call(
            "channel.created",
            &me,
            Method::POST,
            "/v1/channels",
            &admin,
            Some(channel.clone()),
            StatusCode::CREATED,
        )
        .await;
    let ch = channel["channel"]["id"].as_str().or(channel["id"].as_str()).unwrap().to_owned();
    let ingest_url = channel["channel"]["ingest_url"]
        .as_str()
        .or(channel["ingest_url"].as_str())
        .unwrap()
        .to_owned();
    w.call(
        "channel.updated",
        &me,
        Method::PATCH,
        &format!("/v1/channels/{ch}"),
        &admin,
        Some(json!({"name": "CRM 2"})),
        StatusCode::OK,
    )
    .await;
    let rotated = w
        .call(
            "channel.secret_rotated",
            &me,
            Method::POST,
            &format!("/v1/channels/{ch}/rotate-secret"),
            &admin,
            Some(json!({})),
            StatusCode::OK,
        )
        .await;
    let secret = rotated["secret"].as_str().unwrap().to_owned();
    let delivered = w
        .app
        .client
        .post(&ingest_url)
        .header("X-Ingestion-Key", &secret)
        .header("Content-Type", "application/json")
        .body(r#"{"subject": "Call back"}"#)
        .send()
        .await
        .unwrap();
    let receipt: Value = delivered.json().await.unwrap();
    let request_id = receipt["request_id"].as_str().unwrap().to_owned();
    w.call(
        "ingest.replayed",
        &me,
        Method::POST,
        &format!("/v1/ingest/requests/{request_id}/replay"),
        &admin,
        None,
        StatusCode::OK,
    )
    .await;
    w.call(
        "channel.deleted",
        &me,
        Method::DELETE,
        &format!("/v1/channels/{ch}"),
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Outbound webhooks, with a token in the URL that must not reach the trail.
    w.secrets.push("tok-in-the-url-0123".to_owned());
    let url = receiver.url("/hook?token=tok-in-the-url-0123");
    let hook = w
        .call(
            "webhook.created",
            &me,
            Method::POST,
            "/v1/webhooks",
            &admin,
            Some(json!({"url": url})),
            StatusCode::CREATED,
        )
        .await;
    let wh = hook["webhook"]["id"].as_str().or(hook["id"].as_str()).unwrap().to_owned();
    w.call(
        "webhook.updated",
        &me,
        Method::PATCH,
        &format!("/v1/webhooks/{wh}"),
        &admin,
        Some(json!({"description": "CRM sync"})),
        StatusCode::OK,
    )
    .await;
    w.call(
        "webhook.replayed",
        &me,
        Method::POST,
        &format!("/v1/webhooks/{wh}/replay"),
        &admin,
        Some(json!({"since_seq": 1})),
        StatusCode::OK,
    )
    .await;
    w.call(
        "webhook.tested",
        &me,
        Method::POST,
        &format!("/v1/webhooks/{wh}/test"),
        &admin,
        None,
        StatusCode::OK,
    )
    .await;
    w.call(
        "webhook.deleted",
        &me,
        Method::DELETE,
        &format!("/v1/webhooks/{wh}"),
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Work: a rule, a dead job an admin retries, the rule deleted.
    let rule = json!({"filter": {"type": "call.*"}, "max_attempts": 1});
    w.call(
        "queue_rule.set",
        &me,
        Method::PUT,
        "/v1/work/rules/calls",
        &admin,
        Some(rule.clone()),
        StatusCode::OK,
    )
    .await;
    let call = json!({"type": "call.received", "title": "Call", "entity": {"type": "contact", "id": "c1"}});
    w.app.create_event(&w.app.a.ingest, &call).await;
    let claimed = w
        .app
        .req(Method::POST, "/v1/work/claim", &w.app.a.worker)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let claimed: Value = claimed.json().await.unwrap();
    let job = claimed["jobs"][0].clone();
    let job_id = job["id"].as_str().unwrap().to_owned();
    let failed = w
        .app
        .req(Method::POST, &format!("/v1/work/{job_id}/fail"), &w.app.a.worker)
        .json(&json!({"lease_token": job["lease_token"], "error": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::OK);
    w.call(
        "job.retried",
        &me,
        Method::POST,
        &format!("/v1/work/{job_id}/retry"),
        &admin,
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    w.call(
        "queue_rule.deleted",
        &me,
        Method::DELETE,
        "/v1/work/rules/calls",
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Tenant settings.
    w.call(
        "retention.set",
        &me,
        Method::PUT,
        "/v1/retention",
        &admin,
        Some(json!({"max_age_days": 30})),
        StatusCode::OK,
    )
    .await;
    w.call(
        "phone_region.set",
        &me,
        Method::PUT,
        "/v1/settings/phone-region",
        &admin,
        Some(json!({"region": "GB"})),
        StatusCode::OK,
    )
    .await;
    w.call(
        "consumer.created",
        &me,
        Method::POST,
        "/v1/consumers",
        &admin,
        Some(json!({"name": "billing"})),
        StatusCode::CREATED,
    )
    .await;
    w.call(
        "consumer.deleted",
        &me,
        Method::DELETE,
        "/v1/consumers/billing",
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    w.call(
        "limits.set",
        &me,
        Method::PUT,
        "/v1/limits",
        &admin,
        Some(json!({"reads_per_second": 1000})),
        StatusCode::OK,
    )
    .await;

    // The operator.
    let tenant_limits = format!("/v1/tenants/{}/limits", w.app.a.id.as_str());
    w.call(
        "limits.ceiling_set",
        "operator",
        Method::PUT,
        &tenant_limits,
        &operator,
        Some(json!({"reads_per_second": 5000})),
        StatusCode::OK,
    )
    .await;
    let created = w
        .app
        .req(Method::POST, "/v1/tenants", &operator)
        .json(&json!({"name": "Globex"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let globex_admin = created["admin_key"].as_str().unwrap().to_owned();
    let (_, globex) = w.app.get_json("/v1/audit", &globex_admin).await;
    let globex = globex["items"].as_array().unwrap();
    assert_eq!(globex.len(), 1, "the new tenant's trail starts with its creation");
    assert_eq!(
        (globex[0]["type"].as_str(), globex[0]["actor"]["id"].as_str()),
        (Some("audit.tenant.created"), Some("operator"))
    );
    assert!(!globex[0].to_string().contains(&globex_admin));

    // Signing in and out of the Activity Center.
    let user = UserId::parse("ana").unwrap();
    let (code, _) =
        provision::create_signin_code(w.app.store.as_ref(), &w.app.a.id, user, Role::Admin, 600)
            .await
            .unwrap();
    w.secrets.push(code.clone());
    let signin = w.app.client.get(w.app.url("/signin")).query(&[("code", &code)]);
    w.step("session.signed_in", "ana", signin, StatusCode::OK).await;
    let items = w.audit("").await;
    assert_eq!(items[0]["entity"]["type"], json!("session"));
    let r = w.app.client.get(w.app.url("/signin")).query(&[("code", &code)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE, "a spent code signs no one in, and is not audited");
    assert_eq!(w.audit("").await.len(), w.seen);
    let cookie = w.cookie.clone().expect("the session cookie");
    let signout = w
        .app
        .client
        .post(w.app.url("/v1/session/signout"))
        .header("cookie", cookie)
        .header("x-spine-csrf", "1");
    w.step("session.signed_out", "ana", signout, StatusCode::NO_CONTENT).await;

    // Reads append nothing; the trail is for admins; it filters like a feed.
    for path in [
        "/v1/keys",
        "/v1/channels",
        "/v1/webhooks",
        "/v1/work/rules",
        "/v1/retention",
        "/v1/limits",
        "/v1/consumers",
    ] {
        let r = w.app.req(Method::GET, path, &admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(w.audit("").await.len(), w.seen, "reads are not audited");
    let r = w.app.req(Method::GET, "/v1/audit", &w.app.a.read).send().await.unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let keys = w.audit("&type=audit.key.*").await;
    assert_eq!(
        keys.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["audit.key.revoked", "audit.key.created"]
    );
    let r = w.app.req(Method::GET, "/v1/audit?type=task.created", &admin).send().await.unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let by_operator = w.audit("&actor=operator").await;
    assert_eq!(by_operator.len(), 1);

    // A viewer with an open scope does not see the trail in the feed.
    let token = w
        .app
        .req(Method::POST, "/v1/viewer-tokens", &w.app.a.read)
        .json(&json!({"user_id": "u2"}))
        .send()
        .await
        .unwrap();
    let token: Value = token.json().await.unwrap();
    w.seen += 1;
    let (_, feed) = w.app.get_json("/v1/events?limit=100", token["token"].as_str().unwrap()).await;
    let feed = feed["items"].as_array().unwrap();
    assert!(!feed.is_empty());
    assert!(
        feed.iter().all(|e| !e["type"].as_str().unwrap().starts_with("audit.")),
        "viewers see no audit events"
    );
    assert_eq!(w.audit("").await.len(), w.seen, "a read key minting a token is audited too");

    // The audit counts reach /metrics, by type.
    let metrics =
        w.app.client.get(w.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for kind in ["key.created", "webhook.tested", "session.signed_out", "limits.ceiling_set"] {
        let line = format!("spine_audit_events_total{{type=\"audit.{kind}\"}}");
        assert!(metrics.contains(&line), "{line} in /metrics");
    }
}
