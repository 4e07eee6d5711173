//! The crate's internal error, so `?` works on sqlx and JSON errors inside the store; it becomes a
//! `StoreError` (which knows nothing of SQLite) at the trait boundary.

use spine_store::StoreError;

/// What can go wrong inside the SQLite store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The database refused or failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A stored JSON document (event body, type info) did not read back.
    #[error("stored json is unreadable: {0}")]
    Json(#[from] serde_json::Error),
    /// A stored row holds a value this build cannot read (a provider name, a mapping...).
    #[error("stored row is unreadable: {0}")]
    Unreadable(String),
    /// A search came while the indexer was too far behind the log to answer it whole.
    #[error("the search index is catching up with the newest events; retry shortly")]
    IndexBehind,
    /// The schema is missing or older than this build expects.
    #[error("migrations are not applied (database at version {found}, expected {expected})")]
    NotMigrated {
        /// Applied version.
        found: i64,
        /// Version this build needs.
        expected: i64,
    },
}

impl Error {
    /// Whether this is a uniqueness violation (a taken tenant or key id).
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Sql(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// Whether retrying later could help: the pool is closed or exhausted, or the file is locked.
    fn is_unavailable(&self) -> bool {
        match self {
            Error::Sql(
                sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed,
            ) => true,
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with extended codes in the high bits.
            Error::Sql(sqlx::Error::Database(db)) => db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
            Error::IndexBehind => true,
            _ => false,
        }
    }

    /// A `StoreError` describing this error, for when one failure answers many requests.
    pub(crate) fn to_store_error(&self) -> StoreError {
        if self.is_unavailable() {
            StoreError::Unavailable(self.to_string())
        } else {
            StoreError::Other(self.to_string().into())
        }
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        if e.is_unavailable() || matches!(e, Error::NotMigrated { .. }) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::other(e)
        }
    }
}

/// Shorthand for results inside this crate.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
