//! Feed filters (SPEC section 5), viewer scopes (section 4) and the two feed orders. Parsed once
//! from query pairs here; stores translate them to SQL, and live delivery uses `matches`.

use crate::event::{Action, Event, EventType, Priority};
use crate::ids::Seq;
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};

/// The prefix of the audit trail's event types, which viewer scopes leave out unless they
/// name audit types.
pub const AUDIT_PREFIX: &str = "audit.";

/// One `type` filter value: an exact type or a `prefix.*` family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TypePattern {
    /// `task.created`
    Exact(EventType),
    /// `task.*`: the stored string is the prefix including the dot, `task.`
    Prefix(String),
}

impl TypePattern {
    /// Parses `task.created` or `task.*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.strip_suffix('*') {
            Some(prefix)
                if prefix.ends_with('.')
                    && EventType::parse(&prefix[..prefix.len() - 1]).is_ok() =>
            {
                Ok(Self::Prefix(prefix.to_owned()))
            }
            Some(_) => Err("a wildcard must follow a dot, as in task.*".to_owned()),
            None => EventType::parse(s).map(Self::Exact),
        }
    }

    /// Whether `t` matches this pattern.
    pub fn matches(&self, t: &EventType) -> bool {
        match self {
            Self::Exact(e) => e == t,
            Self::Prefix(p) => t.as_str().starts_with(p.as_str()),
        }
    }
}

impl TryFrom<String> for TypePattern {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<TypePattern> for String {
    fn from(p: TypePattern) -> String {
        match p {
            TypePattern::Exact(t) => t.into(),
            TypePattern::Prefix(p) => format!("{p}*"),
        }
    }
}

/// The order of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first by `occurred_at`, then `seq` (the default).
    #[default]
    Occurred,
    /// Commit order, oldest first, for syncing.
    Seq,
}

/// What a viewer token is narrowed to. Every field present must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Only this entity type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    /// Only this entity id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// Only these types (any of them).
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<TypePattern>,
    /// Only this actor id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Scope {
    /// Whether the event is inside this scope. A scope that names no types still leaves out
    /// the audit trail (`audit.*`): end users see the administration's actions only when
    /// their scope names audit types.
    pub fn matches(&self, e: &Event) -> bool {
        entity_matches(e, self.entity_type.as_deref(), self.entity_id.as_deref())
            && admits_type(&self.types, &e.event_type)
            && self.actor.as_ref().is_none_or(|a| e.actor.as_ref().is_some_and(|x| &x.id == a))
    }
}

/// Whether a feed or stream with this filter and viewer scope leaves the audit trail out: when
/// neither names any type (and the filter does not ask for the whole log). A scope that names
/// no types leaves it out on its own ([`Scope::matches`]).
pub fn hides_audit(filter: &EventFilter, scope: Option<&Scope>) -> bool {
    filter.types.is_empty() && !filter.with_audit && scope.is_none_or(|s| s.types.is_empty())
}

/// Whether `t` is a type of the audit trail.
pub fn is_audit(t: &EventType) -> bool {
    t.as_str().starts_with(AUDIT_PREFIX)
}

/// Whether a type filter lets `t` through: one of its patterns matches, or it has none and `t`
/// is not of the audit trail, which only a filter naming audit types shows.
fn admits_type(types: &[TypePattern], t: &EventType) -> bool {
    if types.is_empty() {
        !is_audit(t)
    } else {
        types.iter().any(|p| p.matches(t))
    }
}

fn entity_matches(e: &Event, entity_type: Option<&str>, entity_id: Option<&str>) -> bool {
    entity_type.is_none_or(|t| e.entity.as_ref().is_some_and(|x| x.entity_type == t))
        && entity_id.is_none_or(|i| e.entity.as_ref().is_some_and(|x| x.id == i))
}

/// The combinable feed filters of SPEC section 5. Empty means "everything".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Any of these types.
    pub types: Vec<TypePattern>,
    /// This action.
    pub action: Option<Action>,
    /// This `source.system`.
    pub source: Option<String>,
    /// This `actor.id`.
    pub actor: Option<String>,
    /// This `entity.type`.
    pub entity_type: Option<String>,
    /// This `entity.id`.
    pub entity_id: Option<String>,
    /// All of these tags.
    pub tags: Vec<String>,
    /// This priority.
    pub priority: Option<Priority>,
    /// `occurred_at >= since`.
    pub since: Option<Timestamp>,
    /// `occurred_at < until`.
    pub until: Option<Timestamp>,
    /// This correlation id.
    pub correlation_id: Option<String>,
    /// Full-text query over title, description, actor and entity names.
    pub q: Option<String>,
    /// Only events the requesting user has not read.
    pub unread: bool,
    /// Only events above the requesting user's seen watermark.
    pub unseen: bool,
    /// `Some(true)`: only events the user archived; `Some(false)`: only the others; `None`:
    /// both (viewer tokens default to `Some(false)`).
    pub archived: Option<bool>,
    /// Every type, the audit trail (`audit.*`) included, when `types` is empty: for exports,
    /// which copy the whole log. Otherwise a feed shows the trail only when its filter or
    /// scope names audit types ([`hides_audit`]).
    pub with_audit: bool,
}

