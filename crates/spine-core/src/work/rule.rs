//! Queue rules (SPEC section 7): a tenant's named filters that turn matching events into jobs,
//! like a channel's `process: true`. A rule is validated once at `PUT /v1/work/rules/{name}`
//! and stored as its input; the group commit matches every new event against the tenant's rules.

use crate::filter::{standing_filter, EventFilter};
use crate::validation::ValidationErrors;
use crate::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The default number of claims a job may take before a failure makes it dead.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The largest `max_attempts` a rule or channel may set.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;

/// Feed parameters a rule's filter may not carry: they need a user or the full-text index, or
/// are about paging, and a rule judges one event at its commit.
const NOT_RULE_FILTERS: &[&str] =
    &["q", "unread", "unseen", "archived", "order", "limit", "cursor", "after"];

/// The body of `PUT /v1/work/rules/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The feed's filter parameters as keys (`{"type": "call.*", "entity_type": "contact"}`);
    /// an array repeats a parameter. Not `q`, `unread`, `unseen`, `archived` or paging.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub filter: Map<String, Value>,
    /// The queue its jobs go to (default `default`).
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"^[a-z0-9][a-z0-9_.:-]*$"))]
    pub queue: Option<String>,
    /// Claims a job may take before a failure makes it dead (default 5, at most 100).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    pub max_attempts: Option<u32>,
    /// Per-entity ordering: jobs of one entity in this queue run one at a time, in `seq` order.
    #[serde(default)]
    pub ordered: bool,
}

/// What a new job is made of, decided by a channel or a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobSpec {
    /// The queue.
    pub queue: String,
    /// Its attempts before it is dead.
    pub max_attempts: u32,
    /// Whether jobs of one entity in this queue wait for the earlier ones.
    pub ordered: bool,
}

impl JobSpec {
    /// A channel's jobs: its queue, default attempts, unordered.
    pub fn for_channel(queue: &str) -> Self {
        Self { queue: queue.to_owned(), max_attempts: DEFAULT_MAX_ATTEMPTS, ordered: false }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRule {
    /// Its name within the tenant.
    pub name: String,
    /// The filter as given (stored and shown back).
    pub filter: Map<String, Value>,
    /// The filter, parsed.
    pub matcher: EventFilter,
    /// What its jobs are made of.
    pub spec: JobSpec,
}

impl QueueRule {
    /// Validates a rule named `name`, reporting every error at once.
    pub fn parse(name: &str, input: RuleInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if !crate::text::is_dotted_name(name, 64) {
            errors.push("name", "must be a lower-case name of up to 64 characters");
        }
        let queue = input.queue.unwrap_or_else(|| "default".to_owned());
        if !crate::text::is_dotted_name(&queue, 64) {
            errors.push("queue", "must be a lower-case name of up to 64 characters");
        }
        let max_attempts = input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            errors.push("max_attempts", format!("must be from 1 to {MAX_ATTEMPTS_LIMIT}"));
        }
        let matcher = match parse_filter(&input.filter) {
            Ok(matcher) => Some(matcher),
            Err(e) => {
                errors.0.extend(e.0);
                None
            }
        };
        let Some(matcher) = matcher else { return Err(errors) };
        let rule = QueueRule {
            name: name.to_owned(),
            filter: input.filter,
            matcher,
            spec: JobSpec { queue, max_attempts, ordered: input.ordered },
        };
        errors.into_result(rule)
    }

    /// The rule as its input (what is stored and served).
    pub fn input(&self) -> RuleInput {
        RuleInput {
            filter: self.filter.clone(),
            queue: Some(self.spec.queue.clone()),
            max_attempts: Some(self.spec.max_attempts),
            ordered: self.spec.ordered,
        }
    }

    /// Whether a new event becomes one of this rule's jobs. The work pipeline's own events
    /// (`job.*`) never do: a rule matching them would feed on itself.
    pub fn matches(&self, event: &Event) -> bool {
        !is_job_event(event) && self.matcher.matches(event)
    }
}

/// Whether the event is one the work pipeline appended for a transition.
pub fn is_job_event(event: &Event) -> bool {
    event.event_type.as_str().starts_with("job.") && event.source.system == "spine"
}

fn parse_filter(filter: &Map<String, Value>) -> Result<EventFilter, ValidationErrors> {
    let why = "a rule judges one event as it is committed: no search, read state or paging";
    standing_filter(filter, NOT_RULE_FILTERS, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> RuleInput {
        serde_json::from_value(v).expect("rule input")
    }

    #[test]
    fn a_rule_keeps_its_filter_and_defaults() {
        let rule = QueueRule::parse(
            "calls",
            input(json!({"filter": {"type": ["call.*"], "entity_type": "contact"}})),
        )
        .expect("valid");
        assert_eq!(rule.spec, JobSpec { queue: "default".into(), max_attempts: 5, ordered: false });
        assert_eq!(rule.matcher.types.len(), 1);
        assert_eq!(rule.matcher.entity_type.as_deref(), Some("contact"));
        let back = QueueRule::parse("calls", rule.input()).expect("round trip");
        assert_eq!(back, rule);
    }

    #[test]
    fn bad_rules_name_every_bad_field() {
        let err = QueueRule::parse(
            "Bad Name",
            input(json!({"filter": {"q": "x"}, "queue": "A", "max_attempts": 0})),
        )
        .expect_err("invalid");
        let fields: Vec<&str> = err.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"name") && fields.contains(&"queue"));
        assert!(fields.contains(&"max_attempts") && fields.contains(&"filter.q"), "{fields:?}");
        let err = QueueRule::parse("r", input(json!({"filter": {"prio": "high"}}))).unwrap_err();
        assert_eq!(err.0[0].field, "filter.prio");
    }
}
