//! Tenants, API keys, registered types and the installation secret: small, rare writes that go
//! through the shared pool, and their reads.

use crate::error::{Error, Result};
use crate::fence;
use spine_core::{EventType, Role, TenantId, Timestamp, TypeInfo};
use spine_store::{ApiKeyInfo, ApiKeyRecord, NewApiKey, StoreError, StoreResult, Tenant};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

/// A stored time, or the epoch if the stored integer is out of range.
pub(crate) fn timestamp(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros).unwrap_or(Timestamp::MIN)
}

/// The installation secret, created on first use from two `gen_random_uuid()` (PostgreSQL's
/// strong random source, 244 random bits) so no extension is needed. Every node sharing the
/// database sees the same one: creation is an insert that loses quietly to an earlier one.
pub(crate) async fn server_secret(pool: &PgPool) -> Result<Vec<u8>> {
    let read = || sqlx::query_scalar::<_, Vec<u8>>("select secret from server_secret where id = 1");
    if let Some(secret) = read().fetch_optional(pool).await? {
        return Ok(secret);
    }
    sqlx::query(
        "insert into server_secret (id, secret)
         values (1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
         on conflict (id) do nothing",
    )
    .execute(pool)
    .await?;
    Ok(read().fetch_one(pool).await?)
}

fn tenant_from(row: &PgRow) -> Result<Option<Tenant>> {
    let id: String = row.try_get("id")?;
    // Only valid ids are ever written; a row that no longer parses is skipped, not a panic.
    let Ok(id) = TenantId::parse(&id) else { return Ok(None) };
    Ok(Some(Tenant {
        id,
        name: row.try_get("name")?,
        created_at: timestamp(row.try_get("created_at")?),
    }))
}

/// Creates a tenant; `Conflict` when the id is taken.
pub(crate) async fn create_tenant(pool: &PgPool, id: &TenantId, name: &str) -> StoreResult<Tenant> {
    let tenant = Tenant { id: id.clone(), name: name.to_owned(), created_at: Timestamp::now() };
    let mut tx = fence::begin(pool, [id]).await?;
    let inserted = sqlx::query("insert into tenants (id, name, created_at) values ($1, $2, $3)")
        .bind(id.as_str())
        .bind(name)
        .bind(tenant.created_at.as_micros())
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
    match inserted {
        Ok(_) => {
            tx.commit().await.map_err(Error::from)?;
            Ok(tenant)
        }
        Err(e) if e.is_unique_violation() => {
            Err(StoreError::Conflict(format!("tenant {id} already exists")))
        }
        Err(e) => Err(e.into()),
    }
}

/// A tenant by id.
pub(crate) async fn get_tenant(pool: &PgPool, id: &TenantId) -> Result<Option<Tenant>> {
    let mut tx = fence::begin(pool, [id]).await?;
    let row = sqlx::query("select id, name, created_at from tenants where id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(match row {
        Some(row) => tenant_from(&row)?,
        None => None,
    })
}

