//! The PostgreSQL store: one database shared by any number of Spine nodes, commit-ordered
//! positions per tenant, a group-committing writer, `tsvector` search and keyset pagination.
//!
//! - this file: [`PgStore::open`], [`PgOptions`], the pool and the `Store` impl, which only
//!   delegates.
//! - `migrate`: the embedded migrations (`migrations/*.sql`) and their runner, serialised across
//!   nodes by an advisory lock.
//! - `writer`: the writer task that group-commits this node's appends and imports (SPEC
//!   principle 5).
//! - `batch`: one group commit: tenant head locks (commit-ordered `seq`, SPEC principle 3),
//!   idempotency judgement, summaries, `unnest` inserts.
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
//! - `work`: the work contracts, delegating to `jobs` (queue rules, jobs loaded with `SKIP
//!   LOCKED` and written by the group commit, heartbeats, listings) and `notes`.
//! - `limits`: the limits contract: each tenant's limits in two layers, its usage, the roll of
//!   live nodes.
//! - `stats`: counts, grouped or not.
//! - `purge`: removing a tenant's oldest events behind a raised horizon.
//! - `admin`: tenants, API keys, registered types and the server secret.
//! - `fence`: row-level security, the second tenant fence: the role every query runs as and the
//!   tenants each transaction may see.
//! - `error`: the crate's internal error and its mapping to `StoreError`.
//! - `testing` (feature `testing`): throwaway databases for tests of this and other crates.
//!
//! - `notify`: notices between nodes (LISTEN/NOTIFY), so a stream on any node wakes when another
//!   node commits.
//!
//! Notices (commits, read changes, purges) are announced in process after each successful commit
//! and sent to the other nodes on a PostgreSQL channel; each node listens and announces theirs.

mod admin;
mod batch;
mod blobs;
mod channels;
mod consumers;
mod error;
mod expiry;
mod fence;
mod filters;
mod identifiers;
mod indexer;
mod ingest;
mod jobs;
mod ledger;
mod limits;
mod migrate;
mod notes;
mod notify;
mod purge;
mod query;
mod read_state;
mod sessions;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// How the store uses its connections.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool, shared by reads, small writes and the writer task.
    pub max_connections: u32,
    /// The longest any one statement may run (`SET statement_timeout` on every connection), so a
    /// runaway query cannot hold a connection or a lock forever.
    pub statement_timeout: Duration,
    /// How long a call waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// The most events one group commit takes from the queue (a single larger request is still
    /// committed whole, never split).
    pub max_batch_events: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            statement_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(30),
            max_batch_events: 2000,
        }
    }
}

/// The PostgreSQL backend. Cheap to clone: clones share the pool and the writer.
#[derive(Clone)]
pub struct PgStore {
    /// Every query and transaction, the writer's included.
    pool: PgPool,
    /// The group-commit writer for events, and the notice channel.
    writer: spine_store::group::WriterHandle,
    /// This node, named in the notices it sends so it skips its own when they come back.
    node: Uuid,
    /// The task listening for other nodes' notices, started by the first `notices()` call (only
    /// a server needs them; short commands never open the listening connection); stopped when
    /// the last clone is dropped.
    listener: Arc<OnceLock<Listener>>,
    /// The indexer task, started once the schema is known to be there (by `migrate` or
    /// `ready`: a connection opened before the migrations created the fence role would stay
    /// outside the fence), stopped when the last clone is dropped.
    indexer: Arc<OnceLock<Listener>>,
    /// Pauses the indexer.
    indexer_paused: Arc<std::sync::atomic::AtomicBool>,
}

