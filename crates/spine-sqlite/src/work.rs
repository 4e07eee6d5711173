//! The work contracts ([`WorkQueue`], [`Notes`]) for [`SqliteStore`], delegating to `jobs` and
//! `notes`. Claims, settlements and notes go through the writer (their events commit with
//! them); rules and heartbeats are small writes on the admin pool, in a task of their own.

use crate::{jobs, notes, tx, SqliteStore};
use async_trait::async_trait;
use spine_core::note::{NewNote, Note};
use spine_core::work::job::Job;
use spine_core::work::rule::QueueRule;
use spine_core::{Seq, TenantId, Timestamp};
use spine_store::{
    ClaimRequest, JobQuery, JobRecord, Notes, QueueCount, Settle, SettleError, StoreError,
    StoreResult, WorkQueue,
};
use uuid::Uuid;

#[async_trait]
impl WorkQueue for SqliteStore {
    async fn put_rule(&self, tenant: &TenantId, rule: &QueueRule) -> StoreResult<()> {
        let (pool, t, r) = (self.inner.admin.clone(), tenant.clone(), rule.clone());
        tx::detached(async move { jobs::put_rule(&pool, &t, &r).await }).await
    }

    async fn list_rules(&self, tenant: &TenantId) -> StoreResult<Vec<QueueRule>> {
        let mut conn = self.inner.reads.acquire().await.map_err(crate::error::Error::from)?;
        Ok(jobs::rules(&mut conn, tenant).await?)
    }

    async fn delete_rule(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        let (pool, t, n) = (self.inner.admin.clone(), tenant.clone(), name.to_owned());
        tx::detached(async move { jobs::delete_rule(&pool, &t, &n).await }).await
    }

    async fn claim(&self, tenant: &TenantId, claim: ClaimRequest) -> StoreResult<Vec<JobRecord>> {
        self.inner.writer.claim(tenant.clone(), claim).await
    }

    async fn heartbeat(
        &self,
        tenant: &TenantId,
        job: Uuid,
        lease: u64,
        lease_micros: i64,
    ) -> StoreResult<Result<Job, SettleError>> {
        let (pool, t) = (self.inner.admin.clone(), tenant.clone());
        let work = async move { jobs::heartbeat(&pool, &t, job, lease, lease_micros).await };
        tx::detached(work).await?.ok_or(StoreError::NotFound)
    }

    async fn settle(
        &self,
        tenant: &TenantId,
        job: Uuid,
        settle: Settle,
    ) -> StoreResult<Result<JobRecord, SettleError>> {
        let settled = self.inner.writer.settle(tenant.clone(), job, settle).await?;
        Ok(settled.ok_or(StoreError::NotFound)?.map(|record| *record))
    }

    async fn get_job(&self, tenant: &TenantId, job: Uuid) -> StoreResult<Option<JobRecord>> {
        Ok(jobs::get(&self.inner.reads, tenant, job).await?)
    }

    async fn list_jobs(&self, tenant: &TenantId, query: &JobQuery) -> StoreResult<Vec<JobRecord>> {
        Ok(jobs::list(&self.inner.reads, tenant, query).await?)
    }

    async fn jobs_of_events(&self, tenant: &TenantId, events: &[Uuid]) -> StoreResult<Vec<Job>> {
        Ok(jobs::of_events(&self.inner.reads, tenant, events).await?)
    }

    async fn queue_counts(&self, tenant: &TenantId) -> StoreResult<Vec<QueueCount>> {
        Ok(jobs::counts(&self.inner.reads, Some(tenant)).await?)
    }

    async fn all_queue_counts(&self) -> StoreResult<Vec<QueueCount>> {
        Ok(jobs::counts(&self.inner.reads, None).await?)
    }

    async fn next_due(&self, tenant: &TenantId, queue: &str) -> StoreResult<Option<Timestamp>> {
        Ok(jobs::next_due(&self.inner.reads, tenant, queue).await?)
    }
}

#[async_trait]
impl Notes for SqliteStore {
    async fn add_note(&self, tenant: &TenantId, note: NewNote) -> StoreResult<Note> {
        Ok(*self.inner.writer.note(tenant.clone(), note).await?)
    }

    async fn get_note(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<Note>> {
        Ok(notes::get(&self.inner.reads, tenant, id).await?)
    }

    async fn list_notes(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Note>> {
        Ok(notes::list(&self.inner.reads, tenant, entity_type, entity_id, before, limit).await?)
    }
}
