//! Stripe webhook signature verification (`Stripe-Signature`).
//!
//! From Stripe's "Verify webhook signatures manually" and its official libraries:
//!
//! - The header is a comma-separated list of `key=value` elements:
//!   `t=<Unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`.
//! - `t` is the timestamp; `v1` is the only live signature scheme. There can be several `v1`
//!   elements (while an endpoint secret is being rolled, Stripe signs with both), and a match
//!   with any of them is enough. `v0` is a test-mode scheme and, like any other unknown element,
//!   is ignored.
//! - The signed payload is `{t}.{raw body}`: the timestamp as it appears in the header, a
//!   literal `.`, then the body bytes.
//! - The signature is HMAC-SHA256 of that payload, keyed with the endpoint's signing secret as
//!   text, `whsec_` prefix included (it is not decoded), sent as lower-case hex.
//! - Compare in constant time; refuse timestamps more than the tolerance away from now. The
//!   libraries default to five minutes ([`TOLERANCE_SECS`]).

use crate::ingest::verify::{
    any_match, check_window, decode_lower_hex, header, hmac_sha256, parse_timestamp,
};
use crate::ingest::verify::{Headers, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How far `t` may be from now, either way: Stripe's default of five minutes.
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// Verifies a Stripe delivery: `secrets` are endpoint signing secrets as their UTF-8 bytes
/// (`whsec_...` as shown by Stripe), `now` is Unix seconds.
pub fn verify(
    headers: &Headers,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), VerifyError> {
    let value = header(headers, SIGNATURE_HEADER)?;
    let mut timestamp_text = None;
    let mut candidates = Vec::new();
    for (key, val) in value.split(',').filter_map(|element| element.split_once('=')) {
        match key {
            // Two timestamps make it ambiguous which one was signed.
            "t" if timestamp_text.is_some() => return Err(VerifyError::Malformed),
            "t" => timestamp_text = Some(val),
            // An entry that is not a 32-byte lower-case hex tag can never match; skip it so a
            // good sibling entry still counts.
            "v1" => candidates.extend(decode_lower_hex(val).filter(|tag| tag.len() == 32)),
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(VerifyError::Malformed)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_window(timestamp, now, TOLERANCE_SECS)?;
    let payload: [&[u8]; 3] = [timestamp_text.as_bytes(), b".", body];
    if any_match(&candidates, secrets, |secret| hmac_sha256(secret, &payload).map(Vec::from)) {
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

    // Stripe's documentation gives no complete secret/payload/signature example, so these were
    // computed offline with Python's standard library, following the documented scheme:
    // hmac.new(b"whsec_test_secret", b'1700000000.{"id":"evt_test","object":"event"}',
    //          hashlib.sha256).hexdigest()
    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_test","object":"event"}"#;
    const T: &str = "1700000000";
    const NOW: i64 = 1_700_000_000;
    const SIG: &str = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";
    // The same with key b"whsec_previous_secret".
    const OLD_SECRET: &str = "whsec_previous_secret";
    const OLD_SIG: &str = "b08282dbbceefad8e57d1451dbe92e5373e7088fd54cb1fc08881978f0e264fb";
    const ZERO_SIG: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn check(header: &str, body: &[u8], secrets: &[&str], now: i64) -> Result<(), VerifyError> {
        let headers: &Headers = &[("Stripe-Signature", header.as_bytes())];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, body, &secrets, now)
    }

    fn valid() -> String {
        format!("t={T},v1={SIG}")
    }

    /// An independent signer for the property tests: the hmac crate used directly.
    fn sign_independently(secret: &[u8], t: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(t.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn valid_passes() {
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW), Ok(()));
        // Element order does not matter, and v0 and unknown elements are ignored.
        let header = format!("v0={ZERO_SIG},v1={SIG},t={T},x=y,junk");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_content_mismatch() {
        assert_eq!(check(&valid(), BODY, &[OLD_SECRET], NOW), Err(VerifyError::Mismatch));
        // The secret is used as text: its prefix is part of the key.
        assert_eq!(check(&valid(), BODY, &["test_secret"], NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(&valid(), br#"{"id":"evt_test","object":"event "}"#, &[SECRET], NOW),
            Err(VerifyError::Mismatch)
        );
        // A different t inside the window was not the signed one.
        let header = format!("t=1700000001,v1={SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
        // v0 alone is never accepted, even when it holds the right tag.
        let header = format!("t={T},v0={SIG},v1={ZERO_SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps() {
        let max = TOLERANCE_SECS as i64;
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW + max), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW - max), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW + max + 1), Err(VerifyError::Stale));
        assert_eq!(check(&valid(), BODY, &[SECRET], NOW - max - 1), Err(VerifyError::Stale));
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            verify(&[], BODY, &[SECRET.as_bytes()], NOW),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        for header in [
            format!("v1={SIG}"),
            format!("t=,v1={SIG}"),
            format!("t=17e8,v1={SIG}"),
            format!("t={T},t={T},v1={SIG}"),
            format!("t={T}"),
            format!("t={T},v0={SIG}"),
            format!("t={T},v1={}", SIG.to_uppercase()),
            format!("t={T},v1={}", &SIG[..62]),
            format!("t={T};v1={SIG}"),
            "garbage".to_owned(),
        ] {
            assert_eq!(
                check(&header, BODY, &[SECRET], NOW),
                Err(VerifyError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        let old = format!("t={T},v1={OLD_SIG}");
        assert_eq!(check(&old, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(&valid(), BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(&old, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    #[test]
    fn several_signatures_one_valid_passes() {
        let header = format!("t={T},v1={ZERO_SIG},v1=nothex,v1={OLD_SIG},v1={SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Ok(()));
        let header = format!("t={T},v1={ZERO_SIG},v1={OLD_SIG}");
        assert_eq!(check(&header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let header = format!("t={T},v1={}", sign_independently(SECRET.as_bytes(), T, &body));
            prop_assert_eq!(check(&header, &body, &[SECRET], NOW), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(&header, &tampered, &[SECRET], NOW), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_header_byte_change_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            // The header holds both the timestamp and the signature: a change anywhere in it
            // must fail, whether it lands on `t`, a digit, `v1` or a hex character.
            let mut header = valid().into_bytes();
            let i = at.index(header.len());
            header[i] ^= flip;
            let headers: &Headers = &[("stripe-signature", &header)];
            prop_assert!(verify(headers, BODY, &[SECRET.as_bytes()], NOW).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "t=[0-9]{1,11}(,v[01]=[0-9a-f]{64}){0,3}".prop_map(String::into_bytes),
                    ],
                ),
                0..4,
            ),
            body in prop::collection::vec(any::<u8>(), 0..50),
            now in any::<i64>(),
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, &body, &[SECRET.as_bytes()], now).is_err());
        }
    }
}
