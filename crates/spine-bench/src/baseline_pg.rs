//! The PostgreSQL baselines: a plain loop of multi-row inserts of the same rows the store writes
//! (event row with its jsonb body, tag rows) into a database migrated by the store (same tables
//! and indexes), 1,000 rows per durable transaction, with the indexer's search vectors
//! (`to_tsvector('simple', ...)` into the GIN-indexed `event_search`) per 5,000; and the
//! feed's first page as one raw SQL statement. Both connect as the
//! database's owner, who is not subject to row-level security: no fence role, no writer, no
//! idempotency check, no head lock, no HTTP.

use spine_core::{Event, NewEvent, Seq, TenantId, Timestamp};
use sqlx::{Connection, Executor, PgConnection};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Inserts `events` into the (fresh, migrated) database at `url`; events/s.
///
/// The rows are first staged, untimed, with one COPY into unindexed temporary tables (the
/// store's column values: body JSON as text, the searchable text). The timed part is then a loop
/// inside PostgreSQL: per 1,000 rows, one durable transaction of `insert into events select ...`
/// (parsing the body into jsonb, as the store's insert does) and `insert into event_tags select
/// ...`; per 5,000 rows (the indexer's step), `insert into event_search select ...` building the
/// search vectors.
pub async fn insert_rate(url: &str, events: &[NewEvent]) -> BenchResult<f64> {
    let mut conn = PgConnection::connect(url).await?;
    stage(&mut conn, events).await?;
    let start = Instant::now();
    let (mut done, mut indexed) = (0i64, 0i64);
    let total = events.len() as i64;
    while done < total {
        let upto = (done + 1000).min(total);
        let mut tx = conn.begin().await?;
        for sql in [
            "insert into events (tenant, seq, id, type, action, source_system, actor_id,
                 entity_type, entity_id, priority, correlation_id, occurred_at, received_at,
                 expires_at, idempotency_key, fingerprint, body)
             select tenant, seq, id, type, action, source_system, actor_id, entity_type,
                 entity_id, priority, correlation_id, occurred_at, received_at, expires_at,
                 idempotency_key, fingerprint, body::jsonb
             from staged_events where seq > $1 and seq <= $2",
            "insert into event_tags (tenant, tag, seq, occurred_at)
             select tenant, tag, seq, occurred_at from staged_tags where seq > $1 and seq <= $2",
        ] {
            sqlx::query(sql).bind(done).bind(upto).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        done = upto;
        if done - indexed >= 5000 || done == total {
            sqlx::query(
                "insert into event_search (tenant, seq, occurred_at, search)
                 select tenant, seq, occurred_at, to_tsvector('simple', search)
                 from staged_events where seq > $1 and seq <= $2",
            )
            .bind(indexed)
            .bind(done)
            .execute(&mut conn)
            .await?;
            indexed = done;
        }
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(rate)
}

/// The work queue's baseline on PostgreSQL: a minimal jobs table in the same database, `jobs`
/// pending rows, and `workers` connections each claiming `limit` rows at a time with
/// `FOR UPDATE SKIP LOCKED` and completing them (`update ... where id = any($1)`), each one
/// durable transaction, until none is left; jobs/s.
pub async fn claim_loop(url: &str, jobs: usize, limit: u32, workers: usize) -> BenchResult<f64> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute(
        "create table bench_jobs (id bigserial primary key, queue text not null,
             status text not null, attempt integer not null, lease_expires_at bigint not null,
             result text);
         create index bench_jobs_pending on bench_jobs (queue, id) where status = 'pending'",
    )
    .await?;
    sqlx::query(
        "insert into bench_jobs (queue, status, attempt, lease_expires_at)
         select 'bench', 'pending', 0, 0 from generate_series(1, $1)",
    )
    .bind(jobs as i64)
    .execute(&mut conn)
    .await?;
    conn.execute("vacuum analyze bench_jobs").await?;
    conn.close().await?;
    let mut connections = Vec::with_capacity(workers);
    for _ in 0..workers {
        connections.push(PgConnection::connect(url).await?);
    }
    let start = Instant::now();
    let tasks = connections.into_iter().map(|mut conn| {
        tokio::spawn(async move {
            let mut done = 0usize;
            loop {
                let claimed: Vec<i64> = sqlx::query_scalar(
                    "update bench_jobs set status = 'processing', attempt = attempt + 1,
                         lease_expires_at = $1
                     where id in (select id from bench_jobs
                         where queue = 'bench' and status = 'pending'
                         order by id limit $2 for update skip locked)
                     returning id",
                )
                .bind(Timestamp::now().as_micros() + 60_000_000)
                .bind(i64::from(limit))
                .fetch_all(&mut conn)
                .await?;
                if claimed.is_empty() {
                    conn.close().await?;
                    return Ok::<_, sqlx::Error>(done);
                }
                sqlx::query(
                    "update bench_jobs set status = 'completed', result = '{\"ok\":true}'
                     where id = any($1) and status = 'processing'",
                )
                .bind(&claimed)
                .execute(&mut conn)
                .await?;
                done += claimed.len();
            }
        })
    });
    let mut done = 0;
    for task in futures::future::join_all(tasks).await {
        done += task??;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// Fills temporary tables with the rows the store would write, by COPY.
async fn stage(conn: &mut PgConnection, events: &[NewEvent]) -> BenchResult<()> {
    conn.execute(
        "create temp table staged_events (tenant text, seq bigint, id bytea, type text,
             action text, source_system text, actor_id text, entity_type text, entity_id text,
             priority text, correlation_id text, occurred_at bigint, received_at bigint,
             expires_at bigint, idempotency_key text, fingerprint text, body text, search text);
         create temp table staged_tags (tenant text, tag text, seq bigint, occurred_at bigint)",
    )
    .await?;
    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;
    let (mut event_rows, mut tag_rows) = (String::new(), String::new());
    for (i, e) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        // As the store: a fingerprint only for an event with an idempotency key.
        let fingerprint = e.idempotency_key.as_ref().map(|_| e.fingerprint());
        let event = e.clone().commit(tenant.clone(), Seq(seq), Timestamp::now(), e.title.clone());
        let body = serde_json::to_string(&event)?;
        let id: String = event.id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let fields = [
            Some(tenant.as_str().to_owned()),
            Some(seq.to_string()),
            Some(format!("\\x{id}")),
            Some(event.event_type.as_str().to_owned()),
            Some(event.action.as_str().to_owned()),
            Some(event.source.system.clone()),
            event.actor.as_ref().map(|a| a.id.clone()),
            event.entity.as_ref().map(|x| x.entity_type.clone()),
            event.entity.as_ref().map(|x| x.id.clone()),
            Some(event.priority.as_str().to_owned()),
            event.correlation_id.clone(),
            Some(event.occurred_at.as_micros().to_string()),
            Some(event.received_at.as_micros().to_string()),
            event.expires_at.map(|t| t.as_micros().to_string()),
            event.idempotency_key.as_ref().map(|k| k.as_str().to_owned()),
            fingerprint,
            Some(body),
            Some(search_text(&event)),
        ];
        copy_line(&mut event_rows, &fields);
        for tag in &event.tags {
            let occurred = event.occurred_at.as_micros().to_string();
            let fields = [
                Some(tenant.as_str().to_owned()),
                Some(tag.clone()),
                Some(seq.to_string()),
                Some(occurred),
            ];
            copy_line(&mut tag_rows, &fields);
        }
    }
    for (table, rows) in [("staged_events", event_rows), ("staged_tags", tag_rows)] {
        let mut copy = conn.copy_in_raw(&format!("copy {table} from stdin")).await?;
        copy.send(rows.into_bytes()).await?;
        copy.finish().await?;
    }
    // Without these, each timed chunk would scan the whole staging table.
    conn.execute(
        "create index on staged_events (seq); create index on staged_tags (seq);
         analyze staged_events; analyze staged_tags",
    )
    .await?;
    Ok(())
}

