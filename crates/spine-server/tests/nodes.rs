//! Several nodes on one PostgreSQL database: a node whose notification connection drops
//! reconnects and catches up, so its live streams miss nothing committed on other nodes while it
//! was not listening.

mod common;

use common::sse::{next_activity, open, post_many};
use common::*;
use sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_whose_listening_connection_drops_catches_up_without_loss() {
    let nodes = spawn_postgres_nodes(2, Default::default()).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut stream = open(b, "/v1/stream?after=0", Some(&b.a.read), &[]).await;
    // Live through the notifications: posted on a, delivered on b.
    let first = post_many(a, "before-", 1).await;
    assert_eq!(next_activity(&mut stream).await.0, first[0]);

    // Cut every listening connection on the database. A node listens again only after a pause
    // (a second), so the notices of commits made right away are lost for sure.
    let url = a.database_url.clone().expect("a PostgreSQL node");
    let name = url.rsplit('/').next().expect("database name").to_owned();
    let mut admin = PgConnection::connect(&spine_postgres::testing::base_url()).await.unwrap();
    let cut: Vec<i32> = sqlx::query_scalar(
        "select pid from pg_stat_activity
         where datname = $1 and query ilike 'listen%' and pg_terminate_backend(pid)",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut.len(), 2, "one listening connection per node");
    let missed = post_many(a, "unheard-", 5).await;

    // Once b listens again it re-reads the log's head and delivers what it did not hear of.
    for seq in &missed {
        assert_eq!(next_activity(&mut stream).await.0, *seq);
    }
    // And it listens again.
    let after = post_many(a, "after-", 2).await;
    for seq in &after {
        assert_eq!(next_activity(&mut stream).await.0, *seq);
    }
}
