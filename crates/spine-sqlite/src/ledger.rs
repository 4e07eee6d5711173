//! The ingest ledger (SPEC section 6): one row per inbound request. Rows are written inside the
//! group commit that stores the request's events ([`write`]), and read newest first.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use spine_core::channel::Provider;
use spine_core::{TenantId, Timestamp};
use spine_store::group::LedgerRow;
use spine_store::{LedgerEntry, LedgerQuery, Verdict};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

const COLUMNS: &str = "id, channel_id, provider, received_at, verdict, reason, delivery_id, \
     event_ids, headers, body, body_bytes";

/// Writes a commit's ledger rows, inside its transaction.
pub(crate) async fn write(rows: &[LedgerRow], conn: &mut SqliteConnection) -> Result<()> {
    for row in rows {
        match row {
            LedgerRow::Insert(tenant, entry) => {
                sqlx::query(
                    "insert into ingest_requests (id, tenant, channel_id, provider, received_at,
                         verdict, reason, delivery_id, event_ids, headers, body, body_bytes)
                     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(entry.id.as_bytes().as_slice())
                .bind(tenant.as_str())
                .bind(&entry.channel_id)
                .bind(entry.provider.as_str())
                .bind(entry.received_at.as_micros())
                .bind(entry.verdict.as_str())
                .bind(entry.reason.as_deref())
                .bind(entry.delivery_id.as_deref())
                .bind(serde_json::to_string(&entry.event_ids)?)
                .bind(serde_json::to_string(&entry.headers)?)
                .bind(entry.body.as_slice())
                .bind(i64::try_from(entry.body_bytes).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await?;
            }
            LedgerRow::Update { tenant, id, event_ids, verdict } => {
                sqlx::query(
                    "update ingest_requests set event_ids = ?,
                         verdict = coalesce(?, verdict),
                         reason = case when ? is null then reason else null end
                     where tenant = ? and id = ?",
                )
                .bind(serde_json::to_string(event_ids)?)
                .bind(verdict.map(Verdict::as_str))
                .bind(verdict.map(Verdict::as_str))
                .bind(tenant.as_str())
                .bind(id.as_bytes().as_slice())
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

/// A page of the tenant's entries, newest first.
pub(crate) async fn list(
    pool: &SqlitePool,
    tenant: &TenantId,
    query: &LedgerQuery,
) -> Result<Vec<LedgerEntry>> {
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new(format!("select {COLUMNS} from ingest_requests where tenant = "));
    qb.push_bind(tenant.as_str());
    if let Some(channel) = &query.channel {
        qb.push(" and channel_id = ").push_bind(channel.as_str());
    }
    if let Some(verdict) = query.verdict {
        qb.push(" and verdict = ").push_bind(verdict.as_str());
    }
    if let Some((at, id)) = query.before {
        qb.push(" and (received_at, id) < (")
            .push_bind(at.as_micros())
            .push(", ")
            .push_bind(id.as_bytes().to_vec())
            .push(")");
    }
    qb.push(" order by received_at desc, id desc limit ")
        .push_bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter().map(entry).collect()
}

/// One entry.
pub(crate) async fn get(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: Uuid,
) -> Result<Option<LedgerEntry>> {
    let row =
        sqlx::query(&format!("select {COLUMNS} from ingest_requests where tenant = ? and id = ?"))
            .bind(tenant.as_str())
            .bind(id.as_bytes().as_slice())
            .fetch_optional(pool)
            .await?;
    row.as_ref().map(entry).transpose()
}

/// Removes entries received before `before`, tenant by tenant through the newest-first index.
pub(crate) async fn purge(pool: &SqlitePool, before: Timestamp) -> Result<u64> {
    let done = sqlx::query(
        "delete from ingest_requests
         where tenant in (select id from tenants) and received_at < ?",
    )
    .bind(before.as_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn entry(row: &SqliteRow) -> Result<LedgerEntry> {
    let unreadable = |what: &str, e: String| Error::Unreadable(format!("ledger {what}: {e}"));
    let id = Uuid::from_slice(row.try_get("id")?).map_err(|e| unreadable("id", e.to_string()))?;
    Ok(LedgerEntry {
        id,
        channel_id: row.try_get("channel_id")?,
        provider: Provider::parse(row.try_get("provider")?)
            .map_err(|e| unreadable("provider", e))?,
        received_at: timestamp(row.try_get("received_at")?),
        verdict: Verdict::parse(row.try_get("verdict")?).map_err(|e| unreadable("verdict", e))?,
        reason: row.try_get("reason")?,
        delivery_id: row.try_get("delivery_id")?,
        event_ids: serde_json::from_str(row.try_get("event_ids")?)?,
        headers: serde_json::from_str(row.try_get("headers")?)?,
        body: row.try_get("body")?,
        body_bytes: u64::try_from(row.try_get::<i64, _>("body_bytes")?).unwrap_or_default(),
    })
}
