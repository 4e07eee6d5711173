//! Feed pages (keyset only, never OFFSET), single events and the head position.
//!
//! `order=occurred` walks newest first by `(occurred_at, seq)`, continuing below the cursor's
//! pair; `order=seq` walks oldest first, continuing above the cursor's position. A page fetches
//! one row more than asked to know whether a next page exists.

use crate::error::{Error, Result};
use crate::filters::{fts_query, push_filter, push_scope};
use crate::indexer::Follower;
use crate::read_state::{
    push_archived, push_is_archived, push_is_read, push_is_seen, push_unread, push_unseen,
};
use spine_core::{Cursor, Event, EventFilter, Order, Scope, Seq, TenantId, TypePattern};
use spine_store::{FeedItem, FeedQuery, Page};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::time::Duration;
use uuid::Uuid;

/// The largest page the store serves, whatever the caller asks.
const MAX_PAGE: u32 = 1000;
/// How long a search waits for the indexer to reach the tenant's newest event.
const SEARCH_WAIT: Duration = Duration::from_secs(2);

/// One page of the feed.
pub(crate) async fn page(
    pool: &SqlitePool,
    indexer: &Follower,
    tenant: &TenantId,
    query: &FeedQuery,
) -> Result<Page> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let fts = match query.filter.q.as_deref().map(fts_query) {
        Some(None) => return Ok(Page { items: Vec::new(), next: None }),
        Some(Some(fts)) => Some(fts),
        None => None,
    };
    if fts.is_some() {
        // The full text is only in the index: a search waits until the indexer has reached
        // the tenant's newest event, so that it never misses one.
        let newest: i64 =
            sqlx::query_scalar("select coalesce(max(seq), 0) from events where tenant = ?")
                .bind(tenant.as_str())
                .fetch_one(pool)
                .await?;
        if !indexer.reach(newest, SEARCH_WAIT).await {
            return Err(Error::IndexBehind);
        }
    }
    let mut qb = page_query("", tenant.as_str(), query, fts, limit);
    let rows = qb.build().fetch_all(pool).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let event: Event = serde_json::from_str(row.try_get::<&str, _>("body")?)?;
        let flag = |name: &str| match query.user {
            Some(_) => row.try_get::<bool, _>(name).map(Some),
            None => Ok(None),
        };
        let (read, seen, archived) = (flag("is_read")?, flag("is_seen")?, flag("is_archived")?);
        items.push(FeedItem { event, read, seen, archived });
    }
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = match (more, items.last()) {
        (true, Some(last)) => Some(Cursor {
            order: query.order,
            occurred_micros: last.event.occurred_at.as_micros(),
            seq: last.event.seq,
        }),
        _ => None,
    };
    Ok(Page { items, next })
}

/// What drives the walk of a feed page.
enum Drive {
    /// A full-text query: its matches (usually few), sorted afterwards.
    Text(String),
    /// In the default order, one filter key (`event_keys`: kind and key), already in
    /// `(occurred_at, seq)` order and far more selective than the tenant, up to the indexer's
    /// watermark; the events above it come from the log itself.
    Key(i64, String),
    /// An index of `events` led by the tenant.
    Log,
}

/// The most selective key among the filters and the scope, in the default order.
fn drive(query: &FeedQuery, fts: Option<String>) -> Drive {
    if let Some(fts) = fts {
        return Drive::Text(fts);
    }
    if query.order != Order::Occurred {
        return Drive::Log;
    }
    let (filter, scope) = (&query.filter, query.scope.as_ref());
    let entity = |t: &Option<String>, id: &Option<String>| match (t, id) {
        (Some(t), Some(id)) => Some(format!("{t}\u{1f}{id}")),
        _ => None,
    };
    let key = entity(&filter.entity_type, &filter.entity_id)
        .or_else(|| scope.and_then(|s| entity(&s.entity_type, &s.entity_id)))
        .map(|k| (KEY_ENTITY, k))
        .or_else(|| filter.correlation_id.clone().map(|c| (KEY_CORRELATION, c)))
        .or_else(|| {
            filter
                .actor
                .clone()
                .or_else(|| scope.and_then(|s| s.actor.clone()))
                .map(|a| (KEY_ACTOR, a))
        })
        .or_else(|| filter.tags.first().map(|t| (KEY_TAG, t.clone())))
        .or_else(|| match filter.types.as_slice() {
            [TypePattern::Exact(t)] => Some((KEY_TYPE, t.as_str().to_owned())),
            _ => None,
        });
    key.map_or(Drive::Log, |(kind, key)| Drive::Key(kind, key))
}

