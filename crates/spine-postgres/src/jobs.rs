//! Jobs and queue rules in PostgreSQL (SPEC section 7). The group commit loads what a batch
//! needs ([`load`]: the tenants' rules, claim candidates locked with `FOR UPDATE SKIP LOCKED`,
//! settled jobs locked with `FOR UPDATE`) and writes what its plan decided ([`write`]). Two nodes
//! never hand out one job: a candidate another transaction holds is skipped, and a job is only
//! claimable while its stored lease has expired. Reads and the small writes (rules, heartbeats)
//! run in fenced transactions of their own.

use crate::admin::timestamp;
use crate::error::{Error, Result};
use crate::fence;
use spine_core::work::job::Job;
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::work::{JobState, JobStatus};
use spine_core::{Event, Seq, TenantId, Timestamp};
use spine_store::group::{Plan, Work};
use spine_store::{JobQuery, JobRecord, QueueCount, SettleError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A job's columns, as `j`.
const COLUMNS: &str = "j.id, j.tenant, j.queue, j.status, j.attempt, j.max_attempts, j.lease, \
     j.lease_expires_at, j.run_after, j.ordered, j.event_id, j.event_seq, j.entity_type, \
     j.entity_id, j.worker, j.last_error, j.result, j.created_at, j.updated_at";

/// Jobs with their source events.
fn select_with_events() -> String {
    format!(
        "select {COLUMNS}, e.body::text as event_body from jobs j
         left join events e on e.seq = j.event_seq and e.tenant = j.tenant"
    )
}

/// A job of `j` is unsettled.
const UNSETTLED: &str = "j.status in ('pending', 'processing', 'failed')";
/// When a job of `j` becomes claimable: its run-after time, or its lease's end.
const DUE_AT: &str =
    "case when j.status = 'processing' then j.lease_expires_at else j.run_after end";
/// A job of `j` is not held back by an earlier unsettled job of its entity in an ordered queue.
const NOT_BLOCKED: &str = "not (j.ordered and exists (
         select 1 from jobs k
         where k.tenant = j.tenant and k.queue = j.queue and k.ordered
           and k.entity_type = j.entity_type and k.entity_id = j.entity_id
           and k.event_seq < j.event_seq
           and k.status in ('pending', 'processing', 'failed')))";

/// Loads what the batch's plan needs: rules of tenants whose new events may become jobs, the
/// candidates of every claim, and the jobs of every settlement.
pub(crate) async fn load(plan: &mut Plan, conn: &mut PgConnection, works: &[Work]) -> Result<()> {
    let now = plan_now(plan);
    let mut rule_tenants = HashSet::new();
    let mut claims: HashMap<(&TenantId, &str), i64> = HashMap::new();
    let mut settles: Vec<(&TenantId, Uuid)> = Vec::new();
    for work in works {
        if work.creates_events_for_rules() {
            rule_tenants.insert(work.tenant());
        }
        match work {
            Work::Claim(t, claim) => {
                *claims.entry((t, claim.queue.as_str())).or_default() += i64::from(claim.limit);
            }
            Work::Settle(t, id, _) => settles.push((t, *id)),
            _ => {}
        }
    }
    for tenant in rule_tenants {
        plan.add_rules(tenant.clone(), rules(&mut *conn, tenant).await?);
    }
    for ((tenant, queue), limit) in claims {
        let sql = format!(
            "{} where j.tenant = $1 and j.queue = $2 and {UNSETTLED} and {DUE_AT} <= $3
               and {NOT_BLOCKED}
             order by j.event_seq limit $4
             for update of j skip locked",
            select_with_events()
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(queue)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            let (job, event) = with_event(row)?;
            plan.offer(queue, job, event);
        }
    }
    // The settled jobs, one statement per tenant (and 500 ids), not one per job.
    let mut by_tenant: HashMap<&TenantId, Vec<Uuid>> = HashMap::new();
    for (tenant, id) in settles {
        by_tenant.entry(tenant).or_default().push(id);
    }
    for (tenant, ids) in by_tenant {
        for chunk in ids.chunks(500) {
            // Locked in id order, so that two nodes settling overlapping jobs cannot deadlock.
            let mut qb: QueryBuilder<'_, Postgres> =
                QueryBuilder::new(format!("{} where j.tenant = ", select_with_events()));
            qb.push_bind(tenant.as_str()).push(" and j.id in (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_bytes().to_vec());
            }
            qb.push(") order by j.id for update of j");
            for row in qb.build().fetch_all(&mut *conn).await? {
                let (job, event) = with_event(&row)?;
                plan.load_job(job, event);
            }
        }
    }
    Ok(())
}

