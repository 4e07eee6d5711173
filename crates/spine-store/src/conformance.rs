//! The conformance suite: the behaviour every backend must show, as async test cases. Each case
//! takes a fresh, migrated, empty store and panics on a violation. A backend's test file runs
//! them all with one line:
//!
//! ```ignore
//! spine_store::conformance_tests!(fresh_store());
//! ```
//!
//! where `fresh_store()` is an async expression giving an `Arc<dyn Store>` or a [`Fixture`]
//! (a store plus whatever must live as long as it, such as a temporary directory).

use crate::{
    AppendOutcome, CommitNotice, FeedQuery, GroupBy, NewApiKey, Notice, ReadChange, ReadMarks,
    ReadNotice, Stats, StatsQuery, Store, StoreError,
};
use serde_json::{json, Value};
use spine_core::input::{EventInput, EventLimits};
use spine_core::{
    Event, EventFilter, EventType, NewEvent, Order, Priority, Role, Scope, Seq, TenantId,
    Timestamp, TypeInfo, TypePattern, UserId,
};
mod consumers;
mod expiry;
mod inbox;
mod ingest;
mod limits;
mod sessions;
mod webhooks;
mod work;

pub use consumers::*;
pub use expiry::*;
pub use inbox::*;
pub use ingest::*;
pub use limits::*;
pub use sessions::*;
use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;
pub use webhooks::*;
pub use work::*;

/// A store under test and what must outlive it (a temporary directory, a throwaway database).
pub struct Fixture {
    /// The store the cases run against.
    pub store: Arc<dyn Store>,
    /// Dropped after the case finishes.
    _guard: Box<dyn Any + Send + Sync>,
}

impl Fixture {
    /// A store plus a guard kept alive for the duration of one case.
    pub fn new(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Self {
        Self { store, _guard: Box::new(guard) }
    }
}

impl From<Arc<dyn Store>> for Fixture {
    fn from(store: Arc<dyn Store>) -> Self {
        Self::new(store, ())
    }
}

/// Generates one `#[tokio::test]` per conformance case, each with a fresh store from `$factory`
/// (an async expression yielding an `Arc<dyn Store>` or a `Fixture`). The calling crate needs
/// `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@cases $factory;
            migrate_is_idempotent_and_ready_follows,
            server_secret_is_stable,
            tenants_are_created_read_listed_and_unique,
            keys_are_created_found_listed_and_revoked,
            keys_are_invisible_to_other_tenants,
            append_assigns_increasing_positions_and_receipt_times,
            repeat_with_same_key_and_content_returns_the_original_event,
            same_key_with_different_content_is_a_conflict_naming_the_fields,
            concurrent_duplicates_store_exactly_one_event,
            duplicate_keys_inside_one_append_are_judged_against_the_first,
            keys_derived_from_source_object_id_make_repeats_idempotent,
            idempotency_keys_are_scoped_to_the_tenant,
            every_feed_filter_selects_exactly_the_matching_events,
            type_prefixes_match_whole_families_only,
            full_text_search_finds_words_and_survives_hostile_input,
            since_and_until_bound_occurred_at,
            seq_order_pages_return_every_event_once_in_commit_order,
            occurred_order_pages_return_every_event_once_newest_first,
            seq_order_walk_stays_exact_while_events_are_appended,
            occurred_order_walk_stays_exact_while_events_are_appended,
            tenants_never_see_each_others_events,
            scope_narrows_every_read,
            read_state_is_a_watermark_plus_exceptions_with_exact_counts,
            mark_all_read_defaults_to_the_head_and_never_moves_back,
            read_marks_are_the_watermark_and_the_exceptions_above_a_position,
            stats_count_and_group,
            registered_types_are_stored_and_shape_new_summaries,
            import_keeps_ids_and_times_assigns_new_positions_and_skips_existing,
            appending_wakes_commit_subscribers_with_tenant_and_head,
            read_state_changes_are_announced,
            purge_removes_events_through_a_position_and_raises_the_horizon,
            seen_is_a_per_user_watermark_with_exact_counts,
            archive_hides_per_user_and_unarchive_restores,
            seen_and_archive_changes_are_announced,
            counts_stay_exact_when_marks_and_archives_overlap,
            signin_codes_are_spent_once_for_a_session,
            sessions_are_found_and_deleted,
            concurrent_redemptions_sign_in_once,
            channels_are_stored_found_rotated_and_fenced,
            the_ledger_records_every_request_with_its_events,
            replays_repeat_or_correct_and_update_the_entry,
            identifiers_name_one_entity_per_tenant,
            blobs_are_chunked_named_by_hash_and_fenced,
            events_matching_a_rule_or_a_processing_channel_become_jobs,
            leases_fence_out_an_old_holder_and_transitions_are_events,
            failures_retry_then_die_and_retry_revives,
            a_lease_expiring_on_the_last_attempt_leaves_the_job_dead,
            ordered_jobs_of_one_entity_wait_for_the_earlier_ones,
            concurrent_claims_hand_out_each_job_once,
            notes_are_listed_newest_first_and_superseded,
            purged_events_take_their_jobs_and_notes_stay,
            work_is_fenced_by_tenant,
            job_changes_are_announced,
            consumers_keep_checkpoints_that_only_move_forward_unless_rewound,
            concurrent_acks_leave_the_highest_checkpoint,
            a_start_time_is_the_last_position_received_before_it,
            webhooks_are_stored_changed_replayed_and_fenced,
            webhook_leases_go_to_one_node_at_a_time,
            attempts_move_an_endpoint_only_under_its_lease,
            expired_events_are_found_and_removed_under_the_horizon,
            limits_are_stored_per_layer_and_usage_is_counted_per_tenant,
            the_audit_trail_shows_only_where_it_is_asked_for,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture: $crate::conformance::Fixture = ($factory).await.into();
                $crate::conformance::$case(fixture.store.clone()).await;
                drop(fixture);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Db = Arc<dyn Store>;

fn tenant_id(s: &str) -> TenantId {
    TenantId::parse(s).expect("valid tenant id")
}

fn user(s: &str) -> UserId {
    UserId::parse(s).expect("valid user id")
}

async fn tenant(store: &Db, id: &str) -> TenantId {
    let id = tenant_id(id);
    store.create_tenant(&id, &format!("Tenant {id}")).await.expect("create tenant");
    id
}

/// A validated event from its wire JSON, with a fresh id.
fn new_event(v: Value) -> NewEvent {
    serde_json::from_value::<EventInput>(v)
        .expect("event json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid event")
}

/// Microseconds for `2026-01-01T00:00:00Z + seconds`.
fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_767_225_600_000_000 + seconds * 1_000_000).expect("in range")
}

async fn append(store: &Db, t: &TenantId, events: Vec<Value>) -> Vec<AppendOutcome> {
    let events = events.into_iter().map(new_event).collect();
    store.append(t, events).await.expect("append")
}

async fn append_one(store: &Db, t: &TenantId, v: Value) -> Event {
    match append(store, t, vec![v]).await.pop() {
        Some(AppendOutcome::Created(e)) => e,
        other => panic!("expected a created event, got {other:?}"),
    }
}

