#![doc = include_str!("../README.md")]
//!
//! # The parts
//!
//! - [`Spine`]: a store opened on the service's own SQLite file or PostgreSQL database, and
//!   [`Spine::emit`], which appends events inside a transaction the caller holds.
//! - [`lifecycle`]: typed events for an object's life: created, updated (a field diff over
//!   tracked fields), deleted, state changed, custom.
//! - [`consumers`]: a registry of handlers by event type pattern, run as a durable consumer
//!   (at-least-once, checkpointed, resumable, retried, dead-lettered).
//!
//! The store is a full Spine store: serve it over HTTP with `spine_server::run` (live feeds,
//! streams, the Activity Center) or read it with [`Spine::store`].

pub mod consumers;
pub mod lifecycle;

pub use spine_core::input::EventInput;
pub use spine_core::{Event, Seq, TenantId};
pub use spine_store::{AppendOutcome, Store};

use spine_core::input::EventLimits;
use spine_core::{NewEvent, ValidationErrors};
use spine_postgres::{PgOptions, PgStore};
use spine_sqlite::{SqliteOptions, SqliteStore};
use spine_store::{Notice, StoreError};
use std::sync::Arc;
use uuid::Uuid;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event is invalid; every field error is listed.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A transaction of one kind of database was given to a Spine opened on the other.
    #[error("this Spine is opened on {0}: emit in a transaction on that database")]
    WrongDatabase(&'static str),
}

/// Shorthand for results.
pub type Result<T> = std::result::Result<T, Error>;

/// The database a [`Spine`] is opened on (an implementation detail of [`EmitIn`]).
#[doc(hidden)]
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Spine inside a service: a store on the service's own database.
#[derive(Clone)]
pub struct Spine {
    backend: Backend,
    store: Arc<dyn Store>,
    limits: Arc<EventLimits>,
}

impl std::fmt::Debug for Spine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Spine").field("database", &kind).finish()
    }
}

impl Spine {
    /// Opens Spine's tables in the database at `url` (`sqlite://PATH` or a path, or
    /// `postgres://...`), creating or migrating them.
    pub async fn open(url: &str) -> Result<Self> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(PgStore::open(url, PgOptions::default()).await?)
        } else {
            Backend::Sqlite(SqliteStore::open(url, SqliteOptions::default()).await?)
        };
        let store: Arc<dyn Store> = match &backend {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        };
        store.migrate().await?;
        Ok(Self { backend, store, limits: Arc::new(EventLimits::default()) })
    }

    /// The store, for everything else Spine does: reading feeds, serving HTTP
    /// (`spine_server::run`), creating tenants and keys.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Connection options for the service's own SQLite pool on `url`, with the pragmas Spine's
    /// connections use (WAL, `synchronous=FULL`, a busy timeout). Begin transactions that emit
    /// with `BEGIN IMMEDIATE` (`pool.begin_with("begin immediate")`).
    pub fn sqlite_connect_options(url: &str) -> sqlx::sqlite::SqliteConnectOptions {
        SqliteStore::connect_options(url)
    }

    /// Appends `events` for `tenant` inside the caller's transaction `conn` (`&mut *tx`): they
    /// commit or roll back with the caller's own writes. Idempotency keys, positions, summaries
    /// and queue rules work as for events posted to the API. After the transaction commits,
    /// call [`Emitted::committed`] so live readers in this process look at once.
    pub async fn emit<C: EmitIn>(
        &self,
        conn: &mut C,
        tenant: &TenantId,
        events: impl IntoIterator<Item = EventInput>,
    ) -> Result<Emitted> {
        let mut valid = Vec::new();
        for (i, event) in events.into_iter().enumerate() {
            let event = event.validate(Uuid::now_v7(), None, &self.limits);
            valid.push(event.map_err(|e| e.prefixed(&format!("events[{i}]")))?);
        }
        conn.append_in(&self.backend, tenant, valid).await
    }
}

/// A transaction's connection that can carry events: `SqliteConnection` and `PgConnection`
/// (pass `&mut *tx` for a `sqlx::Transaction`).
#[async_trait::async_trait]
pub trait EmitIn: Send {
    #[doc(hidden)]
    async fn append_in(
        &mut self,
        backend: &Backend,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Emitted>;
}

#[async_trait::async_trait]
impl EmitIn for sqlx::SqliteConnection {
    async fn append_in(
        &mut self,
        backend: &Backend,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Emitted> {
        let Backend::Sqlite(store) = backend else {
            return Err(Error::WrongDatabase("PostgreSQL"));
        };
        let (outcomes, notices) = store.append_in(self, tenant, events).await?;
        Ok(Emitted { outcomes, notices, store: Some(store.clone()) })
    }
}

#[async_trait::async_trait]
impl EmitIn for sqlx::PgConnection {
    async fn append_in(
        &mut self,
        backend: &Backend,
        tenant: &TenantId,
        events: Vec<NewEvent>,
    ) -> Result<Emitted> {
        let Backend::Postgres(store) = backend else { return Err(Error::WrongDatabase("SQLite")) };
        let outcomes = store.append_in(self, tenant, events).await?;
        // PostgreSQL announces the commit to every node itself.
        Ok(Emitted { outcomes, notices: Vec::new(), store: None })
    }
}

/// Events appended inside a transaction that has not committed yet.
#[must_use = "call `committed()` after the transaction commits, so live readers look"]
pub struct Emitted {
    /// One outcome per event, in order: created, or an idempotent repeat of a stored event.
    pub outcomes: Vec<AppendOutcome>,
    notices: Vec<Notice>,
    store: Option<SqliteStore>,
}

impl std::fmt::Debug for Emitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitted").field("outcomes", &self.outcomes).finish_non_exhaustive()
    }
}

impl Emitted {
    /// The events, stored or repeated.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.outcomes.iter().map(AppendOutcome::event)
    }

    /// Tells live readers (streams, consumers waiting in this process) once the caller's
    /// transaction has committed; answers the outcomes. Not calling it after a rollback is
    /// right: there is nothing to see.
    pub fn committed(self) -> Vec<AppendOutcome> {
        if let Some(store) = &self.store {
            store.announce(self.notices);
        }
        self.outcomes
    }
}
