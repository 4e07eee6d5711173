//! Twilio request signature verification (`X-Twilio-Signature`).
//!
//! From Twilio's "Secure webhooks" (validating signatures manually):
//!
//! - Start from the full URL Twilio requested, scheme through the end of the query string.
//! - For a POST, sort the form parameters by name (case-sensitive, byte order) and append each
//!   name immediately followed by its value, with no delimiters.
//! - Sign that string with HMAC-SHA1 keyed by the account's auth token (case matters), encode
//!   the 20-byte tag in standard base64 and compare it, in constant time, with the header.
//! - There is no signed timestamp: this scheme cannot refuse a replay by itself.
//!
//! The caller passes the URL exactly as configured in Twilio and the form pairs already
//! percent-decoded. A name given more than once is ordered by value too, so the result does
//! not depend on the order the caller collected them in. Not covered here: JSON bodies (Twilio
//! signs the URL with a `bodySHA256` query parameter instead of form pairs) and the
//! HMAC-SHA256 variant of Twilio's webhook rules.

use crate::ingest::verify::{any_match, header, Headers, VerifyError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// HMAC-SHA1 of the URL then each sorted `name` + `value`; `None` only if HMAC refused the
/// key, which it never does.
fn tag(token: &[u8], url: &str, sorted: &[(&str, &str)]) -> Option<Vec<u8>> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(token).ok()?;
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    Some(mac.finalize().into_bytes().to_vec())
}

/// Verifies a Twilio request: `url` as Twilio called it, `params` the decoded POST form pairs
/// (empty for a GET), `secrets` auth tokens as UTF-8 bytes.
pub fn verify(
    headers: &Headers,
    url: &str,
    params: &[(&str, &str)],
    secrets: &[&[u8]],
) -> Result<(), VerifyError> {
    let signature = header(headers, SIGNATURE_HEADER)?;
    let candidate = STANDARD
        .decode(signature)
        .ok()
        .filter(|tag| tag.len() == 20)
        .ok_or(VerifyError::Malformed)?;
    let mut sorted = params.to_vec();
    sorted.sort_unstable();
    if any_match(&[candidate], secrets, |token| tag(token, url, &sorted)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Twilio's documented example: this auth token, URL and POST parameters give this
    // signature (reproduced offline with Python's hmac/hashlib/base64 before writing it here).
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ];
    const SIG: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
    // The same URL and parameters signed with token "54321", computed offline with Python.
    const OLD_TOKEN: &str = "54321";
    const OLD_SIG: &str = "oUaFiQ42FBvRs15aJJnPFzSc0MY=";

    fn check(
        sig: &str,
        url: &str,
        params: &[(&str, &str)],
        tokens: &[&str],
    ) -> Result<(), VerifyError> {
        let headers: &Headers = &[("X-Twilio-Signature", sig.as_bytes())];
        let tokens: Vec<&[u8]> = tokens.iter().map(|s| s.as_bytes()).collect();
        verify(headers, url, params, &tokens)
    }

    /// An independent signer for the property tests: builds the documented string first, then
    /// one HMAC-SHA1 over it, with the hmac and sha1 crates used directly.
    fn sign_independently(token: &[u8], url: &str, params: &[(&str, &str)]) -> String {
        let mut pairs: Vec<_> = params.to_vec();
        pairs.sort();
        let mut s = url.to_owned();
        for (k, v) in pairs {
            s.push_str(k);
            s.push_str(v);
        }
        let mut mac = Hmac::<Sha1>::new_from_slice(token).unwrap();
        mac.update(s.as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn documented_example_passes_in_any_parameter_order() {
        assert_eq!(check(SIG, URL, &PARAMS, &[TOKEN]), Ok(()));
        let mut reversed = PARAMS;
        reversed.reverse();
        assert_eq!(check(SIG, URL, &reversed, &[TOKEN]), Ok(()));
    }

    #[test]
    fn wrong_token_and_tampered_request_mismatch() {
        let m = Err(VerifyError::Mismatch);
        assert_eq!(check(SIG, URL, &PARAMS, &[OLD_TOKEN]), m);
        assert_eq!(check(SIG, "https://mycompany.com/myapp.php?foo=1&bar=3", &PARAMS, &[TOKEN]), m);
        assert_eq!(check(SIG, URL, &PARAMS[..4], &[TOKEN]), m);
        let mut changed = PARAMS;
        changed[2] = ("Digits", "1235");
        assert_eq!(check(SIG, URL, &changed, &[TOKEN]), m);
        // Sorting is case-sensitive and names are not case-folded.
        let mut renamed = PARAMS;
        renamed[2] = ("digits", "1234");
        assert_eq!(check(SIG, URL, &renamed, &[TOKEN]), m);
        // The token's case matters.
        assert_eq!(check(SIG, URL, &PARAMS, &["12345 "]), m);
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            verify(&[], URL, &PARAMS, &[TOKEN.as_bytes()]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        for sig in [
            "",
            "not base64",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ",
            "AAAA",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=AAAA",
        ] {
            assert_eq!(check(sig, URL, &PARAMS, &[TOKEN]), Err(VerifyError::Malformed), "{sig}");
        }
    }

    #[test]
    fn rotation_both_tokens_pass() {
        assert_eq!(check(SIG, URL, &PARAMS, &[TOKEN, OLD_TOKEN]), Ok(()));
        assert_eq!(check(OLD_SIG, URL, &PARAMS, &[TOKEN, OLD_TOKEN]), Ok(()));
        assert_eq!(check(OLD_SIG, URL, &PARAMS, &[TOKEN]), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_parameter_byte_change_fails(
            params in prop::collection::vec(("[A-Za-z]{1,6}", "[ -~]{1,12}"), 1..6),
            which in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            bump in 1u8..95,
            in_name in any::<bool>(),
        ) {
            let pairs: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let sig = sign_independently(TOKEN.as_bytes(), URL, &pairs);
            prop_assert_eq!(check(&sig, URL, &pairs, &[TOKEN]), Ok(()));
            // Change one byte of one name or value to another printable ASCII byte, so the
            // result stays valid text.
            let mut params = params.clone();
            let i = which.index(params.len());
            let target = if in_name { &mut params[i].0 } else { &mut params[i].1 };
            let mut bytes = std::mem::take(target).into_bytes();
            let j = at.index(bytes.len());
            bytes[j] = b' ' + (bytes[j] - b' ' + bump) % 95;
            *target = String::from_utf8(bytes).unwrap();
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            // Rewriting a name can, rarely, only reorder the concatenation into the same
            // string; the independent signer says whether the signed string really changed.
            prop_assume!(sign_independently(TOKEN.as_bytes(), URL, &pairs) != sig);
            prop_assert_eq!(check(&sig, URL, &pairs, &[TOKEN]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_signature_byte_change_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut sig = SIG.as_bytes().to_vec();
            let i = at.index(sig.len());
            sig[i] ^= flip;
            let headers: &Headers = &[("x-twilio-signature", &sig)];
            prop_assert!(verify(headers, URL, &PARAMS, &[TOKEN.as_bytes()]).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..60),
                        "[A-Za-z0-9+/]{27}=".prop_map(String::into_bytes),
                    ],
                ),
                0..4,
            ),
            url in ".{0,40}",
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, &url, &PARAMS, &[TOKEN.as_bytes()]).is_err());
        }
    }
}
