//! Consumers (SPEC section 8) for [`SqliteStore`]: one row per consumer, its filter as given and
//! its checkpoint. Writes go through the one-connection admin pool in a task of their own
//! (`tx::detached`); an acknowledgement is one `update` whose `max` keeps a checkpoint from
//! moving back.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{tx, SqliteStore};
use async_trait::async_trait;
use serde_json::{Map, Value};
use spine_core::consumer::Ack;
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{ConsumerRecord, Consumers, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

const COLUMNS: &str = "name, filter, checkpoint, created_at, acked_at";

#[async_trait]
impl Consumers for SqliteStore {
    async fn create_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        filter: &Map<String, Value>,
        checkpoint: Seq,
    ) -> StoreResult<ConsumerRecord> {
        let (pool, t, name) = (self.inner.admin.clone(), tenant.clone(), name.to_owned());
        let filter = Value::Object(filter.clone()).to_string();
        tx::detached(async move { create(&pool, &t, &name, &filter, checkpoint).await }).await?
    }

    async fn get_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> StoreResult<Option<ConsumerRecord>> {
        let row =
            sqlx::query(&format!("select {COLUMNS} from consumers where tenant = ? and name = ?"))
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn list_consumers(&self, tenant: &TenantId) -> StoreResult<Vec<ConsumerRecord>> {
        let rows =
            sqlx::query(&format!("select {COLUMNS} from consumers where tenant = ? order by name"))
                .bind(tenant.as_str())
                .fetch_all(&self.inner.reads)
                .await
                .map_err(Error::from)?;
        Ok(rows.iter().map(record).collect::<Result<_>>()?)
    }

    async fn ack_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        ack: Ack,
    ) -> StoreResult<Option<ConsumerRecord>> {
        let (pool, t, name) = (self.inner.admin.clone(), tenant.clone(), name.to_owned());
        tx::detached(async move { acknowledge(&pool, &t, &name, ack).await }).await
    }

    async fn delete_consumer(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        let (pool, t, name) = (self.inner.admin.clone(), tenant.clone(), name.to_owned());
        tx::detached(async move {
            let done = sqlx::query("delete from consumers where tenant = ? and name = ?")
                .bind(t.as_str())
                .bind(&name)
                .execute(&pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn position_before(&self, tenant: &TenantId, time: Timestamp) -> StoreResult<Seq> {
        let seq: Option<i64> =
            sqlx::query_scalar("select max(seq) from events where tenant = ? and received_at < ?")
                .bind(tenant.as_str())
                .bind(time.as_micros())
                .fetch_one(&self.inner.reads)
                .await
                .map_err(Error::from)?;
        Ok(Seq(seq.unwrap_or(0)))
    }
}

async fn create(
    pool: &SqlitePool,
    tenant: &TenantId,
    name: &str,
    filter: &str,
    checkpoint: Seq,
) -> Result<StoreResult<ConsumerRecord>> {
    let now = Timestamp::now().as_micros();
    let row = sqlx::query(&format!(
        "insert into consumers (tenant, name, filter, checkpoint, created_at, acked_at)
         values (?, ?, ?, ?, ?, ?) returning {COLUMNS}"
    ))
    .bind(tenant.as_str())
    .bind(name)
    .bind(filter)
    .bind(checkpoint.0)
    .bind(now)
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(Error::from);
    match row {
        Ok(row) => Ok(Ok(record(&row)?)),
        Err(e) if e.is_unique_violation() => {
            Ok(Err(StoreError::Conflict("a consumer of that name exists".to_owned())))
        }
        Err(e) => Err(e),
    }
}

async fn acknowledge(
    pool: &SqlitePool,
    tenant: &TenantId,
    name: &str,
    ack: Ack,
) -> Result<Option<ConsumerRecord>> {
    let set = match ack {
        Ack::Through(_) => "max(checkpoint, ?1)",
        Ack::RewindTo(_) => "?1",
    };
    let row = sqlx::query(&format!(
        "update consumers set checkpoint = {set},
             acked_at = case when checkpoint = {set} then acked_at else ?2 end
         where tenant = ?3 and name = ?4 returning {COLUMNS}"
    ))
    .bind(ack.seq().0)
    .bind(Timestamp::now().as_micros())
    .bind(tenant.as_str())
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(record).transpose()
}

fn record(row: &SqliteRow) -> Result<ConsumerRecord> {
    let filter: Value = serde_json::from_str(row.try_get("filter")?)?;
    let Value::Object(filter) = filter else {
        return Err(Error::Unreadable("a consumer's filter is not a JSON object".to_owned()));
    };
    Ok(ConsumerRecord {
        name: row.try_get("name")?,
        filter,
        checkpoint: Seq(row.try_get("checkpoint")?),
        created_at: timestamp(row.try_get("created_at")?),
        acked_at: timestamp(row.try_get("acked_at")?),
    })
}