/// `event_keys.kind` of each filter key (the index file's layout, [`crate::indexer`]).
const KEY_TYPE: i64 = 1;
const KEY_ACTOR: i64 = 2;
const KEY_ENTITY: i64 = 3;
const KEY_CORRELATION: i64 = 4;
const KEY_TAG: i64 = 5;

/// The indexer's watermark, read in the statement's own snapshot.
const INDEXED: &str = "(select indexed_seq from idx.index_meta where id = 1)";

/// The statement of one feed page (`limit + 1` rows, to know whether there is more), after
/// `prefix` (`explain query plan ` in the plan tests).
fn page_query<'a>(
    prefix: &str,
    tenant: &'a str,
    query: &'a FeedQuery,
    fts: Option<String>,
    limit: u32,
) -> QueryBuilder<'a, Sqlite> {
    let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(prefix);
    match drive(query, fts) {
        Drive::Text(fts) => {
            push_select(&mut qb, tenant, query, "e");
            qb.push(" from idx.events_fts cross join events e on e.seq = events_fts.rowid where events_fts match ")
                .push_bind(fts)
                .push(" and e.tenant = ")
                .push_bind(tenant);
            push_conditions(&mut qb, tenant, query, false);
            push_cursor(&mut qb, query, "e");
            push_order(&mut qb, query.order, "e.occurred_at", "e.seq");
        }
        Drive::Key(kind, key) => {
            push_select(&mut qb, tenant, query, "k");
            qb.push(
                " from idx.event_keys k cross join events e on e.seq = k.seq where k.tenant = ",
            )
            .push_bind(tenant)
            .push(" and k.kind = ")
            .push_bind(kind)
            .push(" and k.key = ")
            .push_bind(key)
            .push(format_args!(" and k.seq <= {INDEXED}"));
            // The same window on the key rows bounds the walk of their primary key.
            push_key_window(&mut qb, &query.filter);
            push_cursor(&mut qb, query, "k");
            qb.push(" and e.tenant = ").push_bind(tenant);
            push_conditions(&mut qb, tenant, query, kind == KEY_TAG);
            // The events the indexer has not reached: a short walk of the log's newest end
            // (`+` keeps the planner off the whole tenant's `occurred_at` index, whose order
            // it would otherwise prefer to sorting the few rows above the watermark).
            qb.push(" union all ");
            push_select(&mut qb, tenant, query, "+e");
            qb.push(" from events e where e.tenant = ")
                .push_bind(tenant)
                .push(format_args!(" and e.seq > {INDEXED}"));
            push_conditions(&mut qb, tenant, query, false);
            push_cursor(&mut qb, query, "e");
            push_order(&mut qb, Order::Occurred, "o", "s");
        }
        Drive::Log => {
            push_select(&mut qb, tenant, query, "e");
            qb.push(" from events e where e.tenant = ").push_bind(tenant);
            push_conditions(&mut qb, tenant, query, false);
            push_cursor(&mut qb, query, "e");
            push_order(&mut qb, query.order, "e.occurred_at", "e.seq");
        }
    }
    qb.push(" limit ").push_bind(i64::from(limit) + 1);
    qb
}

/// `select` of the body, the user's flags and the feed order's columns (`o`, `s`) from `order`
/// (the `events e` alias, or key rows `k`, which carry the same values in index order; `+e`
/// for `e` without its index order).
fn push_select<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    tenant: &'a str,
    query: &'a FeedQuery,
    order: &str,
) {
    qb.push("select e.body");
    if let Some(user) = &query.user {
        qb.push(", ");
        push_is_read(qb, tenant, user.as_str());
        qb.push(" as is_read, ");
        push_is_seen(qb, tenant, user.as_str());
        qb.push(" as is_seen, ");
        push_is_archived(qb, tenant, user.as_str());
        qb.push(" as is_archived");
    }
    let alias = order.trim_start_matches('+');
    qb.push(format_args!(", {order}.occurred_at as o, {alias}.seq as s"));
}

