//! The second tenant fence: row-level security (`migrations/0002_row_security.sql`).
//!
//! Every connection switches to the database's fence role as soon as it opens (once the
//! migrations created it), and every transaction of the store begins with [`begin`], which
//! switches to that role for the transaction and names the tenants it may see. A query run
//! outside such a transaction, or one that forgot its `tenant = ...` condition, therefore sees no
//! other tenant's rows (none at all outside a fenced transaction). Only the migrations run as the
//! connecting user, who owns the tables ([`begin_owner`]).

use crate::error::Result;
use spine_core::TenantId;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// The fence role's name, computed by PostgreSQL from the database's name (as the migration
/// does).
const ROLE: &str = "'spine_fence_' || substr(md5(current_database()), 1, 20)";

/// How a fenced transaction reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The default: read committed, reads and writes.
    ReadWrite,
    /// One snapshot for every statement, no writes.
    Snapshot,
}

/// The statement that begins a transaction fenced to `tenants`: one round trip for `BEGIN`, the
/// role and the tenants. Tenant ids are `[a-z0-9_-]` (checked by `TenantId`), so they can be
/// written as a literal; quotes are still doubled so the statement could never be broken out of.
fn begin_statement<'a>(tenants: impl IntoIterator<Item = &'a TenantId>, mode: Mode) -> String {
    let list = tenants.into_iter().map(TenantId::as_str).collect::<Vec<_>>().join(",");
    let begin = match mode {
        Mode::ReadWrite => "begin",
        Mode::Snapshot => "begin isolation level repeatable read, read only",
    };
    format!(
        "{begin}; select set_config('role', {ROLE}, true), set_config('spine.tenants', '{}', true)",
        list.replace('\'', "''")
    )
}

/// A transaction that sees and writes only `tenants`' rows.
pub(crate) async fn begin<'a>(
    pool: &PgPool,
    tenants: impl IntoIterator<Item = &'a TenantId>,
) -> Result<Transaction<'static, Postgres>> {
    begin_in(pool, tenants, Mode::ReadWrite).await
}

/// [`begin`] with a [`Mode`].
pub(crate) async fn begin_in<'a>(
    pool: &PgPool,
    tenants: impl IntoIterator<Item = &'a TenantId>,
    mode: Mode,
) -> Result<Transaction<'static, Postgres>> {
    Ok(pool.begin_with(begin_statement(tenants, mode)).await?)
}

/// [`begin`] on a connection the caller holds (the writer's).
pub(crate) async fn begin_on<'c, 'a>(
    conn: &'c mut PgConnection,
    tenants: impl IntoIterator<Item = &'a TenantId>,
) -> Result<Transaction<'c, Postgres>> {
    use sqlx::Connection;
    Ok(conn.begin_with(begin_statement(tenants, Mode::ReadWrite)).await?)
}

/// A transaction as the connecting user, who owns the tables and is not fenced: migrations only.
pub(crate) async fn begin_owner(conn: &mut PgConnection) -> Result<Transaction<'_, Postgres>> {
    use sqlx::Connection;
    // Quiet: `create table if not exists` would otherwise log a notice on every start.
    Ok(conn
        .begin_with("begin; set local role none; set local client_min_messages = warning")
        .await?)
}

/// Run on every new connection: switch to the fence role if it exists and this user may use it
/// (before the first migration it does not; those connections stay as the user, and every
/// fenced transaction switches anyway).
pub(crate) async fn on_connect(conn: &mut PgConnection) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "select set_config('role', r.rolname, false) from pg_roles r
         where r.rolname = {ROLE} and pg_has_role(r.oid, 'member')"
    ))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_begin_statement_names_the_tenants_and_the_role() {
        let (a, b) = (TenantId::parse("acme").unwrap(), TenantId::parse("b-2").unwrap());
        let sql = begin_statement([&a, &b], Mode::ReadWrite);
        assert!(sql.starts_with("begin; select set_config('role', 'spine_fence_'"), "{sql}");
        assert!(sql.ends_with("set_config('spine.tenants', 'acme,b-2', true)"), "{sql}");
        let none = begin_statement([], Mode::Snapshot);
        assert!(none.starts_with("begin isolation level repeatable read, read only;"), "{none}");
        assert!(none.ends_with("set_config('spine.tenants', '', true)"), "{none}");
    }
}
