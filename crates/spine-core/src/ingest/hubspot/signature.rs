//! HubSpot v3 request signature verification (`X-HubSpot-Signature-v3`).
//!
//! From HubSpot's "Validating requests" (v3 signature) and its changelog entry introducing it:
//!
//! - Two headers: `X-HubSpot-Signature-v3`, the standard base64 of an HMAC-SHA256 tag, and
//!   `X-HubSpot-Request-Timestamp`, Unix time in **milliseconds**.
//! - Refuse the request if the timestamp is older than five minutes ([`TOLERANCE_MS`]); this
//!   module bounds the future side too, by the same amount.
//! - The signed string is UTF-8 `method + uri + body + timestamp`: the HTTP method (`POST`),
//!   the full request URI HubSpot called (scheme, host, path and query), the raw body and the
//!   timestamp header's text, with no separators.
//! - Before signing, the URI has these percent-escapes decoded: `%3A` `:`, `%2F` `/`, `%3F` `?`,
//!   `%40` `@`, `%21` `!`, `%24` `$`, `%27` `'`, `%28` `(`, `%29` `)`, `%2A` `*`, `%2C` `,`,
//!   `%3B` `;`. [`verify`] applies that decoding itself, so the caller passes the URI as
//!   received. Other escapes are left as they are.
//! - The key is the app's client secret as text. Compare in constant time.
//!
//! The older v1 and v2 signatures (`X-HubSpot-Signature`, plain SHA-256 with the secret
//! prepended, no timestamp) are not accepted.