fn plan_now(plan: &Plan) -> i64 {
    plan.received_at().as_micros()
}

/// Writes the plan's new and changed jobs and its notes, inside the commit.
pub(crate) async fn write(plan: &Plan, conn: &mut PgConnection) -> Result<()> {
    for chunk in plan.new_jobs().chunks(500) {
        let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
            "insert into jobs (id, tenant, queue, status, attempt, max_attempts, lease,
                 lease_expires_at, run_after, ordered, event_id, event_seq, entity_type,
                 entity_id, worker, last_error, result, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, j| {
            b.push_bind(j.id.as_bytes().to_vec())
                .push_bind(j.tenant.as_str().to_owned())
                .push_bind(j.queue.clone())
                .push_bind(j.state.status.as_str())
                .push_bind(i32::try_from(j.state.attempt).unwrap_or(i32::MAX))
                .push_bind(i32::try_from(j.state.max_attempts).unwrap_or(i32::MAX))
                .push_bind(i64::try_from(j.state.lease).unwrap_or(i64::MAX))
                .push_bind(j.state.lease_expires_at)
                .push_bind(j.state.run_after)
                .push_bind(j.ordered)
                .push_bind(j.event_id.as_bytes().to_vec())
                .push_bind(j.event_seq.0)
                .push_bind(j.entity_type.clone())
                .push_bind(j.entity_id.clone())
                .push_bind(j.worker.clone())
                .push_bind(j.last_error.clone())
                .push_bind(j.result.as_ref().map(|r| r.to_string()))
                .push_bind(j.created_at.as_micros())
                .push_bind(j.updated_at.as_micros());
        });
        qb.build().execute(&mut *conn).await?;
    }
    // Every changed job in one statement per 500: the new values as a VALUES list joined on
    // (id, tenant).
    let changed: Vec<&Job> = plan.changed_jobs().collect();
    for chunk in changed.chunks(500) {
        let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new(
            "with v (id, tenant, status, attempt, lease, lease_expires_at, run_after, worker,
                 last_error, result, updated_at) as (",
        );
        qb.push_values(chunk, |mut b, j| {
            b.push_bind(j.id.as_bytes().to_vec())
                .push_bind(j.tenant.as_str().to_owned())
                .push_bind(j.state.status.as_str())
                .push_bind(i32::try_from(j.state.attempt).unwrap_or(i32::MAX))
                .push_bind(i64::try_from(j.state.lease).unwrap_or(i64::MAX))
                .push_bind(j.state.lease_expires_at)
                .push_bind(j.state.run_after)
                .push_bind(j.worker.clone())
                .push_bind(j.last_error.clone())
                .push_bind(j.result.as_ref().map(|r| r.to_string()))
                .push_bind(j.updated_at.as_micros());
        });
        qb.push(
            ") update jobs set status = v.status, attempt = v.attempt, lease = v.lease,
                 lease_expires_at = v.lease_expires_at, run_after = v.run_after,
                 worker = v.worker, last_error = v.last_error, result = v.result,
                 updated_at = v.updated_at
             from v where jobs.id = v.id and jobs.tenant = v.tenant",
        );
        qb.build().execute(&mut *conn).await?;
    }
    crate::notes::write(plan.notes(), conn).await
}

