//! The full-text indexer on PostgreSQL: searches wait for it and never answer partly; paused,
//! a search answers that the index is catching up; a node that stops mid-indexing leaves an
//! index that the next node brings to exactly the log; two nodes share the work without
//! indexing an event twice.

use serde_json::json;
use spine_core::input::{EventInput, EventLimits};
use spine_core::{EventFilter, NewEvent, TenantId};
use spine_postgres::testing as support;
use spine_postgres::PgStore;
use spine_store::{FeedQuery, Store, StoreError};
use sqlx::{Connection, Row};
use std::time::Duration;
use uuid::Uuid;

fn event(i: usize) -> NewEvent {
    serde_json::from_value::<EventInput>(json!({
        "type": "a.b",
        "title": format!("event word{i} common"),
        "actor": {"id": format!("u{}", i % 3), "name": "Zoë"},
    }))
    .expect("json")
    .validate(Uuid::now_v7(), None, &EventLimits::default())
    .expect("valid")
}

fn search(q: &str) -> FeedQuery {
    FeedQuery {
        filter: EventFilter { q: Some(q.into()), ..EventFilter::default() },
        limit: 1000,
        ..FeedQuery::default()
    }
}

/// (events, search entries, entries without an event, events without an entry, watermark
/// behind the head), read as the owner of the tables.
async fn index_against_log(url: &str) -> (i64, i64, i64, i64, bool) {
    let mut raw = sqlx::PgConnection::connect(url).await.expect("raw connection");
    let row = sqlx::query(
        "select (select count(*) from events), (select count(*) from event_search),
                (select count(*) from event_search s
                 where not exists (select 1 from events e where e.tenant = s.tenant and e.seq = s.seq)),
                (select count(*) from events e
                 where not exists (select 1 from event_search s where s.tenant = e.tenant and s.seq = e.seq)),
                exists (select 1 from tenant_heads h left join index_watermarks w using (tenant)
                        where h.head > coalesce(w.indexed_seq, 0))",
    )
    .fetch_one(&mut raw)
    .await
    .expect("compare");
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

/// A fresh database, a migrated node on it (its indexer running) and a tenant.
async fn node_with_tenant() -> (String, support::TestDatabase, PgStore, TenantId) {
    let (url, mut db) = support::fresh_database().await;
    let store = support::open(&url).await;
    db.stores.push(store.clone());
    store.migrate().await.expect("migrate");
    let t = TenantId::parse("acme").expect("tenant");
    store.create_tenant(&t, "Acme").await.expect("tenant");
    (url, db, store, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_indexer_makes_searches_wait_never_answer_partly() {
    let (url, _db, store, t) = node_with_tenant().await;
    store.append(&t, (0..50).map(event).collect()).await.expect("append");
    // Searches wait for the indexer: right after the commit, every event is found.
    assert_eq!(store.query(&t, &search("common")).await.expect("search").items.len(), 50);
    assert_eq!(store.query(&t, &search("zoe")).await.expect("folded").items.len(), 50);

    store.pause_indexer(true);
    store.append(&t, (50..80).map(event).collect()).await.expect("append");
    let paused = store.query(&t, &search("word60")).await;
    assert!(matches!(paused, Err(StoreError::Unavailable(_))), "{paused:?}");
    // Feeds without `q` do not need the index.
    let all = FeedQuery { limit: 1000, ..FeedQuery::default() };
    assert_eq!(store.query(&t, &all).await.expect("feed").items.len(), 80);

    store.pause_indexer(false);
    let found = store.query(&t, &search("word60")).await.expect("search after resuming");
    assert_eq!(found.items.len(), 1);
    assert_eq!(store.query(&t, &search("common")).await.expect("search").items.len(), 80);
    assert_eq!(index_against_log(&url).await, (80, 80, 0, 0, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_converges_after_a_node_stops_mid_indexing_and_two_nodes_share_it() {
    let (url, mut db, first, t) = node_with_tenant().await;
    // Enough events for several steps; the node stops while its indexer works through them.
    for chunk in (0..12_000).collect::<Vec<_>>().chunks(2000) {
        first.append(&t, chunk.iter().map(|i| event(*i)).collect()).await.expect("append");
    }
    first.close().await;
    let (events, entries, orphans, missing, _) = index_against_log(&url).await;
    assert_eq!((events, orphans), (12_000, 0));
    assert_eq!(entries + missing, events, "every entry is one event's, none twice");

    // Two nodes take over and keep appending: together they bring the index to the log.
    let (a, b) = (support::open(&url).await, support::open(&url).await);
    db.stores.extend([a.clone(), b.clone()]);
    for node in [&a, &b] {
        // As a node starting up: its indexer starts once the schema is known to be there.
        node.ready().await.expect("ready");
    }
    let appends = [(0, a.clone()), (1, b.clone())].map(|(n, node)| {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                let first = 20_000 + n * 1000 + i * 50;
                node.append(&t, (first..first + 50).map(event).collect()).await.expect("append");
            }
        })
    });
    for task in appends {
        task.await.expect("appends");
    }
    assert_eq!(a.query(&t, &search("word21999")).await.expect("search").items.len(), 1);
    assert_eq!(b.query(&t, &search("word5")).await.expect("search").items.len(), 1);
    // Both nodes have finished with the tenant once the watermark is at the head.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(index_against_log(&url).await, (14_000, 14_000, 0, 0, false));
}
