//! Redaction of what looks like a secret in an agent's prompts, tool inputs and outputs.
//!
//! A coding agent's hooks carry whatever the agent typed or read: a `curl -H "Authorization:
//! Bearer ..."`, an `.env` file, a private key. Before any of it becomes an event, each such
//! secret is replaced by [`REDACTED`]. Recognized, without a regex engine:
//!
//! - PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----` through its `END` line, or to
//!   the end of the text when the block is cut short);
//! - a value after a secret-sounding key and `=` or `:` (`password=`, `SECRET_KEY: `,
//!   `"api_key": "..."`, `client_secret=`...), the rest of the line for `Authorization` and
//!   `Cookie` headers;
//! - `Bearer <token>`;
//! - well-known token shapes: AWS access key ids (`AKIA`, `ASIA`), `sk-...` (OpenAI,
//!   Anthropic), Stripe `sk_live_`/`sk_test_`/`rk_live_`, GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/
//!   `ghr_`/`github_pat_`, Slack `xoxb-`/`xoxp-`/`xoxa-`/`xoxr-`/`xoxs-`/`xapp-`, GitLab
//!   `glpat-`, Google `AIza`, npm `npm_`;
//! - the password of a URL's user information (`postgres://user:secret@host`).
//!
//! Redaction is idempotent: redacted text redacts to itself. Word boundaries are judged on the
//! text already written, so a second pass sees exactly what the first one saw.

/// What a secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Key names (lower case, as substrings) whose values are secrets.
const SECRET_KEYS: [&str; 13] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "access_key",
    "private_key",
    "credential",
    "authorization",
    "cookie",
];

/// Keys whose value runs to the end of the line (HTTP headers' values hold spaces).
const LINE_KEYS: [&str; 2] = ["authorization", "cookie"];

/// Token prefixes and the shortest whole token each needs to count as a secret.
const TOKEN_PREFIXES: [(&str, usize); 24] = [
    ("AKIA", 20),
    ("ASIA", 20),
    ("sk-", 20),
    ("sk_live_", 20),
    ("sk_test_", 20),
    ("rk_live_", 20),
    ("rk_test_", 20),
    ("ghp_", 20),
    ("gho_", 20),
    ("ghu_", 20),
    ("ghs_", 20),
    ("ghr_", 20),
    ("github_pat_", 30),
    ("xoxb-", 15),
    ("xoxp-", 15),
    ("xoxa-", 15),
    ("xoxr-", 15),
    ("xoxs-", 15),
    ("xapp-", 15),
    ("glpat-", 20),
    ("AIza", 30),
    ("npm_", 30),
    ("pypi-", 30),
    ("hf_", 30),
];

/// Whether a key name sounds like it holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|k| key.contains(k))
}

/// Characters of a word: key names and tokens.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Characters that end a value.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ',' | ';' | '&' | '<' | '>' | ')' | '}')
}

/// `text` with every secret it recognizes replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    scan(&redact_pem(text))
}

