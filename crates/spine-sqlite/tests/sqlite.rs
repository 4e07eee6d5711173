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

/// An event with every filter key, varied by `i`.
fn keyed(i: usize) -> NewEvent {
    let event_type = ["deal.won", "task.created", "call.received"][i % 3];
    serde_json::from_value::<EventInput>(json!({
        "type": event_type,
        "title": format!("event number{i} about widgets"),
        "actor": {"id": format!("u{}", i % 4)},
        "entity": {"type": "deal", "id": format!("d{}", i % 5)},
        "correlation_id": format!("c{}", i % 6),
        "tags": [format!("t{}", i % 7), format!("s{}", i % 2)],
        // Out of commit order, so the feed order and the positions disagree.
        "occurred_at": format!("2026-01-01T00:{:02}:{:02}Z", (i * 7) % 60, i % 60),
    }))
    .expect("json")
    .validate(Uuid::now_v7(), None, &EventLimits::default())
    .expect("valid")
}

/// Walks the whole feed for `query` in pages of 7: each event's position, in page order.
async fn walk(store: &SqliteStore, t: &TenantId, mut query: FeedQuery) -> Vec<Seq> {
    query.limit = 7;
    let mut seen = Vec::new();
    loop {
        let page = store.query(t, &query).await.expect("page");
        seen.extend(page.items.iter().map(|i| i.event.seq));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return seen,
        }
    }
}

