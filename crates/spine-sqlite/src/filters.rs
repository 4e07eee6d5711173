//! The SQLite side of feed conditions: how its type column is compared in prefix ranges (the
//! conditions themselves are shared: `spine_store::sql`), and full-text queries for FTS5, where
//! user text never becomes FTS syntax.

use spine_store::sql::Conditions;

/// Filters and scopes as SQLite writes them. The prefix range is kept off the type index
/// (`+e.type`): a family can be most of the log, and sorting all of it would cost more than
/// filtering an ordered walk.
pub(crate) const CONDITIONS: Conditions = Conditions { type_range: "+e.type" };

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
