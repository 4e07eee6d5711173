//! The ingestion contracts ([`Channels`], [`Ledger`], [`Identifiers`], [`Blobs`]) for
//! [`PgStore`], delegating to `channels`, `ledger`, `identifiers` and `blobs`. An ingest goes through the writer, so a
//! request's events and its ledger row share one group commit.

use crate::{blobs, channels, identifiers, ledger, PgStore};
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
impl Channels for PgStore {
    async fn create_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        channel: &NewChannel,
        sealed_secret: &str,
    ) -> StoreResult<ChannelRecord> {
        channels::create(&self.pool, tenant, id, channel, sealed_secret).await?
    }

    async fn find_channel(&self, id: &str) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::find(&self.pool, id).await?)
    }

    async fn get_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::get(&self.pool, tenant, id).await?)
    }

    async fn list_channels(&self, tenant: &TenantId) -> StoreResult<Vec<ChannelRecord>> {
        Ok(channels::list(&self.pool, tenant).await?)
    }

    async fn update_channel(
        &self,
        tenant: &TenantId,
        id: &str,
        settings: &NewChannel,
        disabled: bool,
    ) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::update(&self.pool, tenant, id, settings, disabled).await?)
    }

    async fn rotate_channel_secret(
        &self,
        tenant: &TenantId,
        id: &str,
        sealed_secret: &str,
        previous_until: Timestamp,
    ) -> StoreResult<Option<ChannelRecord>> {
        Ok(channels::rotate(&self.pool, tenant, id, sealed_secret, previous_until).await?)
    }

    async fn delete_channel(&self, tenant: &TenantId, id: &str) -> StoreResult<bool> {
        Ok(channels::delete(&self.pool, tenant, id).await?)
    }
}

#[async_trait]
impl Ledger for PgStore {
    async fn ingest(&self, tenant: &TenantId, ingest: Ingest) -> StoreResult<IngestOutcome> {
        self.writer.ingest(tenant.clone(), ingest).await
    }

    async fn list_requests(
        &self,
        tenant: &TenantId,
        query: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>> {
        Ok(ledger::list(&self.pool, tenant, query).await?)
    }

    async fn get_request(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        Ok(ledger::get(&self.pool, tenant, id).await?)
    }

    async fn purge_requests(&self, before: Timestamp) -> StoreResult<u64> {
        Ok(ledger::purge(&self.pool, before).await?)
    }
}

#[async_trait]
impl Identifiers for PgStore {
    async fn add_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        kind: &str,
        value: &str,
    ) -> StoreResult<IdentifierRecord> {
        identifiers::add(&self.pool, tenant, entity_type, entity_id, kind, value).await?
    }

    async fn list_identifiers(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> StoreResult<Vec<IdentifierRecord>> {
        Ok(identifiers::list(&self.pool, tenant, entity_type, entity_id).await?)
    }

    async fn delete_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        value: &str,
    ) -> StoreResult<bool> {
        Ok(identifiers::delete(&self.pool, tenant, entity_type, entity_id, value).await?)
    }

    async fn phone_region(&self, tenant: &TenantId) -> StoreResult<Option<String>> {
        Ok(identifiers::phone_region(&self.pool, tenant).await?)
    }

    async fn set_phone_region(&self, tenant: &TenantId, region: Option<&str>) -> StoreResult<()> {
        Ok(identifiers::set_phone_region(&self.pool, tenant, region).await?)
    }

    async fn match_identifiers(
        &self,
        tenant: &TenantId,
        values: &[String],
    ) -> StoreResult<Vec<IdentifierRecord>> {
        Ok(identifiers::matching(&self.pool, tenant, values).await?)
    }
}

#[async_trait]
impl Blobs for PgStore {
    async fn put_chunk(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        index: u32,
        data: Vec<u8>,
    ) -> StoreResult<()> {
        Ok(blobs::put_chunk(&self.pool, tenant, upload, index, &data).await?)
    }

    async fn finish_upload(
        &self,
        tenant: &TenantId,
        upload: Uuid,
        blob: NewBlob,
    ) -> StoreResult<BlobMeta> {
        Ok(blobs::finish(&self.pool, tenant, upload, &blob).await?)
    }

    async fn abort_upload(&self, tenant: &TenantId, upload: Uuid) -> StoreResult<()> {
        Ok(blobs::abort(&self.pool, tenant, upload).await?)
    }

    async fn add_blob_ref(
        &self,
        tenant: &TenantId,
        sha256: &str,
        event_id: Uuid,
        name: &str,
    ) -> StoreResult<()> {
        Ok(blobs::add_ref(&self.pool, tenant, sha256, event_id, name).await?)
    }

    async fn get_blob(&self, tenant: &TenantId, sha256: &str) -> StoreResult<Option<BlobMeta>> {
        Ok(blobs::get(&self.pool, tenant, sha256).await?)
    }

    async fn blob_chunk(
        &self,
        tenant: &TenantId,
        sha256: &str,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        Ok(blobs::chunk(&self.pool, tenant, sha256, index).await?)
    }

    async fn purge_abandoned_uploads(&self, before: Timestamp) -> StoreResult<u64> {
        Ok(blobs::purge_abandoned(&self.pool, before).await?)
    }
}
