//! Idempotency (SPEC section 3): the key, its derivation from `source.object_id`, and the content
//! fingerprint that tells a harmless repeat (same content) from a conflict (different content).

use crate::event::{Event, EventType, NewEvent, Source};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A tenant-scoped idempotency key: 1..=255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a client-given key.
    pub fn parse(s: &str, max_chars: usize) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > max_chars || s.chars().any(char::is_control) {
            return Err(format!("must be 1-{max_chars} printable characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// Derives a key from `(source.system, source.object_type, source.object_id, type,
    /// occurred_at)` when the source names an object; `None` otherwise.
    pub fn derive(
        source: &Source,
        event_type: &EventType,
        occurred_at: Option<Timestamp>,
    ) -> Option<Self> {
        let object_id = source.object_id.as_deref()?;
        let mut h = Sha256::new();
        for part in [
            source.system.as_str(),
            source.object_type.as_deref().unwrap_or(""),
            object_id,
            event_type.as_str(),
        ] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update(occurred_at.map_or(-1, Timestamp::as_micros).to_le_bytes());
        Some(Self(format!("derived:{}", hex(&h.finalize()[..16]))))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fields compared to tell a repeat from a conflict, with how each reads on both sides.
/// `occurred_at` counts only when the new request gave one: a retry that leaves it to the server
/// must not conflict with its own first attempt.
fn comparable(e: &NewEvent) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let mut fields = vec![
        ("type", json!(e.event_type)),
        ("action", json!(e.action)),
        ("source", json!(e.source)),
        ("actor", json!(e.actor)),
        ("entity", json!(e.entity)),
        ("title", json!(e.title)),
        ("description", json!(e.description)),
        ("data", json!(e.data)),
        ("changes", json!(e.changes)),
        ("priority", json!(e.priority)),
        ("tags", json!(e.tags)),
        ("correlation_id", json!(e.correlation_id)),
        ("causation_id", json!(e.causation_id)),
        ("expires_at", json!(e.expires_at)),
    ];
    if let Some(at) = e.occurred_at {
        fields.push(("occurred_at", json!(at)));
    }
    fields
}

impl NewEvent {
    /// A digest of the idempotent content, stored beside the key so a repeat is recognised
    /// without re-reading the original.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (name, value) in comparable(self) {
            if name == "occurred_at" {
                continue;
            }
            h.update(name.as_bytes());
            h.update(value.to_string().as_bytes());
        }
        hex(&h.finalize()[..16])
    }

    /// The names of the fields whose content differs from `existing`; empty for a true repeat.
    pub fn differing_fields(&self, existing: &Event) -> Vec<&'static str> {
        use serde_json::json;
        let stored = |name: &str| match name {
            "type" => json!(existing.event_type),
            "action" => json!(existing.action),
            "source" => json!(existing.source),
            "actor" => json!(existing.actor),
            "entity" => json!(existing.entity),
            "title" => json!(existing.title),
            "description" => json!(existing.description),
            "data" => json!(existing.data),
            "changes" => json!(existing.changes),
            "priority" => json!(existing.priority),
            "tags" => json!(existing.tags),
            "correlation_id" => json!(existing.correlation_id),
            "causation_id" => json!(existing.causation_id),
            "expires_at" => json!(existing.expires_at),
            "occurred_at" => json!(existing.occurred_at),
            _ => serde_json::Value::Null,
        };
        comparable(self)
            .into_iter()
            .filter(|(name, v)| *v != stored(name))
            .map(|(n, _)| n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Seq, TenantId};
    use crate::input::{EventInput, EventLimits};
    use proptest::prelude::*;
    use serde_json::json;
    use uuid::Uuid;

    fn new_event(v: serde_json::Value) -> NewEvent {
        serde_json::from_value::<EventInput>(v)
            .unwrap()
            .validate(Uuid::nil(), None, &EventLimits::default())
            .unwrap()
    }

    #[test]
    fn repeat_has_no_differing_fields_and_change_names_them() {
        let first = new_event(json!({"type": "a.b", "title": "t", "tags": ["x"]}));
        let stored = first.clone().commit(
            TenantId::parse("t").unwrap(),
            Seq(1),
            Timestamp::from_micros(5).unwrap(),
            "s".into(),
        );
        assert!(first.differing_fields(&stored).is_empty());
        let second = new_event(json!({"type": "a.b", "title": "other", "tags": ["y"]}));
        assert_eq!(second.differing_fields(&stored), vec!["title", "tags"]);
        assert_ne!(first.fingerprint(), second.fingerprint());
    }

    #[test]
    fn fingerprint_ignores_the_server_default_time() {
        let a = new_event(json!({"type": "a", "title": "t"}));
        let b = new_event(json!({"type": "a", "title": "t"}));
        assert_eq!(a.fingerprint(), b.fingerprint());
    }

    proptest! {
        #[test]
        fn derived_keys_differ_when_any_part_differs(
            id1 in "[a-z0-9]{1,8}", id2 in "[a-z0-9]{1,8}", t in 0i64..1_000_000
        ) {
            let src = |id: &str| Source { system: "github".into(), object_id: Some(id.into()), object_type: None };
            let ty = EventType::parse("issue.opened").unwrap();
            let at = Timestamp::from_micros(t);
            let k1 = IdempotencyKey::derive(&src(&id1), &ty, at).unwrap();
            let k2 = IdempotencyKey::derive(&src(&id2), &ty, at).unwrap();
            prop_assert_eq!(k1 == k2, id1 == id2);
        }
    }
}
