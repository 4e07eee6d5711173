//! Consumers (SPEC section 8), the pure part: a consumer is a named, durable cursor over the
//! tenant's log with a standing filter. `next` reads the matching events after its checkpoint
//! without moving it; `ack` moves it forward (or back, when asked to rewind). Delivery is
//! at-least-once by construction: nothing is skipped until the consumer says it was handled.
//!
//! This module validates what a client sends: the consumer ([`ConsumerInput`], with where it
//! starts, [`Start`]) and an acknowledgement ([`AckInput`]).

use crate::filter::{standing_filter, EventFilter};
use crate::ids::Seq;
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Feed parameters a consumer's filter may not carry: read state belongs to a user, paging to
/// `next`.
const NOT_CONSUMER_FILTERS: &[&str] =
    &["unread", "unseen", "archived", "order", "limit", "cursor", "after"];

/// The body of `POST /v1/consumers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsumerInput {
    /// Its name, unique in the tenant: lower case, digits, `_ . : -`, up to 64 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9_.:-]*$"))]
    pub name: String,
    /// The feed's filter parameters as keys (`{"type": "deal.*", "entity_type": "deal"}`); an
    /// array repeats a parameter. Not `unread`, `unseen`, `archived` or paging. Absent: every
    /// event.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub filter: Map<String, Value>,
    /// Where it starts: `"beginning"` (the default), `"end"` (only what comes next),
    /// `{"after": SEQ}` or `{"since": RFC3339}` (the events received since then).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub start: Option<Value>,
}

/// Where a new consumer's checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Before the first event.
    Beginning,
    /// At the head when it is created: only later events.
    End,
    /// After this position.
    After(Seq),
    /// After the last event received before this time.
    Since(Timestamp),
}

/// A validated consumer, ready to store once its start is resolved to a position.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsumer {
    /// The name.
    pub name: String,
    /// The filter as given (stored and shown back).
    pub filter: Map<String, Value>,
    /// The filter, parsed.
    pub matcher: EventFilter,
    /// Where it starts.
    pub start: Start,
}

impl ConsumerInput {
    /// Validates every field, reporting all errors at once.
    pub fn validate(self) -> Result<NewConsumer, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if !is_name(&self.name) {
            errors.push("name", "must be a lower-case name of up to 64 characters");
        }
        let matcher = consumer_filter(&self.filter).map_err(|e| errors.0.extend(e.0)).ok();
        let start = match self.start.as_ref().map(parse_start).transpose() {
            Ok(start) => start.unwrap_or(Start::Beginning),
            Err(message) => {
                errors.push("start", message);
                Start::Beginning
            }
        };
        match matcher {
            Some(matcher) => errors.into_result(NewConsumer {
                name: self.name,
                filter: self.filter,
                matcher,
                start,
            }),
            None => Err(errors),
        }
    }
}

/// Whether a consumer (or webhook) name is acceptable.
pub fn is_name(name: &str) -> bool {
    crate::text::is_dotted_name(name, 64)
}

/// A stored consumer's filter, parsed (it was validated when the consumer was made).
pub fn consumer_filter(filter: &Map<String, Value>) -> Result<EventFilter, ValidationErrors> {
    let why = "a consumer reads the log for a program: no read state, no paging (that is `next`)";
    standing_filter(filter, NOT_CONSUMER_FILTERS, why)
}

fn parse_start(value: &Value) -> Result<Start, String> {
    const SHAPE: &str =
        r#"must be "beginning", "end", {"after": SEQ} or {"since": "RFC 3339 time"}"#;
    match value {
        Value::String(s) if s == "beginning" => Ok(Start::Beginning),
        Value::String(s) if s == "end" => Ok(Start::End),
        Value::Object(fields) if fields.len() == 1 => match fields.iter().next() {
            Some((key, Value::Number(n))) if key == "after" => n
                .as_i64()
                .filter(|n| *n >= 0)
                .map(|n| Start::After(Seq(n)))
                .ok_or_else(|| "after must be a non-negative integer".to_owned()),
            Some((key, Value::String(t))) if key == "since" => {
                Timestamp::parse(t).map(Start::Since).map_err(|e| format!("since {e}"))
            }
            _ => Err(SHAPE.to_owned()),
        },
        _ => Err(SHAPE.to_owned()),
    }
}

/// The body of `POST /v1/consumers/{name}/ack`: exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AckInput {
    /// Everything up to and including this position was handled: the checkpoint moves here
    /// (never backwards: an older acknowledgement changes nothing).
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub through_seq: Option<i64>,
    /// Move the checkpoint back (or anywhere) to this position, to handle events again.
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub rewind_to: Option<i64>,
}

