//! Creating tenants and keys. Used by `POST /v1/tenants` and `POST /v1/keys`, and by the CLI
//! (`spine tenant create`, `spine key create`) directly on the database.

use spine_core::apikey::{ApiKey, RANDOM_BYTES};
use spine_core::{Role, TenantId};
use spine_store::{NewApiKey, Store, StoreError, Tenant};

/// A fresh key: the plaintext (shown once, never stored) and the record to store.
///
/// Panics only if the operating system's random source fails, which leaves no safe way on.
pub fn generate_key(role: Role, name: Option<String>) -> (String, NewApiKey) {
    let mut random = [0u8; RANDOM_BYTES];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    let key = ApiKey::from_random(&random);
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