/// The feed order of `events` matching `keep`: newest `occurred_at` first, then position.
fn expected(events: &[spine_core::Event], keep: impl Fn(&spine_core::Event) -> bool) -> Vec<Seq> {
    let mut matching: Vec<&spine_core::Event> = events.iter().filter(|e| keep(e)).collect();
    matching.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.seq)));
    matching.iter().map(|e| e.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_stay_exact_while_the_indexer_lags_and_searches_wait_for_it() {
    use spine_core::{EventFilter, Order, Scope, TypePattern};
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("spine.db")).await;
    let t = TenantId::parse("acme").expect("tenant");
    store.create_tenant(&t, "Acme").await.expect("tenant");
    // Another tenant with the same keys, indexed and not: neither arm of a walk may show them.
    let other = TenantId::parse("other").expect("tenant");
    store.create_tenant(&other, "Other").await.expect("tenant");
    store.append(&other, (0..90).map(keyed).collect()).await.expect("append");
    let first = store.append(&t, (0..90).map(keyed).collect()).await.expect("append");
    // Let the indexer reach the first half, then stop it: the rest stays above the watermark.
    let last_indexed = first.last().expect("events").event().seq;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.indexed_through() < last_indexed {
        assert!(std::time::Instant::now() < deadline, "the indexer never caught up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.pause_indexer(true);
    let second = store.append(&t, (90..180).map(keyed).collect()).await.expect("append");
    store.append(&other, (90..180).map(keyed).collect()).await.expect("append");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.indexed_through(), last_indexed, "a paused indexer stays where it was");
    let events: Vec<spine_core::Event> =
        first.iter().chain(&second).map(|o| o.event().clone()).collect();

    let base = EventFilter::default();
    let entity = |e: &spine_core::Event| e.entity.as_ref().map(|x| x.id.clone());
    let has_tag = |e: &spine_core::Event, tag: &str| e.tags.iter().any(|t| t == tag);
    type Keep = Box<dyn Fn(&spine_core::Event) -> bool>;
    let cases: Vec<(&str, EventFilter, Option<Scope>, Keep)> = vec![
        ("everything", base.clone(), None, Box::new(|_| true)),
        (
            "type",
            EventFilter { types: vec![TypePattern::parse("deal.won").expect("t")], ..base.clone() },
            None,
            Box::new(|e| e.event_type.as_str() == "deal.won"),
        ),
        (
            "actor",
            EventFilter { actor: Some("u1".into()), ..base.clone() },
            None,
            Box::new(|e| e.actor.as_ref().is_some_and(|a| a.id == "u1")),
        ),
        (
            "entity",
            EventFilter {
                entity_type: Some("deal".into()),
                entity_id: Some("d2".into()),
                ..base.clone()
            },
            None,
            Box::new(move |e| entity(e).as_deref() == Some("d2")),
        ),
        (
            "correlation",
            EventFilter { correlation_id: Some("c3".into()), ..base.clone() },
            None,
            Box::new(|e| e.correlation_id.as_deref() == Some("c3")),
        ),
        (
            "two tags",
            EventFilter { tags: vec!["t3".into(), "s1".into()], ..base.clone() },
            None,
            Box::new(move |e| has_tag(e, "t3") && has_tag(e, "s1")),
        ),
        (
            "actor within an entity scope",
            EventFilter { actor: Some("u2".into()), ..base.clone() },
            Some(Scope {
                entity_type: Some("deal".into()),
                entity_id: Some("d0".into()),
                ..Scope::default()
            }),
            Box::new(move |e| {
                e.actor.as_ref().is_some_and(|a| a.id == "u2") && entity(e).as_deref() == Some("d0")
            }),
        ),
    ];
    for (name, filter, scope, keep) in cases {
        let want = expected(&events, keep);
        assert!(want.iter().any(|s| *s > last_indexed), "{name}: some matches are unindexed");
        let query = FeedQuery { filter, scope, order: Order::Occurred, ..FeedQuery::default() };
        assert_eq!(walk(&store, &t, query).await, want, "{name}");
    }

    // A search needs the full text, which the paused indexer has not written for the second
    // half: it waits, then answers that the index is catching up, never a partial result.
    let search = FeedQuery {
        filter: EventFilter { q: Some("number150".into()), ..base.clone() },
        ..FeedQuery::default()
    };
    let paused = store.query(&t, &search).await;
    assert!(matches!(paused, Err(StoreError::Unavailable(_))), "{paused:?}");

    store.pause_indexer(false);
    let found = store.query(&t, &search).await.expect("search after resuming");
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].event.title, "event number150 about widgets");
    let widgets = FeedQuery {
        filter: EventFilter { q: Some("widgets".into()), ..base },
        limit: 1000,
        ..FeedQuery::default()
    };
    assert_eq!(store.query(&t, &widgets).await.expect("search").items.len(), events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_walk_sees_each_event_once_while_the_watermark_moves_under_it() {
    use spine_core::{EventFilter, Order};
    let dir = tempfile::tempdir().expect("dir");
    let store = open(&dir.path().join("spine.db")).await;
    let t = TenantId::parse("acme").expect("tenant");
    store.create_tenant(&t, "Acme").await.expect("tenant");
    // Half indexed, half above the watermark when the walk starts.
    let mut before: Vec<Seq> = Vec::new();
    store.pause_indexer(true);
    for chunk in (0..240).collect::<Vec<_>>().chunks(60) {
        let stored = store.append(&t, chunk.iter().map(|i| keyed(*i)).collect()).await;
        before.extend(stored.expect("append").iter().map(|o| o.event().seq));
        if before.len() == 120 {
            store.pause_indexer(false);
            while store.indexed_through() < before[119] {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            store.pause_indexer(true);
        }
    }
    let actor = |e: &spine_core::Event| e.actor.as_ref().is_some_and(|a| a.id == "u1");
    let filter = EventFilter { actor: Some("u1".into()), ..EventFilter::default() };
    let mut query = FeedQuery { filter, order: Order::Occurred, limit: 5, ..FeedQuery::default() };
    let mut seen: Vec<Seq> = Vec::new();
    let mut page_number = 0;
    loop {
        let page = store.query(&t, &query).await.expect("page");
        seen.extend(page.items.iter().map(|i| i.event.seq));
        page_number += 1;
        // Between pages: new events arrive, and the indexer moves the watermark over some of
        // what the walk has read and some of what it has not.
        if page_number % 2 == 0 {
            let more = (1000 + page_number * 4..1004 + page_number * 4).map(keyed).collect();
            store.append(&t, more).await.expect("append while walking");
        }
        store.pause_indexer(page_number % 3 != 0);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an event came twice: {seen:?}");
    let all = FeedQuery { limit: 1000, order: Order::Seq, ..FeedQuery::default() };
    let stored = store.query(&t, &all).await.expect("all").items;
    let first: HashSet<Seq> = before.iter().copied().collect();
    let want: HashSet<Seq> = stored
        .iter()
        .filter(|i| first.contains(&i.event.seq) && actor(&i.event))
        .map(|i| i.event.seq)
        .collect();
    let got: HashSet<Seq> = seen.iter().copied().collect();
    assert!(want.is_subset(&got), "missed {:?}", want.difference(&got).collect::<Vec<_>>());
    assert!(stored.iter().filter(|i| got.contains(&i.event.seq)).all(|i| actor(&i.event)));
}

/// Waits until the indexer has reached `seq`.
async fn indexed(store: &SqliteStore, seq: Seq) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.indexed_through() < seq {
        assert!(std::time::Instant::now() < deadline, "the indexer never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Opens the store at `db` and checks that an actor's feed and a search answer exactly `events`.
async fn rebuilt_exactly(
    db: &std::path::Path,
    t: &TenantId,
    events: &[spine_core::Event],
    label: &str,
) {
    use spine_core::{EventFilter, Order};
    let store = open(db).await;
    let actor = FeedQuery {
        filter: EventFilter { actor: Some("u1".into()), ..EventFilter::default() },
        order: Order::Occurred,
        ..FeedQuery::default()
    };
    let want = expected(events, |e| e.actor.as_ref().is_some_and(|a| a.id == "u1"));
    assert_eq!(walk(&store, t, actor).await, want, "{label}: the actor's feed");
    let widgets = FeedQuery {
        filter: EventFilter { q: Some("widgets".into()), ..EventFilter::default() },
        limit: 1000,
        ..FeedQuery::default()
    };
    let found = store.query(t, &widgets).await.expect("search");
    assert_eq!(found.items.len(), events.len(), "{label}: one match per event");
    store.close().await;
}

/// The index file holds nothing the log does not: one that is missing, or that belongs to
/// another log (the database file replaced by another copy), is rebuilt from the log, and the
/// feeds and searches answer exactly the log's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_file_is_rebuilt_when_missing_or_from_another_log() {
    let dir = tempfile::tempdir().expect("dir");
    let t = TenantId::parse("acme").expect("tenant");
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    // Two logs of the same tenant whose positions carry different keys.
    let mut logs = Vec::new();
    for (path, shift, n) in [(&a, 0, 60), (&b, 1, 20)] {
        let store = open(path).await;
        store.create_tenant(&t, "Acme").await.expect("tenant");
        let written = store.append(&t, (0..n).map(|i| keyed(i + shift)).collect()).await;
        let events: Vec<spine_core::Event> =
            written.expect("append").iter().map(|o| o.event().clone()).collect();
        indexed(&store, events.last().expect("events").seq).await;
        store.close().await;
        logs.push(events);
    }
    let b_events = &logs[1];
    let index_files = |db: &std::path::Path| {
        let index = SqliteStore::index_path(db).into_os_string();
        ["", "-wal", "-shm"].map(|suffix| {
            let mut file = index.clone();
            file.push(suffix);
            std::path::PathBuf::from(file)
        })
    };

    // The other log's index, further along than this log's head.
    for (from, to) in index_files(&a).iter().zip(index_files(&b)) {
        let _ = std::fs::remove_file(&to);
        if from.exists() {
            std::fs::copy(from, &to).expect("copy the index file");
        }
    }
    rebuilt_exactly(&b, &t, b_events, "another log's index").await;

    // No index file at all.
    for file in index_files(&b) {
        let _ = std::fs::remove_file(file);
    }
    rebuilt_exactly(&b, &t, b_events, "no index file").await;
}
