//! Secrets kept so that they can be used again, sealed at rest. A webhook channel's signing
//! secret cannot be stored as a hash like an API key: checking an HMAC needs the secret itself.
//! So it is encrypted with ChaCha20-Poly1305 (RFC 8439) under a key derived from the
//! installation secret with HKDF-SHA256 and a purpose label, and the owner of the value (say,
//! tenant and channel id) is bound as associated data: a sealed value copied to another record
//! or tenant does not open. A database dump alone reveals no secret. Pure: the nonce is passed
//! in (12 random bytes per sealing).
//!
//! Text form: `sealed.v1.` then base64url (no padding) of nonce || ciphertext || tag.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

/// Bytes of the nonce each sealing needs (fresh random bytes every time).
pub const NONCE_BYTES: usize = 12;

/// What every sealed value starts with; the version names the cipher and the layout.
pub const PREFIX: &str = "sealed.v1.";

/// Why a sealed value did not open. Says nothing of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not a sealed value of this version.
    #[error("not a sealed value")]
    Malformed,
    /// Another key, another owner, or a changed byte.
    #[error("the sealed value does not open with this key and owner")]
    Rejected,
}

/// The key secrets of one purpose are sealed with.
pub struct SealingKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// The key for `purpose` (e.g. `channel-secrets`), derived from the installation secret:
    /// every node sharing the database derives the same key, and each purpose its own.
    pub fn derive(installation_secret: &[u8], purpose: &str) -> Self {
        let mut key = [0u8; 32];
        let info = format!("spine sealed secrets v1: {purpose}");
        // 32 bytes is far below HKDF-SHA256's limit of 255 blocks, so expand cannot fail.
        let expanded =
            Hkdf::<Sha256>::new(None, installation_secret).expand(info.as_bytes(), &mut key);
        debug_assert!(expanded.is_ok());
        Self::from_key(key)
    }

    fn from_key(key: [u8; 32]) -> Self {
        Self { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// Seals `secret` for `owner` with a fresh `nonce`.
    pub fn seal(&self, owner: &str, secret: &[u8], nonce: &[u8; NONCE_BYTES]) -> String {
        let payload = Payload { msg: secret, aad: owner.as_bytes() };
        // Encryption with a 12-byte nonce fails only for messages beyond 256 GiB.
        let sealed = self.cipher.encrypt(Nonce::from_slice(nonce), payload).unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a value sealed for `owner` by this key.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let encoded = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| SealError::Malformed)?;
        // A nonce and at least the 16-byte tag.
        if bytes.len() < NONCE_BYTES + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let payload = Payload { msg: sealed, aad: owner.as_bytes() };
        self.cipher.decrypt(Nonce::from_slice(nonce), payload).map_err(|_| SealError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONCE: [u8; NONCE_BYTES] = [7; NONCE_BYTES];

    fn key() -> SealingKey {
        SealingKey::derive(b"installation secret", "channel-secrets")
    }

    /// The cipher is RFC 8439's ChaCha20-Poly1305: the values here were computed independently
    /// with Python's `cryptography` package (ChaCha20Poly1305(key).encrypt(nonce, msg, aad)):
    ///   key = bytes(range(32)), nonce = bytes(range(12)), msg = b"whsec_test", aad = b"acme/ch_1"
    #[test]
    fn matches_an_independent_implementation() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let nonce: [u8; NONCE_BYTES] = std::array::from_fn(|i| i as u8);
        let sealed = SealingKey::from_key(key).seal("acme/ch_1", b"whsec_test", &nonce);
        assert_eq!(sealed, EXPECTED);
        assert_eq!(
            SealingKey::from_key(key).open("acme/ch_1", EXPECTED),
            Ok(b"whsec_test".to_vec())
        );
    }

    const EXPECTED: &str = "sealed.v1.AAECAwQFBgcICQoL_pN7ZUpI0SXE982HYTKT3XqMwKn9VE27nDM";

    #[test]
    fn the_derived_key_matches_hkdf_computed_independently() {
        // Python: HKDF(SHA256, 32, salt=None, info=b"spine sealed secrets v1: channel-secrets")
        //   .derive(b"installation secret"), used to seal as above.
        let sealed = key().seal("acme/ch_1", b"whsec_test", &[0; NONCE_BYTES]);
        assert_eq!(sealed, DERIVED.trim());
    }

    const DERIVED: &str = "sealed.v1.AAAAAAAAAAAAAAAAvQBeBGYKqAUCk-YaCptjnBwjzhk8H_4Jmlc";

    #[test]
    fn sealed_values_open_only_for_their_owner_and_key() {
        let sealed = key().seal("acme/ch_1", b"secret", &NONCE);
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("secret"));
        assert_eq!(key().open("acme/ch_1", &sealed), Ok(b"secret".to_vec()));
        assert_eq!(key().open("acme/ch_2", &sealed), Err(SealError::Rejected));
        assert_eq!(key().open("other/ch_1", &sealed), Err(SealError::Rejected));
        let other_purpose = SealingKey::derive(b"installation secret", "something-else");
        assert_eq!(other_purpose.open("acme/ch_1", &sealed), Err(SealError::Rejected));
        let other_install = SealingKey::derive(b"another installation", "channel-secrets");
        assert_eq!(other_install.open("acme/ch_1", &sealed), Err(SealError::Rejected));
        assert_eq!(key().open("acme/ch_1", "secret"), Err(SealError::Malformed));
        assert_eq!(key().open("acme/ch_1", "sealed.v1.AAAA"), Err(SealError::Malformed));
        assert_eq!(format!("{:?}", key()), "SealingKey(<redacted>)");
    }

    proptest! {
        #[test]
        fn any_changed_character_fails(secret in proptest::collection::vec(any::<u8>(), 0..64),
                                       at in any::<prop::sample::Index>(),
                                       to in "[A-Za-z0-9_-]") {
            let sealed = key().seal("acme/ch_1", &secret, &NONCE);
            let encoded = &sealed[PREFIX.len()..];
            let i = at.index(encoded.len());
            let replacement = to.chars().next().unwrap_or('A');
            prop_assume!(encoded.as_bytes()[i] != replacement as u8);
            let mut changed = encoded.to_owned();
            changed.replace_range(i..=i, &replacement.to_string());
            let opened = key().open("acme/ch_1", &format!("{PREFIX}{changed}"));
            prop_assert!(opened.is_err());
        }

        #[test]
        fn round_trips(secret in proptest::collection::vec(any::<u8>(), 0..256), owner in ".{0,40}") {
            let sealed = key().seal(&owner, &secret, &NONCE);
            prop_assert_eq!(key().open(&owner, &sealed), Ok(secret));
        }

        #[test]
        fn garbage_never_opens(text in ".{0,120}") {
            let sealed = format!("{PREFIX}{text}");
            let opened = key().open("acme/ch_1", &sealed);
            prop_assert!(opened.is_err());
        }
    }
}
