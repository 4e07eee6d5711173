//! Outbound webhooks (SPEC section 8) inside `spine serve`:
//!
//! - [`engine`]: the delivery engine, a background task that leases endpoints and drives each
//!   one (one delivery in flight per endpoint, `seq` order, the retry schedule, the log).
//! - [`client`]: sending one signed delivery, with the SSRF guard where names become addresses.
//!
//! Signing secrets are `whsec_` secrets (Standard Webhooks), sealed at rest under a key derived
//! from the installation secret and bound to their tenant and endpoint.

pub mod client;
pub mod engine;

use crate::provision::random;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use spine_core::sealed::{SealingKey, NONCE_BYTES};
use spine_core::TenantId;

/// The key webhook secrets are sealed with, derived from the installation secret.
pub fn sealing_key(installation_secret: &[u8]) -> SealingKey {
    SealingKey::derive(installation_secret, "webhook-secrets")
}

/// Who a sealed webhook secret belongs to, bound into the seal.
pub fn secret_owner(tenant: &TenantId, webhook_id: &str) -> String {
    format!("{tenant}/{webhook_id}")
}

/// A fresh signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(random::<32>()))
}

/// Seals a webhook's secret for storage.
pub fn seal_secret(key: &SealingKey, tenant: &TenantId, id: &str, secret: &str) -> String {
    key.seal(&secret_owner(tenant, id), secret.as_bytes(), &random::<NONCE_BYTES>())
}
