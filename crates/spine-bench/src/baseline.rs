//! The baseline every ingest figure is compared with: a plain loop of SQLite inserts of the same
//! rows (event row, tag rows, full-text row) into the same schema, on one connection, with the
//! same durability (WAL, synchronous=FULL), committing every 1,000 rows. No channel, no group
//! commit, no idempotency check, no HTTP: the near-physical limit of this machine's SQLite.

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
        .connect()
        .await?)
}

/// Inserts `events` into a fresh database with spine's schema; events/s.
pub async fn insert_rate(dir: &Path, events: &[NewEvent]) -> BenchResult<f64> {
    let store = crate::fresh_store(dir, "baseline.db").await?;
    store.close().await;
    drop(store);
    let mut conn = connect(&dir.join("baseline.db")).await?;
    let tenant = TenantId::parse("bench").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut seq = 0i64;
    for chunk in events.chunks(1000) {
        let mut tx = conn.begin().await?;
        for e in chunk {
            seq += 1;
            let now = Timestamp::now();
            let fingerprint = e.fingerprint();
            let event = e.clone().commit(tenant.clone(), Seq(seq), now, e.title.clone());
            let body = serde_json::to_string(&event)?;
            sqlx::query(
                "insert into events (seq, id, tenant, type, action, source_system, actor_id, \
                 entity_type, entity_id, priority, correlation_id, occurred_at, received_at, \
                 expires_at, idempotency_key, fingerprint, body) \
                 values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            for tag in &event.tags {
                sqlx::query(
                    "insert into event_tags (tenant, tag, occurred_at, seq) values (?, ?, ?, ?)",
                )
                .bind(tenant.as_str())
                .bind(tag)
                .bind(event.occurred_at.as_micros())
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "insert into events_fts (rowid, title, description, actor_name, entity_name) \
                 values (?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(&event.title)
            .bind(event.description.as_deref())
            .bind(event.actor.as_ref().map(|a| a.display()))
            .bind(event.entity.as_ref().map(|x| x.display()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    conn.close().await?;
    Ok(rate)
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
