//! `spine export` / `spine import` through the real binary: a full round trip into a fresh
//! database, and clean failures on malformed input.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox};
use serde_json::{json, Value};
use spine_core::input::EventLimits;
use spine_core::{EventInput, NewEvent, TenantId};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::Store;

/// More than one export page and more than one import batch.
const EVENTS: usize = 2_345;

fn event(i: usize) -> NewEvent {
    let event_type = ["task.created", "lead.high_intent", "deploy.failed"][i % 3];
    let priority = ["low", "normal", "high", "urgent"][i % 4];
    let mut v = json!({
        "type": event_type,
        "title": format!("Event {i} — naïve café ✓"),
        "actor": {"id": format!("user-{}", i % 7), "name": "Ana", "kind": "user"},
        "entity": {"type": "task", "id": format!("T-{}", i % 50), "name": "Docs"},
        "tags": ["a", format!("t{}", i % 4)],
        "priority": priority,
        "data": {"n": i, "nested": {"list": [1, 2.5, null, "x"]}},
        "occurred_at": format!("2026-01-{:02}T12:00:00.{:06}Z", 1 + i % 28, i),
    });
    if i.is_multiple_of(5) {
        v["idempotency_key"] = json!(format!("key-{i}"));
        v["description"] = json!("line one\nline two");
        v["correlation_id"] = json!(format!("flow-{}", i / 10));
    }
    if i.is_multiple_of(7) {
        v["action"] = json!("updated");
        v["changes"] = json!([{"field": "state", "old": "todo", "new": "done"}]);
    }
    let input: EventInput = serde_json::from_value(v).unwrap();
    input.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).unwrap()
}

async fn seed(db: &str, tenant: &str) {
    let store = SqliteStore::open(db, SqliteOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let tenant = TenantId::parse(tenant).unwrap();
    store.create_tenant(&tenant, "Source").await.unwrap();
    let events: Vec<NewEvent> = (0..EVENTS).map(event).collect();
    for chunk in events.chunks(700) {
        store.append(&tenant, chunk.to_vec()).await.unwrap();
    }
    store.close().await;
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_into_a_fresh_database_round_trips_every_event() {
    let s = Sandbox::new();
    let (source, target) = (s.db("source.db"), s.db("target.db"));
    seed(&source, "acme").await;

    let first = s.path("first.ndjson");
    let first_arg = first.display().to_string();
    assert_success(&s.run(&["export", "--tenant", "acme", "--db", &source, "--out", &first_arg]));
    let exported = lines(&first);
    assert_eq!(exported.len(), EVENTS);
    let seqs: Vec<i64> = exported.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "export must be in commit order");

    let out = s.run(&["import", "--tenant", "acme", "--db", &target, "--in", &first_arg]);
    assert_success(&out);
    assert!(
        text(&out.stdout).contains(&format!("{EVENTS} inserted, 0 skipped")),
        "{}",
        text(&out.stdout)
    );

    let second = s.path("second.ndjson");
    let second_arg = second.display().to_string();
    assert_success(&s.run(&["export", "--tenant", "acme", "--db", &target, "--out", &second_arg]));
    let reimported = lines(&second);
    assert_eq!(reimported.len(), EVENTS);
    for (a, b) in exported.iter().zip(&reimported) {
        for field in [
            "id",
            "type",
            "title",
            "actor",
            "entity",
            "data",
            "changes",
            "tags",
            "priority",
            "description",
            "correlation_id",
            "occurred_at",
            "received_at",
            "idempotency_key",
            "summary",
        ] {
            assert_eq!(a[field], b[field], "{field} differs for event {}", a["id"]);
        }
    }

    // Importing again is harmless: every event is already there.
    let out = s.run(&["import", "--tenant", "acme", "--db", &target, "--in", &first_arg]);
    assert_success(&out);
    assert!(text(&out.stdout).contains(&format!("0 inserted, {EVENTS} skipped")));
}

/// The migration path of the README: a SQLite file exported, imported into PostgreSQL, and a
/// server on PostgreSQL taking new events, every command given `--db postgres://...`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_export_moves_to_postgresql_and_a_server_runs_on_it() {
    let s = Sandbox::new();
    let source = s.db("source.db");
    seed(&source, "acme").await;
    let (pg, _database) = spine_postgres::testing::fresh_database().await;
    assert_success(&s.run(&["migrate", "--db", &pg]));

    let dump = s.path("dump.ndjson");
    let dump_arg = dump.display().to_string();
    assert_success(&s.run(&["export", "--tenant", "acme", "--db", &source, "--out", &dump_arg]));
    let out = s.run(&["import", "--tenant", "acme", "--db", &pg, "--in", &dump_arg]);
    assert_success(&out);
    assert!(text(&out.stdout).contains(&format!("{EVENTS} inserted, 0 skipped")));
    let moved = s.path("moved.ndjson");
    let moved_arg = moved.display().to_string();
    assert_success(&s.run(&["export", "--tenant", "acme", "--db", &pg, "--out", &moved_arg]));
    let (before, after) = (lines(&dump), lines(&moved));
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        for field in ["id", "type", "title", "data", "changes", "tags", "occurred_at", "summary"] {
            assert_eq!(a[field], b[field], "{field} differs for event {}", a["id"]);
        }
    }

    let key =
        s.json(&["key", "create", "--tenant", "acme", "--role", "ingest", "--json", "--db", &pg]);
    let key = key["key"].as_str().unwrap_or_default().to_owned();
    let server = common::Server::start(&s, &pg);
    let env = [("SPINE_URL", server.url.as_str()), ("SPINE_KEY", key.as_str())];
    let args = ["emit", "--type", "task.created", "--title", "On PostgreSQL", "--json"];
    let out = s.run_with_stdin(&args, b"", &env);
    assert_success(&out);
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = after.last().unwrap()["seq"].as_i64().unwrap();
    // Positions continue after the imported ones and the audit event of the key's creation.
    assert_eq!(stored["seq"], json!(last + 2), "positions continue after the imported ones");
    drop(server);
}

