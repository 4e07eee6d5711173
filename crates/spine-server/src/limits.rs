//! Rate limits and storage quotas at run time: the buckets every request is counted in, each
//! tenant's limits in force (cached), its usage against its quotas (cached, counted forward),
//! and the task that keeps this node on the cluster's roll so it enforces its share.
//!
//! A request is counted where it is authenticated ([`crate::auth`]): a read (`GET`, streams)
//! takes one token from the tenant's `reads` bucket and from its credential's `key-reads`
//! bucket; anything that changes something takes one event from `writes` and `key-writes`
//! (a batch takes one per event, counted by its handler), and its body's bytes from
//! `write-bytes`. Provider deliveries take one token from their channel's `ingest` bucket.
//! All the buckets of one request are judged together: a refusal takes nothing. A refusal is
//! answered after the wait it announces (at least 100 ms, at most a second), so a client that
//! retries at once is slowed rather than costing the server a refusal per round trip.
//!
//! On several nodes each node holds `1 / n` of every rate and burst, where `n` is the number
//! of nodes that announced themselves within [`ANNOUNCE_WINDOW`]; a cluster behind a load
//! balancer that spreads requests therefore admits the limit, and never more than the limit
//! plus one bucket per node while the roll changes.

use crate::auth::{Credential, Principal};
use crate::cache::TtlCache;
use crate::error::{ApiError, RateLimited};
use spine_core::limits::{Bucket, LimitsInput, Refused};
use spine_core::TenantId;
use spine_store::{Store, Usage};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A node that has not announced itself for this long is off the roll.
pub const ANNOUNCE_WINDOW: Duration = Duration::from_secs(15);
/// How long a tenant's counted usage is trusted before it is counted again.
const USAGE_TTL: Duration = Duration::from_secs(5);
/// The longest a refusal is held before it is answered.
const MAX_HOLD: Duration = Duration::from_secs(1);
/// The shortest: a client retrying at once on `n` connections then costs at most `10 n`
/// refusals a second, however soon its next token is due.
const MIN_HOLD: Duration = Duration::from_millis(100);
/// More buckets than this and the full ones (which hold nothing worth keeping) are dropped.
const MAX_BUCKETS: usize = 100_000;
/// Prometheus counter of refused requests, by policy.
pub const REFUSED: &str = "spine_rate_limited_total";
/// Prometheus counter of writes refused by a storage quota, by quota.
pub const OVER_QUOTA: &str = "spine_quota_refused_total";
/// Prometheus gauge of the nodes this node shares its limits with (itself included).
pub const NODES: &str = "spine_cluster_nodes";

/// What a bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// The tenant's events written.
    Writes,
    /// The tenant's request body bytes written.
    WriteBytes,
    /// The tenant's read requests.
    Reads,
    /// One credential's events written.
    KeyWrites,
    /// One credential's request body bytes written.
    KeyWriteBytes,
    /// One credential's read requests.
    KeyReads,
    /// Deliveries to one channel.
    Ingest,
}

impl Policy {
    /// The name in `RateLimit-Policy` and in problems.
    pub fn name(self) -> &'static str {
        match self {
            Self::Writes => "writes",
            Self::WriteBytes => "write-bytes",
            Self::Reads => "reads",
            Self::KeyWrites => "key-writes",
            Self::KeyWriteBytes => "key-write-bytes",
            Self::KeyReads => "key-reads",
            Self::Ingest => "ingest",
        }
    }

    /// The bucket's rate and burst under `limits`, if this policy is limited.
    fn shape(self, limits: &LimitsInput) -> Option<(u64, u64)> {
        let (rate, burst) = match self {
            Self::Writes => (limits.writes_per_second, limits.write_burst),
            Self::WriteBytes => (limits.write_bytes_per_second, None),
            Self::Reads => (limits.reads_per_second, limits.read_burst),
            Self::KeyWrites => (limits.key_writes_per_second, None),
            Self::KeyWriteBytes => (limits.key_write_bytes_per_second, None),
            Self::KeyReads => (limits.key_reads_per_second, None),
            Self::Ingest => (limits.ingest_per_second, limits.ingest_burst),
        };
        rate.map(|r| (r, burst.unwrap_or(r)))
    }

    /// What the tokens are, for the problem's detail.
    fn unit(self) -> &'static str {
        match self {
            Self::Writes | Self::KeyWrites => "events",
            Self::WriteBytes | Self::KeyWriteBytes => "bytes",
            Self::Reads | Self::KeyReads => "requests",
            Self::Ingest => "deliveries",
        }
    }
}

