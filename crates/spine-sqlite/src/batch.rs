//! One group commit: every queued request's events in ONE `BEGIN IMMEDIATE` transaction.
//! Positions come from `meta.last_seq`, read and bumped inside it; keys are judged against stored
//! events and against earlier events of the same batch; rows go in with multi-row inserts.

use crate::error::Result;
use spine_core::summary::summarize;
use spine_core::{Event, EventType, NewEvent, Seq, TenantId, Timestamp, TypeInfo};
use spine_store::{AppendOutcome, CommitNotice, ImportOutcome};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Rows per multi-row insert into `events` (17 parameters each, far under SQLite's 32766).
const EVENT_ROWS_PER_INSERT: usize = 256;
/// Rows per insert into the narrow tables, and keys or ids per `in (...)` lookup.
const SMALL_ROWS_PER_STATEMENT: usize = 1000;

/// The events of one request, separated from its reply so the commit can consume them.
pub(crate) enum Work {
    Append(TenantId, Vec<NewEvent>),
    Import(TenantId, Vec<Event>),
}

/// A committed request's answer.
pub(crate) enum Done {
    Append(Vec<AppendOutcome>),
    Import(ImportOutcome),
}

/// One group commit: every request's events in one transaction. Answers each request's result
/// and, per tenant the commit wrote to, its highest position.
pub(crate) async fn commit(
    conn: &mut SqliteConnection,
    works: Vec<Work>,
) -> Result<(Vec<Done>, Vec<CommitNotice>)> {
    let mut tx = conn.begin_with("begin immediate").await?;
    let last_seq: i64 =
        sqlx::query_scalar("select last_seq from meta where id = 1").fetch_one(&mut *tx).await?;
    let mut batch = Batch::new(last_seq, Timestamp::now());
    batch.load_known_keys(&mut tx, &works).await?;
    batch.load_taken_ids(&mut tx, &works).await?;
    batch.load_types(&mut tx, &works).await?;
    let mut done = Vec::with_capacity(works.len());
    for work in works {
        done.push(match work {
            Work::Append(tenant, events) => {
                let mut outcomes = Vec::with_capacity(events.len());
                for event in events {
                    outcomes.push(batch.append(&tenant, event)?);
                }
                Done::Append(outcomes)
            }
            Work::Import(tenant, events) => {
                let mut outcome = ImportOutcome::default();
                for event in events {
                    if batch.import(&tenant, event)? {
                        outcome.inserted += 1;
                    } else {
                        outcome.skipped += 1;
                    }
                }
                Done::Import(outcome)
            }
        });
    }
    batch.insert(&mut tx).await?;
    sqlx::query("update meta set last_seq = ? where id = 1")
        .bind(batch.next_seq - 1)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((done, batch.heads()))
}

/// An event stored under an idempotency key, before or earlier in this batch.
struct Known {
    event: Event,
    fingerprint: Option<String>,
}

/// A row to insert.
struct PendingRow {
    event: Event,
    fingerprint: Option<String>,
    body: String,
}

/// The state of one group commit.
struct Batch {
    next_seq: i64,
    received_at: Timestamp,
    /// By (tenant, key): what a repeat is judged against.
    known: HashMap<(TenantId, String), Known>,
    /// Registered types of the batch's tenants, loaded once per batch.
    types: HashMap<TenantId, HashMap<EventType, Option<TypeInfo>>>,
    /// Ids already stored, or taken earlier in this batch (imports skip them).
    taken_ids: HashSet<Uuid>,
    rows: Vec<PendingRow>,
}

impl Batch {
    fn new(last_seq: i64, received_at: Timestamp) -> Self {
        Self {
            next_seq: last_seq + 1,
            received_at,
            known: HashMap::new(),
            types: HashMap::new(),
            taken_ids: HashSet::new(),
            rows: Vec::new(),
        }
    }

    /// Loads the stored events whose keys this batch uses, one `in (...)` per tenant and chunk.
    async fn load_known_keys(&mut self, conn: &mut SqliteConnection, works: &[Work]) -> Result<()> {
        let mut by_tenant: HashMap<&TenantId, HashSet<&str>> = HashMap::new();
        for work in works {
            let (tenant, keys): (&TenantId, Vec<&str>) = match work {
                Work::Append(t, events) => (
                    t,
                    events
                        .iter()
                        .filter_map(|e| e.idempotency_key.as_ref().map(|k| k.as_str()))
                        .collect(),
                ),
                Work::Import(t, events) => (
                    t,
                    events
                        .iter()
                        .filter_map(|e| e.idempotency_key.as_ref().map(|k| k.as_str()))
                        .collect(),
                ),
            };
            by_tenant.entry(tenant).or_default().extend(keys);
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
                    self.known.insert((tenant.clone(), key), Known { event, fingerprint });
                }
            }
        }
        Ok(())
    }

    /// Loads which of the imported ids are already stored.
    async fn load_taken_ids(&mut self, conn: &mut SqliteConnection, works: &[Work]) -> Result<()> {
        let ids: Vec<Uuid> = works
            .iter()
            .filter_map(|w| match w {
                Work::Import(_, events) => Some(events.iter().map(|e| e.id)),
                Work::Append(..) => None,
            })
            .flatten()
            .collect();
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
                    self.taken_ids.insert(id);
                }
            }
        }
        Ok(())
    }

    /// Loads every registered type of the batch's tenants in one statement: a round trip to the
    /// database per distinct type would cost more than the rows themselves for small batches.
    async fn load_types(&mut self, conn: &mut SqliteConnection, works: &[Work]) -> Result<()> {
        let mut tenants: Vec<&TenantId> = works
            .iter()
            .filter_map(|w| match w {
                Work::Append(t, _) => Some(t),
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
            self.types.entry(tenant).or_default().insert(event_type, info);
        }
        Ok(())
    }

    /// The summary of a committed event, with its type's registration (loaded beforehand).
    fn summary(&self, event: &Event) -> String {
        let info = self.types.get(&event.tenant).and_then(|types| types.get(&event.event_type));
        summarize(event, info.and_then(Option::as_ref))
    }

    fn take_seq(&mut self) -> Seq {
        let seq = Seq(self.next_seq);
        self.next_seq += 1;
        seq
    }

    /// Judges one new event against its key, or stores it.
    fn append(&mut self, tenant: &TenantId, new: NewEvent) -> Result<AppendOutcome> {
        let fingerprint = new.idempotency_key.as_ref().map(|_| new.fingerprint());
        if let (Some(key), Some(fingerprint)) = (&new.idempotency_key, &fingerprint) {
            if let Some(known) = self.known.get(&(tenant.clone(), key.as_str().to_owned())) {
                return Ok(judge(&new, fingerprint, known));
            }
        }
        let seq = self.take_seq();
        let mut event = new.commit(tenant.clone(), seq, self.received_at, String::new());
        event.summary = self.summary(&event);
        self.taken_ids.insert(event.id);
        self.push(event.clone(), fingerprint)?;
        Ok(AppendOutcome::Created(event))
    }

    /// Stores one exported event under a new position; `false` when skipped because its id (or
    /// its idempotency key in this tenant) is already taken.
    fn import(&mut self, tenant: &TenantId, mut event: Event) -> Result<bool> {
        let key_taken = event
            .idempotency_key
            .as_ref()
            .is_some_and(|k| self.known.contains_key(&(tenant.clone(), k.as_str().to_owned())));
        if key_taken || !self.taken_ids.insert(event.id) {
            return Ok(false);
        }
        event.tenant = tenant.clone();
        event.seq = self.take_seq();
        let fingerprint =
            event.idempotency_key.as_ref().map(|_| as_new_event(&event).fingerprint());
        self.push(event, fingerprint)?;
        Ok(true)
    }

    fn push(&mut self, event: Event, fingerprint: Option<String>) -> Result<()> {
        let body = serde_json::to_string(&event)?;
        if let Some(key) = &event.idempotency_key {
            let known = Known { event: event.clone(), fingerprint: fingerprint.clone() };
            self.known.insert((event.tenant.clone(), key.as_str().to_owned()), known);
        }
        self.rows.push(PendingRow { event, fingerprint, body });
        Ok(())
    }

    /// Each written tenant's highest position in this batch.
    fn heads(&self) -> Vec<CommitNotice> {
        let mut heads: HashMap<&TenantId, Seq> = HashMap::new();
        for row in &self.rows {
            let head = heads.entry(&row.event.tenant).or_insert(row.event.seq);
            *head = (*head).max(row.event.seq);
        }
        heads
            .into_iter()
            .map(|(tenant, head)| CommitNotice { tenant: tenant.clone(), head })
            .collect()
    }

    /// Writes the batch's rows: events, their full-text entries and their tags.
    async fn insert(&self, conn: &mut SqliteConnection) -> Result<()> {
        for chunk in self.rows.chunks(EVENT_ROWS_PER_INSERT) {
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

            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "insert into events_fts (rowid, title, description, actor_name, entity_name) ",
            );
            qb.push_values(chunk, |mut b, row| {
                let e = &row.event;
                b.push_bind(e.seq.0)
                    .push_bind(e.title.as_str())
                    .push_bind(e.description.as_deref())
                    .push_bind(e.actor.as_ref().map(|a| a.display()))
                    .push_bind(e.entity.as_ref().map(|x| x.display()));
            });
            qb.build().execute(&mut *conn).await?;
        }

        let tags: Vec<(&Event, &str)> = self
            .rows
            .iter()
            .flat_map(|r| r.event.tags.iter().map(move |t| (&r.event, t.as_str())))
            .collect();
        for chunk in tags.chunks(SMALL_ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
                "insert or ignore into event_tags (tenant, tag, occurred_at, seq) ",
            );
            qb.push_values(chunk, |mut b, (e, tag)| {
                b.push_bind(e.tenant.as_str())
                    .push_bind(*tag)
                    .push_bind(e.occurred_at.as_micros())
                    .push_bind(e.seq.0);
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Repeat or conflict for a new event whose key is already taken. The fingerprint recognises a
/// repeat cheaply; a client-given `occurred_at` is not part of it, so it is compared apart.
fn judge(new: &NewEvent, fingerprint: &str, known: &Known) -> AppendOutcome {
    let same_time = new.occurred_at.is_none_or(|at| at == known.event.occurred_at);
    if same_time && known.fingerprint.as_deref() == Some(fingerprint) {
        return AppendOutcome::Repeat(known.event.clone());
    }
    let fields = new.differing_fields(&known.event);
    if fields.is_empty() {
        AppendOutcome::Repeat(known.event.clone())
    } else {
        AppendOutcome::Conflict { existing: known.event.clone(), fields }
    }
}

/// The client-decided part of a stored event, to fingerprint imported events like new ones.
fn as_new_event(e: &Event) -> NewEvent {
    NewEvent {
        id: e.id,
        event_type: e.event_type.clone(),
        action: e.action,
        source: e.source.clone(),
        actor: e.actor.clone(),
        entity: e.entity.clone(),
        title: e.title.clone(),
        description: e.description.clone(),
        data: e.data.clone(),
        changes: e.changes.clone(),
        priority: e.priority,
        tags: e.tags.clone(),
        correlation_id: e.correlation_id.clone(),
        causation_id: e.causation_id.clone(),
        occurred_at: Some(e.occurred_at),
        expires_at: e.expires_at,
        idempotency_key: e.idempotency_key.clone(),
    }
}
