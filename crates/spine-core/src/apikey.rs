//! API key format and hashing (SPEC section 4). A key reads `spk_<id>_<secret>`: the id is public
//! (it finds the stored record), the secret is stored only as its SHA-256 and compared in constant
//! time. Randomness is passed in, so this module stays pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Every API key starts with this.
pub const PREFIX: &str = "spk_";

/// Bytes of randomness a new key needs: 8 for the id, 32 for the secret.
pub const RANDOM_BYTES: usize = 40;

/// A parsed key: its public id and its secret part.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Public id, 16 hex characters.
    pub id: String,
    secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

impl ApiKey {
    /// A new key from fresh random bytes.
    pub fn from_random(random: &[u8; RANDOM_BYTES]) -> Self {
        Self {
            id: crate::idempotency::hex(&random[..8]),
            secret: URL_SAFE_NO_PAD.encode(&random[8..]),
        }
    }

    /// Parses `spk_<id>_<secret>`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        let secret_ok = (20..=128).contains(&secret.len())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (id_ok && secret_ok).then(|| Self { id: id.to_owned(), secret: secret.to_owned() })
    }

    /// SHA-256 of the secret part: what the store keeps.
    pub fn secret_hash(&self) -> Vec<u8> {
        Sha256::digest(self.secret.as_bytes()).to_vec()
    }

    /// Whether `stored_hash` is this key's hash, in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        bool::from(subtle::ConstantTimeEq::ct_eq(&self.secret_hash()[..], stored_hash))
    }

    /// The full key text, shown once to its owner.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}_{}", self.id, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_hash_match() {
        let k = ApiKey::from_random(&[7u8; RANDOM_BYTES]);
        let parsed = ApiKey::parse(&k.expose()).unwrap();
        assert_eq!(parsed, k);
        assert!(parsed.matches(&k.secret_hash()));
        assert!(!format!("{k:?}").contains(&k.secret));
    }

    proptest! {
        #[test]
        fn garbage_never_parses_into_a_matching_key(s in ".{0,80}") {
            let real = ApiKey::from_random(&[1u8; RANDOM_BYTES]);
            if let Some(k) = ApiKey::parse(&s) {
                prop_assert!(k == real || !k.matches(&real.secret_hash()));
            }
        }
    }
}
