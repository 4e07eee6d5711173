//! `spine emit` against a real `spine serve` child: one event from flags, NDJSON batches from
//! stdin with their summary, and readable problems.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox, Server};
use serde_json::{json, Value};

#[test]
fn emit_posts_flags_and_ndjson_batches_and_reports_problems() {
    let s = Sandbox::new();
    let db = s.db("spine.db");
    s.json(&["tenant", "create", "acme", "--json", "--db", &db]);
    let key =
        s.json(&["key", "create", "--tenant", "acme", "--role", "ingest", "--json", "--db", &db]);
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    let server = Server::start(&s, &db);
    let env = [("SPINE_URL", server.url.as_str()), ("SPINE_KEY", key.as_str())];

    let one = s.run_with_stdin(
        &[
            "emit",
            "--type",
            "task.created",
            "--title",
            "Write docs",
            "--actor",
            "ana",
            "--entity",
            "task:T-1",
            "--tag",
            "docs",
            "--priority",
            "high",
            "--data",
            r#"{"x":1}"#,
            "--json",
        ],
        b"",
        &env,
    );
    assert_success(&one);
    let stored: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(stored["entity"], json!({"type": "task", "id": "T-1"}));
    assert_eq!(stored["tags"], json!(["docs"]));

    let mut ndjson = String::new();
    for i in 0..2_100 {
        ndjson.push_str(
            &json!({"type": "load.test", "title": format!("event {i}"),
            "idempotency_key": format!("k-{i}")})
            .to_string(),
        );
        ndjson.push('\n');
    }
    let out = s.run_with_stdin(&["emit", "--json"], ndjson.as_bytes(), &env);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary, json!({"created": 2100, "repeated": 0, "conflicts": 0, "rejected": 0}));

    // The same lines again are repeats; bad lines are rejected by line number; a changed event
    // under a used key is a conflict. The run fails, after the summary.
    ndjson.push_str("{not json\n");
    ndjson.push_str(&json!({"type": "x", "tenant": "other", "title": "t"}).to_string());
    ndjson.push('\n');
    ndjson.push_str(
        &json!({"type": "load.test", "title": "changed", "idempotency_key": "k-1"}).to_string(),
    );
    ndjson.push('\n');
    let out = s.run_with_stdin(&["emit", "--json"], ndjson.as_bytes(), &env);
    let stderr = assert_clean_failure(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary, json!({"created": 0, "repeated": 2100, "conflicts": 1, "rejected": 2}));
    assert!(stderr.contains("line 2101") && stderr.contains("line 2102"), "{stderr}");
    assert!(stderr.contains("line 2103: conflict"), "{stderr}");

    let invalid = s.run_with_stdin(&["emit", "--type", "Bad Type", "--title", "t"], b"", &env);
    let stderr = assert_clean_failure(&invalid);
    assert!(stderr.contains("422") && stderr.contains("type:"), "{stderr}");

    let bad_key = [("SPINE_URL", server.url.as_str()), ("SPINE_KEY", "spk_nope")];
    let unauthorized = s.run_with_stdin(&["emit", "--type", "a.b", "--title", "t"], b"", &bad_key);
    assert!(assert_clean_failure(&unauthorized).contains("401"));

    let exported = s.run(&["export", "--tenant", "acme", "--db", &db]);
    assert_success(&exported);
    // The events, and the audit trail of the tenant's and the key's creation.
    assert_eq!(text(&exported.stdout).lines().count(), 2_103);
}

#[test]
fn emit_without_a_server_or_key_fails_readably() {
    let s = Sandbox::new();
    let no_key = s.run_with_stdin(&["emit", "--type", "a.b", "--title", "t"], b"", &[]);
    assert!(assert_clean_failure(&no_key).contains("SPINE_KEY"));
    let env = [("SPINE_URL", "http://127.0.0.1:9"), ("SPINE_KEY", "spk_x")];
    let down = s.run_with_stdin(&["emit", "--type", "a.b", "--title", "t"], b"", &env);
    assert!(assert_clean_failure(&down).contains("cannot reach the server at http://127.0.0.1:9"));
}
