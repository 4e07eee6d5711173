//! Standard Webhooks (symmetric, `v1`) signature verification, also what Svix-style senders use.
//!
//! From the Standard Webhooks specification 1.0.0 ("Verifying webhook authenticity"):
//!
//! - Three headers: `webhook-id` (the message id, also the idempotency key),
//!   `webhook-timestamp` (integer Unix seconds of this attempt) and `webhook-signature`.
//! - The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, the header values
//!   exactly as sent.
//! - Symmetric signatures are HMAC-SHA256, serialised as `v1,<standard base64 of the 32-byte
//!   tag>`. The header is a space-delimited list of such entries so a sender can sign with the
//!   old and the new secret during a rotation; a receiver tries each one. Other identifiers
//!   (`v1a` is the asymmetric ed25519 scheme) are skipped here.
//! - The secret is shown to users as `whsec_` followed by the standard base64 of random bytes
//!   (24 to 64 of them); the HMAC key is those decoded bytes, not the text.
//! - Receivers must compare in constant time and check the timestamp against a tolerance; the
//!   reference libraries use five minutes either way, as [`TOLERANCE_SECS`] does here.

use crate::ingest::verify::{
    any_match, check_window, header, hmac_sha256, parse_timestamp, Headers, VerifyError,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The message id header.
pub const ID_HEADER: &str = "webhook-id";
/// The attempt timestamp header, Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The space-separated `v1,<base64>` signature list.
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far the timestamp may be from now, either way: five minutes, as the reference libraries.
pub const TOLERANCE_SECS: u64 = 5 * 60;
/// The prefix a serialised secret carries.
pub const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key inside a serialised secret: the `whsec_` prefix (optional, as the reference
/// libraries allow) stripped and the rest base64-decoded. `None` when it does not decode or is
/// empty; the server should call this on its configured secrets at start-up and refuse bad
/// ones, because [`verify`] can only treat such a secret as matching nothing.
pub fn decode_secret(secret: &[u8]) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX.as_bytes()).unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|key| !key.is_empty())
}

/// The `webhook-signature` value of a delivery Spine sends: `v1,` and the base64 of the
/// HMAC-SHA256, keyed with the bytes inside `secret`, of `{id}.{timestamp}.{body}`. `None` when
/// the secret does not decode.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = decode_secret(secret.as_bytes())?;
    let timestamp = timestamp.to_string();
    let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    let tag = hmac_sha256(&key, &content)?;
    Some(format!("v1,{}", STANDARD.encode(tag)))
}

