//! Conformance cases for the work pipeline: queue rules, jobs created with their events,
//! claims under fencing leases, settlements with their transition events ([`crate::WorkQueue`]),
//! and notes ([`crate::Notes`]).

use super::{append, append_one, new_event, query, tenant, walk, Db};
use crate::ledger::{Ingest, IngestEvent, NewLedgerEntry};
use crate::{ClaimRequest, JobQuery, Notice, Settle, SettleError, StoreError, Verdict};
use serde_json::{json, Value};
use spine_core::channel::Provider;
use spine_core::note::{Author, AuthorKind, NewNote};
use spine_core::work::rule::{JobSpec, QueueRule, RuleInput};
use spine_core::work::{JobStatus, LeaseError};
use spine_core::{Actor, ActorKind, Entity, EventFilter, Order, TenantId, Timestamp};
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

fn rule(name: &str, v: Value) -> QueueRule {
    let input: RuleInput = serde_json::from_value(v).expect("rule json");
    QueueRule::parse(name, input).expect("valid rule")
}

fn claim(queue: &str, limit: u32, lease_millis: i64) -> ClaimRequest {
    ClaimRequest {
        queue: queue.to_owned(),
        limit,
        lease_micros: lease_millis * 1000,
        worker: "w1".to_owned(),
    }
}

fn call(title: &str, contact: &str) -> Value {
    json!({"type": "call.received", "title": title, "entity": {"type": "contact", "id": contact}})
}

fn admin() -> Actor {
    Actor { id: "admin".into(), name: None, kind: Some(ActorKind::User) }
}

async fn types_on(store: &Db, t: &TenantId, entity_id: &str) -> Vec<String> {
    let filter = EventFilter { entity_id: Some(entity_id.to_owned()), ..Default::default() };
    walk(store, t, query(filter, Order::Seq, 100))
        .await
        .into_iter()
        .map(|e| e.event_type.as_str().to_owned())
        .collect()
}

/// A rule turns matching events into pending jobs in the commit that stores them; a channel's
/// `process: true` does the same for its events; the pipeline's own events never become jobs.
pub async fn events_matching_a_rule_or_a_processing_channel_become_jobs(store: Db) {
    let t = tenant(&store, "acme").await;
    store.put_rule(&t, &rule("calls", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    let everything = rule("everything", json!({"filter": {}, "queue": "audit"}));
    store.put_rule(&t, &everything).await.expect("rule");
    assert_eq!(store.list_rules(&t).await.expect("rules").len(), 2);
    let mail = json!({"type": "mail.sent", "title": "x"});
    let outcomes = append(&store, &t, vec![call("Call 1", "c1"), mail]).await;
    let call_event = outcomes[0].event().clone();
    let audit = JobQuery { queue: Some("audit".into()), limit: 10, ..Default::default() };
    assert_eq!(store.list_jobs(&t, &audit).await.expect("audit").len(), 2);
    let default = JobQuery { queue: Some("default".into()), limit: 10, ..Default::default() };
    let jobs = store.list_jobs(&t, &default).await.expect("list");
    assert_eq!(jobs.len(), 1, "only the matching event became a job");
    let job = &jobs[0];
    assert_eq!((job.job.state.status, job.job.queue.as_str()), (JobStatus::Pending, "default"));
    assert_eq!(job.job.event_id, call_event.id);
    assert_eq!(job.event.as_ref().map(|e| e.id), Some(call_event.id));
    assert_eq!(job.job.entity_id.as_deref(), Some("c1"));

    let entry = NewLedgerEntry {
        id: Uuid::now_v7(),
        channel_id: "ch_1".into(),
        provider: Provider::Generic,
        received_at: Timestamp::now(),
        verdict: Verdict::Accepted,
        reason: None,
        delivery_id: None,
        headers: Vec::new(),
        body: b"{}".to_vec(),
        body_bytes: 2,
    };
    let event = new_event(json!({"type": "crm.deal", "title": "Deal", "idempotency_key": "d1"}));
    let ingested =
        IngestEvent { event, correction_key: None, job: Some(JobSpec::for_channel("crm")) };
    let done = store.ingest(&t, Ingest::Receipt(entry, vec![ingested])).await.expect("ingest");
    let crm = JobQuery { queue: Some("crm".into()), limit: 10, ..Default::default() };
    let jobs = store.list_jobs(&t, &crm).await.expect("crm jobs");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].job.event_id, done.outcomes[0].event().id);

    let claimed = store.claim(&t, claim("default", 5, 60_000)).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let audited = store.list_jobs(&t, &audit).await.expect("audit");
    assert_eq!(audited.len(), 3, "the deal joined; job.processing matched no rule");
    let by_event = JobQuery { event_ids: vec![call_event.id], limit: 10, ..Default::default() };
    let listed = store.list_jobs(&t, &by_event).await.expect("by event");
    assert_eq!(listed.len(), 2, "the call's jobs in both queues, and nothing else");
    assert!(listed.iter().all(|r| r.job.event_id == call_event.id));
    let of = store.jobs_of_events(&t, &[call_event.id]).await.expect("of events");
    let statuses: Vec<JobStatus> = of.iter().map(|j| j.state.status).collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&JobStatus::Processing) && statuses.contains(&JobStatus::Pending));
    assert!(store.delete_rule(&t, "calls").await.expect("delete"));
    assert!(!store.delete_rule(&t, "calls").await.expect("again"));
}

