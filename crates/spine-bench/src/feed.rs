//! Feed pages at scale: the first page and a deep page (90 % of the way through) of filtered
//! feeds, at 1 million events by default (10 million behind `--ten-million`), on either backend.
//! Deep pages must cost about the same as the first: keyset pagination, never OFFSET.

use crate::backend::Backend;
use crate::data::{self, Rng};
use crate::ingest::RunningServer;
use crate::measure::{ms, percentiles, Row};
use crate::settle;
use futures::{StreamExt, TryStreamExt};
use spine_core::{Cursor, Order, Seq};
use spine_store::FeedQuery;
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn timed_gets(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    n: usize,
) -> BenchResult<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let r = client.get(url).bearer_auth(key).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        if !status.is_success() {
            return Err(format!("{url}: {status} {}", String::from_utf8_lossy(&body)).into());
        }
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Batches of the seeding in flight at once: the next batch is generated while earlier ones
/// commit, and the store's group commit may join them.
const SEED_IN_FLIGHT: usize = 4;

/// Seeds `n` events, then measures first and deep pages over HTTP.
pub async fn run(backend: &Backend, n: usize, samples: usize) -> BenchResult<Vec<Row>> {
    let (place, nodes) = backend.fresh("feed", 1).await?;
    let srv = RunningServer::start_all(nodes).await?.pop().ok_or("no server")?;
    let store = srv.node.store();
    let tenant = srv.tenant.clone();
    let mut rows = Vec::new();

    let start = Instant::now();
    let mut rng = Rng::new(21);
    futures::stream::iter((0..n).step_by(1000))
        .map(|i| {
            let batch: Vec<_> =
                (i..(i + 1000).min(n)).map(|j| data::new_event(&mut rng, j)).collect();
            let (store, tenant) = (store.clone(), tenant.clone());
            async move { store.append(&tenant, batch).await }
        })
        .buffered(SEED_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    rows.push(Row::new(
        format!("seeding {n} events (in-process, 1000/batch, {SEED_IN_FLIGHT} in flight)"),
        n as f64 / start.elapsed().as_secs_f64(),
        "events/s",
        None,
        "",
    ));
    // Measure reads on a settled database: SQLite folds the seeding's WAL into the file first,
    // so the background checkpointer is not copying a gigabyte during the first measurement;
    // PostgreSQL vacuums and analyzes, so plans see the real table and index-only scans work.
    let start = Instant::now();
    place.settle_for_reads().await?;
    rows.push(Row::new(
        "settling for reads (checkpoint or vacuum analyze)",
        start.elapsed().as_secs_f64(),
        "s",
        None,
        "",
    ));
    settle().await;

    // The position 90 % of the way through the default (newest-first) order is the event at
    // 10 % of the commit order, since the generator's occurred_at runs backwards in time.
    let secret = store.server_secret().await?;
    let pick = |seq: i64| FeedQuery {
        order: Order::Seq,
        after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: Seq(seq) }),
        limit: 1,
        ..Default::default()
    };
    let deep_event = store
        .query(&tenant, &pick((n / 10) as i64))
        .await?
        .items
        .into_iter()
        .next()
        .ok_or("no event at the deep position")?
        .event;
    let deep_occurred = Cursor {
        order: Order::Occurred,
        occurred_micros: deep_event.occurred_at.as_micros(),
        seq: deep_event.seq,
    }
    .encode(&secret, &tenant);
    let deep_seq = Cursor { order: Order::Seq, occurred_micros: 0, seq: Seq((n * 9 / 10) as i64) }
        .encode(&secret, &tenant);

    let client = reqwest::Client::new();
    let cases: [(&str, String, String); 4] = [
        ("unfiltered", String::new(), deep_occurred.clone()),
        ("type=task.created", "type=task.created&".to_owned(), deep_occurred.clone()),
        ("tag=billing", "tag=billing&".to_owned(), deep_occurred.clone()),
        ("order=seq", "order=seq&".to_owned(), deep_seq),
    ];
    for (name, filter, deep) in cases {
        let first_url = format!("{}/v1/events?{filter}limit=30", srv.url);
        let deep_url = format!("{}/v1/events?{filter}limit=30&cursor={deep}", srv.url);
        // Warm-up, untimed: the first requests of a case pay for cold pages.
        timed_gets(&client, &first_url, &srv.key, samples / 10 + 1).await?;
        timed_gets(&client, &deep_url, &srv.key, samples / 10 + 1).await?;
        let mut first = timed_gets(&client, &first_url, &srv.key, samples).await?;
        let mut deep = timed_gets(&client, &deep_url, &srv.key, samples).await?;
        let first = percentiles(&mut first);
        let deep = percentiles(&mut deep);
        rows.push(Row::new(format!("feed page {name}, first: p50"), ms(first.p50), "ms", None, ""));
        rows.push(Row::new(
            format!("feed page {name}, first: p99"),
            ms(first.p99),
            "ms",
            None,
            "<= 5 ms",
        ));
        rows.push(Row::new(
            format!("feed page {name}, deep (90 %): p50"),
            ms(deep.p50),
            "ms",
            Some(ms(first.p50)),
            "",
        ));
        rows.push(Row::new(
            format!("feed page {name}, deep (90 %): p99"),
            ms(deep.p99),
            "ms",
            Some(ms(first.p99)),
            "<= 1.5x first",
        ));
    }
    let other_cases = [
        (
            "entity timeline",
            format!("{}/v1/entities/task/task-7/timeline?limit=30", srv.url),
            "<= 5 ms",
        ),
        ("full-text q", format!("{}/v1/events?q=number%20700&limit=30", srv.url), ""),
    ];
    for (name, url, target) in other_cases {
        timed_gets(&client, &url, &srv.key, samples / 10 + 1).await?;
        let mut t = timed_gets(&client, &url, &srv.key, samples).await?;
        let p = percentiles(&mut t);
        rows.push(Row::new(format!("{name}, first page: p50"), ms(p.p50), "ms", None, ""));
        rows.push(Row::new(format!("{name}, first page: p99"), ms(p.p99), "ms", None, target));
    }

    let mut raw = place.feed_page_samples(tenant.as_str(), samples).await?;
    let p = percentiles(&mut raw);
    rows.push(Row::new("baseline: the same first page as raw SQL: p50", ms(p.p50), "ms", None, ""));
    rows.push(Row::new("baseline: the same first page as raw SQL: p99", ms(p.p99), "ms", None, ""));
    srv.stop().await;
    Ok(rows)
}