fn query(filter: EventFilter, order: Order, limit: u32) -> FeedQuery {
    FeedQuery { filter, order, limit, ..Default::default() }
}

/// Walks every page of `q`, checking that no page is longer than the limit.
async fn walk(store: &Db, t: &TenantId, mut q: FeedQuery) -> Vec<Event> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let page = store.query(t, &q).await.expect("query");
        assert!(page.items.len() <= q.limit as usize, "page longer than its limit");
        out.extend(page.items.into_iter().map(|i| i.event));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return out,
        }
    }
    panic!("pagination does not terminate");
}

fn ids(events: &[Event]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

/// Events in the order a feed of `order` serves them.
fn sorted(mut events: Vec<Event>, order: Order) -> Vec<Event> {
    match order {
        Order::Seq => events.sort_by_key(|e| e.seq),
        Order::Occurred => events.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.seq))),
    }
    events
}

async fn count(store: &Db, t: &TenantId, filter: EventFilter) -> usize {
    walk(store, t, query(filter, Order::Seq, 100)).await.len()
}

fn created(outcome: &AppendOutcome) -> &Event {
    match outcome {
        AppendOutcome::Created(e) => e,
        other => panic!("expected created, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Installation

/// Migrating twice is harmless and leaves the store ready.
pub async fn migrate_is_idempotent_and_ready_follows(store: Db) {
    store.migrate().await.expect("second migrate");
    store.ready().await.expect("ready");
}

/// The signing secret is created once and then always the same.
pub async fn server_secret_is_stable(store: Db) {
    let first = store.server_secret().await.expect("secret");
    assert!(first.len() >= 16, "secret too short");
    assert_eq!(store.server_secret().await.expect("secret"), first);
}

// ---------------------------------------------------------------------------------------------
// Tenants and keys

/// Tenants can be created once, read back and listed by id.
pub async fn tenants_are_created_read_listed_and_unique(store: Db) {
    let b = tenant(&store, "bravo").await;
    let a = tenant(&store, "alpha").await;
    let again = store.create_tenant(&a, "Other").await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "duplicate tenant: {again:?}");
    let got = store.get_tenant(&a).await.expect("get").expect("exists");
    assert_eq!((got.id.clone(), got.name.as_str()), (a.clone(), "Tenant alpha"));
    assert!(store.get_tenant(&tenant_id("nobody")).await.expect("get").is_none());
    let listed: Vec<TenantId> =
        store.list_tenants().await.expect("list").into_iter().map(|t| t.id).collect();
    assert_eq!(listed, vec![a, b]);
}

fn api_key(id: &str, role: Role) -> NewApiKey {
    NewApiKey { id: id.to_owned(), secret_hash: vec![7; 32], role, name: Some(format!("key {id}")) }
}

/// Keys are stored with their hash, found across tenants, listed without secrets and revocable.
pub async fn keys_are_created_found_listed_and_revoked(store: Db) {
    let t = tenant(&store, "acme").await;
    let k1 = store.create_key(&t, api_key("k1", Role::Read)).await.expect("k1");
    assert_eq!((k1.id.as_str(), k1.role, k1.revoked_at), ("k1", Role::Read, None));
    store.create_key(&t, api_key("k2", Role::Admin)).await.expect("k2");
    let dup = store.create_key(&t, api_key("k1", Role::Ingest)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "duplicate key id: {dup:?}");

    let found = store.find_key("k1").await.expect("find").expect("exists");
    assert_eq!(found.tenant, t);
    assert_eq!(found.secret_hash, vec![7; 32]);
    assert_eq!(found.info.name.as_deref(), Some("key k1"));
    assert!(store.find_key("nope").await.expect("find").is_none());

    let listed: HashSet<String> =
        store.list_keys(&t).await.expect("list").into_iter().map(|k| k.id).collect();
    assert_eq!(listed, HashSet::from(["k1".to_owned(), "k2".to_owned()]));

    assert!(store.revoke_key(&t, "k1").await.expect("revoke"));
    assert!(!store.revoke_key(&t, "nope").await.expect("revoke unknown"));
    let revoked = store.find_key("k1").await.expect("find").expect("exists");
    assert!(revoked.info.revoked_at.is_some(), "revoked key must say so");
    assert!(store.find_key("k2").await.expect("find").expect("exists").info.revoked_at.is_none());
}

/// Another tenant can neither list nor revoke a tenant's keys.
pub async fn keys_are_invisible_to_other_tenants(store: Db) {
    let a = tenant(&store, "alpha").await;
    let b = tenant(&store, "bravo").await;
    store.create_key(&a, api_key("ka", Role::Admin)).await.expect("key");
    assert!(store.list_keys(&b).await.expect("list").is_empty());
    assert!(!store.revoke_key(&b, "ka").await.expect("revoke"));
    assert!(store.find_key("ka").await.expect("find").expect("exists").info.revoked_at.is_none());
}

// ---------------------------------------------------------------------------------------------
// Appending and idempotency

/// Positions increase in commit order; receipt time is set; occurred_at defaults to it.
pub async fn append_assigns_increasing_positions_and_receipt_times(store: Db) {
    let t = tenant(&store, "acme").await;
    assert_eq!(store.head(&t).await.expect("head"), Seq::ZERO);
    let before = Timestamp::now();
    let mut events: Vec<Event> = append(
        &store,
        &t,
        (0..3).map(|i| json!({"type": "a.b", "title": format!("e{i}")})).collect(),
    )
    .await
    .iter()
    .map(|o| created(o).clone())
    .collect();
    events.push(append_one(&store, &t, json!({"type": "a.b", "title": "e3"})).await);
    events.push(
        append_one(
            &store,
            &t,
            json!({"type": "a.b", "title": "e4", "occurred_at": "2020-01-01T00:00:00Z"}),
        )
        .await,
    );
    for pair in events.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "positions must increase in commit order");
    }
    for e in &events {
        assert!(e.seq > Seq::ZERO);
        assert_eq!(e.tenant, t);
        assert!(e.received_at >= before, "received_at is the commit time");
        assert!(!e.summary.is_empty(), "a summary is rendered");
        assert_eq!(store.get_event(&t, e.id, None).await.expect("get").as_ref(), Some(e));
    }
    assert_eq!(events[0].occurred_at, events[0].received_at);
    assert_eq!(events[4].occurred_at, Timestamp::parse("2020-01-01T00:00:00Z").expect("time"));
    assert_eq!(store.head(&t).await.expect("head"), events[4].seq);
    assert!(store.get_event(&t, Uuid::now_v7(), None).await.expect("get").is_none());
}

/// The same key with the same content answers the original event, same id and position.
pub async fn repeat_with_same_key_and_content_returns_the_original_event(store: Db) {
    let t = tenant(&store, "acme").await;
    let body = json!({"type": "task.created", "title": "Write docs", "idempotency_key": "k-1", "tags": ["x"]});
    let first = append_one(&store, &t, body.clone()).await;
    let again = append(&store, &t, vec![body]).await;
    match &again[..] {
        [AppendOutcome::Repeat(e)] => assert_eq!(e, &first),
        other => panic!("expected a repeat, got {other:?}"),
    }
    assert_eq!(count(&store, &t, EventFilter::default()).await, 1);
}