/// A job row (with `COLUMNS`).
pub(crate) fn job(row: &PgRow) -> Result<Job> {
    let unreadable = |what: &str, e: String| Error::Unreadable(format!("job {what}: {e}"));
    let uuid = |column: &str| -> Result<Uuid> {
        Uuid::from_slice(row.try_get(column)?).map_err(|e| unreadable(column, e.to_string()))
    };
    let count = |column: &str| -> Result<u32> {
        Ok(u32::try_from(row.try_get::<i32, _>(column)?).unwrap_or_default())
    };
    let result: Option<String> = row.try_get("result")?;
    Ok(Job {
        id: uuid("id")?,
        tenant: TenantId::parse(row.try_get("tenant")?).map_err(|e| unreadable("tenant", e))?,
        queue: row.try_get("queue")?,
        state: JobState {
            status: JobStatus::parse(row.try_get("status")?)
                .map_err(|e| unreadable("status", e))?,
            attempt: count("attempt")?,
            max_attempts: count("max_attempts")?,
            lease: u64::try_from(row.try_get::<i64, _>("lease")?).unwrap_or_default(),
            lease_expires_at: row.try_get("lease_expires_at")?,
            run_after: row.try_get("run_after")?,
        },
        ordered: row.try_get("ordered")?,
        event_id: uuid("event_id")?,
        event_seq: Seq(row.try_get("event_seq")?),
        entity_type: row.try_get("entity_type")?,
        entity_id: row.try_get("entity_id")?,
        worker: row.try_get("worker")?,
        last_error: row.try_get("last_error")?,
        result: result.map(|r| serde_json::from_str(&r)).transpose()?,
        created_at: timestamp(row.try_get("created_at")?),
        updated_at: timestamp(row.try_get("updated_at")?),
    })
}

fn with_event(row: &PgRow) -> Result<(Job, Option<Event>)> {
    let body: Option<String> = row.try_get("event_body")?;
    Ok((job(row)?, body.map(|b| serde_json::from_str(&b)).transpose()?))
}

fn record(row: &PgRow) -> Result<JobRecord> {
    let (job, event) = with_event(row)?;
    Ok(JobRecord { job, event, stolen: false })
}

/// One job with its event.
pub(crate) async fn get(pool: &PgPool, tenant: &TenantId, id: Uuid) -> Result<Option<JobRecord>> {
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    let sql = format!("{} where j.tenant = $1 and j.id = $2", select_with_events());
    let row = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    row.as_ref().map(record).transpose()
}

/// Jobs newest first, filtered.
pub(crate) async fn list(pool: &PgPool, tenant: &TenantId, q: &JobQuery) -> Result<Vec<JobRecord>> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("{} where j.tenant = ", select_with_events()));
    qb.push_bind(tenant.as_str());
    if let Some(status) = q.status {
        qb.push(" and j.status = ").push_bind(status.as_str());
    }
    if let Some(queue) = &q.queue {
        qb.push(" and j.queue = ").push_bind(queue.as_str());
    }
    if let Some(t) = &q.entity_type {
        qb.push(" and j.entity_type = ").push_bind(t.as_str());
    }
    if let Some(id) = &q.entity_id {
        qb.push(" and j.entity_id = ").push_bind(id.as_str());
    }
    if !q.event_ids.is_empty() {
        qb.push(" and j.event_id in (");
        let mut list = qb.separated(", ");
        for id in &q.event_ids {
            list.push_bind(id.as_bytes().to_vec());
        }
        qb.push(")");
    }
    if let Some(before) = q.before {
        qb.push(" and j.id < ").push_bind(before.as_bytes().to_vec());
    }
    qb.push(" order by j.id desc limit ").push_bind(i64::from(q.limit));
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    let rows = qb.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    rows.iter().map(record).collect()
}

/// The jobs of these events, without the events.
pub(crate) async fn of_events(pool: &PgPool, tenant: &TenantId, ids: &[Uuid]) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    for chunk in ids.chunks(500) {
        let mut qb: QueryBuilder<'_, Postgres> =
            QueryBuilder::new(format!("select {COLUMNS} from jobs j where j.tenant = "));
        qb.push_bind(tenant.as_str()).push(" and j.event_id in (");
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(id.as_bytes().to_vec());
        }
        qb.push(") order by j.id");
        for row in qb.build().fetch_all(&mut *tx).await? {
            jobs.push(job(&row)?);
        }
    }
    tx.commit().await?;
    Ok(jobs)
}

/// Counts by queue and status, for one tenant or all.
pub(crate) async fn counts(pool: &PgPool, tenant: Option<&TenantId>) -> Result<Vec<QueueCount>> {
    let mut tx = fence::begin_in(pool, tenant, fence::Mode::Snapshot).await?;
    let rows = match tenant {
        Some(t) => {
            sqlx::query(
                "select queue, status, count(*) as jobs from jobs where tenant = $1
                 group by queue, status order by queue, status",
            )
            .bind(t.as_str())
            .fetch_all(&mut *tx)
            .await?
        }
        None => {
            sqlx::query("select queue, status, jobs from spine_job_counts()")
                .fetch_all(&mut *tx)
                .await?
        }
    };
    tx.commit().await?;
    rows.iter()
        .map(|row| {
            Ok(QueueCount {
                queue: row.try_get("queue")?,
                status: JobStatus::parse(row.try_get("status")?)
                    .map_err(|e| Error::Unreadable(format!("job status: {e}")))?,
                jobs: u64::try_from(row.try_get::<i64, _>("jobs")?).unwrap_or_default(),
            })
        })
        .collect()
}