use crate::ingest::verify::{
    any_match, check_window, header, hmac_sha256, parse_timestamp, Headers, VerifyError,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
/// The timestamp header, Unix milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
/// How far the timestamp may be from now, either way: five minutes, in milliseconds.
pub const TOLERANCE_MS: u64 = 5 * 60 * 1000;

/// The escapes HubSpot's documentation says to decode in the URI before signing.
const DECODED_ESCAPES: [(&str, char); 12] = [
    ("3A", ':'),
    ("2F", '/'),
    ("3F", '?'),
    ("40", '@'),
    ("21", '!'),
    ("24", '$'),
    ("27", '\''),
    ("28", '('),
    ("29", ')'),
    ("2A", '*'),
    ("2C", ','),
    ("3B", ';'),
];

/// The URI as HubSpot signs it: the documented escapes decoded (hex digits in either case, as
/// percent-encoding is case-insensitive), everything else unchanged.
pub fn signed_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3);
        let decoded = escape.and_then(|hex| {
            DECODED_ESCAPES.iter().find(|(code, _)| code.eq_ignore_ascii_case(hex)).map(|e| e.1)
        });
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Verifies a HubSpot v3 request: `method` and `uri` as received (see [`signed_uri`]),
/// `secrets` are client secrets as UTF-8 bytes, `now` is Unix seconds.
pub fn verify(
    headers: &Headers,
    method: &str,
    uri: &str,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), VerifyError> {
    let signature = header(headers, SIGNATURE_HEADER)?;
    let timestamp_text = header(headers, TIMESTAMP_HEADER)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    let tag = STANDARD
        .decode(signature)
        .ok()
        .filter(|tag| tag.len() == 32)
        .ok_or(VerifyError::Malformed)?;
    check_window(timestamp, now.saturating_mul(1000), TOLERANCE_MS)?;
    let uri = signed_uri(uri);
    let content: [&[u8]; 4] = [method.as_bytes(), uri.as_bytes(), body, timestamp_text.as_bytes()];
    if any_match(&[tag], secrets, |secret| hmac_sha256(secret, &content).map(Vec::from)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    // HubSpot's documentation gives no v3 example with secret and expected signature, so these
    // were computed offline with Python's standard library, following the documented scheme:
    // base64.b64encode(hmac.new(b"hubspot-client-secret",
    //   b'POSThttps://example.com/webhook?x=1[{"eventId":1}]1700000000123',
    //   hashlib.sha256).digest())
    const SECRET: &str = "hubspot-client-secret";
    const URI: &str = "https://example.com/webhook?x=1";
    const BODY: &[u8] = br#"[{"eventId":1}]"#;
    const TS: &str = "1700000000123";
    const NOW: i64 = 1_700_000_000;
    const SIG: &str = "9SvCBNfECBgNjlPOJqQq06x8O0rnbylP1BablkGD+qo=";
    // The same content with key b"hubspot-old-secret".
    const OLD_SECRET: &str = "hubspot-old-secret";
    const OLD_SIG: &str = "21xHA+PI0SjjJdzubfAIRIJ6s/h0Z1yT+FEhBEQhOTU=";
    // Signed over the decoded URI 'https://example.com/hook?email=a@b.c&t=(x)', same body,
    // timestamp and SECRET.
    const DECODED_SIG: &str = "VLJGom3eyn+Ewrnb6lHQMq7w8H+WplBoSGBwCjHMdM0=";

    fn check(
        sig: &str,
        ts: &str,
        method: &str,
        uri: &str,
        body: &[u8],
        secrets: &[&str],
        now: i64,
    ) -> Result<(), VerifyError> {
        let headers: &Headers = &[
            ("X-HubSpot-Signature-v3", sig.as_bytes()),
            ("X-HubSpot-Request-Timestamp", ts.as_bytes()),
        ];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, method, uri, body, &secrets, now)
    }

    /// An independent signer for the property tests: the hmac crate used directly.
    fn sign_independently(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("POST{URI}").as_bytes());
        mac.update(body);
        mac.update(TS.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn valid_passes() {
        assert_eq!(check(SIG, TS, "POST", URI, BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn documented_escapes_are_decoded_before_signing() {
        assert_eq!(
            signed_uri("https://example.com/hook?email=a%40b.c&t=%28x%29"),
            "https://example.com/hook?email=a@b.c&t=(x)"
        );
        assert_eq!(signed_uri("a%2a%2A%20%zz%"), "a**%20%zz%");
        assert_eq!(signed_uri("%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B"), ":/?@!$'()*,;");
        let uri = "https://example.com/hook?email=a%40b.c&t=%28x%29";
        assert_eq!(check(DECODED_SIG, TS, "POST", uri, BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_content_mismatch() {
        let m = Err(VerifyError::Mismatch);
        assert_eq!(check(SIG, TS, "POST", URI, BODY, &[OLD_SECRET], NOW), m);
        assert_eq!(check(SIG, TS, "POST", URI, br#"[{"eventId":2}]"#, &[SECRET], NOW), m);
        assert_eq!(check(SIG, TS, "GET", URI, BODY, &[SECRET], NOW), m);
        assert_eq!(
            check(SIG, TS, "POST", "https://example.com/webhook?x=2", BODY, &[SECRET], NOW),
            m
        );
        assert_eq!(check(SIG, "1700000000124", "POST", URI, BODY, &[SECRET], NOW), m);
    }

    #[test]
    fn stale_and_future_timestamps() {
        // The timestamp is 123 ms past NOW, so the window edges sit in whole seconds around it.
        assert_eq!(check(SIG, TS, "POST", URI, BODY, &[SECRET], NOW + 300), Ok(()));
        assert_eq!(check(SIG, TS, "POST", URI, BODY, &[SECRET], NOW - 299), Ok(()));
        assert_eq!(
            check(SIG, TS, "POST", URI, BODY, &[SECRET], NOW + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            check(SIG, TS, "POST", URI, BODY, &[SECRET], NOW - 300),
            Err(VerifyError::Stale)
        );
        // Seconds where milliseconds belong are far in the past.
        assert_eq!(
            check(SIG, "1700000000", "POST", URI, BODY, &[SECRET], NOW),
            Err(VerifyError::Stale)
        );
    }

    #[test]
    fn missing_and_malformed_headers() {
        let secrets: &[&[u8]] = &[SECRET.as_bytes()];
        assert_eq!(
            verify(
                &[("x-hubspot-request-timestamp", TS.as_bytes())],
                "POST",
                URI,
                BODY,
                secrets,
                NOW
            ),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&[("x-hubspot-signature-v3", SIG.as_bytes())], "POST", URI, BODY, secrets, NOW),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        for (sig, ts) in [
            ("not base64!", TS),
            ("AAAA", TS),
            ("9SvCBNfECBgNjlPOJqQq06x8O0rnbylP1BablkGD+qo", TS),
            (SIG, "1700000000123.0"),
            (SIG, "-1700000000123"),
            (SIG, "now"),
        ] {
            assert_eq!(
                check(sig, ts, "POST", URI, BODY, &[SECRET], NOW),
                Err(VerifyError::Malformed)
            );
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        assert_eq!(check(SIG, TS, "POST", URI, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(OLD_SIG, TS, "POST", URI, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(
            check(OLD_SIG, TS, "POST", URI, BODY, &[SECRET], NOW),
            Err(VerifyError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign_independently(SECRET.as_bytes(), &body);
            prop_assert_eq!(check(&sig, TS, "POST", URI, &body, &[SECRET], NOW), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(
                check(&sig, TS, "POST", URI, &tampered, &[SECRET], NOW),
                Err(VerifyError::Mismatch)
            );
        }

        #[test]
        fn any_timestamp_or_signature_byte_change_fails(
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            in_signature in any::<bool>(),
        ) {
            let (mut ts, mut sig) = (TS.as_bytes().to_vec(), SIG.as_bytes().to_vec());
            let target = if in_signature { &mut sig } else { &mut ts };
            let i = at.index(target.len());
            target[i] ^= flip;
            let headers: &Headers =
                &[("x-hubspot-signature-v3", &sig), ("x-hubspot-request-timestamp", &ts)];
            prop_assert!(verify(headers, "POST", URI, BODY, &[SECRET.as_bytes()], NOW).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, TIMESTAMP_HEADER, "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "[0-9]{1,14}".prop_map(String::into_bytes),
                        "[A-Za-z0-9+/]{43}=".prop_map(String::into_bytes),
                    ],
                ),
                0..5,
            ),
            uri in ".{0,40}",
            body in prop::collection::vec(any::<u8>(), 0..50),
            now in any::<i64>(),
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, "POST", &uri, &body, &[SECRET.as_bytes()], now).is_err());
            let _ = signed_uri(&uri);
        }
    }
}