/// Verifies a Standard Webhooks delivery: `secrets` are the serialised `whsec_...` secrets
/// (current first, then any still in their grace period), `now` is Unix seconds.
pub fn verify(
    headers: &Headers,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), VerifyError> {
    let id = header(headers, ID_HEADER)?;
    let timestamp_text = header(headers, TIMESTAMP_HEADER)?;
    let signatures = header(headers, SIGNATURE_HEADER)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    // Only `v1` entries that decode to an HMAC-SHA256 tag can ever match; a header without any
    // is malformed rather than merely wrong.
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .filter(|tag| tag.len() == 32)
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_window(timestamp, now, TOLERANCE_SECS)?;
    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| decode_secret(s)).collect();
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let content: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
    if any_match(&candidates, &keys, |key| hmac_sha256(key, &content).map(Vec::from)) {
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

    // The test vector published with the Standard Webhooks reference libraries (and Svix's):
    // this secret, id, timestamp and body give exactly this signature.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: &str = "1614265330";
    const NOW: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // A second secret for rotation: whsec_ + base64(b"previous-secret-for-rotation-32b"). Its
    // signature over the same id, timestamp and body was computed offline with Python's
    // standard library, not with this crate:
    // base64.b64encode(hmac.new(b"previous-secret-for-rotation-32b",
    //   b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}', hashlib.sha256).digest())
    const OLD_SECRET: &str = "whsec_cHJldmlvdXMtc2VjcmV0LWZvci1yb3RhdGlvbi0zMmI=";
    const OLD_SIG: &str = "v1,dTVlmXZeQLP5lUgKXZbK3fu0QPBHSabEGYy5ZO3NN4o=";
    // 32 zero bytes: a well-formed tag that matches nothing.
    const ZERO_SIG: &str = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn signing_gives_the_published_vector_and_verifies() {
        let body = BODY;
        assert_eq!(sign(SECRET, ID, NOW, body).as_deref(), Some(SIG));
        let sig = sign(OLD_SECRET, "msg_2", NOW + 7, b"{}").unwrap();
        assert_eq!(check("msg_2", &(NOW + 7).to_string(), &sig, b"{}", &[OLD_SECRET], NOW), Ok(()));
        assert_eq!(sign("whsec_***", ID, NOW, body), None);
    }

    fn check(
        id: &str,
        ts: &str,
        sig: &str,
        body: &[u8],
        secrets: &[&str],
        now: i64,
    ) -> Result<(), VerifyError> {
        let headers: &Headers = &[
            ("Webhook-Id", id.as_bytes()),
            ("Webhook-Timestamp", ts.as_bytes()),
            ("Webhook-Signature", sig.as_bytes()),
        ];
        let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        verify(headers, body, &secrets, now)
    }

    /// An independent signer for the property tests: the hmac crate used directly, with the
    /// key decoded here, not through the module's helpers.
    fn sign_independently(raw_key: &[u8], id: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(raw_key).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn reference_vector_passes() {
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET], NOW), Ok(()));
        // The prefix is optional, as in the reference libraries.
        assert_eq!(check(ID, TS, SIG, BODY, &[&SECRET[6..]], NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_and_tampered_content_mismatch() {
        assert_eq!(check(ID, TS, SIG, BODY, &[OLD_SECRET], NOW), Err(VerifyError::Mismatch));
        assert_eq!(
            check(ID, TS, SIG, br#"{"test": 2432232315}"#, &[SECRET], NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check("msg_other", TS, SIG, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
        // A timestamp inside the window but not the signed one.
        assert_eq!(check(ID, "1614265331", SIG, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
        // A secret that does not decode matches nothing rather than failing differently.
        assert_eq!(check(ID, TS, SIG, BODY, &["whsec_!!"], NOW), Err(VerifyError::Mismatch));
        assert_eq!(check(ID, TS, SIG, BODY, &[], NOW), Err(VerifyError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps() {
        let max = TOLERANCE_SECS as i64;
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET], NOW + max), Ok(()));
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET], NOW - max), Ok(()));
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET], NOW + max + 1), Err(VerifyError::Stale));
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET], NOW - max - 1), Err(VerifyError::Stale));
    }

    #[test]
    fn missing_headers() {
        let body = BODY;
        let secrets: &[&[u8]] = &[SECRET.as_bytes()];
        let only = |pairs: &Headers| verify(pairs, body, secrets, NOW);
        assert_eq!(
            only(&[("webhook-timestamp", TS.as_bytes()), ("webhook-signature", SIG.as_bytes())]),
            Err(VerifyError::Missing(ID_HEADER))
        );
        assert_eq!(
            only(&[("webhook-id", ID.as_bytes()), ("webhook-signature", SIG.as_bytes())]),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            only(&[("webhook-id", ID.as_bytes()), ("webhook-timestamp", TS.as_bytes())]),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
    }

    #[test]
    fn malformed_headers() {
        for ts in ["-1614265330", "1614265330.0", "abc", "+1614265330"] {
            assert_eq!(check(ID, ts, SIG, BODY, &[SECRET], NOW), Err(VerifyError::Malformed));
        }
        for sig in [
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1=g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,not base64",
            "v1,AAAA",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert_eq!(check(ID, TS, sig, BODY, &[SECRET], NOW), Err(VerifyError::Malformed));
        }
    }

    #[test]
    fn rotation_both_secrets_pass() {
        assert_eq!(check(ID, TS, OLD_SIG, BODY, &[OLD_SECRET], NOW), Ok(()));
        // The receiver holds both secrets; either signature alone passes.
        assert_eq!(check(ID, TS, SIG, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
        assert_eq!(check(ID, TS, OLD_SIG, BODY, &[SECRET, OLD_SECRET], NOW), Ok(()));
    }

    #[test]
    fn several_signatures_one_valid_passes() {
        let header = format!("{ZERO_SIG} v1a,c29tZXRoaW5n v1,### {SIG}");
        assert_eq!(check(ID, TS, &header, BODY, &[SECRET], NOW), Ok(()));
        let header = format!("{SIG} {ZERO_SIG}");
        assert_eq!(check(ID, TS, &header, BODY, &[SECRET], NOW), Ok(()));
        let header = format!("{ZERO_SIG} {OLD_SIG}");
        assert_eq!(check(ID, TS, &header, BODY, &[SECRET], NOW), Err(VerifyError::Mismatch));
    }

    fn raw_key() -> Vec<u8> {
        STANDARD.decode(&SECRET[6..]).unwrap()
    }

    proptest! {
        #[test]
        fn any_body_byte_change_fails(
            body in prop::collection::vec(any::<u8>(), 1..200),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let sig = sign_independently(&raw_key(), ID, TS, &body);
            prop_assert_eq!(check(ID, TS, &sig, &body, &[SECRET], NOW), Ok(()));
            let mut tampered = body.clone();
            tampered[at.index(body.len())] ^= flip;
            prop_assert_eq!(check(ID, TS, &sig, &tampered, &[SECRET], NOW), Err(VerifyError::Mismatch));
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
            let headers: &Headers = &[
                ("webhook-id", ID.as_bytes()),
                ("webhook-timestamp", &ts),
                ("webhook-signature", &sig),
            ];
            prop_assert!(verify(headers, BODY, &[SECRET.as_bytes()], NOW).is_err());
        }

        #[test]
        fn garbage_headers_never_pass(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec![ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "x"]),
                    prop_oneof![
                        prop::collection::vec(any::<u8>(), 0..80),
                        "[0-9]{1,12}".prop_map(String::into_bytes),
                        "(v1,[A-Za-z0-9+/]{43}= ?){0,3}".prop_map(String::into_bytes),
                    ],
                ),
                0..6,
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