/// The same key with different content is a conflict naming exactly the differing fields.
pub async fn same_key_with_different_content_is_a_conflict_naming_the_fields(store: Db) {
    let t = tenant(&store, "acme").await;
    let first = append_one(
        &store,
        &t,
        json!({"type": "task.created", "title": "Write docs", "idempotency_key": "k-1", "priority": "high",
               "occurred_at": "2026-01-01T00:00:00Z"}),
    )
    .await;
    let outcome = append(
        &store,
        &t,
        vec![json!({"type": "task.created", "title": "Write more docs", "idempotency_key": "k-1", "tags": ["y"],
                    "priority": "high", "occurred_at": "2026-01-01T00:00:00Z"})],
    )
    .await;
    match &outcome[..] {
        [AppendOutcome::Conflict { existing, fields }] => {
            assert_eq!(existing, &first);
            assert_eq!(fields, &vec!["title", "tags"]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let moved = append(
        &store,
        &t,
        vec![json!({"type": "task.created", "title": "Write docs", "idempotency_key": "k-1", "priority": "high",
                    "occurred_at": "2026-02-01T00:00:00Z"})],
    )
    .await;
    match &moved[..] {
        [AppendOutcome::Conflict { fields, .. }] => assert_eq!(fields, &vec!["occurred_at"]),
        other => panic!("a different explicit occurred_at must conflict, got {other:?}"),
    }
    assert_eq!(count(&store, &t, EventFilter::default()).await, 1);
}

/// Fifty concurrent appends with one key store one event; every answer names it.
pub async fn concurrent_duplicates_store_exactly_one_event(store: Db) {
    let t = tenant(&store, "acme").await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (store, t) = (store.clone(), t.clone());
            tokio::spawn(async move {
                let e = new_event(
                    json!({"type": "order.paid", "title": "Paid", "idempotency_key": "once"}),
                );
                store.append(&t, vec![e]).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.expect("task").expect("append"));
    }
    let created_count = outcomes.iter().filter(|o| matches!(o, AppendOutcome::Created(_))).count();
    assert_eq!(created_count, 1, "exactly one append creates the event");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, AppendOutcome::Created(_) | AppendOutcome::Repeat(_))));
    let first = outcomes[0].event();
    assert!(outcomes.iter().all(|o| o.event().id == first.id && o.event().seq == first.seq));
    assert_eq!(count(&store, &t, EventFilter::default()).await, 1);
}

