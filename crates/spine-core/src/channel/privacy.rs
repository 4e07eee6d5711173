//! What a channel keeps of the content it receives: how long any one value of a coding agent's
//! tool input or response, prompt or error may be, and extra patterns to redact on top of the
//! built-in ones (tokens, keys, passwords, `Authorization` headers, private keys). Used by the
//! `claude-code` provider; validated once when the channel is created or changed.

use crate::validation::ValidationErrors;
use regex::{NoExpand, Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// The default for [`Privacy::max_chars`].
pub const DEFAULT_MAX_CHARS: usize = 2_000;
/// The bounds of [`Privacy::max_chars`].
pub const MAX_CHARS_RANGE: std::ops::RangeInclusive<usize> = 16..=100_000;
/// How many extra patterns a channel may have.
pub const MAX_PATTERNS: usize = 32;
/// The longest pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 512;
/// The most memory one compiled pattern may take; a pattern that would need more is refused
/// (a pattern runs in time linear in the text whatever it is, so size is the only cost).
const COMPILED_LIMIT: usize = 1 << 20;

/// A channel's privacy settings as an admin sends them (`privacy` in `POST /v1/channels`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrivacyInput {
    /// The most characters kept of any one value of a tool's input or response, a prompt, an
    /// error or a notification (16-100000, default 2000); a longer value is cut and ends in `…`.
    #[cfg_attr(feature = "openapi", schema(minimum = 16, maximum = 100000))]
    pub max_chars: Option<u64>,
    /// Extra patterns (regular expressions, Rust `regex` syntax, at most 32 of up to 512 bytes)
    /// whose matches are replaced by `[redacted]`, after the built-in redaction.
    pub redact: Option<Vec<String>>,
}

/// Validated privacy settings.
#[derive(Debug, Clone)]
pub struct Privacy {
    /// The most characters kept of any one content value.
    pub max_chars: usize,
    /// The extra patterns, compiled.
    redact: Vec<Regex>,
}

impl Default for Privacy {
    fn default() -> Self {
        Self { max_chars: DEFAULT_MAX_CHARS, redact: Vec::new() }
    }
}

impl PartialEq for Privacy {
    fn eq(&self, other: &Self) -> bool {
        self.max_chars == other.max_chars && self.patterns().eq(other.patterns())
    }
}

impl PrivacyInput {
    /// Validates the settings; errors are named `privacy.max_chars` and `privacy.redact[i]`.
    pub fn validate(&self) -> Result<Privacy, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let max_chars = match self.max_chars {
            None => DEFAULT_MAX_CHARS,
            Some(n) => match usize::try_from(n).ok().filter(|n| MAX_CHARS_RANGE.contains(n)) {
                Some(n) => n,
                None => {
                    let (low, high) = (MAX_CHARS_RANGE.start(), MAX_CHARS_RANGE.end());
                    errors.push("privacy.max_chars", format!("must be {low}-{high}"));
                    DEFAULT_MAX_CHARS
                }
            },
        };
        let patterns = self.redact.as_deref().unwrap_or_default();
        if patterns.len() > MAX_PATTERNS {
            errors.push("privacy.redact", format!("at most {MAX_PATTERNS} patterns"));
        }
        let mut redact = Vec::with_capacity(patterns.len());
        for (i, pattern) in patterns.iter().enumerate().take(MAX_PATTERNS) {
            match compile(pattern) {
                Ok(regex) => redact.push(regex),
                Err(message) => errors.push(format!("privacy.redact[{i}]"), message),
            }
        }
        errors.into_result(Privacy { max_chars, redact })
    }
}