/// A claim leases a job under a new lease number and appends `job.processing` on the source
/// entity; the holder heartbeats and completes; a lease that expired is stolen by the next claim
/// and its old holder is refused, changing nothing.
pub async fn leases_fence_out_an_old_holder_and_transitions_are_events(store: Db) {
    let t = tenant(&store, "acme").await;
    store.put_rule(&t, &rule("all", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    let source = append_one(&store, &t, call("Call", "c1")).await;
    let first = store.claim(&t, claim("default", 1, 300)).await.expect("claim").remove(0);
    assert_eq!((first.job.state.attempt, first.job.state.lease), (1, 1));
    assert_eq!(first.job.worker.as_deref(), Some("w1"));
    assert!(store.claim(&t, claim("default", 1, 300)).await.expect("again").is_empty());
    let id = first.job.id;
    let kept = store.heartbeat(&t, id, 1, 300_000).await.expect("heartbeat").expect("held");
    assert!(kept.state.lease_expires_at >= first.job.state.lease_expires_at);

    tokio::time::sleep(Duration::from_millis(450)).await;
    let stolen = store.claim(&t, claim("default", 1, 60_000)).await.expect("steal");
    assert_eq!(stolen.len(), 1, "an expired lease is claimable");
    assert_eq!((stolen[0].job.state.attempt, stolen[0].job.state.lease), (2, 2));
    let late = Settle::Complete { lease: 1, result: Some(json!("late")), note: None };
    let refused = store.settle(&t, id, late).await.expect("settle");
    assert_eq!(refused.unwrap_err(), SettleError::Lease(LeaseError::Stale));
    let refused = store.heartbeat(&t, id, 1, 1000).await.expect("heartbeat");
    assert_eq!(refused.unwrap_err(), SettleError::Lease(LeaseError::Stale));

    let done = Settle::Complete { lease: 2, result: Some(json!({"summary": "ok"})), note: None };
    let done = store.settle(&t, id, done).await.expect("settle").expect("current lease");
    assert_eq!(done.job.state.status, JobStatus::Completed);
    let stored = store.get_job(&t, id).await.expect("get").expect("job");
    assert_eq!(stored.job.result, Some(json!({"summary": "ok"})), "the current holder's result");
    let again = Settle::Complete { lease: 2, result: None, note: None };
    assert!(store.settle(&t, id, again).await.expect("settle").is_err(), "settled once");
    assert_eq!(
        types_on(&store, &t, "c1").await,
        ["call.received", "job.processing", "job.processing", "job.completed"]
    );
    let timeline = walk(&store, &t, query(EventFilter::default(), Order::Seq, 100)).await;
    let completed = timeline.last().expect("events");
    assert_eq!(completed.causation_id, Some(source.id.to_string()));
    assert_eq!(completed.correlation_id, Some(source.id.to_string()));
    let missing = store.settle(&t, Uuid::now_v7(), Settle::Retry { actor: admin() }).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

/// A failure waits for its retry time; the last attempt's failure makes the job dead; retry
/// revives it; each step is an event.
pub async fn failures_retry_then_die_and_retry_revives(store: Db) {
    let t = tenant(&store, "acme").await;
    let r = rule("calls", json!({"filter": {"type": "call.*"}, "queue": "q", "max_attempts": 2}));
    store.put_rule(&t, &r).await.expect("rule");
    append_one(&store, &t, call("Call", "c1")).await;
    let job = store.claim(&t, claim("q", 1, 60_000)).await.expect("claim").remove(0).job;
    let refused = store.settle(&t, job.id, Settle::Retry { actor: admin() }).await.expect("retry");
    assert_eq!(refused.unwrap_err(), SettleError::NotRetryable(JobStatus::Processing));
    let fail = |lease, retry| Settle::Fail {
        lease,
        error: "model timed out".into(),
        retry_micros: retry,
        jitter: 0.5,
    };
    let failed = store.settle(&t, job.id, fail(1, Some(3_600_000_000))).await.expect("fail");
    let failed = failed.expect("holder");
    assert_eq!(failed.job.state.status, JobStatus::Failed);
    assert_eq!(failed.job.last_error.as_deref(), Some("model timed out"));
    assert!(store.claim(&t, claim("q", 1, 60_000)).await.expect("claim").is_empty(), "not yet due");
    let due = store.next_due(&t, "q").await.expect("due").expect("a job will be due");
    assert!(due > Timestamp::now().plus_seconds(3000));

    store.settle(&t, job.id, Settle::Retry { actor: admin() }).await.expect("retry").expect("ok");
    let again = store.claim(&t, claim("q", 1, 60_000)).await.expect("claim").remove(0).job;
    assert_eq!(again.state.attempt, 1, "retry counts attempts afresh");
    let failed = store.settle(&t, job.id, fail(again.state.lease, Some(0))).await.expect("fail");
    assert_eq!(failed.expect("holder").job.state.status, JobStatus::Failed);
    let third = store.claim(&t, claim("q", 1, 60_000)).await.expect("claim").remove(0).job;
    let dead = store.settle(&t, job.id, fail(third.state.lease, None)).await.expect("fail");
    assert_eq!(dead.expect("holder").job.state.status, JobStatus::Dead);
    assert_eq!(store.next_due(&t, "q").await.expect("due"), None, "dead jobs wait for a retry");
    let counts = store.queue_counts(&t).await.expect("counts");
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].status, counts[0].jobs), (JobStatus::Dead, 1));
    assert_eq!(
        types_on(&store, &t, "c1").await,
        [
            "call.received",
            "job.processing",
            "job.failed",
            "job.retried",
            "job.processing",
            "job.failed",
            "job.processing",
            "job.dead"
        ]
    );
}