/// Every filter, the scope and the user's read-state filters, on the `events e` row; tags
/// are read from the event's own body, so the condition holds whether or not the event is
/// indexed (`skip_first_tag` when the walk is driven by that tag's key rows).
fn push_conditions<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    tenant: &'a str,
    query: &'a FeedQuery,
    skip_first_tag: bool,
) {
    let filter = &query.filter;
    let tags = if skip_first_tag { &filter.tags[1..] } else { filter.tags.as_slice() };
    for tag in tags {
        qb.push(" and exists (select 1 from json_each(e.body, '$.tags') t where t.value = ")
            .push_bind(tag.as_str())
            .push(")");
    }
    push_filter(qb, filter, query.scope.as_ref());
    push_scope(qb, query.scope.as_ref());
    if let Some(user) = &query.user {
        if filter.unread {
            push_unread(qb, tenant, user.as_str());
        }
        if filter.unseen {
            push_unseen(qb, tenant, user.as_str());
        }
        if let Some(archived) = filter.archived {
            push_archived(qb, tenant, user.as_str(), archived);
        }
    }
}

/// Continues below (default order) or above (commit order) the cursor, on alias `on`.
fn push_cursor(qb: &mut QueryBuilder<'_, Sqlite>, query: &FeedQuery, on: &str) {
    match (query.order, query.after) {
        (Order::Occurred, Some(after)) => {
            qb.push(format_args!(" and ({on}.occurred_at, {on}.seq) < ("))
                .push_bind(after.occurred_micros)
                .push(", ")
                .push_bind(after.seq.0)
                .push(")");
        }
        (Order::Seq, Some(after)) => {
            qb.push(format_args!(" and {on}.seq > ")).push_bind(after.seq.0);
        }
        (_, None) => {}
    }
}

fn push_order(qb: &mut QueryBuilder<'_, Sqlite>, order: Order, occurred: &str, seq: &str) {
    match order {
        Order::Occurred => qb.push(format_args!(" order by {occurred} desc, {seq} desc")),
        Order::Seq => qb.push(format_args!(" order by {seq}")),
    };
}

/// `since`/`until` on the driving key rows (the events carry the same `occurred_at`).
fn push_key_window(qb: &mut QueryBuilder<'_, Sqlite>, filter: &EventFilter) {
    if let Some(since) = filter.since {
        qb.push(" and k.occurred_at >= ").push_bind(since.as_micros());
    }
    if let Some(until) = filter.until {
        qb.push(" and k.occurred_at < ").push_bind(until.as_micros());
    }
}

/// One event by id within the tenant and scope.
pub(crate) async fn get_event(
    pool: &SqlitePool,
    tenant: &TenantId,
    id: Uuid,
    scope: Option<&Scope>,
) -> Result<Option<Event>> {
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new("select e.body from events e where e.id = ");
    qb.push_bind(id.as_bytes().as_slice()).push(" and e.tenant = ").push_bind(tenant.as_str());
    push_scope(&mut qb, scope);
    let Some(row) = qb.build().fetch_optional(pool).await? else { return Ok(None) };
    Ok(Some(serde_json::from_str(row.try_get::<&str, _>("body")?)?))
}

/// The tenant's highest position (`Seq::ZERO` when it has no events).
pub(crate) async fn head(pool: &SqlitePool, tenant: &TenantId) -> Result<Seq> {
    let seq: i64 = sqlx::query_scalar(HEAD).bind(tenant.as_str()).fetch_one(pool).await?;
    Ok(Seq(seq))
}

/// The tenant's head (`?1`): its highest position, never below its purge horizon.
pub(crate) const HEAD: &str = "select max(
        coalesce((select max(seq) from events where tenant = ?1), 0),
        coalesce((select through_seq from horizons where tenant = ?1), 0))";

#[cfg(test)]
mod plans {
    //! Which index each feed filter walks (SQLite's `explain query plan`), on two tenants of a
    //! few thousand varied events each, with `analyze`d statistics: the write-path work keeps only
    //! the indexes a filter needs, and this shows which those are. No plan may read the whole
    //! log to sort it. `cargo test -p spine-sqlite plans -- --nocapture` prints the plans.

    use super::*;
    use crate::{SqliteOptions, SqliteStore};
    use spine_core::input::{EventInput, EventLimits};
    use spine_core::{EventFilter, Order, TypePattern};
    use spine_store::Store;

