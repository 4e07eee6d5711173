//! Consumers (SPEC section 8): one row per consumer, its filter as given and its checkpoint.
//! An acknowledgement is one `update` whose `greatest` keeps a checkpoint from moving back
//! under concurrent acknowledgements.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{fence, PgStore};
use async_trait::async_trait;
use serde_json::{Map, Value};
use spine_core::consumer::Ack;
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{ConsumerRecord, Consumers, StoreError, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::Row;

const COLUMNS: &str = "name, filter, checkpoint, created_at, acked_at";

#[async_trait]
impl Consumers for PgStore {
    async fn create_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        filter: &Map<String, Value>,
        checkpoint: Seq,
    ) -> StoreResult<ConsumerRecord> {
        let now = Timestamp::now().as_micros();
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "insert into consumers (tenant, name, filter, checkpoint, created_at, acked_at)
             values ($1, $2, $3, $4, $5, $5) returning {COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(name)
        .bind(Value::Object(filter.clone()).to_string())
        .bind(checkpoint.0)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from);
        match row {
            Ok(row) => {
                let consumer = record(&row)?;
                tx.commit().await.map_err(Error::from)?;
                Ok(consumer)
            }
            Err(e) if e.is_unique_violation() => {
                Err(StoreError::Conflict("a consumer of that name exists".to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> StoreResult<Option<ConsumerRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "select {COLUMNS} from consumers where tenant = $1 and name = $2"
        ))
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn list_consumers(&self, tenant: &TenantId) -> StoreResult<Vec<ConsumerRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from consumers where tenant = $1 order by name"
        ))
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(rows.iter().map(record).collect::<Result<_>>()?)
    }

    async fn ack_consumer(
        &self,
        tenant: &TenantId,
        name: &str,
        ack: Ack,
    ) -> StoreResult<Option<ConsumerRecord>> {
        let set = match ack {
            Ack::Through(_) => "greatest(checkpoint, $1)",
            Ack::RewindTo(_) => "$1",
        };
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "update consumers set checkpoint = {set},
                 acked_at = case when checkpoint = {set} then acked_at else $2 end
             where tenant = $3 and name = $4 returning {COLUMNS}"
        ))
        .bind(ack.seq().0)
        .bind(Timestamp::now().as_micros())
        .bind(tenant.as_str())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn delete_consumer(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let done = sqlx::query("delete from consumers where tenant = $1 and name = $2")
            .bind(tenant.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(done.rows_affected() > 0)
    }

    async fn position_before(&self, tenant: &TenantId, time: Timestamp) -> StoreResult<Seq> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let seq: Option<i64> = sqlx::query_scalar(
            "select max(seq) from events where tenant = $1 and received_at < $2",
        )
        .bind(tenant.as_str())
        .bind(time.as_micros())
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Seq(seq.unwrap_or(0)))
    }
}

fn record(row: &PgRow) -> Result<ConsumerRecord> {
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