/// One bucket: a policy of a tenant, for the tenant as a whole or one credential or channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    tenant: TenantId,
    policy: Policy,
    /// The credential or channel; empty for the tenant's own buckets.
    holder: String,
}

/// One request's claim on one bucket.
struct Claim {
    key: BucketKey,
    cost: u64,
}

/// The run-time state of limits and quotas, one per server.
pub struct Limiter {
    /// The store the limits and usage are read from.
    store: Arc<dyn Store>,
    /// The installation's defaults, the ceiling of tenants the operator set none for.
    defaults: LimitsInput,
    /// Each tenant's limits in force, trusted for the key cache's TTL.
    policies: TtlCache<LimitsInput>,
    /// The origin of bucket times.
    base: Instant,
    /// Each bucket's theoretical arrival time, in nanoseconds since `base`.
    buckets: Mutex<HashMap<BucketKey, u64>>,
    /// Nodes sharing the limits (1 until the roll says otherwise).
    nodes: AtomicU64,
    /// Each quota-limited tenant's usage and when it was counted.
    usage: Mutex<HashMap<TenantId, (Instant, Usage)>>,
}

impl Limiter {
    /// A limiter over `store` with the installation's `defaults`, trusting a tenant's limits for
    /// `ttl` (a change made on another node takes effect within it).
    pub fn new(store: Arc<dyn Store>, defaults: LimitsInput, ttl: Duration) -> Self {
        Self {
            store,
            defaults,
            policies: TtlCache::new(ttl),
            base: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
            nodes: AtomicU64::new(1),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// The installation's defaults.
    pub fn defaults(&self) -> &LimitsInput {
        &self.defaults
    }

    /// The tenant's limits in force.
    pub async fn limits(&self, tenant: &TenantId) -> Result<LimitsInput, ApiError> {
        if let Some(limits) = self.policies.get(tenant.as_str()) {
            return Ok(limits);
        }
        let stored = self.store.get_limits(tenant).await?;
        let limits =
            LimitsInput::effective(&self.defaults, stored.ceiling.as_ref(), stored.own.as_ref());
        self.policies.put(tenant.as_str().to_owned(), limits);
        Ok(limits)
    }

    /// Forgets the tenant's cached limits after they were changed through this node.
    pub fn changed(&self, tenant: &TenantId) {
        self.policies.evict(tenant.as_str());
        self.usage.lock().unwrap_or_else(|p| p.into_inner()).remove(tenant);
    }

    /// Counts a read by `principal`.
    pub async fn read(&self, principal: &Principal) -> Result<(), ApiError> {
        let limits = self.limits(&principal.tenant).await?;
        if limits.reads_per_second.is_none() && limits.key_reads_per_second.is_none() {
            return Ok(());
        }
        self.judge(
            &limits,
            &principal.tenant,
            &[(Policy::Reads, String::new(), 1), (Policy::KeyReads, holder(principal), 1)],
        )
        .await
    }

    /// Counts `events` written by `principal` and `bytes` of body.
    pub async fn write(
        &self,
        principal: &Principal,
        events: u64,
        bytes: u64,
    ) -> Result<(), ApiError> {
        let limits = self.limits(&principal.tenant).await?;
        let unlimited = limits.writes_per_second.is_none()
            && limits.key_writes_per_second.is_none()
            && limits.write_bytes_per_second.is_none()
            && limits.key_write_bytes_per_second.is_none();
        if unlimited {
            return Ok(());
        }
        let mut claims = Vec::with_capacity(4);
        if events > 0 {
            claims.push((Policy::Writes, String::new(), events));
            claims.push((Policy::KeyWrites, holder(principal), events));
        }
        if bytes > 0 {
            claims.push((Policy::WriteBytes, String::new(), bytes));
            claims.push((Policy::KeyWriteBytes, holder(principal), bytes));
        }
        self.judge(&limits, &principal.tenant, &claims).await
    }

    /// Counts a body read without a declared length (chunked) against its sender's
    /// `write-bytes` bucket; a declared length was counted when the request was authenticated.
    pub async fn undeclared_body(
        &self,
        parts: &axum::http::request::Parts,
        bytes: usize,
    ) -> Result<(), ApiError> {
        let declared = parts.headers.contains_key(axum::http::header::CONTENT_LENGTH);
        match parts.extensions.get::<Principal>() {
            Some(principal) if !declared && bytes > 0 => {
                self.write(principal, 0, bytes as u64).await
            }
            _ => Ok(()),
        }
    }

    /// Counts one delivery to `channel` of `tenant`.
    pub async fn ingest(&self, tenant: &TenantId, channel: &str) -> Result<(), ApiError> {
        let limits = self.limits(tenant).await?;
        if limits.ingest_per_second.is_none() {
            return Ok(());
        }
        self.judge(&limits, tenant, &[(Policy::Ingest, channel.to_owned(), 1)]).await
    }

    /// Takes every claim or none; a refusal is answered only after it has waited until its
    /// token is due (at least [`MIN_HOLD`], at most [`MAX_HOLD`]), so a client retrying in a
    /// tight loop is slowed instead of costing the server a refusal per round trip.
    async fn judge(
        &self,
        limits: &LimitsInput,
        tenant: &TenantId,
        claims: &[(Policy, String, u64)],
    ) -> Result<(), ApiError> {
        let Err(refusal) = self.admit(limits, tenant, claims) else { return Ok(()) };
        let hold = Duration::from_nanos(refusal.refused.retry_after_ns).clamp(MIN_HOLD, MAX_HOLD);
        tokio::time::sleep(hold).await;
        Err(refusal.into_error(hold))
    }

    /// Takes every claim or none.
    fn admit(
        &self,
        limits: &LimitsInput,
        tenant: &TenantId,
        claims: &[(Policy, String, u64)],
    ) -> Result<(), Refusal> {
        let share = self.nodes.load(Ordering::Relaxed);
        let shaped: Vec<(Bucket, Claim)> = claims
            .iter()
            .filter_map(|(policy, holder, cost)| {
                let (rate, burst) = policy.shape(limits)?;
                let key =
                    BucketKey { tenant: tenant.clone(), policy: *policy, holder: holder.clone() };
                Some((Bucket::new(rate, burst, share), Claim { key, cost: *cost }))
            })
            .collect();
        if shaped.is_empty() {
            return Ok(());
        }
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = Vec::with_capacity(shaped.len());
        for (bucket, claim) in &shaped {
            let tat = buckets.get(&claim.key).copied().unwrap_or(0);
            match bucket.take(tat, now, claim.cost) {
                Ok(t) => taken.push(t.tat),
                Err(refused) => {
                    drop(buckets);
                    metrics::counter!(REFUSED, "policy" => claim.key.policy.name()).increment(1);
                    let policy = claim.key.policy;
                    return Err(Refusal { policy, bucket: *bucket, refused, share });
                }
            }
        }
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, tat| *tat > now);
        }
        for ((_, claim), tat) in shaped.into_iter().zip(taken) {
            buckets.insert(claim.key, tat);
        }
        Ok(())
    }

