//! Rate limits and quotas ([`Limits`]) for [`PgStore`]: the two layers of each tenant's limits
//! behind the tenant fence, its usage, and the roll of live nodes (`cluster_nodes`) that each
//! node divides a limit by.

use crate::error::Error;
use crate::{fence, PgStore};
use async_trait::async_trait;
use spine_core::limits::LimitsInput;
use spine_core::{TenantId, Timestamp};
use spine_store::{LimitLayer, Limits, StoreResult, StoredLimits, Usage};
use std::time::Duration;

/// How long a node that stopped announcing itself stays on the roll before it is removed.
const FORGET_AFTER_WINDOWS: i64 = 100;

#[async_trait]
impl Limits for PgStore {
    async fn put_limits(
        &self,
        tenant: &TenantId,
        layer: LimitLayer,
        limits: &LimitsInput,
    ) -> StoreResult<()> {
        let limits = serde_json::to_string(limits).map_err(Error::from)?;
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        sqlx::query(
            "insert into tenant_limits (tenant, layer, limits, updated_at) values ($1, $2, $3, $4)
             on conflict (tenant, layer) do update set limits = excluded.limits,
                 updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(layer.as_str())
        .bind(&limits)
        .bind(Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    async fn get_limits(&self, tenant: &TenantId) -> StoreResult<StoredLimits> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("select layer, limits from tenant_limits where tenant = $1")
                .bind(tenant.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        let mut stored = StoredLimits::default();
        for (layer, limits) in rows {
            let limits: LimitsInput = serde_json::from_str(&limits).map_err(Error::from)?;
            match layer.as_str() {
                "ceiling" => stored.ceiling = Some(limits),
                _ => stored.own = Some(limits),
            }
        }
        Ok(stored)
    }

    async fn usage(&self, tenant: &TenantId) -> StoreResult<Usage> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let (events, blob_bytes): (i64, i64) = sqlx::query_as(
            "select (select count(*) from events where tenant = $1
                     and not (type >= 'audit.' and type < 'audit/')),
                    (select coalesce(sum(size), 0)::bigint from blobs where tenant = $1)",
        )
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Usage {
            events: u64::try_from(events).unwrap_or_default(),
            blob_bytes: u64::try_from(blob_bytes).unwrap_or_default(),
        })
    }

    async fn announce_node(&self, node: &str, window: Duration) -> StoreResult<u64> {
        let now = Timestamp::now().as_micros();
        let window = i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        let live: i64 = sqlx::query_scalar(
            "with seen as (
                 insert into cluster_nodes (id, seen_at) values ($1, $2)
                 on conflict (id) do update set seen_at = excluded.seen_at
             ), gone as (
                 delete from cluster_nodes where seen_at < $2 - $3 * $4
             )
             select 1 + count(*) from cluster_nodes where id <> $1 and seen_at >= $2 - $3",
        )
        .bind(node)
        .bind(now)
        .bind(window)
        .bind(FORGET_AFTER_WINDOWS)
        .fetch_one(&self.pool)
        .await
        .map_err(Error::from)?;
        Ok(u64::try_from(live).unwrap_or(1).max(1))
    }
}
