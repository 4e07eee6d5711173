//! Identifiers (SPEC section 6): normalized e-mail addresses and phone numbers, each on at most
//! one entity of a tenant (the primary key says so).

use crate::admin::timestamp;
use crate::error::Result;
use crate::fence;
use spine_core::{TenantId, Timestamp};
use spine_store::{IdentifierRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// Adds an identifier to an entity, or answers it if the entity holds it already.
pub(crate) async fn add(
    pool: &PgPool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
    kind: &str,
    value: &str,
) -> Result<std::result::Result<IdentifierRecord, StoreError>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into identifiers (tenant, value, kind, entity_type, entity_id, created_at)
         values ($1, $2, $3, $4, $5, $6) on conflict (tenant, value) do nothing",
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
         where tenant = $1 and value = $2",
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
    pool: &PgPool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<IdentifierRecord>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let rows = sqlx::query(
        "select kind, value, entity_type, entity_id, created_at from identifiers
         where tenant = $1 and entity_type = $2 and entity_id = $3 order by value",
    )
    .bind(tenant.as_str())
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter().map(record).collect()
}

/// Removes one of the entity's identifiers.
pub(crate) async fn delete(
    pool: &PgPool,
    tenant: &TenantId,
    entity_type: &str,
    entity_id: &str,
    value: &str,
) -> Result<bool> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let done = sqlx::query(
        "delete from identifiers
         where tenant = $1 and entity_type = $2 and entity_id = $3 and value = $4",
    )
    .bind(tenant.as_str())
    .bind(entity_type)
    .bind(entity_id)
    .bind(value)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// The records holding any of `values`.
pub(crate) async fn matching(
    pool: &PgPool,
    tenant: &TenantId,
    values: &[String],
) -> Result<Vec<IdentifierRecord>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "select kind, value, entity_type, entity_id, created_at from identifiers where tenant = ",
    );
    qb.push_bind(tenant.as_str()).push(" and value in (");
    let mut list = qb.separated(", ");
    for value in values.iter().take(500) {
        list.push_bind(value.as_str());
    }
    qb.push(")");
    let mut tx = fence::begin(pool, [tenant]).await?;
    let rows = qb.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    rows.iter().map(record).collect()
}

fn record(row: &PgRow) -> Result<IdentifierRecord> {
    Ok(IdentifierRecord {
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        entity_type: row.try_get("entity_type")?,
        entity_id: row.try_get("entity_id")?,
        created_at: timestamp(row.try_get("created_at")?),
    })
}

/// The tenant's default phone region.
pub(crate) async fn phone_region(pool: &PgPool, tenant: &TenantId) -> Result<Option<String>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let region = sqlx::query_scalar("select region from tenant_phone_regions where tenant = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(region)
}

/// Sets or clears the tenant's default phone region.
pub(crate) async fn set_phone_region(
    pool: &PgPool,
    tenant: &TenantId,
    region: Option<&str>,
) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    match region {
        Some(region) => sqlx::query(
            "insert into tenant_phone_regions (tenant, region) values ($1, $2)
             on conflict (tenant) do update set region = excluded.region",
        )
        .bind(tenant.as_str())
        .bind(region),
        None => {
            sqlx::query("delete from tenant_phone_regions where tenant = $1").bind(tenant.as_str())
        }
    }
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
