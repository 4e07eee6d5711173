//! Purging a tenant's oldest events (retention by hand, `spine purge`): the horizon is raised in
//! its own transaction first, so a reader that could still be below the removed range sees the
//! horizon before it could see the hole, then the events go in chunks, each chunk one short
//! transaction so the writer is never held up for long.

use crate::error::Result;
use spine_core::{Seq, TenantId};
use sqlx::{Connection, SqlitePool};

/// Events removed per transaction.
const CHUNK: i64 = 5_000;

/// Raises the horizon to `through` (clamped to the head; never lowered) and removes the tenant's
/// events at or below it with their tags, search entries, read marks and archive marks. Returns the events
/// removed and the horizon.
pub(crate) async fn purge(
    pool: &SqlitePool,
    tenant: &TenantId,
    through: Seq,
) -> Result<(u64, Seq)> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("begin immediate").await?;
    let head: i64 =
        sqlx::query_scalar(crate::query::HEAD).bind(tenant.as_str()).fetch_one(&mut *tx).await?;
    let horizon: i64 = sqlx::query_scalar(
        "insert into horizons (tenant, through_seq) values (?, ?)
         on conflict (tenant) do update set through_seq = max(through_seq, excluded.through_seq)
         returning through_seq",
    )
    .bind(tenant.as_str())
    .bind(through.0.clamp(0, head))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut removed = 0u64;
    loop {
        let mut tx = conn.begin_with("begin immediate").await?;
        let seqs: Vec<i64> = sqlx::query_scalar(
            "select seq from events where tenant = ? and seq <= ? order by seq limit ?",
        )
        .bind(tenant.as_str())
        .bind(horizon)
        .bind(CHUNK)
        .fetch_all(&mut *tx)
        .await?;
        let Some(&last) = seqs.last() else {
            tx.commit().await?;
            break;
        };
        let first = seqs[0];
        // Every statement is bounded by the chunk's range within the tenant; key rows are found
        // by their primary key, derived from each event's row. What the indexer has not
        // reached has no index entries yet.
        for sql in [
            "delete from idx.event_keys where (tenant, kind, key, occurred_at, seq) in
                 (select * from event_key_rows where tenant = ?1 and seq between ?2 and ?3
                  and seq <= (select indexed_seq from idx.index_meta where id = 1))",
            "delete from idx.events_fts where rowid in
                 (select seq from events where tenant = ?1 and seq between ?2 and ?3
                  and seq <= (select indexed_seq from idx.index_meta where id = 1))",
            "delete from events where tenant = ?1 and seq between ?2 and ?3",
        ] {
            sqlx::query(sql).bind(tenant.as_str()).bind(first).bind(last).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        removed += seqs.len() as u64;
    }
    for sql in [
        "delete from read_marks where tenant = ? and seq <= ?",
        "delete from archived_events where tenant = ? and seq <= ?",
        // A job without its event has nothing left to process or show.
        "delete from jobs where tenant = ? and event_seq <= ?",
    ] {
        sqlx::query(sql).bind(tenant.as_str()).bind(horizon).execute(&mut *conn).await?;
    }
    Ok((removed, Seq(horizon)))
}

/// The tenant's horizon (`Seq::ZERO` when it never purged).
pub(crate) async fn horizon(pool: &SqlitePool, tenant: &TenantId) -> Result<Seq> {
    let seq: Option<i64> = sqlx::query_scalar("select through_seq from horizons where tenant = ?")
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(Seq(seq.unwrap_or(0)))
}
