//! Conformance cases for limits and quotas ([`crate::Limits`]).

use super::{append_one, tenant, Db};
use crate::{LimitLayer, StoredLimits, Usage};
use serde_json::json;
use spine_core::limits::LimitsInput;
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
