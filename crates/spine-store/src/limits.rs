//! The limits contract: each tenant's rate limits and quotas in two layers (the operator's
//! ceiling and the tenant's own), what a tenant holds against its quotas, and the roll of live
//! nodes that lets each node of a cluster enforce its share of a limit.

use crate::StoreResult;
use async_trait::async_trait;
use spine_core::limits::LimitsInput;
use spine_core::TenantId;
use std::time::Duration;

/// Who set a layer of a tenant's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitLayer {
    /// The operator: the most the tenant may allow itself.
    Ceiling,
    /// The tenant's admin, within the ceiling.
    Own,
}

impl LimitLayer {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ceiling => "ceiling",
            Self::Own => "own",
        }
    }
}

/// Both layers of a tenant's limits, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredLimits {
    /// The operator's ceiling, if one was set for this tenant.
    pub ceiling: Option<LimitsInput>,
    /// The tenant's own limits, if it set any.
    pub own: Option<LimitsInput>,
}

/// What a tenant holds, counted against its quotas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Events in the log, leaving out the audit trail (`audit.*`), which Spine writes itself.
    pub events: u64,
    /// Bytes of uploaded files.
    pub blob_bytes: u64,
}

/// A tenant's limits and usage, and the cluster's live nodes.
#[async_trait]
pub trait Limits: Send + Sync {
    /// Stores one layer of the tenant's limits, replacing what that layer held.
    async fn put_limits(
        &self,
        tenant: &TenantId,
        layer: LimitLayer,
        limits: &LimitsInput,
    ) -> StoreResult<()>;

    /// Both layers of the tenant's limits.
    async fn get_limits(&self, tenant: &TenantId) -> StoreResult<StoredLimits>;

    /// What the tenant holds now.
    async fn usage(&self, tenant: &TenantId) -> StoreResult<Usage>;

    /// Records that `node` is alive and answers how many nodes (itself included) were seen
    /// within `window`. A store only one process can serve answers 1.
    async fn announce_node(&self, node: &str, window: Duration) -> StoreResult<u64>;
}