/// Every tenant, by id.
pub(crate) async fn list_tenants(pool: &PgPool) -> Result<Vec<Tenant>> {
    let mut tx = fence::begin(pool, []).await?;
    let rows = sqlx::query("select id, name, created_at from spine_tenants() order by id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut tenants = Vec::with_capacity(rows.len());
    for row in &rows {
        tenants.extend(tenant_from(row)?);
    }
    Ok(tenants)
}

fn key_info(row: &PgRow) -> Result<Option<ApiKeyInfo>> {
    let Ok(role) = Role::parse(row.try_get::<&str, _>("role")?) else { return Ok(None) };
    Ok(Some(ApiKeyInfo {
        id: row.try_get("id")?,
        role,
        name: row.try_get("name")?,
        created_at: timestamp(row.try_get("created_at")?),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(timestamp),
    }))
}

/// Stores a key of an existing tenant; `NotFound` for an unknown tenant, `Conflict` for a taken id.
pub(crate) async fn create_key(
    pool: &PgPool,
    tenant: &TenantId,
    key: NewApiKey,
) -> StoreResult<ApiKeyInfo> {
    let created_at = Timestamp::now();
    let mut tx = fence::begin(pool, [tenant]).await?;
    let inserted = sqlx::query(
        "insert into api_keys (id, tenant, role, name, secret_hash, created_at)
         select $1, id, $2, $3, $4, $5 from tenants where id = $6",
    )
    .bind(&key.id)
    .bind(key.role.as_str())
    .bind(key.name.as_deref())
    .bind(&key.secret_hash)
    .bind(created_at.as_micros())
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await
    .map_err(Error::from);
    match inserted {
        Ok(done) if done.rows_affected() == 0 => Err(StoreError::NotFound),
        Ok(_) => {
            tx.commit().await.map_err(Error::from)?;
            Ok(ApiKeyInfo {
                id: key.id,
                role: key.role,
                name: key.name,
                created_at,
                revoked_at: None,
            })
        }
        Err(e) if e.is_unique_violation() => {
            Err(StoreError::Conflict("key id already exists".to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A key by its public id, across tenants, with its hash.
pub(crate) async fn find_key(pool: &PgPool, key_id: &str) -> Result<Option<ApiKeyRecord>> {
    let mut tx = fence::begin(pool, []).await?;
    let row = sqlx::query(
        "select id, tenant, role, name, secret_hash, created_at, revoked_at
         from spine_find_key($1)",
    )
    .bind(key_id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let (Some(info), Ok(tenant)) = (key_info(&row)?, TenantId::parse(row.try_get("tenant")?))
    else {
        return Ok(None);
    };
    Ok(Some(ApiKeyRecord { tenant, info, secret_hash: row.try_get("secret_hash")? }))
}

/// The tenant's keys, newest first.
pub(crate) async fn list_keys(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ApiKeyInfo>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let rows = sqlx::query(
        "select id, role, name, created_at, revoked_at from api_keys
         where tenant = $1 order by created_at desc, id desc",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        keys.extend(key_info(row)?);
    }
    Ok(keys)
}

/// Revokes a key of this tenant (keeping the first revocation time); `false` if it is not theirs.
pub(crate) async fn revoke_key(pool: &PgPool, tenant: &TenantId, key_id: &str) -> Result<bool> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let done = sqlx::query(
        "update api_keys set revoked_at = coalesce(revoked_at, $1) where tenant = $2 and id = $3",
    )
    .bind(Timestamp::now().as_micros())
    .bind(tenant.as_str())
    .bind(key_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Registers or replaces a type's presentation.
pub(crate) async fn put_type(
    pool: &PgPool,
    tenant: &TenantId,
    event_type: &EventType,
    info: &TypeInfo,
) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into event_types (tenant, type, info) values ($1, $2, $3::jsonb)
         on conflict (tenant, type) do update set info = excluded.info",
    )
    .bind(tenant.as_str())
    .bind(event_type.as_str())
    .bind(serde_json::to_string(info)?)
    .execute(&mut *tx)
    .await?;
    Ok(tx.commit().await?)
}

/// A registered type's presentation.
pub(crate) async fn get_type(
    pool: &PgPool,
    tenant: &TenantId,
    event_type: &EventType,
) -> Result<Option<TypeInfo>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let info: Option<String> =
        sqlx::query_scalar("select info::text from event_types where tenant = $1 and type = $2")
            .bind(tenant.as_str())
            .bind(event_type.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(match info {
        Some(json) => Some(serde_json::from_str(&json)?),
        None => None,
    })
}

/// Every registered type of the tenant, by type.
pub(crate) async fn list_types(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Vec<(EventType, TypeInfo)>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let rows = sqlx::query(
        "select type, info::text as info from event_types where tenant = $1 order by type",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut types = Vec::with_capacity(rows.len());
    for row in &rows {
        let Ok(event_type) = EventType::parse(row.try_get("type")?) else { continue };
        types.push((event_type, serde_json::from_str(row.try_get("info")?)?));
    }
    Ok(types)
}
