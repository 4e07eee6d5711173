//! `spine doctor`: what it says of a healthy deployment, and the fix it gives for each broken
//! part (missing database, unapplied migrations, unusable TLS files, a file limit too low for
//! the configured connections), on SQLite and PostgreSQL.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox};

#[test]
fn a_healthy_sqlite_deployment_passes_and_broken_parts_get_their_fix() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("spine.db");
    assert_success(&sandbox.run(&["migrate", "--db", &db]));
    // Doctor only reads: the index file, which opening the store would create, stays gone.
    let index = sandbox.path("spine.db.index");
    std::fs::remove_file(&index).unwrap();
    let out = sandbox.run(&["doctor", "--db", &db]);
    assert_success(&out);
    assert!(!index.exists(), "doctor wrote the index file");
    let said = text(&out.stdout);
    for line in ["ok    database:", "ok    migrations:", "disk:", "file limit:"] {
        assert!(said.contains(line), "{line} in {said}");
    }

    // No database at the path: refused with the command that creates one, and none created.
    let missing = sandbox.path("missing.db");
    let out = sandbox.run(&["doctor", "--db", &format!("sqlite://{}", missing.display())]);
    assert_clean_failure(&out);
    let said = text(&out.stdout);
    assert!(said.contains("FAIL  database") && said.contains("spine migrate"), "{said}");
    assert!(!missing.exists(), "doctor never creates a database");

    // TLS files that are not a certificate and its key, and far more connections than files.
    std::fs::write(sandbox.path("cert.pem"), "not a certificate").unwrap();
    let cert = sandbox.path("cert.pem").display().to_string();
    let out = sandbox
        .command(&["doctor", "--db", &db, "--json"])
        .env("SPINE_TLS_CERT", &cert)
        .env("SPINE_TLS_KEY", &cert)
        .env("SPINE_MAX_CONNECTIONS", "4000000000")
        .env("SPINE_MAX_STREAMS", "4000000000")
        .output()
        .unwrap();
    assert_clean_failure(&out);
    let findings: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let status = |check: &str| {
        let found = findings.iter().find(|f| f["check"] == check);
        found.map(|f| f["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("database").as_deref(), Some("ok"));
    assert_eq!(status("tls").as_deref(), Some("fail"));
    assert_eq!(status("file limit").as_deref(), Some("fail"));
    assert!(findings.iter().all(|f| f["status"] == "ok" || f["fix"].is_string()), "{findings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_gets_its_migrations_and_clock_checked() {
    let (pg, _database) = spine_postgres::testing::fresh_database().await;
    let sandbox = Sandbox::new();
    // Not migrated yet: the fix is `spine migrate`.
    let out = sandbox.run(&["doctor", "--db", &pg]);
    assert_clean_failure(&out);
    let said = text(&out.stdout);
    assert!(said.contains("FAIL  migrations") && said.contains("spine migrate"), "{said}");

    assert_success(&sandbox.run(&["migrate", "--db", &pg]));
    let out = sandbox.run(&["doctor", "--db", &pg]);
    assert_success(&out);
    let said = text(&out.stdout);
    assert!(said.contains("ok    migrations:"), "{said}");
    assert!(said.contains("clock: PostgreSQL's clock is"), "{said}");
}
