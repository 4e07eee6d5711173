//! Creating tenants, keys, sign-in codes and ingestion channels. Used by `POST /v1/tenants`,
//! `POST /v1/keys` and `POST /v1/channels`, and by the CLI (`spine tenant create`, `spine key
//! create`, `spine open`, `spine demo`) directly on the database.

use spine_core::apikey::{ApiKey, RANDOM_BYTES};
use spine_core::channel::ChannelInput;
use spine_core::ingest::{self, Source};
use spine_core::sealed::{SealingKey, NONCE_BYTES};
use spine_core::session::{self, SecretKind, TenantSecret};
use spine_core::ValidationErrors;
use spine_core::{Role, TenantId, Timestamp, UserId};
use spine_store::{ChannelRecord, NewApiKey, NewSecret, Store, StoreError, Tenant};

/// Fresh random bytes for a secret.
///
/// Panics only if the operating system's random source fails, which leaves no safe way on.
pub fn random<const N: usize>() -> [u8; N] {
    let mut random = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    random
}

/// A fresh sign-in code or session secret for `tenant`.
pub fn generate_secret(kind: SecretKind, tenant: TenantId) -> TenantSecret {
    TenantSecret::from_random(kind, tenant, &random::<{ session::RANDOM_BYTES }>())
}

/// Creates a one-time sign-in code for `user` with `role` (`read` or `admin`), valid for
/// `ttl_seconds`; returns the code's text (shown once, never stored) and when it expires.
/// `StoreError::NotFound` when the tenant does not exist.
pub async fn create_signin_code(
    store: &dyn Store,
    tenant: &TenantId,
    user: UserId,
    role: Role,
    ttl_seconds: i64,
) -> Result<(String, Timestamp), StoreError> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let code = generate_secret(SecretKind::SignIn, tenant.clone());
    let expires_at = Timestamp::now().plus_seconds(ttl_seconds);
    let record =
        NewSecret { id: code.id.clone(), secret_hash: code.secret_hash(), user, role, expires_at };
    store.create_signin_code(tenant, record).await?;
    Ok((code.expose(), expires_at))
}

/// A fresh key: the plaintext (shown once, never stored) and the record to store.
///
/// Panics only if the operating system's random source fails, which leaves no safe way on.
pub fn generate_key(role: Role, name: Option<String>) -> (String, NewApiKey) {
    let key = ApiKey::from_random(&random::<RANDOM_BYTES>());
    let record = NewApiKey { id: key.id.clone(), secret_hash: key.secret_hash(), role, name };
    (key.expose(), record)
}

/// Creates a tenant whose id is the slug of `name`, with one admin key; returns the tenant
/// and the admin key's plaintext. `StoreError::Conflict` when the slug is taken.
pub async fn create_tenant_with_admin_key(
    store: &dyn Store,
    name: &str,
) -> Result<(Tenant, String), StoreError> {
    let id = TenantId::slugify(name)
        .map_err(|m| StoreError::Conflict(format!("invalid tenant name: {m}")))?;
    let tenant = store.create_tenant(&id, name.trim()).await?;
    let (plaintext, key) = generate_key(Role::Admin, Some("admin".to_owned()));
    store.create_key(&tenant.id, key).await?;
    Ok((tenant, plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_hash() {
        let (plain, record) = generate_key(Role::Read, Some("ci".into()));
        let parsed = ApiKey::parse(&plain);
        assert!(parsed.as_ref().is_some_and(|k| k.matches(&record.secret_hash)));
        assert_eq!(parsed.map(|k| k.id), Some(record.id));
        let (other, _) = generate_key(Role::Read, None);
        assert_ne!(plain, other);
    }
}

/// The key channel secrets are sealed with: derived from the installation secret, so every node
/// sharing the database opens what another sealed.
pub fn channel_sealing_key(installation_secret: &[u8]) -> SealingKey {
    SealingKey::derive(installation_secret, "channel-secrets")
}

/// Who a sealed channel secret belongs to: the tenant and the channel, bound into the seal.
pub fn channel_secret_owner(tenant: &TenantId, channel_id: &str) -> String {
    format!("{tenant}/{channel_id}")
}

/// Seals a channel's secret for storage.
pub fn seal_channel_secret(key: &SealingKey, tenant: &TenantId, id: &str, secret: &str) -> String {
    key.seal(&channel_secret_owner(tenant, id), secret.as_bytes(), &random::<NONCE_BYTES>())
}

/// The secret a channel uses: the one given, or a fresh one in the provider's format (an error
/// naming `secret` when only the provider can issue it).
pub fn channel_secret(
    source: &dyn Source,
    given: Option<String>,
) -> Result<String, ValidationErrors> {
    match given {
        Some(secret) => Ok(secret.trim().to_owned()),
        None => source.new_secret(&random::<32>()).ok_or_else(|| {
            let provider = source.provider().as_str();
            ValidationErrors::single(
                "secret",
                format!("is required for {provider}: only the provider issues it"),
            )
        }),
    }
}

/// Why a channel was not created.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The input is invalid.
    #[error("invalid channel")]
    Invalid(ValidationErrors),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a channel: validates it, takes the given secret or generates one, seals it, and
/// stores it under a fresh id. Answers the record and the secret (to show once).
pub async fn create_channel(
    store: &dyn Store,
    key: &SealingKey,
    tenant: &TenantId,
    input: ChannelInput,
) -> Result<(ChannelRecord, String), ChannelError> {
    let (channel, given) = input.validate().map_err(ChannelError::Invalid)?;
    let secret =
        channel_secret(ingest::source(channel.provider), given).map_err(ChannelError::Invalid)?;
    let id = format!("ch_{}", spine_core::idempotency::hex(&random::<12>()));
    let sealed = seal_channel_secret(key, tenant, &id, &secret);
    let record = store.create_channel(tenant, &id, &channel, &sealed).await?;
    Ok((record, secret))
}
