//! Type-prefix patterns (`task.*`) as the SQL backends compare them: a range of type names, or
//! a LIKE pattern when no range bound exists. Plain string work, shared so both backends bound
//! a family the same way; each writes its own SQL around it.

/// The smallest string greater than every string starting with `prefix`, when its last character
/// can simply be incremented (always so for validated, ASCII type prefixes).
pub fn upper_bound(prefix: &str) -> Option<String> {
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
pub fn like_pattern(prefix: &str) -> String {
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
    fn prefixes_become_ranges_or_escaped_patterns() {
        assert_eq!(upper_bound("task.").as_deref(), Some("task/"));
        assert_eq!(upper_bound(""), None);
        assert_eq!(like_pattern("a_b%"), "a\\_b\\%%");
    }
}
