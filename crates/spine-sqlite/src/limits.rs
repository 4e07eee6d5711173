//! Rate limits and quotas ([`Limits`]) for [`SqliteStore`]: the two layers of each tenant's
//! limits, its usage, and the node roll (one process serves a SQLite file, so always 1).

use crate::error::Error;
use crate::{tx, SqliteStore};
use async_trait::async_trait;
use spine_core::limits::LimitsInput;
use spine_core::{TenantId, Timestamp};
use spine_store::{LimitLayer, Limits, StoreResult, StoredLimits, Usage};
use std::time::Duration;

#[async_trait]
impl Limits for SqliteStore {
    async fn put_limits(
        &self,
        tenant: &TenantId,
        layer: LimitLayer,
        limits: &LimitsInput,
    ) -> StoreResult<()> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        let limits = serde_json::to_string(limits).map_err(Error::from)?;
        tx::detached(async move {
            sqlx::query(
                "insert into tenant_limits (tenant, layer, limits, updated_at) values (?, ?, ?, ?)
                 on conflict (tenant, layer) do update set limits = excluded.limits,
                     updated_at = excluded.updated_at",
            )
            .bind(t.as_str())
            .bind(layer.as_str())
            .bind(&limits)
            .bind(Timestamp::now().as_micros())
            .execute(&pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn get_limits(&self, tenant: &TenantId) -> StoreResult<StoredLimits> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("select layer, limits from tenant_limits where tenant = ?")
                .bind(tenant.as_str())
                .fetch_all(&self.inner.reads)
                .await
                .map_err(Error::from)?;
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
        let (events, blob_bytes): (i64, i64) = sqlx::query_as(
            "select (select count(*) from events where tenant = ?1
                     and not (type >= 'audit.' and type < 'audit/')),
                    (select coalesce(sum(size), 0) from blobs where tenant = ?1)",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.inner.reads)
        .await
        .map_err(Error::from)?;
        Ok(Usage {
            events: u64::try_from(events).unwrap_or_default(),
            blob_bytes: u64::try_from(blob_bytes).unwrap_or_default(),
        })
    }

    async fn announce_node(&self, _node: &str, _window: Duration) -> StoreResult<u64> {
        Ok(1)
    }
}
