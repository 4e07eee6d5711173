//! The single writer task (SPEC principle 5). `append` and `import` send their events through a
//! channel with a oneshot reply; the task drains every queued request (up to `max_batch_events`),
//! commits them all in ONE transaction (see `batch`) with `unnest` inserts, and only then answers.
//! If the transaction fails, every request in it gets the error and nothing is written.
//!
//! One writer per store keeps this node's commits from queueing on each other's tenant head
//! locks; other nodes have their own writers, and the locks order them (see `batch`).

use crate::batch::{commit, Done, Work};
use spine_core::{Event, NewEvent, TenantId};
use spine_store::{AppendOutcome, ImportOutcome, Notice, StoreError, StoreResult};
use sqlx::PgPool;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Requests that may wait for the writer before senders are slowed down.
const QUEUE_DEPTH: usize = 8192;

/// What the writer is asked to do.
enum Request {
    Append {
        tenant: TenantId,
        events: Vec<NewEvent>,
        reply: oneshot::Sender<StoreResult<Vec<AppendOutcome>>>,
    },
    Import {
        tenant: TenantId,
        events: Vec<Event>,
        reply: oneshot::Sender<StoreResult<ImportOutcome>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Where a request's answer goes.
enum Reply {
    Append(oneshot::Sender<StoreResult<Vec<AppendOutcome>>>),
    Import(oneshot::Sender<StoreResult<ImportOutcome>>),
}

impl Reply {
    fn send(self, result: std::result::Result<Done, StoreError>) {
        let mismatch = || StoreError::Other("writer answered the wrong kind of request".into());
        // A caller that stopped waiting has dropped its receiver; its events are committed anyway.
        match self {
            Reply::Append(tx) => {
                let _ = tx.send(match result {
                    Ok(Done::Append(outcomes)) => Ok(outcomes),
                    Ok(Done::Import(_)) => Err(mismatch()),
                    Err(e) => Err(e),
                });
            }
            Reply::Import(tx) => {
                let _ = tx.send(match result {
                    Ok(Done::Import(outcome)) => Ok(outcome),
                    Ok(Done::Append(_)) => Err(mismatch()),
                    Err(e) => Err(e),
                });
            }
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

/// Notices a lagging receiver may fall behind by before it loses some (it then re-reads).
const NOTICE_DEPTH: usize = 1024;

/// The sending side of the writer; cheap to clone.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Request>,
    /// Where the store announces commits (per tenant), read-state changes and purges.
    notices: broadcast::Sender<Notice>,
}

impl WriterHandle {
    /// A new receiver of notices.
    pub(crate) fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Announces a change committed outside the writer (read state, purges).
    pub(crate) fn announce(&self, notice: Notice) {
        // Without receivers `send` fails; nobody is listening, so that is fine.
        let _ = self.notices.send(notice);
    }

    /// Appends and waits for the commit.
    pub(crate) async fn append(
        &self,
        tenant: TenantId,
        events: Vec<NewEvent>,
    ) -> StoreResult<Vec<AppendOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Append { tenant, events, reply }).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Imports and waits for the commit.
    pub(crate) async fn import(
        &self,
        tenant: TenantId,
        events: Vec<Event>,
    ) -> StoreResult<ImportOutcome> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request::Import { tenant, events, reply }).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Lets the writer commit everything queued before this call, then stops it.
    pub(crate) async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Request::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}

/// Starts the writer task; it takes a connection from `pool` for each group commit.
pub(crate) fn spawn(pool: PgPool, max_batch_events: usize) -> WriterHandle {
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let (notices, _) = broadcast::channel(NOTICE_DEPTH);
    tokio::spawn(run(pool, rx, notices.clone(), max_batch_events));
    WriterHandle { tx, notices }
}

/// How long the writer waits for more requests before committing, when the previous commit
/// served several callers. A durable commit costs a WAL flush (milliseconds on most disks); callers
/// answered by one commit need a moment to send their next request, and without this wait they
/// land in a small commit of their own, which costs a whole fsync for a handful of events.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<Request>,
    notices: broadcast::Sender<Notice>,
    max_batch_events: usize,
) {
    let mut stop = None;
    let mut concurrent = false;
    while stop.is_none() {
        let Some(first) = rx.recv().await else { break };
        let (mut works, mut replies, mut events) = (Vec::new(), Vec::new(), 0usize);
        let mut next = Some(first);
        // A lone sequential caller never waits; only callers that share commits do.
        let mut lingered = !concurrent;
        loop {
            let Some(request) = next.take() else {
                if lingered || events >= max_batch_events {
                    break;
                }
                lingered = true;
                tokio::time::sleep(LINGER).await;
                next = rx.try_recv().ok();
                continue;
            };
            match request {
                Request::Shutdown { done } => {
                    stop = Some(done);
                    break;
                }
                Request::Append { tenant, events: batch, reply } => {
                    events += batch.len();
                    works.push(Work::Append(tenant, batch));
                    replies.push(Reply::Append(reply));
                }
                Request::Import { tenant, events: batch, reply } => {
                    events += batch.len();
                    works.push(Work::Import(tenant, batch));
                    replies.push(Reply::Import(reply));
                }
            }
            if events < max_batch_events {
                next = rx.try_recv().ok();
            }
        }
        concurrent = replies.len() > 1;
        if works.is_empty() {
            continue;
        }
        let started = Instant::now();
        let committed = match pool.acquire().await {
            Ok(mut conn) => commit(&mut conn, works).await,
            Err(e) => Err(e.into()),
        };
        match committed {
            Ok((done, heads)) => {
                metrics::histogram!("spine_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::histogram!("spine_commit_batch_events").record(events as f64);
                // Without receivers `send` fails; nobody is waiting, so that is fine.
                for notice in heads {
                    let _ = notices.send(Notice::Commit(notice));
                }
                for (reply, done) in replies.into_iter().zip(done) {
                    reply.send(Ok(done));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = replies.len(), events, "group commit failed");
                for reply in replies {
                    reply.send(Err(e.to_store_error()));
                }
            }
        }
    }
    // Requests queued behind the shutdown are dropped: their callers see `Unavailable`.
    rx.close();
    if let Some(done) = stop {
        let _ = done.send(());
    }
}
