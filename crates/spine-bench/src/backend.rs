//! Which store the storage sections measure: SQLite files in a directory (the default), or
//! throwaway databases on a PostgreSQL server (`--db postgres://...`), created per measurement
//! and dropped at the end. Also the per-backend baselines and the nodes ("two nodes" = two
//! independent stores on one database, as two spine processes would be).

use crate::{baseline, baseline_pg};
use spine_core::NewEvent;
use spine_postgres::{PgOptions, PgStore};
use spine_store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Where the measured stores live.
pub enum Backend {
    /// SQLite database files in this directory.
    Sqlite(PathBuf),
    /// Databases created on this PostgreSQL server.
    Postgres(PgServer),
}

/// A PostgreSQL server the harness creates its databases on, and the names of those it made
/// (dropped by [`Backend::drop_databases`], with each database's fence role).
pub struct PgServer {
    /// The URL given on the command line; its database is only used to create and drop ours.
    url: String,
    /// Databases created so far.
    made: Mutex<Vec<String>>,
}

/// One measured database: a SQLite file or a PostgreSQL database URL.
pub enum Place {
    /// The database file.
    Sqlite(PathBuf),
    /// The database's URL (connecting as its owner, who is not subject to row-level security).
    Postgres(String),
}

/// One store opened on a [`Place`], as one spine process would open it.
#[derive(Clone)]
pub enum Node {
    /// A SQLite store.
    Sqlite(Arc<spine_sqlite::SqliteStore>),
    /// A PostgreSQL store: its own pool and group-commit writer.
    Postgres(Arc<PgStore>),
}

impl Node {
    /// The store behind the trait every section uses.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Node::Sqlite(s) => s.clone(),
            Node::Postgres(s) => s.clone(),
        }
    }

    /// Lets the writer finish, then closes the store's connections.
    pub async fn close(&self) {
        match self {
            Node::Sqlite(s) => s.close().await,
            Node::Postgres(s) => s.close().await,
        }
    }
}

impl Backend {
    /// PostgreSQL at `url` when given, else SQLite files in `dir`.
    pub fn new(postgres: Option<&str>, dir: &Path) -> Self {
        match postgres {
            Some(url) => {
                Backend::Postgres(PgServer { url: url.to_owned(), made: Mutex::default() })
            }
            None => Backend::Sqlite(dir.to_path_buf()),
        }
    }

    /// The node counts each ingest measurement runs with: SQLite has one writer process, so one;
    /// PostgreSQL is shared by many nodes, so one and two.
    pub fn node_counts(&self) -> &'static [usize] {
        match self {
            Backend::Sqlite(_) => &[1],
            Backend::Postgres(_) => &[1, 2],
        }
    }

    /// What goes after a row's name: nothing on SQLite (the rows keep their names), the node
    /// count on PostgreSQL.
    pub fn suffix(&self, nodes: usize) -> String {
        match (self, nodes) {
            (Backend::Sqlite(_), _) => String::new(),
            (Backend::Postgres(_), 1) => ", 1 node".to_owned(),
            (Backend::Postgres(_), n) => format!(", {n} nodes"),
        }
    }

    /// The ingest baseline's row name.
    pub fn baseline_name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "baseline: plain SQLite insert loop",
            Backend::Postgres(_) => "baseline: plain PostgreSQL insert loop",
        }
    }

    /// SPEC's batched-HTTP target for this backend.
    pub fn batched_http_target(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => ">= 200000",
            Backend::Postgres(_) => ">= 100000",
        }
    }

    /// A fresh, empty database named after `name`, migrated by the store, and `nodes` stores
    /// opened on it (SQLite: exactly one).
    pub async fn fresh(&self, name: &str, nodes: usize) -> BenchResult<(Place, Vec<Node>)> {
        match self {
            Backend::Sqlite(dir) => {
                if nodes != 1 {
                    return Err("SQLite is measured with one node".into());
                }
                let store = fresh_sqlite(dir, &format!("{name}.db")).await?;
                Ok((Place::Sqlite(dir.join(format!("{name}.db"))), vec![Node::Sqlite(store)]))
            }
            Backend::Postgres(server) => {
                let url = server.create_database().await?;
                let mut opened = Vec::with_capacity(nodes);
                for _ in 0..nodes.max(1) {
                    let store = PgStore::open(&url, PgOptions::default()).await?;
                    store.migrate().await?;
                    opened.push(Node::Postgres(Arc::new(store)));
                }
                Ok((Place::Postgres(url), opened))
            }
        }
    }

    /// The ingest baseline's events/s: `events` inserted by a plain loop into a fresh database
    /// migrated by the store.
    pub async fn insert_rate(&self, name: &str, events: &[NewEvent]) -> BenchResult<f64> {
        let (place, nodes) = self.fresh(name, 1).await?;
        for node in nodes {
            node.close().await;
        }
        match place {
            Place::Sqlite(path) => baseline::insert_rate(&path, events).await,
            Place::Postgres(url) => baseline_pg::insert_rate(&url, events).await,
        }
    }

    /// Drops every database this run created on PostgreSQL, and their fence roles; nothing on
    /// SQLite (the directory is the caller's).
    pub async fn drop_databases(&self) -> BenchResult<()> {
        match self {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(server) => server.drop_databases().await,
        }
    }
}

