//! The crate's internal error, so `?` works on sqlx and JSON errors inside the store; it becomes a
//! `StoreError` (which knows nothing of PostgreSQL) at the trait boundary.

use spine_store::StoreError;

/// What can go wrong inside the PostgreSQL store.
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

    /// Whether the schema this needs is not there yet (an undefined table or function).
    pub(crate) fn is_not_migrated(&self) -> bool {
        matches!(self, Error::Sql(sqlx::Error::Database(db))
            if db.code().is_some_and(|c| matches!(&*c, "42P01" | "42883")))
    }

    /// Whether retrying later could help: the pool is closed or exhausted, the connection broke,
    /// or the server shed the work (serialization failure, deadlock, shutdown, statement timeout,
    /// insufficient resources such as too many connections, or a database not accepting
    /// connections for now).
    fn is_unavailable(&self) -> bool {
        match self {
            Error::Sql(
                sqlx::Error::PoolClosed
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Io(_),
            ) => true,
            Error::Sql(sqlx::Error::Database(db)) => db.code().is_some_and(|c| {
                matches!(
                    &*c,
                    "40001" | "40P01" | "55000" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
                ) || c.starts_with("08")
                    || c.starts_with("53")
            }),
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
