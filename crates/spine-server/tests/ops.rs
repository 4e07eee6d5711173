//! Operations endpoints: `/healthz` answers while the process runs; `/readyz` reports whether the
//! database answers and is migrated, on SQLite and on PostgreSQL (where the database can go away
//! and come back under a running node).

mod common;

use common::*;
use reqwest::StatusCode;
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;

#[tokio::test]
async fn healthz_and_readyz_answer_on_sqlite() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let (status, body) = app.get_json(path, "").await;
        assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_postgres_database_going_away_and_coming_back() {
    let nodes = spawn_postgres_nodes(1, Default::default()).await;
    let app = &nodes[0];
    let ready = || async { app.client.get(app.url("/readyz")).send().await.unwrap().status() };
    assert_eq!(ready().await, StatusCode::OK);

    // Refuse new connections to the node's database and cut the open ones.
    let url = app.database_url.clone().expect("a PostgreSQL node");
    let name = url.rsplit('/').next().expect("database name").to_owned();
    let mut admin = PgConnection::connect(&spine_postgres::testing::base_url()).await.unwrap();
    let set = |allow: bool| format!("alter database \"{name}\" allow_connections {allow}");
    admin.execute(set(false).as_str()).await.unwrap();
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = $1 and pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut admin)
    .await
    .unwrap();
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    let problem = assert_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(!problem.to_string().contains(&url), "the URL stays out of the answer: {problem}");
    // The node keeps running: liveness is not readiness.
    assert_eq!(app.get_json("/healthz", "").await.0, StatusCode::OK);

    admin.execute(set(true).as_str()).await.unwrap();
    let mut status = ready().await;
    for _ in 0..50 {
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = ready().await;
    }
    assert_eq!(status, StatusCode::OK, "ready again once the database accepts connections");
}
