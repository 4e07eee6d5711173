//! Retention (SPEC section 8) for [`PgStore`]: policies, the events that may have expired, and
//! their removal behind the tenant fence. As in `purge`, the horizon is raised in its own
//! transaction before any event goes (and announced to every node), then the events go in short
//! chunks.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{fence, PgStore};
use async_trait::async_trait;
use spine_core::retention::RetentionInput;
use spine_core::{EventType, Seq, TenantId, Timestamp};
use spine_store::{Candidate, Expiry, Notice, PurgeOutcome, StoreResult};
use sqlx::{PgPool, Row};

/// Events removed per transaction.
const CHUNK: usize = 1000;

#[async_trait]
impl Expiry for PgStore {
    async fn put_retention(&self, tenant: &TenantId, policy: &RetentionInput) -> StoreResult<()> {
        let policy = serde_json::to_string(policy).map_err(Error::from)?;
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        sqlx::query(
            "insert into retention_policies (tenant, policy, updated_at) values ($1, $2, $3)
             on conflict (tenant) do update set policy = excluded.policy,
                 updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(&policy)
        .bind(Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    async fn get_retention(&self, tenant: &TenantId) -> StoreResult<Option<RetentionInput>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let policy: Option<String> =
            sqlx::query_scalar("select policy from retention_policies where tenant = $1")
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
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
                 where tenant = $1 and expires_at <= $2 and seq > $4 and $3::bigint is null
                 order by seq limit $5"
            }
            Some(_) => {
                "select seq, type, received_at, expires_at from events
                 where tenant = $1 and seq > $4 and (expires_at <= $2 or received_at < $3)
                 order by seq limit $5"
            }
        };
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let rows = sqlx::query(sql)
            .bind(tenant.as_str())
            .bind(now.as_micros())
            .bind(older_than.map(Timestamp::as_micros))
            .bind(after.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
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
        let seqs: Vec<i64> = seqs.iter().map(|s| s.0).collect();
        let (removed, horizon) = remove(&self.pool, tenant, &seqs).await?;
        self.announce(Notice::Purged { tenant: tenant.clone(), horizon }).await;
        Ok(PurgeOutcome { removed, horizon })
    }
}

async fn remove(pool: &PgPool, tenant: &TenantId, seqs: &[i64]) -> Result<(u64, Seq)> {
    let highest = seqs.iter().copied().max().unwrap_or(0);
    let mut tx = fence::begin(pool, [tenant]).await?;
    let horizon: i64 = sqlx::query_scalar(
        "insert into horizons as h (tenant, through_seq) values ($1, $2)
         on conflict (tenant) do update set through_seq = greatest(h.through_seq, excluded.through_seq)
         returning through_seq",
    )
    .bind(tenant.as_str())
    .bind(highest)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut removed = 0;
    for chunk in seqs.chunks(CHUNK) {
        let mut tx = fence::begin(pool, [tenant]).await?;
        crate::indexer::hold(&mut tx, tenant).await?;
        for sql in [
            "delete from event_search where tenant = $1 and seq = any($2)",
            // Tag rows are found by their primary key from the tags in each event's body.
            "delete from event_tags t
             using events e, jsonb_array_elements_text(e.body -> 'tags') as tag(name)
             where e.tenant = $1 and e.seq = any($2)
               and t.tenant = e.tenant and t.tag = tag.name and t.seq = e.seq",
            "delete from read_marks where tenant = $1 and seq = any($2)",
            "delete from archived_events where tenant = $1 and seq = any($2)",
            "delete from jobs where tenant = $1 and event_seq = any($2)",
        ] {
            sqlx::query(sql).bind(tenant.as_str()).bind(chunk).execute(&mut *tx).await?;
        }
        let done = sqlx::query("delete from events where tenant = $1 and seq = any($2)")
            .bind(tenant.as_str())
            .bind(chunk)
            .execute(&mut *tx)
            .await?;
        removed += done.rows_affected();
        tx.commit().await?;
    }
    Ok((removed, Seq(horizon)))
}
