//! The indexer (SPEC section 12): builds the filter keys (`event_keys`) and the full text
//! (`events_fts`) just behind the commits, from the log itself, in batches. It runs on the
//! writer's connection between group commits, so it never waits for SQLite's write lock and
//! never holds it while a commit waits longer than one bounded step.
//!
//! A step indexes the events above `meta.indexed_seq` (up to a limit) and raises the watermark
//! in the same transaction: a crash loses either the whole step or nothing, so after a restart
//! the index converges to exactly the log, with no missing and no doubled entries. Steps skip
//! the fsync (`synchronous=NORMAL`): the next durable commit's fsync covers them, and a step
//! lost with power is simply indexed again.

use crate::error::Result;
use sqlx::{Connection, SqliteConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// At most this many events per step between commits. A step takes what accumulated since the
/// last one (a few hundred events every [`STEP_EVERY`] at moderate rates, so a commit waits for
/// a short step); at full rate the lag grows and the steps with it, which is when large steps
/// pay (the same key rows and full text cost less per event in larger batches), until the
/// indexer keeps pace with the commits.
const STEP_UNDER_LOAD: i64 = 20_000;
/// At most this many events per step when nothing is queued (a request that arrives meanwhile
/// waits for the step).
const STEP_IDLE: i64 = 1000;
/// Under a steady stream of commits, at most one step per this interval: the longer the
/// interval, the larger and cheaper per event the steps; the shorter, the sooner an event is
/// searchable.
const STEP_EVERY: Duration = Duration::from_millis(100);
/// How often an idle writer looks at the database for events it did not write itself (an
/// embedding service's `append_in`, or another process).
const LOOK_EVERY: Duration = Duration::from_millis(500);

/// The indexer's state, owned by the writer's committer.
pub(crate) struct Indexer {
    /// The highest position known to be committed (as far as this process knows).
    head: i64,
    /// The highest position indexed.
    indexed: i64,
    last_step: Instant,
    last_look: Instant,
    paused: Arc<AtomicBool>,
    watermark: watch::Sender<i64>,
    /// The connection's own `synchronous` setting, restored after each step.
    synchronous: &'static str,
}

/// What the store keeps to wait for the indexer and to pause it.
#[derive(Clone)]
pub(crate) struct Follower {
    paused: Arc<AtomicBool>,
    watermark: watch::Receiver<i64>,
}

impl Follower {
    /// Stops (`true`) or resumes the indexer.
    pub(crate) fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// The highest position indexed, as far as this process knows.
    pub(crate) fn indexed(&self) -> i64 {
        *self.watermark.borrow()
    }

    /// Waits until the indexer has reached `seq`, at most `timeout`; whether it did.
    pub(crate) async fn reach(&self, seq: i64, timeout: Duration) -> bool {
        let mut watermark = self.watermark.clone();
        tokio::time::timeout(timeout, watermark.wait_for(|indexed| *indexed >= seq))
            .await
            .is_ok_and(|reached| reached.is_ok())
    }
}

/// A new indexer and the store's side of it.
pub(crate) fn new(durable: bool) -> (Indexer, Follower) {
    let paused = Arc::new(AtomicBool::new(false));
    let (watermark, rx) = watch::channel(0);
    let long_ago = Instant::now().checked_sub(LOOK_EVERY).unwrap_or_else(Instant::now);
    let indexer = Indexer {
        head: 0,
        indexed: 0,
        last_step: long_ago,
        last_look: long_ago,
        paused: paused.clone(),
        watermark,
        synchronous: if durable { "full" } else { "normal" },
    };
    (indexer, Follower { paused, watermark: rx })
}

impl Indexer {
    /// A commit raised the head to `seq`.
    pub(crate) fn committed(&mut self, seq: i64) {
        self.head = self.head.max(seq);
        self.report();
    }

    /// Whether [`Indexer::follow`] has anything to do: when `idle` (nothing queued), a step
    /// whenever the index is behind, or a look at the database now and then; otherwise a step
    /// at most once per [`STEP_EVERY`].
    pub(crate) fn due(&self, idle: bool) -> bool {
        if self.paused.load(Ordering::SeqCst) {
            false
        } else if self.head > self.indexed {
            idle || self.last_step.elapsed() >= STEP_EVERY
        } else {
            idle && self.last_look.elapsed() >= LOOK_EVERY
        }
    }

    /// Runs one step if one is due ([`Indexer::due`]); whether the index is still behind.
    pub(crate) async fn follow(&mut self, conn: &mut SqliteConnection, idle: bool) -> Result<bool> {
        if !self.due(idle) {
            return Ok(false);
        }
        if self.head <= self.indexed {
            self.look(conn).await?;
        }
        if self.head <= self.indexed || (!idle && self.last_step.elapsed() < STEP_EVERY) {
            return Ok(false);
        }
        let limit = if idle { STEP_IDLE } else { STEP_UNDER_LOAD };
        let started = Instant::now();
        let (indexed, head) = step(conn, limit, self.synchronous).await?;
        metrics::histogram!("spine_index_step_seconds").record(started.elapsed().as_secs_f64());
        self.indexed = indexed;
        self.head = self.head.max(head);
        self.last_step = Instant::now();
        self.report();
        Ok(self.head > self.indexed)
    }

    /// Reads the watermark and the head from the database. Before the migrations have run
    /// there is nothing to follow yet.
    async fn look(&mut self, conn: &mut SqliteConnection) -> Result<()> {
        self.last_look = Instant::now();
        let read = sqlx::query_as("select indexed_seq, last_seq from meta where id = 1")
            .fetch_one(&mut *conn)
            .await;
        let (indexed, head): (i64, i64) = match read {
            Ok(row) => row,
            Err(sqlx::Error::Database(e)) if e.message().starts_with("no such") => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        self.indexed = indexed;
        self.head = self.head.max(head);
        self.report();
        Ok(())
    }

    fn report(&self) {
        self.watermark.send_if_modified(|w| std::mem::replace(w, self.indexed) != self.indexed);
        metrics::gauge!("spine_index_lag_events").set((self.head - self.indexed).max(0) as f64);
    }
}

/// Indexes the events above the watermark, at most `limit` positions of them, and raises the
/// watermark, in one transaction; answers the new watermark and the head.
async fn step(conn: &mut SqliteConnection, limit: i64, synchronous: &str) -> Result<(i64, i64)> {
    sqlx::query("pragma synchronous = normal").execute(&mut *conn).await?;
    let result = step_in(conn, limit).await;
    // Back to the connection's own durability for the commits, whatever the step did.
    sqlx::query(&format!("pragma synchronous = {synchronous}")).execute(&mut *conn).await?;
    result
}

async fn step_in(conn: &mut SqliteConnection, limit: i64) -> Result<(i64, i64)> {
    let mut tx = conn.begin_with("begin immediate").await?;
    let (from, head): (i64, i64) =
        sqlx::query_as("select indexed_seq, last_seq from meta where id = 1")
            .fetch_one(&mut *tx)
            .await?;
    let to = head.min(from.saturating_add(limit));
    if to > from {
        for sql in [
            "insert or ignore into event_keys select * from event_key_rows
             where seq > ?1 and seq <= ?2",
            "insert into events_fts (rowid, title, description, actor_name, entity_name)
             select * from event_text_rows where seq > ?1 and seq <= ?2",
            "update meta set indexed_seq = ?2 where id = 1",
        ] {
            sqlx::query(sql).bind(from).bind(to).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok((to.max(from), head))
}
