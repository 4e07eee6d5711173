//! Throwaway databases for tests (this crate's, and the CLI's and server's that run against
//! PostgreSQL): each test gets a database of its own on the server named by `SPINE_TEST_PG`
//! (default: a local trust-auth server, `postgres://postgres@127.0.0.1:5432/test`), dropped
//! when its guard is dropped.

use crate::{PgOptions, PgStore};
use spine_store::conformance::Fixture;
use spine_store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;

/// The server to create test databases on; its database is only used to create and drop them.
pub fn base_url() -> String {
    std::env::var("SPINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `base` with its database replaced by `name`.
fn url_for(base: &str, name: &str) -> String {
    let (server, query) = base.split_once('?').map_or((base, None), |(s, q)| (s, Some(q)));
    let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Drops its database when dropped, after closing the stores on it (remaining connections are
/// closed by force).
pub struct TestDatabase {
    base: String,
    name: String,
    /// Stores to close first.
    pub stores: Vec<PgStore>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let stores = std::mem::take(&mut self.stores);
        // Drop is synchronous and may run inside the test's runtime: do the work on a thread of
        // its own with a small runtime, and wait for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                for store in stores {
                    store.close().await;
                }
                let mut conn = PgConnection::connect(&base).await?;
                conn.execute(format!("drop database if exists \"{name}\" with (force)").as_str())
                    .await?;
                // The database's fence role (migration 0002) outlives it: drop it too.
                let role: String =
                    sqlx::query_scalar("select 'spine_fence_' || substr(md5($1), 1, 20)")
                        .bind(&name)
                        .fetch_one(&mut conn)
                        .await?;
                conn.execute(format!("drop role if exists \"{role}\"").as_str()).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A new, empty database; its URL and the guard that drops it (after closing `stores`).
pub async fn fresh_database() -> (String, TestDatabase) {
    let base = base_url();
    let name = format!("spine_t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&base).await.expect("connect to the test server");
    admin.execute(format!("create database \"{name}\"").as_str()).await.expect("create database");
    admin.close().await.expect("close");
    let url = url_for(&base, &name);
    (url, TestDatabase { base, name, stores: Vec::new() })
}

/// A store on `url` (not migrated), as one node would open it.
pub async fn open(url: &str) -> PgStore {
    let options = PgOptions { max_connections: 4, ..Default::default() };
    PgStore::open(url, options).await.expect("open")
}

/// A migrated store on a database of its own.
pub async fn fresh_store() -> Fixture {
    let (url, mut db) = fresh_database().await;
    let store = open(&url).await;
    store.migrate().await.expect("migrate");
    db.stores.push(store.clone());
    Fixture::new(Arc::new(store), db)
}

/// Runs `sql` (which should name no tenant: the point is to see what row-level security lets
/// through) in a transaction the store fences to `tenants`, as every store transaction is, and
/// returns the `tenant` column of each row.
pub async fn fenced_tenants(
    store: &PgStore,
    tenants: &[&spine_core::TenantId],
    sql: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = crate::fence::begin(&store.pool, tenants.iter().copied())
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *tx).await?;
    tx.rollback().await?;
    Ok(rows)
}

/// Runs `sql` on a connection straight from the store's pool, without beginning a fenced
/// transaction (a query that forgot the fence), and returns the first column of each row.
pub async fn unfenced_tenants(store: &PgStore, sql: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(sql).fetch_all(&store.pool).await
}
