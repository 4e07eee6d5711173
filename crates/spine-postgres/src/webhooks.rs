//! Outbound webhooks (SPEC section 8) for [`PgStore`]: endpoints, their leases and the delivery
//! log, behind the tenant fence; leasing and purging cross tenants through the migration's
//! `security definer` functions. An attempt and the progress it makes share one transaction.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{fence, PgStore};
use async_trait::async_trait;
use serde_json::Value;
use spine_core::webhook::{Status, WebhookSettings};
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{
    AttemptOutcome, AttemptRecord, Progress, StoreError, StoreResult, WebhookRecord, Webhooks,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

const COLUMNS: &str = "id, tenant, url, filter, description, secret, status, disabled_reason, \
     cursor, attempt, next_attempt_at, failing_since, created_at, updated_at";

const ATTEMPT_COLUMNS: &str = "id, event_id, event_seq, attempt, at, outcome, status_code, error, \
     latency_ms, response, next_attempt_at";

#[async_trait]
impl Webhooks for PgStore {
    async fn create_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &WebhookSettings,
        sealed_secret: &str,
        cursor: Seq,
    ) -> StoreResult<WebhookRecord> {
        let now = Timestamp::now().as_micros();
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "insert into webhooks (id, tenant, url, filter, description, secret, status, cursor,
                 attempt, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, 'active', $7, 0, $8, $8) returning {COLUMNS}"
        ))
        .bind(id)
        .bind(tenant.as_str())
        .bind(&settings.url)
        .bind(Value::Object(settings.filter.clone()).to_string())
        .bind(&settings.description)
        .bind(sealed_secret)
        .bind(cursor.0)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::from);
        match row {
            Ok(row) => {
                let webhook = record(&row)?;
                tx.commit().await.map_err(Error::from)?;
                Ok(webhook)
            }
            Err(e) if e.is_unique_violation() => {
                Err(StoreError::Conflict("the webhook id is taken".to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row =
            sqlx::query(&format!("select {COLUMNS} from webhooks where tenant = $1 and id = $2"))
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn list_webhooks(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from webhooks where tenant = $1 order by created_at, id"
        ))
        .bind(tenant.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(rows.iter().map(record).collect::<Result<_>>()?)
    }

    async fn update_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &WebhookSettings,
        status: Status,
        disabled_reason: Option<&str>,
    ) -> StoreResult<Option<WebhookRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "update webhooks set url = $1, filter = $2, description = $3, status = $4,
                 disabled_reason = $5,
                 failing_since = case when status = $4 then failing_since else null end,
                 next_attempt_at = case when status = $4 then next_attempt_at else null end,
                 updated_at = $6
             where tenant = $7 and id = $8 returning {COLUMNS}"
        ))
        .bind(&settings.url)
        .bind(Value::Object(settings.filter.clone()).to_string())
        .bind(&settings.description)
        .bind(status.as_str())
        .bind(disabled_reason)
        .bind(Timestamp::now().as_micros())
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        sqlx::query("delete from webhook_attempts where tenant = $1 and webhook_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        let done = sqlx::query("delete from webhooks where tenant = $1 and id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(done.rows_affected() > 0)
    }

    async fn replay_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        cursor: Seq,
    ) -> StoreResult<Option<WebhookRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let row = sqlx::query(&format!(
            "update webhooks set cursor = $1, attempt = 0, next_attempt_at = null, updated_at = $2
             where tenant = $3 and id = $4 returning {COLUMNS}"
        ))
        .bind(cursor.0)
        .bind(Timestamp::now().as_micros())
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn lease_webhooks(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<(TenantId, String)>> {
        let rows = sqlx::query("select tenant, id from spine_lease_webhooks($1, $2, $3)")
            .bind(node)
            .bind(now.as_micros())
            .bind(until.as_micros())
            .fetch_all(&self.pool)
            .await
            .map_err(Error::from)?;
        let leased = rows
            .iter()
            .map(|row| {
                let tenant = TenantId::parse(row.try_get("tenant")?)
                    .map_err(|e| Error::Unreadable(format!("webhook tenant: {e}")))?;
                Ok((tenant, row.try_get("id")?))
            })
            .collect::<Result<_>>()?;
        Ok(leased)
    }

    async fn release_webhooks(&self, node: &str) -> StoreResult<()> {
        sqlx::query("select spine_release_webhooks($1)")
            .bind(node)
            .execute(&self.pool)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn record_attempt(
        &self,
        tenant: &TenantId,
        webhook: &str,
        node: &str,
        now: Timestamp,
        attempt: &AttemptRecord,
        progress: Option<&Progress>,
    ) -> StoreResult<bool> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        insert_attempt(&mut tx, tenant, webhook, attempt).await?;
        let applied = match progress {
            None => true,
            Some(p) => {
                let done = sqlx::query(
                    "update webhooks set cursor = $1, attempt = $2, next_attempt_at = $3,
                         failing_since = $4,
                         status = case when $5::text is null then status else 'disabled' end,
                         disabled_reason = coalesce($5, disabled_reason), updated_at = $6
                     where tenant = $7 and id = $8 and lease_owner = $9 and lease_until > $6
                       and cursor = $10",
                )
                .bind(p.cursor.0)
                .bind(i32::try_from(p.attempt).unwrap_or(i32::MAX))
                .bind(p.next_attempt_at.map(Timestamp::as_micros))
                .bind(p.failing_since.map(Timestamp::as_micros))
                .bind(&p.disable)
                .bind(now.as_micros())
                .bind(tenant.as_str())
                .bind(webhook)
                .bind(node)
                .bind(p.expected_cursor.0)
                .execute(&mut *tx)
                .await
                .map_err(Error::from)?;
                done.rows_affected() > 0
            }
        };
        tx.commit().await.map_err(Error::from)?;
        Ok(applied)
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        webhook: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<AttemptRecord>> {
        let mut tx = fence::begin(&self.pool, [tenant]).await?;
        let rows = sqlx::query(&format!(
            "select {ATTEMPT_COLUMNS} from webhook_attempts
             where tenant = $1 and webhook_id = $2 and ($3::bytea is null or id < $3)
             order by id desc limit $4"
        ))
        .bind(tenant.as_str())
        .bind(webhook)
        .bind(before.map(|id| id.as_bytes().to_vec()))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(rows.iter().map(attempt_record).collect::<Result<_>>()?)
    }

    async fn purge_attempts(&self, before: Timestamp) -> StoreResult<u64> {
        let gone: i64 = sqlx::query_scalar("select spine_purge_webhook_attempts($1)")
            .bind(before.as_micros())
            .fetch_one(&self.pool)
            .await
            .map_err(Error::from)?;
        Ok(u64::try_from(gone).unwrap_or(0))
    }
}

async fn insert_attempt(
    tx: &mut Transaction<'_, Postgres>,
    tenant: &TenantId,
    webhook: &str,
    a: &AttemptRecord,
) -> Result<()> {
    sqlx::query(
        "insert into webhook_attempts (id, tenant, webhook_id, event_id, event_seq, attempt, at,
             outcome, status_code, error, latency_ms, response, next_attempt_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(a.id.as_bytes().to_vec())
    .bind(tenant.as_str())
    .bind(webhook)
    .bind(a.event_id.map(|id| id.as_bytes().to_vec()))
    .bind(a.event_seq.map(|s| s.0))
    .bind(i32::try_from(a.attempt).unwrap_or(i32::MAX))
    .bind(a.at.as_micros())
    .bind(a.outcome.as_str())
    .bind(a.status_code.map(i32::from))
    .bind(&a.error)
    .bind(i32::try_from(a.latency_ms).unwrap_or(i32::MAX))
    .bind(&a.response)
    .bind(a.next_attempt_at.map(Timestamp::as_micros))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn record(row: &PgRow) -> Result<WebhookRecord> {
    let unreadable = |what: &str, e: String| Error::Unreadable(format!("webhook {what}: {e}"));
    let filter: Value = serde_json::from_str(row.try_get("filter")?)?;
    let Value::Object(filter) = filter else {
        return Err(unreadable("filter", "not a JSON object".to_owned()));
    };
    Ok(WebhookRecord {
        tenant: TenantId::parse(row.try_get("tenant")?).map_err(|e| unreadable("tenant", e))?,
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        filter,
        description: row.try_get("description")?,
        secret: row.try_get("secret")?,
        status: Status::parse(row.try_get("status")?).map_err(|e| unreadable("status", e))?,
        disabled_reason: row.try_get("disabled_reason")?,
        cursor: Seq(row.try_get("cursor")?),
        attempt: u32::try_from(row.try_get::<i32, _>("attempt")?).unwrap_or(0),
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_at")?.map(timestamp),
        failing_since: row.try_get::<Option<i64>, _>("failing_since")?.map(timestamp),
        created_at: timestamp(row.try_get("created_at")?),
        updated_at: timestamp(row.try_get("updated_at")?),
    })
}

fn attempt_record(row: &PgRow) -> Result<AttemptRecord> {
    let outcome: &str = row.try_get("outcome")?;
    Ok(AttemptRecord {
        id: uuid(row.try_get("id")?)?,
        event_id: row.try_get::<Option<&[u8]>, _>("event_id")?.map(uuid).transpose()?,
        event_seq: row.try_get::<Option<i64>, _>("event_seq")?.map(Seq),
        attempt: u32::try_from(row.try_get::<i32, _>("attempt")?).unwrap_or(0),
        at: timestamp(row.try_get("at")?),
        outcome: AttemptOutcome::parse(outcome)
            .ok_or_else(|| Error::Unreadable(format!("attempt outcome {outcome:?}")))?,
        status_code: row
            .try_get::<Option<i32>, _>("status_code")?
            .and_then(|c| u16::try_from(c).ok()),
        error: row.try_get("error")?,
        latency_ms: u32::try_from(row.try_get::<i32, _>("latency_ms")?).unwrap_or(0),
        response: row.try_get("response")?,
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_at")?.map(timestamp),
    })
}

fn uuid(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| Error::Unreadable(format!("attempt id: {e}")))
}