impl Place {
    /// Readies a seeded database for timed reads: SQLite folds its WAL into the file; PostgreSQL
    /// vacuums (the visibility map lets index-only scans skip the heap) and analyzes.
    pub async fn settle_for_reads(&self) -> BenchResult<()> {
        match self {
            Place::Sqlite(path) => baseline::checkpoint(path).await,
            Place::Postgres(url) => {
                let mut conn = PgConnection::connect(url).await?;
                conn.execute("vacuum (analyze) events, event_tags").await?;
                conn.close().await?;
                Ok(())
            }
        }
    }

    /// Gives PostgreSQL's planner statistics of freshly seeded jobs and events, as autovacuum
    /// would within a minute on a live database (without them it plans the claim's and the
    /// settlement's joins as if the tables were empty); nothing on SQLite.
    pub async fn analyze_jobs(&self) -> BenchResult<()> {
        match self {
            Place::Sqlite(_) => Ok(()),
            Place::Postgres(url) => {
                let mut conn = PgConnection::connect(url).await?;
                conn.execute("analyze jobs, events").await?;
                conn.close().await?;
                Ok(())
            }
        }
    }

    /// Times the default feed's first page as one raw SQL statement, `n` times.
    pub async fn feed_page_samples(&self, tenant: &str, n: usize) -> BenchResult<Vec<Duration>> {
        match self {
            Place::Sqlite(path) => baseline::feed_page_samples(path, tenant, n).await,
            Place::Postgres(url) => baseline_pg::feed_page_samples(url, tenant, n).await,
        }
    }
}

impl PgServer {
    /// Creates `spine_bench_<uuid>` and returns its URL.
    async fn create_database(&self) -> BenchResult<String> {
        let name = format!("spine_bench_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&self.url).await?;
        admin.execute(format!("create database \"{name}\"").as_str()).await?;
        admin.close().await?;
        let url = url_with_database(&self.url, &name);
        self.made.lock().map_err(|_| "poisoned")?.push(name);
        Ok(url)
    }

    async fn drop_databases(&self) -> BenchResult<()> {
        let made = std::mem::take(&mut *self.made.lock().map_err(|_| "poisoned")?);
        if made.is_empty() {
            return Ok(());
        }
        let mut admin = PgConnection::connect(&self.url).await?;
        for name in made {
            admin
                .execute(format!("drop database if exists \"{name}\" with (force)").as_str())
                .await?;
            // Migration 0002 made a fence role for the database; it outlives the database.
            let role: String =
                sqlx::query_scalar("select 'spine_fence_' || substr(md5($1), 1, 20)")
                    .bind(&name)
                    .fetch_one(&mut admin)
                    .await?;
            admin.execute(format!("drop role if exists \"{role}\"").as_str()).await?;
        }
        admin.close().await?;
        Ok(())
    }
}

/// `url` with its database replaced by `name` (query parameters kept).
fn url_with_database(url: &str, name: &str) -> String {
    let (server, query) = url.split_once('?').map_or((url, None), |(s, q)| (s, Some(q)));
    let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Opens a fresh, migrated SQLite store at `dir/file`.
pub(crate) async fn fresh_sqlite(
    dir: &Path,
    file: &str,
) -> Result<Arc<spine_sqlite::SqliteStore>, spine_store::StoreError> {
    let path = dir.join(file);
    // The log and its index file (`<db>.index`), each with its WAL.
    for suffix in ["", "-wal", "-shm", ".index", ".index-wal", ".index-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = spine_sqlite::SqliteStore::open(
        &format!("sqlite://{}", path.display()),
        Default::default(),
    )
    .await?;
    spine_store::Store::migrate(&store).await?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_parameters_kept() {
        assert_eq!(url_with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            url_with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
