//! Spine as a library, on SQLite and on PostgreSQL: events emitted inside the caller's own
//! transaction commit or roll back with its domain rows; a committed one reaches a live SSE
//! subscriber of a server running on the same store; a consumer killed in the middle of a batch
//! resumes from its checkpoint and handles the unacknowledged events again, and nothing else; a
//! handler that keeps failing is dead-lettered and the consumer goes on.

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use spine::consumers::{Consumer, Start};
use spine::lifecycle::{self, Actor, Subject};
use spine::{Error, Spine, TenantId};
use spine_core::Role;
use sqlx::{Connection, PgPool, SqlitePool};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn initial(name: &str) -> Map<String, Value> {
    json!({"name": name, "status": "draft"}).as_object().cloned().unwrap_or_default()
}

/// The two databases a service may embed Spine in, each with the service's own pool (and what
/// keeps the database alive until the test ends).
#[allow(dead_code)]
enum Db {
    Sqlite(SqlitePool, tempfile::TempDir),
    Postgres(PgPool, spine_postgres::testing::TestDatabase),
}

async fn open(postgres: bool) -> (Spine, Db, TenantId) {
    let (spine, db) = if postgres {
        let (url, guard) = spine_postgres::testing::fresh_database().await;
        let spine = Spine::open(&url).await.expect("open");
        (spine, Db::Postgres(PgPool::connect(&url).await.expect("pool"), guard))
    } else {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let spine = Spine::open(&url).await.expect("open");
        let pool =
            SqlitePool::connect_with(Spine::sqlite_connect_options(&url)).await.expect("pool");
        (spine, Db::Sqlite(pool, dir))
    };
    let tenant = TenantId::parse("acme").expect("id");
    spine.store().create_tenant(&tenant, "Acme").await.expect("tenant");
    let create = "create table campaigns (id text primary key, name text not null)";
    match &db {
        Db::Sqlite(pool, _) => sqlx::query(create).execute(pool).await.map(|_| ()),
        Db::Postgres(pool, _) => sqlx::query(create).execute(pool).await.map(|_| ()),
    }
    .expect("the service's table");
    (spine, db, tenant)
}

/// Inserts a campaign row and emits its `created` event in one transaction, committed or not.
async fn create_campaign(spine: &Spine, db: &Db, tenant: &TenantId, id: &str, commit: bool) {
    let campaign = Subject::new("campaign", id, Some(id));
    let event = lifecycle::created(&campaign, &Actor::user("u1", Some("Ana")), &initial(id));
    let insert = "insert into campaigns (id, name) values ($1, $2)";
    match db {
        Db::Sqlite(pool, _) => {
            let mut tx = pool.begin_with("begin immediate").await.expect("begin");
            sqlx::query(insert).bind(id).bind(id).execute(&mut *tx).await.expect("row");
            let emitted = spine.emit(&mut *tx, tenant, [event]).await.expect("emit");
            if commit {
                tx.commit().await.expect("commit");
                emitted.committed();
            } else {
                tx.rollback().await.expect("rollback");
            }
        }
        Db::Postgres(pool, _) => {
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(insert).bind(id).bind(id).execute(&mut *tx).await.expect("row");
            let emitted = spine.emit(&mut *tx, tenant, [event]).await.expect("emit");
            if commit {
                tx.commit().await.expect("commit");
                emitted.committed();
            } else {
                tx.rollback().await.expect("rollback");
            }
        }
    }
}

async fn rows(db: &Db) -> i64 {
    let count = "select count(*) from campaigns";
    match db {
        Db::Sqlite(pool, _) => sqlx::query_scalar(count).fetch_one(pool).await,
        Db::Postgres(pool, _) => sqlx::query_scalar(count).fetch_one(pool).await,
    }
    .expect("count")
}

async fn events(spine: &Spine, tenant: &TenantId) -> Vec<spine::Event> {
    let query = spine_store::FeedQuery {
        order: spine_core::Order::Seq,
        limit: 100,
        ..spine_store::FeedQuery::default()
    };
    let page = spine.store().query(tenant, &query).await.expect("query");
    page.items.into_iter().map(|item| item.event).collect()
}

