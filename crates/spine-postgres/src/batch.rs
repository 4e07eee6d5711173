//! One group commit: every queued request's events in ONE transaction.
//!
//! Positions are per tenant and come from `tenant_heads`: the commit locks the head row of every
//! tenant it writes (`select ... for update`, in tenant order so two nodes never deadlock),
//! assigns `head + 1..`, inserts, raises the head and commits. Why a locked row rather than a
//! sequence: a sequence hands out numbers at insert time, so a transaction holding seq 7 can
//! commit after another one holding seq 8, and a reader that already moved past 8 would never see
//! 7 (SPEC principle 3 forbids that). With the row lock, the next writer of the tenant waits until
//! this transaction commits or aborts, then reads its head: positions become visible in order,
//! with no gaps from aborted writers, on any number of nodes. The cost is one writer per tenant
//! at a time, which group commit amortises over many events.
//!
//! Idempotency keys are judged under the same lock, against stored events and against earlier
//! events of the same batch, so the judgement is exact across nodes; the unique index on
//! `(tenant, idempotency_key)` is the final fence. Rows go in with `unnest` of array parameters:
//! a fixed number of parameters per statement, whatever the number of rows.

use crate::error::Result;
use crate::{fence, notify};
use spine_core::{Event, EventType, TenantId, Timestamp, TypeInfo};
use spine_store::group::{self, Done, Plan, Positions, Work};
use spine_store::Notice;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// Rows per insert statement: bounds the size of one statement's arrays.
const ROWS_PER_INSERT: usize = 5_000;

/// One group commit: every request's events in one transaction. Answers each request's result
/// and, per tenant the commit wrote to, its highest position.
pub(crate) async fn commit(
    conn: &mut PgConnection,
    node: Uuid,
    works: Vec<Work>,
) -> Result<(Vec<Done>, Vec<Notice>)> {
    let mut ids: Vec<&TenantId> = works.iter().map(Work::tenant).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = fence::begin_on(conn, ids.iter().copied()).await?;
    let written = write(&mut tx, node, works).await?;
    tx.commit().await?;
    Ok(written)
}

/// Writes `works` inside a transaction the caller holds (the writer's, or an embedding
/// service's own): positions from the tenants' heads (locked until the commit, so positions
/// grow in commit order), keys judged, rows, jobs, and the commit notices, which PostgreSQL
/// delivers to every node at COMMIT (and never if the transaction rolls back).
pub(crate) async fn write(
    tx: &mut PgConnection,
    node: Uuid,
    works: Vec<Work>,
) -> Result<(Vec<Done>, Vec<Notice>)> {
    let mut ids: Vec<&TenantId> = works.iter().map(Work::tenant).collect();
    ids.sort_unstable();
    ids.dedup();
    let tenants: Vec<&str> = ids.iter().map(|t| t.as_str()).collect();
    sqlx::query(
        "insert into tenant_heads (tenant, head)
         select t, 0 from unnest($1::text[]) as t order by t
         on conflict (tenant) do nothing",
    )
    .bind(&tenants)
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query(
        "select tenant, head from tenant_heads where tenant = any($1)
         order by tenant for update",
    )
    .bind(&tenants)
    .fetch_all(&mut *tx)
    .await?;
    let mut heads = BTreeMap::new();
    for row in rows {
        let Ok(tenant) = TenantId::parse(row.try_get::<&str, _>("tenant")?) else { continue };
        heads.insert(tenant, row.try_get::<i64, _>("head")?);
    }
    let mut plan = Plan::new(Positions::PerTenant(heads), Timestamp::now());
    load_known_keys(&mut plan, tx, &works).await?;
    load_taken_ids(&mut plan, tx, &works).await?;
    load_types(&mut plan, tx, &works).await?;
    crate::jobs::load(&mut plan, tx, &works).await?;
    let done = plan.apply(works)?;
    insert(plan.rows(), tx).await?;
    crate::ledger::write(plan.ledger(), tx).await?;
    crate::jobs::write(&plan, tx).await?;
    let notices = plan.heads();
    let (names, heads): (Vec<&str>, Vec<i64>) =
        notices.iter().map(|n| (n.tenant.as_str(), n.head.0)).unzip();
    sqlx::query(
        "update tenant_heads h set head = n.head
         from unnest($1::text[], $2::bigint[]) as n(tenant, head)
         where h.tenant = n.tenant",
    )
    .bind(&names)
    .bind(&heads)
    .execute(&mut *tx)
    .await?;
    // Delivered to the other nodes by PostgreSQL at COMMIT, once the events are visible.
    let announced = plan.notices();
    for notice in &announced {
        notify::send(tx, node, notice).await?;
    }
    Ok((done, announced))
}