/// A stolen job's claim says so; a lease that expires on the last attempt leaves the job `dead`
/// (with a `job.dead` event by Spine) instead of handing it out past `max_attempts`, and frees
/// the entity's later jobs in an ordered queue.
pub async fn a_lease_expiring_on_the_last_attempt_leaves_the_job_dead(store: Db) {
    let t = tenant(&store, "acme").await;
    let r = json!({"filter": {"type": "call.*"}, "queue": "q", "max_attempts": 2, "ordered": true});
    store.put_rule(&t, &rule("calls", r)).await.expect("rule");
    append_one(&store, &t, call("First", "c1")).await;
    append_one(&store, &t, call("Second", "c1")).await;
    let first = store.claim(&t, claim("q", 5, 200)).await.expect("claim");
    assert_eq!(first.len(), 1, "ordered: one job of the entity at a time");
    assert!(!first[0].stolen);
    let id = first[0].job.id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stolen = store.claim(&t, claim("q", 1, 200)).await.expect("steal");
    assert_eq!((stolen.len(), stolen[0].job.id, stolen[0].stolen), (1, id, true));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut next = store.claim(&t, claim("q", 5, 60_000)).await.expect("claim");
    if next.is_empty() {
        // The entity's next job may have been held back by the one this claim found
        // abandoned (on PostgreSQL the candidates are chosen first); it is free now.
        next = store.claim(&t, claim("q", 5, 60_000)).await.expect("claim");
    }
    assert_eq!(next.len(), 1, "the abandoned job is not handed out; the next one is");
    assert_ne!(next[0].job.id, id);
    assert!(!next[0].stolen);
    let dead = store.get_job(&t, id).await.expect("get").expect("job").job;
    assert_eq!((dead.state.status, dead.state.attempt), (JobStatus::Dead, 2));
    assert_eq!(
        dead.last_error.as_deref(),
        Some("the lease of attempt 2 expired: its worker (w1) stopped without settling it")
    );
    let types = types_on(&store, &t, "c1").await;
    assert_eq!(
        types,
        [
            "call.received",
            "call.received",
            "job.processing",
            "job.processing",
            "job.dead",
            "job.processing"
        ]
    );
}

