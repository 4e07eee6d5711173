//! The blob contract (SPEC section 6, files): uploaded files kept in the database, per tenant
//! and content hash, written as they stream in. An upload's chunks are stored under an upload
//! id while its hash is still unknown; finishing it names it by its SHA-256 (a second upload of
//! the same content is dropped and the first kept). Files are read back chunk by chunk, so
//! neither side holds a whole file in memory.

use crate::StoreResult;
use async_trait::async_trait;
use spine_core::{TenantId, Timestamp};
use uuid::Uuid;

/// A tenant's files.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores chunk `index` of upload `upload`.
    async fn put_chunk(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        index: u32,
        data: Vec<u8>,
    ) -> StoreResult<()>;

    /// Names upload `upload` by its content: the stored blob (this one, or the one stored before
    /// with the same hash, in which case this upload's chunks are removed).
    async fn finish_upload(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        blob: NewBlob,
    ) -> StoreResult<BlobMeta>;

    /// Removes an upload's chunks (a refused or interrupted upload).
    async fn abort_upload(&self, tenant: &TenantId, upload: Uuid) -> StoreResult<()>;

    /// Records that event `event_id` carries the blob under `name` (who may download it is
    /// decided by who may see such an event).
    async fn add_blob_ref(
        &self,
        tenant: &TenantId,
        sha256: &str,
        event_id: Uuid,
        name: &str,
    ) -> StoreResult<()>;

    /// A blob's metadata and the events that carry it (with the names they carry it under).
    async fn get_blob(&self, tenant: &TenantId, sha256: &str) -> StoreResult<Option<BlobMeta>>;

    /// Chunk `index` of a stored blob.
    async fn blob_chunk(
        &self,
        tenant: &TenantId,
        sha256: &str,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>>;

    /// Removes chunks of uploads started before `before` and never finished; how many went.
    async fn purge_abandoned_uploads(&self, before: Timestamp) -> StoreResult<u64>;
}

/// What finishing an upload names it.
#[derive(Debug, Clone)]
pub struct NewBlob {
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The sniffed content type (never the client's claim).
    pub content_type: String,
    /// How many chunks were stored.
    pub chunks: u32,
}

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// The sniffed content type.
    pub content_type: String,
    /// How many chunks hold it.
    pub chunks: u32,
    /// When it was first stored.
    pub created_at: Timestamp,
    /// The events carrying it, with the name each carries it under, oldest first.
    pub refs: Vec<(Uuid, String)>,
}