/// When the queue's next job becomes claimable, by the claim's rules.
pub(crate) async fn next_due(
    pool: &PgPool,
    tenant: &TenantId,
    queue: &str,
) -> Result<Option<Timestamp>> {
    let sql = format!(
        "select min({DUE_AT}) from jobs j
         where j.tenant = $1 and j.queue = $2 and {UNSETTLED} and {NOT_BLOCKED}"
    );
    let mut tx = fence::begin_in(pool, [tenant], fence::Mode::Snapshot).await?;
    let due: Option<i64> =
        sqlx::query_scalar(&sql).bind(tenant.as_str()).bind(queue).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(due.map(timestamp))
}

/// Extends a lease when `lease` is the job's current, unexpired one.
pub(crate) async fn heartbeat(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    lease: u64,
    lease_micros: i64,
) -> Result<Option<std::result::Result<Job, SettleError>>> {
    let now = Timestamp::now().as_micros();
    let lease = i64::try_from(lease).unwrap_or(-1);
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "update jobs set lease_expires_at = $1, updated_at = $2
         where tenant = $3 and id = $4 and status = 'processing' and lease = $5
           and lease_expires_at > $6",
    )
    .bind(now.saturating_add(lease_micros))
    .bind(now)
    .bind(tenant.as_str())
    .bind(id.as_bytes().as_slice())
    .bind(lease)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let row =
        sqlx::query(&format!("select {COLUMNS} from jobs j where j.tenant = $1 and j.id = $2"))
            .bind(tenant.as_str())
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    let job = job(&row)?;
    // The update ran, or the lease is not the caller's: the stored state says which.
    let lease = u64::try_from(lease).unwrap_or(u64::MAX);
    Ok(Some(match job.state.check_lease(lease, now) {
        Ok(()) => Ok(job),
        Err(e) => Err(e.into()),
    }))
}

/// The tenant's rules, by name.
pub(crate) async fn rules(conn: &mut PgConnection, tenant: &TenantId) -> Result<Vec<QueueRule>> {
    let rows = sqlx::query(
        "select name, filter, queue, max_attempts, ordered from queue_rules
         where tenant = $1 order by name",
    )
    .bind(tenant.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("name")?;
        let input = RuleInput {
            filter: serde_json::from_str(row.try_get("filter")?)?,
            queue: Some(row.try_get("queue")?),
            max_attempts: u32::try_from(row.try_get::<i32, _>("max_attempts")?).ok(),
            ordered: row.try_get("ordered")?,
        };
        match QueueRule::parse(&name, input) {
            Ok(rule) => rules.push(rule),
            Err(e) => {
                tracing::warn!(tenant = %tenant, rule = %name, errors = ?e, "unreadable queue rule")
            }
        }
    }
    Ok(rules)
}

/// Creates or replaces a rule.
pub(crate) async fn put_rule(pool: &PgPool, tenant: &TenantId, rule: &QueueRule) -> Result<()> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    sqlx::query(
        "insert into queue_rules (tenant, name, filter, queue, max_attempts, ordered, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (tenant, name) do update set filter = excluded.filter,
             queue = excluded.queue, max_attempts = excluded.max_attempts,
             ordered = excluded.ordered, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(&rule.name)
    .bind(serde_json::to_string(&rule.filter)?)
    .bind(&rule.spec.queue)
    .bind(i32::try_from(rule.spec.max_attempts).unwrap_or(i32::MAX))
    .bind(rule.spec.ordered)
    .bind(Timestamp::now().as_micros())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a rule.
pub(crate) async fn delete_rule(pool: &PgPool, tenant: &TenantId, name: &str) -> Result<bool> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let done = sqlx::query("delete from queue_rules where tenant = $1 and name = $2")
        .bind(tenant.as_str())
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}
