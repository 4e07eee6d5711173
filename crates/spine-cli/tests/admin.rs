//! Tenants, keys and configuration through the real binary, directly on a fresh database.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox};

#[test]
fn tenant_create_json_prints_the_tenant_and_its_admin_key() {
    let s = Sandbox::new();
    let db = s.db("spine.db");
    let created = s.json(&["tenant", "create", "Acme Inc.", "--json", "--db", &db]);
    assert_eq!(created["tenant_id"], "acme-inc");
    assert_eq!(created["name"], "Acme Inc.");
    assert!(created["admin_key"].as_str().is_some_and(|k| k.starts_with("spk_")));

    let listed = s.json(&["tenant", "list", "--json", "--db", &db]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], "acme-inc");

    let again = s.run(&["tenant", "create", "Acme Inc.", "--db", &db]);
    assert!(assert_clean_failure(&again).contains("already exists"));
}

#[test]
fn key_create_json_prints_the_key_once_with_its_id_role_and_tenant() {
    let s = Sandbox::new();
    let db = s.db("spine.db");
    s.json(&["tenant", "create", "acme", "--json", "--db", &db]);
    let key = s.json(&[
        "key", "create", "--tenant", "acme", "--role", "ingest", "--name", "ci", "--json", "--db",
        &db,
    ]);
    let secret = key["key"].as_str().unwrap_or_default();
    let id = key["id"].as_str().unwrap_or_default();
    assert!(secret.starts_with(&format!("spk_{id}_")), "{key}");
    assert_eq!(key["role"], "ingest");
    assert_eq!(key["tenant"], "acme");
    assert_eq!(key["name"], "ci");

    let listed = s.json(&["key", "list", "--tenant", "acme", "--json", "--db", &db]);
    let listed_text = listed.to_string();
    assert!(listed_text.contains(id));
    assert!(!listed_text.contains(secret), "a listing must never show a secret");

    assert_success(&s.run(&["key", "revoke", "--tenant", "acme", id, "--db", &db]));
    let listed = s.json(&["key", "list", "--tenant", "acme", "--json", "--db", &db]);
    let revoked = listed.as_array().and_then(|keys| keys.iter().find(|k| k["id"] == id));
    assert!(revoked.is_some_and(|k| !k["revoked_at"].is_null()), "{listed}");

    let unknown = s.run(&["key", "revoke", "--tenant", "acme", "0123456789abcdef", "--db", &db]);
    assert_clean_failure(&unknown);

    // The command line's administration is audited too, by the operator, with no secret; an
    // export copies the trail with the rest of the log.
    let export = s.run(&["export", "--tenant", "acme", "--db", &db]);
    assert_success(&export);
    let exported = text(&export.stdout);
    let types: Vec<String> = exported
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(types, ["audit.tenant.created", "audit.key.created", "audit.key.revoked"]);
    assert!(exported.contains("\"operator\""), "{exported}");
    assert!(!exported.contains(secret), "no secret in the trail");
    let no_tenant = s.run(&["key", "create", "--tenant", "nope", "--role", "read", "--db", &db]);
    assert!(assert_clean_failure(&no_tenant).contains("no tenant `nope`"));
}

