//! Retention (SPEC section 8), the pure part: a tenant's policy (`PUT /v1/retention`) and the
//! decision whether an event has expired.
//!
//! An event expires at its own `expires_at`, or when it is older (by receipt) than the days its
//! type is kept: the most specific pattern of `types` that matches it (an exact type before any
//! prefix, a longer prefix before a shorter one), else `max_age_days`, else forever.

use crate::event::EventType;
use crate::filter::TypePattern;
use crate::time::Timestamp;
use crate::validation::ValidationErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest retention a policy may set (100 years).
pub const MAX_DAYS: u32 = 36_500;
/// How many type patterns a policy may have.
pub const MAX_PATTERNS: usize = 100;

/// The body of `PUT /v1/retention`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    /// Days every event is kept unless its type has its own (1-36500); absent: forever.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// Type pattern (`audit.*`, `task.created`) -> days its events are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, u32>,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retention {
    max_age_days: Option<u32>,
    /// Most specific first.
    types: Vec<(TypePattern, String, u32)>,
}

impl RetentionInput {
    /// Validates every field, reporting all errors at once.
    pub fn validate(self) -> Result<Retention, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let in_range = |d: u32| (1..=MAX_DAYS).contains(&d);
        if self.max_age_days.is_some_and(|d| !in_range(d)) {
            errors.push("max_age_days", format!("must be 1-{MAX_DAYS}"));
        }
        if self.types.len() > MAX_PATTERNS {
            errors.push("types", format!("at most {MAX_PATTERNS} patterns"));
        }
        let mut types = Vec::new();
        for (pattern, days) in &self.types {
            match TypePattern::parse(pattern) {
                Ok(parsed) if in_range(*days) => types.push((parsed, pattern.clone(), *days)),
                Ok(_) => errors.push(format!("types.{pattern}"), format!("must be 1-{MAX_DAYS}")),
                Err(m) => errors.push(format!("types.{pattern}"), m),
            }
        }
        types.sort_by_key(|(parsed, pattern, _)| {
            let exact = matches!(parsed, TypePattern::Exact(_));
            (std::cmp::Reverse(exact), std::cmp::Reverse(pattern.len()))
        });
        errors.into_result(Retention { max_age_days: self.max_age_days, types })
    }
}

impl Retention {
    /// The days events of this type are kept, `None` for forever.
    pub fn keep_days(&self, event_type: &EventType) -> Option<u32> {
        self.types
            .iter()
            .find(|(pattern, _, _)| pattern.matches(event_type))
            .map(|(_, _, days)| *days)
            .or(self.max_age_days)
    }

    /// Whether an event of `event_type` received at `received_at`, expiring at `expires_at`,
    /// has expired at `now`.
    pub fn expired(
        &self,
        event_type: &EventType,
        received_at: Timestamp,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        if expires_at.is_some_and(|at| at <= now) {
            return true;
        }
        self.keep_days(event_type)
            .is_some_and(|days| received_at < now.plus_seconds(-i64::from(days) * 86_400))
    }

    /// The receipt time before which some event may have expired by age (`None`: no age limit
    /// at all), to narrow the sweep's candidates.
    pub fn oldest_kept(&self, now: Timestamp) -> Option<Timestamp> {
        let days = self.types.iter().map(|(_, _, d)| *d).chain(self.max_age_days).min()?;
        Some(now.plus_seconds(-i64::from(days) * 86_400))
    }

    /// The policy as it is shown and stored.
    pub fn to_input(&self) -> RetentionInput {
        RetentionInput {
            max_age_days: self.max_age_days,
            types: self.types.iter().map(|(_, p, d)| (p.clone(), *d)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: serde_json::Value) -> Result<Retention, ValidationErrors> {
        serde_json::from_value::<RetentionInput>(v).expect("json").validate()
    }

    fn t(s: &str) -> EventType {
        EventType::parse(s).expect("type")
    }

    #[test]
    fn the_most_specific_pattern_decides() {
        let p = policy(json!({"max_age_days": 30, "types": {"audit.*": 365, "audit.login": 7, "audit.login.*": 14}}))
            .expect("valid");
        assert_eq!(p.keep_days(&t("audit.login")), Some(7), "exact first");
        assert_eq!(p.keep_days(&t("audit.login.failed")), Some(14), "the longer prefix");
        assert_eq!(p.keep_days(&t("audit.key.created")), Some(365));
        assert_eq!(p.keep_days(&t("task.created")), Some(30), "the default");
        assert_eq!(policy(json!({})).expect("valid").keep_days(&t("x")), None, "forever");
        assert_eq!(p.to_input().validate().expect("round trip"), p);
    }

    #[test]
    fn expiry_by_date_and_by_age() {
        let p = policy(json!({"types": {"task.*": 1}})).expect("valid");
        let now = Timestamp::parse("2026-12-01T12:00:00Z").expect("time");
        let day_ago = now.plus_seconds(-86_400 - 1);
        assert!(p.expired(&t("task.created"), day_ago, None, now));
        assert!(!p.expired(&t("task.created"), now.plus_seconds(-3600), None, now));
        assert!(!p.expired(&t("deal.won"), day_ago, None, now), "no policy for deals");
        assert!(p.expired(&t("deal.won"), now, Some(now), now), "its own expires_at");
        assert!(!p.expired(&t("deal.won"), now, Some(now.plus_seconds(1)), now));
        assert_eq!(p.oldest_kept(now), Some(now.plus_seconds(-86_400)));
        assert_eq!(policy(json!({})).expect("valid").oldest_kept(now), None);
    }

    #[test]
    fn bad_policies_name_their_fields() {
        let errors =
            policy(json!({"max_age_days": 0, "types": {"Bad Type": 3, "ok.*": 0}})).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_age_days", "types.Bad Type", "types.ok.*"]);
        assert!(serde_json::from_value::<RetentionInput>(json!({"days": 3})).is_err());
    }
}
