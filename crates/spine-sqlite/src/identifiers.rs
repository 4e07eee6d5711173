//! Identifiers (SPEC section 6): normalized e-mail addresses and phone numbers, each on at most
//! one entity of a tenant (the primary key says so).

use crate::admin::timestamp;
use crate::error::Result;
use spine_core::{TenantId, Timestamp};
use spine_store::{IdentifierRecord, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

/// Adds an identifier to an entity, or answers it if the entity holds it already.
pub(crate) async fn add(
    pool: &SqlitePool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
    kind: &str,
    value: &str,
) -> Result<std::result::Result<IdentifierRecord, StoreError>> {
    let mut tx = crate::tx::begin_immediate(pool).await?;
    sqlx::query(
        "insert into identifiers (tenant, value, kind, entity_type, entity_id, created_at)
         values (?, ?, ?, ?, ?, ?) on conflict (tenant, value) do nothing",
    )
    .bind(tenant.as_str())
    .bind(value)
    .bind(kind)
    .bind(entity_type)
    .bind(entity_id)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query(
        "select kind, value, entity_type, entity_id, created_at from identifiers
         where tenant = ? and value = ?",
    )
    .bind(tenant.as_str())
    .bind(value)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let found = record(&row)?;
    if found.entity_type == entity_type && found.entity_id == entity_id {
        Ok(Ok(found))
    } else {
        Ok(Err(StoreError::Conflict("another entity holds this identifier".to_owned())))
    }
}

/// The entity's identifiers.
pub(crate) async fn list(
    pool: &SqlitePool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<IdentifierRecord>> {
    let rows = sqlx::query(
        "select kind, value, entity_type, entity_id, created_at from identifiers
         where tenant = ? and entity_type = ? and entity_id = ? order by value",
    )
    .bind(tenant.as_str())
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(record).collect()
}

/// Removes one of the entity's identifiers.
pub(crate) async fn delete(
    pool: &SqlitePool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
    value: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "delete from identifiers
         where tenant = ? and entity_type = ? and entity_id = ? and value = ?",
    )
    .bind(tenant.as_str())
    .bind(entity_type)
    .bind(entity_id)
    .bind(value)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The records holding any of `values`.
pub(crate) async fn matching(
    pool: &SqlitePool,
    tenant: &TenantId,
    values: &[String],
) -> Result<Vec<IdentifierRecord>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
        "select kind, value, entity_type, entity_id, created_at from identifiers where tenant = ",
    );
    qb.push_bind(tenant.as_str()).push(" and value in (");
    let mut list = qb.separated(", ");
    for value in values.iter().take(500) {
        list.push_bind(value.as_str());
    }
    qb.push(")");
    let rows = qb.build().fetch_all(pool).await?;
    rows.iter().map(record).collect()
}

fn record(row: &SqliteRow) -> Result<IdentifierRecord> {
    Ok(IdentifierRecord {
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        entity_type: row.try_get("entity_type")?,
        entity_id: row.try_get("entity_id")?,
        created_at: timestamp(row.try_get("created_at")?),
    })
}

/// The tenant's default phone region.
pub(crate) async fn phone_region(pool: &SqlitePool, tenant: &TenantId) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("select region from tenant_phone_regions where tenant = ?")
        .bind(tenant.as_str())
        .fetch_optional(pool)
        .await?)
}

/// Sets or clears the tenant's default phone region.
pub(crate) async fn set_phone_region(
    pool: &SqlitePool,
    tenant: &TenantId,
    region: Option<&str>,
) -> Result<()> {
    match region {
        Some(region) => sqlx::query(
            "insert into tenant_phone_regions (tenant, region) values (?, ?)
             on conflict (tenant) do update set region = excluded.region",
        )
        .bind(tenant.as_str())
        .bind(region),
        None => {
            sqlx::query("delete from tenant_phone_regions where tenant = ?").bind(tenant.as_str())
        }
    }
    .execute(pool)
    .await?;
    Ok(())
}
