//! The SQLite side of the writer task (SPEC principle 5): the shared group-commit writer
//! ([`spine_store::group`]) commits every queued request in ONE `BEGIN IMMEDIATE` transaction on
//! this committer's own connection, replaced if it breaks.
//!
//! The indexer ([`crate::indexer`]) follows the commits on its own connection; the writer tells
//! it each commit's head, and waits for it only when it has fallen far behind.
//!
//! Positions come from `meta.last_seq`, read and bumped inside the transaction, so they increase
//! in commit order, are never reused, and stay correct when another process writes the file.

use crate::batch::commit;
use crate::indexer::Follower;
use async_trait::async_trait;
use spine_store::group::{Committer, Done, Work, WriterHandle};
use spine_store::{Notice, StoreResult};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

/// Commits on one connection; `reconnect` opens a replacement if it breaks.
struct SqliteCommitter {
    conn: Option<SqliteConnection>,
    reconnect: SqliteConnectOptions,
    /// The indexer, told of each commit's head.
    indexer: Follower,
}

/// The open connection, or a new one if the last one broke.
async fn open<'a>(
    conn: &'a mut Option<SqliteConnection>,
    reconnect: &SqliteConnectOptions,
) -> StoreResult<&'a mut SqliteConnection> {
    Ok(match conn {
        Some(conn) => conn,
        None => conn.insert(reconnect.connect().await.map_err(crate::error::Error::from)?),
    })
}

#[async_trait]
impl Committer for SqliteCommitter {
    async fn commit(&mut self, works: Vec<Work>) -> StoreResult<(Vec<Done>, Vec<Notice>)> {
        self.indexer.hold().await.map_err(|e| e.to_store_error())?;
        let conn = open(&mut self.conn, &self.reconnect).await?;
        let (done, notices) = commit(conn, works).await.map_err(|e| e.to_store_error())?;
        let head = notices.iter().filter_map(|n| match n {
            Notice::Commit(c) => Some(c.head.0),
            _ => None,
        });
        if let Some(head) = head.max() {
            self.indexer.committed(head);
        }
        Ok((done, notices))
    }

    async fn recover(&mut self) {
        // Most failures leave the connection usable; a dead one is replaced so the writer does
        // not fail every later batch (or reopened at the next commit if that fails too).
        let Some(conn) = self.conn.as_mut() else { return };
        if conn.ping().await.is_err() {
            self.conn = match self.reconnect.connect().await {
                Ok(fresh) => Some(fresh),
                Err(e) => {
                    tracing::error!(error = %e, "reopening the write connection failed");
                    None
                }
            };
        }
    }

    async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing the write connection failed");
            }
        }
    }
}

/// Starts the writer task on its own connection.
pub(crate) fn spawn(
    conn: SqliteConnection,
    reconnect: SqliteConnectOptions,
    indexer: Follower,
    max_batch_events: usize,
) -> WriterHandle {
    WriterHandle::spawn(SqliteCommitter { conn: Some(conn), reconnect, indexer }, max_batch_events)
}
