//! Uploaded files (SPEC section 6) in the database: chunks under an upload id, named by their
//! SHA-256 per tenant when the upload finishes, read back one chunk at a time.

use crate::admin::timestamp;
use crate::error::Result;
use crate::fence;
use spine_core::{TenantId, Timestamp};
use spine_store::{BlobMeta, NewBlob};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Stores one chunk.
pub(crate) async fn put_chunk(
    pool: &PgPool,
    tenant: &TenantId,
    upload: Uuid,
    index: u32,
    data: &[u8],
) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into blob_chunks (tenant, upload_id, n, data, created_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(tenant.as_str())
    .bind(upload.as_bytes().as_slice())
    .bind(i64::from(index))
    .bind(data)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Names an upload by its content, or drops it when that content is stored already.
pub(crate) async fn finish(
    pool: &PgPool,
    tenant: &TenantId,
    upload: Uuid,
    blob: &NewBlob,
) -> Result<BlobMeta> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let inserted = sqlx::query(
        "insert into blobs (tenant, sha256, upload_id, size, content_type, chunks, created_at)
         values ($1, $2, $3, $4, $5, $6, $7) on conflict (tenant, sha256) do nothing",
    )
    .bind(tenant.as_str())
    .bind(&blob.sha256)
    .bind(upload.as_bytes().as_slice())
    .bind(i64::try_from(blob.size).unwrap_or(i64::MAX))
    .bind(&blob.content_type)
    .bind(i64::from(blob.chunks))
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        sqlx::query("delete from blob_chunks where tenant = $1 and upload_id = $2")
            .bind(tenant.as_str())
            .bind(upload.as_bytes().as_slice())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let stored = get(pool, tenant, &blob.sha256).await?;
    stored.ok_or_else(|| crate::error::Error::Unreadable("a finished blob is missing".into()))
}

/// Removes an upload's chunks.
pub(crate) async fn abort(pool: &PgPool, tenant: &TenantId, upload: Uuid) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query("delete from blob_chunks where tenant = $1 and upload_id = $2")
        .bind(tenant.as_str())
        .bind(upload.as_bytes().as_slice())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records an event carrying a blob.
pub(crate) async fn add_ref(
    pool: &PgPool,
    tenant: &TenantId,
    sha256: &str,
    event_id: Uuid,
    name: &str,
) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into blob_refs (tenant, sha256, event_id, name) values ($1, $2, $3, $4)
         on conflict do nothing",
    )
    .bind(tenant.as_str())
    .bind(sha256)
    .bind(event_id.as_bytes().as_slice())
    .bind(name)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A blob with the events carrying it.
pub(crate) async fn get(
    pool: &PgPool,
    tenant: &TenantId,
    sha256: &str,
) -> Result<Option<BlobMeta>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let Some(row) = sqlx::query(
        "select sha256, size, content_type, chunks, created_at from blobs
         where tenant = $1 and sha256 = $2",
    )
    .bind(tenant.as_str())
    .bind(sha256)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let refs = sqlx::query(
        "select event_id, name from blob_refs where tenant = $1 and sha256 = $2 order by event_id",
    )
    .bind(tenant.as_str())
    .bind(sha256)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .filter_map(|r| {
        let id = Uuid::from_slice(r.try_get::<&[u8], _>("event_id").ok()?).ok()?;
        Some((id, r.try_get::<String, _>("name").ok()?))
    })
    .collect();
    tx.commit().await?;
    Ok(Some(BlobMeta {
        sha256: row.try_get("sha256")?,
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or_default(),
        content_type: row.try_get("content_type")?,
        chunks: u32::try_from(row.try_get::<i64, _>("chunks")?).unwrap_or_default(),
        created_at: timestamp(row.try_get("created_at")?),
        refs,
    }))
}

/// One chunk of a stored blob.
pub(crate) async fn chunk(
    pool: &PgPool,
    tenant: &TenantId,
    sha256: &str,
    index: u32,
) -> Result<Option<Vec<u8>>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let data = sqlx::query_scalar(
        "select c.data from blobs b join blob_chunks c
             on c.tenant = b.tenant and c.upload_id = b.upload_id
         where b.tenant = $1 and b.sha256 = $2 and c.n = $3",
    )
    .bind(tenant.as_str())
    .bind(sha256)
    .bind(i64::from(index))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(data)
}

/// Removes chunks of uploads started before `before` and never finished, in every tenant.
pub(crate) async fn purge_abandoned(pool: &PgPool, before: Timestamp) -> Result<u64> {
    let mut tx = fence::begin(pool, []).await?;
    let gone: i64 = sqlx::query_scalar("select spine_purge_abandoned_uploads($1)")
        .bind(before.as_micros())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(u64::try_from(gone).unwrap_or_default())
}
