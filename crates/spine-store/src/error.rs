//! The storage error: what went wrong, in storage terms. The server maps it to problems.

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist (in this tenant).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken, e.g. a tenant id that is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store is shutting down or its writer is gone; retry elsewhere.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a database error. The text is for logs, never for clients.
    #[error("storage error: {0}")]
    Other(#[from] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any error as `Other`.
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Other(Box::new(e))
    }
}
