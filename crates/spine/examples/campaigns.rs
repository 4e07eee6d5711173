//! The campaign flow of an events platform, with Spine as a library: a service writes its own
//! `campaigns` rows and Spine's lifecycle events in the same transaction, and a durable consumer
//! posts every campaign event to the campaign's thread.
//!
//! Run it with `cargo run -p spine --example campaigns` (a SQLite file in a temporary
//! directory). On PostgreSQL it reads the same, with a `PgPool` and `pool.begin()`.

use serde_json::{json, Map, Value};
use spine::consumers::Consumer;
use spine::lifecycle::{self, Actor, Subject};
use spine::{Spine, TenantId};
use sqlx::{Row, SqlitePool};

fn values(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("app.db").display());

    // Spine's tables live in the service's own database.
    let spine = Spine::open(&url).await?;
    let acme = TenantId::parse("acme")?;
    spine.store().create_tenant(&acme, "Acme").await?;

    // The service's own pool and tables, on the same file.
    let pool = SqlitePool::connect_with(Spine::sqlite_connect_options(&url)).await?;
    sqlx::query(
        "create table campaigns (id integer primary key, name text not null,
             status text not null, budget integer not null, notes text)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("create table thread_messages (campaign_id text not null, body text not null)")
        .execute(&pool)
        .await?;

    // A consumer that posts every campaign event to the campaign's thread. It is durable: its
    // checkpoint is in Spine, so a restart picks up where it stopped.
    let thread = pool.clone();
    let poster =
        Consumer::new(&spine, &acme, "campaign-thread").on("campaign.*", move |event| {
            let thread = thread.clone();
            async move {
                let campaign = event.entity.map(|e| e.id).unwrap_or_default();
                sqlx::query("insert into thread_messages (campaign_id, body) values (?, ?)")
                    .bind(campaign)
                    .bind(&event.summary)
                    .execute(&thread)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        })?;

    let ana = Actor::user("u-ana", Some("Ana"));
    let tracked = ["name", "status", "budget"];

    // Create: the row and its `campaign.created` event commit together.
    let initial = values(json!({"name": "Spring sale", "status": "draft", "budget": 1000}));
    let mut tx = pool.begin_with("begin immediate").await?;
    let id: i64 = sqlx::query(
        "insert into campaigns (name, status, budget) values ('Spring sale', 'draft', 1000)
         returning id",
    )
    .fetch_one(&mut *tx)
    .await?
    .get("id");
    let campaign = Subject::new("campaign", id, Some("Spring sale"));
    let emitted =
        spine.emit(&mut *tx, &acme, [lifecycle::created(&campaign, &ana, &initial)]).await?;
    tx.commit().await?;
    emitted.committed();

    // Update: an event with the changes of the tracked fields only.
    let before = initial.clone();
    let after = values(json!({"name": "Spring sale", "status": "draft", "budget": 1500}));
    let mut tx = pool.begin_with("begin immediate").await?;
    sqlx::query("update campaigns set budget = 1500, notes = 'approved by finance' where id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let update = lifecycle::updated(&campaign, &ana, &before, &after, &tracked);
    let emitted = spine.emit(&mut *tx, &acme, update).await?;
    tx.commit().await?;
    emitted.committed();

    // A save that changes nothing tracked writes no event.
    assert!(lifecycle::updated(&campaign, &ana, &after, &after, &tracked).is_none());

    // A state change, with its reason.
    let mut tx = pool.begin_with("begin immediate").await?;
    sqlx::query("update campaigns set status = 'live' where id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let launch = lifecycle::state_changed(
        &campaign,
        &Actor::service("scheduler"),
        "draft",
        "live",
        Some("launch date"),
    );
    let emitted = spine.emit(&mut *tx, &acme, [launch]).await?;
    tx.commit().await?;
    emitted.committed();

    // A transaction that fails rolls back the row and its event alike.
    let mut tx = pool.begin_with("begin immediate").await?;
    sqlx::query("update campaigns set budget = 0 where id = ?").bind(id).execute(&mut *tx).await?;
    let cut =
        lifecycle::updated(&campaign, &ana, &after, &values(json!({"budget": 0})), &["budget"]);
    let _never = spine.emit(&mut *tx, &acme, cut).await?;
    tx.rollback().await?;

    // Delete, with the final values and why.
    let last = values(json!({"name": "Spring sale", "status": "live", "budget": 1500}));
    let mut tx = pool.begin_with("begin immediate").await?;
    sqlx::query("delete from campaigns where id = ?").bind(id).execute(&mut *tx).await?;
    let gone = lifecycle::deleted(&campaign, &ana, &last, Some("season over"));
    let emitted = spine.emit(&mut *tx, &acme, [gone]).await?;
    tx.commit().await?;
    emitted.committed();

    // The consumer catches up: one thread message per campaign event, in order.
    while poster.run_once().await?.events > 0 {}
    let rows = sqlx::query("select body from thread_messages where campaign_id = ?")
        .bind(id.to_string())
        .fetch_all(&pool)
        .await?;
    for row in &rows {
        println!("thread: {}", row.get::<String, _>("body"));
    }
    assert_eq!(rows.len(), 4, "created, updated, state changed, deleted; not the rolled back one");
    Ok(())
}
