//! Durability (SPEC section 12): an event acknowledged with a 2xx survives `kill -9` of the
//! server at any moment. Starts the real `spine` binary, posts from several clients, kills it
//! with SIGKILL mid-stream, restarts it on the same file and finds every acknowledged event.

use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_spine");

/// Starts `spine serve` on an ephemeral port and returns the child and its base URL, read from
/// what the server prints when it is listening.
fn start_server(db: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
        .env("SPINE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spine serve");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(start) = line.find("http://127.0.0.1:") {
                    let url: String = line[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.'))
                        .collect();
                    let _ = tx.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
    }
    let url = rx.recv_timeout(Duration::from_secs(60)).expect("server printed its URL");
    (child, url)
}

async fn wait_healthy(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{url}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {url} never became healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("spine.db").display());
    let out = Command::new(BIN)
        .args(["tenant", "create", "crash-test", "--json", "--db", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["admin_key"].as_str().unwrap().to_owned();

    let (mut child, url) = start_server(&db);
    let client = reqwest::Client::new();
    wait_healthy(&client, &url).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..6 {
        let (client, url, key, acked) = (client.clone(), url.clone(), key.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let single = i % 4 != 0;
                let r = if single {
                    client
                        .post(format!("{url}/v1/events"))
                        .bearer_auth(&key)
                        .json(&json!({"type": "crash.test", "title": format!("w{w} e{i}")}))
                        .send()
                        .await
                } else {
                    let events: Vec<Value> = (0..20)
                        .map(|j| json!({"type": "crash.batch", "title": format!("w{w} b{i} {j}")}))
                        .collect();
                    client
                        .post(format!("{url}/v1/events/batch"))
                        .bearer_auth(&key)
                        .json(&json!({"events": events}))
                        .send()
                        .await
                };
                let Ok(r) = r else { break };
                if !r.status().is_success() {
                    break;
                }
                let Ok(body) = r.json::<Value>().await else { break };
                let mut acked = acked.lock().unwrap();
                if single {
                    acked.push(body["id"].as_str().unwrap().to_owned());
                } else {
                    for item in body["items"].as_array().unwrap() {
                        acked.push(item["event"]["id"].as_str().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    // Let the writers get going, then kill the server while requests are in flight.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let (mut child, url) = start_server(&db);
    wait_healthy(&client, &url).await;
    let mut stored = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = client
            .get(format!("{url}/v1/events"))
            .bearer_auth(&key)
            .query(&[("order", "seq"), ("limit", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page: Value = req.send().await.unwrap().json().await.unwrap();
        for e in page["items"].as_array().unwrap() {
            stored.insert(e["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    child.kill().ok();
    child.wait().ok();
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// Posts batches of 500 events until the server stops answering; the titles of the
/// acknowledged ones. Each title carries a word of its own (`w{writer}x{batch}x{i}`).
async fn flood(client: reqwest::Client, url: String, key: String, writer: usize) -> Vec<String> {
    let mut acked = Vec::new();
    for b in 0.. {
        let events: Vec<Value> = (0..500)
            .map(|i| {
                json!({"type": "flood.event", "title": format!("flood w{writer}x{b}x{i} word"),
                       "actor": {"id": format!("u{}", i % 13)}, "tags": [format!("t{}", i % 5)]})
            })
            .collect();
        let sent = client
            .post(format!("{url}/v1/events/batch"))
            .bearer_auth(&key)
            .json(&json!({"events": events}))
            .send()
            .await;
        let Ok(r) = sent else { break };
        if !r.status().is_success() || r.json::<Value>().await.is_err() {
            break;
        }
        acked.extend((0..500).map(|i| format!("w{writer}x{b}x{i}")));
    }
    acked
}

/// The index against the log, read from the file: (positions the indexer has not reached,
/// key rows missing, key rows extra, full-text documents, events).
async fn index_against_log(path: &std::path::Path) -> (i64, i64, i64, i64, i64) {
    use sqlx::{ConnectOptions, Row};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .expect("open the file");
    let index = spine_sqlite::SqliteStore::index_path(path);
    sqlx::query("attach database ? as idx")
        .bind(index.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .expect("attach the index file");
    let row = sqlx::query(
        "select (select last_seq from meta) - (select indexed_seq from idx.index_meta),
                (select count(*) from (select * from event_key_rows except select * from idx.event_keys)),
                (select count(*) from (select * from idx.event_keys except select * from event_key_rows)),
                (select count(*) from idx.events_fts_docsize),
                (select count(*) from events)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("compare");
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_index_converges_to_the_log_after_sigkill_mid_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spine.db");
    let db = format!("sqlite://{}", path.display());
    let out = Command::new(BIN)
        .args(["tenant", "create", "index-crash", "--json", "--db", &db])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["admin_key"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();

    // Three times: flood the server with batches (the indexer follows in steps behind the
    // commits) and kill it while they stream in.
    let mut acked = Vec::new();
    for round in 0..3 {
        let (mut child, url) = start_server(&db);
        wait_healthy(&client, &url).await;
        let writers: Vec<_> = (0..3)
            .map(|w| tokio::spawn(flood(client.clone(), url.clone(), key.clone(), round * 3 + w)))
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        for w in writers {
            acked.extend(w.await.unwrap());
        }
    }
    assert!(acked.len() >= 3000, "only {} events were acknowledged", acked.len());

    // Restarted, the indexer picks up from its watermark; a search waits for it.
    let (mut child, url) = start_server(&db);
    wait_healthy(&client, &url).await;
    let search = |word: String| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            let r = client
                .get(format!("{url}/v1/events"))
                .bearer_auth(&key)
                .query(&[("q", word.as_str()), ("limit", "10")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "search for {word}");
            r.json::<Value>().await.unwrap()["items"].as_array().unwrap().len()
        }
    };
    let step = (acked.len() / 50).max(1);
    for word in acked.iter().step_by(step).chain(acked.last()) {
        assert_eq!(search(word.clone()).await, 1, "{word} is found exactly once");
    }
    child.kill().ok();
    child.wait().ok();

    let (behind, missing, extra, documents, events) = index_against_log(&path).await;
    assert_eq!(behind, 0, "the indexer reached the head");
    assert_eq!((missing, extra), (0, 0), "the key rows are exactly the log's");
    assert_eq!(documents, events, "one full-text document per event");
    assert!(events as usize >= acked.len());
}
