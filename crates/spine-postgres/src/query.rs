//! Feed pages (keyset only, never OFFSET), single events and the head position.
//!
//! `order=occurred` walks newest first by `(occurred_at, seq)`, continuing below the cursor's
//! pair; `order=seq` walks oldest first, continuing above the cursor's position. A page fetches
//! one row more than asked to know whether a next page exists.

use crate::error::{Error, Result};
use crate::fence;
use crate::filters::{push_filter, push_scope, search_words};
use crate::read_state::{
    push_archived, push_is_archived, push_is_read, push_is_seen, push_unread, push_unseen,
};
use spine_core::{Cursor, Event, EventFilter, Order, Scope, Seq, TenantId};
use spine_store::{FeedItem, FeedQuery, Page};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// The largest page the store serves, whatever the caller asks.
const MAX_PAGE: u32 = 1000;
/// How long a search waits for the indexer to reach the tenant's head.
const SEARCH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One page of the feed.
pub(crate) async fn page(pool: &PgPool, tenant: &TenantId, query: &FeedQuery) -> Result<Page> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let filter = &query.filter;
    let fts = match filter.q.as_deref().map(search_words) {
        Some(None) => return Ok(Page { items: Vec::new(), next: None }),
        Some(Some(fts)) => Some(fts),
        None => None,
    };
    // The full text is only in the index: a search waits until the indexer has reached the
    // tenant's head, so that it never misses an event.
    if fts.is_some() && !crate::indexer::reach(pool, tenant, SEARCH_WAIT).await? {
        return Err(Error::IndexBehind);
    }
    let tenant_id = tenant;
    let tenant = tenant.as_str();
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("select e.body::text as body");
    if let Some(user) = &query.user {
        qb.push(", ");
        push_is_read(&mut qb, tenant, user.as_str());
        qb.push(" as is_read, ");
        push_is_seen(&mut qb, tenant, user.as_str());
        qb.push(" as is_seen, ");
        push_is_archived(&mut qb, tenant, user.as_str());
        qb.push(" as is_archived");
    }

    // What drives the walk. A full-text query: its matches from the GIN index, sorted afterwards.
    // A tag in the default order: the tag index, already in (occurred_at, seq) order and usually
    // far more selective than the tenant. Otherwise an index led by the tenant.
    let tags = filter.tags.as_slice();
    let driving_tag = match (&fts, query.order, tags.split_first()) {
        (None, Order::Occurred, Some((first, _))) => Some(first.as_str()),
        _ => None,
    };
    let (occurred, seq) = if let Some(fts) = fts {
        // Matches come from `spine_search`, which runs as the table owner: under row-level
        // security `@@` (not leakproof) could not use the GIN index (see migration 0002). It
        // gives each match's time too, so the page is ordered and cut on its output and only
        // the page's events are read.
        qb.push(" from spine_search(plainto_tsquery('simple', ")
            .push_bind(fts)
            .push(")) s join events e on e.tenant = ")
            .push_bind(tenant)
            .push(" and e.seq = s.seq where true");
        ("s.occurred_at", "s.seq")
    } else if let Some(tag) = driving_tag {
        qb.push(" from event_tags t0 join events e on e.tenant = t0.tenant and e.seq = t0.seq where t0.tenant = ")
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
            .push(" and t.seq = e.seq)");
    }
    push_filter(&mut qb, filter, query.scope.as_ref());
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
            qb.push(format_args!(" and {seq} > ")).push_bind(after.seq.0);
        }
        (_, None) => {}
    }
    match query.order {
        Order::Occurred => qb.push(format_args!(" order by {occurred} desc, {seq} desc")),
        Order::Seq => qb.push(format_args!(" order by {seq}")),
    };
    qb.push(" limit ").push_bind(i64::from(limit) + 1);

    let mut tx = fence::begin(pool, [tenant_id]).await?;
    let rows = qb.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
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

/// `since`/`until` on the driving tag rows (the events carry the same `occurred_at`).
fn push_tag_window(qb: &mut QueryBuilder<'_, Postgres>, filter: &EventFilter) {
    if let Some(since) = filter.since {
        qb.push(" and t0.occurred_at >= ").push_bind(since.as_micros());
    }
    if let Some(until) = filter.until {
        qb.push(" and t0.occurred_at < ").push_bind(until.as_micros());
    }
}

/// One event by id within the tenant and scope.
pub(crate) async fn get_event(
    pool: &PgPool,
    tenant: &TenantId,
    id: Uuid,
    scope: Option<&Scope>,
) -> Result<Option<Event>> {
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("select e.body::text as body from events e where e.id = ");
    qb.push_bind(id.as_bytes().as_slice()).push(" and e.tenant = ").push_bind(tenant.as_str());
    push_scope(&mut qb, scope);
    let mut tx = fence::begin(pool, [tenant]).await?;
    let row = qb.build().fetch_optional(&mut *tx).await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(serde_json::from_str(row.try_get::<&str, _>("body")?)?))
}

/// The tenant's highest position (`Seq::ZERO` when it has no events).
pub(crate) async fn head(pool: &PgPool, tenant: &TenantId) -> Result<Seq> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let seq: i64 = sqlx::query_scalar(HEAD).bind(tenant.as_str()).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Seq(seq))
}

/// The tenant's head (`$1`): the last position handed out, which never falls below its purge
/// horizon because purges clamp to it. Committed together with the events it covers.
pub(crate) const HEAD: &str =
    "select coalesce((select head from tenant_heads where tenant = $1), 0)";
