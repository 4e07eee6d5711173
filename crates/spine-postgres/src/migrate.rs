//! The embedded migrations and their runner. Each file is applied once, in order, in one
//! transaction together with its row in `spine_migrations`. The transaction first takes a
//! transaction-level advisory lock, so nodes migrating the same database at once take turns and
//! the second finds the work done. An applied file is never edited; later changes are new files.

use crate::error::{Error, Result};
use spine_core::Timestamp;
use sqlx::{Connection, Executor, PgPool};

/// `(version, sql)` in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_row_security.sql")),
    (3, include_str!("../migrations/0003_timeline_indexes.sql")),
    (4, include_str!("../migrations/0004_search_positions.sql")),
    (5, include_str!("../migrations/0005_inbox.sql")),
    (6, include_str!("../migrations/0006_ingest.sql")),
    (7, include_str!("../migrations/0007_blobs.sql")),
    (8, include_str!("../migrations/0008_phone_region.sql")),
    (9, include_str!("../migrations/0009_ledger_index.sql")),
    (10, include_str!("../migrations/0010_work.sql")),
    (11, include_str!("../migrations/0011_channel_privacy.sql")),
    (12, include_str!("../migrations/0012_consumers.sql")),
    (13, include_str!("../migrations/0013_webhooks.sql")),
    (14, include_str!("../migrations/0014_retention.sql")),
    (15, include_str!("../migrations/0015_indexer.sql")),
    (16, include_str!("../migrations/0016_limits.sql")),
];

/// The advisory lock key migrations serialise on (any constant; this one spells "spine-mg").
const MIGRATION_LOCK: i64 = 0x7370_696e_652d_6d67;

/// The version this build needs.
fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Applies every migration newer than the database; safe to run concurrently from many nodes.
pub(crate) async fn run(pool: &PgPool) -> Result<()> {
    // On a connection taken out of the pool: it may have opened before the fence role existed
    // (so unfenced by default), and must not be handed to anyone else afterwards.
    let mut conn = pool.acquire().await?.detach();
    for (version, sql) in MIGRATIONS {
        // As the connecting user, who owns what the migrations create.
        let mut tx = crate::fence::begin_owner(&mut conn).await?;
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "create table if not exists spine_migrations (
                version    bigint primary key,
                applied_at bigint not null
            )",
        )
        .execute(&mut *tx)
        .await?;
        let applied: Option<i64> =
            sqlx::query_scalar("select version from spine_migrations where version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            tx.commit().await?;
            continue;
        }
        // Several statements in one string: the simple query protocol runs them in order.
        tx.execute(*sql).await?;
        sqlx::query("insert into spine_migrations (version, applied_at) values ($1, $2)")
            .bind(version)
            .bind(Timestamp::now().as_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied migration");
    }
    conn.close().await?;
    Ok(())
}

/// Succeeds when the database answers and every migration of this build is applied.
pub(crate) async fn check(pool: &PgPool) -> Result<()> {
    let exists: bool = sqlx::query_scalar("select to_regclass('spine_migrations') is not null")
        .fetch_one(pool)
        .await?;
    let found: i64 = if exists {
        sqlx::query_scalar("select coalesce(max(version), 0) from spine_migrations")
            .fetch_one(pool)
            .await?
    } else {
        0
    };
    if found < latest() {
        return Err(Error::NotMigrated { found, expected: latest() });
    }
    Ok(())
}