#[test]
fn import_reads_stdin_and_stops_cleanly_at_a_malformed_line() {
    let s = Sandbox::new();
    let db = s.db("spine.db");
    let good = json!({
        "id": "01a20130-c28e-709a-b51e-465b85668969", "seq": 1, "tenant": "elsewhere",
        "type": "task.created", "action": "custom", "source": {"system": "api"}, "title": "ok",
        "priority": "normal", "tags": [], "occurred_at": "2026-01-01T00:00:00Z",
        "received_at": "2026-01-01T00:00:00Z", "summary": "ok",
    });
    let input = format!("{good}\n\n{{\"id\": \"broken\n");
    let out = s.run_with_stdin(&["import", "--tenant", "acme", "--db", &db], input.as_bytes(), &[]);
    let stderr = assert_clean_failure(&out);
    assert!(stderr.contains("line 3"), "{stderr}");

    let input = format!("{good}\n");
    let out = s.run_with_stdin(&["import", "--tenant", "acme", "--db", &db], input.as_bytes(), &[]);
    assert_success(&out);
    assert!(text(&out.stdout).contains("1 inserted"), "{}", text(&out.stdout));
    let exported = s.run(&["export", "--tenant", "acme", "--db", &db]);
    assert_success(&exported);
    let event: Value = serde_json::from_slice(&exported.stdout).unwrap();
    assert_eq!(event["tenant"], "acme", "imported events belong to the target tenant");

    let missing = s.run(&["import", "--tenant", "acme", "--db", &db, "--in", "nope.ndjson"]);
    assert!(assert_clean_failure(&missing).contains("nope.ndjson"));
    let unknown = s.run(&["export", "--tenant", "nobody", "--db", &db]);
    assert!(assert_clean_failure(&unknown).contains("no tenant `nobody`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_events_through_a_position_and_reports_the_horizon() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("purge.db");
    seed(&db, "acme").await;
    let seqs = exported_seqs(&sandbox, &db, "before.ndjson");
    let through = seqs[999].to_string();
    let out = sandbox.json(&[
        "purge",
        "--db",
        &db,
        "--tenant",
        "acme",
        "--through-seq",
        &through,
        "--json",
    ]);
    assert_eq!(out, json!({"removed": 1000, "horizon": seqs[999]}));
    let left = exported_seqs(&sandbox, &db, "after.ndjson");
    // What was above the horizon stays, followed by the purge's own audit event.
    assert_eq!(left[..left.len() - 1], seqs[1000..]);
    assert_eq!(left.len(), seqs.len() - 1000 + 1);
    let failure = sandbox.run(&["purge", "--db", &db, "--tenant", "nobody", "--through-seq", "5"]);
    assert!(assert_clean_failure(&failure).contains("no tenant"));
}

/// Exports tenant `acme` of `db` through the binary into `file` and returns the positions.
fn exported_seqs(sandbox: &Sandbox, db: &str, file: &str) -> Vec<i64> {
    let out = sandbox.path(file);
    let out_arg = out.to_str().unwrap();
    assert_success(&sandbox.run(&["export", "--db", db, "--tenant", "acme", "--out", out_arg]));
    lines(&out).iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}