/// In an ordered queue, an entity's jobs are claimed one at a time in `seq` order, while other
/// entities' jobs go on.
pub async fn ordered_jobs_of_one_entity_wait_for_the_earlier_ones(store: Db) {
    let t = tenant(&store, "acme").await;
    let r = rule("calls", json!({"filter": {"type": "call.*"}, "ordered": true}));
    store.put_rule(&t, &r).await.expect("rule");
    let events = [call("A1", "a"), call("A2", "a"), call("B1", "b"), call("A3", "a")];
    append(&store, &t, events.to_vec()).await;
    let titles = |jobs: &[crate::JobRecord]| -> Vec<String> {
        jobs.iter().map(|j| j.event.as_ref().map(|e| e.title.clone()).unwrap_or_default()).collect()
    };
    let first = store.claim(&t, claim("default", 10, 60_000)).await.expect("claim");
    assert_eq!(titles(&first), ["A1", "B1"]);
    assert!(store.claim(&t, claim("default", 10, 60_000)).await.expect("claim").is_empty());
    let a1 = &first[0].job;
    let fail = Settle::Fail { lease: 1, error: "x".into(), retry_micros: Some(0), jitter: 0.0 };
    store.settle(&t, a1.id, fail).await.expect("fail").expect("holder");
    let retried = store.claim(&t, claim("default", 10, 60_000)).await.expect("claim");
    assert_eq!(titles(&retried), ["A1"], "a failed job still holds its entity's later jobs");
    let done = Settle::Complete { lease: 2, result: None, note: None };
    store.settle(&t, a1.id, done).await.expect("complete").expect("holder");
    let next = store.claim(&t, claim("default", 10, 60_000)).await.expect("claim");
    assert_eq!(titles(&next), ["A2"]);
}

/// Concurrent claimers never get one job twice, and together get every job.
pub async fn concurrent_claims_hand_out_each_job_once(store: Db) {
    let t = tenant(&store, "acme").await;
    store.put_rule(&t, &rule("calls", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    let events: Vec<Value> =
        (0..60).map(|i| call(&format!("Call {i}"), &format!("c{i}"))).collect();
    append(&store, &t, events).await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, t) = (store.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim(&t, claim("default", 3, 60_000)).await.expect("claim");
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.job.id));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    let distinct: HashSet<Uuid> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (60, 60));
}

/// Notes are stored with their `note.created` events, listed newest first in pages, and a
/// correction names the note it supersedes.
pub async fn notes_are_listed_newest_first_and_superseded(store: Db) {
    let t = tenant(&store, "acme").await;
    let entity =
        Entity { entity_type: "contact".into(), id: "c1".into(), name: Some("Ann".into()) };
    let author = Author { id: "bot".into(), name: None, kind: AuthorKind::Agent };
    let note = |body: &str, supersedes: Option<Uuid>| NewNote {
        id: Uuid::now_v7(),
        entity: entity.clone(),
        body: body.to_owned(),
        author: author.clone(),
        event_id: None,
        supersedes,
        job_id: None,
    };
    let first = store.add_note(&t, note("Wants a quote", None)).await.expect("note");
    let second = store.add_note(&t, note("Second", None)).await.expect("note");
    let fix = store.add_note(&t, note("Wants a quote by Friday", Some(first.note.id))).await;
    let fix = fix.expect("note");
    assert!(fix.seq > second.seq && second.seq > first.seq);
    let page = store.list_notes(&t, "contact", "c1", None, 2).await.expect("list");
    let bodies: Vec<&str> = page.iter().map(|n| n.note.body.as_str()).collect();
    assert_eq!(bodies, ["Wants a quote by Friday", "Second"]);
    let rest = store.list_notes(&t, "contact", "c1", Some(page[1].seq), 2).await.expect("list");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].superseded_by, Some(fix.note.id));
    let got = store.get_note(&t, first.note.id).await.expect("get").expect("note");
    assert_eq!(
        (got.note.entity.name.as_deref(), got.note.author.kind),
        (Some("Ann"), AuthorKind::Agent)
    );
    assert_eq!(types_on(&store, &t, "c1").await, ["note.created", "note.created", "note.created"]);
}

