//! Smoke test: a real server on port 0 over a fresh SQLite file, a tenant and keys made with
//! `provision`, one event posted over HTTP and read back from the feed.

use serde_json::{json, Value};
use spine_core::{Role, TenantId};
use spine_server::{provision, ServerConfig};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::Store;
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn posted_event_comes_back_in_the_feed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("spine.db").display());
    let store = SqliteStore::open(&url, SqliteOptions::default()).await?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(store);

    let (tenant, _admin) =
        provision::create_tenant_with_admin_key(store.as_ref(), "Smoke Co").await?;
    assert_eq!(tenant.id, TenantId::parse("smoke-co")?);
    let (ingest, record) = provision::generate_key(Role::Ingest, None);
    store.create_key(&tenant.id, record).await?;
    let (read, record) = provision::generate_key(Role::Read, None);
    store.create_key(&tenant.id, record).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spine_server::run(listener, store, ServerConfig::default(), async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let posted = client
        .post(format!("{base}/v1/events"))
        .bearer_auth(&ingest)
        .json(&json!({"type": "task.created", "title": "Write the smoke test",
            "actor": {"id": "ana", "name": "Ana"}, "entity": {"type": "task", "id": "t1"}}))
        .send()
        .await?;
    assert_eq!(posted.status(), 201);
    assert!(posted.headers().contains_key("location"));
    let event: Value = posted.json().await?;

    let feed = client.get(format!("{base}/v1/events")).bearer_auth(&read).send().await?;
    assert_eq!(feed.status(), 200);
    let feed: Value = feed.json().await?;
    assert_eq!(feed["items"][0]["id"], event["id"]);
    assert_eq!(feed["items"][0]["tenant"], "smoke-co");
    assert!(feed["next_cursor"].is_null());

    let _ = stop.send(());
    server.await??;
    Ok(())
}
