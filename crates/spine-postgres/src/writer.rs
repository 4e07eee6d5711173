//! The PostgreSQL side of the writer task (SPEC principle 5): the shared group-commit writer
//! ([`spine_store::group`]) commits every queued request of this node in ONE transaction, on a
//! connection taken from the pool for each commit.

use crate::batch::commit;
use async_trait::async_trait;
use spine_store::group::{Committer, Done, Work, WriterHandle};
use spine_store::{Notice, StoreResult};
use sqlx::PgPool;
use uuid::Uuid;

/// Commits on a pooled connection; `node` names this node in the notices the commit sends.
struct PgCommitter {
    pool: PgPool,
    node: Uuid,
}

#[async_trait]
impl Committer for PgCommitter {
    async fn commit(&mut self, works: Vec<Work>) -> StoreResult<(Vec<Done>, Vec<Notice>)> {
        let mut conn = self.pool.acquire().await.map_err(crate::error::Error::from)?;
        commit(&mut conn, self.node, works).await.map_err(|e| e.to_store_error())
    }
}

/// Starts the writer task; it takes a connection from `pool` for each group commit.
pub(crate) fn spawn(pool: PgPool, node: Uuid, max_batch_events: usize) -> WriterHandle {
    WriterHandle::spawn(PgCommitter { pool, node }, max_batch_events)
}
