//! A job and its source event commit together on PostgreSQL: when the commit fails after the
//! events were inserted (a trigger refuses one job row), neither the events nor any job remain.

use serde_json::json;
use spine_core::input::{EventInput, EventLimits};
use spine_core::work::rule::{QueueRule, RuleInput};
use spine_core::{NewEvent, TenantId};
use spine_postgres::testing as support;
use spine_store::{JobQuery, Store, WorkQueue};
use sqlx::Connection;
use uuid::Uuid;

fn event(event_type: &str, title: &str) -> NewEvent {
    serde_json::from_value::<EventInput>(json!({"type": event_type, "title": title}))
        .expect("json")
        .validate(Uuid::now_v7(), None, &EventLimits::default())
        .expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_leaves_neither_the_events_nor_their_jobs() {
    let (url, mut db) = support::fresh_database().await;
    let store = support::open(&url).await;
    db.stores.push(store.clone());
    store.migrate().await.expect("migrate");
    let t = TenantId::parse("acme").expect("tenant");
    store.create_tenant(&t, "Acme").await.expect("tenant");
    for (name, filter, queue) in
        [("all", json!({"type": "a.*"}), "default"), ("boom", json!({"type": "boom.*"}), "boom")]
    {
        let input: RuleInput =
            serde_json::from_value(json!({"filter": filter, "queue": queue})).expect("rule");
        store.put_rule(&t, &QueueRule::parse(name, input).expect("valid")).await.expect("put");
    }
    let mut raw = sqlx::PgConnection::connect(&url).await.expect("raw connection");
    for sql in [
        "create function refuse_boom() returns trigger language plpgsql as $$
         begin raise exception 'refused by the test'; end $$",
        "create trigger refuse_boom before insert on jobs for each row
         when (new.queue = 'boom') execute function refuse_boom()",
    ] {
        sqlx::query(sql).execute(&mut raw).await.expect("trigger");
    }
    let failed = store.append(&t, vec![event("a.b", "fine"), event("boom.x", "boom")]).await;
    assert!(failed.is_err(), "the commit fails");
    assert_eq!(store.head(&t).await.expect("head").0, 0, "no event of the failed commit remains");
    let all = JobQuery { limit: 10, ..Default::default() };
    assert!(store.list_jobs(&t, &all).await.expect("list").is_empty(), "no job remains");
    store.append(&t, vec![event("a.b", "later")]).await.expect("the writer goes on");
    assert_eq!(store.list_jobs(&t, &all).await.expect("list").len(), 1);
    raw.close().await.expect("close");
}
