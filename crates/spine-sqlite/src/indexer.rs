//! The indexer: builds the filter keys (`idx.event_keys`) and the full text (`idx.events_fts`)
//! just behind the commits, from the log itself, in batches, in the index file beside the
//! database (`<database>.index`), which every connection that reads or purges attaches as `idx`.
//!
//! It runs on a connection of its own, so on a thread of its own: the writer never waits for a
//! step, and the commits and the index are built at the same time on two cores. Its steps only
//! read the log (a WAL snapshot, which never blocks the writer) and write the index file, whose
//! lock the writer never takes.
//!
//! A step indexes the events above the watermark (`idx.index_meta.indexed_seq`), at most
//! [`STEP_MAX`] of them, and raises the watermark in the same transaction of the index file: a
//! crash loses the whole step or nothing, so after a restart the index converges to exactly the
//! log. The index file is written without fsync (`synchronous=NORMAL`): what a power loss takes
//! from it is indexed again. It holds nothing the log does not, so an index file that is
//! missing, of another version, or ahead of the log (a database file restored from a copy) is
//! rebuilt from the log.
//!
//! When the index falls more than [`MAX_LAG`] events behind, the writer waits for it before its
//! next commit: at full rate the two go at the pace of the slower, and a search never waits for
//! more than a bounded backlog. (Not while an index is first built from a long log, after an
//! upgrade or a lost file: writes go on meanwhile.)

use crate::error::{Error, Result};
use futures::future::BoxFuture;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The layout of the index file; another number in a file means it is rebuilt.
const VERSION: i64 = 1;
/// At most this many events per step: larger steps cost less per event (the same pages of the
/// key rows and the full text take more entries each), up to about this size.
const STEP_MAX: i64 = 20_000;
/// A step starts at once when this many events wait; fewer wait at most [`STEP_EVERY`], so
/// that under a steady trickle the steps still come in batches.
const STEP_MIN: i64 = 2_000;
const STEP_EVERY: Duration = Duration::from_millis(50);
/// How often an idle indexer looks at the log for events this process did not commit (an
/// embedding service's `append_in`, or another process on the same file).
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// How long a failed step waits before the next try, on a fresh connection.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How far behind the log the index may fall before the writer waits for it: about half a
/// second of this machine's full commit rate, so a new event is searchable within a second.
const MAX_LAG: i64 = 40_000;
/// How long the writer waits for the index before its commit fails as unavailable.
const HOLD_AT_MOST: Duration = Duration::from_secs(10);

/// The index file of the database file at `db`.
pub(crate) fn path_of(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".index");
    PathBuf::from(path)
}

/// Attaches the index file to `conn` as `idx`.
pub(crate) async fn attach(conn: &mut SqliteConnection, index: &Path) -> sqlx::Result<()> {
    sqlx::query("attach database ? as idx")
        .bind(index.to_string_lossy().into_owned())
        .execute(conn)
        .await
        .map(|_| ())
}

/// A pool's `after_connect` hook attaching the index file.
pub(crate) fn attacher(
    index: PathBuf,
) -> impl for<'c> Fn(
    &'c mut SqliteConnection,
    PoolConnectionMetadata,
) -> BoxFuture<'c, sqlx::Result<()>>
       + Send
       + Sync
       + 'static {
    move |conn, _| {
        let index = index.clone();
        Box::pin(async move { attach(conn, &index).await })
    }
}

/// Creates the index file's tables (`options` open the index file itself), or recreates them
/// empty when the file holds another layout.
pub(crate) async fn prepare(options: &SqliteConnectOptions) -> Result<()> {
    let mut conn = options.connect().await?;
    let mut tx = conn.begin_with("begin immediate").await?;
    sqlx::query(
        "create table if not exists index_meta (
             id          integer primary key check (id = 1),
             version     integer not null,
             indexed_seq integer not null
         )",
    )
    .execute(&mut *tx)
    .await?;
    let version: Option<i64> = sqlx::query_scalar("select version from index_meta where id = 1")
        .fetch_optional(&mut *tx)
        .await?;
    if version.is_some_and(|v| v != VERSION) {
        for sql in [
            "drop table if exists event_keys",
            "drop table if exists events_fts",
            "delete from index_meta",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
    }
    // One row per (event, key) a feed can be driven by, in feed order within the key. `kind`:
    // 1 type, 2 actor, 3 entity (`entity_type`, U+001F, `entity_id`), 4 correlation id, 5 tag.
    // Full text over title, description, actor and entity names; rowid = events.seq.
    for sql in [
        "create table if not exists event_keys (
             tenant      text not null,
             kind        integer not null,
             key         text not null,
             occurred_at integer not null,
             seq         integer not null,
             primary key (tenant, kind, key, occurred_at, seq)
         ) without rowid",
        "create virtual table if not exists events_fts using fts5 (
             title, description, actor_name, entity_name,
             content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
         )",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    sqlx::query("insert or ignore into index_meta (id, version, indexed_seq) values (1, ?, 0)")
        .bind(VERSION)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// The positions the store and the indexer share.
