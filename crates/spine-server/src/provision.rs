//! Creating tenants, keys and sign-in codes. Used by `POST /v1/tenants` and `POST /v1/keys`,
//! and by the CLI (`spine tenant create`, `spine key create`, `spine open`) directly on the
//! database.

use spine_core::apikey::{ApiKey, RANDOM_BYTES};
use spine_core::session::{self, SecretKind, TenantSecret};
use spine_core::{Role, TenantId, Timestamp, UserId};
use spine_store::{NewApiKey, NewSecret, Store, StoreError, Tenant};

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