    /// Refuses `events` more events when the tenant's event quota would be passed.
    pub async fn check_events(&self, tenant: &TenantId, events: u64) -> Result<(), ApiError> {
        let limits = self.limits(tenant).await?;
        let Some(max) = limits.max_events else { return Ok(()) };
        let usage = self.usage(tenant).await?;
        if usage.events.saturating_add(events) > max {
            metrics::counter!(OVER_QUOTA, "quota" => "max_events").increment(1);
            return Err(ApiError::QuotaExceeded(format!(
                "the tenant holds {} of its {max} events; remove some (retention) or raise \
                 max_events with PUT /v1/limits",
                usage.events
            )));
        }
        Ok(())
    }

    /// Refuses `bytes` more of uploaded files when the tenant's blob quota would be passed.
    pub async fn check_blob_bytes(&self, tenant: &TenantId, bytes: u64) -> Result<(), ApiError> {
        let limits = self.limits(tenant).await?;
        let Some(max) = limits.max_blob_bytes else { return Ok(()) };
        let usage = self.usage(tenant).await?;
        if usage.blob_bytes.saturating_add(bytes) > max {
            metrics::counter!(OVER_QUOTA, "quota" => "max_blob_bytes").increment(1);
            return Err(ApiError::QuotaExceeded(format!(
                "the tenant holds {} of its {max} bytes of files; this upload needs {bytes} more; \
                 raise max_blob_bytes with PUT /v1/limits",
                usage.blob_bytes
            )));
        }
        Ok(())
    }