/// A purge takes the jobs of the events it removes (whatever their status) and nothing else;
/// the notes written on the entity stay, being the permanent record.
pub async fn purged_events_take_their_jobs_and_notes_stay(store: Db) {
    let t = tenant(&store, "acme").await;
    store.put_rule(&t, &rule("calls", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    let first = append_one(&store, &t, call("First", "c1")).await;
    let second = append_one(&store, &t, call("Second", "c1")).await;
    let claimed = store.claim(&t, claim("default", 1, 60_000)).await.expect("claim").remove(0);
    assert_eq!(claimed.job.event_id, first.id);
    let note = NewNote {
        id: Uuid::now_v7(),
        entity: first.entity.clone().expect("entity"),
        body: "Wants a quote".into(),
        author: Author { id: "w1".into(), name: None, kind: AuthorKind::Agent },
        event_id: Some(first.id),
        supersedes: None,
        job_id: None,
    };
    store.add_note(&t, note).await.expect("note");
    store.purge(&t, first.seq).await.expect("purge");
    assert!(store.get_job(&t, claimed.job.id).await.expect("get").is_none(), "its job went");
    let all = JobQuery { limit: 10, ..Default::default() };
    let left = store.list_jobs(&t, &all).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].job.event_id, second.id, "the later event keeps its job");
    let notes = store.list_notes(&t, "contact", "c1", None, 10).await.expect("notes");
    assert_eq!(notes.len(), 1, "notes stay");
}

/// A tenant never sees, claims, settles or lists another tenant's jobs, rules or notes.
pub async fn work_is_fenced_by_tenant(store: Db) {
    let t = tenant(&store, "acme").await;
    let other = tenant(&store, "other").await;
    store.put_rule(&t, &rule("calls", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    append_one(&store, &t, call("Call", "c1")).await;
    append_one(&store, &other, call("Call", "c1")).await;
    assert!(store.list_rules(&other).await.expect("rules").is_empty());
    assert!(store.claim(&other, claim("default", 5, 60_000)).await.expect("claim").is_empty());
    let job = store.claim(&t, claim("default", 5, 60_000)).await.expect("claim").remove(0).job;
    assert!(store.get_job(&other, job.id).await.expect("get").is_none());
    let done = Settle::Complete { lease: 1, result: None, note: None };
    assert!(matches!(store.settle(&other, job.id, done).await, Err(StoreError::NotFound)));
    assert!(matches!(store.heartbeat(&other, job.id, 1, 1000).await, Err(StoreError::NotFound)));
    let none = JobQuery { limit: 10, ..Default::default() };
    assert!(store.list_jobs(&other, &none).await.expect("list").is_empty());
    assert!(store.jobs_of_events(&other, &[job.event_id]).await.expect("of").is_empty());
    assert!(store.queue_counts(&other).await.expect("counts").is_empty());
    assert!(store.list_notes(&other, "contact", "c1", None, 10).await.expect("notes").is_empty());
    let all = store.all_queue_counts().await.expect("all counts");
    assert_eq!(all.iter().map(|c| c.jobs).sum::<u64>(), 1);
}

/// A new job and a settlement announce a work notice for their tenant.
pub async fn job_changes_are_announced(store: Db) {
    let t = tenant(&store, "acme").await;
    store.put_rule(&t, &rule("calls", json!({"filter": {"type": "call.*"}}))).await.expect("rule");
    let mut notices = store.notices();
    append_one(&store, &t, call("Call", "c1")).await;
    let mut saw = false;
    while let Ok(Ok(notice)) = tokio::time::timeout(Duration::from_secs(5), notices.recv()).await {
        if matches!(&notice, Notice::Work { tenant } if tenant == &t) {
            saw = true;
            break;
        }
    }
    assert!(saw, "a new job is announced");
}
