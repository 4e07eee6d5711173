//! Notes (SPEC section 7): the permanent outcomes on an entity, written by users, agents or the
//! system, linked to the event they came from. A note is never edited: a correction is a new note
//! that `supersedes` the old one. Each note is also a `note.created` event on its entity.

use crate::validation::ValidationErrors;
use crate::{
    Action, Actor, ActorKind, Entity, EventType, NewEvent, Priority, Seq, Source, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map};
use uuid::Uuid;

/// The longest note body, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// How much of the body the `note.created` event carries as its description.
const EXCERPT_CHARS: usize = 2000;

/// Who wrote a note, as posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteAuthor {
    /// A stable id, 1-255 characters.
    pub id: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `user`, `agent` or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^(user|agent|system)$"))]
    pub kind: Option<String>,
}

/// The body of `POST /v1/entities/{type}/{id}/notes` (and a completion's `note`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// Markdown, up to 64 KiB.
    pub body: String,
    /// Who wrote it (default: the signed-in user, or the key).
    pub author: Option<NoteAuthor>,
    /// The event it came from.
    pub event_id: Option<Uuid>,
    /// The note it corrects.
    pub supersedes: Option<Uuid>,
}

/// A note's author, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// Its id.
    pub id: String,
    /// Its display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `user`, `agent` or `system`.
    pub kind: AuthorKind,
}

/// What kind of author wrote a note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorKind {
    /// A person.
    User,
    /// An AI agent or another automated worker.
    Agent,
    /// Spine or the product itself.
    System,
}

impl AuthorKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(Self::User),
            "agent" => Ok(Self::Agent),
            "system" => Ok(Self::System),
            _ => Err("must be one of user, agent, system".to_owned()),
        }
    }
}

/// A validated note, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNote {
    /// UUIDv7.
    pub id: Uuid,
    /// The entity it is written on.
    pub entity: Entity,
    /// Markdown.
    pub body: String,
    /// Who wrote it.
    pub author: Author,
    /// The event it came from.
    pub event_id: Option<Uuid>,
    /// The note it corrects.
    pub supersedes: Option<Uuid>,
    /// The job whose completion wrote it.
    pub job_id: Option<Uuid>,
}

/// A stored note.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// What was written.
    pub note: NewNote,
    /// The position of its `note.created` event.
    pub seq: Seq,
    /// When it was committed.
    pub created_at: Timestamp,
    /// The note that corrects this one, if any.
    pub superseded_by: Option<Uuid>,
}

impl NoteInput {
    /// Validates the note for `entity`; `default_author` is used when none is given.
    pub fn validate(
        self,
        entity: Entity,
        default_author: Author,
    ) -> Result<NewNote, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let body = crate::text::clean(&self.body);
        if body.is_empty() {
            errors.push("body", "must not be empty");
        } else if body.len() > MAX_NOTE_BYTES {
            errors.push("body", "must be at most 64 KiB");
        }
        let author = match self.author {
            None => Some(default_author),
            Some(given) => author(given, &mut errors),
        };
        let Some(author) = author else { return Err(errors) };
        let note = NewNote {
            id: Uuid::now_v7(),
            entity,
            body,
            author,
            event_id: self.event_id,
            supersedes: self.supersedes,
            job_id: None,
        };
        errors.into_result(note)
    }
}

fn author(given: NoteAuthor, errors: &mut ValidationErrors) -> Option<Author> {
    let id = crate::text::bounded(&given.id, 1, 255).map_err(|m| errors.push("author.id", m)).ok();
    let name = match given.name.as_deref().map(|n| crate::text::bounded(n, 1, 255)) {
        Some(Err(m)) => {
            errors.push("author.name", m);
            None
        }
        Some(Ok(n)) => Some(n),
        None => None,
    };
    let kind = match given.kind.as_deref().map(AuthorKind::parse) {
        Some(Err(m)) => {
            errors.push("author.kind", m);
            None
        }
        Some(Ok(k)) => Some(k),
        None => Some(AuthorKind::User),
    };
    Some(Author { id: id?, name, kind: kind? })
}

impl NewNote {
    /// The `note.created` event that records it on its entity: the author as actor, an
    /// excerpt as description, and the note's links in `data`.
    pub fn event(&self) -> NewEvent {
        let mut data = Map::new();
        data.insert("note_id".into(), json!(self.id));
        if let Some(id) = self.event_id {
            data.insert("event_id".into(), json!(id));
        }
        if let Some(id) = self.supersedes {
            data.insert("supersedes".into(), json!(id));
        }
        if let Some(id) = self.job_id {
            data.insert("job_id".into(), json!(id));
        }
        let first = self.body.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let first = first.trim_start_matches('#').trim();
        let title: String = if first.chars().count() > 200 {
            first.chars().take(199).chain(['…']).collect()
        } else {
            first.to_owned()
        };
        let title = if title.is_empty() { "Note".to_owned() } else { title };
        let excerpt: String = self.body.chars().take(EXCERPT_CHARS).collect();
        NewEvent {
            id: Uuid::now_v7(),
            event_type: EventType::builtin("note.created"),
            action: Action::Created,
            source: Source {
                system: "spine".to_owned(),
                object_id: Some(self.id.to_string()),
                object_type: Some("note".to_owned()),
            },
            actor: Some(Actor {
                id: self.author.id.clone(),
                name: self.author.name.clone(),
                kind: Some(match self.author.kind {
                    AuthorKind::User => ActorKind::User,
                    AuthorKind::Agent => ActorKind::Agent,
                    AuthorKind::System => ActorKind::System,
                }),
            }),
            entity: Some(self.entity.clone()),
            title,
            description: Some(excerpt),
            data: Some(data),
            changes: None,
            priority: Priority::Normal,
            tags: Vec::new(),
            correlation_id: None,
            causation_id: self.event_id.map(|id| id.to_string()),
            occurred_at: None,
            expires_at: None,
            idempotency_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity() -> Entity {
        Entity { entity_type: "contact".into(), id: "c1".into(), name: None }
    }

    fn system() -> Author {
        Author { id: "spine".into(), name: None, kind: AuthorKind::System }
    }

    #[test]
    fn a_note_becomes_an_event_on_its_entity() {
        let input = NoteInput {
            body: "\n## Summary\nThe caller wants a quote.".into(),
            author: Some(NoteAuthor { id: "bot".into(), name: None, kind: Some("agent".into()) }),
            event_id: Some(Uuid::nil()),
            supersedes: None,
        };
        let note = input.validate(entity(), system()).expect("valid");
        assert_eq!(note.author.kind, AuthorKind::Agent);
        let event = note.event();
        assert_eq!(event.event_type.as_str(), "note.created");
        assert_eq!(event.title, "Summary");
        assert_eq!(event.entity, Some(entity()));
        assert_eq!(event.causation_id, Some(Uuid::nil().to_string()));
        assert_eq!(event.actor.and_then(|a| a.kind), Some(ActorKind::Agent));
    }

    #[test]
    fn bad_notes_are_refused_field_by_field() {
        let input = NoteInput {
            body: " ".into(),
            author: Some(NoteAuthor { id: "".into(), name: None, kind: Some("robot".into()) }),
            event_id: None,
            supersedes: None,
        };
        let fields: Vec<String> = input
            .validate(entity(), system())
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["body", "author.id", "author.kind"]);
        let big = NoteInput {
            body: "x".repeat(MAX_NOTE_BYTES + 1),
            author: None,
            event_id: None,
            supersedes: None,
        };
        assert!(big.validate(entity(), system()).is_err());
    }
}
