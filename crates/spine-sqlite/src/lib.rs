//! The embedded SQLite store: one file, WAL, a group-committing writer, FTS5 search and keyset
//! pagination. Nothing to install (SPEC section 2).
//!
//! - this file: [`SqliteStore::open`], [`SqliteOptions`], connection pragmas and the `Store` impl,
//!   which only delegates.
//! - `migrate`: the embedded migrations (`migrations/*.sql`) and their runner.
//! - `writer`: the single writer task that group-commits appends and imports (SPEC principle 5).
//! - `batch`: one group commit: positions, idempotency judgement, summaries, multi-row inserts.
//! - `filters`: how feed filters and viewer scopes become SQL conditions.
//! - `query`: feed pages, single events and the head position.
//! - `read_state`: per-user read watermark plus exceptions, seen watermark, archived events,
//!   and exact unread and unseen counts.
//! - `sessions`: one-time sign-in codes and Activity Center sessions.
//! - `consumers`: the consumer contract: named checkpoints over the log.
//! - `expiry`: the retention contract: policies, expired events removed under the horizon.
//! - `ingest`: the ingestion contracts, delegating to `channels` (ingestion endpoints and their
//!   sealed secrets), `ledger` (inbound requests, written in the group commit of their events)
//!   `identifiers` (e-mail addresses and phone numbers on entities) and `blobs` (uploaded files
//!   in chunks).
//! - `webhooks`: the outbound-webhook contract: endpoints, leases, the delivery log.
//! - `work`: the work contracts, delegating to `jobs` (queue rules, jobs loaded and written by
//!   the group commit, heartbeats, listings) and `notes` (notes on entities).
//! - `limits`: the limits contract: each tenant's limits in two layers, and its usage.
//! - `stats`: counts, grouped or not.
//! - `purge`: removing a tenant's oldest events behind a raised horizon.
//! - `admin`: tenants, API keys, registered types and the server secret.
//! - `tx`: write transactions on the small pools: self-healing `BEGIN IMMEDIATE`, and work
//!   run in its own task so a caller that goes away cannot cancel it halfway.
//! - `error`: the crate's internal error and its mapping to `StoreError`.
//!
//! Connections: one dedicated write connection owned by the writer task; a read pool (queries
//! only, `query_only` set); and a one-connection pool for the small non-event writes (tenants,
//! keys, types, read state, migrations), which SQLite serialises with the writer anyway.

mod admin;
pub mod backup;
mod batch;
mod blobs;
mod channels;
mod consumers;
mod error;
mod expiry;
mod filters;
mod identifiers;
mod indexer;
mod ingest;
mod jobs;
mod ledger;
mod limits;
mod migrate;
mod notes;
mod purge;
mod query;
mod read_state;
mod sessions;
mod stats;
mod tx;
mod webhooks;
mod work;
mod writer;

use async_trait::async_trait;
use error::Error;
use spine_core::{Event, EventType, NewEvent, Scope, Seq, TenantId, Timestamp, TypeInfo, UserId};
use spine_store::{
    ApiKeyInfo, ApiKeyRecord, AppendOutcome, FeedQuery, ImportOutcome, NewApiKey, NewSecret,
    NewSessionSecret, Notice, Page, PurgeOutcome, ReadChange, ReadMarks, ReadNotice, ReadState,
    Redeemed, SecretRecord, Sessions, Stats, StatsQuery, Store, StoreError, StoreResult, Tenant,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::ConnectOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How the store trades durability and batching.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// `synchronous=FULL`: an acknowledged event survives power loss. `false` means `NORMAL`
    /// (survives a process crash, not an OS crash); for benchmarks and throwaway demos.
    pub durable: bool,
    /// The most events one group commit takes from the queue (a single larger request is still
    /// committed whole, never split).
    pub max_batch_events: usize,
    /// Connections in the read pool.
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { durable: true, max_batch_events: 2000, read_connections: 4 }
    }
}

/// The SQLite backend. Cheap to clone: clones share the pools and the writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Feed, stats and lookups; never writes.
    reads: SqlitePool,
    /// Non-event writes (tenants, keys, types, read state, migrations), one at a time.
    admin: SqlitePool,
    /// The group-commit writer for events.
    writer: spine_store::group::WriterHandle,
    /// The indexer's watermark and pause switch.
    indexer: indexer::Follower,
    /// The indexer, on its own connection.
    index_task: tokio::task::JoinHandle<()>,
    /// Copies the WAL back into the database file, off the writer's commit path.
    checkpointer: tokio::task::JoinHandle<()>,
}

/// Accepts `sqlite://PATH`, `sqlite:PATH` or a bare path; a `?query` suffix is ignored.
fn path_from_url(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
    PathBuf::from(rest)
}

