//! Conformance cases for outbound webhooks ([`crate::Webhooks`]).

use super::{at, tenant, Db};
use crate::{AttemptOutcome, AttemptRecord, Progress, StoreError};
use serde_json::json;
use spine_core::webhook::{Status, WebhookInput, WebhookSettings};
use spine_core::{Seq, Timestamp};
use uuid::Uuid;

fn settings(url: &str) -> WebhookSettings {
    let input: WebhookInput = serde_json::from_value(
        json!({"url": url, "filter": {"type": "deal.*"}, "description": "CRM"}),
    )
    .expect("webhook json");
    input.validate().expect("valid webhook")
}

fn attempt(event_seq: i64, n: u32, outcome: AttemptOutcome, seconds: i64) -> AttemptRecord {
    AttemptRecord {
        id: Uuid::now_v7(),
        event_id: Some(Uuid::now_v7()),
        event_seq: Some(Seq(event_seq)),
        attempt: n,
        at: at(seconds),
        outcome,
        status_code: Some(if outcome == AttemptOutcome::Delivered { 200 } else { 500 }),
        error: None,
        latency_ms: 12,
        response: Some("ok".to_owned()),
        next_attempt_at: None,
    }
}

fn progress(expected: i64, cursor: i64, attempt: u32) -> Progress {
    Progress {
        expected_cursor: Seq(expected),
        cursor: Seq(cursor),
        attempt,
        next_attempt_at: None,
        failing_since: None,
        disable: None,
    }
}

/// Endpoints are created with their sealed secret and starting cursor, listed, changed,
/// disabled and re-enabled (which clears the reason), replayed (cursor back, attempts reset)
/// and deleted with their log; another tenant never sees or changes them.
pub async fn webhooks_are_stored_changed_replayed_and_fenced(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let made = store
        .create_webhook(&t, "wh_1", &settings("https://a.example.com/in"), "sealed.1", Seq(7))
        .await
        .expect("create");
    assert_eq!(
        (made.id.as_str(), made.url.as_str(), made.cursor),
        ("wh_1", "https://a.example.com/in", Seq(7))
    );
    assert_eq!((made.status, made.attempt, made.secret.as_str()), (Status::Active, 0, "sealed.1"));
    assert_eq!(made.filter, settings("https://x.y").filter);
    assert_eq!(made.description.as_deref(), Some("CRM"));
    let taken =
        store.create_webhook(&other, "wh_1", &settings("https://b.c"), "s", Seq::ZERO).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "ids are unique across tenants");
    store
        .create_webhook(&t, "wh_2", &settings("https://b.example.com"), "s", Seq::ZERO)
        .await
        .expect("2");
    let ids: Vec<String> =
        store.list_webhooks(&t).await.expect("list").into_iter().map(|w| w.id).collect();
    assert_eq!(ids, ["wh_1", "wh_2"]);
    assert!(store.list_webhooks(&other).await.expect("list").is_empty());
    assert!(store.get_webhook(&other, "wh_1").await.expect("get").is_none(), "fenced");

    let changed = settings("https://c.example.com/new");
    let off = store
        .update_webhook(&t, "wh_1", &changed, Status::Disabled, Some("an admin said so"))
        .await
        .expect("update")
        .expect("exists");
    assert_eq!((off.url.as_str(), off.status), ("https://c.example.com/new", Status::Disabled));
    assert_eq!(off.disabled_reason.as_deref(), Some("an admin said so"));
    assert_eq!(off.cursor, Seq(7), "settings never move the cursor");
    let on = store.update_webhook(&t, "wh_1", &changed, Status::Active, None).await.expect("u");
    let on = on.expect("exists");
    assert_eq!((on.status, on.disabled_reason), (Status::Active, None));
    assert!(store
        .update_webhook(&other, "wh_1", &changed, Status::Active, None)
        .await
        .expect("u")
        .is_none());

    let replayed = store.replay_webhook(&t, "wh_1", Seq(2)).await.expect("replay").expect("exists");
    assert_eq!((replayed.cursor, replayed.attempt, replayed.next_attempt_at), (Seq(2), 0, None));
    assert!(store.replay_webhook(&other, "wh_1", Seq(0)).await.expect("replay").is_none());

    let now = Timestamp::now();
    store
        .record_attempt(&t, "wh_1", "n", now, &attempt(3, 1, AttemptOutcome::Test, 1), None)
        .await
        .expect("log");
    assert!(!store.delete_webhook(&other, "wh_1").await.expect("delete"), "fenced");
    assert!(store.delete_webhook(&t, "wh_1").await.expect("delete"));
    assert!(store.get_webhook(&t, "wh_1").await.expect("get").is_none());
    assert!(
        store.list_attempts(&t, "wh_1", None, 10).await.expect("log").is_empty(),
        "its log went too"
    );
}

