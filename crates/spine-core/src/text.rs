//! How free text is cleaned and bounded: stored as given, trimmed, with control characters other
//! than newline and tab removed. Spine never interprets HTML; output escaping is the renderer's job.

/// Trims and removes control characters other than `\n` and `\t`.
pub fn clean(input: &str) -> String {
    input.trim().chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// Cleans `input` and checks its length in characters is within `min..=max`.
pub fn bounded(input: &str, min: usize, max: usize) -> Result<String, String> {
    let cleaned = clean(input);
    let len = cleaned.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(cleaned)
}

/// True when `s` matches `^[a-z0-9][a-z0-9_.:-]{0,max-1}$`: the vocabulary of types and slugs.
pub fn is_dotted_name(s: &str, max: usize) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_controls_but_keeps_newlines_and_tabs() {
        assert_eq!(clean("  a\u{0}b\u{7}c\nd\te \r "), "abc\nd\te");
    }

    #[test]
    fn bounded_counts_characters_not_bytes() {
        assert!(bounded("ééé", 1, 3).is_ok());
        assert!(bounded("éééé", 1, 3).is_err());
        assert!(bounded("   ", 1, 3).is_err());
    }

    #[test]
    fn dotted_names() {
        assert!(is_dotted_name("task.created", 128));
        assert!(is_dotted_name("lead.high_intent:v2-x", 128));
        assert!(!is_dotted_name("Task", 128));
        assert!(!is_dotted_name(".task", 128));
        assert!(!is_dotted_name("", 128));
        assert!(!is_dotted_name("a b", 128));
        assert!(!is_dotted_name(&"a".repeat(129), 128));
    }
}