/// One pattern compiled, or why it cannot be: too long, empty, matching the empty string (it
/// would redact between every character), too big, or not a regular expression.
fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_BYTES {
        return Err(format!("must be 1-{MAX_PATTERN_BYTES} bytes"));
    }
    let regex = RegexBuilder::new(pattern)
        .size_limit(COMPILED_LIMIT)
        .dfa_size_limit(COMPILED_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "is too large once compiled".to_owned(),
            // The syntax error names the pattern's own text, never a secret of anyone else.
            e => format!("is not a regular expression: {}", one_line(&e.to_string())),
        })?;
    if regex.is_match("") {
        return Err("must not match the empty string".to_owned());
    }
    Ok(regex)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Privacy {
    /// The extra patterns as they were written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.redact.iter().map(Regex::as_str)
    }

    /// The settings as the API shows them and the stores keep them.
    pub fn to_input(&self) -> PrivacyInput {
        PrivacyInput {
            max_chars: Some(self.max_chars as u64),
            redact: Some(self.patterns().map(str::to_owned).collect()),
        }
    }

    /// The settings as a store keeps them (JSON text).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.to_input()).unwrap_or_default()
    }

    /// Settings a store kept, or why they no longer read.
    pub fn from_stored(text: &str) -> Result<Self, String> {
        let input: PrivacyInput = serde_json::from_str(text).map_err(|e| e.to_string())?;
        input.validate().map_err(|e| e.to_string())
    }

    /// `text` with every match of an extra pattern replaced by `redacted`.
    pub fn redact(&self, text: &str, redacted: &str) -> String {
        let mut text = text.to_owned();
        for regex in &self.redact {
            if regex.is_match(&text) {
                text = regex.replace_all(&text, NoExpand(redacted)).into_owned();
            }
        }
        text
    }

    /// `text` cut to [`Privacy::max_chars`] characters, ending in `…` when it was longer; a
    /// cut text cuts to itself.
    pub fn truncate(&self, text: &str) -> String {
        match text.char_indices().nth(self.max_chars) {
            None => text.to_owned(),
            Some(_) => {
                let end =
                    text.char_indices().nth(self.max_chars - 1).map_or(text.len(), |(i, _)| i);
                format!("{}…", &text[..end])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn privacy(value: serde_json::Value) -> Result<Privacy, ValidationErrors> {
        serde_json::from_value::<PrivacyInput>(value).unwrap().validate()
    }

    #[test]
    fn defaults_and_bounds() {
        let p = privacy(json!({})).unwrap();
        assert_eq!((p.max_chars, p.patterns().count()), (DEFAULT_MAX_CHARS, 0));
        let errors = privacy(
            json!({"max_chars": 3, "redact": ["", "(", "a*", "x{99999}{99999}", "ok-[0-9]+"]}),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "privacy.max_chars",
                "privacy.redact[0]",
                "privacy.redact[1]",
                "privacy.redact[2]",
                "privacy.redact[3]"
            ]
        );
        assert!(errors.0[2].message.contains("not a regular expression"), "{errors:?}");
        assert!(errors.0[3].message.contains("empty string"), "{errors:?}");
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("p{i}")).collect();
        assert!(privacy(json!({"redact": many})).is_err());
        assert!(serde_json::from_value::<PrivacyInput>(json!({"max": 5})).is_err());
    }

    #[test]
    fn redacts_every_match_and_round_trips() {
        let p =
            privacy(json!({"max_chars": 100, "redact": ["ACME-[0-9]{6}", "(?i)project falcon"]}))
                .unwrap();
        assert_eq!(
            p.redact("ship ACME-123456 and acme-1 for Project Falcon; $1", "[redacted]"),
            "ship [redacted] and acme-1 for [redacted]; $1"
        );
        let again = p.to_input().validate().unwrap();
        assert_eq!(again, p);
        assert_eq!(Privacy::from_stored(&p.to_stored()), Ok(p.clone()));
        assert_eq!(Privacy::from_stored("{}"), Ok(Privacy::default()));
        assert!(Privacy::from_stored("{\"redact\": [\"(\"]}").is_err());
        assert_eq!(serde_json::to_value(p.to_input()).unwrap()["redact"][0], "ACME-[0-9]{6}");
    }

    #[test]
    fn truncation_cuts_to_the_limit() {
        let p = privacy(json!({"max_chars": 16})).unwrap();
        assert_eq!(p.truncate("short"), "short");
        assert_eq!(p.truncate("exactly sixteen!"), "exactly sixteen!");
        let cut = p.truncate("ééééééééééééééééééé and more");
        assert_eq!((cut.chars().count(), cut.ends_with('…')), (16, true));
    }

    proptest! {
        #[test]
        fn truncation_is_bounded_and_idempotent(text in "\\PC{0,80}", max in 16usize..40) {
            let p = Privacy { max_chars: max, redact: Vec::new() };
            let cut = p.truncate(&text);
            prop_assert!(cut.chars().count() <= max);
            prop_assert_eq!(p.truncate(&cut), cut.clone());
            if text.chars().count() <= max {
                prop_assert_eq!(cut, text);
            }
        }
    }
}