/// The pragmas every connection gets; the roles differ only in cache size and `query_only`.
fn connect_options(path: PathBuf, options: &SqliteOptions) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if options.durable {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(false)
        .pragma("temp_store", "memory")
        .pragma("mmap_size", "268435456")
        // The WAL file is kept (up to 512 MiB) after a checkpoint resets it, and the next commits
        // overwrite it from the start. Truncated, every later commit would grow the file again,
        // and on ext4 a sync that grows a file also commits the file system's journal: with a
        // 64 MiB limit, commits stalled for 100-200 ms after each truncation (p99 134 ms at 500
        // single events/s, 6 ms without truncating; BENCHMARKS.md).
        .pragma("journal_size_limit", "536870912")
        .disable_statement_logging()
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directories, and starts the
    /// writer. Does not migrate: call [`Store::migrate`].
    pub async fn open(url: &str, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path_from_url(url);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(StoreError::other)?;
        }
        let base = connect_options(path.clone(), &options);
        // The writer connects first: it creates the file and switches it to WAL.
        // The writer never checkpoints: a checkpoint inside a commit would add the main file's
        // fsync to that commit's latency. The checkpointer task does it in the background.
        let write_options =
            base.clone().pragma("cache_size", "-65536").pragma("wal_autocheckpoint", "0");
        let write_conn = write_options.connect().await.map_err(Error::from)?;
        // The index file, built by the indexer and attached as `idx` wherever it is read.
        let index = indexer::path_of(&path);
        indexer::prepare(&base.clone().filename(&index)).await?;
        indexer::discard_if_foreign(&base, &index).await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(indexer::attacher(index.clone()))
            .connect_with(base.clone().pragma("cache_size", "-16384").pragma("query_only", "true"))
            .await
            .map_err(Error::from)?;
        let admin = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(indexer::attacher(index.clone()))
            .connect_with(base.clone().pragma("cache_size", "-4096"))
            .await
            .map_err(Error::from)?;
        let (indexer, index_task) =
            indexer::spawn(base.clone().pragma("cache_size", "-16384"), index);
        let writer = writer::spawn(
            write_conn,
            write_options,
            indexer.clone(),
            options.max_batch_events.max(1),
        );
        let checkpointer = tokio::spawn(checkpoint_forever(base.pragma("cache_size", "-2048")));
        let inner = Inner { reads, admin, writer, indexer, index_task, checkpointer };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The admin pool and owned copies of a call's arguments, for work run in its own task.
    fn owned(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> (SqlitePool, TenantId, UserId, Option<Scope>) {
        (self.inner.admin.clone(), tenant.clone(), user.clone(), scope.cloned())
    }

    fn announce_read(&self, tenant: &TenantId, user: &UserId, change: ReadChange) {
        let notice = ReadNotice { tenant: tenant.clone(), user: user.clone(), change };
        self.inner.writer.announce(Notice::Read(notice));
    }

    /// Connection options for a service's own pool on the same database file, with the
    /// pragmas Spine's connections use (WAL, `synchronous=FULL`, the busy timeout), so that its
    /// transactions can carry events ([`SqliteStore::append_in`]).
    pub fn connect_options(url: &str) -> SqliteConnectOptions {
        connect_options(path_from_url(url), &SqliteOptions::default())
    }

    /// Appends `events` inside a transaction the caller holds on this database (begun with
    /// `BEGIN IMMEDIATE`, so that it holds the write lock from the start): they commit or roll
    /// back with the caller's own writes. Positions, idempotency and queue rules are as for
    /// [`Store::append`]. The answered notices must be passed to [`SqliteStore::announce`] once
    /// the transaction has committed, so live readers look (and never before: they would find
    /// nothing, or events that are then rolled back).
    pub async fn append_in(
        &self,
        tx: &mut sqlx::SqliteConnection,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> Result<(Vec<AppendOutcome>, Vec<Notice>), StoreError> {
        let work = spine_store::group::Work::Append(tenant.clone(), events);
        let (mut done, notices) =
            batch::write(tx, vec![work]).await.map_err(|e| e.to_store_error())?;
        match done.pop() {
            Some(spine_store::group::Done::Append(outcomes)) => Ok((outcomes, notices)),
            _ => Err(StoreError::other(std::io::Error::other("an append answered nothing"))),
        }
    }

    /// Whether the database file at `url` exists and its schema is this build's, read through
    /// a read-only connection: nothing is created, started or written (for `spine doctor`).
    pub async fn check_schema(url: &str) -> Result<(), StoreError> {
        let path = path_from_url(url);
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!("no database file at {}", path.display())));
        }
        let options = SqliteConnectOptions::new().filename(path).read_only(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(Error::from)?;
        let checked = migrate::check(&pool).await;
        pool.close().await;
        Ok(checked?)
    }

    /// The index file the store keeps beside the database file at `db` (`<db>.index`): the
    /// filter keys and the full text, rebuilt from the log if it is missing.
    pub fn index_path(db: &std::path::Path) -> PathBuf {
        indexer::path_of(db)
    }

    /// Pauses (`true`) or resumes the indexer that builds the filter keys and the full text
    /// behind the commits. While it is paused, feeds stay exact (they read the unindexed
    /// events from the log) and searches wait for it, then answer `Unavailable`.
    pub fn pause_indexer(&self, paused: bool) {
        self.inner.indexer.pause(paused);
    }

    /// The highest position the indexer has reached, as far as this process has seen.
    pub fn indexed_through(&self) -> Seq {
        Seq(self.inner.indexer.indexed())
    }

    /// Tells live readers about a commit made outside the writer ([`SqliteStore::append_in`]).
    pub fn announce(&self, notices: Vec<Notice>) {
        for notice in notices {
            self.inner.writer.announce(notice);
        }
    }

    /// Lets the writer finish what is queued, then closes its connection and both pools.
    /// Calls made afterwards fail with `StoreError::Unavailable`.
    pub async fn close(&self) {
        self.inner.writer.shutdown().await;
        self.inner.index_task.abort();
        self.inner.checkpointer.abort();
        self.inner.admin.close().await;
        self.inner.reads.close().await;
    }
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Runs a passive checkpoint on its own connection every [`CHECKPOINT_EVERY`]. Passive
/// checkpoints never block the writer or readers; `journal_size_limit` bounds the WAL file.
async fn checkpoint_forever(options: SqliteConnectOptions) {
    let mut conn = None;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if conn.is_none() {
            conn = options
                .connect()
                .await
                .map_err(|e| tracing::warn!(error = %e, "checkpoint connection failed"))
                .ok();
        }
        if let Some(c) = conn.as_mut() {
            if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)").execute(&mut *c).await {
                tracing::warn!(error = %e, "checkpoint failed");
                conn = None;
            }
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        Ok(migrate::run(&self.inner.admin).await?)
    }

    async fn ready(&self) -> StoreResult<()> {
        Ok(migrate::check(&self.inner.reads).await?)
    }

    async fn server_secret(&self) -> StoreResult<Vec<u8>> {
        Ok(admin::server_secret(&self.inner.reads, &self.inner.admin).await?)
    }

    async fn create_tenant(&self, id: &TenantId, name: &str) -> StoreResult<Tenant> {
        admin::create_tenant(&self.inner.admin, id, name).await
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        Ok(admin::get_tenant(&self.inner.reads, id).await?)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        Ok(admin::list_tenants(&self.inner.reads).await?)
    }

    async fn create_key(&self, tenant: &TenantId, key: NewApiKey) -> StoreResult<ApiKeyInfo> {
        admin::create_key(&self.inner.admin, tenant, key).await
    }

    async fn find_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(admin::find_key(&self.inner.reads, key_id).await?)
    }

    async fn list_keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyInfo>> {
        Ok(admin::list_keys(&self.inner.reads, tenant).await?)
    }

    async fn revoke_key(&self, tenant: &TenantId, key_id: &str) -> StoreResult<bool> {
        Ok(admin::revoke_key(&self.inner.admin, tenant, key_id).await?)
    }

    async fn append(
        &self,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<AppendOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.inner.writer.append(tenant.clone(), events).await
    }

    async fn import(&self, tenant: &TenantId, events: Vec<Event>) -> StoreResult<ImportOutcome> {
        if events.is_empty() {
            return Ok(ImportOutcome::default());
        }
        self.inner.writer.import(tenant.clone(), events).await
    }

    async fn get_event(
        &self,
        tenant: &TenantId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<Option<Event>> {
        Ok(query::get_event(&self.inner.reads, tenant, id, scope).await?)
    }

    async fn query(&self, tenant: &TenantId, query: &FeedQuery) -> StoreResult<Page> {
        Ok(query::page(&self.inner.reads, &self.inner.indexer, tenant, query).await?)
    }

    async fn stats(&self, tenant: &TenantId, query: &StatsQuery) -> StoreResult<Stats> {
        Ok(stats::stats(&self.inner.reads, tenant, query).await?)
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.inner.writer.notices()
    }

    async fn horizon(&self, tenant: &TenantId) -> StoreResult<Seq> {
        Ok(purge::horizon(&self.inner.reads, tenant).await?)
    }

    async fn purge(&self, tenant: &TenantId, through: Seq) -> StoreResult<PurgeOutcome> {
        let (removed, horizon) = purge::purge(&self.inner.admin, tenant, through).await?;
        self.inner.writer.announce(Notice::Purged { tenant: tenant.clone(), horizon });
        Ok(PurgeOutcome { removed, horizon })
    }

    async fn head(&self, tenant: &TenantId) -> StoreResult<Seq> {
        Ok(query::head(&self.inner.reads, tenant).await?)
    }

    async fn put_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
        info: &TypeInfo,
    ) -> StoreResult<()> {
        Ok(admin::put_type(&self.inner.admin, tenant, event_type, info).await?)
    }

    async fn get_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> StoreResult<Option<TypeInfo>> {
        Ok(admin::get_type(&self.inner.reads, tenant, event_type).await?)
    }

    async fn list_types(&self, tenant: &TenantId) -> StoreResult<Vec<(EventType, TypeInfo)>> {
        Ok(admin::list_types(&self.inner.reads, tenant).await?)
    }
}

