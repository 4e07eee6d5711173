//! `spine backup` under concurrent writes and `spine restore`: every event acknowledged before
//! the snapshot began is in the restored database; a damaged backup file is refused by its
//! checksum; an existing database is replaced only with `--force`.

mod common;

use common::{assert_clean_failure, assert_success, text, Sandbox, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Every event id of `tenant` in the database at `db` (through `spine export`).
fn ids(sandbox: &Sandbox, db: &str, tenant: &str) -> HashSet<String> {
    let out = sandbox.run(&["export", "--tenant", tenant, "--db", db]);
    assert_success(&out);
    text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_writes_restores_every_event_acknowledged_before_it() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("live.db");
    let created = sandbox.json(&["tenant", "create", "backed", "--json", "--db", &db]);
    let key = created["admin_key"].as_str().unwrap().to_owned();
    let server = Server::start(&sandbox, &db);
    let client = reqwest::Client::new();

    // Writers post batches until told to stop, recording what was acknowledged.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (client, url, key) = (client.clone(), server.url.clone(), key.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut b = 0;
            while !stop.load(Ordering::SeqCst) {
                let events: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "backup.test", "title": format!("w{w} b{b} e{i}")}))
                    .collect();
                let r = client
                    .post(format!("{url}/v1/events/batch"))
                    .bearer_auth(&key)
                    .json(&json!({"events": events}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.unwrap();
                let items = body["items"].as_array().unwrap();
                let mut acked = acked.lock().unwrap();
                acked.extend(items.iter().map(|i| i["event"]["id"].as_str().unwrap().to_owned()));
                b += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // The backup runs while the writers go on; what was acknowledged before it began must be
    // in it.
    let before: Vec<String> = acked.lock().unwrap().clone();
    assert!(!before.is_empty(), "the writers acknowledged nothing");
    let file = sandbox.path("live.backup");
    let file_arg = file.display().to_string();
    let out = sandbox.run(&["backup", "--db", &db, "--to", &file_arg, "--json"]);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let after = acked.lock().unwrap().len();
    server.stop();
    assert!(after > before.len(), "the writers kept writing during the backup");

    let restored = sandbox.db("restored.db");
    let out = sandbox.run(&["restore", "--from", &file_arg, "--db", &restored, "--json"]);
    assert_success(&out);
    let restored_summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(restored_summary["sha256"], summary["sha256"]);
    let found = ids(&sandbox, &restored, "backed");
    let missing: Vec<&String> = before.iter().filter(|id| !found.contains(*id)).collect();
    assert!(missing.is_empty(), "{} acknowledged events missing: {missing:?}", missing.len());
    assert_eq!(found.len() as i64, summary["last_seq"].as_i64().unwrap(), "one event per position");

    // The restored database serves: searches (the index is rebuilt from the log) find them.
    let server = Server::start(&sandbox, &restored);
    let r = client
        .get(format!("{}/v1/events", server.url))
        .bearer_auth(&key)
        .query(&[("q", "w0 b0 e7"), ("limit", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    let titles: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["w0 b0 e7"]);
    server.stop();

    // An existing database is not replaced without --force.
    let out = sandbox.run(&["restore", "--from", &file_arg, "--db", &restored]);
    let stderr = assert_clean_failure(&out);
    assert!(stderr.contains("--force"), "{stderr}");
    let out = sandbox.run(&["restore", "--from", &file_arg, "--db", &restored, "--force"]);
    assert_success(&out);
}

#[test]
fn a_damaged_backup_is_refused_and_nothing_is_restored() {
    let sandbox = Sandbox::new();
    let db = sandbox.db("small.db");
    sandbox.json(&["tenant", "create", "small", "--json", "--db", &db]);
    let file = sandbox.path("small.backup");
    let file_arg = file.display().to_string();
    assert_success(&sandbox.run(&["backup", "--db", &db, "--to", &file_arg]));

    // One byte of the compressed data flipped, in the middle of the file.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let damaged = sandbox.path("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = sandbox.path("target.db");
    let out = sandbox.run(&[
        "restore",
        "--from",
        &damaged.display().to_string(),
        "--db",
        &format!("sqlite://{}", target.display()),
    ]);
    let stderr = assert_clean_failure(&out);
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(!target.exists(), "nothing was restored");
    let leftovers: Vec<_> = std::fs::read_dir(sandbox.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("target"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Not a backup at all.
    let out = sandbox.run(&[
        "restore",
        "--from",
        &db.replace("sqlite://", ""),
        "--db",
        &format!("sqlite://{}", target.display()),
    ]);
    assert!(assert_clean_failure(&out).contains("corrupt"));
}