/// Replaces PEM private key blocks.
fn redact_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + "-----BEGIN ".len()..];
        // The label is short: looking further would make many `BEGIN`s cost quadratic time.
        let window = (0..=56.min(after.len())).rev().find(|&i| after.is_char_boundary(i));
        let label_len = after[..window.unwrap_or(0)]
            .find("PRIVATE KEY-----")
            .filter(|&len| after[..len].chars().all(|c| c.is_ascii_uppercase() || c == ' '));
        let Some(label_len) = label_len else {
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        };
        out.push_str(&rest[..at]);
        out.push_str(REDACTED);
        let body = &after[label_len + "PRIVATE KEY-----".len()..];
        rest = match body.find("-----END ") {
            Some(end) => {
                let footer = &body[end..];
                match footer.find("PRIVATE KEY-----") {
                    Some(close) => &footer[close + "PRIVATE KEY-----".len()..],
                    None => "",
                }
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// The left-to-right scan for keys, bearer tokens, token shapes and URL passwords.
fn scan(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let at_word_start = is_word(c) && !out.chars().next_back().is_some_and(is_word);
        if at_word_start {
            if let Some(len) = token(rest) {
                out.push_str(REDACTED);
                rest = &rest[len..];
                continue;
            }
            if let Some(len) = bearer(rest, &mut out) {
                rest = &rest[len..];
                continue;
            }
            if let Some(len) = key_value(rest, &mut out) {
                rest = &rest[len..];
                continue;
            }
        }
        if rest.starts_with("://") {
            let len = url_password(rest, &mut out);
            rest = &rest[len..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of the word starting `text` when it has a secret token's shape.
fn token(text: &str) -> Option<usize> {
    let len = text.find(|c: char| !is_word(c)).unwrap_or(text.len());
    let word = &text[..len];
    TOKEN_PREFIXES
        .iter()
        .any(|(prefix, min)| word.starts_with(prefix) && word.len() >= *min)
        .then_some(len)
}

/// `Bearer <token>`: writes the word and the redaction, answers how much was read.
fn bearer(text: &str, out: &mut String) -> Option<usize> {
    let word = text.get(..6).filter(|w| w.eq_ignore_ascii_case("bearer"))?;
    let after = &text[6..];
    let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
    if spaces == 0 {
        return None;
    }
    let value = &after[spaces..];
    let len = value.find(ends_value).unwrap_or(value.len());
    if len < 8 || value.starts_with(REDACTED) {
        return None;
    }
    out.push_str(word);
    out.push(' ');
    out.push_str(REDACTED);
    Some(6 + spaces + len)
}

/// `<secret key> = value` (or `:`, quoted or not): writes the key, separator and redaction,
/// answers how much was read. A value already redacted is left for the scan to copy.
fn key_value(text: &str, out: &mut String) -> Option<usize> {
    let key_len = text.find(|c: char| !is_word(c)).unwrap_or(text.len());
    let key = &text[..key_len];
    if !is_secret_key(key) {
        return None;
    }
    let mut at = key_len;
    let rest = &text[at..];
    if rest.starts_with(['"', '\'']) {
        at += 1;
    }
    at += text[at..].len() - text[at..].trim_start_matches([' ', '\t']).len();
    if !text[at..].starts_with(['=', ':']) {
        return None;
    }
    at += 1;
    at += text[at..].len() - text[at..].trim_start_matches([' ', '\t']).len();
    let quote = text[at..].chars().next().filter(|c| matches!(c, '"' | '\'' | '`'));
    if quote.is_some() {
        at += 1;
    }
    let value = &text[at..];
    if value.starts_with(REDACTED) {
        return None;
    }
    let lowered = key.to_ascii_lowercase();
    let len = if LINE_KEYS.iter().any(|k| lowered.contains(k)) {
        value.find(['\n', '\r', '"', '\'', '`']).unwrap_or(value.len())
    } else if let Some(quote) = quote {
        quoted_len(value, quote)
    } else {
        let first = value.find(ends_value).unwrap_or(value.len());
        let word = &value[..first];
        // `token: Bearer abc` hides the token behind its scheme.
        if ["bearer", "basic", "token"].iter().any(|s| word.eq_ignore_ascii_case(s)) {
            let after = &value[first..];
            let spaces = after.len() - after.trim_start_matches([' ', '\t']).len();
            let next = &after[spaces..];
            first + spaces + next.find(ends_value).unwrap_or(next.len())
        } else {
            first
        }
    };
    if value[..len].trim().is_empty() {
        return None;
    }
    out.push_str(&text[..at]);
    out.push_str(REDACTED);
    Some(at + len)
}

/// The length of a quoted value up to its closing `quote` (a backslash escapes one
/// character) or the end of the line.
fn quoted_len(value: &str, quote: char) -> usize {
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\n' | '\r' => return i,
            c if c == quote => return i,
            _ => {}
        }
    }
    value.len()
}

/// `://user:password@`: writes the scheme separator, the user and the redaction in place of
/// the password, answers how much was read (just `://` when there is no password).
fn url_password(text: &str, out: &mut String) -> usize {
    out.push_str("://");
    let authority = &text[3..];
    let end = authority
        .find(|c: char| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | '`' | '?' | '#'))
        .unwrap_or(authority.len());
    let authority = &authority[..end];
    let Some(at) = authority.rfind('@') else { return 3 };
    let Some(colon) = authority[..at].find(':') else { return 3 };
    let password = &authority[colon + 1..at];
    if password.is_empty() || password == REDACTED {
        return 3;
    }
    // The user is scanned on its own, as a later pass would see it beside the redaction.
    out.push_str(&scan(&authority[..colon]));
    out.push(':');
    out.push_str(REDACTED);
    3 + at
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn headers_and_bearer_tokens() {
        assert_eq!(
            redact(r#"curl -H "Authorization: Bearer abc.def.ghi" https://api.example.com"#),
            r#"curl -H "Authorization: [redacted]" https://api.example.com"#
        );
        assert_eq!(redact("Cookie: sid=1; theme=dark\nnext"), "Cookie: [redacted]\nnext");
        assert_eq!(redact("use bearer eyJhbGciOiJIUzI1NiJ9 now"), "use bearer [redacted] now");
        assert_eq!(redact("the bearer of news"), "the bearer of news");
    }

    #[test]
    fn keys_that_sound_secret() {
        assert_eq!(redact("password=hunter2 next"), "password=[redacted] next");
        assert_eq!(
            redact("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\nREGION=eu"),
            "AWS_SECRET_ACCESS_KEY=[redacted]\nREGION=eu"
        );
        assert_eq!(
            redact(r#"{"api_key": "k-123", "id": 7}"#),
            r#"{"api_key": "[redacted]", "id": 7}"#
        );
        assert_eq!(redact("token: Bearer abc123"), "token: [redacted]");
        assert_eq!(redact("db_password :  'p w'"), "db_password :  '[redacted]'");
        assert_eq!(
            redact(r#"{"password": "a\"b", "x": 1}"#),
            r#"{"password": "[redacted]", "x": 1}"#
        );
        assert_eq!(redact("author: Ana"), "author: Ana");
        assert_eq!(redact("password="), "password=");
    }

    #[test]
    fn token_shapes() {
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "sk-ant-api03-abcdefghijklmnop",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "xoxb-123456789012-abcdefghij",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        ] {
            assert_eq!(redact(&format!("key {secret}, ok")), "key [redacted], ok", "{secret}");
        }
        assert_eq!(redact("desk-lamp task-runner sk-short"), "desk-lamp task-runner sk-short");
    }

    #[test]
    fn private_keys_and_url_passwords() {
        let pem = "a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nb";
        assert_eq!(redact(pem), "a\n[redacted]\nb");
        assert_eq!(redact("-----BEGIN PRIVATE KEY-----\nMIIE"), "[redacted]");
        assert_eq!(redact("-----BEGIN CERTIFICATE-----"), "-----BEGIN CERTIFICATE-----");
        assert_eq!(
            redact("DATABASE_URL=postgres://app:s3cr3t@db:5432/app"),
            "DATABASE_URL=postgres://app:[redacted]@db:5432/app"
        );
        assert_eq!(redact("see https://example.com/a@b"), "see https://example.com/a@b");
    }

    #[test]
    fn hostile_repetitions_stay_linear() {
        for unit in
            ["-----BEGIN ", "password=", "://a:", "Bearer ", "a", "-----BEGIN PRIVATE KEY-----"]
        {
            let text = unit.repeat(200_000 / unit.len());
            let once = redact(&text);
            assert_eq!(redact(&once), once);
        }
    }

    /// Secrets of each recognized kind, with the part that must never survive.
    fn secret() -> impl Strategy<Value = (String, String)> {
        let word = |re: &'static str| re.prop_map(|s: String| s);
        prop_oneof![
            word("[A-Z0-9]{16}").prop_map(|s| (format!("AKIA{s}"), format!("AKIA{s}"))),
            word("[A-Za-z0-9]{20,40}").prop_map(|s| (format!("sk-{s}"), s)),
            word("[A-Za-z0-9]{36}").prop_map(|s| (format!("ghp_{s}"), s)),
            word("[0-9]{10}-[A-Za-z0-9]{10,24}").prop_map(|s| (format!("xoxb-{s}"), s)),
            word("[A-Za-z0-9!@#$%^*]{8,20}").prop_map(|s| (format!("password={s}"), s)),
            word("[A-Za-z0-9]{8,20}").prop_map(|s| (format!("MY_SECRET=\"{s}\""), s)),
            word("[A-Za-z0-9._-]{12,40}").prop_map(|s| (format!("Authorization: Bearer {s}"), s)),
            word("[A-Za-z0-9+/]{16,64}").prop_map(|s| (
                format!("-----BEGIN EC PRIVATE KEY-----\n{s}\n-----END EC PRIVATE KEY-----"),
                s
            )),
        ]
    }

    proptest! {
        #[test]
        fn redaction_is_idempotent(text in "(?s).{0,120}") {
            let once = redact(&text);
            prop_assert_eq!(redact(&once), once.clone());
        }

        #[test]
        fn redaction_of_secret_shaped_text_is_idempotent(
            parts in prop::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9 =:_.@/\n\"'-]{0,12}",
                    Just("password=".to_owned()), Just("Bearer ".to_owned()),
                    Just("AKIA".to_owned()), Just("[redacted]".to_owned()),
                    Just("://u:".to_owned()), Just("-----BEGIN RSA PRIVATE KEY-----".to_owned()),
                    Just("-----END RSA PRIVATE KEY-----".to_owned()),
                    Just("Authorization: ".to_owned()), Just("ghp_".to_owned()),
                ],
                0..8,
            ),
        ) {
            let text = parts.concat();
            let once = redact(&text);
            prop_assert_eq!(redact(&once), once.clone(), "from {:?}", text);
        }

        #[test]
        fn an_embedded_secret_never_survives(
            (secret, core) in secret(),
            before in "[a-zA-Z0-9 .,:=_-]{0,30}",
            after in "[a-zA-Z0-9 .,:=_-]{0,30}",
        ) {
            let text = format!("{before} {secret}\n{after}");
            let redacted = redact(&text);
            prop_assert!(!redacted.contains(&core), "{:?} -> {:?}", text, redacted);
            prop_assert!(redacted.contains(REDACTED));
        }
    }
}