/// Parses a `true`/`false` query value.
fn flag(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false".to_owned()),
    }
}

impl EventFilter {
    /// Whether a filter needs to know the requesting user (`unread`, `unseen`, `archived`).
    pub fn needs_user(&self) -> Option<&'static str> {
        if self.unread {
            Some("unread")
        } else if self.unseen {
            Some("unseen")
        } else if self.archived.is_some() {
            Some("archived")
        } else {
            None
        }
    }

    /// The filter a live stream applies. Events arriving live are new, so `archived=false` and
    /// `unseen=true` hold for every one of them and are dropped; `archived=true` holds for none
    /// of them, and is kept: such a stream (an archive view's) delivers only the user's read,
    /// seen and archive messages (see [`EventFilter::delivers_activity`]).
    pub fn live(mut self) -> Self {
        if self.archived != Some(true) {
            self.archived = None;
        }
        self.unseen = false;
        self
    }

    /// Whether a live stream with this filter delivers events at all (not when it asks for
    /// archived ones, which new events never are).
    pub fn delivers_activity(&self) -> bool {
        self.archived != Some(true)
    }

    /// Whether the event passes every filter except `q`, `unread`, `unseen` and `archived`,
    /// which need the store.
    pub fn matches(&self, e: &Event) -> bool {
        (self.types.is_empty() || self.types.iter().any(|p| p.matches(&e.event_type)))
            && self.action.is_none_or(|a| a == e.action)
            && self.source.as_ref().is_none_or(|s| *s == e.source.system)
            && self.actor.as_ref().is_none_or(|a| e.actor.as_ref().is_some_and(|x| &x.id == a))
            && entity_matches(e, self.entity_type.as_deref(), self.entity_id.as_deref())
            && self.tags.iter().all(|t| e.tags.contains(t))
            && self.priority.is_none_or(|p| p == e.priority)
            && self.since.is_none_or(|s| e.occurred_at >= s)
            && self.until.is_none_or(|u| e.occurred_at < u)
            && self.correlation_id.as_ref().is_none_or(|c| e.correlation_id.as_ref() == Some(c))
    }

    /// Applies one query pair; `Ok(false)` when the key is not a filter.
    fn apply(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let text = |v: &str| {
            let v = v.trim();
            if v.is_empty() || v.chars().count() > 512 {
                Err("must be 1-512 characters".to_owned())
            } else {
                Ok(v.to_owned())
            }
        };
        match key {
            "type" => self.types.push(TypePattern::parse(value)?),
            "action" => self.action = Some(Action::parse(value)?),
            "source" => self.source = Some(text(value)?),
            "actor" => self.actor = Some(text(value)?),
            "entity_type" => self.entity_type = Some(text(value)?),
            "entity_id" => self.entity_id = Some(text(value)?),
            "tag" => self.tags.push(text(value)?),
            "priority" => self.priority = Some(Priority::parse(value)?),
            "since" => self.since = Some(Timestamp::parse(value)?),
            "until" => self.until = Some(Timestamp::parse(value)?),
            "correlation_id" => self.correlation_id = Some(text(value)?),
            "q" => self.q = Some(text(value)?),
            "unread" => self.unread = flag(value)?,
            "unseen" => self.unseen = flag(value)?,
            "archived" => self.archived = Some(flag(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A parsed feed request: filters plus order, page size and the opaque cursor text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedRequest {
    /// The filters.
    pub filter: EventFilter,
    /// The order.
    pub order: Order,
    /// Page size, 1..=max.
    pub limit: u32,
    /// The raw `cursor=` value, decoded by the caller who holds the key.
    pub cursor: Option<String>,
    /// `after=` for streams: start after this position.
    pub after: Option<Seq>,
}

/// Page-size bounds of SPEC section 11.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// When `limit` is absent.
    pub default: u32,
    /// The largest accepted `limit`.
    pub max: u32,
}

impl Default for PageLimits {
    fn default() -> Self {
        Self { default: 30, max: 100 }
    }
}

impl PageLimits {
    /// A `limit` parameter's value: an integer from 1 to the largest page.
    pub fn parse(&self, value: &str) -> Result<u32, String> {
        match value.parse::<u32>() {
            Ok(n) if (1..=self.max).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {}", self.max)),
        }
    }
}

impl FeedRequest {
    /// Parses query pairs. Unknown keys are refused (a typo must not silently widen a filter);
    /// `extra` names keys the caller handles itself (e.g. `token` on streams).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        limits: PageLimits,
        extra: &[&str],
    ) -> Result<Self, ValidationErrors> {
        let mut req = FeedRequest { limit: limits.default, ..Default::default() };
        let mut errors = ValidationErrors::default();
        for (key, value) in pairs {
            let outcome = match key {
                "order" => match value {
                    "occurred" => Ok(Order::Occurred),
                    "seq" => Ok(Order::Seq),
                    _ => Err("must be occurred or seq".to_owned()),
                }
                .map(|o| req.order = o),
                "limit" => limits.parse(value).map(|n| req.limit = n),
                "cursor" => {
                    req.cursor = Some(value.to_owned());
                    Ok(())
                }
                "after" => Seq::parse(value).map(|s| req.after = Some(s)),
                k if extra.contains(&k) => Ok(()),
                k => match req.filter.apply(k, value) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("is not a known parameter".to_owned()),
                    Err(m) => Err(m),
                },
            };
            if let Err(m) = outcome {
                errors.push(key, m);
            }
        }
        errors.into_result(req)
    }
}

/// A filter given as a JSON object (a WebSocket subscription's, a queue rule's) as query pairs:
/// keys are the feed's parameters, an array repeats its parameter, `null` is absent. `field`
/// prefixes error fields (`filter`).
pub fn pairs_from_json(
    map: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<Vec<(String, String)>, ValidationErrors> {
    use serde_json::Value;
    let mut pairs = Vec::new();
    for (key, value) in map {
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => continue,
                Value::Array(_) | Value::Object(_) => {
                    let message =
                        "a filter value is a string, number, boolean or an array of those";
                    return Err(ValidationErrors::single(format!("{field}.{key}"), message));
                }
            };
            pairs.push((key.clone(), text));
        }
    }
    Ok(pairs)
}

