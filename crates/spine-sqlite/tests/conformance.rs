//! Runs the shared conformance suite against a fresh SQLite file per case.

use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::conformance::Fixture;
use spine_store::Store;
use std::sync::Arc;

/// A migrated store in its own temporary directory, removed after the case.
async fn fresh_store() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested").join("spine.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::open(&url, SqliteOptions { durable: false, ..Default::default() })
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    Fixture::new(Arc::new(store), dir)
}

spine_store::conformance_tests!(fresh_store());
