//! Behaviour specific to PostgreSQL: several nodes (stores) sharing one database.

use spine_postgres::testing as support;

use serde_json::json;
use spine_core::input::{EventInput, EventLimits};
use spine_core::{NewEvent, Order, Seq, TenantId, UserId};
use spine_store::{
    AppendOutcome, CommitNotice, FeedQuery, Notice, ReadChange, ReadNotice, ReadState, Store,
};
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

/// Waits for the first notice on `rx` other than a resync.
async fn next_notice(rx: &mut tokio::sync::broadcast::Receiver<Notice>) -> Notice {
    let guard = std::time::Duration::from_secs(10);
    loop {
        let notice = tokio::time::timeout(guard, rx.recv())
            .await
            .expect("a notice within the guard time")
            .expect("open channel");
        // Resyncs may come at any time; a warm-up commit may still be on its way.
        let warm_up = matches!(&notice, Notice::Commit(c) if c.tenant.as_str() == "warm-up");
        if notice != Notice::Resync && !warm_up {
            return notice;
        }
    }
}

/// Appends to `warm` on `from` until `to` hears of it (the listener needs a moment to start).
async fn heard_from(
    from: &spine_postgres::PgStore,
    to: &mut tokio::sync::broadcast::Receiver<Notice>,
    warm: &TenantId,
) {
    for _ in 0..50 {
        from.append(warm, vec![event("warm-up", None)]).await.expect("append");
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), async {
            loop {
                match to.recv().await {
                    Ok(Notice::Commit(c)) if &c.tenant == warm => return,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await;
        if waited.is_ok() {
            return;
        }
    }
    panic!("the other node never heard a commit");
}

/// A commit, a read change and a purge on one node are announced on the other (LISTEN/NOTIFY),
/// each once: a node does not hear its own notices twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_cross_to_the_other_node_once() {
    let (url, mut db) = support::fresh_database().await;
    let (a, b) = (support::open(&url).await, support::open(&url).await);
    db.stores.extend([a.clone(), b.clone()]);
    a.migrate().await.expect("migrate");
    let t = TenantId::parse("acme").expect("tenant");
    let (mut on_a, mut on_b) = (a.notices(), b.notices());
    // Both listeners are up once each hears a commit of the other (of another tenant).
    let warm = TenantId::parse("warm-up").expect("tenant");
    for (from, to) in [(&a, &mut on_b), (&b, &mut on_a)] {
        heard_from(from, to, &warm).await;
    }
    let (mut on_a, mut on_b) = (a.notices(), b.notices());

    let created = a.append(&t, vec![event("hello", None)]).await.expect("append");
    let [AppendOutcome::Created(e)] = created.as_slice() else { panic!("{created:?}") };
    let commit = Notice::Commit(CommitNotice { tenant: t.clone(), head: e.seq });
    assert_eq!(next_notice(&mut on_b).await, commit, "the other node hears the commit");
    assert_eq!(next_notice(&mut on_a).await, commit, "the committing node, in process");

    let ana = UserId::parse("ana").expect("user");
    assert!(b.mark_read(&t, &ana, e.id, None).await.expect("mark"));
    let read = Notice::Read(ReadNotice {
        tenant: t.clone(),
        user: ana,
        change: ReadChange::Event { id: e.id, seq: e.seq },
    });
    assert_eq!(next_notice(&mut on_a).await, read);
    assert_eq!(next_notice(&mut on_b).await, read);

    let purged = b.purge(&t, e.seq).await.expect("purge");
    let notice = Notice::Purged { tenant: t.clone(), horizon: purged.horizon };
    assert_eq!(next_notice(&mut on_a).await, notice);
    assert_eq!(next_notice(&mut on_b).await, notice);
    // Nothing else, in particular no echo of a node's own notices.
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), on_a.recv()).await;
    assert!(quiet.is_err(), "an extra notice: {quiet:?}");
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), on_b.recv()).await;
    assert!(quiet.is_err(), "an extra notice: {quiet:?}");
}