/// A standing filter (a queue rule's, a consumer's, a webhook's) given as a JSON object of feed
/// parameters and kept as given: parsed like the feed's, refusing the parameters in `refused`
/// with `why` (errors are named `filter.KEY`).
pub fn standing_filter(
    map: &serde_json::Map<String, serde_json::Value>,
    refused: &[&str],
    why: &str,
) -> Result<EventFilter, ValidationErrors> {
    if let Some(key) = map.keys().find(|k| refused.contains(&k.as_str())) {
        return Err(ValidationErrors::single(format!("filter.{key}"), why));
    }
    let pairs = pairs_from_json(map, "filter")?;
    let strs = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    FeedRequest::from_pairs(strs, PageLimits::default(), &[])
        .map(|req| req.filter)
        .map_err(|e| e.prefixed("filter"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_filter() {
        let req = FeedRequest::from_pairs(
            [
                ("type", "task.*"),
                ("type", "lead.created"),
                ("tag", "a"),
                ("tag", "b"),
                ("priority", "high"),
                ("order", "seq"),
                ("limit", "5"),
                ("unread", "true"),
            ],
            PageLimits::default(),
            &[],
        )
        .unwrap();
        assert_eq!(req.filter.types.len(), 2);
        assert_eq!(req.filter.tags, ["a", "b"]);
        assert_eq!(req.order, Order::Seq);
        assert_eq!(req.limit, 5);
        assert!(req.filter.unread);
    }

    #[test]
    fn refuses_unknown_and_bad_values() {
        let errs = FeedRequest::from_pairs(
            [("tyep", "x"), ("limit", "1000"), ("type", "Task"), ("type", "task*"), ("since", "x")],
            PageLimits::default(),
            &[],
        )
        .unwrap_err();
        assert_eq!(errs.0.len(), 5);
    }

    #[test]
    fn the_audit_trail_shows_only_where_its_types_are_asked_for() {
        let pattern = |s: &str| TypePattern::parse(s).unwrap();
        let (audit, task) = (
            EventType::parse("audit.key.created").unwrap(),
            EventType::parse("task.created").unwrap(),
        );
        assert!(!admits_type(&[], &audit), "an open filter leaves it out");
        assert!(admits_type(&[], &task));
        assert!(admits_type(&[pattern("audit.*")], &audit));
        assert!(admits_type(&[pattern("audit.key.created")], &audit));
        assert!(!admits_type(&[pattern("task.*")], &audit));
    }

    #[test]
    fn prefix_patterns_match_families_only() {
        let p = TypePattern::parse("task.*").unwrap();
        assert!(p.matches(&EventType::parse("task.created").unwrap()));
        assert!(!p.matches(&EventType::parse("tasks.created").unwrap()));
    }

    proptest! {
        #[test]
        fn parser_never_panics(pairs in prop::collection::vec((".{0,12}", ".{0,40}"), 0..8)) {
            let _ = FeedRequest::from_pairs(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                PageLimits::default(),
                &[],
            );
        }
    }
}