async fn rollback_leaves_nothing(postgres: bool) {
    let (spine, db, tenant) = open(postgres).await;
    create_campaign(&spine, &db, &tenant, "spring", false).await;
    assert_eq!(
        (rows(&db).await, events(&spine, &tenant).await.len()),
        (0, 0),
        "neither row nor event"
    );
    create_campaign(&spine, &db, &tenant, "summer", true).await;
    let stored = events(&spine, &tenant).await;
    assert_eq!((rows(&db).await, stored.len()), (1, 1), "both");
    assert_eq!(stored[0].event_type.as_str(), "campaign.created");
    assert_eq!(stored[0].data.as_ref().expect("data")["initial_values"]["name"], json!("summer"));
}

#[tokio::test]
async fn on_sqlite_a_rollback_leaves_neither_the_row_nor_the_event() {
    rollback_leaves_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_rollback_leaves_neither_the_row_nor_the_event() {
    rollback_leaves_nothing(true).await;
}

/// A server on the library's store; a live SSE subscriber gets the committed event, never the
/// rolled back one.
async fn committed_events_reach_live_subscribers(postgres: bool) {
    let (spine, db, tenant) = open(postgres).await;
    let (key, new_key) = spine_server::provision::generate_key(Role::Read, None);
    spine.store().create_key(&tenant, new_key).await.expect("key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = spine_server::ServerConfig { webhook_delivery: false, ..Default::default() };
    let server = tokio::spawn(spine_server::run(listener, spine.store(), config, async {
        let _ = stopped.await;
    }));
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/v1/stream"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("stream");
    let mut stream = response.bytes_stream().eventsource().boxed();
    let guard = Duration::from_secs(10);
    let first = tokio::time::timeout(guard, stream.next()).await.expect("in time");
    assert_eq!(first.expect("open").expect("sse").event, "position");
    create_campaign(&spine, &db, &tenant, "never", false).await;
    create_campaign(&spine, &db, &tenant, "launch", true).await;
    let message = loop {
        let message = tokio::time::timeout(guard, stream.next()).await.expect("in time");
        let message = message.expect("open").expect("sse");
        if message.event == "activity" {
            break message;
        }
    };
    let event: Value = serde_json::from_str(&message.data).expect("json");
    assert_eq!(
        event["entity"]["id"],
        json!("launch"),
        "the committed one, not the rolled back one"
    );
    let _ = stop.send(());
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_committed_event_reaches_a_live_subscriber() {
    committed_events_reach_live_subscribers(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_committed_event_reaches_a_live_subscriber() {
    committed_events_reach_live_subscribers(true).await;
}

/// Ten events, batches of four; the consumer is killed while handling the sixth (second batch,
/// after the fifth was handled). Restarted, it handles five to ten: the fifth again, nothing
/// before it.
async fn killed_consumers_resume_from_their_checkpoint(postgres: bool) {
    let (spine, db, tenant) = open(postgres).await;
    for n in 1..=10 {
        create_campaign(&spine, &db, &tenant, &format!("c{n:02}"), true).await;
    }
    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = |handled: Arc<Mutex<Vec<String>>>, stall_on: Option<&'static str>| {
        move |event: spine::Event| {
            let handled = handled.clone();
            async move {
                let id = event.entity.map(|e| e.id).unwrap_or_default();
                if Some(id.as_str()) == stall_on {
                    // The process dies here: this handler never returns.
                    std::future::pending::<()>().await;
                }
                handled.lock().unwrap_or_else(|p| p.into_inner()).push(id);
                Ok(())
            }
        }
    };
    let first = Consumer::new(&spine, &tenant, "thread-poster")
        .batch_size(4)
        .on("campaign.*", record(handled.clone(), Some("c06")))
        .expect("pattern");
    let running = tokio::spawn(first.run(std::future::pending()));
    for _ in 0..200 {
        if handled.lock().unwrap_or_else(|p| p.into_inner()).len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    running.abort();
    let before: Vec<String> = handled.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
    assert_eq!(before, ["c01", "c02", "c03", "c04", "c05"]);
    let consumer = spine.store().get_consumer(&tenant, "thread-poster").await.expect("get");
    assert_eq!(
        consumer.expect("made").checkpoint,
        spine::Seq(4),
        "the first batch was acknowledged"
    );

    let again = Consumer::new(&spine, &tenant, "thread-poster")
        .batch_size(4)
        .on("campaign.*", record(handled.clone(), None))
        .expect("pattern");
    while again.run_once().await.expect("round").events > 0 {}
    let after: Vec<String> = handled.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let want: Vec<String> = (5..=10).map(|n| format!("c{n:02}")).collect();
    assert_eq!(after, want, "the unacknowledged batch again, and nothing before it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_killed_consumer_resumes_from_its_checkpoint() {
    killed_consumers_resume_from_their_checkpoint(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_killed_consumer_resumes_from_its_checkpoint() {
    killed_consumers_resume_from_their_checkpoint(true).await;
}

/// A handler that keeps failing is retried, then the event is dead-lettered (once, as an event
/// caused by it) and the consumer goes on; a handler for other types is not called.
#[tokio::test]
async fn a_handler_that_keeps_failing_is_dead_lettered_and_the_consumer_goes_on() {
    let (spine, db, tenant) = open(false).await;
    create_campaign(&spine, &db, &tenant, "bad", true).await;
    create_campaign(&spine, &db, &tenant, "good", true).await;
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = calls.clone();
    let consumer = Consumer::new(&spine, &tenant, "mailer")
        .start(Start::Beginning)
        .max_attempts(3)
        .retry_backoff(Duration::from_millis(5))
        .on("campaign.created", move |event| {
            let seen = seen.clone();
            async move {
                let id = event.entity.map(|e| e.id).unwrap_or_default();
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(id.clone());
                if id == "bad" {
                    Err("the mail server said no".to_owned())
                } else {
                    Ok(())
                }
            }
        })
        .expect("pattern")
        .on("invoice.*", |_| async { Err("never called".to_owned()) })
        .expect("pattern");
    let round = consumer.run_once().await.expect("round");
    assert_eq!((round.events, round.dead_lettered), (2, 1));
    assert_eq!(*calls.lock().unwrap_or_else(|p| p.into_inner()), ["bad", "bad", "bad", "good"]);
    let stored = events(&spine, &tenant).await;
    let dead: Vec<_> =
        stored.iter().filter(|e| e.event_type.as_str() == "spine.consumer.dead_lettered").collect();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].causation_id.as_deref(), Some(stored[0].id.to_string().as_str()));
    let data = dead[0].data.as_ref().expect("data");
    assert_eq!(
        (data["consumer"].as_str(), data["error"].as_str()),
        (Some("mailer"), Some("the mail server said no"))
    );
    assert_eq!(consumer.run_once().await.expect("round").events, 0, "acknowledged");
}

/// Events are validated like posted ones, and a transaction of the other database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_and_the_wrong_database_are_errors() {
    let (spine, db, tenant) = open(true).await;
    let mut sqlite = sqlx::SqliteConnection::connect("sqlite::memory:").await.expect("sqlite");
    let event = lifecycle::custom(
        "campaign.noted",
        &Subject::new("campaign", "x", None),
        &Actor::service("t"),
        "Noted",
        None,
    );
    let wrong = spine.emit(&mut sqlite, &tenant, [event.clone()]).await;
    assert!(matches!(wrong, Err(Error::WrongDatabase(_))), "{wrong:?}");
    let Db::Postgres(pool, _) = &db else { return };
    let mut tx = pool.begin().await.expect("begin");
    let mut bad = event;
    bad.event_type = Some("Not A Type".to_owned());
    let refused = spine.emit(&mut *tx, &tenant, [bad]).await;
    let Err(Error::Invalid(errors)) = refused else { panic!("invalid: {refused:?}") };
    assert_eq!(errors.0[0].field, "events[0].type");
}
