//! One-time sign-in codes and Activity Center sessions (SPEC section 9), keyed by tenant and id.
//! A code is spent inside the transaction that stores its session, under SQLite's write lock, so
//! two redemptions of one code cannot both succeed.

use crate::admin::timestamp;
use crate::error::Result;
use spine_core::{Role, TenantId, Timestamp, UserId};
use spine_store::{NewSecret, NewSessionSecret, Redeemed, SecretRecord};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

/// Stores a new sign-in code (and drops codes that expired a day ago or more).
pub(crate) async fn create_signin_code(
    pool: &SqlitePool,
    tenant: &TenantId,
    code: NewSecret,
) -> Result<()> {
    let now = Timestamp::now().as_micros();
    let mut tx = crate::tx::begin_immediate(pool).await?;
    sqlx::query("delete from signin_codes where expires_at < ?")
        .bind(now - DAY_MICROS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into signin_codes (tenant, id, secret_hash, user_id, role, created_at, expires_at)
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant.as_str())
    .bind(&code.id)
    .bind(&code.secret_hash)
    .bind(code.user.as_str())
    .bind(code.role.as_str())
    .bind(now)
    .bind(code.expires_at.as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

const DAY_MICROS: i64 = 86_400_000_000;

/// Spends the code and stores the session it is exchanged for, in one transaction.
pub(crate) async fn redeem_signin_code(
    pool: &SqlitePool,
    tenant: &TenantId,
    code_id: &str,
    secret_hash: &[u8],
    now: Timestamp,
    session: NewSessionSecret,
) -> Result<Redeemed> {
    let mut tx = crate::tx::begin_immediate(pool).await?;
    let row = sqlx::query(
        "select tenant, id, secret_hash, user_id, role, created_at, expires_at, spent_at
         from signin_codes where tenant = ? and id = ? and secret_hash = ?",
    )
    .bind(tenant.as_str())
    .bind(code_id)
    .bind(secret_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(Redeemed::Unknown) };
    let Some(code) = record(&row)? else { return Ok(Redeemed::Unknown) };
    if row.try_get::<Option<i64>, _>("spent_at")?.is_some() {
        return Ok(Redeemed::Spent);
    }
    if code.expires_at <= now {
        return Ok(Redeemed::Expired);
    }
    sqlx::query("update signin_codes set spent_at = ? where tenant = ? and id = ?")
        .bind(now.as_micros())
        .bind(tenant.as_str())
        .bind(code_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from sessions where expires_at < ?")
        .bind(now.as_micros() - DAY_MICROS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into sessions (tenant, id, secret_hash, user_id, role, created_at, expires_at)
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant.as_str())
    .bind(&session.id)
    .bind(&session.secret_hash)
    .bind(code.user.as_str())
    .bind(code.role.as_str())
    .bind(now.as_micros())
    .bind(session.expires_at.as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Redeemed::SignedIn(SecretRecord {
        tenant: tenant.clone(),
        id: session.id,
        secret_hash: session.secret_hash,
        user: code.user,
        role: code.role,
        created_at: now,
        expires_at: session.expires_at,
    }))
}

/// A session by id.
pub(crate) async fn find_session(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<SecretRecord>> {
    let row = sqlx::query(
        "select tenant, id, secret_hash, user_id, role, created_at, expires_at
         from sessions where tenant = ? and id = ?",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(row) => record(&row)?,
        None => None,
    })
}

/// Ends a session.
pub(crate) async fn delete_session(pool: &SqlitePool, tenant: &TenantId, id: &str) -> Result<bool> {
    let done = sqlx::query("delete from sessions where tenant = ? and id = ?")
        .bind(tenant.as_str())
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A stored code or session; `None` if a stored value no longer parses (treated as absent).
fn record(row: &SqliteRow) -> Result<Option<SecretRecord>> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let (Ok(tenant), Ok(user), Ok(role)) = (
        TenantId::parse(&text("tenant")?),
        UserId::parse(&text("user_id")?),
        Role::parse(&text("role")?),
    ) else {
        return Ok(None);
    };
    Ok(Some(SecretRecord {
        tenant,
        id: text("id")?,
        secret_hash: row.try_get("secret_hash")?,
        user,
        role,
        created_at: timestamp(row.try_get("created_at")?),
        expires_at: timestamp(row.try_get("expires_at")?),
    }))
}