/// Aborts a background task when dropped.
struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and starts the writer. Does not
    /// migrate: call [`Store::migrate`].
    pub async fn open(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(Error::from)?
            .application_name("spine")
            .disable_statement_logging();
        // One connection first, so an unreachable server or a refused login fails at once with
        // its own error (the pool would retry until its acquire timeout).
        PgConnection::connect_with(&connect).await.map_err(Error::from)?.close().await.ok();
        let timeout_ms = options.statement_timeout.as_millis();
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // A constant built from an integer: nothing to escape.
                    conn.execute(format!("set statement_timeout = {timeout_ms}").as_str()).await?;
                    fence::on_connect(conn).await
                })
            })
            .connect_lazy_with(connect);
        let node = Uuid::now_v7();
        let writer = writer::spawn(pool.clone(), node, options.max_batch_events.max(1));
        Ok(Self {
            pool,
            writer,
            node,
            listener: Arc::default(),
            indexer: Arc::default(),
            indexer_paused: Arc::default(),
        })
    }

    /// Whether the schema is this build's, without starting anything (for `spine doctor`;
    /// [`Store::ready`] also starts the node's indexer).
    pub async fn check_schema(&self) -> StoreResult<()> {
        Ok(migrate::check(&self.pool).await?)
    }

    /// Starts this node's indexer, once.
    fn start_indexer(&self) {
        self.indexer.get_or_init(|| {
            let (pool, commits) = (self.pool.clone(), self.writer.notices());
            Listener(tokio::spawn(indexer::run(pool, commits, self.indexer_paused.clone())))
        });
    }

    /// Announces a change committed outside the writer, here and on the other nodes.
    async fn announce(&self, notice: Notice) {
        notify::send_after(&self.pool, self.node, &notice).await;
        self.writer.announce(notice);
    }

    async fn announce_read(&self, tenant: &TenantId, user: &UserId, change: ReadChange) {
        let notice = ReadNotice { tenant: tenant.clone(), user: user.clone(), change };
        self.announce(Notice::Read(notice)).await;
    }

    /// Appends `events` inside a transaction the caller holds on this database: they commit or
    /// roll back with the caller's own writes. Positions, idempotency and queue rules are as for
    /// [`Store::append`]; the tenant's head stays locked until the caller's commit, so positions
    /// still grow in commit order. Live readers on every node (this one included) are woken by
    /// PostgreSQL when the transaction commits, and never if it rolls back. The caller's
    /// connection keeps its own role: run it as the user that owns Spine's tables (row-level
    /// security does not apply to the owner), or one granted them.
    pub async fn append_in(
        &self,
        tx: &mut sqlx::PgConnection,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        sqlx::query("select set_config('spine.tenants', $1, true)")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from(e).to_store_error())?;
        let work = spine_store::group::Work::Append(tenant.clone(), events);
        // A node id of its own: the notices come back to this process's listener as well.
        let (mut done, _) =
            batch::write(tx, Uuid::now_v7(), vec![work]).await.map_err(|e| e.to_store_error())?;
        match done.pop() {
            Some(spine_store::group::Done::Append(outcomes)) => Ok(outcomes),
            _ => Err(StoreError::other(std::io::Error::other("an append answered nothing"))),
        }
    }

    /// Pauses (`true`) or resumes this node's indexer, which builds the full text behind the
    /// commits. While every node's is paused, searches wait for it, then answer `Unavailable`.
    pub fn pause_indexer(&self, paused: bool) {
        self.indexer_paused.store(paused, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets the writer finish what is queued, then closes the pool. Calls made afterwards fail
    /// with `StoreError::Unavailable`.
    pub async fn close(&self) {
        if let Some(listener) = self.listener.get() {
            listener.0.abort();
        }
        if let Some(indexer) = self.indexer.get() {
            indexer.0.abort();
        }
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> StoreResult<()> {
        migrate::run(&self.pool).await?;
        self.start_indexer();
        Ok(())
    }

    async fn ready(&self) -> StoreResult<()> {
        migrate::check(&self.pool).await?;
        self.start_indexer();
        Ok(())
    }

    async fn server_secret(&self) -> StoreResult<Vec<u8>> {
        Ok(admin::server_secret(&self.pool).await?)
    }

    async fn create_tenant(&self, id: &TenantId, name: &str) -> StoreResult<Tenant> {
        admin::create_tenant(&self.pool, id, name).await
    }

    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>> {
        Ok(admin::get_tenant(&self.pool, id).await?)
    }

    async fn list_tenants(&self) -> StoreResult<Vec<Tenant>> {
        Ok(admin::list_tenants(&self.pool).await?)
    }

    async fn create_key(&self, tenant: &TenantId, key: NewApiKey) -> StoreResult<ApiKeyInfo> {
        admin::create_key(&self.pool, tenant, key).await
    }

    async fn find_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        Ok(admin::find_key(&self.pool, key_id).await?)
    }

    async fn list_keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyInfo>> {
        Ok(admin::list_keys(&self.pool, tenant).await?)
    }

    async fn revoke_key(&self, tenant: &TenantId, key_id: &str) -> StoreResult<bool> {
        Ok(admin::revoke_key(&self.pool, tenant, key_id).await?)
    }

    async fn append(
        &self,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<AppendOutcome>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.writer.append(tenant.clone(), events).await
    }

    async fn import(&self, tenant: &TenantId, events: Vec<Event>) -> StoreResult<ImportOutcome> {
        if events.is_empty() {
            return Ok(ImportOutcome::default());
        }
        self.writer.import(tenant.clone(), events).await
    }

    async fn get_event(
        &self,
        tenant: &TenantId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<Option<Event>> {
        Ok(query::get_event(&self.pool, tenant, id, scope).await?)
    }

    async fn query(&self, tenant: &TenantId, query: &FeedQuery) -> StoreResult<Page> {
        Ok(query::page(&self.pool, tenant, query).await?)
    }

    async fn stats(&self, tenant: &TenantId, query: &StatsQuery) -> StoreResult<Stats> {
        Ok(stats::stats(&self.pool, tenant, query).await?)
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        let notices = self.writer.notices();
        self.listener.get_or_init(|| {
            let (pool, writer) = (self.pool.clone(), self.writer.clone());
            Listener(tokio::spawn(notify::listen(pool, self.node, writer)))
        });
        notices
    }

    async fn horizon(&self, tenant: &TenantId) -> StoreResult<Seq> {
        Ok(purge::horizon(&self.pool, tenant).await?)
    }

    async fn purge(&self, tenant: &TenantId, through: Seq) -> StoreResult<PurgeOutcome> {
        let (removed, horizon) = purge::purge(&self.pool, tenant, through).await?;
        self.announce(Notice::Purged { tenant: tenant.clone(), horizon }).await;
        Ok(PurgeOutcome { removed, horizon })
    }

    async fn head(&self, tenant: &TenantId) -> StoreResult<Seq> {
        Ok(query::head(&self.pool, tenant).await?)
    }

    async fn put_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
        info: &TypeInfo,
    ) -> StoreResult<()> {
        Ok(admin::put_type(&self.pool, tenant, event_type, info).await?)
    }

    async fn get_type(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> StoreResult<Option<TypeInfo>> {
        Ok(admin::get_type(&self.pool, tenant, event_type).await?)
    }

    async fn list_types(&self, tenant: &TenantId) -> StoreResult<Vec<(EventType, TypeInfo)>> {
        Ok(admin::list_types(&self.pool, tenant).await?)
    }
}

#[async_trait]
impl ReadState for PgStore {
    async fn mark_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
    ) -> StoreResult<bool> {
        let Some(seq) = read_state::mark_read(&self.pool, tenant, user, id, scope).await? else {
            return Ok(false);
        };
        self.announce_read(tenant, user, ReadChange::Event { id, seq }).await;
        Ok(true)
    }

    async fn mark_all_read(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq> {
        let watermark = read_state::mark_all_read(&self.pool, tenant, user, through).await?;
        self.announce_read(tenant, user, ReadChange::Through(watermark)).await;
        Ok(watermark)
    }

    async fn read_marks(
        &self,
        tenant: &TenantId,
        user: &UserId,
        after: Seq,
    ) -> StoreResult<ReadMarks> {
        Ok(read_state::read_marks(&self.pool, tenant, user, after).await?)
    }

    async fn unread_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64> {
        Ok(read_state::unread_count(&self.pool, tenant, user, scope).await?)
    }

    async fn mark_seen(
        &self,
        tenant: &TenantId,
        user: &UserId,
        through: Option<Seq>,
    ) -> StoreResult<Seq> {
        let watermark = read_state::mark_seen(&self.pool, tenant, user, through).await?;
        self.announce_read(tenant, user, ReadChange::Seen(watermark)).await;
        Ok(watermark)
    }

    async fn unseen_count(
        &self,
        tenant: &TenantId,
        user: &UserId,
        scope: Option<&Scope>,
    ) -> StoreResult<u64> {
        Ok(read_state::unseen_count(&self.pool, tenant, user, scope).await?)
    }

    async fn set_archived(
        &self,
        tenant: &TenantId,
        user: &UserId,
        id: Uuid,
        scope: Option<&Scope>,
        archived: bool,
    ) -> StoreResult<bool> {
        let Some(seq) =
            read_state::set_archived(&self.pool, tenant, user, id, scope, archived).await?
        else {
            return Ok(false);
        };
        self.announce_read(tenant, user, ReadChange::Archived { id, seq, archived }).await;
        Ok(true)
    }
}

#[async_trait]
impl Sessions for PgStore {
    async fn create_signin_code(&self, tenant: &TenantId, code: NewSecret) -> StoreResult<()> {
        Ok(sessions::create_signin_code(&self.pool, tenant, code).await?)
    }

    async fn redeem_signin_code(
        &self,
        tenant: &TenantId,
        code_id: &str,
        secret_hash: &[u8],
        now: Timestamp,
        session: NewSessionSecret,
    ) -> StoreResult<Redeemed> {
        Ok(sessions::redeem_signin_code(&self.pool, tenant, code_id, secret_hash, now, session)
            .await?)
    }

    async fn find_session(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<SecretRecord>> {
        Ok(sessions::find_session(&self.pool, tenant, id).await?)
    }

    async fn delete_session(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        Ok(sessions::delete_session(&self.pool, tenant, id).await?)
    }
}