/// Inside one call, a second event with an earlier one's key is judged against it.
pub async fn duplicate_keys_inside_one_append_are_judged_against_the_first(store: Db) {
    let t = tenant(&store, "acme").await;
    let a = json!({"type": "a.b", "title": "one", "idempotency_key": "dup"});
    let b = json!({"type": "a.b", "title": "two", "idempotency_key": "dup"});
    let outcomes =
        append(&store, &t, vec![a.clone(), json!({"type": "a.b", "title": "other"}), a, b]).await;
    let first = created(&outcomes[0]).clone();
    created(&outcomes[1]);
    assert!(
        matches!(&outcomes[2], AppendOutcome::Repeat(e) if *e == first),
        "got {:?}",
        outcomes[2]
    );
    match &outcomes[3] {
        AppendOutcome::Conflict { existing, fields } => {
            assert_eq!(existing, &first);
            assert_eq!(fields, &vec!["title"]);
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(count(&store, &t, EventFilter::default()).await, 2);
}

/// An event naming `source.object_id` gets a derived key, so a redelivery is a repeat.
pub async fn keys_derived_from_source_object_id_make_repeats_idempotent(store: Db) {
    let t = tenant(&store, "acme").await;
    let hook = |object_id: &str| {
        json!({"type": "issue.opened", "title": "Bug", "occurred_at": "2026-03-01T10:00:00Z",
               "source": {"system": "github", "object_type": "issue", "object_id": object_id}})
    };
    let first = append_one(&store, &t, hook("42")).await;
    assert!(first.idempotency_key.is_some(), "a key is derived");
    let again = append(&store, &t, vec![hook("42")]).await;
    assert!(matches!(&again[0], AppendOutcome::Repeat(e) if *e == first), "got {again:?}");
    append_one(&store, &t, hook("43")).await;
    assert_eq!(count(&store, &t, EventFilter::default()).await, 2);
}

/// A key used in one tenant is free in another.
pub async fn idempotency_keys_are_scoped_to_the_tenant(store: Db) {
    let a = tenant(&store, "alpha").await;
    let b = tenant(&store, "bravo").await;
    let body = json!({"type": "a.b", "title": "x", "idempotency_key": "shared"});
    let in_a = append_one(&store, &a, body.clone()).await;
    let in_b = append_one(&store, &b, body).await;
    assert_ne!(in_a.id, in_b.id);
}

// ---------------------------------------------------------------------------------------------
// The feed

/// A varied event for filter tests: types, actions, sources, actors, entities, tags, priorities,
/// correlation ids and occurred_at (with ties) all cycle at different rates.
fn varied(i: usize) -> Value {
    let types =
        ["task.created", "task.completed", "lead.created", "deploy.finished", "taskboard.viewed"];
    let actions = ["created", "custom", "deleted"];
    let sources = ["api", "github", "stripe"];
    let priorities = ["low", "normal", "high", "urgent"];
    let tags: [&[&str]; 4] = [&[], &["a"], &["a", "b"], &["b", "c"]];
    let mut v = json!({
        "type": types[i % types.len()],
        "action": actions[i % actions.len()],
        "source": {"system": sources[i % sources.len()]},
        "title": format!("event {i}"),
        "priority": priorities[i % priorities.len()],
        "tags": tags[i % tags.len()],
        "occurred_at": at(i64::try_from(i % 7).unwrap_or(0) * 60).to_rfc3339(),
    });
    if i % 3 != 2 {
        v["actor"] = json!({"id": (["ana", "ben"][i % 2])});
    }
    if i % 4 != 3 {
        let (kind, id) = [("task", "1"), ("task", "2"), ("lead", "1")][i % 3];
        v["entity"] = json!({"type": kind, "id": id});
    }
    if i % 5 < 2 {
        v["correlation_id"] = json!(format!("c{}", i % 5));
    }
    v
}

fn filter_cases() -> Vec<(&'static str, EventFilter)> {
    let ty = |s: &str| TypePattern::parse(s).expect("pattern");
    let f = EventFilter::default;
    vec![
        ("none", f()),
        ("type exact", EventFilter { types: vec![ty("task.created")], ..f() }),
        ("type any of", EventFilter { types: vec![ty("task.created"), ty("lead.created")], ..f() }),
        ("type prefix", EventFilter { types: vec![ty("task.*")], ..f() }),
        (
            "type prefix or exact",
            EventFilter { types: vec![ty("task.*"), ty("deploy.finished")], ..f() },
        ),
        ("action", EventFilter { action: Some(spine_core::Action::Deleted), ..f() }),
        ("source", EventFilter { source: Some("github".into()), ..f() }),
        ("actor", EventFilter { actor: Some("ana".into()), ..f() }),
        ("entity_type", EventFilter { entity_type: Some("task".into()), ..f() }),
        (
            "entity",
            EventFilter { entity_type: Some("task".into()), entity_id: Some("2".into()), ..f() },
        ),
        ("entity_id", EventFilter { entity_id: Some("1".into()), ..f() }),
        ("tag", EventFilter { tags: vec!["a".into()], ..f() }),
        ("tags all", EventFilter { tags: vec!["a".into(), "b".into()], ..f() }),
        ("tags none match", EventFilter { tags: vec!["a".into(), "c".into()], ..f() }),
        ("priority", EventFilter { priority: Some(Priority::Urgent), ..f() }),
        ("since", EventFilter { since: Some(at(180)), ..f() }),
        ("until", EventFilter { until: Some(at(180)), ..f() }),
        ("correlation", EventFilter { correlation_id: Some("c1".into()), ..f() }),
        ("unknown value", EventFilter { source: Some("nowhere".into()), ..f() }),
        (
            "combined",
            EventFilter {
                types: vec![ty("task.*")],
                actor: Some("ana".into()),
                tags: vec!["a".into()],
                since: Some(at(60)),
                until: Some(at(360)),
                ..f()
            },
        ),
        (
            "combined 2",
            EventFilter {
                source: Some("api".into()),
                entity_type: Some("task".into()),
                priority: Some(Priority::Low),
                ..f()
            },
        ),
    ]
}

/// Every filter, alone and combined, in both orders, selects exactly what `EventFilter::matches`
/// selects, in feed order, across pages.
pub async fn every_feed_filter_selects_exactly_the_matching_events(store: Db) {
    let t = tenant(&store, "acme").await;
    let noise = tenant(&store, "noise").await;
    let all: Vec<Event> = append(&store, &t, (0..60).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    append(&store, &noise, (0..20).map(varied).collect()).await;
    for (name, filter) in filter_cases() {
        for order in [Order::Occurred, Order::Seq] {
            let expected =
                sorted(all.iter().filter(|e| filter.matches(e)).cloned().collect(), order);
            let got = walk(&store, &t, query(filter.clone(), order, 7)).await;
            assert_eq!(ids(&got), ids(&expected), "filter {name:?} in order {order:?}");
        }
    }
}

/// `task.*` matches `task.created` and `task.completed`, not `taskboard.viewed` or `tasks.x`.
pub async fn type_prefixes_match_whole_families_only(store: Db) {
    let t = tenant(&store, "acme").await;
    for ty in ["task.created", "task.sub.done", "taskboard.viewed", "tasks.x", "task"] {
        append_one(&store, &t, json!({"type": ty, "title": ty})).await;
    }
    let filter = EventFilter {
        types: vec![TypePattern::parse("task.*").expect("pattern")],
        ..Default::default()
    };
    let got = walk(&store, &t, query(filter, Order::Seq, 10)).await;
    let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, vec!["task.created", "task.sub.done"]);
}

/// `q` searches title, description, actor and entity names; no input is a syntax error.
pub async fn full_text_search_finds_words_and_survives_hostile_input(store: Db) {
    let t = tenant(&store, "acme").await;
    let hit = append_one(
        &store,
        &t,
        json!({"type": "deploy.finished", "title": "Deploy finished", "description": "Rollout to production",
               "actor": {"id": "u1", "name": "Ana Lima"}, "entity": {"type": "service", "id": "s1", "name": "Billing"}}),
    )
    .await;
    append_one(
        &store,
        &t,
        json!({"type": "note.added", "title": "Lunch menu", "description": "soup"}),
    )
    .await;
    let search = |q: &str| EventFilter { q: Some(q.to_owned()), ..Default::default() };
    for q in ["deploy", "DEPLOY", "production", "lima", "billing", "deploy production"] {
        let got = walk(&store, &t, query(search(q), Order::Occurred, 10)).await;
        assert_eq!(ids(&got), vec![hit.id], "search {q:?}");
    }
    // Case and diacritics fold on both sides: the text and the query.
    let accented = append_one(
        &store,
        &t,
        json!({"type": "note.added", "title": "Café résumé", "actor": {"id": "u2", "name": "Zoë Ruiz"}}),
    )
    .await;
    for q in ["cafe", "CAFÉ", "café", "resume", "Résumé", "zoe", "ZOË cafe"] {
        let got = walk(&store, &t, query(search(q), Order::Occurred, 10)).await;
        assert_eq!(ids(&got), vec![accented.id], "search {q:?}");
    }
    // A word in many events: pages of 2 in both orders return each match once, in order, and
    // other filters still apply.
    let mut common = Vec::new();
    for i in 0..7 {
        let ty = if i % 2 == 0 { "report.ready" } else { "report.failed" };
        let input = json!({"type": ty, "title": format!("Quarterly report {i}"),
                           "occurred_at": format!("2026-01-0{}T10:00:00Z", 7 - i)});
        common.push(append_one(&store, &t, input).await);
    }
    for order in [Order::Occurred, Order::Seq] {
        let got = walk(&store, &t, query(search("quarterly report"), order, 2)).await;
        assert_eq!(ids(&got), ids(&sorted(common.clone(), order)), "{order:?}");
        let mut ready = search("report");
        ready.types = vec![TypePattern::parse("report.ready").expect("type")];
        let got = walk(&store, &t, query(ready, order, 2)).await;
        let expected: Vec<Event> =
            common.iter().filter(|e| e.event_type.as_str() == "report.ready").cloned().collect();
        assert_eq!(ids(&got), ids(&sorted(expected, order)), "{order:?} with a type");
    }
    assert!(walk(&store, &t, query(search("deploy soup"), Order::Seq, 10)).await.is_empty());
    assert!(walk(&store, &t, query(search("nothing"), Order::Seq, 10)).await.is_empty());
    for hostile in [
        "\"",
        "*",
        "NEAR(",
        ")",
        "(",
        "\"deploy",
        "deploy\"",
        "a\" OR \"b",
        "title:deploy",
        "^deploy",
        "-deploy",
        "deploy*",
        "AND",
        "OR NOT",
        "NEAR(deploy production, 2)",
        "{title}: x",
        "'; drop table events; --",
        "\\",
        "\u{0}",
        "dep\u{0}loy",
        "deploy\u{0}\"",
        "\u{1}\u{7f}x",
        "é",
        "🙂",
    ] {
        let page = store.query(&t, &query(search(hostile), Order::Occurred, 10)).await;
        assert!(page.is_ok(), "search {hostile:?} must not fail: {page:?}");
    }
    let other = tenant(&store, "other").await;
    assert!(walk(&store, &other, query(search("deploy"), Order::Seq, 10)).await.is_empty());
}

/// `since` is inclusive and `until` exclusive, on occurred_at.
pub async fn since_and_until_bound_occurred_at(store: Db) {
    let t = tenant(&store, "acme").await;
    let events: Vec<Event> = append(
        &store,
        &t,
        (0..10)
            .map(|i| json!({"type": "a.b", "title": "x", "occurred_at": at(i * 10).to_rfc3339()}))
            .collect(),
    )
    .await
    .iter()
    .map(|o| created(o).clone())
    .collect();
    let filter = EventFilter { since: Some(at(30)), until: Some(at(70)), ..Default::default() };
    let got = walk(&store, &t, query(filter, Order::Seq, 3)).await;
    assert_eq!(ids(&got), ids(&events[3..7]));
}

/// Walking `order=seq` returns every event once, oldest first.
pub async fn seq_order_pages_return_every_event_once_in_commit_order(store: Db) {
    let t = tenant(&store, "acme").await;
    let mut all = Vec::new();
    for chunk in 0..6 {
        let outcomes = append(&store, &t, (0..10).map(|i| varied(chunk * 10 + i)).collect()).await;
        all.extend(outcomes.iter().map(|o| created(o).clone()));
    }
    for limit in [1, 7, 10, 60, 100] {
        let got = walk(&store, &t, query(EventFilter::default(), Order::Seq, limit)).await;
        assert_eq!(ids(&got), ids(&all), "limit {limit}");
    }
    let page =
        store.query(&t, &query(EventFilter::default(), Order::Seq, 60)).await.expect("query");
    assert!(page.next.is_none(), "an exactly full last page has no next cursor");
}

/// Walking `order=occurred` returns every event once, newest first, ties broken by position.
pub async fn occurred_order_pages_return_every_event_once_newest_first(store: Db) {
    let t = tenant(&store, "acme").await;
    let all: Vec<Event> = append(&store, &t, (0..45).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    let expected = sorted(all, Order::Occurred);
    for limit in [1, 4, 7, 45, 100] {
        let got = walk(&store, &t, query(EventFilter::default(), Order::Occurred, limit)).await;
        assert_eq!(ids(&got), ids(&expected), "limit {limit}");
    }
}

/// Appends `n` events with past occurred_at times in the background, one call each.
fn append_in_background(store: &Db, t: &TenantId, n: usize) -> tokio::task::JoinHandle<Vec<Event>> {
    let (store, t) = (store.clone(), t.clone());
    tokio::spawn(async move {
        let mut out = Vec::new();
        for i in 0..n {
            let e = new_event(json!({"type": "late.event", "title": format!("late {i}"),
                                     "occurred_at": at(i64::try_from(i % 9).unwrap_or(0) * 30 - 20).to_rfc3339()}));
            if let Ok(mut outcomes) = store.append(&t, vec![e]).await {
                if let Some(AppendOutcome::Created(e)) = outcomes.pop() {
                    out.push(e);
                }
            }
            tokio::task::yield_now().await;
        }
        out
    })
}

/// While other events commit, a seq walk still returns every earlier event exactly once, in
/// order, and new events only after them.
pub async fn seq_order_walk_stays_exact_while_events_are_appended(store: Db) {
    let t = tenant(&store, "acme").await;
    let initial: Vec<Event> = append(&store, &t, (0..50).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    let writer = append_in_background(&store, &t, 40);
    let got = walk(&store, &t, query(EventFilter::default(), Order::Seq, 3)).await;
    let late = writer.await.expect("writer");
    assert_eq!(ids(&got[..initial.len()]), ids(&initial), "earlier events first, in order, once");
    for pair in got.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "strictly increasing positions");
    }
    let late_ids: HashSet<Uuid> = late.iter().map(|e| e.id).collect();
    assert!(got[initial.len()..].iter().all(|e| late_ids.contains(&e.id)));
}

/// While other events (with past times) commit, an occurred walk returns every event that existed
/// at the start exactly once, never a duplicate, always in feed order.
pub async fn occurred_order_walk_stays_exact_while_events_are_appended(store: Db) {
    let t = tenant(&store, "acme").await;
    let initial: Vec<Event> = append(&store, &t, (0..50).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    let writer = append_in_background(&store, &t, 40);
    let got = walk(&store, &t, query(EventFilter::default(), Order::Occurred, 3)).await;
    writer.await.expect("writer");
    let mut seen = HashSet::new();
    assert!(got.iter().all(|e| seen.insert(e.id)), "no event twice");
    assert!(initial.iter().all(|e| seen.contains(&e.id)), "every earlier event once");
    for pair in got.windows(2) {
        assert!(
            (pair[0].occurred_at, pair[0].seq) > (pair[1].occurred_at, pair[1].seq),
            "feed order"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Isolation and scope

/// Nothing of tenant A is visible, countable or markable from tenant B.
pub async fn tenants_never_see_each_others_events(store: Db) {
    let a = tenant(&store, "alpha").await;
    let b = tenant(&store, "bravo").await;
    let secret = append_one(
        &store,
        &a,
        json!({"type": "secret.made", "title": "Hidden plan", "tags": ["x"], "correlation_id": "c",
               "actor": {"id": "u"}, "entity": {"type": "doc", "id": "1"}}),
    )
    .await;
    append(&store, &a, (0..5).map(varied).collect()).await;
    let u = user("u1");
    let everything = [
        EventFilter::default(),
        EventFilter { q: Some("hidden".into()), ..Default::default() },
        EventFilter { tags: vec!["x".into()], ..Default::default() },
        EventFilter {
            entity_type: Some("doc".into()),
            entity_id: Some("1".into()),
            ..Default::default()
        },
        EventFilter { correlation_id: Some("c".into()), ..Default::default() },
        EventFilter { unread: true, ..Default::default() },
    ];
    for filter in everything {
        for order in [Order::Occurred, Order::Seq] {
            let q = FeedQuery { user: Some(u.clone()), ..query(filter.clone(), order, 50) };
            assert!(
                store.query(&b, &q).await.expect("query").items.is_empty(),
                "filter {filter:?}"
            );
        }
    }
    assert!(store.get_event(&b, secret.id, None).await.expect("get").is_none());
    assert!(!store.mark_read(&b, &u, secret.id, None).await.expect("mark"));
    assert_eq!(store.head(&b).await.expect("head"), Seq::ZERO);
    assert_eq!(store.unread_count(&b, &u, None).await.expect("unread"), 0);
    let stats = store
        .stats(
            &b,
            &StatsQuery {
                group_by: Some(GroupBy::Type),
                user: Some(u.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("stats");
    assert_eq!(stats, Stats { total: 0, unread: Some(0), groups: vec![] });
    assert_eq!(store.mark_all_read(&b, &u, None).await.expect("mark all"), Seq::ZERO);
    assert_eq!(
        store.unread_count(&a, &u, None).await.expect("unread"),
        6,
        "B's read-all leaves A alone"
    );
}

/// A viewer scope narrows feeds, lookups, counts and read marks.
pub async fn scope_narrows_every_read(store: Db) {
    let t = tenant(&store, "acme").await;
    let inside = append_one(&store, &t, json!({"type": "task.created", "title": "in", "entity": {"type": "task", "id": "1"}, "actor": {"id": "ana"}})).await;
    let other_task = append_one(
        &store,
        &t,
        json!({"type": "task.created", "title": "other", "entity": {"type": "task", "id": "2"}}),
    )
    .await;
    let lead = append_one(
        &store,
        &t,
        json!({"type": "lead.created", "title": "lead", "entity": {"type": "lead", "id": "1"}}),
    )
    .await;
    let scope = Scope {
        entity_type: Some("task".into()),
        entity_id: Some("1".into()),
        ..Default::default()
    };
    let q = FeedQuery {
        scope: Some(scope.clone()),
        ..query(EventFilter::default(), Order::Occurred, 10)
    };
    assert_eq!(ids(&walk(&store, &t, q).await), vec![inside.id]);
    assert!(store.get_event(&t, other_task.id, Some(&scope)).await.expect("get").is_none());
    assert!(store.get_event(&t, inside.id, Some(&scope)).await.expect("get").is_some());
    let u = user("viewer");
    assert!(!store.mark_read(&t, &u, lead.id, Some(&scope)).await.expect("mark"));
    assert_eq!(store.unread_count(&t, &u, Some(&scope)).await.expect("unread"), 1);
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 3);
    let stats = store
        .stats(&t, &StatsQuery { scope: Some(scope.clone()), ..Default::default() })
        .await
        .expect("stats");
    assert_eq!(stats.total, 1);

    let by_type =
        Scope { types: vec![TypePattern::parse("task.*").expect("pattern")], ..Default::default() };
    let q = FeedQuery { scope: Some(by_type), ..query(EventFilter::default(), Order::Seq, 10) };
    assert_eq!(ids(&walk(&store, &t, q).await), vec![inside.id, other_task.id]);
    let by_actor = Scope { actor: Some("ana".into()), ..Default::default() };
    let q = FeedQuery { scope: Some(by_actor), ..query(EventFilter::default(), Order::Seq, 10) };
    assert_eq!(ids(&walk(&store, &t, q).await), vec![inside.id]);
    // The scope and the filter are ANDed: a filter cannot widen the scope.
    let widen = EventFilter { entity_id: Some("2".into()), ..Default::default() };
    let q = FeedQuery { scope: Some(scope), ..query(widen, Order::Seq, 10) };
    assert!(walk(&store, &t, q).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Read state

async fn read_flags(store: &Db, t: &TenantId, u: &UserId) -> Vec<bool> {
    let q = FeedQuery { user: Some(u.clone()), ..query(EventFilter::default(), Order::Seq, 100) };
    store
        .query(t, &q)
        .await
        .expect("query")
        .items
        .iter()
        .map(|i| i.read.expect("read flag with a user"))
        .collect()
}

/// Marks and the watermark give exact counts, flags and `unread=true` pages.
pub async fn read_state_is_a_watermark_plus_exceptions_with_exact_counts(store: Db) {
    let t = tenant(&store, "acme").await;
    let events: Vec<Event> = append(&store, &t, (0..10).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    let (u, other) = (user("ana"), user("ben"));
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 10);
    let plain =
        store.query(&t, &query(EventFilter::default(), Order::Seq, 100)).await.expect("query");
    assert!(plain.items.iter().all(|i| i.read.is_none()), "no flags without a user");

    assert!(store.mark_read(&t, &u, events[3].id, None).await.expect("mark"));
    assert!(store.mark_read(&t, &u, events[5].id, None).await.expect("mark"));
    assert!(store.mark_read(&t, &u, events[5].id, None).await.expect("mark again"));
    assert!(!store.mark_read(&t, &u, Uuid::now_v7(), None).await.expect("mark unknown"));
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 8);
    let flags = read_flags(&store, &t, &u).await;
    assert_eq!(flags.iter().filter(|r| **r).count(), 2);
    assert!(flags[3] && flags[5]);

    let through = store.mark_all_read(&t, &u, Some(events[4].seq)).await.expect("mark all");
    assert_eq!(through, events[4].seq);
    assert_eq!(
        store.unread_count(&t, &u, None).await.expect("unread"),
        4,
        "5 by watermark, event 5 by mark"
    );
    let flags = read_flags(&store, &t, &u).await;
    assert_eq!(flags, vec![true, true, true, true, true, true, false, false, false, false]);
    let unread_q = FeedQuery {
        user: Some(u.clone()),
        ..query(EventFilter { unread: true, ..Default::default() }, Order::Occurred, 3)
    };
    let unread = walk(&store, &t, unread_q).await;
    assert_eq!(ids(&unread), ids(&sorted(events[6..].to_vec(), Order::Occurred)));
    assert!(store
        .mark_read(&t, &u, events[1].id, None)
        .await
        .expect("below the watermark is read"));
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 4);

    assert_eq!(
        store.unread_count(&t, &other, None).await.expect("other user"),
        10,
        "read state is per user"
    );
    let stats = store
        .stats(&t, &StatsQuery { user: Some(u.clone()), ..Default::default() })
        .await
        .expect("stats");
    assert_eq!((stats.total, stats.unread), (10, Some(4)));
}

/// `mark_all_read` without `through` covers the head; later events are unread; it never lowers.
pub async fn mark_all_read_defaults_to_the_head_and_never_moves_back(store: Db) {
    let t = tenant(&store, "acme").await;
    let u = user("ana");
    append(&store, &t, (0..5).map(varied).collect()).await;
    let head = store.head(&t).await.expect("head");
    assert_eq!(store.mark_all_read(&t, &u, None).await.expect("mark all"), head);
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 0);
    assert_eq!(
        store.mark_all_read(&t, &u, Some(Seq(1))).await.expect("lower"),
        head,
        "never moves back"
    );
    let later = append_one(&store, &t, json!({"type": "a.b", "title": "later"})).await;
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 1);
    store.mark_all_read(&t, &u, Some(Seq(i64::MAX / 2))).await.expect("beyond the head");
    append_one(&store, &t, json!({"type": "a.b", "title": "even later"})).await;
    assert_eq!(
        store.unread_count(&t, &u, None).await.expect("unread"),
        1,
        "future events stay unread"
    );
    let q = FeedQuery { user: Some(u.clone()), ..query(EventFilter::default(), Order::Seq, 100) };
    let page = store.query(&t, &q).await.expect("query");
    assert!(page.items.iter().any(|i| i.event.id == later.id && i.read == Some(true)));
}

/// `read_marks` gives the watermark and the one-by-one marks above it and the asked position,
/// per user.
pub async fn read_marks_are_the_watermark_and_the_exceptions_above_a_position(store: Db) {
    let t = tenant(&store, "acme").await;
    let events: Vec<Event> = append(&store, &t, (0..8).map(varied).collect())
        .await
        .iter()
        .map(|o| created(o).clone())
        .collect();
    let (u, other) = (user("ana"), user("ben"));
    assert_eq!(store.read_marks(&t, &u, Seq::ZERO).await.expect("marks"), ReadMarks::default());
    for i in [2, 5, 6] {
        assert!(store.mark_read(&t, &u, events[i].id, None).await.expect("mark"));
    }
    let marks = store.read_marks(&t, &u, Seq::ZERO).await.expect("marks");
    let seqs = |is: &[usize]| is.iter().map(|&i| events[i].seq).collect::<Vec<_>>();
    assert_eq!(marks, ReadMarks { through: Seq::ZERO, marked: seqs(&[2, 5, 6]) });
    let above = store.read_marks(&t, &u, events[5].seq).await.expect("marks above");
    assert_eq!(above.marked, seqs(&[6]), "only above the asked position");
    store.mark_all_read(&t, &u, Some(events[5].seq)).await.expect("mark all");
    let marks = store.read_marks(&t, &u, Seq::ZERO).await.expect("marks");
    assert_eq!(marks, ReadMarks { through: events[5].seq, marked: seqs(&[6]) });
    let none = store.read_marks(&t, &other, Seq::ZERO).await.expect("other user");
    assert_eq!(none, ReadMarks::default(), "read state is per user");
}

// ---------------------------------------------------------------------------------------------
// Stats

/// Totals over a window, groups largest first (time groups in time order), unread for a user.
pub async fn stats_count_and_group(store: Db) {
    let t = tenant(&store, "acme").await;
    let spec = [
        ("task.created", "api", "high", Some("ana"), at(0)),
        ("task.created", "github", "low", Some("ana"), at(10)),
        ("task.created", "api", "low", None, at(3600)),
        ("lead.created", "api", "low", Some("ben"), at(86_400)),
    ];
    for (ty, source, priority, actor, when) in spec {
        let mut v = json!({"type": ty, "title": "x", "source": {"system": source}, "priority": priority,
                           "occurred_at": when.to_rfc3339()});
        if let Some(a) = actor {
            v["actor"] = json!({"id": a});
        }
        append_one(&store, &t, v).await;
    }
    let grouped = |group: GroupBy| StatsQuery { group_by: Some(group), ..Default::default() };
    let pairs = |s: Stats| s.groups.into_iter().map(|g| (g.key, g.count)).collect::<Vec<_>>();
    let owned =
        |v: &[(&str, u64)]| v.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect::<Vec<_>>();

    let all = store.stats(&t, &StatsQuery::default()).await.expect("stats");
    assert_eq!((all.total, all.unread, all.groups.len()), (4, None, 0));
    let by_type = store.stats(&t, &grouped(GroupBy::Type)).await.expect("stats");
    assert_eq!(pairs(by_type), owned(&[("task.created", 3), ("lead.created", 1)]));
    let by_source = store.stats(&t, &grouped(GroupBy::Source)).await.expect("stats");
    assert_eq!(pairs(by_source), owned(&[("api", 3), ("github", 1)]));
    let by_priority = store.stats(&t, &grouped(GroupBy::Priority)).await.expect("stats");
    assert_eq!(pairs(by_priority), owned(&[("low", 3), ("high", 1)]));
    let by_actor = store.stats(&t, &grouped(GroupBy::Actor)).await.expect("stats");
    assert_eq!(pairs(by_actor), owned(&[("ana", 2), ("", 1), ("ben", 1)]));
    let by_day = store.stats(&t, &grouped(GroupBy::Day)).await.expect("stats");
    assert_eq!(pairs(by_day), owned(&[("2026-01-01", 3), ("2026-01-02", 1)]));
    let by_hour = store.stats(&t, &grouped(GroupBy::Hour)).await.expect("stats");
    assert_eq!(
        pairs(by_hour),
        owned(&[("2026-01-01T00:00Z", 2), ("2026-01-01T01:00Z", 1), ("2026-01-02T00:00Z", 1)])
    );
    let window = StatsQuery {
        since: Some(at(10)),
        until: Some(at(86_400)),
        user: Some(user("ana")),
        ..Default::default()
    };
    let windowed = store.stats(&t, &window).await.expect("stats");
    assert_eq!((windowed.total, windowed.unread), (2, Some(4)), "unread covers the whole log");
}

// ---------------------------------------------------------------------------------------------
// Types and import

/// Types are stored per tenant; a registered template renders new events' summaries.
pub async fn registered_types_are_stored_and_shape_new_summaries(store: Db) {
    let a = tenant(&store, "alpha").await;
    let b = tenant(&store, "bravo").await;
    let ty = EventType::parse("task.completed").expect("type");
    let info = TypeInfo {
        label: Some("Task completed".into()),
        color: Some("#22aa44".into()),
        summary_template: Some("{actor.name} completed \"{entity.name}\"".into()),
        ..Default::default()
    };
    assert!(store.get_type(&a, &ty).await.expect("get").is_none());
    store.put_type(&a, &ty, &info).await.expect("put");
    assert_eq!(store.get_type(&a, &ty).await.expect("get"), Some(info.clone()));
    assert!(store.get_type(&b, &ty).await.expect("get").is_none(), "types are per tenant");
    let other = EventType::parse("lead.created").expect("type");
    store
        .put_type(&a, &other, &TypeInfo { important: true, ..Default::default() })
        .await
        .expect("put");
    let listed: Vec<EventType> =
        store.list_types(&a).await.expect("list").into_iter().map(|(t, _)| t).collect();
    assert_eq!(listed, vec![other, ty.clone()]);

    let body = json!({"type": "task.completed", "title": "t", "actor": {"id": "u1", "name": "Ana"},
                      "entity": {"type": "task", "id": "1", "name": "Ship it"}});
    assert_eq!(append_one(&store, &a, body.clone()).await.summary, "Ana completed \"Ship it\"");
    assert_eq!(
        append_one(&store, &b, body.clone()).await.summary,
        "Ana: t",
        "default summary elsewhere"
    );

    let replaced =
        TypeInfo { summary_template: Some("Done: {entity.name}".into()), ..Default::default() };
    store.put_type(&a, &ty, &replaced).await.expect("replace");
    assert_eq!(store.get_type(&a, &ty).await.expect("get"), Some(replaced));
    assert_eq!(append_one(&store, &a, body).await.summary, "Done: Ship it");
}

fn exported(t: &TenantId, i: i64) -> Event {
    new_event(
        json!({"type": "old.thing", "title": format!("old {i}"), "occurred_at": at(i).to_rfc3339(),
                     "idempotency_key": format!("old-{i}")}),
    )
    .commit(t.clone(), Seq(1000 + i), at(i + 5), format!("summary {i}"))
}

/// Import keeps ids, times and summaries, assigns new positions and skips ids already present.
pub async fn import_keeps_ids_and_times_assigns_new_positions_and_skips_existing(store: Db) {
    let source = tenant_id("elsewhere");
    let t = tenant(&store, "acme").await;
    let first = append_one(&store, &t, json!({"type": "a.b", "title": "before"})).await;
    let batch: Vec<Event> = (0..3).map(|i| exported(&source, i)).collect();
    let outcome = store.import(&t, batch.clone()).await.expect("import");
    assert_eq!((outcome.inserted, outcome.skipped), (3, 0));
    let mut last = first.seq;
    for original in &batch {
        let stored = store.get_event(&t, original.id, None).await.expect("get").expect("imported");
        assert_eq!(stored.tenant, t);
        assert!(stored.seq > last, "new, increasing positions");
        last = stored.seq;
        assert_eq!(
            (stored.occurred_at, stored.received_at, &stored.summary, &stored.title),
            (original.occurred_at, original.received_at, &original.summary, &original.title)
        );
    }
    let again =
        store.import(&t, vec![batch[0].clone(), exported(&source, 7)]).await.expect("import");
    assert_eq!((again.inserted, again.skipped), (1, 1));
    assert_eq!(count(&store, &t, EventFilter::default()).await, 5);
    let after = append_one(&store, &t, json!({"type": "a.b", "title": "after"})).await;
    assert!(after.seq > last, "appends continue after imported positions");
    let repeat = append(
        &store,
        &t,
        vec![json!({"type": "old.thing", "title": "old 1", "occurred_at": at(1).to_rfc3339(),
                                                "idempotency_key": "old-1"})],
    )
    .await;
    assert!(
        matches!(&repeat[0], AppendOutcome::Repeat(e) if e.id == batch[1].id),
        "imported keys still dedupe: {repeat:?}"
    );
}

/// Appending wakes a notice subscriber with the tenant and that tenant's highest new position.
pub async fn appending_wakes_commit_subscribers_with_tenant_and_head(store: Db) {
    let t = tenant(&store, "acme").await;
    let mut notices = store.notices();
    let events = append(
        &store,
        &t,
        (0..3).map(|i| json!({"type": "a.b", "title": format!("e{i}")})).collect(),
    )
    .await;
    let head = events.iter().map(|o| created(o).seq).max().expect("three events");
    let notice = next_notice(&mut notices).await;
    assert_eq!(notice, Notice::Commit(CommitNotice { tenant: t.clone(), head }));
    assert_eq!(store.head(&t).await.expect("head"), head);
}

/// The next notice other than a resync (which a store may send at any time, e.g. when it starts
/// listening to other nodes), within 10 s.
async fn next_notice(notices: &mut tokio::sync::broadcast::Receiver<Notice>) -> Notice {
    loop {
        let notice = tokio::time::timeout(std::time::Duration::from_secs(10), notices.recv())
            .await
            .expect("a notice within 10 s")
            .expect("a notice, not a closed or lagging channel");
        if notice != Notice::Resync {
            return notice;
        }
    }
}

/// Marking one event read and marking all read each announce the change for that user; a
/// refused mark (an event of another tenant) announces nothing.
pub async fn read_state_changes_are_announced(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    let u = user("ana");
    let first = append_one(&store, &t, json!({"type": "a.b", "title": "one"})).await;
    let second = append_one(&store, &t, json!({"type": "a.b", "title": "two"})).await;
    let foreign = append_one(&store, &other, json!({"type": "a.b", "title": "x"})).await;
    let mut notices = store.notices();
    assert!(!store.mark_read(&t, &u, foreign.id, None).await.expect("mark"));
    assert!(store.mark_read(&t, &u, second.id, None).await.expect("mark"));
    let expected = ReadNotice {
        tenant: t.clone(),
        user: u.clone(),
        change: ReadChange::Event { id: second.id, seq: second.seq },
    };
    assert_eq!(next_notice(&mut notices).await, Notice::Read(expected));
    let watermark = store.mark_all_read(&t, &u, Some(first.seq)).await.expect("read all");
    assert_eq!(watermark, first.seq);
    let expected =
        ReadNotice { tenant: t.clone(), user: u.clone(), change: ReadChange::Through(first.seq) };
    assert_eq!(next_notice(&mut notices).await, Notice::Read(expected));
}

/// A purge removes exactly the tenant's events at or below the position, with everything that
/// finds them (tags, full text, idempotency keys, read marks), and raises the horizon, which
/// never moves back. Other tenants keep everything.
pub async fn purge_removes_events_through_a_position_and_raises_the_horizon(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    assert_eq!(store.horizon(&t).await.expect("horizon"), Seq::ZERO);
    let mut events = Vec::new();
    for i in 0..6 {
        let v = json!({"type": "a.b", "title": format!("zebra {i}"), "tags": ["old"],
                       "idempotency_key": format!("k{i}")});
        events.push(append_one(&store, &t, v).await);
        append_one(&store, &other, json!({"type": "a.b", "title": format!("zebra {i}")})).await;
    }
    let u = user("ana");
    assert!(store.mark_read(&t, &u, events[1].id, None).await.expect("mark"));
    let through = events[2].seq;
    let mut notices = store.notices();
    let outcome = store.purge(&t, through).await.expect("purge");
    assert_eq!(outcome.removed, 3);
    assert_eq!(outcome.horizon, through);
    let purged = Notice::Purged { tenant: t.clone(), horizon: through };
    assert_eq!(next_notice(&mut notices).await, purged);
    assert_eq!(store.horizon(&t).await.expect("horizon"), through);
    assert_eq!(store.horizon(&other).await.expect("horizon"), Seq::ZERO);

    let left = walk(&store, &t, query(EventFilter::default(), Order::Seq, 100)).await;
    assert_eq!(ids(&left), ids(&events[3..]));
    assert!(store.get_event(&t, events[0].id, None).await.expect("get").is_none());
    let tagged = EventFilter { tags: vec!["old".into()], ..Default::default() };
    assert_eq!(count(&store, &t, tagged).await, 3);
    let text = EventFilter { q: Some("zebra".into()), ..Default::default() };
    assert_eq!(count(&store, &t, text.clone()).await, 3);
    assert_eq!(count(&store, &other, text).await, 6, "the other tenant keeps its events");
    assert_eq!(store.unread_count(&t, &u, None).await.expect("unread"), 3);

    // The key of a purged event is free again; the key of a kept one still dedupes.
    let again =
        json!({"type": "a.b", "title": "zebra 0", "tags": ["old"], "idempotency_key": "k0"});
    let reused = append_one(&store, &t, again).await;
    assert!(reused.seq > events[5].seq);
    let repeat =
        json!({"type": "a.b", "title": "zebra 4", "tags": ["old"], "idempotency_key": "k4"});
    assert!(matches!(&append(&store, &t, vec![repeat]).await[0], AppendOutcome::Repeat(_)));

    // Through a lower position: nothing more to remove and the horizon stays.
    let lower = store.purge(&t, events[0].seq).await.expect("purge");
    assert_eq!(lower, crate::PurgeOutcome { removed: 0, horizon: through });
    // Past the head: clamped to the head.
    let all = store.purge(&t, Seq(i64::MAX)).await.expect("purge");
    assert_eq!(all.removed, 4);
    assert_eq!(all.horizon, reused.seq);
    assert_eq!(count(&store, &t, EventFilter::default()).await, 0);
    // The head never moves back, even with no event left.
    assert_eq!(store.head(&t).await.expect("head"), reused.seq);
}