/// A validated acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// Forward only.
    Through(Seq),
    /// To exactly this position.
    RewindTo(Seq),
}

impl Ack {
    /// The position it names.
    pub fn seq(self) -> Seq {
        match self {
            Self::Through(seq) | Self::RewindTo(seq) => seq,
        }
    }
}

impl AckInput {
    /// Validates: exactly one non-negative position.
    pub fn validate(self) -> Result<Ack, ValidationErrors> {
        let non_negative = |field: &str, n: i64| {
            if n < 0 {
                Err(ValidationErrors::single(field, "must be a non-negative integer"))
            } else {
                Ok(Seq(n))
            }
        };
        match (self.through_seq, self.rewind_to) {
            (Some(n), None) => non_negative("through_seq", n).map(Ack::Through),
            (None, Some(n)) => non_negative("rewind_to", n).map(Ack::RewindTo),
            _ => Err(ValidationErrors::single(
                "through_seq",
                "give exactly one of through_seq and rewind_to",
            )),
        }
    }
}

/// The checkpoint after `ack` is applied to `checkpoint`.
pub fn acknowledged(checkpoint: Seq, ack: Ack) -> Seq {
    match ack {
        Ack::Through(seq) => checkpoint.max(seq),
        Ack::RewindTo(seq) => seq,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn consumer(v: Value) -> Result<NewConsumer, ValidationErrors> {
        serde_json::from_value::<ConsumerInput>(v).expect("consumer json").validate()
    }

    fn fields(errors: &ValidationErrors) -> Vec<&str> {
        errors.0.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn consumers_start_where_they_are_told() {
        let c = consumer(json!({"name": "billing", "filter": {"type": ["invoice.*"]}})).unwrap();
        assert_eq!((c.start, c.matcher.types.len()), (Start::Beginning, 1));
        assert_eq!(consumer(json!({"name": "a", "start": "end"})).unwrap().start, Start::End);
        let after = consumer(json!({"name": "a", "start": {"after": 42}})).unwrap();
        assert_eq!(after.start, Start::After(Seq(42)));
        let since = consumer(json!({"name": "a", "start": {"since": "2026-11-30T10:00:00Z"}}));
        assert_eq!(
            since.unwrap().start,
            Start::Since(Timestamp::parse("2026-11-30T10:00:00Z").unwrap())
        );
    }

    #[test]
    fn bad_consumers_name_every_field() {
        let errors = consumer(json!({"name": "Bad Name", "filter": {"unread": true, "type": "x"},
                                     "start": {"after": -1}}))
        .unwrap_err();
        assert_eq!(fields(&errors), ["name", "filter.unread", "start"]);
        for start in [
            json!("middle"),
            json!({"after": 1, "since": "x"}),
            json!({"since": "yesterday"}),
            json!(7),
        ] {
            let errors = consumer(json!({"name": "a", "start": start})).unwrap_err();
            assert_eq!(fields(&errors), ["start"], "{start}");
        }
        let errors =
            consumer(json!({"name": "a", "filter": {"priority": "urgentest"}})).unwrap_err();
        assert_eq!(fields(&errors), ["filter.priority"]);
        assert!(
            serde_json::from_value::<ConsumerInput>(json!({"name": "a", "tenant": "b"})).is_err()
        );
    }

    #[test]
    fn acks_name_exactly_one_position() {
        let ack = |v: Value| serde_json::from_value::<AckInput>(v).unwrap().validate();
        assert_eq!(ack(json!({"through_seq": 5})), Ok(Ack::Through(Seq(5))));
        assert_eq!(ack(json!({"rewind_to": 0})), Ok(Ack::RewindTo(Seq(0))));
        assert!(ack(json!({})).is_err());
        assert!(ack(json!({"through_seq": 5, "rewind_to": 1})).is_err());
        assert_eq!(fields(&ack(json!({"rewind_to": -2})).unwrap_err()), ["rewind_to"]);
    }

    proptest! {
        #[test]
        fn a_checkpoint_never_moves_back_unless_rewound(acks in proptest::collection::vec((any::<bool>(), 0i64..1000), 0..30)) {
            let mut checkpoint = Seq::ZERO;
            for (rewind, n) in acks {
                let ack = if rewind { Ack::RewindTo(Seq(n)) } else { Ack::Through(Seq(n)) };
                let next = acknowledged(checkpoint, ack);
                if rewind {
                    prop_assert_eq!(next, Seq(n));
                } else {
                    prop_assert!(next >= checkpoint && next >= Seq(n));
                }
                checkpoint = next;
            }
        }
    }
}