struct Shared {
    /// The highest position known to be committed (as far as this process knows).
    head: watch::Sender<i64>,
    /// The highest position indexed.
    watermark: watch::Sender<i64>,
    paused: watch::Sender<bool>,
    /// Whether the index has reached the head since the store opened: until then (an index
    /// being built from the log after an upgrade or a lost file) the writer is not held back.
    caught_up: AtomicBool,
}

impl Shared {
    fn report(&self) {
        let lag = *self.head.borrow() - *self.watermark.borrow();
        if lag <= 0 {
            self.caught_up.store(true, Ordering::Relaxed);
        }
        metrics::gauge!("spine_index_lag_events").set(lag.max(0) as f64);
    }
}

/// What the store and the writer keep of the indexer: its watermark to wait for, the head to
/// report commits to, and the pause switch.
#[derive(Clone)]
pub(crate) struct Follower {
    shared: Arc<Shared>,
}

impl Follower {
    /// Stops (`true`) or resumes the indexer.
    pub(crate) fn pause(&self, paused: bool) {
        self.shared.paused.send_replace(paused);
    }

    /// The highest position indexed, as far as this process knows.
    pub(crate) fn indexed(&self) -> i64 {
        *self.shared.watermark.borrow()
    }

    /// Waits until the indexer has reached `seq`, at most `timeout`; whether it did.
    pub(crate) async fn reach(&self, seq: i64, timeout: Duration) -> bool {
        let mut watermark = self.shared.watermark.subscribe();
        tokio::time::timeout(timeout, watermark.wait_for(|indexed| *indexed >= seq))
            .await
            .is_ok_and(|reached| reached.is_ok())
    }

    /// A commit raised the head to `seq`.
    pub(crate) fn committed(&self, seq: i64) {
        let raised = self.shared.head.send_if_modified(|head| {
            let raise = seq > *head;
            *head = (*head).max(seq);
            raise
        });
        if raised {
            self.shared.report();
        }
    }

    /// Waits, before a commit, while the index is more than [`MAX_LAG`] events behind (not
    /// while it is paused, nor while it is first built from the log); fails as unavailable
    /// after [`HOLD_AT_MOST`].
    pub(crate) async fn hold(&self) -> Result<()> {
        let behind = *self.shared.head.borrow() - MAX_LAG;
        let building = !self.shared.caught_up.load(Ordering::Relaxed);
        if building || *self.shared.paused.borrow() || self.indexed() >= behind {
            return Ok(());
        }
        if self.reach(behind, HOLD_AT_MOST).await {
            Ok(())
        } else {
            Err(Error::IndexBehind)
        }
    }
}

/// Starts the indexer task: `log` opens the database file, `index` is its index file.
pub(crate) fn spawn(
    log: SqliteConnectOptions,
    index: PathBuf,
) -> (Follower, tokio::task::JoinHandle<()>) {
    let shared = Arc::new(Shared {
        head: watch::Sender::new(0),
        watermark: watch::Sender::new(0),
        paused: watch::Sender::new(false),
        caught_up: AtomicBool::new(false),
    });
    let task = Indexer { log, index, shared: shared.clone(), conn: None, looked: None };
    (Follower { shared }, tokio::spawn(task.run()))
}

/// The indexer task's state.
struct Indexer {
    log: SqliteConnectOptions,
    index: PathBuf,
    shared: Arc<Shared>,
    conn: Option<SqliteConnection>,
    /// When it last read the head and the watermark from the files (`None`: not yet, on this
    /// connection).
    looked: Option<Instant>,
}

/// What the indexer does after a turn.
enum Next {
    /// Another step, at once.
    Step,
    /// Wait this long, or until a commit or the pause switch says otherwise.
    Wait(Duration),
}

