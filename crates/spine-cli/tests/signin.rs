//! `spine open` and `spine demo` with the real binary: a one-time sign-in URL made on the
//! database, exchanged in a running server for a session; the demo's sign-in line, key reuse
//! across runs, and a busy port that creates nothing.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn spine_open_prints_a_link_that_signs_in_once() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    assert_success(&sandbox.run(&["tenant", "create", "acme", "--db", &db]));
    let server = Server::start(&sandbox, &db);
    let out = sandbox.json(&[
        "open",
        "--tenant",
        "acme",
        "--user",
        "ana",
        "--role",
        "admin",
        "--json",
        "--url",
        &server.url,
        "--db",
        &db,
    ]);
    let url = out["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/signin?code=ssi_acme.", server.url)), "{url}");
    assert_eq!((&out["user_id"], &out["role"]), (&Value::from("ana"), &Value::from("admin")));
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let me: Value = http()
        .get(format!("{}/v1/session", server.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((&me["tenant"], &me["role"]), (&Value::from("acme"), &Value::from("admin")));
    assert_eq!(http().get(&url).send().await.unwrap().status(), 410, "the link works once");

    // Plain output: the URL alone on stdout, built from the listen address by default.
    let out = sandbox.run(&["open", "--tenant", "acme", "--user", "ben", "--db", &db]);
    assert_success(&out);
    let line = text(&out.stdout);
    assert!(line.trim().starts_with("http://127.0.0.1:7070/signin?code=ssi_acme."), "{line}");
    assert_eq!(line.lines().count(), 1);
}

#[test]
fn spine_open_refuses_what_it_cannot_do() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    assert_success(&sandbox.run(&["tenant", "create", "acme", "--db", &db]));
    let err = assert_clean_failure(
        &sandbox.run(&["open", "--tenant", "nobody", "--user", "ana", "--db", &db]),
    );
    assert!(err.contains("nobody"), "{err}");
    let out = sandbox
        .run(&["open", "--tenant", "acme", "--user", "ana", "--role", "ingest", "--db", &db]);
    assert!(!out.status.success() && text(&out.stderr).contains("read or admin"));
    let err = assert_clean_failure(&sandbox.run(&[
        "open",
        "--tenant",
        "acme",
        "--user",
        "ana",
        "--ttl-seconds",
        "0",
        "--db",
        &db,
    ]));
    assert!(err.contains("--ttl-seconds"), "{err}");
}

/// Starts `spine demo` and returns it with the lines it printed up to its sign-in line.
fn start_demo(sandbox: &Sandbox, db: &str, listen: &str) -> (Child, Vec<String>) {
    let mut child = sandbox
        .command(&["demo", "--listen", listen, "--db", db])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.contains("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, printed)
}

fn key_count(sandbox: &Sandbox, db: &str, active: bool) -> usize {
    let keys = sandbox.json(&["key", "list", "--tenant", "demo", "--json", "--db", db]);
    keys.as_array().unwrap().iter().filter(|k| k["revoked_at"].is_null() == active).count()
}

#[tokio::test]
async fn the_demo_signs_the_visitor_in_and_reuses_its_keys_across_runs() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("demo.db");
    let (mut demo, printed) = start_demo(&sandbox, &db, "127.0.0.1:0");
    let open = printed.iter().find(|l| l.trim_start().starts_with("Open")).expect("an Open line");
    let url = open.split_whitespace().nth(1).unwrap().to_owned();
    assert!(url.contains("/signin?code=ssi_demo."), "{printed:?}");
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "the demo's link signs in");
    // The printed webhook line works as printed: a delivery to the demo's CRM channel.
    let curl = printed.iter().find(|l| l.contains("/v1/ingest/ch_")).expect("a webhook line");
    let words: Vec<&str> = curl.split_whitespace().collect();
    let target = words.iter().find(|w| w.contains("/v1/ingest/")).unwrap();
    let key = curl.split("Bearer ").nth(1).unwrap().split('\'').next().unwrap();
    let body = curl.rsplit("-d '").next().unwrap().trim_end_matches('\'');
    let r = http().post(*target).bearer_auth(key).header("content-type", "application/json");
    let receipt: serde_json::Value =
        r.body(body.to_owned()).send().await.unwrap().json().await.unwrap();
    assert_eq!(receipt["verdict"], "accepted", "{receipt}");
    // The seeded history holds done work and coding-agent sessions, so those pages show them.
    let admin = printed.iter().find(|l| l.trim_start().starts_with("Admin key")).unwrap();
    let admin = admin.split_whitespace().last().unwrap();
    let base = target.split("/v1/").next().unwrap();
    let get = |path: &str| http().get(format!("{base}{path}")).bearer_auth(admin).send();
    let queues: serde_json::Value = get("/v1/work/queues").await.unwrap().json().await.unwrap();
    assert_eq!(queues["items"][0]["queue"], "calls", "{queues}");
    assert!(queues["items"][0]["completed"].as_u64().unwrap() > 0, "{queues}");
    let sessions: serde_json::Value =
        get("/v1/agents/sessions").await.unwrap().json().await.unwrap();
    assert!(!sessions["items"].as_array().unwrap().is_empty(), "{sessions}");
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert_eq!(key_count(&sandbox, &db, true), 3);

    let (mut again, printed_again) = start_demo(&sandbox, &db, "127.0.0.1:0");
    let channel = |lines: &[String]| {
        lines.iter().find_map(|l| l.split("/v1/ingest/").nth(1)).map(|rest| rest[..27].to_owned())
    };
    assert_eq!(channel(&printed_again), channel(&printed), "one demo channel across runs");
    again.kill().unwrap();
    again.wait().unwrap();
    assert_eq!(key_count(&sandbox, &db, true), 3, "one read, ingest and admin key at a time");
    assert_eq!(key_count(&sandbox, &db, false), 3, "the previous run's keys are revoked");
}

