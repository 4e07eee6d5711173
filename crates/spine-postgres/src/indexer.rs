//! The indexer (SPEC section 12): builds the full text (`event_search`) just behind the
//! commits, so a commit does not pay for the GIN index. Every node runs one; they share the
//! work through each tenant's watermark row in `index_watermarks`, which a step locks with
//! `SKIP LOCKED` (a tenant another node is indexing is left to it).
//!
//! A step reads the tenant's events above its watermark (at most [`STEP`] of them), writes
//! their search vectors and raises the watermark in one transaction: a crash loses a whole step
//! or nothing, so the index converges to exactly the log. The node's own commits wake it at
//! once (at most one pass per [`PASS_EVERY`], so steps stay large under load); other nodes'
//! backlog, and what a crashed node left, is found by [`LOOK_EVERY`] looks at
//! `spine_index_backlog()`.

use crate::error::Result;
use crate::fence;
use spine_core::TenantId;
use spine_store::Notice;
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The most events one step indexes.
const STEP: i64 = 5000;
/// At most one pass over the pending tenants per interval: the longer, the larger and cheaper
/// per event the steps; the shorter, the sooner an event is searchable.
const PASS_EVERY: Duration = Duration::from_millis(100);
/// How often the indexer looks for tenants whose events it was not told about.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Runs the indexer until aborted. `commits` are this node's notices; `paused` stops it.
pub(crate) async fn run(
    pool: PgPool,
    mut commits: broadcast::Receiver<Notice>,
    paused: Arc<AtomicBool>,
) {
    // By tenant: the head it was last told about.
    let mut pending: HashMap<TenantId, i64> = HashMap::new();
    let mut last_look: Option<Instant> = None;
    loop {
        if !paused.load(Ordering::SeqCst) {
            if last_look.is_none_or(|at| at.elapsed() >= LOOK_EVERY) {
                last_look = Some(Instant::now());
                match backlog(&pool).await {
                    Ok(tenants) => pending.extend(tenants),
                    Err(e) if e.is_not_migrated() => {}
                    Err(e) => tracing::warn!(error = %e, "reading the index backlog failed"),
                }
            }
            let started = Instant::now();
            let tenants: Vec<TenantId> = pending.keys().cloned().collect();
            for tenant in tenants {
                match step(&pool, &tenant).await {
                    Ok(Step::CaughtUp) => {
                        pending.remove(&tenant);
                    }
                    Ok(Step::More | Step::Elsewhere) => {}
                    Err(e) => tracing::warn!(tenant = %tenant, error = %e, "an index step failed"),
                }
            }
            if !pending.is_empty() {
                metrics::histogram!("spine_index_pass_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
        }
        // Wait for a commit (or the next look), then let more commits gather.
        let wait = if pending.is_empty() { LOOK_EVERY } else { PASS_EVERY };
        match tokio::time::timeout(wait, commits.recv()).await {
            Ok(Ok(notice)) => {
                if note(&mut pending, notice) {
                    tokio::time::sleep(PASS_EVERY).await;
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
            // Missed notices are found by the next look.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) | Err(_) => {}
        }
        while let Ok(notice) = commits.try_recv() {
            note(&mut pending, notice);
        }
    }
}

/// Adds a commit's tenant and head to `pending`; whether the notice was a commit.
fn note(pending: &mut HashMap<TenantId, i64>, notice: Notice) -> bool {
    let Notice::Commit(commit) = notice else { return false };
    let head = pending.entry(commit.tenant).or_default();
    *head = (*head).max(commit.head.0);
    true
}

/// The tenants whose log is ahead of their watermark, with their heads; reports how many
/// events the index is behind in all (`spine_index_lag_events`, as on SQLite).
async fn backlog(pool: &PgPool) -> Result<Vec<(TenantId, i64)>> {
    let rows = sqlx::query("select tenant, head, indexed from spine_index_backlog()")
        .fetch_all(pool)
        .await?;
    let mut tenants = Vec::with_capacity(rows.len());
    let mut behind = 0i64;
    for row in rows {
        let head: i64 = row.try_get("head")?;
        behind = behind.saturating_add(head - row.try_get::<i64, _>("indexed")?);
        if let Ok(tenant) = TenantId::parse(row.try_get::<&str, _>("tenant")?) {
            tenants.push((tenant, head));
        }
    }
    metrics::gauge!("spine_index_lag_events").set(behind.max(0) as f64);
    Ok(tenants)
}

/// What one step found.
enum Step {
    /// The watermark reached the tenant's head.
    CaughtUp,
    /// There is more to index.
    More,
    /// Another node holds the tenant's watermark.
    Elsewhere,
}

/// Indexes one tenant's events above its watermark (at most [`STEP`]) and raises it.
async fn step(pool: &PgPool, tenant: &TenantId) -> Result<Step> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into index_watermarks (tenant, indexed_seq) values ($1, 0)
         on conflict (tenant) do nothing",
    )
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?;
    let Some(from): Option<i64> = sqlx::query_scalar(
        "select indexed_seq from index_watermarks where tenant = $1 for update skip locked",
    )
    .bind(tenant.as_str())
    .fetch_optional(&mut *tx)
    .await?
    else {
        tx.commit().await?;
        return Ok(Step::Elsewhere);
    };
    // The head first: every event at or below it is committed (a tenant's positions are handed
    // out under its head's lock, held to the commit), so the read below sees all of them.
    let head: i64 =
        sqlx::query_scalar("select coalesce(max(head), 0) from tenant_heads where tenant = $1")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
    let rows = sqlx::query(
        "select seq, occurred_at, body ->> 'title' as title, body ->> 'description' as description,
                coalesce(body -> 'actor' ->> 'name', body -> 'actor' ->> 'id') as actor,
                coalesce(body -> 'entity' ->> 'name', body -> 'entity' ->> 'id') as entity
         from events where tenant = $1 and seq > $2 order by seq limit $3",
    )
    .bind(tenant.as_str())
    .bind(from)
    .bind(STEP)
    .fetch_all(&mut *tx)
    .await?;
    let (mut seqs, mut occurred, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        seqs.push(row.try_get::<i64, _>("seq")?);
        occurred.push(row.try_get::<i64, _>("occurred_at")?);
        let parts = ["title", "description", "actor", "entity"]
            .map(|column| row.try_get::<Option<&str>, _>(column).ok().flatten());
        texts.push(search_text(parts));
    }
    if !seqs.is_empty() {
        sqlx::query(
            "insert into event_search (tenant, seq, occurred_at, search)
             select $1, r.seq, r.occurred_at, to_tsvector('simple', r.text)
             from unnest($2::bigint[], $3::bigint[], $4::text[]) as r(seq, occurred_at, text)",
        )
        .bind(tenant.as_str())
        .bind(&seqs)
        .bind(&occurred)
        .bind(&texts)
        .execute(&mut *tx)
        .await?;
    }
    let whole = (rows.len() as i64) < STEP;
    let last = seqs.last().copied().unwrap_or(from);
    // A step that read fewer than it could reached the end of what is committed: at least the
    // head read before it (events removed under the head leave nothing to wait for).
    let to = if whole { last.max(head) } else { last };
    sqlx::query("update index_watermarks set indexed_seq = $2 where tenant = $1")
        .bind(tenant.as_str())
        .bind(to)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(if whole { Step::CaughtUp } else { Step::More })
}

/// Waits until the tenant's watermark has reached its head, at most `timeout`; whether it did.
pub(crate) async fn reach(pool: &PgPool, tenant: &TenantId, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut tx = fence::begin(pool, [tenant]).await?;
        let reached: bool = sqlx::query_scalar(
            "select coalesce((select head from tenant_heads where tenant = $1), 0)
                 <= coalesce((select indexed_seq from index_watermarks where tenant = $1), 0)",
        )
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if reached {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The searchable text of an event (title, description, actor and entity names), without
/// diacritics. Control characters become spaces: PostgreSQL text cannot hold NUL.
fn search_text(parts: [Option<&str>; 4]) -> String {
    let text = parts
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>();
    crate::filters::fold_diacritics(&text)
}

/// Waits for the tenant's indexer step in progress, if any, and keeps the next one out until
/// `tx` ends: a removal of events in `tx` then also removes every search entry written for them
/// (a step that read an event before the removal could otherwise write its entry after).
pub(crate) async fn hold(tx: &mut sqlx::PgConnection, tenant: &TenantId) -> Result<()> {
    sqlx::query(
        "insert into index_watermarks (tenant, indexed_seq) values ($1, 0)
         on conflict (tenant) do update set indexed_seq = index_watermarks.indexed_seq",
    )
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
