//! SQL conditions shared by the SQL backends: how feed filters and viewer scopes become
//! conditions over the `events e` alias, for any `sqlx` database. Every value is a bound
//! parameter; user text never becomes SQL. Each backend says how its type column is compared in
//! prefix ranges ([`Conditions::type_range`]); full-text search is the backend's own.

use spine_core::{EventFilter, Scope, TypePattern};
use sqlx::{Database, Encode, QueryBuilder, Type};

/// The conditions, as one backend writes them.
#[derive(Debug, Clone, Copy)]
pub struct Conditions {
    /// The type column as compared by a `task.*` prefix range (`>=`/`<`): SQLite writes
    /// `+e.type` (kept off the type index: a family can be most of the log, and sorting all of it
    /// costs more than filtering an ordered walk); PostgreSQL `e.type collate "C"` (bytewise).
    pub type_range: &'static str,
}

impl Conditions {
    /// Appends ` and <conditions>` for a viewer scope.
    pub fn push_scope<'a, DB>(self, qb: &mut QueryBuilder<'a, DB>, scope: Option<&'a Scope>)
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        String: Encode<'a, DB> + Type<DB>,
    {
        let Some(scope) = scope else { return };
        push_eq(qb, "e.entity_type", scope.entity_type.as_deref());
        push_eq(qb, "e.entity_id", scope.entity_id.as_deref());
        push_eq(qb, "e.actor_id", scope.actor.as_deref());
        self.push_types(qb, &scope.types);
    }

    /// Appends ` and <conditions>` for every filter except `tags`, `q` and `unread`, which the feed
    /// query places itself.
    pub fn push_filter<'a, DB>(self, qb: &mut QueryBuilder<'a, DB>, filter: &'a EventFilter)
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        String: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
        self.push_types(qb, &filter.types);
        push_eq(qb, "e.action", filter.action.map(|a| a.as_str()));
        push_eq(qb, "e.source_system", filter.source.as_deref());
        push_eq(qb, "e.actor_id", filter.actor.as_deref());
        push_eq(qb, "e.entity_type", filter.entity_type.as_deref());
        push_eq(qb, "e.entity_id", filter.entity_id.as_deref());
        push_eq(qb, "e.priority", filter.priority.map(|p| p.as_str()));
        push_eq(qb, "e.correlation_id", filter.correlation_id.as_deref());
        push_time_window(
            qb,
            filter.since.map(|t| t.as_micros()),
            filter.until.map(|t| t.as_micros()),
        );
    }

    /// Appends ` and (<any of the patterns>)`; exact types become `in (...)`, a `task.` prefix a
    /// range over [`Conditions::type_range`].
    fn push_types<'a, DB>(self, qb: &mut QueryBuilder<'a, DB>, patterns: &'a [TypePattern])
    where
        DB: Database,
        &'a str: Encode<'a, DB> + Type<DB>,
        String: Encode<'a, DB> + Type<DB>,
    {
        if patterns.is_empty() {
            return;
        }
        let exact: Vec<&str> = patterns
            .iter()
            .filter_map(|p| match p {
                TypePattern::Exact(t) => Some(t.as_str()),
                TypePattern::Prefix(_) => None,
            })
            .collect();
        qb.push(" and (");
        let mut first = true;
        if !exact.is_empty() {
            qb.push("e.type in (");
            let mut list = qb.separated(", ");
            for t in exact {
                list.push_bind(t);
            }
            qb.push(")");
            first = false;
        }
        for pattern in patterns {
            let TypePattern::Prefix(prefix) = pattern else { continue };
            if !first {
                qb.push(" or ");
            }
            first = false;
            match prefix_upper_bound(prefix) {
                Some(upper) => {
                    qb.push("(")
                        .push(self.type_range)
                        .push(" >= ")
                        .push_bind(prefix.as_str())
                        .push(" and ")
                        .push(self.type_range)
                        .push(" < ")
                        .push_bind(upper)
                        .push(")");
                }
                None => {
                    qb.push("e.type like ").push_bind(like_prefix(prefix)).push(" escape '\\'");
                }
            }
        }
        qb.push(")");
    }
}

/// Appends `occurred_at >= since` and `occurred_at < until`.
pub fn push_time_window<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    since: Option<i64>,
    until: Option<i64>,
) where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
{
    if let Some(since) = since {
        qb.push(" and e.occurred_at >= ").push_bind(since);
    }
    if let Some(until) = until {
        qb.push(" and e.occurred_at < ").push_bind(until);
    }
}

fn push_eq<'a, DB>(qb: &mut QueryBuilder<'a, DB>, column: &'static str, value: Option<&'a str>)
where
    DB: Database,
    &'a str: Encode<'a, DB> + Type<DB>,
{
    if let Some(value) = value {
        qb.push(" and ").push(column).push(" = ").push_bind(value);
    }
}

/// The smallest string greater than every string starting with `prefix`, when its last character
/// can simply be incremented (always so for validated, ASCII type prefixes).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let last = prefix.chars().last()?;
    if !last.is_ascii() || last == '\u{7f}' {
        return None;
    }
    let next = char::from(u8::try_from(u32::from(last) + 1).ok()?);
    let mut upper = prefix[..prefix.len() - last.len_utf8()].to_owned();
    upper.push(next);
    Some(upper)
}

/// `prefix%` with LIKE's wildcards and the escape character escaped.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_become_ranges() {
        assert_eq!(prefix_upper_bound("task.").as_deref(), Some("task/"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(like_prefix("a_b%"), "a\\_b\\%%");
    }
}