#[test]
fn a_demo_that_cannot_listen_creates_nothing() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("demo.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = assert_clean_failure(&sandbox.run(&["demo", "--listen", &addr, "--db", &db]));
    assert!(err.contains("--listen"), "says which flag picks another port: {err}");
    assert!(!sandbox.path("demo.db").exists(), "no database, no keys");
}

/// Neither the sign-in code nor the session it becomes appears in the server's logs, even at
/// the debug level.
#[tokio::test]
async fn sign_in_secrets_never_reach_the_logs() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    assert_success(&sandbox.run(&["tenant", "create", "acme", "--db", &db]));
    let server = Server::start_logging(&sandbox, &db, &sandbox.path("server.log"));
    let url = server.url.clone();
    let out = sandbox
        .json(&["open", "--tenant", "acme", "--user", "ana", "--json", "--url", &url, "--db", &db]);
    let link = out["url"].as_str().unwrap().to_owned();
    let code = link.split("code=").nth(1).unwrap().to_owned();
    let r = http().get(&link).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session = cookie.split('=').nth(1).unwrap().to_owned();
    let me = http().get(format!("{url}/v1/events")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let out = http()
        .post(format!("{url}/v1/session/signout"))
        .header("cookie", &cookie)
        .header("x-spine-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    server.stop();
    let logged = std::fs::read_to_string(sandbox.path("server.log")).unwrap();
    assert!(logged.contains("signed in"), "the sign-in itself is logged: {logged}");
    let secret = |s: &str| s.rsplit('.').next().unwrap().to_owned();
    for (what, value) in [("code", secret(&code)), ("session", secret(&session))] {
        assert!(!logged.contains(&value), "the {what}'s secret is in the log");
    }
}

/// A channel's secret, shown once when the channel is created or rotated, never appears in the
/// server's logs (at the debug level), nor do the deliveries signed or keyed with it.
#[tokio::test]
async fn channel_secrets_never_reach_the_logs() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    let created = sandbox.json(&["tenant", "create", "acme", "--json", "--db", &db]);
    let admin = created["admin_key"].as_str().unwrap().to_owned();
    let server = Server::start_logging(&sandbox, &db, &sandbox.path("server.log"));
    let url = server.url.clone();
    let body = serde_json::json!({"name": "CRM", "provider": "generic", "event_type": "crm.note",
                                  "mapping": {"title": "/subject"}});
    let r = http().post(format!("{url}/v1/channels")).bearer_auth(&admin).json(&body).send();
    let channel: Value = r.await.unwrap().json().await.unwrap();
    let (id, first_secret) =
        (channel["id"].as_str().unwrap(), channel["secret"].as_str().unwrap().to_owned());
    let rotate = http().post(format!("{url}/v1/channels/{id}/rotate-secret")).bearer_auth(&admin);
    let rotated: Value = rotate.send().await.unwrap().json().await.unwrap();
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    for secret in [&first_secret, &second_secret, &"a wrong one".to_owned()] {
        let r = http()
            .post(format!("{url}/v1/ingest/{id}"))
            .header("x-ingestion-key", secret.as_str())
            .body(r#"{"subject": "hello"}"#)
            .send()
            .await
            .unwrap();
        assert!(r.status() == 200 || r.status() == 401, "{}", r.status());
    }
    server.stop();
    let logged = std::fs::read_to_string(sandbox.path("server.log")).unwrap();
    assert!(logged.contains("channel secret rotated"), "the rotation itself is logged: {logged}");
    assert!(logged.contains("ingested"), "deliveries are logged: {logged}");
    for secret in [&first_secret, &second_secret] {
        assert!(!logged.contains(secret.as_str()), "a channel secret is in the log");
    }
}
