//! Read state per (tenant, user) (SPEC section 3): "read through seq N" in `read_watermarks`
//! plus individually read positions above N in `read_marks`; "seen through seq N" in
//! `seen_watermarks`; archived positions in `archived_events`. Never a flag on the event.

use crate::error::Result;
use crate::fence::{self, Mode};
use crate::filters::{push_no_audit, push_scope};
use spine_core::{Scope, Seq, TenantId, UserId};
use spine_store::ReadMarks;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// The user's read watermark as a scalar subquery (0 when the user never read anything).
fn push_watermark<'a>(qb: &mut QueryBuilder<'a, Postgres>, tenant: &'a str, user: &'a str) {
    push_watermark_of(qb, "read_watermarks", tenant, user);
}

/// The user's watermark in `table` as a scalar subquery (0 when there is none).
fn push_watermark_of<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    table: &'static str,
    tenant: &'a str,
    user: &'a str,
) {
    qb.push("coalesce((select w.through_seq from ")
        .push(table)
        .push(" w where w.tenant = ")
        .push_bind(tenant)
        .push(" and w.user_id = ")
        .push_bind(user)
        .push("), 0)");
}

/// Whether `e` has an exception mark for the user.
fn push_marked<'a>(qb: &mut QueryBuilder<'a, Postgres>, tenant: &'a str, user: &'a str) {
    qb.push("exists (select 1 from read_marks m where m.tenant = ")
        .push_bind(tenant)
        .push(" and m.user_id = ")
        .push_bind(user)
        .push(" and m.seq = e.seq)");
}

/// A boolean expression: has the user read event `e`?
pub(crate) fn push_is_read<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    tenant: &'a str,
    user: &'a str,
) {
    qb.push("(e.seq <= ");
    push_watermark(qb, tenant, user);
    qb.push(" or ");
    push_marked(qb, tenant, user);
    qb.push(")");
}

/// A boolean expression: has the user seen event `e` (is it at or below the seen watermark)?
pub(crate) fn push_is_seen<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    tenant: &'a str,
    user: &'a str,
) {
    qb.push("(e.seq <= ");
    push_watermark_of(qb, "seen_watermarks", tenant, user);
    qb.push(")");
}

/// Appends ` and <event e is above the user's seen watermark>`.
pub(crate) fn push_unseen<'a>(qb: &mut QueryBuilder<'a, Postgres>, tenant: &'a str, user: &'a str) {
    qb.push(" and e.seq > ");
    push_watermark_of(qb, "seen_watermarks", tenant, user);
}

/// A boolean expression: has the user archived event `e`?
pub(crate) fn push_is_archived<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    tenant: &'a str,
    user: &'a str,
) {
    qb.push("exists (select 1 from archived_events a where a.tenant = ")
        .push_bind(tenant)
        .push(" and a.user_id = ")
        .push_bind(user)
        .push(" and a.seq = e.seq)");
}

/// Appends ` and <event e is (not) archived by the user>`.
pub(crate) fn push_archived<'a>(
    qb: &mut QueryBuilder<'a, Postgres>,
    tenant: &'a str,
    user: &'a str,
    archived: bool,
) {
    qb.push(if archived { " and " } else { " and not " });
    push_is_archived(qb, tenant, user);
}

/// Appends ` and <event e is unread by the user>`, written as a range above the watermark so the
/// `(tenant, seq)` index bounds the scan.
pub(crate) fn push_unread<'a>(qb: &mut QueryBuilder<'a, Postgres>, tenant: &'a str, user: &'a str) {
    qb.push(" and e.seq > ");
    push_watermark(qb, tenant, user);
    qb.push(" and not ");
    push_marked(qb, tenant, user);
}

/// Marks one event read; its position, or `None` when it is not in the tenant and scope.
pub(crate) async fn mark_read(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    id: Uuid,
    scope: Option<&Scope>,
) -> Result<Option<Seq>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("select e.seq from events e where e.id = ");
    qb.push_bind(id.as_bytes().as_slice()).push(" and e.tenant = ").push_bind(tenant.as_str());
    push_scope(&mut qb, scope);
    let Some(seq) = qb.build_query_scalar::<i64>().fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    sqlx::query(
        "insert into read_marks (tenant, user_id, seq)
         select $1, $2, $3
         where $3 > coalesce((select through_seq from read_watermarks where tenant = $1 and user_id = $2), 0)
         on conflict do nothing",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Seq(seq)))
}

/// Moves the watermark to `through` (default and at most: the tenant's head; it never moves
/// back) and drops the exceptions it now covers. Returns the new watermark.
pub(crate) async fn mark_all_read(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    through: Option<Seq>,
) -> Result<Seq> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let watermark = raise_watermark(&mut tx, "read_watermarks", tenant, user, through).await?;
    sqlx::query("delete from read_marks where tenant = $1 and user_id = $2 and seq <= $3")
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(watermark)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Seq(watermark))
}

