//! The event model of SPEC section 3 as validated types: what a client may send (`NewEvent`, after
//! validation) and what spine stores and serves (`Event`).

use crate::idempotency::IdempotencyKey;
use crate::ids::{Seq, TenantId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use uuid::Uuid;

/// An event type: open vocabulary, dotted lower-case, `^[a-z0-9][a-z0-9_.:-]{0,127}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Validates a type name.
    pub fn parse(s: &str) -> Result<Self, String> {
        if crate::text::is_dotted_name(s, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err("must match ^[a-z0-9][a-z0-9_.:-]{0,127}$ (dotted lower-case, e.g. task.created)"
                .to_owned())
        }
    }

    /// The type as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// One of Spine's own types (`job.completed`, `note.created`), written as a literal here.
    pub(crate) fn builtin(name: &'static str) -> Self {
        debug_assert!(crate::text::is_dotted_name(name, 128));
        Self(name.to_owned())
    }
}

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<EventType> for String {
    fn from(t: EventType) -> String {
        t.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a closed string enum with its wire names, `parse`, `as_str` and its default.
macro_rules! closed_enum {
    ($(#[$doc:meta])* $name:ident, default = $default:ident, { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[doc = concat!("`", $wire, "`")] #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every wire name, for error messages and documentation.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// Parses a wire name.
            pub fn parse(s: &str) -> Result<Self, String> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(format!("must be one of {}", Self::NAMES.join(", "))),
                }
            }

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }
    };
}

closed_enum!(
    /// What kind of change an event records.
    Action, default = Custom, {
        Created = "created",
        Updated = "updated",
        Deleted = "deleted",
        StateChanged = "state_changed",
        Custom = "custom",
    }
);

closed_enum!(
    /// How urgent an event is.
    Priority, default = Normal, {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
);

closed_enum!(
    /// What sort of actor did it.
    ActorKind, default = User, {
        User = "user",
        Agent = "agent",
        System = "system",
        Service = "service",
    }
);

/// Where an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The originating system: `api`, `internal`, `github`, `stripe`...
    pub system: String,
    /// The object's id in that system, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// The object's type in that system, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
}

impl Default for Source {
    fn default() -> Self {
        Self { system: "api".to_owned(), object_id: None, object_type: None }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable id of the actor.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// user, agent, system or service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActorKind>,
}

impl Actor {
    /// The name to show: the display name, else the id.
    pub fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// The thing acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// Kind of thing: task, lead, contact...
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Its id within the tenant's product.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Entity {
    /// The name to show: the display name, else the id.
    pub fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One field-level change of an `updated` or `state_changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The field that changed.
    pub field: String,
    /// Its value before (null when absent).
    #[serde(default)]
    pub old: Value,
    /// Its value after (null when absent).
    #[serde(default)]
    pub new: Value,
}

/// A validated event that has not been committed yet: everything the client decides.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Assigned before commit (UUIDv7), so a caller can log it before the answer.
    pub id: Uuid,
    /// The event type.
    pub event_type: EventType,
    /// The kind of change.
    pub action: Action,
    /// Where it came from.
    pub source: Source,
    /// Who did it.
    pub actor: Option<Actor>,
    /// What it was done to.
    pub entity: Option<Entity>,
    /// One line, 1..512 characters.
    pub title: String,
    /// Up to 16 KiB.
    pub description: Option<String>,
    /// Free JSON object, up to 64 KiB.
    pub data: Option<Map<String, Value>>,
    /// Field-level changes.
    pub changes: Option<Vec<Change>>,
    /// Urgency.
    pub priority: Priority,
    /// Up to 32 distinct tags.
    pub tags: Vec<String>,
    /// Ties the events of one flow together.
    pub correlation_id: Option<String>,
    /// The event that caused this one.
    pub causation_id: Option<String>,
    /// As given by the client; `None` means "when spine receives it" and is then not part of
    /// the idempotent content (a retry later must not conflict with itself).
    pub occurred_at: Option<Timestamp>,
    /// Optional per-event expiry.
    pub expires_at: Option<Timestamp>,
    /// Given, or derived from `source.object_id`.
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A committed event, as stored and served (field names are the API contract).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7.
    pub id: Uuid,
    /// Commit-ordered position.
    pub seq: Seq,
    /// From the credential, never from the body.
    pub tenant: TenantId,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The kind of change.
    pub action: Action,
    /// Where it came from.
    pub source: Source,
    /// Who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// What it was done to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity>,
    /// One line.
    pub title: String,
    /// Longer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
    /// Field-level changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<Change>>,
    /// Urgency.
    pub priority: Priority,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Flow id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Cause id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// When spine committed it.
    pub received_at: Timestamp,
    /// Optional expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// The key that makes repeats idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
    /// Rendered one-line message.
    pub summary: String,
}

impl NewEvent {
    /// The event this becomes when committed at `seq` and `received_at`, with its summary.
    pub fn commit(
        self,
        tenant: TenantId,
        seq: Seq,
        received_at: Timestamp,
        summary: String,
    ) -> Event {
        Event {
            id: self.id,
            seq,
            tenant,
            event_type: self.event_type,
            action: self.action,
            source: self.source,
            actor: self.actor,
            entity: self.entity,
            title: self.title,
            description: self.description,
            data: self.data,
            changes: self.changes,
            priority: self.priority,
            tags: self.tags,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            occurred_at: self.occurred_at.unwrap_or(received_at),
            received_at,
            expires_at: self.expires_at,
            idempotency_key: self.idempotency_key,
            summary,
        }
    }
}
