//! Conformance cases for limits and quotas ([`crate::Limits`]).

use super::{append_one, tenant, walk, Db};
use crate::{FeedQuery, LimitLayer, StoredLimits, Usage};
use serde_json::json;
use spine_core::limits::LimitsInput;
use spine_core::{EventFilter, Order, Scope, TypePattern, UserId};
use std::time::Duration;
use uuid::Uuid;

/// Each layer of a tenant's limits is stored on its own and replaced whole; other tenants see
/// none of it; usage counts the tenant's events and file bytes and nothing of others'; a node
/// announcing itself is on the roll.
pub async fn limits_are_stored_per_layer_and_usage_is_counted_per_tenant(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    assert_eq!(store.get_limits(&t).await.expect("get"), StoredLimits::default());

    let ceiling = LimitsInput { writes_per_second: Some(100), ..Default::default() };
    let own =
        LimitsInput { writes_per_second: Some(10), max_events: Some(5), ..Default::default() };
    store.put_limits(&t, LimitLayer::Ceiling, &ceiling).await.expect("ceiling");
    store.put_limits(&t, LimitLayer::Own, &own).await.expect("own");
    let stored = store.get_limits(&t).await.expect("get");
    assert_eq!(stored, StoredLimits { ceiling: Some(ceiling), own: Some(own) });
    let replaced = LimitsInput { reads_per_second: Some(3), ..Default::default() };
    store.put_limits(&t, LimitLayer::Own, &replaced).await.expect("replace");
    assert_eq!(store.get_limits(&t).await.expect("get").own, Some(replaced), "replaced whole");
    assert_eq!(store.get_limits(&other).await.expect("get"), StoredLimits::default(), "fenced");

    assert_eq!(store.usage(&t).await.expect("usage"), Usage::default());
    for i in 0..3 {
        append_one(&store, &t, json!({"type": "a.b", "title": format!("e{i}")})).await;
    }
    append_one(&store, &other, json!({"type": "a.b", "title": "theirs"})).await;
    let upload = Uuid::now_v7();
    store.put_chunk(&t, upload, 0, b"hello".to_vec()).await.expect("chunk");
    let blob = crate::NewBlob {
        sha256: "cd".repeat(32),
        size: 5,
        content_type: "text/plain".to_owned(),
        chunks: 1,
    };
    store.finish_upload(&t, upload, blob).await.expect("finish");
    assert_eq!(store.usage(&t).await.expect("usage"), Usage { events: 3, blob_bytes: 5 });
    assert_eq!(store.usage(&other).await.expect("usage"), Usage { events: 1, blob_bytes: 0 });

    let live = store.announce_node("node-a", Duration::from_secs(15)).await.expect("announce");
    assert!(live >= 1, "a node counts itself");
    let again = store.announce_node("node-a", Duration::from_secs(15)).await.expect("announce");
    assert_eq!(again, live, "announcing twice is one node");
}

/// The audit trail (`audit.*` events, which only Spine writes) stays out of every feed, count
/// and stat that does not ask for it: a feed shows it only when its type filter names audit
/// types (or it asks for the whole log), a viewer only when its scope names them; unread
/// counts, stats and the event quota's usage leave it out.
pub async fn the_audit_trail_shows_only_where_it_is_asked_for(store: Db) {
    let t = tenant(&store, "acme").await;
    let product = append_one(&store, &t, json!({"type": "task.created", "title": "a task"})).await;
    let mut audit = super::new_event(json!({"type": "spine.audit", "title": "key k1 created"}));
    audit.event_type = spine_core::EventType::parse("audit.key.created").expect("type");
    let audit = match store.append(&t, vec![audit]).await.expect("append").pop() {
        Some(crate::AppendOutcome::Created(e)) => e,
        other => panic!("expected a created event, got {other:?}"),
    };
    let seen =
        |events: Vec<spine_core::Event>| events.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let q = |filter: EventFilter| super::query(filter, Order::Seq, 100);

    let open = walk(&store, &t, q(EventFilter::default())).await;
    assert_eq!(seen(open), [product.id], "an open feed leaves the trail out");
    let asked = EventFilter {
        types: vec![TypePattern::parse("audit.*").expect("p")],
        ..Default::default()
    };
    assert_eq!(seen(walk(&store, &t, q(asked)).await), [audit.id]);
    let whole = EventFilter { with_audit: true, ..Default::default() };
    assert_eq!(
        seen(walk(&store, &t, q(whole)).await),
        [product.id, audit.id],
        "an export's whole log"
    );

    let viewer = Scope::default();
    let scoped = FeedQuery { scope: Some(viewer.clone()), ..q(EventFilter::default()) };
    assert_eq!(seen(walk(&store, &t, scoped).await), [product.id], "a viewer's open scope");
    let named =
        Scope { types: vec![TypePattern::parse("audit.*").expect("p")], ..Scope::default() };
    let scoped = FeedQuery { scope: Some(named), ..q(EventFilter::default()) };
    assert_eq!(seen(walk(&store, &t, scoped).await), [audit.id], "a scope naming the trail");

    let ana = UserId::parse("ana").expect("user");
    assert_eq!(store.unread_count(&t, &ana, None).await.expect("unread"), 1);
    assert_eq!(store.unread_count(&t, &ana, Some(&viewer)).await.expect("unread"), 1);
    let stats = store.stats(&t, &crate::StatsQuery::default()).await.expect("stats");
    assert_eq!(stats.total, 1);
    assert_eq!(store.usage(&t).await.expect("usage").events, 1, "not against the quota");
    // Live delivery decides the same in memory.
    assert!(spine_core::filter::hides_audit(&EventFilter::default(), None));
    assert!(spine_core::filter::is_audit(&audit.event_type));
    assert!(!viewer.matches(&audit), "an open scope leaves it out");
}