    /// Counts what a write added to a quota-limited tenant, until its usage is counted again.
    pub fn added(&self, tenant: &TenantId, events: u64, blob_bytes: u64) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, u)) = usage.get_mut(tenant) {
            u.events = u.events.saturating_add(events);
            u.blob_bytes = u.blob_bytes.saturating_add(blob_bytes);
        }
    }

    /// The tenant's usage, counted again when older than [`USAGE_TTL`].
    async fn usage(&self, tenant: &TenantId) -> Result<Usage, ApiError> {
        let cached = self.usage.lock().unwrap_or_else(|p| p.into_inner()).get(tenant).copied();
        if let Some((_, usage)) = cached.filter(|(at, _)| at.elapsed() < USAGE_TTL) {
            return Ok(usage);
        }
        let usage = self.store.usage(tenant).await?;
        let mut all = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() >= MAX_BUCKETS {
            all.clear();
        }
        all.insert(tenant.clone(), (Instant::now(), usage));
        Ok(usage)
    }

    /// The nodes this node shares its limits with.
    pub fn nodes(&self) -> u64 {
        self.nodes.load(Ordering::Relaxed)
    }

    /// Announces this node as `node` every `every` until the task is dropped, keeping the
    /// share in step with the roll.
    pub fn spawn_announcer(
        self: &Arc<Self>,
        node: String,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let limiter = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match limiter.store.announce_node(&node, ANNOUNCE_WINDOW).await {
                    Ok(n) => {
                        let before = limiter.nodes.swap(n.max(1), Ordering::Relaxed);
                        if before != n.max(1) {
                            tracing::info!(
                                nodes = n,
                                "limits are now shared among this many nodes"
                            );
                        }
                        metrics::gauge!(NODES).set(n as f64);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not announce this node"),
                }
            }
        })
    }
}

/// The bucket holder for a principal's credential.
fn holder(principal: &Principal) -> String {
    match &principal.credential {
        Credential::Key { id, .. } => format!("key:{id}"),
        Credential::Session { id, .. } => format!("session:{id}"),
        Credential::Viewer { user, .. } => format!("viewer:{}", user.as_str()),
    }
}

/// A refused claim: which bucket, how full, and on how many nodes.
struct Refusal {
    policy: Policy,
    bucket: Bucket,
    refused: Refused,
    share: u64,
}

impl Refusal {
    /// The 429, with the headers of the IETF RateLimit draft, after the refusal was held for
    /// `held` (which the `Retry-After` no longer counts).
    fn into_error(self, held: Duration) -> ApiError {
        let Self { policy, bucket, refused, share } = self;
        let held = u64::try_from(held.as_nanos()).unwrap_or(u64::MAX);
        let secs = |ns: u64| ns.div_ceil(1_000_000_000);
        let window = secs(bucket.capacity.saturating_mul(bucket.interval_ns)).max(1);
        let retry_after = secs(refused.retry_after_ns.saturating_sub(held));
        let name = policy.name();
        let on_nodes =
            if share > 1 { format!(" (this node's share of {share})") } else { String::new() };
        ApiError::RateLimited(Box::new(RateLimited {
            detail: format!(
                "over the {name} limit{on_nodes}: {} {} per {window} s; retry in {retry_after} s",
                bucket.capacity,
                policy.unit()
            ),
            retry_after,
            policy: format!("\"{name}\";q={};w={window}", bucket.capacity),
            state: format!(
                "\"{name}\";r={};t={}",
                refused.remaining,
                secs(refused.reset_ns.saturating_sub(held))
            ),
        }))
    }
}
