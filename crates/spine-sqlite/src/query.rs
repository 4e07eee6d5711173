//! Feed pages (keyset only, never OFFSET), single events and the head position.
//!
//! `order=occurred` walks newest first by `(occurred_at, seq)`, continuing below the cursor's
//! pair; `order=seq` walks oldest first, continuing above the cursor's position. A page fetches
//! one row more than asked to know whether a next page exists.

use crate::error::Result;
use crate::filters::{fts_query, push_filter, push_scope};
use crate::read_state::{
    push_archived, push_is_archived, push_is_read, push_is_seen, push_unread, push_unseen,
};
use spine_core::{Cursor, Event, EventFilter, Order, Scope, Seq, TenantId};
use spine_store::{FeedItem, FeedQuery, Page};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use uuid::Uuid;

/// The largest page the store serves, whatever the caller asks.
const MAX_PAGE: u32 = 1000;

/// One page of the feed.
pub(crate) async fn page(pool: &SqlitePool, tenant: &TenantId, query: &FeedQuery) -> Result<Page> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let fts = match query.filter.q.as_deref().map(fts_query) {
        Some(None) => return Ok(Page { items: Vec::new(), next: None }),
        Some(Some(fts)) => Some(fts),
        None => None,
    };
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

/// The statement of one feed page (`limit + 1` rows, to know whether there is more), after
/// `prefix` (`explain query plan ` in the plan tests).
fn page_query<'a>(
    prefix: &str,
    tenant: &'a str,
    query: &'a FeedQuery,
    fts: Option<String>,
    limit: u32,
) -> QueryBuilder<'a, Sqlite> {
    let filter = &query.filter;
    let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(format!("{prefix}select e.body"));
    if let Some(user) = &query.user {
        qb.push(", ");
        push_is_read(&mut qb, tenant, user.as_str());
        qb.push(" as is_read, ");
        push_is_seen(&mut qb, tenant, user.as_str());
        qb.push(" as is_seen, ");
        push_is_archived(&mut qb, tenant, user.as_str());
        qb.push(" as is_archived");
    }

    // What drives the walk. A full-text query: its matches (usually few), sorted afterwards.
    // A tag in the default order: the tag index, already in (occurred_at, seq) order and usually
    // far more selective than the tenant. Otherwise an index led by the tenant.
    let tags = filter.tags.as_slice();
    let driving_tag = match (&fts, query.order, tags.split_first()) {
        (None, Order::Occurred, Some((first, _))) => Some(first.as_str()),
        _ => None,
    };
    let (occurred, seq) = if let Some(fts) = fts {
        qb.push(" from events_fts cross join events e on e.seq = events_fts.rowid where events_fts match ")
            .push_bind(fts)
            .push(" and e.tenant = ")
            .push_bind(tenant);
        ("e.occurred_at", "e.seq")
    } else if let Some(tag) = driving_tag {
        qb.push(" from event_tags t0 cross join events e on e.seq = t0.seq where t0.tenant = ")
            .push_bind(tenant)
            .push(" and t0.tag = ")
            .push_bind(tag)
            .push(" and e.tenant = ")
            .push_bind(tenant);
        // The same window on the tag rows bounds the walk of their primary key.
        push_tag_window(&mut qb, filter);
        ("t0.occurred_at", "t0.seq")
    } else {
        qb.push(" from events e where e.tenant = ").push_bind(tenant);
        ("e.occurred_at", "e.seq")
    };
    let other_tags = if driving_tag.is_some() { &tags[1..] } else { tags };
    for tag in other_tags {
        qb.push(" and exists (select 1 from event_tags t where t.tenant = e.tenant and t.tag = ")
            .push_bind(tag.as_str())
            .push(" and t.occurred_at = e.occurred_at and t.seq = e.seq)");
    }
    push_filter(&mut qb, filter);
    push_scope(&mut qb, query.scope.as_ref());
    if let Some(user) = &query.user {
        if filter.unread {
            push_unread(&mut qb, tenant, user.as_str());
        }
        if filter.unseen {
            push_unseen(&mut qb, tenant, user.as_str());
        }
        if let Some(archived) = filter.archived {
            push_archived(&mut qb, tenant, user.as_str(), archived);
        }
    }
    match (query.order, query.after) {
        (Order::Occurred, Some(after)) => {
            qb.push(format_args!(" and ({occurred}, {seq}) < ("))
                .push_bind(after.occurred_micros)
                .push(", ")
                .push_bind(after.seq.0)
                .push(")");
        }
        (Order::Seq, Some(after)) => {
            qb.push(" and e.seq > ").push_bind(after.seq.0);
        }
        (_, None) => {}
    }
    match query.order {
        Order::Occurred => qb.push(format_args!(" order by {occurred} desc, {seq} desc")),
        Order::Seq => qb.push(" order by e.seq"),
    };
    qb.push(" limit ").push_bind(i64::from(limit) + 1);
    qb
}

/// `since`/`until` on the driving tag rows (the events carry the same `occurred_at`).
fn push_tag_window(qb: &mut QueryBuilder<'_, Sqlite>, filter: &EventFilter) {
    if let Some(since) = filter.since {
        qb.push(" and t0.occurred_at >= ").push_bind(since.as_micros());
    }
    if let Some(until) = filter.until {
        qb.push(" and t0.occurred_at < ").push_bind(until.as_micros());
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
