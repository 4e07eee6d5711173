//! How feed filters and viewer scopes become SQL conditions over the `events e` alias. Every
//! condition is a bound parameter; user text never becomes SQL or tsquery syntax.

use spine_core::{EventFilter, Scope, TypePattern};
use spine_store::type_prefix;
use sqlx::{Postgres, QueryBuilder};

/// Appends the condition that leaves out the audit trail (`audit.*`): feeds, streams, counts
/// and stats show it only to a query whose type filter asks for audit types.
pub(crate) fn push_no_audit(qb: &mut QueryBuilder<'_, Postgres>) {
    qb.push(" and not (e.type >= 'audit.' and e.type < 'audit/')");
}

/// Appends ` and <conditions>` for a viewer scope.
pub(crate) fn push_scope<'a>(qb: &mut QueryBuilder<'a, Postgres>, scope: Option<&'a Scope>) {
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
    qb: &mut QueryBuilder<'a, Postgres>,
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
    qb: &mut QueryBuilder<'_, Postgres>,
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

fn push_eq<'a>(qb: &mut QueryBuilder<'a, Postgres>, column: &'static str, value: Option<&'a str>) {
    if let Some(value) = value {
        qb.push(" and ").push(column).push(" = ").push_bind(value);
    }
}

/// Appends ` and (<any of the patterns>)`; exact types become `in (...)`, a `task.` prefix a
/// range (`collate "C"` so the range is bytewise, as validated type names are ASCII).
fn push_types<'a>(qb: &mut QueryBuilder<'a, Postgres>, patterns: &'a [TypePattern]) {
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
                qb.push("(e.type collate \"C\" >= ")
                    .push_bind(prefix.as_str())
                    .push(" and e.type collate \"C\" < ")
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

/// Turns user text into words for `plainto_tsquery('simple', ...)`, which reads any text as
/// plain words ANDed together and never fails on syntax. Control characters separate words
/// (PostgreSQL text cannot hold NUL); words without a letter or digit are dropped. `None` when no
/// word is searchable (it then matches nothing).
pub(crate) fn search_words(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .take(32)
        .collect();
    (!words.is_empty()).then(|| fold_diacritics(&words.join(" ")))
}

/// `text` without its diacritics (canonical decomposition, combining marks dropped), so `café`
/// and `cafe` index and search alike, as in the SQLite store (`remove_diacritics`). Applied to
/// the indexed text and to queries; `to_tsvector('simple', ...)` then folds case.
pub(crate) fn fold_diacritics(text: &str) -> String {
    use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};
    text.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_drop_punctuation_and_control_characters() {
        assert_eq!(search_words("deploy  v2").as_deref(), Some("deploy v2"));
        assert_eq!(search_words("* ) NEAR( \""), Some("NEAR(".to_owned()));
        assert_eq!(search_words("* )"), None);
        assert_eq!(search_words("dep\u{0}loy\u{1}"), Some("dep loy".to_owned()));
        assert_eq!(search_words("Café  RÉSUMÉ").as_deref(), Some("Cafe RESUME"));
        assert_eq!(fold_diacritics("Zoë ñandú Ærø"), "Zoe nandu Ærø");
    }
}
