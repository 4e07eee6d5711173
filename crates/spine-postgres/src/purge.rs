//! Purging a tenant's oldest events (retention by hand, `spine purge`): the horizon is raised in
//! its own transaction first, so a reader that could still be below the removed range sees the
//! horizon before it could see the hole, then the events go in chunks, each chunk one short
//! transaction so writers are never held up for long. Positions are per tenant and below the
//! horizon, so purging never touches the tenant's head row or other tenants' rows.

use crate::error::Result;
use crate::fence;
use spine_core::{Seq, TenantId};
use sqlx::PgPool;

/// Events removed per transaction.
const CHUNK: i64 = 5_000;

/// Raises the horizon to `through` (clamped to the head; never lowered) and removes the tenant's
/// events at or below it with their tags and read marks (the search vector is a column of the
/// event). Returns the events removed and the horizon.
pub(crate) async fn purge(pool: &PgPool, tenant: &TenantId, through: Seq) -> Result<(u64, Seq)> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let head: i64 =
        sqlx::query_scalar(crate::query::HEAD).bind(tenant.as_str()).fetch_one(&mut *tx).await?;
    let horizon: i64 = sqlx::query_scalar(
        "insert into horizons as h (tenant, through_seq) values ($1, $2)
         on conflict (tenant) do update set through_seq = greatest(h.through_seq, excluded.through_seq)
         returning through_seq",
    )
    .bind(tenant.as_str())
    .bind(through.0.clamp(0, head))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut removed = 0u64;
    loop {
        let mut tx = fence::begin(pool, [tenant]).await?;
        let range: (Option<i64>, Option<i64>, i64) = sqlx::query_as(
            "select min(seq), max(seq), count(*) from (
                 select seq from events where tenant = $1 and seq <= $2 order by seq limit $3
             ) chunk",
        )
        .bind(tenant.as_str())
        .bind(horizon)
        .bind(CHUNK)
        .fetch_one(&mut *tx)
        .await?;
        let (Some(first), Some(last), count) = range else {
            tx.commit().await?;
            break;
        };
        // Both statements are bounded by the chunk's range within the tenant; tag rows are found
        // by their primary key from the tags in each event's body.
        crate::indexer::hold(&mut tx, tenant).await?;
        for sql in [
            "delete from event_tags t
             using events e, jsonb_array_elements_text(e.body -> 'tags') as tag(name)
             where e.tenant = $1 and e.seq between $2 and $3
               and t.tenant = e.tenant and t.tag = tag.name and t.seq = e.seq",
            "delete from event_search where tenant = $1 and seq between $2 and $3",
            "delete from events where tenant = $1 and seq between $2 and $3",
        ] {
            sqlx::query(sql).bind(tenant.as_str()).bind(first).bind(last).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        removed += u64::try_from(count).unwrap_or(0);
    }
    let mut tx = fence::begin(pool, [tenant]).await?;
    for sql in [
        "delete from read_marks where tenant = $1 and seq <= $2",
        "delete from archived_events where tenant = $1 and seq <= $2",
        // A job without its event has nothing left to process or show.
        "delete from jobs where tenant = $1 and event_seq <= $2",
    ] {
        sqlx::query(sql).bind(tenant.as_str()).bind(horizon).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok((removed, Seq(horizon)))
}

/// The tenant's horizon (`Seq::ZERO` when it never purged).
pub(crate) async fn horizon(pool: &PgPool, tenant: &TenantId) -> Result<Seq> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let seq: Option<i64> = sqlx::query_scalar("select through_seq from horizons where tenant = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Seq(seq.unwrap_or(0)))
}
