//! Counts over a time window, optionally grouped, plus the user's unread count.

use crate::error::Result;
use crate::fence::{self, Mode};
use crate::filters::{push_no_audit, push_scope, push_time_window};
use crate::read_state::unread_count;
use spine_core::TenantId;
use spine_store::{GroupBy, GroupCount, Stats, StatsQuery};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};

/// The SQL expression a group's key is, and whether groups read in time order.
fn group_key(group: GroupBy) -> (&'static str, bool) {
    match group {
        GroupBy::Type => ("e.type", false),
        GroupBy::Source => ("e.source_system", false),
        GroupBy::Priority => ("e.priority", false),
        GroupBy::Actor => ("coalesce(e.actor_id, '')", false),
        GroupBy::Day => (
            "to_char(to_timestamp(e.occurred_at / 1000000) at time zone 'UTC', 'YYYY-MM-DD')",
            true,
        ),
        GroupBy::Hour => (
            "to_char(to_timestamp(e.occurred_at / 1000000) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24\":00Z\"')",
            true,
        ),
    }
}

/// Totals and groups for the window and scope.
pub(crate) async fn stats(pool: &PgPool, tenant: &TenantId, query: &StatsQuery) -> Result<Stats> {
    let window = |qb: &mut QueryBuilder<'_, Postgres>| {
        push_time_window(
            qb,
            query.since.map(|t| t.as_micros()),
            query.until.map(|t| t.as_micros()),
        );
    };
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("select count(*) from events e where e.tenant = ");
    qb.push_bind(tenant.as_str());
    window(&mut qb);
    push_scope(&mut qb, query.scope.as_ref());
    push_no_audit(&mut qb);
    let mut tx = fence::begin_in(pool, [tenant], Mode::Snapshot).await?;
    let total: i64 = qb.build_query_scalar().fetch_one(&mut *tx).await?;

    let mut groups = Vec::new();
    if let Some(group) = query.group_by {
        let (key, by_time) = group_key(group);
        let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("select ");
        // Keys compare bytewise (`collate "C"`), as in the SQLite store, whatever the database's
        // collation.
        qb.push("(")
            .push(key)
            .push(") collate \"C\" as k, count(*) as n from events e where e.tenant = ")
            .push_bind(tenant.as_str());
        window(&mut qb);
        push_scope(&mut qb, query.scope.as_ref());
        push_no_audit(&mut qb);
        qb.push(if by_time { " group by k order by k" } else { " group by k order by n desc, k" });
        for row in qb.build().fetch_all(&mut *tx).await? {
            let count: i64 = row.try_get("n")?;
            groups.push(GroupCount {
                key: row.try_get::<Option<String>, _>("k")?.unwrap_or_default(),
                count: u64::try_from(count).unwrap_or(0),
            });
        }
    }

    tx.commit().await?;
    let unread = match &query.user {
        Some(user) => Some(unread_count(pool, tenant, user, query.scope.as_ref()).await?),
        None => None,
    };
    Ok(Stats { total: u64::try_from(total).unwrap_or(0), unread, groups })
}
