//! Spine's domain, with no I/O: everything here is a pure function of its inputs.
//!
//! - [`agent`]: coding agents' sessions and per-tool statistics, folded from their events.
//! - [`apikey`]: the `spk_<id>_<secret>` key format and its hash.
//! - [`channel`]: ingestion channels: providers, directions, mappings, validated channel input,
//!   privacy settings of agent channels.
//! - [`consumer`]: durable consumers: validated consumer input, start positions, acknowledgements.
//! - [`ids`]: `TenantId`, `Seq`, `UserId`, `Role`: the identities every other part passes around.
//! - [`time`]: `Timestamp`, microsecond UTC instants serialised as RFC 3339.
//! - [`text`]: how free text is cleaned (trim, strip control characters) and bounded.
//! - [`event`]: the event model of SPEC section 3 as validated types, and the stored `Event`.
//! - [`input`]: the wire shape of a posted event and its validation into a `NewEvent`.
//! - [`idempotency`]: `IdempotencyKey`, key derivation and the content fingerprint.
//! - [`diff`]: `diff(old, new, tracked_fields)` for lifecycle `updated` events.
//! - [`filter`]: feed filters, viewer scopes and the two orders; `matches` for live delivery.
//! - [`cursor`]: opaque, signed keyset cursors.
//! - [`token`]: signed, expiring, scoped viewer tokens.
//! - [`session`]: one-time sign-in codes and Activity Center sessions.
//! - [`limits`]: a tenant's rate limits and storage quotas, and the token bucket they are counted
//!   in.
//! - [`retention`]: a tenant's retention policy and whether an event has expired.
//! - [`sealed`]: secrets that must be usable again (webhook signing secrets), sealed at rest
//!   under a key derived from the installation secret.
//! - [`summary`]: registered type presentation and the summary renderer.
//! - [`identifier`]: contact e-mail addresses and phone numbers, normalized (lower case, E.164).
//! - [`validation`]: the field-level error list every validator returns.
//! - [`note`]: notes, the permanent outcomes on an entity, and their `note.created` events.
//! - [`work`]: queue rules, jobs and the events of their transitions; job states, leases that fence out a stolen job's old holder, the retry schedule.
//! - [`ingest`]: providers (verifier and normalizer, one module each), drafts and delivery keys.
//! - [`webhook`]: outbound webhooks: validated endpoints, refused addresses, the retry
//!   schedule, message ids.
//! - [`files`]: uploaded files: the sanitized name they are shown under, their sniffed type.

pub mod agent;
pub mod apikey;
pub mod channel;
pub mod consumer;
pub mod cursor;
pub mod diff;
pub mod event;
pub mod files;
pub mod filter;
pub mod idempotency;
pub mod identifier;
pub mod ids;
pub mod ingest;
pub mod input;
pub mod limits;
pub mod note;
pub mod retention;
pub mod sealed;
pub mod session;
pub mod summary;
pub mod text;
pub mod time;
pub mod token;
pub mod validation;
pub mod webhook;
pub mod work;

pub use cursor::{Cursor, CursorError};
pub use diff::diff;
pub use event::{
    Action, Actor, ActorKind, Change, Entity, Event, EventType, NewEvent, Priority, Source,
};
pub use filter::{EventFilter, Order, Scope, TypePattern};
pub use idempotency::IdempotencyKey;
pub use ids::{Role, Seq, TenantId, UserId};
pub use input::EventInput;
pub use summary::TypeInfo;
pub use time::Timestamp;
pub use validation::{FieldError, ValidationErrors};
