//! Behaviour specific to PostgreSQL: several nodes (stores) sharing one database.

use spine_postgres::testing as support;

use serde_json::json;
use spine_core::input::{EventInput, EventLimits};
use spine_core::{NewEvent, Order, Seq, TenantId};
use spine_store::{AppendOutcome, FeedQuery, Store};
use uuid::Uuid;

fn event(title: &str, key: Option<&str>) -> NewEvent {
    let mut input = json!({"type": "a.b", "title": title});
    if let Some(key) = key {
        input["idempotency_key"] = json!(key);
    }
    serde_json::from_value::<EventInput>(input)
        .expect("json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_migrate_at_once_and_interleave_without_gaps_or_duplicates() {
    let (url, mut db) = support::fresh_database().await;
    let (a, b) = (support::open(&url).await, support::open(&url).await);
    db.stores.extend([a.clone(), b.clone()]);
    let (ma, mb) = tokio::join!(a.migrate(), b.migrate());
    ma.expect("migrate a");
    mb.expect("migrate b");
    let t = TenantId::parse("acme").expect("tenant");

    let mut tasks = Vec::new();
    for (n, node) in [a.clone(), b.clone()].into_iter().cycle().take(8).enumerate() {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let events = (0..5).map(|j| event(&format!("n{n} c{i} e{j}"), None)).collect();
                node.append(&t, events).await.expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }

    let q = FeedQuery { limit: 1000, order: Order::Seq, ..Default::default() };
    let seqs: Vec<Seq> =
        a.query(&t, &q).await.expect("query").items.iter().map(|i| i.event.seq).collect();
    let expected: Vec<Seq> = (1..=400).map(Seq).collect();
    assert_eq!(seqs, expected, "positions are dense, unique and in order");
    assert_eq!(b.head(&t).await.expect("head"), Seq(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_sent_to_two_nodes_at_once_is_stored_once() {
    let (url, mut db) = support::fresh_database().await;
    let (a, b) = (support::open(&url).await, support::open(&url).await);
    db.stores.extend([a.clone(), b.clone()]);
    a.migrate().await.expect("migrate");
    let t = TenantId::parse("acme").expect("tenant");
    for round in 0..10 {
        let key = format!("k{round}");
        let (ra, rb) = tokio::join!(
            a.append(&t, vec![event("same", Some(&key))]),
            b.append(&t, vec![event("same", Some(&key))])
        );
        let outcomes = [ra.expect("a"), rb.expect("b")];
        let created =
            outcomes.iter().filter(|o| matches!(o.as_slice(), [AppendOutcome::Created(_)])).count();
        let repeats =
            outcomes.iter().filter(|o| matches!(o.as_slice(), [AppendOutcome::Repeat(_)])).count();
        assert_eq!((created, repeats), (1, 1), "round {round}: {outcomes:?}");
    }
}