/// A PostgreSQL database that cannot be opened (an unknown role, a missing database) is a clean
/// failure naming the URL with its password masked.
#[test]
fn an_unusable_postgres_database_fails_with_a_clear_message_and_no_password() {
    let s = Sandbox::new();
    for args in [
        vec!["tenant", "list", "--db", "postgres://spine:hunter2@127.0.0.1:5432/spine_missing"],
        vec!["migrate", "--db", "postgresql://postgres:hunter2@127.0.0.1:5432/spine_missing"],
    ] {
        let out = s.run(&args);
        let stderr = assert_clean_failure(&out);
        assert!(stderr.contains("opening postgres"), "{stderr}");
        assert!(stderr.contains("***@127.0.0.1:5432/spine_missing"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    }
}

#[test]
fn settings_come_from_flags_then_environment_then_spine_toml() {
    let s = Sandbox::new();
    std::fs::write(s.path("spine.toml"), "db = \"from-file.db\"\n").unwrap();
    assert_success(&s.run(&["migrate"]));
    assert!(s.path("from-file.db").exists());

    let out = s.command(&["migrate"]).env("SPINE_DB", "from-env.db").output().unwrap();
    assert_success(&out);
    assert!(s.path("from-env.db").exists());

    let out =
        s.command(&["migrate", "--db", "from-flag.db"]).env("SPINE_DB", "x.db").output().unwrap();
    assert_success(&out);
    assert!(s.path("from-flag.db").exists());
    assert!(!s.path("x.db").exists());

    std::fs::write(s.path("spine.toml"), "dbb = \"typo.db\"\n").unwrap();
    let out = s.run(&["migrate"]);
    assert!(assert_clean_failure(&out).contains("dbb"));

    let out = s.run(&["migrate", "--config", "missing.toml"]);
    assert!(assert_clean_failure(&out).contains("missing.toml"));
}

#[test]
fn bench_refuses_unknown_sections() {
    let out = Sandbox::new().run(&["bench", "--only", "everything"]);
    let stderr = assert_clean_failure(&out);
    assert!(stderr.contains("unknown section"), "{stderr}");
    let out = Sandbox::new().run(&["bench", "--only", "fanout", "--transports", "carrier-pigeon"]);
    let stderr = assert_clean_failure(&out);
    assert!(stderr.contains("not sse or ws"), "{stderr}");
}

/// The fan-out section end to end at a tiny size: a child `spine serve`, 20 real subscribers
/// over SSE and then over WebSocket, paced publishes and a burst, every delivery accounted for
/// (and nchan beside it when nginx is installed). Its full size is run by hand, see
/// BENCHMARKS.md.
#[test]
fn bench_fanout_runs_at_a_tiny_size_and_every_subscriber_gets_every_event() {
    let s = Sandbox::new();
    let dir = s.path("fanout");
    let out = s.run(&[
        "bench",
        "--only",
        "fanout",
        "--subscribers",
        "20",
        "--fanout-events",
        "5",
        "--fanout-interval-ms",
        "20",
        "--fanout-burst",
        "10",
        "--json",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["name"] == name);
    // Server-Sent Events and WebSocket subscribers alike.
    for kind in ["", " ws"] {
        let p99 = row(&format!("fanout 20{kind} subs: publish->last p99")).expect("a latency row");
        assert!(p99["value"].as_f64().unwrap() > 0.0, "{p99}");
        let rate = row(&format!("fanout 20{kind} subs: deliveries/s (burst of 10)"))
            .expect("a throughput row");
        assert!(rate["value"].as_f64().unwrap() > 0.0, "{rate}");
    }
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(
        !names.iter().any(|n| n.contains("missed") || n.contains("subscribers live")),
        "every subscriber connected and got every event exactly once: {names:?}\n{stdout}"
    );
}

/// Runs the storage sections (ingest, http, feed, work) at a tiny size with `extra` arguments; the
/// report's rows, each checked to have a positive value.
fn tiny_storage_bench(s: &Sandbox, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![
        "bench",
        "--only",
        "ingest,http,feed,work",
        "--work-jobs",
        "200",
        "--ingest-events",
        "2000",
        "--seconds",
        "1",
        "--connections",
        "4",
        "--feed-events",
        "3000",
        "--samples",
        "10",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = s.run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let rows = rows.as_array().unwrap().clone();
    for r in &rows {
        let value = r["value"].as_f64().unwrap();
        // How far the indexer fell behind may be nothing at this size; every other row measures
        // something that takes time or space.
        let may_be_zero = r["name"].as_str().unwrap().contains("indexer: most events behind");
        assert!(value > 0.0 || (may_be_zero && value == 0.0), "{r}");
    }
    rows
}

fn row_names(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["name"].as_str().unwrap()).collect()
}

#[test]
fn bench_times_the_hook_beside_true_and_curl() {
    let s = Sandbox::new();
    let dir = s.path("bench");
    let out = s.run(&[
        "bench",
        "--only",
        "hook",
        "--hook-calls",
        "5",
        "--json",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let rows: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let names: Vec<&str> =
        rows.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    for expected in [
        "baseline: `true`, 5 calls, p50",
        "baseline: curl posting the hook, p99 (vs true)",
        "spine hook claude-code, server up, p50 (vs curl)",
        "spine hook claude-code, server down, p99 (vs curl)",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(rows.as_array().unwrap().iter().all(|r| r["value"].as_f64().unwrap() > 0.0));
}

#[test]
fn bench_runs_the_storage_sections_at_a_tiny_size_and_reports_rows() {
    let s = Sandbox::new();
    let dir = s.path("bench");
    let rows = tiny_storage_bench(&s, &["--dir", dir.to_str().unwrap()]);
    let names = row_names(&rows);
    for expected in [
        "baseline: plain SQLite insert loop",
        "in-process ingest, batches of 1000",
        "HTTP batched ingest",
        "baseline: plain SQL claim+complete loop, 1 at a time",
        "baseline: plain SQL claim+complete loop, 100 per claim",
        "work in process: claim+complete 1 at a time",
        "work in process: 100 per claim",
        "work over HTTP: claim+complete 1 at a time",
        "work over HTTP: 100 per claim",
        "event posted -> job claimed by a waiting worker, p99",
    ] {
        assert!(names.iter().any(|n| n.starts_with(expected)), "{expected} missing from {names:?}");
    }
    assert!(names.iter().any(|n| n.contains("deep (90 %)")), "{names:?}");
}

/// The bench databases on the server (`spine_bench_*`) and the fence roles with no database.
async fn bench_leftovers(server: &str) -> (Vec<String>, Vec<String>) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server).await.expect("connect to the test server");
    let databases = sqlx::query_scalar(
        "select datname::text from pg_database where left(datname, 12) = 'spine_bench_'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let orphan_roles = sqlx::query_scalar(
        "select rolname::text from pg_roles r where left(rolname, 12) = 'spine_fence_'
         and not exists (select from pg_database d
                         where 'spine_fence_' || substr(md5(d.datname), 1, 20) = r.rolname)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    (databases, orphan_roles)
}

/// The storage sections on PostgreSQL at a tiny size: every row (baselines, one and two nodes,
/// every feed case) is reported, and the databases the harness created, with their fence roles,
/// are gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_on_postgres_reports_every_row_and_drops_its_databases() {
    let server = spine_postgres::testing::base_url();
    let (databases_before, roles_before) = bench_leftovers(&server).await;
    let s = Sandbox::new();
    let rows = tiny_storage_bench(&s, &["--db", &server]);
    let names = row_names(&rows);
    let mut expected = vec![
        "baseline: plain PostgreSQL insert loop".to_owned(),
        "seeding 3000 events".to_owned(),
        "feed page tag=billing, deep (90 %): p99".to_owned(),
        "entity timeline, first page: p99".to_owned(),
        "full-text q, first page: p99".to_owned(),
        "baseline: the same first page as raw SQL: p99".to_owned(),
        "baseline: plain SKIP LOCKED claim+complete loop, 1 at a time".to_owned(),
        "baseline: plain SKIP LOCKED claim+complete loop, 100 per claim".to_owned(),
    ];
    for nodes in [", 1 node", ", 2 nodes"] {
        for row in [
            "in-process ingest, batches of 1000",
            "in-process ingest, 256 tasks x single events",
            "HTTP single-event ingest, 4 connections",
            "HTTP batched ingest, 1000/batch, 4 connections",
            "work in process: claim+complete 1 at a time",
            "work in process: 100 per claim",
            "work over HTTP: claim+complete 1 at a time",
            "work over HTTP: 100 per claim",
            "event posted -> job claimed by a waiting worker, p50",
        ] {
            expected.push(format!("{row}{nodes}"));
        }
    }
    for expected in &expected {
        assert!(
            names.iter().any(|n| n.starts_with(expected.as_str())),
            "{expected} missing: {names:?}"
        );
    }
    for nodes in [", 1 node", ", 2 nodes"] {
        let p99 = format!("(80 %): p99{nodes}");
        assert!(names.iter().any(|n| n.ends_with(&p99)), "{p99} missing: {names:?}");
    }
    let (databases, roles) = bench_leftovers(&server).await;
    let new_databases: Vec<_> =
        databases.iter().filter(|d| !databases_before.contains(d)).collect();
    let new_roles: Vec<_> = roles.iter().filter(|r| !roles_before.contains(r)).collect();
    assert!(new_databases.is_empty(), "left behind: {new_databases:?}");
    assert!(new_roles.is_empty(), "fence roles left behind: {new_roles:?}");
}

#[test]
fn read_only_commands_refuse_a_missing_database_instead_of_creating_it() {
    let s = Sandbox::new();
    let db = s.db("typo.db");
    for args in [
        vec!["tenant", "list", "--db", &db],
        vec!["key", "list", "--tenant", "acme", "--db", &db],
        vec!["export", "--tenant", "acme", "--db", &db],
    ] {
        let stderr = assert_clean_failure(&s.run(&args));
        assert!(stderr.contains("does not exist"), "{stderr}");
    }
    assert!(!s.path("typo.db").exists());
}