/// One node at a time holds an endpoint: a live lease is not given to another node, an expired
/// or released one is; disabled endpoints are not leased; leases cross tenants.
pub async fn webhook_leases_go_to_one_node_at_a_time(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    store
        .create_webhook(&t, "wh_a", &settings("https://a.example.com"), "s", Seq::ZERO)
        .await
        .expect("a");
    store
        .create_webhook(&other, "wh_b", &settings("https://b.example.com"), "s", Seq::ZERO)
        .await
        .expect("b");
    store
        .create_webhook(&t, "wh_off", &settings("https://c.example.com"), "s", Seq::ZERO)
        .await
        .expect("c");
    store
        .update_webhook(
            &t,
            "wh_off",
            &settings("https://c.example.com"),
            Status::Disabled,
            Some("off"),
        )
        .await
        .expect("disable");
    let mut leased = store.lease_webhooks("node-1", at(100), at(130)).await.expect("lease");
    leased.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(leased, [(t.clone(), "wh_a".to_owned()), (other.clone(), "wh_b".to_owned())]);
    assert!(
        store.lease_webhooks("node-2", at(110), at(140)).await.expect("lease").is_empty(),
        "held"
    );
    assert_eq!(store.lease_webhooks("node-1", at(120), at(150)).await.expect("renew").len(), 2);
    let taken = store.lease_webhooks("node-2", at(151), at(180)).await.expect("lease");
    assert_eq!(taken.len(), 2, "expired leases move to another node");
    assert!(store.lease_webhooks("node-1", at(152), at(180)).await.expect("lease").is_empty());
    store.release_webhooks("node-2").await.expect("release");
    assert_eq!(store.lease_webhooks("node-1", at(153), at(180)).await.expect("lease").len(), 2);
}

/// An attempt is always logged; its progress applies only while the node holds the lease and
/// the cursor is still the one it read; a progress may disable the endpoint. The log lists
/// newest first, pages, and old attempts are purged.
pub async fn attempts_move_an_endpoint_only_under_its_lease(store: Db) {
    let t = tenant(&store, "acme").await;
    store
        .create_webhook(&t, "wh_1", &settings("https://a.example.com"), "s", Seq(5))
        .await
        .expect("c");
    let now = Timestamp::now();
    let later = now.plus_seconds(60);
    let first = attempt(6, 1, AttemptOutcome::Retrying, 1);
    let applied =
        store.record_attempt(&t, "wh_1", "node-1", now, &first, Some(&progress(5, 5, 1))).await;
    assert!(!applied.expect("record"), "no lease, no progress");
    store.lease_webhooks("node-1", now, later).await.expect("lease");
    let mut failing = progress(5, 5, 1);
    failing.next_attempt_at = Some(now.plus_seconds(5));
    failing.failing_since = Some(now);
    let second = attempt(6, 1, AttemptOutcome::Retrying, 2);
    assert!(store
        .record_attempt(&t, "wh_1", "node-1", now, &second, Some(&failing))
        .await
        .expect("r"));
    let w = store.get_webhook(&t, "wh_1").await.expect("get").expect("exists");
    assert_eq!(
        (w.cursor, w.attempt, w.next_attempt_at, w.failing_since),
        (Seq(5), 1, Some(now.plus_seconds(5)), Some(now))
    );
    let stale = progress(4, 6, 0);
    assert!(
        !store
            .record_attempt(
                &t,
                "wh_1",
                "node-1",
                now,
                &attempt(6, 2, AttemptOutcome::Delivered, 3),
                Some(&stale)
            )
            .await
            .expect("r"),
        "a cursor that moved meanwhile wins"
    );
    assert!(
        !store
            .record_attempt(
                &t,
                "wh_1",
                "node-2",
                now,
                &attempt(6, 2, AttemptOutcome::Delivered, 4),
                Some(&progress(5, 6, 0))
            )
            .await
            .expect("r"),
        "another node's lease"
    );
    let done = attempt(6, 2, AttemptOutcome::Delivered, 5);
    assert!(store
        .record_attempt(&t, "wh_1", "node-1", now, &done, Some(&progress(5, 6, 0)))
        .await
        .expect("r"));
    let w = store.get_webhook(&t, "wh_1").await.expect("get").expect("exists");
    assert_eq!((w.cursor, w.attempt, w.next_attempt_at, w.failing_since), (Seq(6), 0, None, None));
    let mut gone = progress(6, 6, 1);
    gone.disable = Some("the endpoint answered 410 Gone".to_owned());
    assert!(store
        .record_attempt(
            &t,
            "wh_1",
            "node-1",
            now,
            &attempt(7, 1, AttemptOutcome::Disabled, 6),
            Some(&gone)
        )
        .await
        .expect("r"));
    let w = store.get_webhook(&t, "wh_1").await.expect("get").expect("exists");
    assert_eq!(
        (w.status, w.disabled_reason.as_deref()),
        (Status::Disabled, Some("the endpoint answered 410 Gone"))
    );
    assert!(
        store.lease_webhooks("node-1", now, later).await.expect("lease").is_empty(),
        "disabled: not leased"
    );

    let log = store.list_attempts(&t, "wh_1", None, 100).await.expect("log");
    assert_eq!(log.len(), 6, "every attempt is logged, applied or not");
    assert_eq!(log[0].outcome, AttemptOutcome::Disabled, "newest first");
    assert_eq!(log[0].event_seq, Some(Seq(7)));
    assert_eq!(
        (log[5].status_code, log[5].latency_ms, log[5].response.as_deref()),
        (Some(500), 12, Some("ok"))
    );
    let page = store.list_attempts(&t, "wh_1", Some(log[1].id), 2).await.expect("page");
    assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), [log[2].id, log[3].id]);
    let other = tenant(&store, "other").await;
    assert!(
        store.list_attempts(&other, "wh_1", None, 100).await.expect("log").is_empty(),
        "fenced"
    );
    assert_eq!(store.purge_attempts(at(4)).await.expect("purge"), 3, "those made before second 4");
    assert_eq!(store.list_attempts(&t, "wh_1", None, 100).await.expect("log").len(), 3);
}
