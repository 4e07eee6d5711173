//! One group commit: every queued request's events in ONE `BEGIN IMMEDIATE` transaction.
//! Positions come from `meta.last_seq`, read and bumped inside it; the shared [`Plan`] judges keys
//! against stored events (loaded here) and earlier events of the same batch; rows go in with
//! multi-row inserts.

use crate::error::Result;
use spine_core::{Event, EventType, TenantId, Timestamp, TypeInfo};
use spine_store::group::{self, Done, Plan, Positions, Work};
use spine_store::Notice;
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Rows per multi-row insert into `events` (17 parameters each, far under SQLite's 32766).
const EVENT_ROWS_PER_INSERT: usize = 256;
/// Rows per insert into the narrow tables, and keys or ids per `in (...)` lookup.
const SMALL_ROWS_PER_STATEMENT: usize = 1000;

/// One group commit: every request's events in one transaction. Answers each request's result
/// and, per tenant the commit wrote to, its highest position.
pub(crate) async fn commit(
    conn: &mut SqliteConnection,
    works: Vec<Work>,
) -> Result<(Vec<Done>, Vec<Notice>)> {
    let mut tx = conn.begin_with("begin immediate").await?;
    let written = write(&mut tx, works).await?;
    tx.commit().await?;
    Ok(written)
}

/// Writes `works` inside a transaction the caller holds (the writer's, or an embedding
/// service's own): positions from `meta.last_seq`, keys judged, rows, jobs. Nothing is
/// announced: the notices answered are for after the commit.
pub(crate) async fn write(
    tx: &mut SqliteConnection,
    works: Vec<Work>,
) -> Result<(Vec<Done>, Vec<Notice>)> {
    let last_seq: i64 =
        sqlx::query_scalar("select last_seq from meta where id = 1").fetch_one(&mut *tx).await?;
    let mut plan = Plan::new(Positions::Global(last_seq), Timestamp::now());
    load_known_keys(&mut plan, tx, &works).await?;
    load_taken_ids(&mut plan, tx, &works).await?;
    load_types(&mut plan, tx, &works).await?;
    crate::jobs::load(&mut plan, tx, &works).await?;
    let done = plan.apply(works)?;
    insert(plan.rows(), tx).await?;
    crate::ledger::write(plan.ledger(), tx).await?;
    crate::jobs::write(&plan, tx).await?;
    if let Positions::Global(last) = plan.positions() {
        sqlx::query("update meta set last_seq = ? where id = 1")
            .bind(*last)
            .execute(&mut *tx)
            .await?;
    }
    Ok((done, plan.notices()))
}

/// Loads the stored events whose keys this batch uses, one `in (...)` per tenant and chunk.
async fn load_known_keys(
    plan: &mut Plan,
    conn: &mut SqliteConnection,
    works: &[Work],
) -> Result<()> {
    let mut by_tenant: HashMap<&TenantId, HashSet<&str>> = HashMap::new();
    for work in works {
        by_tenant.entry(work.tenant()).or_default().extend(work.keys());
    }
    for (tenant, keys) in by_tenant {
        let keys: Vec<&str> = keys.into_iter().collect();
        for chunk in keys.chunks(SMALL_ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "select idempotency_key, fingerprint, body from events where tenant = ",
            );
            qb.push_bind(tenant.as_str()).push(" and idempotency_key in (");
            let mut list = qb.separated(", ");
            for key in chunk {
                list.push_bind(*key);
            }
            qb.push(")");
            for row in qb.build().fetch_all(&mut *conn).await? {
                let key: String = row.try_get("idempotency_key")?;
                let event: Event = serde_json::from_str(row.try_get::<&str, _>("body")?)?;
                let fingerprint = row.try_get("fingerprint")?;
                plan.know(tenant, key, event, fingerprint);
            }
        }
    }
    Ok(())
}

/// Loads which of the imported ids are already stored.
async fn load_taken_ids(
    plan: &mut Plan,
    conn: &mut SqliteConnection,
    works: &[Work],
) -> Result<()> {
    let ids: Vec<Uuid> = works.iter().flat_map(Work::imported_ids).collect();
    for chunk in ids.chunks(SMALL_ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<'_, Sqlite> =
            QueryBuilder::new("select id from events where id in (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.as_bytes().as_slice());
        }
        qb.push(")");
        for row in qb.build().fetch_all(&mut *conn).await? {
            if let Ok(id) = Uuid::from_slice(row.try_get::<&[u8], _>("id")?) {
                plan.take_id(id);
            }
        }
    }
    Ok(())
}

/// Loads every registered type of the batch's tenants in one statement: a round trip to the
/// database per distinct type would cost more than the rows themselves for small batches.
async fn load_types(plan: &mut Plan, conn: &mut SqliteConnection, works: &[Work]) -> Result<()> {
    let mut tenants: Vec<&TenantId> = works
        .iter()
        .filter_map(|w| match w {
            Work::Append(t, _) | Work::Ingest(t, _) | Work::Note(t, _) => Some(t),
            // Claims and settlements append job.* events: their types' registrations count too.
            Work::Claim(t, _) | Work::Settle(t, ..) => Some(t),
            Work::Import(..) => None,
        })
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    if tenants.is_empty() {
        return Ok(());
    }
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new("select tenant, type, info from event_types where tenant in (");
    let mut list = qb.separated(", ");
    for t in &tenants {
        list.push_bind(t.as_str());
    }
    qb.push(")");
    for row in qb.build().fetch_all(&mut *conn).await? {
        let (Ok(tenant), Ok(event_type)) = (
            TenantId::parse(row.try_get::<&str, _>("tenant")?),
            EventType::parse(row.try_get::<&str, _>("type")?),
        ) else {
            continue;
        };
        // An unreadable registration must not block ingest: fall back to the default summary.
        let info: Option<TypeInfo> = serde_json::from_str(row.try_get::<&str, _>("info")?)
                .map_err(|e| tracing::warn!(tenant = %tenant, event_type = %event_type, error = %e, "unreadable type info"))
                .ok();
        plan.add_type(tenant, event_type, info);
    }
    Ok(())
}

/// Writes the batch's rows: the events alone. Their filter keys and full text are the
/// indexer's, just behind the commit ([`crate::indexer`]).
async fn insert(rows: &[group::Row], conn: &mut SqliteConnection) -> Result<()> {
    for chunk in rows.chunks(EVENT_ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "insert into events (seq, id, tenant, type, action, source_system, actor_id, entity_type, \
                 entity_id, priority, correlation_id, occurred_at, received_at, expires_at, idempotency_key, \
                 fingerprint, body) ",
            );
        qb.push_values(chunk, |mut b, row| {
            let e = &row.event;
            b.push_bind(e.seq.0)
                .push_bind(e.id.as_bytes().as_slice())
                .push_bind(e.tenant.as_str())
                .push_bind(e.event_type.as_str())
                .push_bind(e.action.as_str())
                .push_bind(e.source.system.as_str())
                .push_bind(e.actor.as_ref().map(|a| a.id.as_str()))
                .push_bind(e.entity.as_ref().map(|x| x.entity_type.as_str()))
                .push_bind(e.entity.as_ref().map(|x| x.id.as_str()))
                .push_bind(e.priority.as_str())
                .push_bind(e.correlation_id.as_deref())
                .push_bind(e.occurred_at.as_micros())
                .push_bind(e.received_at.as_micros())
                .push_bind(e.expires_at.map(Timestamp::as_micros))
                .push_bind(e.idempotency_key.as_ref().map(|k| k.as_str()))
                .push_bind(row.fingerprint.as_deref())
                .push_bind(row.body.as_str());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}