/// The user's watermark and the marks above it and `after`.
pub(crate) async fn read_marks(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    after: Seq,
) -> Result<ReadMarks> {
    // One snapshot (repeatable read), so marks a concurrent `mark_all_read` folds into the
    // watermark are seen on one side or the other.
    let mut tx = fence::begin_in(pool, [tenant], Mode::Snapshot).await?;
    let through: i64 = sqlx::query_scalar(
        "select coalesce((select through_seq from read_watermarks where tenant = $1 and user_id = $2), 0)",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let marked: Vec<i64> = sqlx::query_scalar(
        "select seq from read_marks where tenant = $1 and user_id = $2 and seq > $3 order by seq",
    )
    .bind(tenant.as_str())
    .bind(user.as_str())
    .bind(through.max(after.0))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(ReadMarks { through: Seq(through), marked: marked.into_iter().map(Seq).collect() })
}

/// Which count: events above the read watermark not read one by one, or above the seen one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Unread,
    Unseen,
}

/// The user's exact count of unread or unseen events within `scope`, archived ones excepted.
/// Written as the events above the watermark (an index range, counted without looking at each
/// event's marks) minus those of them that are marked read or archived (few: one row each), so
/// a user who never read anything costs one range count, not a lookup per event.
async fn count_unarchived(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    scope: Option<&Scope>,
    counted: Counted,
) -> Result<u64> {
    let (t, u) = (tenant.as_str(), user.as_str());
    let watermark = match counted {
        Counted::Unread => "read_watermarks",
        Counted::Unseen => "seen_watermarks",
    };
    let mut qb: QueryBuilder<'_, Postgres> = QueryBuilder::new("select ");
    for excepted in [false, true] {
        qb.push(if excepted { " - " } else { "" });
        qb.push("(select count(*) from events e where e.tenant = ").push_bind(t);
        qb.push(" and e.seq > ");
        push_watermark_of(&mut qb, watermark, t, u);
        push_scope(&mut qb, scope);
        push_no_audit(&mut qb);
        if excepted {
            qb.push(" and e.seq in (select a.seq from archived_events a where a.tenant = ")
                .push_bind(t)
                .push(" and a.user_id = ")
                .push_bind(u);
            if counted == Counted::Unread {
                qb.push(" union select m.seq from read_marks m where m.tenant = ")
                    .push_bind(t)
                    .push(" and m.user_id = ")
                    .push_bind(u);
            }
            qb.push(")");
        }
        qb.push(")");
    }
    let mut tx = fence::begin(pool, [tenant]).await?;
    let count: i64 = qb.build_query_scalar().fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The user's exact unread count within `scope` (archived events excepted).
pub(crate) async fn unread_count(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    scope: Option<&Scope>,
) -> Result<u64> {
    count_unarchived(pool, tenant, user, scope, Counted::Unread).await
}

/// The user's exact unseen count within `scope` (archived events excepted).
pub(crate) async fn unseen_count(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    scope: Option<&Scope>,
) -> Result<u64> {
    count_unarchived(pool, tenant, user, scope, Counted::Unseen).await
}

/// Moves the seen watermark to `through` (default and at most: the head; never back).
pub(crate) async fn mark_seen(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    through: Option<Seq>,
) -> Result<Seq> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let watermark = raise_watermark(&mut tx, "seen_watermarks", tenant, user, through).await?;
    tx.commit().await?;
    Ok(Seq(watermark))
}

/// Archives or unarchives one event for the user; its position, or `None` when it is not in
/// the tenant and scope.
pub(crate) async fn set_archived(
    pool: &PgPool,
    tenant: &TenantId,
    user: &UserId,
    id: Uuid,
    scope: Option<&Scope>,
    archived: bool,
) -> Result<Option<Seq>> {
    let mut tx = fence::begin(pool, [tenant]).await?;
    let mut qb: QueryBuilder<'_, Postgres> =
        QueryBuilder::new("select e.seq from events e where e.id = ");
    qb.push_bind(id.as_bytes().as_slice()).push(" and e.tenant = ").push_bind(tenant.as_str());
    push_scope(&mut qb, scope);
    let Some(seq) = qb.build_query_scalar::<i64>().fetch_optional(&mut *tx).await? else {
        return Ok(None);
    };
    if archived {
        sqlx::query(
            "insert into archived_events (tenant, user_id, seq, archived_at)
             values ($1, $2, $3, $4) on conflict do nothing",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(seq)
        .bind(spine_core::Timestamp::now().as_micros())
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query("delete from archived_events where tenant = $1 and user_id = $2 and seq = $3")
            .bind(tenant.as_str())
            .bind(user.as_str())
            .bind(seq)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Some(Seq(seq)))
}

/// Raises the user's watermark in `table` to `through` (default and at most: the tenant's head;
/// it never moves back) inside the caller's transaction; returns the watermark.
async fn raise_watermark(
    conn: &mut sqlx::PgConnection,
    table: &'static str,
    tenant: &TenantId,
    user: &UserId,
    through: Option<Seq>,
) -> Result<i64> {
    let head: i64 =
        sqlx::query_scalar(crate::query::HEAD).bind(tenant.as_str()).fetch_one(&mut *conn).await?;
    let target = through.map_or(head, |t| t.0.clamp(0, head));
    let sql = format!(
        "insert into {table} as w (tenant, user_id, through_seq) values ($1, $2, $3)
         on conflict (tenant, user_id)
         do update set through_seq = greatest(w.through_seq, excluded.through_seq)
         returning through_seq"
    );
    let watermark = sqlx::query_scalar(&sql)
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(target)
        .fetch_one(&mut *conn)
        .await?;
    Ok(watermark)
}
