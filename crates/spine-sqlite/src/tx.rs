//! Write transactions on the small pools: begun so that a connection left inside a transaction
//! heals, and run in a task of their own so that a caller who goes away cannot cancel them
//! halfway.
//!
//! Why: the admin pool has one connection. If the future awaiting a `BEGIN` is dropped just
//! after SQLite began the transaction but before the future saw the answer (an HTTP client that
//! disconnects at that moment), sqlx's SQLite worker counts the transaction as open while no
//! `Transaction` exists to end it, and every later `begin_with` on that connection fails
//! ("non-zero transaction depth"): measured by the Activity Center benchmark, whose cold page
//! loads close browser contexts with requests in flight.

use crate::error::Result;
use spine_store::{StoreError, StoreResult};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::future::Future;

/// `BEGIN IMMEDIATE` on a connection of `pool`. A connection that is still inside a transaction
/// nobody can end is closed and replaced, once.
pub(crate) async fn begin_immediate(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    match pool.begin_with("begin immediate").await {
        Err(sqlx::Error::InvalidSavePointStatement) => {
            tracing::warn!("a connection was left inside a transaction; replacing it");
            let conn = pool.acquire().await?;
            // Detached, it is closed when dropped, and the pool opens a fresh one.
            drop(conn.detach());
            Ok(pool.begin_with("begin immediate").await?)
        }
        other => Ok(other?),
    }
}

/// Runs `work` to its end in its own task, whatever happens to the caller.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> StoreResult<T> {
    match tokio::spawn(work).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(StoreError::other(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;
    use sqlx::Connection;

    /// A connection left inside a transaction that no `Transaction` owns (what a cancelled
    /// `begin` can leave) is replaced, and the next write transaction works.
    #[tokio::test]
    async fn a_connection_left_in_a_transaction_is_replaced() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await;
        let pool = pool.expect("an in-memory database");
        {
            let mut conn = pool.acquire().await.expect("a connection");
            let stranded = conn.begin_with("begin immediate").await.expect("begin");
            // Nobody will end this transaction, as after a cancelled `begin`.
            std::mem::forget(stranded);
        }
        let stuck = pool.begin_with("begin immediate").await;
        assert!(matches!(stuck, Err(sqlx::Error::InvalidSavePointStatement)), "{stuck:?}");
        let mut healed = begin_immediate(&pool).await.expect("a fresh connection begins");
        sqlx::query("create table t (x integer)").execute(&mut *healed).await.expect("works");
        healed.commit().await.expect("commit");
        begin_immediate(&pool).await.expect("and again").rollback().await.expect("rollback");
    }

    #[tokio::test]
    async fn detached_work_ends_even_when_its_caller_goes_away() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let caller = tokio::spawn(detached(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = done_tx.send(());
            Ok(())
        }));
        // The caller goes away once the work has started (as a request's client disconnects).
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        caller.abort();
        tokio::time::timeout(std::time::Duration::from_secs(5), done_rx)
            .await
            .expect("the work finished")
            .expect("and said so");
    }
}