impl Indexer {
    async fn run(mut self) {
        let mut head = self.shared.head.subscribe();
        let mut paused = self.shared.paused.subscribe();
        let mut last_step = Instant::now();
        loop {
            // The store and its writer are gone (dropped without `close`): so is the work.
            if Arc::strong_count(&self.shared) == 1 {
                return;
            }
            if *paused.borrow_and_update() {
                if paused.changed().await.is_err() {
                    return;
                }
                continue;
            }
            head.borrow_and_update();
            let wait = match self.turn(&mut last_step).await {
                Ok(Next::Step) => continue,
                Ok(Next::Wait(wait)) => wait,
                Err(e) => {
                    // Before the migrations have run there is no log to follow yet.
                    if !e.to_string().contains("no such") {
                        tracing::warn!(error = %e, "an index step failed; retrying");
                    }
                    self.conn = None;
                    self.looked = None;
                    RETRY_AFTER
                }
            };
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                changed = paused.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One look at the files (when due) and one step (when due).
    async fn turn(&mut self, last_step: &mut Instant) -> Result<Next> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(connect(&self.log, &self.index).await?),
        };
        let (head, indexed) = (*self.shared.head.borrow(), *self.shared.watermark.borrow());
        if self.looked.is_none_or(|at| head <= indexed && at.elapsed() >= LOOK_EVERY) {
            self.looked = Some(Instant::now());
            let (indexed, head) = look(conn).await?;
            self.shared.watermark.send_replace(indexed);
            self.shared.head.send_if_modified(|h| std::mem::replace(h, (*h).max(head)) < head);
            self.shared.report();
        }
        let lag = *self.shared.head.borrow() - *self.shared.watermark.borrow();
        if lag <= 0 {
            return Ok(Next::Wait(LOOK_EVERY));
        }
        let since = last_step.elapsed();
        if lag < STEP_MIN && since < STEP_EVERY {
            return Ok(Next::Wait(STEP_EVERY - since));
        }
        let started = Instant::now();
        let (indexed, head) = step(conn, lag.min(STEP_MAX)).await?;
        metrics::histogram!("spine_index_step_seconds").record(started.elapsed().as_secs_f64());
        *last_step = Instant::now();
        self.shared.watermark.send_replace(indexed);
        self.shared.head.send_if_modified(|h| std::mem::replace(h, (*h).max(head)) < head);
        self.shared.report();
        Ok(Next::Step)
    }
}

/// The indexer's connection: the log as `main` (only read), the index file as `idx`, written
/// without fsync and with the writer's cache size.
async fn connect(log: &SqliteConnectOptions, index: &Path) -> Result<SqliteConnection> {
    let mut conn = log.connect().await?;
    attach(&mut conn, index).await?;
    for sql in [
        "pragma idx.synchronous = normal",
        "pragma idx.cache_size = -65536",
        "pragma idx.journal_size_limit = 536870912",
    ] {
        sqlx::query(sql).execute(&mut conn).await?;
    }
    Ok(conn)
}

/// The watermark and the log's head, from the files.
async fn look(conn: &mut SqliteConnection) -> Result<(i64, i64)> {
    let mut tx = conn.begin().await?;
    let (indexed, head) = positions(&mut tx).await?;
    tx.commit().await?;
    Ok((indexed, head))
}

/// The watermark, then the log's head (0 before the migrations have made the log), in the
/// caller's transaction: the index first, so the log's snapshot, taken after it, holds every
/// event it indexed, and an index this log's own indexer wrote is never ahead of it.
async fn positions(tx: &mut SqliteConnection) -> Result<(i64, i64)> {
    let indexed: i64 = sqlx::query_scalar("select indexed_seq from idx.index_meta where id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let head = sqlx::query_scalar::<_, i64>("select last_seq from main.meta where id = 1")
        .fetch_optional(&mut *tx)
        .await;
    let head = match head {
        Ok(head) => head.unwrap_or(0),
        Err(sqlx::Error::Database(e)) if e.message().starts_with("no such table") => 0,
        Err(e) => return Err(e.into()),
    };
    Ok((indexed, head))
}

/// [`positions`], with the index file's write lock taken first (a deferred transaction's first
/// statement waits for it, e.g. behind a purge; the log's lock is never taken), so that no
/// other step runs until the caller's transaction ends.
async fn locked_positions(tx: &mut SqliteConnection) -> Result<(i64, i64)> {
    sqlx::query("update idx.index_meta set indexed_seq = indexed_seq where id = 1")
        .execute(&mut *tx)
        .await?;
    positions(tx).await
}

/// Empties the index when it is ahead of the log (an index of another copy of the database),
/// before the store serves anything from it: it is then built again from the log.
pub(crate) async fn discard_if_foreign(log: &SqliteConnectOptions, index: &Path) -> Result<()> {
    let mut conn = connect(log, index).await?;
    let mut tx = conn.begin().await?;
    let (indexed, head) = locked_positions(&mut tx).await?;
    if indexed > head {
        tracing::warn!(indexed, head, "the index file is ahead of the log; rebuilding it");
        for sql in [
            "update idx.index_meta set indexed_seq = 0 where id = 1",
            "delete from idx.event_keys",
            "insert into idx.events_fts (events_fts) values ('delete-all')",
        ] {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// Indexes the events above the watermark, at most `limit` positions of them, and raises the
/// watermark, in one transaction of the index file; answers the new watermark and the head.
async fn step(conn: &mut SqliteConnection, limit: i64) -> Result<(i64, i64)> {
    let mut tx = conn.begin().await?;
    let (from, head) = locked_positions(&mut tx).await?;
    let to = head.min(from.saturating_add(limit));
    if to > from {
        for sql in [
            "insert or ignore into idx.event_keys select * from main.event_key_rows
             where seq > ?1 and seq <= ?2",
            "insert into idx.events_fts (rowid, title, description, actor_name, entity_name)
             select * from main.event_text_rows where seq > ?1 and seq <= ?2",
            "update idx.index_meta set indexed_seq = ?2 where id = 1",
        ] {
            sqlx::query(sql).bind(from).bind(to).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok((to.max(from), head))
}