/// Appends one row in COPY's text format: tab-separated, `\N` for null, backslash escapes.
fn copy_line(out: &mut String, fields: &[Option<String>]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        match field {
            None => out.push_str("\\N"),
            Some(text) => {
                for c in text.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    let _ = writeln!(out);
}

/// The text the store indexes for search: title, description, actor and entity names, with
/// control characters as spaces.
fn search_text(e: &Event) -> String {
    let parts = [
        Some(e.title.as_str()),
        e.description.as_deref(),
        e.actor.as_ref().map(|a| a.display()),
        e.entity.as_ref().map(|x| x.display()),
    ];
    let joined = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
    joined.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Times the default feed's first page as one raw SQL statement on one connection.
pub async fn feed_page_samples(url: &str, tenant: &str, n: usize) -> BenchResult<Vec<Duration>> {
    let mut conn = PgConnection::connect(url).await?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let rows: Vec<(String,)> = sqlx::query_as(
            "select body::text from events where tenant = $1
             order by occurred_at desc, seq desc limit 31",
        )
        .bind(tenant)
        .fetch_all(&mut conn)
        .await?;
        std::hint::black_box(rows);
        samples.push(start.elapsed());
    }
    conn.close().await?;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_escape_separators_and_mark_nulls() {
        let mut out = String::new();
        copy_line(&mut out, &[Some("a\tb\\c\nd".to_owned()), None, Some("{\"x\":1}".to_owned())]);
        assert_eq!(out, "a\\tb\\\\c\\nd\t\\N\t{\"x\":1}\n");
    }
}
