//! Webhook signature verification, the shared part: each provider's module checks its own
//! signature over the raw request bytes, sharing the error type, the header lookup and the
//! constant-time helpers defined here.
//!
//! Every verifier follows the same rules:
//!
//! - It works on the raw body bytes exactly as received; parsing comes after verification.
//! - Headers are passed as `(name, value)` pairs ([`Headers`]) and looked up ASCII
//!   case-insensitively, so this crate needs no HTTP library. A header given twice is refused as
//!   [`VerifyError::Malformed`]: two values make it ambiguous which one was signed.
//! - Time is passed in (`now`, Unix seconds). A signed timestamp further than the scheme's
//!   tolerance from `now`, in the past or the future, is [`VerifyError::Stale`].
//! - Every candidate signature in the header is tried against every secret (`&[&[u8]]`: the
//!   current secret and, during a rotation grace period, the previous one); each comparison is
//!   constant-time, and all of them are made, so timing says nothing about which one matched.
//! - Checks run in this order: missing header, malformed header, timestamp, signature.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

/// Request headers as `(name, value)` pairs, names matched ASCII case-insensitively.
pub type Headers<'a> = [(&'a str, &'a [u8])];

/// Longest header value a verifier will read: real signature headers are a few hundred bytes,
/// and a bound keeps hostile input from costing more than a small, fixed amount of work.
pub const MAX_HEADER_LEN: usize = 4096;

/// Why a webhook was refused. Messages name headers only, never secrets or signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header the scheme needs is absent; carries its (lower-case) name.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A header is present but cannot be read as the scheme defines it.
    #[error("a signature header is malformed")]
    Malformed,
    /// The signed timestamp is outside the scheme's tolerance around now.
    #[error("the signature timestamp is outside the allowed window")]
    Stale,
    /// The header is well formed but no signature matches any secret.
    #[error("no signature matches")]
    Mismatch,
}

/// The single value of header `name` as text: `Missing` when absent, `Malformed` when given
/// more than once, longer than [`MAX_HEADER_LEN`], not UTF-8 or empty. Surrounding spaces and
/// tabs are trimmed, as HTTP does with optional whitespace.
pub(crate) fn header<'h>(
    headers: &'h Headers<'h>,
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let (_, value) = found.next().ok_or(VerifyError::Missing(name))?;
    if found.next().is_some() || value.len() > MAX_HEADER_LEN {
        return Err(VerifyError::Malformed);
    }
    let text = std::str::from_utf8(value).map_err(|_| VerifyError::Malformed)?;
    let text = text.trim_matches([' ', '\t']);
    if text.is_empty() {
        return Err(VerifyError::Malformed);
    }
    Ok(text)
}

/// The token of an `Authorization: Bearer <token>` header (`Malformed` for other schemes).
pub(crate) fn bearer<'h>(headers: &'h Headers<'h>) -> Result<&'h str, VerifyError> {
    let value = header(headers, "authorization")?;
    let (scheme, token) = value.split_once(' ').ok_or(VerifyError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(VerifyError::Malformed);
    }
    Ok(token)
}

/// Parses a non-negative decimal timestamp: ASCII digits only (no sign, no spaces), at most 18
/// of them so it always fits an `i64`.
pub(crate) fn parse_timestamp(s: &str) -> Result<i64, VerifyError> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed);
    }
    s.parse().map_err(|_| VerifyError::Malformed)
}

/// `Stale` unless `signed` is within `tolerance` of `now`, on either side. Both bounds matter:
/// a timestamp from the future would stay replayable for longer than the tolerance.
pub(crate) fn check_window(signed: i64, now: i64, tolerance: u64) -> Result<(), VerifyError> {
    if signed.abs_diff(now) > tolerance {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

/// HMAC-SHA256 of the concatenated `parts` under `key`. HMAC takes keys of any length, so the
/// `None` branch is unreachable in practice; callers treat it as "matches nothing".
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Option<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac.finalize().into_bytes().into())
}

/// True when any candidate equals the tag computed for any secret. Every pair is compared in
/// constant time and none is skipped, so timing does not reveal which secret or candidate hit.
pub(crate) fn any_match<T: AsRef<[u8]>>(
    candidates: &[T],
    secrets: &[&[u8]],
    tag: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> bool {
    let mut hit = Choice::from(0);
    for secret in secrets {
        let Some(expected) = tag(secret) else { continue };
        for candidate in candidates {
            // `ct_eq` on slices of different lengths is false without looking at the bytes.
            hit |= expected.as_slice().ct_eq(candidate.as_ref());
        }
    }
    bool::from(hit)
}

/// Decodes lower-case hex, the form GitHub and Stripe send. Upper case is refused so that each
/// signature has exactly one accepted spelling.
pub(crate) fn decode_lower_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes().chunks_exact(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_is_case_insensitive_and_strict() {
        let h: &Headers = &[("X-Sig", b" abc\t"), ("Other", b"x")];
        assert_eq!(header(h, "x-sig"), Ok("abc"));
        assert_eq!(header(h, "x-none"), Err(VerifyError::Missing("x-none")));
        let twice: &Headers = &[("x-sig", b"a"), ("X-SIG", b"b")];
        assert_eq!(header(twice, "x-sig"), Err(VerifyError::Malformed));
        let bad: &Headers = &[("x-sig", b"\xff")];
        assert_eq!(header(bad, "x-sig"), Err(VerifyError::Malformed));
        let empty: &Headers = &[("x-sig", b"  ")];
        assert_eq!(header(empty, "x-sig"), Err(VerifyError::Malformed));
        let long = vec![b'a'; MAX_HEADER_LEN + 1];
        let long: &Headers = &[("x-sig", &long)];
        assert_eq!(header(long, "x-sig"), Err(VerifyError::Malformed));
    }

    #[test]
    fn timestamps_and_windows() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000));
        for bad in ["", "+1", "-1", " 1", "1.5", "0x10", "1234567890123456789"] {
            assert_eq!(parse_timestamp(bad), Err(VerifyError::Malformed), "{bad:?}");
        }
        assert_eq!(check_window(1000, 1300, 300), Ok(()));
        assert_eq!(check_window(1600, 1300, 300), Ok(()));
        assert_eq!(check_window(999, 1300, 300), Err(VerifyError::Stale));
        assert_eq!(check_window(1601, 1300, 300), Err(VerifyError::Stale));
        assert_eq!(check_window(0, i64::MAX, 300), Err(VerifyError::Stale));
        assert_eq!(check_window(i64::MAX, i64::MIN, 300), Err(VerifyError::Stale));
    }

    #[test]
    fn hex_is_lower_case_only() {
        assert_eq!(decode_lower_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_lower_hex("00FF"), None);
        assert_eq!(decode_lower_hex("abc"), None);
        assert_eq!(decode_lower_hex("zz"), None);
    }

    #[test]
    fn messages_carry_no_values() {
        assert_eq!(
            VerifyError::Missing("webhook-id").to_string(),
            "the webhook-id header is missing"
        );
        assert_eq!(VerifyError::Mismatch.to_string(), "no signature matches");
    }
}
