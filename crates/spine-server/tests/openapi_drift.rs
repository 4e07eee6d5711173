//! OpenAPI drift: every operation in `/openapi.json` is sent the requests a client can get
//! wrong (no credential, the wrong role, another tenant's ids, bodies that are not JSON, not
//! valid, or too large) and the happy path, and every status it answers must be one the
//! operation documents. Problems must be `application/problem+json`, and a documented 2xx must
//! come with one of its documented content types. All drifts are reported at once.

mod common;

use common::{event, spawn_app_with, TestApp};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// Bodies over every limit of the app the test starts (its batch limit is lowered to 1.5 MiB).
const OVERSIZED: usize = 2 * 1024 * 1024;

/// One operation of the document.
struct Op {
    method: Method,
    path: String,
    /// The documented answers, by status.
    responses: serde_json::Map<String, Value>,
    takes_body: bool,
}

impl Op {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The ids that fill path parameters: a tenant's real ones, or ones that exist nowhere.
#[derive(Clone)]
struct Ids {
    event: String,
    key: String,
    channel: String,
    request: String,
    event_type: String,
    entity_type: String,
    entity_id: String,
    identifier: String,
}

/// How a request authenticates.
#[derive(Clone)]
enum Cred {
    None,
    Bearer(String),
    Header(&'static str, String),
}

/// A request body: its content type and bytes.
type Body = Option<(&'static str, Vec<u8>)>;

/// One request to send.
struct Probe {
    label: String,
    cred: Cred,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

/// An answer seen: its operation, status, content type and what provoked it.
struct Seen {
    op: String,
    status: u16,
    content_type: String,
    label: String,
}

fn fill(template: &str, ids: &Ids) -> String {
    let segments: Vec<&str> = template.split('/').collect();
    let filled: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, seg)| {
            let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                return (*seg).to_owned();
            };
            let before = if i > 0 { segments[i - 1] } else { "" };
            let value = match (before, name) {
                ("events", _) => &ids.event,
                ("keys", _) => &ids.key,
                ("types", _) => &ids.event_type,
                ("channels", _) | ("ingest", "channel") => &ids.channel,
                ("requests", _) => &ids.request,
                ("entities", _) => &ids.entity_type,
                ("identifiers", _) => &ids.identifier,
                (_, "id" | "entity_id") => &ids.entity_id,
                // A route this test does not know yet: an id that exists nowhere.
                _ => return format!("unknown-{name}"),
            };
            urlencode(value)
        })
        .collect();
    filled.join("/")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn operations(doc: &Value) -> Vec<Op> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            ops.push(Op {
                method,
                path: path.clone(),
                responses: op["responses"].as_object().cloned().unwrap_or_default(),
                takes_body: op.get("requestBody").is_some(),
            });
        }
    }
    // Deletions last, so the other operations still find what they delete.
    ops.sort_by_key(|op| op.method == Method::DELETE);
    ops
}

/// The body a happy request of `op` sends.
fn happy_body(op: &Op) -> Option<Value> {
    let body = match (op.method.as_str(), op.path.as_str()) {
        ("POST", "/v1/events") => {
            let mut e = event("drift");
            e["idempotency_key"] = json!("drift-1");
            e
        }
        ("POST", "/v1/events/batch") => json!({"events": [event("drift batch")]}),
        ("POST", "/v1/keys") => json!({"role": "read"}),
        ("POST", "/v1/viewer-tokens") => json!({"user_id": "u1"}),
        ("PUT", "/v1/types/{type}") => json!({"label": "Task"}),
        ("POST", "/v1/types/{type}/preview") => json!({"summary_template": "{actor.name}"}),
        ("POST", "/v1/tenants") => json!({"name": "Drift tenant"}),
        ("POST", "/v1/channels") => json!({"name": "x", "provider": "generic"}),
        ("PATCH", "/v1/channels/{id}") => json!({"name": "renamed"}),
        ("POST", "/v1/ingest/{channel}") => json!({"type": "crm.note", "title": "Call back"}),
        ("POST", "/v1/entities/{type}/{id}/identifiers") => json!({"email": "ana@example.com"}),
        _ if op.takes_body => json!({}),
        _ => return None,
    };
    Some(body)
}

