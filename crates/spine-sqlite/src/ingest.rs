//! The ingestion contracts ([`Channels`], [`Ledger`], [`Identifiers`], [`Blobs`]) for
//! [`SqliteStore`], delegating to `channels`, `ledger`, `identifiers` and `blobs`. Writes go
//! through the one-connection admin pool in a task of their own (`tx::detached`); an ingest goes
//! through the writer, so a request's events and its ledger row share one group commit.

use crate::{blobs, channels, identifiers, ledger, tx, SqliteStore};
use async_trait::async_trait;
use spine_core::channel::NewChannel;
use spine_core::{TenantId, Timestamp};
use spine_store::ledger::{Ingest, IngestOutcome};
use spine_store::{
    BlobMeta, Blobs, ChannelRecord, Channels, IdentifierRecord, Identifiers, Ledger, LedgerEntry,
    LedgerQuery, NewBlob, StoreResult,
};
use uuid::Uuid;

#[async_trait]
impl Channels for SqliteStore {
    async fn create_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        channel: &NewChannel,
        sealed_secret: &str,
    ) -> StoreResult<ChannelRecord> {
        let (pool, t, id, c, s) = (
            self.inner.admin.clone(),
            tenant.clone(),
            id.to_owned(),
            channel.clone(),
            sealed_secret.to_owned(),
        );
        let work = async move { channels::create(&pool, &t, &id, &c, &s).await };
        tx::detached(work).await?
    }

    async fn find_channel(&self, id: &str) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::find(&self.inner.reads, id).await?)
    }

    async fn get_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::get(&self.inner.reads, tenant, id).await?)
    }

    async fn list_channels(&self, tenant: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        Ok(channels::list(&self.inner.reads, tenant).await?)
    }

    async fn update_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &NewChannel,
        disabled: bool,
    ) -> StoreResult<Option<ChannelRecord>> {
        let (pool, t, id, s) =
            (self.inner.admin.clone(), tenant.clone(), id.to_owned(), settings.clone());
        tx::detached(async move { channels::update(&pool, &t, &id, &s, disabled).await }).await
    }

    async fn rotate_channel_secret(
        &self,
        tenant: &TenantId,
        id: &str,
        sealed_secret: &str,
        previous_until: Timestamp,
    ) -> StoreResult<Option<ChannelRecord>> {
        let (pool, t, id, s) =
            (self.inner.admin.clone(), tenant.clone(), id.to_owned(), sealed_secret.to_owned());
        let work = async move { channels::rotate(&pool, &t, &id, &s, previous_until).await };
        tx::detached(work).await
    }

    async fn delete_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        let (pool, t, id) = (self.inner.admin.clone(), tenant.clone(), id.to_owned());
        tx::detached(async move { channels::delete(&pool, &t, &id).await }).await
    }
}

#[async_trait]
impl Ledger for SqliteStore {
    async fn ingest(&self, tenant: &TenantId, ingest: Ingest) -> StoreResult<IngestOutcome> {
        self.inner.writer.ingest(tenant.clone(), ingest).await
    }

    async fn list_requests(
        &self,
        tenant: &TenantId,
        query: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>> {
        Ok(ledger::list(&self.inner.reads, tenant, query).await?)
    }

    async fn get_request(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        Ok(ledger::get(&self.inner.reads, tenant, id).await?)
    }

    async fn purge_requests(&self, before: Timestamp) -> StoreResult<u64> {
        let pool = self.inner.admin.clone();
        tx::detached(async move { ledger::purge(&pool, before).await }).await
    }
}

#[async_trait]
impl Identifiers for SqliteStore {
    async fn add_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        kind: &str,
        value: &str,
    ) -> StoreResult<IdentifierRecord> {
        let pool = self.inner.admin.clone();
        let (t, et, ei, k, v) = (
            tenant.clone(),
            entity_type.to_owned(),
            entity_id.to_owned(),
            kind.to_owned(),
            value.to_owned(),
        );
        let work = async move { identifiers::add(&pool, &t, &et, &ei, &k, &v).await };
        tx::detached(work).await?
    }

    async fn list_identifiers(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> StoreResult<Vec<IdentifierRecord>> {
        Ok(identifiers::list(&self.inner.reads, tenant, entity_type, entity_id).await?)
    }

    async fn delete_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let pool = self.inner.admin.clone();
        let (t, et, ei, v) =
            (tenant.clone(), entity_type.to_owned(), entity_id.to_owned(), value.to_owned());
        tx::detached(async move { identifiers::delete(&pool, &t, &et, &ei, &v).await }).await
    }

    async fn phone_region(&self, tenant: &TenantId) -> StoreResult<Option<String>> {
        Ok(identifiers::phone_region(&self.inner.reads, tenant).await?)
    }

    async fn set_phone_region(&self, tenant: &TenantId, region: Option<&str>) -> StoreResult<()> {
        let (pool, t, r) = (self.inner.admin.clone(), tenant.clone(), region.map(str::to_owned));
        let work = async move { identifiers::set_phone_region(&pool, &t, r.as_deref()).await };
        tx::detached(work).await
    }

    async fn match_identifiers(
        &self,
        tenant: &TenantId,
        values: &[String],
    ) -> StoreResult<Vec<IdentifierRecord>> {
        Ok(identifiers::matching(&self.inner.reads, tenant, values).await?)
    }
}

#[async_trait]
impl Blobs for SqliteStore {
    async fn put_chunk(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        index: u32,
        data: Vec<u8>,
    ) -> StoreResult<()> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        tx::detached(async move { blobs::put_chunk(&pool, &t, upload, index, &data).await }).await
    }

    async fn finish_upload(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        blob: NewBlob,
    ) -> StoreResult<BlobMeta> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        tx::detached(async move { blobs::finish(&pool, &t, upload, &blob).await }).await
    }

    async fn abort_upload(&self, tenant: &TenantId, upload: Uuid) -> StoreResult<()> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        tx::detached(async move { blobs::abort(&pool, &t, upload).await }).await
    }

    async fn add_blob_ref(
        &self,
        tenant: &TenantId,
        sha256: &str,
        event_id: Uuid,
        name: &str,
    ) -> StoreResult<()> {
        let (pool, t, s, n) =
            (self.inner.admin.clone(), tenant.clone(), sha256.to_owned(), name.to_owned());
        tx::detached(async move { blobs::add_ref(&pool, &t, &s, event_id, &n).await }).await
    }

    async fn get_blob(&self, tenant: &TenantId, sha256: &str) -> StoreResult<Option<BlobMeta>> {
        Ok(blobs::get(&self.inner.reads, tenant, sha256).await?)
    }

    async fn blob_chunk(
        &self,
        tenant: &TenantId,
        sha256: &str,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(blobs::chunk(&self.inner.reads, tenant, sha256, index).await?)
    }

    async fn purge_abandoned_uploads(&self, before: Timestamp) -> StoreResult<u64> {
        let pool = self.inner.admin.clone();
        tx::detached(async move { blobs::purge_abandoned(&pool, before).await }).await
    }
}
