//! The integration harness: every test gets its own SQLite file and its own real server on
//! port 0, and talks to it over HTTP. [`spawn_postgres_nodes`] starts several servers (nodes)
//! sharing one fresh PostgreSQL database instead, as spine processes behind a load balancer.

#![allow(dead_code)]

pub mod receiver;
pub mod signer;
pub mod sse;
pub mod ws;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use spine_core::{Role, TenantId};
use spine_server::{provision, run, ServerConfig};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// One tenant's credentials.
#[derive(Clone)]
pub struct TenantKeys {
    pub id: TenantId,
    pub admin: String,
    pub ingest: String,
    pub read: String,
    pub worker: String,
}

/// A running server with two tenants, `a` and `b`.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: Client,
    pub store: Arc<dyn Store>,
    pub a: TenantKeys,
    pub b: TenantKeys,
    pub admin_token: String,
    /// The PostgreSQL database's URL, for nodes from [`spawn_postgres_nodes`].
    pub database_url: Option<String>,
    /// The configuration it runs with.
    pub config: ServerConfig,
    _stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    /// Keeps the database alive (a temporary directory, or a PostgreSQL test database).
    _storage: Arc<dyn std::any::Any + Send + Sync>,
}

async fn tenant(store: &Arc<dyn Store>, name: &str) -> TenantKeys {
    let (t, admin) = provision::create_tenant_with_admin_key(store.as_ref(), name).await.unwrap();
    let key = |role| provision::generate_key(role, None);
    let (ingest, ingest_new) = key(Role::Ingest);
    let (read, read_new) = key(Role::Read);
    let (worker, worker_new) = key(Role::Worker);
    store.create_key(&t.id, ingest_new).await.unwrap();
    store.create_key(&t.id, read_new).await.unwrap();
    store.create_key(&t.id, worker_new).await.unwrap();
    TenantKeys { id: t.id, admin, ingest, read, worker }
}

/// Starts a server with the default configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(ServerConfig::default()).await
}

/// Starts a server with `config` (the admin token is always set).
pub async fn spawn_app_with(config: ServerConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("spine.db").display());
    let store = SqliteStore::open(&url, SqliteOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let a = tenant(&store, "tenant-a").await;
    let b = tenant(&store, "tenant-b").await;
    start(store, a, b, config, Arc::new(dir)).await
}

/// `n` servers, each on a store of its own (its own pool, writer and notice listener, as a
/// separate process would have) over one fresh PostgreSQL database, serving the same tenants.
pub async fn spawn_postgres_nodes(n: usize, config: ServerConfig) -> Vec<Arc<TestApp>> {
    let (url, mut db) = spine_postgres::testing::fresh_database().await;
    let mut stores = Vec::new();
    for _ in 0..n {
        stores.push(spine_postgres::testing::open(&url).await);
    }
    db.stores.extend(stores.iter().cloned());
    stores[0].migrate().await.unwrap();
    let first: Arc<dyn Store> = Arc::new(stores[0].clone());
    let a = tenant(&first, "tenant-a").await;
    let b = tenant(&first, "tenant-b").await;
    let db: Arc<dyn std::any::Any + Send + Sync> = Arc::new(db);
    let mut nodes = Vec::new();
    for store in stores {
        let mut app =
            start(Arc::new(store), a.clone(), b.clone(), config.clone(), db.clone()).await;
        app.database_url = Some(url.clone());
        nodes.push(Arc::new(app));
    }
    nodes
}

/// Starts a server on `store`, whose tenants `a` and `b` exist already.
async fn start(
    store: Arc<dyn Store>,
    a: TenantKeys,
    b: TenantKeys,
    mut config: ServerConfig,
    storage: Arc<dyn std::any::Any + Send + Sync>,
) -> TestApp {
    let admin_token = "operator-token-for-tests-0123456789".to_owned();
    config.admin_token = Some(admin_token.clone());
    let kept_config = config.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server_store = store.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        run(listener, server_store, config, shutdown).await.unwrap();
    });
    let client = Client::builder().pool_max_idle_per_host(64).build().unwrap();
    TestApp {
        addr,
        client,
        store,
        a,
        b,
        admin_token,
        database_url: None,
        config: kept_config,
        _stop: stop,
        server,
        _storage: storage,
    }
}

/// Another node on the PostgreSQL database of `node` (from [`spawn_postgres_nodes`]), serving
/// the same tenants with `config`.
pub async fn add_postgres_node(node: &TestApp, config: ServerConfig) -> TestApp {
    let url = node.database_url.clone().expect("a PostgreSQL node");
    let store = spine_postgres::testing::open(&url).await;
    let mut app =
        start(Arc::new(store), node.a.clone(), node.b.clone(), config, node._storage.clone()).await;
    app.database_url = Some(url);
    app
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same store and configuration
    /// (a restart: everything the process held in memory is gone, the database stays).
    pub async fn restart(self) -> TestApp {
        let (store, a, b, config, storage, url) = (
            self.store.clone(),
            self.a.clone(),
            self.b.clone(),
            self.config.clone(),
            self._storage.clone(),
            self.database_url.clone(),
        );
        self.shut_down().await;
        let mut app = start(store, a, b, config, storage).await;
        app.database_url = url;
        app
    }

    /// Kills the server without a shutdown (its tasks are dropped where they stand, as when a
    /// process dies): nothing is handed over.
    pub fn crash(self) {
        self.server.abort();
    }

    /// Fires the server's shutdown signal and waits (at most 10 s) for `run` to return.
    pub async fn shut_down(self) {
        let _ = self._stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(10), self.server)
            .await
            .expect("the server stops within 10 s")
            .expect("the server task did not panic");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn req(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(key)
    }

    pub async fn post_event(&self, key: &str, body: &Value) -> Response {
        self.req(Method::POST, "/v1/events", key).json(body).send().await.unwrap()
    }

    /// Posts `events` as one batch with tenant a's ingest key and returns the answer's JSON,
    /// asserting it was accepted.
    pub async fn create_batch(&self, events: &[Value]) -> Value {
        let r = self
            .req(Method::POST, "/v1/events/batch", &self.a.ingest)
            .json(&serde_json::json!({ "events": events }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        r.json().await.unwrap()
    }

    /// Posts an event and returns its JSON, asserting it was created.
    pub async fn create_event(&self, key: &str, body: &Value) -> Value {
        let r = self.post_event(key, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
        r.json().await.unwrap()
    }

    pub async fn get_json(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let r = self.req(Method::GET, path, key).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// How many events the tenant holds, read through the store (not the API under test).
    pub async fn count(&self, tenant: &TenantId) -> u64 {
        self.store.stats(tenant, &Default::default()).await.unwrap().total
    }
}

/// A small valid event.
pub fn event(title: &str) -> Value {
    json!({
        "type": "task.created",
        "action": "created",
        "title": title,
        "actor": {"id": "u1", "name": "Ana", "kind": "user"},
        "entity": {"type": "task", "id": "t-1", "name": "Update docs"},
        "tags": ["docs"],
    })
}

/// Asserts `r` is an RFC 9457 problem with `status`, returning its body.
pub async fn assert_problem(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "body: {body}");
    assert!(ct.starts_with("application/problem+json"), "content type {ct} for {body}");
    assert_eq!(body["status"], json!(status.as_u16()), "{body}");
    assert!(body["title"].is_string() && body["type"].is_string(), "{body}");
    body
}