struct Drift {
    app: TestApp,
    channel_secret: String,
    viewer: String,
    a: Ids,
    b: Ids,
    nowhere: Ids,
    seen: Vec<Seen>,
    /// Live answers (SSE, WebSocket) held open until they are no longer needed.
    held: Vec<Response>,
}

impl Drift {
    async fn send(&mut self, op: &Op, probe: Probe) {
        let path = probe.path.clone();
        let mut req = self.app.client.request(op.method.clone(), self.app.url(&path));
        req = match &probe.cred {
            Cred::None => req,
            Cred::Bearer(token) => req.bearer_auth(token),
            Cred::Header(name, value) => req.header(*name, value),
        };
        for (name, value) in &probe.headers {
            req = req.header(*name, value);
        }
        if let Some((content_type, bytes)) = probe.body {
            req = req.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let sent = tokio::time::timeout(Duration::from_secs(20), req.send()).await;
        let r = match sent {
            Ok(Ok(r)) => r,
            other => panic!("{} ({}): no answer: {other:?}", op.name(), probe.label),
        };
        let content_type = r
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = r.status().as_u16();
        self.seen.push(Seen { op: op.name(), status, content_type, label: probe.label });
        // A long-lived 200 or 101 (SSE, WebSocket) is not read: it is dropped, or held.
        if status == 101 || (status == 200 && op.path == "/v1/stream") {
            self.held.push(r);
            return;
        }
        let bytes = r.bytes().await.unwrap_or_default();
        // A rotation of the tenant's channel hands out the secret deliveries must use now.
        if status == 200 && op.path.ends_with("/rotate-secret") && path.contains(&self.a.channel) {
            let rotated: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if let Some(secret) = rotated["secret"].as_str() {
                self.channel_secret = secret.to_owned();
            }
        }
    }

    /// The credential a happy request of `op` uses.
    fn main_cred(&self, op: &Op) -> Cred {
        match (op.method.as_str(), op.path.as_str()) {
            ("POST", "/v1/tenants") => Cred::Bearer(self.app.admin_token.clone()),
            ("POST", "/v1/ingest/{channel}") => {
                Cred::Header("X-Ingestion-Key", self.channel_secret.clone())
            }
            _ => Cred::Bearer(self.app.a.admin.clone()),
        }
    }

    fn probe(&self, op: &Op, label: &str, cred: Cred, ids: &Ids, body: Option<Value>) -> Probe {
        let mut headers = vec![("X-Spine-User", "u1".to_owned()), ("X-Spine-CSRF", "1".to_owned())];
        if op.path == "/v1/ws" {
            headers.extend([
                ("Connection", "Upgrade".to_owned()),
                ("Upgrade", "websocket".to_owned()),
                ("Sec-WebSocket-Version", "13".to_owned()),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==".to_owned()),
            ]);
        }
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        Probe { label: label.to_owned(), cred, path: fill(&op.path, ids), headers, body }
    }

    async fn run(&mut self, op: &Op) {
        let (a, b, nowhere) = (self.a.clone(), self.b.clone(), self.nowhere.clone());
        let happy = happy_body(op);
        let main = self.main_cred(op);
        let creds = [
            ("no credential", Cred::None),
            ("an unknown API key", Cred::Bearer("spk_nope_0123456789abcdef".into())),
            ("a forged viewer token", Cred::Bearer("svt.forged.token".into())),
            ("the operator token", Cred::Bearer(self.app.admin_token.clone())),
            ("an admin key", Cred::Bearer(self.app.a.admin.clone())),
            ("an ingest key", Cred::Bearer(self.app.a.ingest.clone())),
            ("a read key", Cred::Bearer(self.app.a.read.clone())),
            ("a viewer token", Cred::Bearer(self.viewer.clone())),
            ("the channel's secret", Cred::Header("X-Ingestion-Key", self.channel_secret.clone())),
        ];
        for (label, cred) in creds {
            let p = self.probe(op, label, cred, &a, happy.clone());
            self.send(op, p).await;
        }
        let mut p = self.probe(op, "no X-Spine-User", main.clone(), &a, happy.clone());
        p.headers.retain(|(name, _)| *name != "X-Spine-User");
        self.send(op, p).await;
        let mut p = self.probe(op, "an invalid X-Spine-User", main.clone(), &a, happy.clone());
        p.headers.retain(|(name, _)| *name != "X-Spine-User");
        p.headers.push(("X-Spine-User", "u".repeat(2000)));
        self.send(op, p).await;
        let mut p = self.probe(op, "an unknown query parameter", main.clone(), &a, happy.clone());
        p.path.push_str("?zzz=1");
        self.send(op, p).await;
        let mut p = self.probe(op, "a key in the URL", main.clone(), &a, happy.clone());
        p.path.push_str("?api_key=x");
        self.send(op, p).await;
        let mut p = self.probe(op, "no X-Spine-CSRF", main.clone(), &a, happy.clone());
        p.headers.retain(|(name, _)| *name != "X-Spine-CSRF");
        self.send(op, p).await;
        if op.path.contains('{') {
            let p = self.probe(op, "another tenant's ids", main.clone(), &b, happy.clone());
            self.send(op, p).await;
            let p = self.probe(op, "unknown ids", main.clone(), &nowhere, happy.clone());
            self.send(op, p).await;
        }
        let other = Cred::Bearer(self.app.b.admin.clone());
        let p = self.probe(op, "another tenant's admin key", other, &a, happy.clone());
        self.send(op, p).await;
        if op.takes_body {
            let bodies: [(&str, Body); 7] = [
                ("a body that is not JSON", Some(("application/json", b"{not json".to_vec()))),
                ("a wrong content type", Some(("text/plain", b"{}".to_vec()))),
                ("an empty JSON object", Some(("application/json", b"{}".to_vec()))),
                ("an unknown field", Some(("application/json", br#"{"zzz": 1}"#.to_vec()))),
                ("a JSON array", Some(("application/json", b"[]".to_vec()))),
                ("no body", None),
                ("an oversized body", Some(("application/json", oversized()))),
            ];
            for (label, body) in bodies {
                let mut p = self.probe(op, label, main.clone(), &a, None);
                p.body = body;
                self.send(op, p).await;
            }
        }
        // Repeats: a taken tenant name, a conflicting idempotent repeat.
        if let Some(mut body) = happy {
            let p = self.probe(op, "a repeat", main.clone(), &a, Some(body.clone()));
            self.send(op, p).await;
            body["title"] = json!("something else");
            let p = self.probe(op, "a changed repeat", main, &a, Some(body));
            self.send(op, p).await;
        }
    }

    /// The requests a few operations need beyond [`Drift::run`]'s: an identifier another entity
    /// holds, and the replay of a request rejected at receipt (both conflicts).
    async fn extras(&mut self, ops: &[Op]) {
        let admin = Cred::Bearer(self.app.a.admin.clone());
        for op in ops {
            if op.method == Method::POST && op.path == "/v1/entities/{type}/{id}/identifiers" {
                let mut other = self.a.clone();
                other.entity_id = "t-2".into();
                let body = happy_body(op);
                let p = self.probe(
                    op,
                    "an identifier another entity holds",
                    admin.clone(),
                    &other,
                    body,
                );
                self.send(op, p).await;
            }
            if op.method == Method::POST && op.path == "/v1/ingest/requests/{id}/replay" {
                let rejected = rejected_request(&self.app).await;
                let mut ids = self.a.clone();
                ids.request = rejected;
                let p = self.probe(op, "a rejected request", admin.clone(), &ids, None);
                self.send(op, p).await;
            }
        }
    }
}

fn oversized() -> Vec<u8> {
    let mut body = br#"{"title": ""#.to_vec();
    body.resize(OVERSIZED, b'a');
    body.extend_from_slice(br#""}"#);
    body
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> Value {
    let r = app.req(Method::POST, path, key).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// A generic channel whose mapping reads `/title`.
fn mapped_channel() -> Value {
    json!({"name": "x", "provider": "generic", "event_type": "crm.note",
           "mapping": {"title": "/title"}})
}

/// Real ids of one tenant: a channel with one accepted delivery, an event, a spare key, a type
/// and an identifier. Returns them and the channel's secret.
async fn ids_of(app: &TestApp, admin: &str) -> (Ids, String) {
    let channel = post(app, "/v1/channels", admin, mapped_channel()).await;
    let (channel_id, secret) = (
        channel["id"].as_str().unwrap().to_owned(),
        channel["secret"].as_str().unwrap().to_owned(),
    );
    let r = app
        .client
        .post(app.url(&format!("/v1/ingest/{channel_id}")))
        .header("X-Ingestion-Key", &secret)
        .json(&json!({"type": "crm.note", "title": "Call back"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let (_, ledger) = app.get_json("/v1/ingest/requests", admin).await;
    let event = post(app, "/v1/events", admin, event("fixture")).await;
    let key = post(app, "/v1/keys", admin, json!({"role": "read", "name": "spare"})).await;
    let r = app
        .req(Method::PUT, "/v1/types/task.created", admin)
        .json(&json!({"label": "Task"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    post(app, "/v1/entities/task/t-1/identifiers", admin, json!({"email": "ana@example.com"}))
        .await;
    let ids = Ids {
        event: event["id"].as_str().unwrap().to_owned(),
        key: key["id"].as_str().unwrap().to_owned(),
        channel: channel_id,
        request: ledger["items"][0]["id"].as_str().unwrap().to_owned(),
        event_type: "task.created".into(),
        entity_type: "task".into(),
        entity_id: "t-1".into(),
        identifier: "ana@example.com".into(),
    };
    (ids, secret)
}

/// The id of a ledger entry rejected at receipt (a wrong channel key).
async fn rejected_request(app: &TestApp) -> String {
    let channel =
        post(app, "/v1/channels", &app.a.admin, json!({"name": "r", "provider": "generic"})).await;
    let id = channel["id"].as_str().unwrap();
    let r = app
        .client
        .post(app.url(&format!("/v1/ingest/{id}")))
        .header("X-Ingestion-Key", "wrong")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let path = format!("/v1/ingest/requests?verdict=rejected&channel={id}");
    let (_, ledger) = app.get_json(&path, &app.a.admin).await;
    ledger["items"][0]["id"].as_str().unwrap().to_owned()
}

fn mime(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn is_json(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Every way `seen` differs from what the operations document.
fn drifts(ops: &[Op], seen: &[Seen]) -> Vec<String> {
    let by_name: BTreeMap<String, &Op> = ops.iter().map(|op| (op.name(), op)).collect();
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for s in seen {
        let op = by_name[&s.op];
        let Some(documented) = op.responses.get(&s.status.to_string()) else {
            found
                .entry(format!("{}: {} is not documented", s.op, s.status))
                .or_insert_with(|| s.label.clone());
            continue;
        };
        let got = mime(&s.content_type);
        if s.status >= 400 && got != "application/problem+json" {
            found
                .entry(format!("{}: {} answered as {got:?}, not a problem", s.op, s.status))
                .or_insert_with(|| s.label.clone());
        }
        if let Some(content) = documented.get("content").and_then(Value::as_object) {
            // A documented JSON answer must come as JSON, and as the media type documented.
            let json_documented = content.keys().any(|k| is_json(&mime(k)));
            if json_documented && !is_json(&got) || !content.keys().any(|k| mime(k) == got) {
                found
                    .entry(format!(
                        "{}: {} answered as {got:?}, documented as {:?}",
                        s.op,
                        s.status,
                        content.keys().collect::<Vec<_>>()
                    ))
                    .or_insert_with(|| s.label.clone());
            }
        }
    }
    found.into_iter().map(|(drift, label)| format!("{drift} (e.g. with {label})")).collect()
}

async fn spawn(config: ServerConfig) -> (TestApp, Vec<Op>) {
    let app = spawn_app_with(config).await;
    let doc: Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let ops = operations(&doc);
    (app, ops)
}

async fn fixtures(app: TestApp) -> Drift {
    let (a, channel_secret) = ids_of(&app, &app.a.admin).await;
    let (b, _) = ids_of(&app, &app.b.admin).await;
    let token = post(&app, "/v1/viewer-tokens", &app.a.read, json!({"user_id": "u1"})).await;
    let nowhere = Ids {
        event: "0190a0a0-0000-7000-8000-000000000000".into(),
        key: "k0000000000000000".into(),
        channel: "ch_000000000000000000000000".into(),
        request: "0190a0a0-0000-7000-8000-000000000000".into(),
        event_type: "no.such.type".into(),
        entity_type: "Not A Type!".into(),
        entity_id: "t-1".into(),
        identifier: "nobody@example.com".into(),
    };
    Drift {
        app,
        channel_secret,
        viewer: token["token"].as_str().unwrap().to_owned(),
        a,
        b,
        nowhere,
        seen: Vec::new(),
        held: Vec::new(),
    }
}

#[tokio::test]
async fn every_answered_status_is_documented_for_its_operation() {
    let config = ServerConfig { max_batch_body_bytes: 3 * 512 * 1024, ..Default::default() };
    let (app, ops) = spawn(config).await;
    assert!(ops.len() > 30, "the document lists {} operations", ops.len());
    let mut drift = fixtures(app).await;
    drift.extras(&ops).await;
    for op in &ops {
        drift.run(op).await;
        drift.held.clear();
    }
    let found = drifts(&ops, &drift.seen);
    assert!(found.is_empty(), "{} drifts:\n{}", found.len(), found.join("\n"));
}

/// The live routes' refusals when streams run out: 429 for the tenant, 503 for the server.
#[tokio::test]
async fn stream_limits_are_documented_on_every_live_operation() {
    let config = ServerConfig { max_streams: 2, max_streams_per_tenant: 1, ..Default::default() };
    let (app, ops) = spawn(config).await;
    let mut drift = fixtures(app).await;
    let live: Vec<&Op> =
        ops.iter().filter(|op| matches!(op.path.as_str(), "/v1/stream" | "/v1/ws")).collect();
    let stream = live.iter().find(|op| op.path == "/v1/stream").expect("/v1/stream is documented");
    assert_eq!(live.len(), 2, "both live operations are documented");
    let (a, reader_a, reader_b) =
        (drift.a.clone(), drift.app.a.read.clone(), drift.app.b.read.clone());
    // Tenant a's one stream, then b's: the server's two.
    for (label, full) in [
        ("tenant a's stream limit reached", &reader_a),
        ("the server's stream limit reached", &reader_b),
    ] {
        let p = drift.probe(stream, "an open stream", Cred::Bearer(full.clone()), &a, None);
        drift.send(stream, p).await;
        for op in &live {
            let p = drift.probe(op, label, Cred::Bearer(reader_a.clone()), &a, None);
            drift.send(op, p).await;
        }
    }
    let statuses: Vec<u16> = drift.seen.iter().map(|s| s.status).collect();
    assert!(statuses.contains(&429) && statuses.contains(&503), "{statuses:?}");
    let found = drifts(&ops, &drift.seen);
    assert!(found.is_empty(), "{} drifts:\n{}", found.len(), found.join("\n"));
}

/// Request schemas are derived from the core's validated input types, so they carry the limits
/// and patterns validation enforces rather than a hand-written mirror's.
#[tokio::test]
async fn request_schemas_carry_the_limits_the_server_enforces() {
    let app = common::spawn_app().await;
    let doc: serde_json::Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let schema_of = |path: &str| {
        let body =
            &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        let name = body["$ref"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default();
        doc["components"]["schemas"][name].clone()
    };
    let event = schema_of("/v1/events");
    assert_eq!(event["properties"]["title"]["maxLength"], 512, "{event}");
    assert_eq!(event["properties"]["type"]["pattern"], "^[a-z0-9][a-z0-9_.:-]*$");
    assert_eq!(event["properties"]["tags"]["maxItems"], 32);
    assert!(event["required"].as_array().unwrap().contains(&"title".into()), "{event}");
    let channel = schema_of("/v1/channels");
    assert_eq!(channel["properties"]["name"]["maxLength"], 128, "{channel}");
    assert_eq!(channel["properties"]["secret"]["maxLength"], 512);
    let batch = schema_of("/v1/events/batch");
    assert_eq!(batch["properties"]["events"]["maxItems"], 1000, "{batch}");
}
