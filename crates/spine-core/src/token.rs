//! Viewer tokens (SPEC section 4): let a browser act for one end user. Signed with the server
//! secret, short-lived, bound to one tenant and narrowed to a scope. Format:
//! `svt.<base64url(claims json)>.<base64url(hmac-sha256)>`.

use crate::filter::Scope;
use crate::ids::{TenantId, UserId};
use crate::time::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The prefix that tells a viewer token from an API key.
pub const PREFIX: &str = "svt.";

/// What a viewer token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerClaims {
    /// The tenant it acts in.
    #[serde(rename = "t")]
    pub tenant: TenantId,
    /// The end user, for read state.
    #[serde(rename = "u")]
    pub user: UserId,
    /// Expiry, Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: i64,
    /// What it may see.
    #[serde(rename = "s", default)]
    pub scope: Scope,
}

/// Why a viewer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Damaged or forged.
    #[error("the viewer token is invalid")]
    Invalid,
    /// Past its expiry.
    #[error("the viewer token has expired")]
    Expired,
}

fn sign(secret: &[u8], payload: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new_from_slice(&[0]).expect("fixed key"));
    m.update(b"spine-viewer\0");
    m.update(payload.as_bytes());
    m.finalize().into_bytes().to_vec()
}

impl ViewerClaims {
    /// Signs the claims into a token.
    pub fn sign(&self, secret: &[u8]) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(sign(secret, &payload));
        format!("{PREFIX}{payload}.{tag}")
    }

    /// Verifies a token at `now`.
    pub fn verify(token: &str, secret: &[u8], now: Timestamp) -> Result<Self, TokenError> {
        let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Invalid)?;
        if rest.len() > 8192 {
            return Err(TokenError::Invalid);
        }
        let (payload, tag) = rest.split_once('.').ok_or(TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Invalid)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&sign(secret, payload)[..], &tag[..])) {
            return Err(TokenError::Invalid);
        }
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Invalid)?;
        let claims: ViewerClaims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        if claims.expires_at <= now.as_unix_seconds() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims(exp: i64) -> ViewerClaims {
        ViewerClaims {
            tenant: TenantId::parse("acme").unwrap(),
            user: UserId::parse("u1").unwrap(),
            expires_at: exp,
            scope: Scope { entity_type: Some("task".into()), ..Default::default() },
        }
    }

    #[test]
    fn valid_expired_and_tampered() {
        let now = Timestamp::from_micros(1_000_000_000).unwrap();
        let t = claims(2_000).sign(b"k");
        assert_eq!(ViewerClaims::verify(&t, b"k", now), Ok(claims(2_000)));
        assert_eq!(
            ViewerClaims::verify(&claims(999).sign(b"k"), b"k", now),
            Err(TokenError::Expired)
        );
        assert_eq!(ViewerClaims::verify(&t, b"other", now), Err(TokenError::Invalid));
        let mut forged = claims(9_999_999);
        forged.tenant = TenantId::parse("evil").unwrap();
        let (_, tag) = t.rsplit_once('.').unwrap();
        let (payload, _) = forged
            .sign(b"guess")
            .rsplit_once('.')
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .unwrap();
        assert_eq!(
            ViewerClaims::verify(&format!("{payload}.{tag}"), b"k", now),
            Err(TokenError::Invalid)
        );
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(s in ".{0,200}") {
            let now = Timestamp::from_micros(0).unwrap();
            prop_assert!(ViewerClaims::verify(&s, b"k", now).is_err());
            let prefixed = format!("{}{}", PREFIX, s);
            prop_assert!(ViewerClaims::verify(&prefixed, b"k", now).is_err());
        }
    }
}