/// Loads the stored events whose keys this batch uses, one statement per tenant.
async fn load_known_keys(plan: &mut Plan, conn: &mut PgConnection, works: &[Work]) -> Result<()> {
    let mut by_tenant: HashMap<&TenantId, HashSet<&str>> = HashMap::new();
    for work in works {
        by_tenant.entry(work.tenant()).or_default().extend(work.keys());
    }
    for (tenant, keys) in by_tenant {
        if keys.is_empty() {
            continue;
        }
        let keys: Vec<&str> = keys.into_iter().collect();
        let rows = sqlx::query(
            "select idempotency_key, fingerprint, body::text as body from events
                 where tenant = $1 and idempotency_key = any($2)",
        )
        .bind(tenant.as_str())
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            let key: String = row.try_get("idempotency_key")?;
            let event: Event = serde_json::from_str(row.try_get::<&str, _>("body")?)?;
            let fingerprint = row.try_get("fingerprint")?;
            plan.know(tenant, key, event, fingerprint);
        }
    }
    Ok(())
}

/// Loads which of the imported ids are already stored.
async fn load_taken_ids(plan: &mut Plan, conn: &mut PgConnection, works: &[Work]) -> Result<()> {
    let ids: Vec<Vec<u8>> =
        works.iter().flat_map(Work::imported_ids).map(|id| id.as_bytes().to_vec()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select spine_taken_ids($1)").bind(&ids).fetch_all(&mut *conn).await?;
    for id in stored {
        if let Ok(id) = Uuid::from_slice(&id) {
            plan.take_id(id);
        }
    }
    Ok(())
}

/// Loads every registered type of the batch's tenants in one statement: a round trip to the
/// database per distinct type would cost more than the rows themselves for small batches.
async fn load_types(plan: &mut Plan, conn: &mut PgConnection, works: &[Work]) -> Result<()> {
    let mut tenants: Vec<&str> = works
        .iter()
        .filter_map(|w| match w {
            Work::Append(t, _) | Work::Ingest(t, _) | Work::Note(t, _) => Some(t.as_str()),
            // Claims and settlements append job.* events: their types' registrations count too.
            Work::Claim(t, _) | Work::Settle(t, ..) => Some(t.as_str()),
            Work::Import(..) => None,
        })
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    if tenants.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(
        "select tenant, type, info::text as info from event_types where tenant = any($1)",
    )
    .bind(&tenants)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
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

/// Writes the batch's rows: events and their tags. Their full text is the indexer's, just
/// behind the commit ([`crate::indexer`]).
async fn insert(rows: &[group::Row], conn: &mut PgConnection) -> Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let columns = EventColumns::of(chunk);
        sqlx::query(
            "insert into events (tenant, seq, id, type, action, source_system, actor_id,
                     entity_type, entity_id, priority, correlation_id, occurred_at, received_at,
                     expires_at, idempotency_key, fingerprint, body)
                 select tenant, seq, id, type, action, source_system, actor_id, entity_type,
                     entity_id, priority, correlation_id, occurred_at, received_at, expires_at,
                     idempotency_key, fingerprint, body::jsonb
                 from unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                     $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::text[],
                     $17::text[])
                     as r(tenant, seq, id, type, action, source_system, actor_id, entity_type,
                     entity_id, priority, correlation_id, occurred_at, received_at, expires_at,
                     idempotency_key, fingerprint, body)",
        )
        .bind(columns.tenant)
        .bind(columns.seq)
        .bind(columns.id)
        .bind(columns.event_type)
        .bind(columns.action)
        .bind(columns.source_system)
        .bind(columns.actor_id)
        .bind(columns.entity_type)
        .bind(columns.entity_id)
        .bind(columns.priority)
        .bind(columns.correlation_id)
        .bind(columns.occurred_at)
        .bind(columns.received_at)
        .bind(columns.expires_at)
        .bind(columns.idempotency_key)
        .bind(columns.fingerprint)
        .bind(columns.body)
        .execute(&mut *conn)
        .await?;
    }

    let tags: Vec<(&Event, &str)> = rows
        .iter()
        .flat_map(|r| r.event.tags.iter().map(move |t| (&r.event, t.as_str())))
        .collect();
    for chunk in tags.chunks(ROWS_PER_INSERT) {
        let tenant: Vec<&str> = chunk.iter().map(|(e, _)| e.tenant.as_str()).collect();
        let tag: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
        let seq: Vec<i64> = chunk.iter().map(|(e, _)| e.seq.0).collect();
        let occurred: Vec<i64> = chunk.iter().map(|(e, _)| e.occurred_at.as_micros()).collect();
        sqlx::query(
            "insert into event_tags (tenant, tag, seq, occurred_at)
                 select * from unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                 on conflict do nothing",
        )
        .bind(tenant)
        .bind(tag)
        .bind(seq)
        .bind(occurred)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One insert's rows, column by column, for `unnest`.
struct EventColumns<'a> {
    tenant: Vec<&'a str>,
    seq: Vec<i64>,
    id: Vec<&'a [u8]>,
    event_type: Vec<&'a str>,
    action: Vec<&'a str>,
    source_system: Vec<&'a str>,
    actor_id: Vec<Option<&'a str>>,
    entity_type: Vec<Option<&'a str>>,
    entity_id: Vec<Option<&'a str>>,
    priority: Vec<&'a str>,
    correlation_id: Vec<Option<&'a str>>,
    occurred_at: Vec<i64>,
    received_at: Vec<i64>,
    expires_at: Vec<Option<i64>>,
    idempotency_key: Vec<Option<&'a str>>,
    fingerprint: Vec<Option<&'a str>>,
    body: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    fn of(rows: &'a [group::Row]) -> Self {
        let events = || rows.iter().map(|r| &r.event);
        Self {
            tenant: events().map(|e| e.tenant.as_str()).collect(),
            seq: events().map(|e| e.seq.0).collect(),
            id: events().map(|e| e.id.as_bytes().as_slice()).collect(),
            event_type: events().map(|e| e.event_type.as_str()).collect(),
            action: events().map(|e| e.action.as_str()).collect(),
            source_system: events().map(|e| e.source.system.as_str()).collect(),
            actor_id: events().map(|e| e.actor.as_ref().map(|a| a.id.as_str())).collect(),
            entity_type: events()
                .map(|e| e.entity.as_ref().map(|x| x.entity_type.as_str()))
                .collect(),
            entity_id: events().map(|e| e.entity.as_ref().map(|x| x.id.as_str())).collect(),
            priority: events().map(|e| e.priority.as_str()).collect(),
            correlation_id: events().map(|e| e.correlation_id.as_deref()).collect(),
            occurred_at: events().map(|e| e.occurred_at.as_micros()).collect(),
            received_at: events().map(|e| e.received_at.as_micros()).collect(),
            expires_at: events().map(|e| e.expires_at.map(Timestamp::as_micros)).collect(),
            idempotency_key: events()
                .map(|e| e.idempotency_key.as_ref().map(|k| k.as_str()))
                .collect(),
            fingerprint: rows.iter().map(|r| r.fingerprint.as_deref()).collect(),
            body: rows.iter().map(|r| r.body.as_str()).collect(),
        }
    }
}
