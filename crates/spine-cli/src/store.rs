//! Opening the database a command works on: parses the `db` URL, picks the backend, migrates.
//! Every command goes through [`open_store`], so a new backend is added in one place.

use crate::config::Settings;
use crate::error::{CliError, CliResult};
use spine_core::TenantId;
use spine_postgres::{PgOptions, PgStore};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::{Store, Tenant};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file: `sqlite://PATH`, `sqlite:PATH` or a bare path.
    Sqlite(String),
    /// A PostgreSQL database shared by any number of nodes: `postgres://user@host:port/db`.
    Postgres(String),
}

/// Reads a database URL. The URL itself is never echoed in errors, since it may carry a
/// password.
pub fn parse_db_url(url: &str) -> CliResult<Backend> {
    let url = url.trim();
    if url.is_empty() {
        return Err(CliError::new("the database URL is empty; pass --db or set SPINE_DB"));
    }
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql") => Ok(Backend::Postgres(url.to_owned())),
        None | Some("sqlite") => Ok(Backend::Sqlite(url.to_owned())),
        Some(other) => Err(CliError::new(format!(
            "unsupported database URL scheme `{other}://`: use sqlite://PATH, a file path or \
             postgres://USER@HOST:PORT/DB"
        ))),
    }
}

/// The URL with any `user:password@` part masked, for logs and messages.
pub fn redact_db_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// An open, migrated store, plus what is needed to close it cleanly.
pub struct OpenedStore {
    /// The store, as every command and the server use it.
    pub store: Arc<dyn Store>,
    /// The concrete store, kept to flush and close it on the way out.
    concrete: Concrete,
}

enum Concrete {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl OpenedStore {
    /// Waits for pending writes and closes the database.
    pub async fn close(self) {
        match self.concrete {
            Concrete::Sqlite(store) => store.close().await,
            Concrete::Postgres(store) => store.close().await,
        }
    }
}

/// Opens `db_url` and applies pending migrations (idempotent), so every command also works on a
/// database that was just created. Backend options come from `settings`.
pub async fn open_store(db_url: &str, settings: &Settings) -> CliResult<OpenedStore> {
    match parse_db_url(db_url)? {
        Backend::Sqlite(url) => {
            let options = SqliteOptions {
                durable: settings.durable,
                read_connections: settings.read_connections,
                ..SqliteOptions::default()
            };
            let sqlite = SqliteStore::open(&url, options)
                .await
                .map_err(|e| CliError::from(e).context(format!("opening {url}")))?;
            sqlite.migrate().await.map_err(|e| CliError::from(e).context("migrating"))?;
            let sqlite = Arc::new(sqlite);
            let store: Arc<dyn Store> = sqlite.clone();
            Ok(OpenedStore { store, concrete: Concrete::Sqlite(sqlite) })
        }
        Backend::Postgres(url) => {
            let options = PgOptions {
                max_connections: settings.db_max_connections,
                statement_timeout: Duration::from_secs(settings.db_statement_timeout_seconds),
                ..PgOptions::default()
            };
            let shown = redact_db_url(&url);
            let pg = PgStore::open(&url, options)
                .await
                .map_err(|e| CliError::from(e).context(format!("opening {shown}")))?;
            pg.migrate().await.map_err(|e| CliError::from(e).context("migrating"))?;
            let pg = Arc::new(pg);
            let store: Arc<dyn Store> = pg.clone();
            Ok(OpenedStore { store, concrete: Concrete::Postgres(pg) })
        }
    }
}

/// The file a SQLite URL names, read the way the SQLite store reads it.
pub fn sqlite_path(url: &str) -> PathBuf {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    PathBuf::from(rest.split_once('?').map_or(rest, |(path, _)| path))
}

/// Like [`open_store`], but refuses a SQLite file that does not exist yet: commands that only
/// read or change existing records must not create an empty database at a mistyped path.
/// (A PostgreSQL database must exist already: connecting to a missing one fails.)
pub async fn open_existing_store(db_url: &str, settings: &Settings) -> CliResult<OpenedStore> {
    let Backend::Sqlite(url) = parse_db_url(db_url)? else {
        return open_store(db_url, settings).await;
    };
    let path = sqlite_path(&url);
    if !path.exists() {
        return Err(CliError::new(format!(
            "database {} does not exist (check --db, or create it with `spine migrate`)",
            path.display()
        )));
    }
    open_store(db_url, settings).await
}

/// The tenant `id`, or an error telling the operator how to create it.
pub async fn require_tenant(store: &dyn Store, id: &TenantId) -> CliResult<Tenant> {
    store.get_tenant(id).await?.ok_or_else(|| {
        CliError::new(format!(
            "no tenant `{id}` in this database (create it with `spine tenant create {id}`)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_name_the_postgres_backend_and_others_are_refused_without_echo() {
        for url in ["postgres://u:secret@host/db", "postgresql://host/db"] {
            assert_eq!(parse_db_url(url).ok(), Some(Backend::Postgres(url.to_owned())));
        }
        let err = parse_db_url("mysql://u:secret@host/db").err().map(|e| e.to_string());
        assert!(!err.unwrap_or_default().contains("secret"));
    }

    #[test]
    fn sqlite_forms_and_bare_paths_are_sqlite() {
        for url in ["sqlite://./a.db", "sqlite:a.db", "./data/a.db", "a.db"] {
            assert_eq!(parse_db_url(url).ok(), Some(Backend::Sqlite(url.to_owned())));
        }
        assert!(parse_db_url("mysql://x").is_err());
        assert!(parse_db_url(" ").is_err());
    }

    #[test]
    fn credentials_are_masked_in_logged_urls() {
        assert_eq!(redact_db_url("postgres://u:pw@h:5432/db"), "postgres://***@h:5432/db");
        assert_eq!(redact_db_url("sqlite://./a@b/x.db"), "sqlite://./a@b/x.db");
        assert_eq!(redact_db_url("a.db"), "a.db");
    }
}
