//! The sign-in contract (SPEC section 9): one-time sign-in codes and the Activity Center
//! sessions they are exchanged for. The caller generates and hashes the secrets
//! (`spine_core::session`); the store keeps hashes only, and every lookup names its tenant.

use crate::StoreResult;
use async_trait::async_trait;
use spine_core::{Role, TenantId, Timestamp, UserId};

/// One-time sign-in codes and sessions.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a new sign-in code.
    async fn create_signin_code(&self, tenant: &TenantId, code: NewSecret) -> StoreResult<()>;

    /// Spends the sign-in code `code_id` if its stored hash is `secret_hash` (the SHA-256 of the
    /// presented secret; a hash compared, never a secret) and it is neither spent nor expired at `now`, and in the same transaction stores `session` for the code's
    /// user and role. A code is spent at most once, whatever happens concurrently.
    async fn redeem_signin_code(
        &self,
        tenant: &TenantId,
        code_id: &str,
        secret_hash: &[u8],
        now: Timestamp,
        session: NewSessionSecret,
    ) -> StoreResult<Redeemed>;

    /// A session by id, if it exists (expired ones too: the caller tells the user it expired).
    async fn find_session(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<SecretRecord>>;

    /// Ends a session; `false` if there was none.
    async fn delete_session(&self, tenant: &TenantId, id: &str) -> StoreResult<bool>;
}

/// A secret to store: its id, the hash of its secret part, and what it grants.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// Public id, unique within the tenant.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// Who it acts for.
    pub user: UserId,
    /// What it may do (`read` or `admin`).
    pub role: Role,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// The session a redeemed code turns into: the user and role come from the code.
#[derive(Debug, Clone)]
pub struct NewSessionSecret {
    /// Public id, unique within the tenant.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// When the session expires.
    pub expires_at: Timestamp,
}

/// A stored code or session as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// Public id.
    pub id: String,
    /// SHA-256 of the secret, compared in constant time by the caller.
    pub secret_hash: Vec<u8>,
    /// Who it acts for.
    pub user: UserId,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// What redeeming a sign-in code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was good: it is spent now and this session was stored.
    SignedIn(SecretRecord),
    /// The code had been used already.
    Spent,
    /// The code's time ran out before it was used.
    Expired,
    /// No such code (or its secret does not match).
    Unknown,
}
