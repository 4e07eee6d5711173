//! Retention (SPEC section 8) for [`SqliteStore`]: policies, the events that may have expired,
//! and their removal. As in `purge`, the horizon is raised in its own transaction before any
//! event goes, and the events go in short chunks on the admin connection.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{tx, SqliteStore};
use async_trait::async_trait;
use spine_core::retention::RetentionInput;
use spine_core::{EventType, Seq, TenantId, Timestamp};
use spine_store::{Candidate, Expiry, Notice, PurgeOutcome, StoreResult};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqlitePool};

/// Events removed per transaction.
const CHUNK: usize = 500;

#[async_trait]
impl Expiry for SqliteStore {
    async fn put_retention(&self, tenant: &TenantId, policy: &RetentionInput) -> StoreResult<()> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        let policy = serde_json::to_string(policy).map_err(Error::from)?;
        tx::detached(async move {
            sqlx::query(
                "insert into retention_policies (tenant, policy, updated_at) values (?, ?, ?)
                 on conflict (tenant) do update set policy = excluded.policy,
                     updated_at = excluded.updated_at",
            )
            .bind(t.as_str())
            .bind(&policy)
            .bind(Timestamp::now().as_micros())
            .execute(&pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn get_retention(&self, tenant: &TenantId) -> StoreResult<Option<RetentionInput>> {
        let policy: Option<String> =
            sqlx::query_scalar("select policy from retention_policies where tenant = ?")
                .bind(tenant.as_str())
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(Error::from)?;
        Ok(policy.map(|p| serde_json::from_str(&p)).transpose().map_err(Error::from)?)
    }

    async fn expiry_candidates(
        &self,
        tenant: &TenantId,
        now: Timestamp,
        older_than: Option<Timestamp>,
        after: Seq,
        limit: u32,
    ) -> StoreResult<Vec<Candidate>> {
        // Without an age limit only `expires_at` matters, and its partial index finds them.
        let sql = match older_than {
            None => {
                "select seq, type, received_at, expires_at from events
                 where tenant = ?1 and expires_at <= ?2 and seq > ?4 order by seq limit ?5"
            }
            Some(_) => {
                "select seq, type, received_at, expires_at from events
                 where tenant = ?1 and seq > ?4 and (expires_at <= ?2 or received_at < ?3)
                 order by seq limit ?5"
            }
        };
        let rows = sqlx::query(sql)
            .bind(tenant.as_str())
            .bind(now.as_micros())
            .bind(older_than.map(Timestamp::as_micros))
            .bind(after.0)
            .bind(i64::from(limit))
            .fetch_all(&self.inner.reads)
            .await
            .map_err(Error::from)?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in rows {
            let event_type = EventType::parse(row.try_get("type").map_err(Error::from)?)
                .map_err(|e| Error::Unreadable(format!("event type: {e}")))?;
            candidates.push(Candidate {
                seq: Seq(row.try_get("seq").map_err(Error::from)?),
                event_type,
                received_at: timestamp(row.try_get("received_at").map_err(Error::from)?),
                expires_at: row
                    .try_get::<Option<i64>, _>("expires_at")
                    .map_err(Error::from)?
                    .map(timestamp),
            });
        }
        Ok(candidates)
    }

    async fn remove_events(&self, tenant: &TenantId, seqs: &[Seq]) -> StoreResult<PurgeOutcome> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        let seqs: Vec<i64> = seqs.iter().map(|s| s.0).collect();
        let (removed, horizon) =
            tx::detached(async move { remove(&pool, &t, &seqs).await }).await?;
        self.inner.writer.announce(Notice::Purged { tenant: tenant.clone(), horizon });
        Ok(PurgeOutcome { removed, horizon })
    }
}

async fn remove(pool: &SqlitePool, tenant: &TenantId, seqs: &[i64]) -> Result<(u64, Seq)> {
    let mut conn = pool.acquire().await?;
    let highest = seqs.iter().copied().max().unwrap_or(0);
    let mut tx = conn.begin_with("begin immediate").await?;
    let horizon: i64 = sqlx::query_scalar(
        "insert into horizons (tenant, through_seq) values (?, ?)
         on conflict (tenant) do update set through_seq = max(through_seq, excluded.through_seq)
         returning through_seq",
    )
    .bind(tenant.as_str())
    .bind(highest)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut removed = 0;
    for chunk in seqs.chunks(CHUNK) {
        let mut tx = conn.begin_with("begin immediate").await?;
        for (table, column, keys) in [
            ("event_keys", "seq", true),
            ("events_fts", "rowid", false),
            ("read_marks", "seq", false),
            ("archived_events", "seq", false),
            ("jobs", "event_seq", false),
            ("events", "seq", false),
        ] {
            // Index entries exist only up to the indexer's watermark.
            let indexed = "seq <= (select indexed_seq from idx.index_meta where id = 1)";
            let mut qb: QueryBuilder<'_, Sqlite> = if keys {
                // Key rows are found by their primary key, derived from each event's row.
                let mut qb = QueryBuilder::new(format!(
                    "delete from idx.event_keys where (tenant, kind, key, occurred_at, seq) in
                         (select * from event_key_rows where {indexed} and tenant = "
                ));
                qb.push_bind(tenant.as_str()).push(" and seq in (");
                qb
            } else if table == "events_fts" {
                // The search index holds no tenant: its rows are the tenant's events' positions.
                let mut qb = QueryBuilder::new(format!(
                    "delete from idx.events_fts where rowid in
                         (select seq from events where {indexed} and tenant = "
                ));
                qb.push_bind(tenant.as_str()).push(" and seq in (");
                qb
            } else {
                let mut qb = QueryBuilder::new(format!("delete from {table} where tenant = "));
                qb.push_bind(tenant.as_str()).push(format!(" and {column} in ("));
                qb
            };
            let mut list = qb.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            qb.push(if keys || table == "events_fts" { "))" } else { ")" });
            let done = qb.build().execute(&mut *tx).await?;
            if table == "events" {
                removed += done.rows_affected();
            }
        }
        tx.commit().await?;
    }
    Ok((removed, Seq(horizon)))
}
