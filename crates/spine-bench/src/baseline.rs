//! The baselines the figures are compared with: a plain loop of SQLite inserts of the same rows
//! (event row, then the filter keys and full text the indexer builds) into the same schema with the same durability (WAL,
//! synchronous=FULL) and pragmas, committing every 1,000 rows (the near-physical limit of this
//! machine's SQLite), and the feed's first page as one raw SQL statement.

use spine_core::{NewEvent, Seq, TenantId, Timestamp};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn connect(path: &Path) -> BenchResult<sqlx::SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // The store's write-connection pragmas, so the comparison is like for like.
        .pragma("temp_store", "memory")
        .pragma("mmap_size", "268435456")
        .pragma("journal_size_limit", "67108864")
        .pragma("cache_size", "-65536")
        // No checkpoint inside the timed commits (the store checkpoints in the background).
        .pragma("wal_autocheckpoint", "0")
        .connect()
        .await?)
}

/// Inserts `events` into the fresh database at `db`, migrated by the store; events/s.
///
/// The rows are first staged, untimed, in an unindexed temporary table (built with the store's
/// own column values and body JSON). The timed part is then a plain loop inside SQLite, doing
/// what the store's commits and its indexer do: per 1,000 rows, one durable transaction of
/// `insert into events select ...`; per 4,000 rows (the indexer's step under load), one
/// transaction that fills the filter keys and the full text from the new rows through the
/// schema's own views. No driver round trip per row, no channel, no idempotency check, no JSON
/// work in Rust: what this machine's SQLite can do with these rows and indexes.
pub async fn insert_rate(db: &Path, events: &[NewEvent]) -> BenchResult<f64> {
    let mut conn = connect(db).await?;
    // The index file the store created beside the database, written without fsync as the
    // store's indexer writes it.
    let index = spine_sqlite::SqliteStore::index_path(db);
    sqlx::query("attach database ? as idx")
        .bind(index.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await?;
    sqlx::query("pragma idx.synchronous = normal").execute(&mut conn).await?;
    stage(&mut conn, events).await?;
    let start = Instant::now();
    let (mut done, mut indexed) = (0i64, 0i64);
    let total = events.len() as i64;
    while done < total {
        let upto = (done + 1000).min(total);
        let mut tx = conn.begin().await?;
        sqlx::query(
            "insert into main.events select * from temp.staged_events where seq > ? and seq <= ?",
        )
        .bind(done)
        .bind(upto)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done = upto;
        if done - indexed >= 4000 || done == total {
            let mut tx = conn.begin().await?;
            for sql in [
                "insert into idx.event_keys select * from main.event_key_rows \
                 where seq > ? and seq <= ?",
                "insert into idx.events_fts (rowid, title, description, actor_name, entity_name) \
                 select * from main.event_text_rows where seq > ? and seq <= ?",
            ] {
                sqlx::query(sql).bind(indexed).bind(done).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            indexed = done;
        }
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(rate)
}

/// The work queue's baseline on SQLite: a minimal jobs table in the same database file (same
/// pragmas and durability), `jobs` pending rows, and one connection (SQLite's writes are serial)
/// claiming `limit` rows at a time (`update ... where id in (select ... limit ?) returning id`)
/// and completing them (`update ... where id in (...)`), each one durable transaction, until
/// none is left; jobs/s.
pub async fn claim_loop(db: &Path, jobs: usize, limit: u32) -> BenchResult<f64> {
    let mut conn = connect(db).await?;
    for sql in [
        "create table bench_jobs (id integer primary key, queue text not null, \
         status text not null, attempt integer not null, lease_expires_at integer not null, \
         result text)",
        "create index bench_jobs_pending on bench_jobs (queue, id) where status = 'pending'",
    ] {
        sqlx::query(sql).execute(&mut conn).await?;
    }
    sqlx::query(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < ?) \
         insert into bench_jobs (queue, status, attempt, lease_expires_at) \
         select 'bench', 'pending', 0, 0 from n",
    )
    .bind(jobs as i64)
    .execute(&mut conn)
    .await?;
    let start = Instant::now();
    let mut done = 0;
    loop {
        let claimed: Vec<i64> = sqlx::query_scalar(
            "update bench_jobs set status = 'processing', attempt = attempt + 1, \
             lease_expires_at = ? where id in (select id from bench_jobs \
             where queue = 'bench' and status = 'pending' order by id limit ?) returning id",
        )
        .bind(Timestamp::now().as_micros() + 60_000_000)
        .bind(i64::from(limit))
        .fetch_all(&mut conn)
        .await?;
        if claimed.is_empty() {
            break;
        }
        let ids = serde_json::to_string(&claimed)?;
        sqlx::query(
            "update bench_jobs set status = 'completed', result = '{\"ok\":true}' \
             where id in (select value from json_each(?)) and status = 'processing'",
        )
        .bind(ids)
        .execute(&mut conn)
        .await?;
        done += claimed.len();
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(rate)
}

/// Fills an unindexed temporary copy of the events table with the rows the store would write.
async fn stage(conn: &mut sqlx::SqliteConnection, events: &[NewEvent]) -> BenchResult<()> {
    for sql in [
        "create temp table staged_events as select * from main.events where 0",
        // Without it, each timed chunk would scan the whole staging table.
        "create index temp.staged_events_by_seq on staged_events (seq)",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;
    let mut tx = conn.begin().await?;
    for (i, e) in events.iter().enumerate() {
        let seq = i as i64 + 1;
        let fingerprint = e.fingerprint();
        let event = e.clone().commit(tenant.clone(), Seq(seq), Timestamp::now(), e.title.clone());
        let body = serde_json::to_string(&event)?;
        sqlx::query(
            "insert into staged_events values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(event.id.as_bytes().as_slice())
        .bind(tenant.as_str())
        .bind(event.event_type.as_str())
        .bind(event.action.as_str())
        .bind(&event.source.system)
        .bind(event.actor.as_ref().map(|a| a.id.as_str()))
        .bind(event.entity.as_ref().map(|x| x.entity_type.as_str()))
        .bind(event.entity.as_ref().map(|x| x.id.as_str()))
        .bind(event.priority.as_str())
        .bind(event.correlation_id.as_deref())
        .bind(event.occurred_at.as_micros())
        .bind(event.received_at.as_micros())
        .bind(event.expires_at.map(Timestamp::as_micros))
        .bind(event.idempotency_key.as_ref().map(|k| k.as_str()))
        .bind(&fingerprint)
        .bind(&body)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Copies the whole WAL into the database file and truncates it.
pub async fn checkpoint(db: &Path) -> BenchResult<()> {
    let mut conn = connect(db).await?;
    sqlx::query("pragma wal_checkpoint(truncate)").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// Times the default feed's first page as one raw SQL statement on one connection.
pub async fn feed_page_samples(db: &Path, tenant: &str, n: usize) -> BenchResult<Vec<Duration>> {
    let mut conn = connect(db).await?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let rows: Vec<(String,)> = sqlx::query_as(
            "select body from events where tenant = ? order by occurred_at desc, seq desc limit 31",
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

/// The physical limit of this disk for durable appends: each event's stored body (the committed
/// event's JSON, as the stores keep it) appended to one file in `dir`, with an `fdatasync` after
/// every `per_sync` events; events/s. Nothing a database does can be faster than this on the same
/// disk; measured with several `per_sync`, it is the cost curve of an fsync by the bytes it makes
/// durable.
pub fn append_fsync_rate(dir: &Path, events: &[NewEvent], per_sync: usize) -> BenchResult<f64> {
    use std::io::Write;
    let tenant = spine_core::TenantId::parse("bench").map_err(|e| e.to_string())?;
    let now = spine_core::Timestamp::now();
    let bodies: Vec<Vec<u8>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let event = e.clone().commit(
                tenant.clone(),
                spine_core::Seq(i as i64 + 1),
                now,
                e.title.clone(),
            );
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            line
        })
        .collect();
    let path = dir.join("append-baseline.log");
    let mut file = std::fs::File::create(&path)?;
    let start = Instant::now();
    for chunk in bodies.chunks(per_sync.max(1)) {
        for body in chunk {
            file.write_all(body)?;
        }
        file.sync_data()?;
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// Bytes this process has caused to be written to storage so far (`write_bytes` of
/// `/proc/self/io`): for SQLite, the WAL and the checkpoints that copy it into the database file.
pub fn process_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}
