//! Conformance cases for retention ([`crate::Expiry`]).

use super::{append_one, count, ids, next_notice, query, tenant, walk, Db};
use crate::Notice;
use serde_json::json;
use spine_core::retention::RetentionInput;
use spine_core::{EventFilter, Order, Seq, Timestamp};

/// Policies are stored per tenant; candidates are the events whose `expires_at` passed (and,
/// with an age limit, those received before it); removing some takes exactly them with their
/// tags and search entries, raises the horizon to the highest (never back) and announces it;
/// other tenants keep everything.
pub async fn expired_events_are_found_and_removed_under_the_horizon(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    assert_eq!(store.get_retention(&t).await.expect("get"), None);
    let policy: RetentionInput =
        serde_json::from_value(json!({"max_age_days": 30, "types": {"audit.*": 365}}))
            .expect("json");
    store.put_retention(&t, &policy).await.expect("put");
    assert_eq!(store.get_retention(&t).await.expect("get"), Some(policy));
    assert_eq!(store.get_retention(&other).await.expect("get"), None, "fenced");

    let past = Timestamp::now().plus_seconds(-60).to_rfc3339();
    let future = Timestamp::now().plus_seconds(3600).to_rfc3339();
    let mut events = Vec::new();
    for (i, expires) in
        [Some(&past), None, Some(&future), Some(&past), None].into_iter().enumerate()
    {
        let mut v = json!({"type": "a.b", "title": format!("walrus {i}"), "tags": ["kept"]});
        if let Some(at) = expires {
            v["expires_at"] = json!(at);
        }
        events.push(append_one(&store, &t, v).await);
        append_one(&store, &other, json!({"type": "a.b", "title": "walrus", "expires_at": past}))
            .await;
    }
    let now = Timestamp::now();
    let due = store.expiry_candidates(&t, now, None, Seq::ZERO, 100).await.expect("candidates");
    assert_eq!(due.iter().map(|c| c.seq).collect::<Vec<_>>(), [events[0].seq, events[3].seq]);
    assert_eq!(due[0].event_type.as_str(), "a.b");
    assert!(due[0].expires_at.is_some());
    let paged = store.expiry_candidates(&t, now, None, events[0].seq, 1).await.expect("page");
    assert_eq!(paged.iter().map(|c| c.seq).collect::<Vec<_>>(), [events[3].seq]);
    let by_age = store.expiry_candidates(&t, now, Some(now.plus_seconds(1)), Seq::ZERO, 100).await;
    assert_eq!(by_age.expect("candidates").len(), 5, "all received before the limit");

    let mut notices = store.notices();
    let outcome = store.remove_events(&t, &[events[0].seq, events[3].seq]).await.expect("remove");
    assert_eq!((outcome.removed, outcome.horizon), (2, events[3].seq));
    assert_eq!(
        next_notice(&mut notices).await,
        Notice::Purged { tenant: t.clone(), horizon: events[3].seq }
    );
    assert_eq!(store.horizon(&t).await.expect("horizon"), events[3].seq);
    let left = walk(&store, &t, query(EventFilter::default(), Order::Seq, 100)).await;
    assert_eq!(ids(&left), ids(&[events[1].clone(), events[2].clone(), events[4].clone()]));
    let tagged = EventFilter { tags: vec!["kept".into()], ..Default::default() };
    assert_eq!(count(&store, &t, tagged).await, 3);
    let text = EventFilter { q: Some("walrus".into()), ..Default::default() };
    assert_eq!(count(&store, &t, text.clone()).await, 3);
    assert_eq!(count(&store, &other, text).await, 5, "the other tenant keeps its events");
    // An earlier position never lowers the horizon.
    let again = store.remove_events(&t, &[events[1].seq]).await.expect("remove");
    assert_eq!((again.removed, again.horizon), (1, events[3].seq));
}
