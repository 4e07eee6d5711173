//! Sign-in codes and Activity Center sessions (SPEC section 9). Both are tenant secrets that
//! read `<prefix><tenant>.<id>.<secret>`: the tenant and the id find the stored record (so a
//! lookup never crosses tenants), the secret is stored only as its SHA-256 and compared in
//! constant time. A sign-in code is spent by its first use; a session lives in an `HttpOnly`
//! cookie. Randomness is passed in, so this module stays pure.

use crate::ids::TenantId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Bytes of randomness a new secret needs: 8 for the id, 32 for the secret.
pub const RANDOM_BYTES: usize = 40;

/// What a tenant secret is for; each kind has its own prefix, so one is never taken for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A one-time sign-in code (`ssi_`), carried once in a sign-in URL.
    SignIn,
    /// A session (`sss_`), carried in the session cookie.
    Session,
}

impl SecretKind {
    /// The text every secret of this kind starts with.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::SignIn => "ssi_",
            Self::Session => "sss_",
        }
    }
}

/// A parsed sign-in code or session.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantSecret {
    /// What it is.
    pub kind: SecretKind,
    /// The tenant it belongs to.
    pub tenant: TenantId,
    /// Public id, 16 hex characters, unique within the tenant.
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for TenantSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSecret")
            .field("kind", &self.kind)
            .field("tenant", &self.tenant)
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TenantSecret {
    /// A new secret of `kind` for `tenant` from fresh random bytes.
    pub fn from_random(kind: SecretKind, tenant: TenantId, random: &[u8; RANDOM_BYTES]) -> Self {
        Self {
            kind,
            tenant,
            id: crate::idempotency::hex(&random[..8]),
            secret: URL_SAFE_NO_PAD.encode(&random[8..]),
        }
    }

    /// Parses `<prefix><tenant>.<id>.<secret>` of `kind`; `None` for anything else.
    pub fn parse(kind: SecretKind, s: &str) -> Option<Self> {
        let rest = s.strip_prefix(kind.prefix())?;
        let mut parts = rest.split('.');
        let (tenant, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let tenant = TenantId::parse(tenant).ok()?;
        let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let secret_ok = (20..=128).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (id_ok && secret_ok).then(|| Self {
            kind,
            tenant,
            id: id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// SHA-256 of the secret part: what the store keeps.
    pub fn secret_hash(&self) -> Vec<u8> {
        Sha256::digest(self.secret.as_bytes()).to_vec()
    }

    /// Whether `stored_hash` is this secret's hash, in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(&self.secret_hash()[..], stored_hash))
    }

    /// The full text, handed once to its holder (a URL, a cookie).
    pub fn expose(&self) -> String {
        format!("{}{}.{}.{}", self.kind.prefix(), self.tenant.as_str(), self.id, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    #[test]
    fn round_trip_and_hash_match() {
        let s = TenantSecret::from_random(SecretKind::Session, tenant(), &[7u8; RANDOM_BYTES]);
        let text = s.expose();
        assert!(text.starts_with("sss_acme."));
        let parsed = TenantSecret::parse(SecretKind::Session, &text).unwrap();
        assert_eq!(parsed, s);
        assert!(parsed.matches(&s.secret_hash()));
        assert!(!format!("{s:?}").contains(&s.secret));
    }

    #[test]
    fn a_code_is_not_a_session() {
        let code = TenantSecret::from_random(SecretKind::SignIn, tenant(), &[1u8; RANDOM_BYTES]);
        assert!(TenantSecret::parse(SecretKind::Session, &code.expose()).is_none());
        assert!(TenantSecret::parse(SecretKind::SignIn, &code.expose()).is_some());
        assert!(TenantSecret::parse(SecretKind::SignIn, &format!("{}.x", code.expose())).is_none());
        assert!(TenantSecret::parse(
            SecretKind::SignIn,
            "ssi_Bad Tenant.0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaa"
        )
        .is_none());
    }

    proptest! {
        #[test]
        fn garbage_never_parses_into_a_matching_secret(s in ".{0,120}") {
            let real = TenantSecret::from_random(SecretKind::SignIn, tenant(), &[3u8; RANDOM_BYTES]);
            if let Some(p) = TenantSecret::parse(SecretKind::SignIn, &s) {
                prop_assert!(p == real || !p.matches(&real.secret_hash()));
            }
        }
    }
}
