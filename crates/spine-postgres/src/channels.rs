//! Channels (SPEC section 6): one row per channel behind the tenant fence, its secrets sealed by
//! the caller. Ids are unique across tenants, so a provider's request finds its tenant by the id
//! alone (through `spine_find_channel`, the one unfenced lookup).

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::fence;
use spine_core::channel::{Direction, Mapping, NewChannel, Privacy, Provider};
use spine_core::{EventType, TenantId, Timestamp};
use spine_store::{ChannelRecord, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

const COLUMNS: &str =
    "id, tenant, name, provider, event_type, direction, process, queue, mapping, \
     privacy, disabled, secret, previous_secret, previous_until, created_at, updated_at";

/// Inserts a channel; a taken id is a conflict.
pub(crate) async fn create(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
    channel: &NewChannel,
    sealed_secret: &str,
) -> Result<std::result::Result<ChannelRecord, StoreError>> {
    let now = Timestamp::now().as_micros();
    let mut tx = fence::begin(pool, [tenant]).await?;
    let row = sqlx::query(&format!(
        "insert into channels (id, tenant, name, provider, event_type, direction, process, queue,
             mapping, privacy, secret, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant.as_str())
    .bind(&channel.name)
    .bind(channel.provider.as_str())
    .bind(channel.event_type.as_ref().map(EventType::as_str))
    .bind(channel.direction.as_str())
    .bind(channel.process)
    .bind(&channel.queue)
    .bind(channel.mapping.to_json().to_string())
    .bind(channel.privacy.to_stored())
    .bind(sealed_secret)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(Error::from);
    match row {
        Ok(row) => {
            let channel = record(&row)?;
            tx.commit().await?;
            Ok(Ok(channel))
        }
        Err(e) if e.is_unique_violation() => {
            Ok(Err(StoreError::Conflict("the channel id is taken".to_owned())))
        }
        Err(e) => Err(e),
    }
}

/// A channel by id, in any tenant.
pub(crate) async fn find(pool: &PgPool, id: &str) -> Result<Option<ChannelRecord>> {
    let mut tx = fence::begin(pool, []).await?;
    let row = sqlx::query(&format!("select {COLUMNS} from spine_find_channel($1)"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// A channel of the tenant.
pub(crate) async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<ChannelRecord>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let row = sqlx::query(&format!("select {COLUMNS} from channels where tenant = $1 and id = $2"))
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// The tenant's channels, oldest first.
pub(crate) async fn list(pool: &PgPool, tenant: &TenantId) -> Result<Vec<ChannelRecord>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from channels where tenant = $1 order by created_at, id"
    ))
    .bind(tenant.as_str())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.iter().map(record).collect()
}

/// Replaces the settings of a channel.
pub(crate) async fn update(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
    settings: &NewChannel,
    disabled: bool,
) -> Result<Option<ChannelRecord>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let row = sqlx::query(&format!(
        "update channels set name = $1, event_type = $2, direction = $3, process = $4, queue = $5,
             mapping = $6, privacy = $7, disabled = $8, updated_at = $9
         where tenant = $10 and id = $11 returning {COLUMNS}"
    ))
    .bind(&settings.name)
    .bind(settings.event_type.as_ref().map(EventType::as_str))
    .bind(settings.direction.as_str())
    .bind(settings.process)
    .bind(&settings.queue)
    .bind(settings.mapping.to_json().to_string())
    .bind(settings.privacy.to_stored())
    .bind(disabled)
    .bind(Timestamp::now().as_micros())
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// Makes a new secret current, keeping the current one until `previous_until`.
pub(crate) async fn rotate(
    pool: &PgPool,
    tenant: &TenantId,
    id: &str,
    sealed_secret: &str,
    previous_until: Timestamp,
) -> Result<Option<ChannelRecord>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let row = sqlx::query(&format!(
        "update channels set previous_secret = secret, secret = $1, previous_until = $2, updated_at = $3
         where tenant = $4 and id = $5 returning {COLUMNS}"
    ))
    .bind(sealed_secret)
    .bind(previous_until.as_micros())
    .bind(Timestamp::now().as_micros())
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// Removes a channel.
pub(crate) async fn delete(pool: &PgPool, tenant: &TenantId, id: &str) -> Result<bool> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let done = sqlx::query("delete from channels where tenant = $1 and id = $2")
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

fn record(row: &PgRow) -> Result<ChannelRecord> {
    let unreadable = |what: &str, e: String| Error::Unreadable(format!("channel {what}: {e}"));
    let tenant = TenantId::parse(row.try_get("tenant")?).map_err(|e| unreadable("tenant", e))?;
    let provider =
        Provider::parse(row.try_get("provider")?).map_err(|e| unreadable("provider", e))?;
    let event_type = row
        .try_get::<Option<&str>, _>("event_type")?
        .map(EventType::parse)
        .transpose()
        .map_err(|e| unreadable("event type", e))?;
    let direction =
        Direction::parse(row.try_get("direction")?).map_err(|e| unreadable("direction", e))?;
    let mapping: serde_json::Value = serde_json::from_str(row.try_get("mapping")?)?;
    let mapping = Mapping::parse(&mapping).map_err(|e| unreadable("mapping", format!("{e:?}")))?;
    let privacy =
        Privacy::from_stored(row.try_get("privacy")?).map_err(|e| unreadable("privacy", e))?;
    Ok(ChannelRecord {
        tenant,
        id: row.try_get("id")?,
        settings: NewChannel {
            name: row.try_get("name")?,
            provider,
            event_type,
            direction,
            process: row.try_get("process")?,
            queue: row.try_get("queue")?,
            mapping,
            privacy,
        },
        disabled: row.try_get("disabled")?,
        secret: row.try_get("secret")?,
        previous_secret: row.try_get("previous_secret")?,
        previous_until: row.try_get::<Option<i64>, _>("previous_until")?.map(timestamp),
        created_at: timestamp(row.try_get("created_at")?),
        updated_at: timestamp(row.try_get("updated_at")?),
    })
}
