//! The PostgreSQL side of feed conditions: how its type column is compared in prefix ranges
//! (the conditions themselves are shared: `spine_store::sql`), and the words of full-text
//! queries, where user text never becomes tsquery syntax.

use spine_store::sql::Conditions;

/// Filters and scopes as PostgreSQL writes them: prefix ranges compare bytewise
/// (`collate "C"`, as validated type names are ASCII), which the type indexes serve.
pub(crate) const CONDITIONS: Conditions = Conditions { type_range: "e.type collate \"C\"" };

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