#[async_trait]
impl ReadState for SqliteStore {
    async fn mark_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<bool> {
        let (pool, t, u, scope) = self.owned(tenant, user, scope);
        let work = async move { read_state::mark_read(&pool, &t, &u, id, scope.as_ref()).await };
        let Some(seq) = tx::detached(work).await? else {
            return Ok(false);
        };
        self.announce_read(tenant, user, ReadChange::Event { id, seq });
        Ok(true)
    }

    async fn mark_all_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq> {
        let (pool, t, u, _) = self.owned(tenant, user, None);
        let work = async move { read_state::mark_all_read(&pool, &t, &u, through).await };
        let watermark = tx::detached(work).await?;
        self.announce_read(tenant, user, ReadChange::Through(watermark));
        Ok(watermark)
    }

    async fn read_marks(
        &self,
        tenant: &TenantId,
        user: &UserId,
        after: Seq,
    ) -> StoreResult<ReadMarks> {
        Ok(read_state::read_marks(&self.inner.reads, tenant, user, after).await?)
    }

    async fn unread_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64> {
        Ok(read_state::unread_count(&self.inner.reads, tenant, user, scope).await?)
    }

    async fn mark_seen(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq> {
        let (pool, t, u, _) = self.owned(tenant, user, None);
        let work = async move { read_state::mark_seen(&pool, &t, &u, through).await };
        let watermark = tx::detached(work).await?;
        self.announce_read(tenant, user, ReadChange::Seen(watermark));
        Ok(watermark)
    }

    async fn unseen_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64> {
        Ok(read_state::unseen_count(&self.inner.reads, tenant, user, scope).await?)
    }

    async fn set_archived(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
        archived: bool,
    ) -> StoreResult<bool> {
        let (pool, t, u, scope) = self.owned(tenant, user, scope);
        let work = async move {
            read_state::set_archived(&pool, &t, &u, id, scope.as_ref(), archived).await
        };
        let Some(seq) = tx::detached(work).await? else {
            return Ok(false);
        };
        self.announce_read(tenant, user, ReadChange::Archived { id, seq, archived });
        Ok(true)
    }
}

#[async_trait]
impl Sessions for SqliteStore {
    async fn create_signin_code(&self, tenant: &TenantId, code: NewSecret) -> StoreResult<()> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        tx::detached(async move { sessions::create_signin_code(&pool, &t, code).await }).await
    }

    async fn redeem_signin_code(
        &self,
        tenant: &TenantId,
        code_id: &str,
        secret_hash: &[u8],
        now: Timestamp,
        session: NewSessionSecret,
    ) -> StoreResult<Redeemed> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        let (code_id, secret_hash) = (code_id.to_owned(), secret_hash.to_vec());
        let work = async move {
            sessions::redeem_signin_code(&pool, &t, &code_id, &secret_hash, now, session).await
        };
        tx::detached(work).await
    }

    async fn find_session(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<SecretRecord>> {
        Ok(sessions::find_session(&self.inner.reads, tenant, id).await?)
    }

    async fn delete_session(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        Ok(sessions::delete_session(&self.inner.admin, tenant, id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::path_from_url;
    use std::path::Path;

    #[test]
    fn urls_and_bare_paths_name_the_same_file() {
        assert_eq!(path_from_url("sqlite://data/spine.db"), Path::new("data/spine.db"));
        assert_eq!(path_from_url("sqlite:data/spine.db?mode=rwc"), Path::new("data/spine.db"));
        assert_eq!(path_from_url("sqlite:///abs/spine.db"), Path::new("/abs/spine.db"));
        assert_eq!(path_from_url("spine.db"), Path::new("spine.db"));
    }
}
