//! Outbound webhooks (SPEC section 8) for [`SqliteStore`]: endpoints, their leases and the
//! delivery log. Writes go through the one-connection admin pool in a task of their own
//! (`tx::detached`); an attempt and the progress it makes share one transaction.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::{tx, SqliteStore};
use async_trait::async_trait;
use serde_json::Value;
use spine_core::webhook::{Status, WebhookSettings};
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{
    AttemptOutcome, AttemptRecord, Progress, StoreError, StoreResult, WebhookRecord, Webhooks,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

const COLUMNS: &str = "id, tenant, url, filter, description, secret, status, disabled_reason, \
     cursor, attempt, next_attempt_at, failing_since, created_at, updated_at";

const ATTEMPT_COLUMNS: &str = "id, event_id, event_seq, attempt, at, outcome, status_code, error, \
     latency_ms, response, next_attempt_at";

#[async_trait]
impl Webhooks for SqliteStore {
    async fn create_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &WebhookSettings,
        sealed_secret: &str,
        cursor: Seq,
    ) -> StoreResult<WebhookRecord> {
        let (pool, t, id, s, secret) = (
            self.inner.admin.clone(),
            tenant.clone(),
            id.to_owned(),
            settings.clone(),
            sealed_secret.to_owned(),
        );
        tx::detached(async move { create(&pool, &t, &id, &s, &secret, cursor).await }).await?
    }

    async fn get_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<WebhookRecord>> {
        let row =
            sqlx::query(&format!("select {COLUMNS} from webhooks where tenant = ? and id = ?"))
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.inner.reads)
                .await
                .map_err(Error::from)?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn list_webhooks(&self, tenant: &TenantId) -> StoreResult<Vec<WebhookRecord>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from webhooks where tenant = ? order by created_at, id"
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.inner.reads)
        .await
        .map_err(Error::from)?;
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
        let (pool, t, id, s) =
            (self.inner.admin.clone(), tenant.clone(), id.to_owned(), settings.clone());
        let reason = disabled_reason.map(str::to_owned);
        tx::detached(async move {
            let row = sqlx::query(&format!(
                "update webhooks set url = ?, filter = ?, description = ?, status = ?,
                     disabled_reason = ?,
                     failing_since = case when status = ? then failing_since else null end,
                     next_attempt_at = case when status = ? then next_attempt_at else null end,
                     updated_at = ?
                 where tenant = ? and id = ? returning {COLUMNS}"
            ))
            .bind(&s.url)
            .bind(Value::Object(s.filter.clone()).to_string())
            .bind(&s.description)
            .bind(status.as_str())
            .bind(&reason)
            .bind(status.as_str())
            .bind(status.as_str())
            .bind(Timestamp::now().as_micros())
            .bind(t.as_str())
            .bind(&id)
            .fetch_optional(&pool)
            .await?;
            row.as_ref().map(record).transpose()
        })
        .await
    }

    async fn delete_webhook(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        let (pool, t, id) = (self.inner.admin.clone(), tenant.clone(), id.to_owned());
        tx::detached(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("delete from webhook_attempts where tenant = ? and webhook_id = ?")
                .bind(t.as_str())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("delete from webhooks where tenant = ? and id = ?")
                .bind(t.as_str())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn replay_webhook(
        &self,
        tenant: &TenantId,
        id: &str,
        cursor: Seq,
    ) -> StoreResult<Option<WebhookRecord>> {
        let (pool, t, id) = (self.inner.admin.clone(), tenant.clone(), id.to_owned());
        tx::detached(async move {
            let row = sqlx::query(&format!(
                "update webhooks set cursor = ?, attempt = 0, next_attempt_at = null, updated_at = ?
                 where tenant = ? and id = ? returning {COLUMNS}"
            ))
            .bind(cursor.0)
            .bind(Timestamp::now().as_micros())
            .bind(t.as_str())
            .bind(&id)
            .fetch_optional(&pool)
            .await?;
            row.as_ref().map(record).transpose()
        })
        .await
    }

    async fn lease_webhooks(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> StoreResult<Vec<(TenantId, String)>> {
        let (pool, node) = (self.inner.admin.clone(), node.to_owned());
        tx::detached(async move {
            let rows = sqlx::query(
                "update webhooks set lease_owner = ?1, lease_until = ?3
                 where status = 'active'
                   and (lease_owner = ?1 or lease_until is null or lease_until < ?2)
                 returning tenant, id",
            )
            .bind(&node)
            .bind(now.as_micros())
            .bind(until.as_micros())
            .fetch_all(&pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let tenant = TenantId::parse(row.try_get("tenant")?)
                        .map_err(|e| Error::Unreadable(format!("webhook tenant: {e}")))?;
                    Ok((tenant, row.try_get("id")?))
                })
                .collect()
        })
        .await
    }

    async fn release_webhooks(&self, node: &str) -> StoreResult<()> {
        let (pool, node) = (self.inner.admin.clone(), node.to_owned());
        tx::detached(async move {
            sqlx::query("update webhooks set lease_until = null where lease_owner = ?")
                .bind(&node)
                .execute(&pool)
                .await?;
            Ok(())
        })
        .await
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
        let (pool, t, webhook, node) =
            (self.inner.admin.clone(), tenant.clone(), webhook.to_owned(), node.to_owned());
        let (attempt, progress) = (attempt.clone(), progress.cloned());
        tx::detached(async move {
            let mut tx = pool.begin().await?;
            insert_attempt(&mut tx, &t, &webhook, &attempt).await?;
            let applied = match progress {
                None => true,
                Some(p) => {
                    let done = sqlx::query(
                        "update webhooks set cursor = ?, attempt = ?, next_attempt_at = ?,
                             failing_since = ?,
                             status = case when ? is null then status else 'disabled' end,
                             disabled_reason = coalesce(?, disabled_reason), updated_at = ?
                         where tenant = ? and id = ? and lease_owner = ? and lease_until > ?
                           and cursor = ?",
                    )
                    .bind(p.cursor.0)
                    .bind(i64::from(p.attempt))
                    .bind(p.next_attempt_at.map(Timestamp::as_micros))
                    .bind(p.failing_since.map(Timestamp::as_micros))
                    .bind(&p.disable)
                    .bind(&p.disable)
                    .bind(now.as_micros())
                    .bind(t.as_str())
                    .bind(&webhook)
                    .bind(&node)
                    .bind(now.as_micros())
                    .bind(p.expected_cursor.0)
                    .execute(&mut *tx)
                    .await?;
                    done.rows_affected() > 0
                }
            };
            tx.commit().await?;
            Ok(applied)
        })
        .await
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        webhook: &str,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<AttemptRecord>> {
        let rows = sqlx::query(&format!(
            "select {ATTEMPT_COLUMNS} from webhook_attempts
             where tenant = ? and webhook_id = ? and (? is null or id < ?)
             order by id desc limit ?"
        ))
        .bind(tenant.as_str())
        .bind(webhook)
        .bind(before.map(|id| id.as_bytes().to_vec()))
        .bind(before.map(|id| id.as_bytes().to_vec()))
        .bind(i64::from(limit))
        .fetch_all(&self.inner.reads)
        .await
        .map_err(Error::from)?;
        Ok(rows.iter().map(attempt_record).collect::<Result<_>>()?)
    }

    async fn purge_attempts(&self, before: Timestamp) -> StoreResult<u64> {
        let pool = self.inner.admin.clone();
        tx::detached(async move {
            let done = sqlx::query("delete from webhook_attempts where at < ?")
                .bind(before.as_micros())
                .execute(&pool)
                .await?;
            Ok(done.rows_affected())
        })
        .await
    }
}

async fn create(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
    settings: &WebhookSettings,
    secret: &str,
    cursor: Seq,
) -> Result<StoreResult<WebhookRecord>> {
    let now = Timestamp::now().as_micros();
    let row = sqlx::query(&format!(
        "insert into webhooks (id, tenant, url, filter, description, secret, status, cursor,
             attempt, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, 'active', ?, 0, ?, ?) returning {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant.as_str())
    .bind(&settings.url)
    .bind(Value::Object(settings.filter.clone()).to_string())
    .bind(&settings.description)
    .bind(secret)
    .bind(cursor.0)
    .bind(now)
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(Error::from);
    match row {
        Ok(row) => Ok(Ok(record(&row)?)),
        Err(e) if e.is_unique_violation() => {
            Ok(Err(StoreError::Conflict("the webhook id is taken".to_owned())))
        }
        Err(e) => Err(e),
    }
}

async fn insert_attempt(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    tenant: &TenantId,
    webhook: &str,
    a: &AttemptRecord,
) -> Result<()> {
    sqlx::query(
        "insert into webhook_attempts (id, tenant, webhook_id, event_id, event_seq, attempt, at,
             outcome, status_code, error, latency_ms, response, next_attempt_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(a.id.as_bytes().to_vec())
    .bind(tenant.as_str())
    .bind(webhook)
    .bind(a.event_id.map(|id| id.as_bytes().to_vec()))
    .bind(a.event_seq.map(|s| s.0))
    .bind(i64::from(a.attempt))
    .bind(a.at.as_micros())
    .bind(a.outcome.as_str())
    .bind(a.status_code.map(i64::from))
    .bind(&a.error)
    .bind(i64::from(a.latency_ms))
    .bind(&a.response)
    .bind(a.next_attempt_at.map(Timestamp::as_micros))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn record(row: &SqliteRow) -> Result<WebhookRecord> {
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
        attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(0),
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_at")?.map(timestamp),
        failing_since: row.try_get::<Option<i64>, _>("failing_since")?.map(timestamp),
        created_at: timestamp(row.try_get("created_at")?),
        updated_at: timestamp(row.try_get("updated_at")?),
    })
}

fn attempt_record(row: &SqliteRow) -> Result<AttemptRecord> {
    let outcome: &str = row.try_get("outcome")?;
    Ok(AttemptRecord {
        id: uuid(row.try_get("id")?)?,
        event_id: row.try_get::<Option<&[u8]>, _>("event_id")?.map(uuid).transpose()?,
        event_seq: row.try_get::<Option<i64>, _>("event_seq")?.map(Seq),
        attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(0),
        at: timestamp(row.try_get("at")?),
        outcome: AttemptOutcome::parse(outcome)
            .ok_or_else(|| Error::Unreadable(format!("attempt outcome {outcome:?}")))?,
        status_code: row
            .try_get::<Option<i64>, _>("status_code")?
            .and_then(|c| u16::try_from(c).ok()),
        error: row.try_get("error")?,
        latency_ms: u32::try_from(row.try_get::<i64, _>("latency_ms")?).unwrap_or(0),
        response: row.try_get("response")?,
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_at")?.map(timestamp),
    })
}

fn uuid(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| Error::Unreadable(format!("attempt id: {e}")))
}