    fn event(i: usize) -> spine_core::NewEvent {
        let event_type = ["task.created", "deal.won", "call.received", "invoice.paid"][i % 4];
        let source = ["api", "github", "stripe"][i % 3];
        let priority = ["low", "normal", "high"][i % 3];
        let input: EventInput = serde_json::from_value(serde_json::json!({
            "type": event_type,
            "title": format!("event {i}"),
            "actor": {"id": format!("u{}", i % 40)},
            "entity": {"type": "task", "id": format!("t{}", i % 500)},
            "source": {"system": source},
            "correlation_id": format!("c{}", i % 300),
            "tags": [format!("tag{}", i % 50)],
            "priority": priority,
        }))
        .expect("json");
        input.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).expect("valid")
    }

    #[tokio::test]
    async fn every_feed_filter_walks_an_index() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("plans.db").display());
        let store = SqliteStore::open(&url, SqliteOptions::default()).await.expect("open");
        store.migrate().await.expect("migrate");
        // Two tenants, so that the tenant column is as selective as it is in a real store.
        let tenant = TenantId::parse("acme").expect("id");
        let other = TenantId::parse("other").expect("id");
        for t in [&tenant, &other] {
            store.create_tenant(t, t.as_str()).await.expect("tenant");
            for chunk in (0..4000).collect::<Vec<_>>().chunks(1000) {
                store.append(t, chunk.iter().map(|i| event(*i)).collect()).await.expect("append");
            }
        }
        // The key rows are the indexer's: the plans are of an index that has caught up.
        assert!(store.inner.indexer.reach(8000, Duration::from_secs(30)).await, "indexed");
        sqlx::query("analyze").execute(&store.inner.admin).await.expect("analyze");
        let base = EventFilter::default();
        let cases: Vec<(&str, EventFilter, Order)> = vec![
            ("newest first", base.clone(), Order::Occurred),
            ("commit order", base.clone(), Order::Seq),
            (
                "type",
                EventFilter {
                    types: vec![TypePattern::parse("deal.won").expect("t")],
                    ..base.clone()
                },
                Order::Occurred,
            ),
            (
                "type prefix",
                EventFilter {
                    types: vec![TypePattern::parse("deal.*").expect("t")],
                    ..base.clone()
                },
                Order::Occurred,
            ),
            ("actor", EventFilter { actor: Some("u7".into()), ..base.clone() }, Order::Occurred),
            (
                "entity",
                EventFilter {
                    entity_type: Some("task".into()),
                    entity_id: Some("t7".into()),
                    ..base.clone()
                },
                Order::Occurred,
            ),
            (
                "source",
                EventFilter { source: Some("github".into()), ..base.clone() },
                Order::Occurred,
            ),
            (
                "correlation",
                EventFilter { correlation_id: Some("c7".into()), ..base.clone() },
                Order::Occurred,
            ),
            ("tag", EventFilter { tags: vec!["tag7".into()], ..base.clone() }, Order::Occurred),
            ("full text", EventFilter { q: Some("event".into()), ..base.clone() }, Order::Occurred),
            (
                "type in commit order",
                EventFilter {
                    types: vec![TypePattern::parse("deal.won").expect("t")],
                    ..base.clone()
                },
                Order::Seq,
            ),
        ];
        let mut report = Vec::new();
        for (name, filter, order) in cases {
            let query = FeedQuery { filter, order, limit: 30, ..FeedQuery::default() };
            let fts = query.filter.q.as_deref().and_then(fts_query);
            let mut qb = page_query("explain query plan ", tenant.as_str(), &query, fts, 30);
            let rows = qb.build().fetch_all(&store.inner.reads).await.expect("plan");
            let plan: Vec<String> =
                rows.iter().map(|r| r.try_get::<String, _>("detail").expect("detail")).collect();
            // A walk of the whole table in the wanted order, cut short by the limit, is fine;
            // reading every row to sort them is not.
            let scans = plan.iter().any(|d| d.starts_with("SCAN e") && !d.contains("INDEX"));
            let sorts = plan.iter().any(|d| d.contains("TEMP B-TREE FOR ORDER BY"));
            assert!(!(scans && sorts), "{name}: {plan:?}");
            report.push(format!("{name}: {}", plan.join(" | ")));
        }
        println!("{}", report.join("\n"));
    }
}
