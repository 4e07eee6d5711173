//! Counts over a time window, optionally grouped, plus the user's unread count.

use crate::error::Result;
use crate::filters::{push_no_audit, push_scope, push_time_window};
use crate::read_state::unread_count;
use spine_core::TenantId;
use spine_store::{GroupBy, GroupCount, Stats, StatsQuery};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

/// The SQL expression a group's key is, and whether groups read in time order.
fn group_key(group: GroupBy) -> (&'static str, bool) {
    match group {
        GroupBy::Type => ("e.type", false),
        GroupBy::Source => ("e.source_system", false),
        GroupBy::Priority => ("e.priority", false),
        GroupBy::Actor => ("coalesce(e.actor_id, '')", false),
        GroupBy::Day => ("strftime('%Y-%m-%d', e.occurred_at / 1000000, 'unixepoch')", true),
        GroupBy::Hour => {
            ("strftime('%Y-%m-%dT%H:00Z', e.occurred_at / 1000000, 'unixepoch')", true)
        }
    }
}

/// Totals and groups for the window and scope.
pub(crate) async fn stats(
    pool: &SqlitePool,
    tenant: &TenantId,
    query: &StatsQuery,
) -> Result<Stats> {
    let window = |qb: &mut QueryBuilder<'_, Sqlite>| {
        push_time_window(
            qb,
            query.since.map(|t| t.as_micros()),
            query.until.map(|t| t.as_micros()),
        );
    };
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new("select count(*) from events e where e.tenant = ");
    qb.push_bind(tenant.as_str());
    window(&mut qb);
    push_scope(&mut qb, query.scope.as_ref());
    push_no_audit(&mut qb);
    let total: i64 = qb.build_query_scalar().fetch_one(pool).await?;

    let mut groups = Vec::new();
    if let Some(group) = query.group_by {
        let (key, by_time) = group_key(group);
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("select ");
        qb.push(key)
            .push(" as k, count(*) as n from events e where e.tenant = ")
            .push_bind(tenant.as_str());
        window(&mut qb);
        push_scope(&mut qb, query.scope.as_ref());
        push_no_audit(&mut qb);
        qb.push(if by_time { " group by k order by k" } else { " group by k order by n desc, k" });
        for row in qb.build().fetch_all(pool).await? {
            let count: i64 = row.try_get("n")?;
            groups.push(GroupCount {
                key: row.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: u64::try_from(count).unwrap_or(0),
            });
        }
    }

    let unread = match &query.user {
        Some(user) => Some(unread_count(pool, tenant, user, query.scope.as_ref()).await?),
        None => None,
    };
    Ok(Stats { total: u64::try_from(total).unwrap_or(0), unread, groups })
}
