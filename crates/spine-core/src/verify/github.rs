//! GitHub webhook signature verification (`X-Hub-Signature-256`).
//!
//! From GitHub's "Validating webhook deliveries":
//!
//! - The header `X-Hub-Signature-256` is `sha256=` followed by the lower-case hex HMAC-SHA256
//!   of the raw payload body ("the hash signature always starts with `sha256=`").
//! - The key is the webhook's secret token, as its UTF-8 bytes.
//! - Compare in constant time, never with `==`.
//! - There is no signed timestamp, so this scheme cannot refuse a replay by itself: callers
//!   should de-duplicate on the `X-GitHub-Delivery` id. The legacy SHA-1 `X-Hub-Signature`
//!   header is not accepted.
//!
//! GitHub sends one signature per delivery; rotation is handled by passing the new and the old
//! secret while the webhook's setting changes over.

use super::{any_match, decode_lower_hex, header, hmac_sha256, Headers, VerifyError};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Verifies a GitHub delivery against the webhook `secrets` (UTF-8 bytes of each token).
pub fn verify(headers: &Headers, body: &[u8], secrets: &[&[u8]]) -> Result<(), VerifyError> {
    let value = header(headers, SIGNATURE_HEADER)?;
    let tag = value
        .strip_prefix("sha256=")
        .and_then(decode_lower_hex)
        .filter(|tag| tag.len() == 32)
        .ok_or(VerifyError::Malformed)?;
    if any_match(&[tag], secrets, |secret| hmac_sha256(secret, &[body]).map(Vec::from)) {
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
    use sha2::Sha256;

    // GitHub's documented test values ("Testing the webhook payload validation").
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    // Computed offline with Python's standard library:
    // hmac.new(b"previous secret", b"Hello, World!", hashlib.sha256).hexdigest()
    const OLD_SECRET: &str = "previous secret";
    const OLD_SIG: &str = "sha256=cee9dc257995e894f9f166188c62ad732e87d501db6798810256f4c9102d87e3";

    fn check(sig: &str, body: &[u8], secrets: &[&str]) -> Result<(), VerifyError> {
        let headers: &Headers = &[("X-Hub-Signature-256", sig.as_bytes())];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, body, &secrets)
    }

    /// An independent signer for the property tests: the hmac crate used directly.
    fn sign_independently(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    #[test]
    fn documented_example_passes() {
        assert_eq!(check(SIG, BODY, &[SECRET]), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_body_mismatch() {
        assert_eq!(check(SIG, BODY, &[OLD_SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, b"Hello, World?", &[SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, b"Hello, World! ", &[SECRET]), Err(VerifyError::Mismatch));
        assert_eq!(check(SIG, BODY, &[]), Err(VerifyError::Mismatch));
    }

    #[test]
    fn missing_and_malformed_headers() {
        assert_eq!(
            verify(&[], BODY, &[SECRET.as_bytes()]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        // The legacy SHA-1 header does not stand in for the SHA-256 one.
        let legacy: &Headers =
            &[("X-Hub-Signature", b"sha1=0000000000000000000000000000000000000000")];
        assert_eq!(
            verify(legacy, BODY, &[SECRET.as_bytes()]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        for sig in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700",
            "sha256=",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            assert_eq!(check(sig, BODY, &[SECRET]), Err(VerifyError::Malformed), "{sig}");
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        assert_eq!(check(SIG, BODY, &[SECRET, OLD_SECRET]), Ok(()));
        assert_eq!(check(OLD_SIG, BODY, &[SECRET, OLD_SECRET]), Ok(()));
        assert_eq!(check(OLD_SIG, BODY, &[SECRET]), Err(VerifyError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign_independently(SECRET.as_bytes(), &body);
            prop_assert_eq!(check(&sig, &body, &[SECRET]), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(&sig, &tampered, &[SECRET]), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_signature_byte_change_fails(at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut sig = SIG.as_bytes().to_vec();
            let i = at.index(sig.len());
            sig[i] ^= flip;
            let headers: &Headers = &[("x-hub-signature-256", &sig)];
            prop_assert!(verify(headers, BODY, &[SECRET.as_bytes()]).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![SIGNATURE_HEADER, "X-Hub-Signature-256", "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "sha256=[0-9a-f]{0,66}".prop_map(String::into_bytes),
                    ],
                ),
                0..4,
            ),
            body in prop::collection::vec(any::<u8>(), 0..50),
        ) {
            let headers: Vec<(&str, &[u8])> =
                pairs.iter().map(|(n, v)| (*n, v.as_slice())).collect();
            prop_assert!(verify(&headers, &body, &[SECRET.as_bytes()]).is_err());
        }
    }
}
