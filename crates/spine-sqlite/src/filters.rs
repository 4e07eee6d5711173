//! How feed filters and viewer scopes become SQL conditions over the `events e` alias. Every
//! condition is a bound parameter; user text never becomes SQL or FTS syntax.

use spine_core::{EventFilter, Scope, TypePattern};
use spine_store::type_prefix;
use sqlx::{QueryBuilder, Sqlite};

/// Appends the condition that leaves out the audit trail (`audit.*`): feeds, streams, counts
/// and stats show it only to a query whose type filter asks for audit types.
pub(crate) fn push_no_audit(qb: &mut QueryBuilder<'_, Sqlite>) {
    qb.push(" and not (+e.type >= 'audit.' and +e.type < 'audit/')");
}

/// Appends ` and <conditions>` for a viewer scope.
pub(crate) fn push_scope<'a>(qb: &mut QueryBuilder<'a, Sqlite>, scope: Option<&'a Scope>) {
    let Some(scope) = scope else { return };
    push_eq(qb, "e.entity_type", scope.entity_type.as_deref());
    push_eq(qb, "e.entity_id", scope.entity_id.as_deref());
    push_eq(qb, "e.actor_id", scope.actor.as_deref());
    push_types(qb, &scope.types);
    // A viewer sees the administration's audit trail only when its scope names audit types.
    if scope.types.is_empty() {
        push_no_audit(qb);
    }
}

/// Appends ` and <conditions>` for every filter except `tags`, `q` and `unread`, which the feed
/// query places itself.
pub(crate) fn push_filter<'a>(
    qb: &mut QueryBuilder<'a, Sqlite>,
    filter: &'a EventFilter,
    scope: Option<&Scope>,
) {
    push_types(qb, &filter.types);
    if spine_core::filter::hides_audit(filter, scope) {
        push_no_audit(qb);
    }
    push_eq(qb, "e.action", filter.action.map(|a| a.as_str()));
    push_eq(qb, "e.source_system", filter.source.as_deref());
    push_eq(qb, "e.actor_id", filter.actor.as_deref());
    push_eq(qb, "e.entity_type", filter.entity_type.as_deref());
    push_eq(qb, "e.entity_id", filter.entity_id.as_deref());
    push_eq(qb, "e.priority", filter.priority.map(|p| p.as_str()));
    push_eq(qb, "e.correlation_id", filter.correlation_id.as_deref());
    push_time_window(qb, filter.since.map(|t| t.as_micros()), filter.until.map(|t| t.as_micros()));
}

/// Appends `occurred_at >= since` and `occurred_at < until`.
pub(crate) fn push_time_window(
    qb: &mut QueryBuilder<'_, Sqlite>,
    since: Option<i64>,
    until: Option<i64>,
) {
    if let Some(since) = since {
        qb.push(" and e.occurred_at >= ").push_bind(since);
    }
    if let Some(until) = until {
        qb.push(" and e.occurred_at < ").push_bind(until);
    }
}

fn push_eq<'a>(qb: &mut QueryBuilder<'a, Sqlite>, column: &'static str, value: Option<&'a str>) {
    if let Some(value) = value {
        qb.push(" and ").push(column).push(" = ").push_bind(value);
    }
}

/// Appends ` and (<any of the patterns>)`; exact types become `in (...)`, a `task.` prefix a
/// range. The range is kept off the type index (`+e.type`): a family can be most of the log,
/// and sorting all of it would cost more than filtering an ordered walk.
fn push_types<'a>(qb: &mut QueryBuilder<'a, Sqlite>, patterns: &'a [TypePattern]) {
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
        match type_prefix::upper_bound(prefix) {
            Some(upper) => {
                qb.push("(+e.type >= ")
                    .push_bind(prefix.as_str())
                    .push(" and +e.type < ")
                    .push_bind(upper)
                    .push(")");
            }
            None => {
                qb.push("e.type like ")
                    .push_bind(type_prefix::like_pattern(prefix))
                    .push(" escape '\\'");
            }
        }
    }
    qb.push(")");
}

/// Turns user text into an FTS5 query that can never be a syntax error: every word (split at
/// whitespace and control characters) with a letter or digit becomes a quoted phrase (inner
/// quotes doubled), ANDed together. `None` when no word is searchable (it then matches nothing).
pub(crate) fn fts_query(text: &str) -> Option<String> {
    // Control characters separate words too: FTS5 reads a NUL as the end of the query text.
    let phrases: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .take(32)
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_are_quoted_phrases() {
        assert_eq!(fts_query("deploy  v2").as_deref(), Some("\"deploy\" \"v2\""));
        assert_eq!(fts_query("say \"hi\"").as_deref(), Some("\"say\" \"\"\"hi\"\"\""));
        assert_eq!(fts_query("* ) NEAR( \""), Some("\"NEAR(\"".to_owned()));
        assert_eq!(fts_query("* )"), None);
        assert_eq!(fts_query("dep\u{0}loy\u{1}"), Some("\"dep\" \"loy\"".to_owned()));
    }
}
