//! Behaviour specific to the SQLite backend: files, processes sharing one file, atomic batches.

use serde_json::json;
use spine_core::input::{EventInput, EventLimits};
use spine_core::{NewEvent, Seq, TenantId};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::{AppendOutcome, FeedQuery, Store, StoreError};
use std::collections::HashSet;
use uuid::Uuid;

fn event(title: &str) -> NewEvent {
    serde_json::from_value::<EventInput>(json!({"type": "a.b", "title": title}))
        .expect("json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid")
}

async fn open(path: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::open(&format!("sqlite:{}", path.display()), SqliteOptions::default())
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store
}

async fn all_seqs(store: &SqliteStore, t: &TenantId) -> Vec<Seq> {
    let q = FeedQuery { limit: 1000, order: spine_core::Order::Seq, ..Default::default() };
    store.query(t, &q).await.expect("query").items.iter().map(|i| i.event.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_close_and_reopen_and_positions_continue() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a").join("b").join("spine.db");
    let t = TenantId::parse("acme").expect("tenant");
    let store = open(&path).await;
    let first = store.append(&t, vec![event("one")]).await.expect("append");
    store.close().await;
    let closed = store.append(&t, vec![event("late")]).await;
    assert!(matches!(closed, Err(StoreError::Unavailable(_))), "closed store: {closed:?}");

    let store = open(&path).await;
    let id = first[0].event().id;
    assert!(store.get_event(&t, id, None).await.expect("get").is_some());
    let second = store.append(&t, vec![event("two")]).await.expect("append");
    assert!(second[0].event().seq > first[0].event().seq);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_never_share_a_position() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("spine.db");
    let t = TenantId::parse("acme").expect("tenant");
    let (a, b) = (open(&path).await, open(&path).await);
    let write = |store: SqliteStore| {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                store.append(&t, vec![event(&format!("{i}")), event("x")]).await.expect("append");
            }
        })
    };
    let (ja, jb) = (write(a.clone()), write(b.clone()));
    ja.await.expect("a");
    jb.await.expect("b");
    let seqs = all_seqs(&a, &t).await;
    assert_eq!(seqs.len(), 80);
    assert_eq!(seqs.iter().collect::<HashSet<_>>().len(), 80, "no position is reused");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_batch_writes_nothing_and_consumes_no_position() {
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("spine.db")).await;
    let t = TenantId::parse("acme").expect("tenant");
    let before = store.append(&t, vec![event("ok")]).await.expect("append");
    // Two events with one id: the second insert breaks the unique index mid-transaction.
    let twin = event("twin");
    let failed = store.append(&t, vec![event("first of batch"), twin.clone(), twin]).await;
    assert!(failed.is_err(), "the batch must fail");
    assert_eq!(all_seqs(&store, &t).await, vec![before[0].event().seq], "nothing half-written");
    let after = store.append(&t, vec![event("next")]).await.expect("append");
    let AppendOutcome::Created(e) = &after[0] else { panic!("created") };
    assert_eq!(e.seq.0, before[0].event().seq.0 + 1, "the failed batch used no position");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_fails_before_migrate() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(
        dir.path().join("spine.db").to_str().expect("utf-8"),
        SqliteOptions::default(),
    )
    .await
    .expect("open");
    assert!(store.ready().await.is_err());
    store.migrate().await.expect("migrate");
    store.ready().await.expect("ready");
    store.close().await;
}

/// A job and its source event commit together: when the commit fails after the events were
/// inserted (here a trigger refuses one job row), neither the events nor any job remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_leaves_neither_the_events_nor_their_jobs() {
    use spine_core::work::rule::{QueueRule, RuleInput};
    use spine_store::{JobQuery, WorkQueue};
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("spine.db");
    let t = TenantId::parse("acme").expect("tenant");
    let store = open(&path).await;
    store.create_tenant(&t, "Acme").await.expect("tenant");
    for (name, filter, queue) in
        [("all", json!({"type": "a.*"}), "default"), ("boom", json!({"type": "boom.*"}), "boom")]
    {
        let input: RuleInput =
            serde_json::from_value(json!({"filter": filter, "queue": queue})).expect("rule");
        store.put_rule(&t, &QueueRule::parse(name, input).expect("valid")).await.expect("put");
    }
    let mut raw =
        sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await.expect("raw");
    sqlx::query(
        "create trigger refuse_boom before insert on jobs when new.queue = 'boom'
         begin select raise(abort, 'refused by the test'); end",
    )
    .execute(&mut raw)
    .await
    .expect("trigger");
    let boom = serde_json::from_value::<EventInput>(json!({"type": "boom.x", "title": "boom"}))
        .expect("json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid");
    let failed = store.append(&t, vec![event("fine"), boom]).await;
    assert!(failed.is_err(), "the commit fails");
    assert!(all_seqs(&store, &t).await.is_empty(), "no event of the failed commit remains");
    let jobs =
        store.list_jobs(&t, &JobQuery { limit: 10, ..Default::default() }).await.expect("list");
    assert!(jobs.is_empty(), "no job of the failed commit remains");
    // The writer goes on: the next commit stores its event and its job.
    store.append(&t, vec![event("later")]).await.expect("append");
    let jobs =
        store.list_jobs(&t, &JobQuery { limit: 10, ..Default::default() }).await.expect("list");
    assert_eq!(jobs.len(), 1);
}
