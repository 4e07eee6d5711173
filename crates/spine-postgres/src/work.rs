//! The work contracts ([`WorkQueue`], [`Notes`]) for [`PgStore`], delegating to `jobs` and
//! `notes`. Claims, settlements and notes go through the writer (their events commit with
//! them, under the tenant's head lock); rules and heartbeats are fenced transactions of their own.

use crate::{fence, jobs, notes, PgStore};
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
impl WorkQueue for PgStore {
    async fn put_rule(&self, tenant: &TenantId, rule: &QueueRule) -> StoreResult<()> {
        Ok(jobs::put_rule(&self.pool, tenant, rule).await?)
    }

    async fn list_rules(&self, tenant: &TenantId) -> StoreResult<Vec<QueueRule>> {
        let mut tx = fence::begin_in(&self.pool, [tenant], fence::Mode::Snapshot).await?;
        let rules = jobs::rules(&mut tx, tenant).await?;
        tx.commit().await.map_err(crate::error::Error::from)?;
        Ok(rules)
    }

    async fn delete_rule(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        Ok(jobs::delete_rule(&self.pool, tenant, name).await?)
    }

    async fn claim(&self, tenant: &TenantId, claim: ClaimRequest) -> StoreResult<Vec<JobRecord>> {
        self.writer.claim(tenant.clone(), claim).await
    }

    async fn heartbeat(
        &self,
        tenant: &TenantId,
        job: Uuid,
        lease: u64,
        lease_micros: i64,
    ) -> StoreResult<Result<Job, SettleError>> {
        jobs::heartbeat(&self.pool, tenant, job, lease, lease_micros)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn settle(
        &self,
        tenant: &TenantId,
        job: Uuid,
        settle: Settle,
    ) -> StoreResult<Result<JobRecord, SettleError>> {
        let settled = self.writer.settle(tenant.clone(), job, settle).await?;
        Ok(settled.ok_or(StoreError::NotFound)?.map(|record| *record))
    }

    async fn get_job(&self, tenant: &TenantId, job: Uuid) -> StoreResult<Option<JobRecord>> {
        Ok(jobs::get(&self.pool, tenant, job).await?)
    }

    async fn list_jobs(&self, tenant: &TenantId, query: &JobQuery) -> StoreResult<Vec<JobRecord>> {
        Ok(jobs::list(&self.pool, tenant, query).await?)
    }

    async fn jobs_of_events(&self, tenant: &TenantId, events: &[Uuid]) -> StoreResult<Vec<Job>> {
        Ok(jobs::of_events(&self.pool, tenant, events).await?)
    }

    async fn queue_counts(&self, tenant: &TenantId) -> StoreResult<Vec<QueueCount>> {
        Ok(jobs::counts(&self.pool, Some(tenant)).await?)
    }

    async fn all_queue_counts(&self) -> StoreResult<Vec<QueueCount>> {
        Ok(jobs::counts(&self.pool, None).await?)
    }

    async fn next_due(&self, tenant: &TenantId, queue: &str) -> StoreResult<Option<Timestamp>> {
        Ok(jobs::next_due(&self.pool, tenant, queue).await?)
    }
}

#[async_trait]
impl Notes for PgStore {
    async fn add_note(&self, tenant: &TenantId, note: NewNote) -> StoreResult<Note> {
        Ok(*self.writer.note(tenant.clone(), note).await?)
    }

    async fn get_note(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Option<Note>> {
        Ok(notes::get(&self.pool, tenant, id).await?)
    }

    async fn list_notes(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        before: Option<Seq>,
        limit: u32,
    ) -> StoreResult<Vec<Note>> {
        Ok(notes::list(&self.pool, tenant, entity_type, entity_id, before, limit).await?)
    }
}
