//! Conformance cases for consumers ([`crate::Consumers`]).

use super::{new_event, tenant, Db};
use crate::StoreError;
use serde_json::{json, Map, Value};
use spine_core::consumer::Ack;
use spine_core::{Seq, Timestamp};

fn filter(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Consumers are created with their filter and checkpoint, unique by name in a tenant, listed
/// by name, acknowledged forward only (an older acknowledgement changes nothing), rewound when
/// asked, deleted; another tenant never sees or moves them.
pub async fn consumers_keep_checkpoints_that_only_move_forward_unless_rewound(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let billing = filter(json!({"type": ["invoice.*"], "entity_type": "deal"}));
    let made = store.create_consumer(&t, "billing", &billing, Seq(3)).await.expect("create");
    assert_eq!((made.name.as_str(), &made.filter, made.checkpoint), ("billing", &billing, Seq(3)));
    assert_eq!(made.created_at, made.acked_at);
    let taken = store.create_consumer(&t, "billing", &Map::new(), Seq::ZERO).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    store.create_consumer(&other, "billing", &Map::new(), Seq::ZERO).await.expect("per tenant");
    store.create_consumer(&t, "audit", &Map::new(), Seq::ZERO).await.expect("second");
    let names: Vec<String> =
        store.list_consumers(&t).await.expect("list").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["audit", "billing"]);

    let acked = store.ack_consumer(&t, "billing", Ack::Through(Seq(10))).await.expect("ack");
    assert_eq!(acked.as_ref().map(|c| c.checkpoint), Some(Seq(10)));
    let older = store.ack_consumer(&t, "billing", Ack::Through(Seq(4))).await.expect("ack");
    assert_eq!(older.map(|c| c.checkpoint), Some(Seq(10)), "never backwards");
    let rewound = store.ack_consumer(&t, "billing", Ack::RewindTo(Seq(2))).await.expect("ack");
    assert_eq!(rewound.map(|c| c.checkpoint), Some(Seq(2)));
    let fenced = store.ack_consumer(&other, "audit", Ack::Through(Seq(9))).await.expect("ack");
    assert!(fenced.is_none(), "another tenant's consumer is not found");
    let theirs = store.get_consumer(&other, "billing").await.expect("get").expect("exists");
    assert_eq!(theirs.checkpoint, Seq::ZERO, "untouched by the other tenant's acks");
    assert_eq!(
        store.get_consumer(&t, "billing").await.expect("get").map(|c| c.checkpoint),
        Some(Seq(2))
    );

    assert!(!store.delete_consumer(&other, "audit").await.expect("delete"), "fenced");
    assert!(store.delete_consumer(&t, "audit").await.expect("delete"));
    assert!(store.get_consumer(&t, "audit").await.expect("get").is_none());
    assert!(store.ack_consumer(&t, "audit", Ack::Through(Seq(1))).await.expect("ack").is_none());
}

/// Concurrent acknowledgements of one consumer leave the highest: none moves it back.
pub async fn concurrent_acks_leave_the_highest_checkpoint(store: Db) {
    let t = tenant(&store, "acme").await;
    store.create_consumer(&t, "c", &Map::new(), Seq::ZERO).await.expect("create");
    let mut tasks = Vec::new();
    for n in 1..=40 {
        let (store, t) = (store.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            store.ack_consumer(&t, "c", Ack::Through(Seq(n))).await.expect("ack")
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let c = store.get_consumer(&t, "c").await.expect("get").expect("exists");
    assert_eq!(c.checkpoint, Seq(40));
}

/// `position_before` finds the last position the tenant received before a time.
pub async fn a_start_time_is_the_last_position_received_before_it(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    assert_eq!(store.position_before(&t, Timestamp::now()).await.expect("empty"), Seq::ZERO);
    let first = store.append(&t, vec![new_event(json!({"type": "a.b", "title": "1"}))]).await;
    let first = first.expect("append")[0].event().clone();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.append(&other, vec![new_event(json!({"type": "a.b", "title": "x"}))]).await.expect("x");
    store.append(&t, vec![new_event(json!({"type": "a.b", "title": "2"}))]).await.expect("two");
    assert_eq!(store.position_before(&t, between).await.expect("between"), first.seq);
    assert_eq!(store.position_before(&t, first.received_at).await.expect("at"), Seq::ZERO);
    assert_eq!(
        store.position_before(&t, Timestamp::now()).await.expect("now"),
        store.head(&t).await.expect("head")
    );
}
