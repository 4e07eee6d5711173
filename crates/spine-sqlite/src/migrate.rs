//! The embedded migrations and their runner. Each file is applied once, in order, inside a
//! `BEGIN IMMEDIATE` transaction together with its row in `spine_migrations`; an applied file is
//! never edited, later changes are new files.

use crate::error::{Error, Result};
use spine_core::Timestamp;
use sqlx::{Connection, SqlitePool};

/// `(version, sql)` in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_horizons.sql")),
    (3, include_str!("../migrations/0003_inbox.sql")),
    (4, include_str!("../migrations/0004_ingest.sql")),
    (5, include_str!("../migrations/0005_blobs.sql")),
    (6, include_str!("../migrations/0006_phone_region.sql")),
    (7, include_str!("../migrations/0007_ledger_index.sql")),
    (8, include_str!("../migrations/0008_work.sql")),
    (9, include_str!("../migrations/0009_channel_privacy.sql")),
    (10, include_str!("../migrations/0010_consumers.sql")),
    (11, include_str!("../migrations/0011_webhooks.sql")),
    (12, include_str!("../migrations/0012_retention.sql")),
    (13, include_str!("../migrations/0013_indexer.sql")),
    (14, include_str!("../migrations/0014_index_file.sql")),
    (15, include_str!("../migrations/0015_limits.sql")),
];

/// The version this build needs.
fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Applies every migration newer than the database; safe to run concurrently from two processes.
pub(crate) async fn run(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query(
        "create table if not exists spine_migrations (
            version integer primary key,
            applied_at integer not null
        )",
    )
    .execute(&mut *conn)
    .await?;
    for (version, sql) in MIGRATIONS {
        let mut tx = conn.begin_with("begin immediate").await?;
        let applied: Option<i64> =
            sqlx::query_scalar("select version from spine_migrations where version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_some() {
            continue;
        }
        // A query without arguments may hold several statements; each runs in order.
        sqlx::query(sql).persistent(false).execute(&mut *tx).await?;
        sqlx::query("insert into spine_migrations (version, applied_at) values (?, ?)")
            .bind(version)
            .bind(Timestamp::now().as_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied migration");
    }
    Ok(())
}

/// Succeeds when the database answers and every migration of this build is applied.
pub(crate) async fn check(pool: &SqlitePool) -> Result<()> {
    let exists: i64 = sqlx::query_scalar(
        "select count(*) from sqlite_master where type = 'table' and name = 'spine_migrations'",
    )
    .fetch_one(pool)
    .await?;
    let found: i64 = if exists == 0 {
        0
    } else {
        sqlx::query_scalar("select coalesce(max(version), 0) from spine_migrations")
            .fetch_one(pool)
            .await?
    };
    if found < latest() {
        return Err(Error::NotMigrated { found, expected: latest() });
    }
    Ok(())
}
