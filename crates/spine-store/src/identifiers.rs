//! The identifier contract (SPEC section 6): normalized e-mail addresses and phone numbers that
//! name an entity, so an inbound message from one is put on that entity. The caller normalizes
//! (`spine_core::identifier`); the store keeps each value on at most one entity per tenant.

use crate::StoreResult;
use async_trait::async_trait;
use serde::Serialize;
use spine_core::{TenantId, Timestamp};

/// A tenant's identifiers.
#[async_trait]
pub trait Identifiers: Send + Sync {
    /// Adds `value` (of `kind`, normalized) to the entity. Adding it again to the same entity
    /// answers the stored record; `Conflict` if another entity of the tenant holds it.
    async fn add_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        kind: &str,
        value: &str,
    ) -> StoreResult<IdentifierRecord>;

    /// The entity's identifiers, by value.
    async fn list_identifiers(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
    ) -> StoreResult<Vec<IdentifierRecord>>;

    /// Removes one; `false` if the entity did not hold it.
    async fn delete_identifier(
        &self,
        tenant: &TenantId,
        entity_type: &str,
        entity_id: &str,
        value: &str,
    ) -> StoreResult<bool>;

    /// The tenant's default phone region (ISO 3166 alpha-2), if it set one.
    async fn phone_region(&self, tenant: &TenantId) -> StoreResult<Option<String>>;

    /// Sets or clears the tenant's default phone region.
    async fn set_phone_region(&self, tenant: &TenantId, region: Option<&str>) -> StoreResult<()>;

    /// The records holding any of `values` (normalized), in no particular order.
    async fn match_identifiers(
        &self,
        tenant: &TenantId,
        values: &[String],
    ) -> StoreResult<Vec<IdentifierRecord>>;
}

/// A stored identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentifierRecord {
    /// `email` or `phone`.
    pub kind: String,
    /// The normalized value: a lower-case address or an E.164 number.
    pub value: String,
    /// The entity's type.
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// When it was added.
    pub created_at: Timestamp,
}
