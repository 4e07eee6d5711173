//! A deterministic generator of realistic events: a SaaS product's tasks, leads, deploys and
//! agent tool calls, by a few dozen actors over a thousand entities.

use serde_json::{json, Value};
use spine_core::input::{EventInput, EventLimits};
use spine_core::NewEvent;

const TYPES: &[(&str, &str, &str)] = &[
    ("task.created", "created", "task"),
    ("task.updated", "updated", "task"),
    ("task.completed", "state_changed", "task"),
    ("comment.created", "created", "task"),
    ("lead.created", "created", "lead"),
    ("lead.high_intent", "custom", "lead"),
    ("call.inbound", "custom", "contact"),
    ("email.received", "custom", "contact"),
    ("deploy.finished", "custom", "service"),
    ("tool.called", "custom", "session"),
];
const NAMES: &[&str] = &["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun"];
const TAGS: &[&str] = &["billing", "docs", "urgent", "frontend", "backend", "sales", "ops", "ai"];

/// A small xorshift generator: deterministic, dependency-free, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The `i`-th event of the data set as request JSON. `occurred_at` walks back from a fixed
/// instant so runs are comparable.
pub fn event_json(rng: &mut Rng, i: usize) -> Value {
    let (ty, action, entity_type) = TYPES[rng.below(TYPES.len())];
    let actor = rng.below(40);
    let entity = rng.below(1000);
    let name = NAMES[actor % NAMES.len()];
    let mut tags = vec![TAGS[rng.below(TAGS.len())]];
    if rng.below(3) == 0 {
        tags.push(TAGS[rng.below(TAGS.len())]);
    }
    tags.dedup();
    let seconds_back = i as u64 * 2 + rng.below(2) as u64;
    let occurred = 1_780_000_000u64.saturating_sub(seconds_back);
    let priority = ["low", "normal", "normal", "high"][rng.below(4)];
    let mut v = json!({
        "type": ty,
        "action": action,
        "title": format!("{name} worked on {entity_type} {entity} (#{i})"),
        "actor": {"id": format!("user-{actor}"), "name": format!("{name} {actor}"), "kind": if actor % 10 == 9 { "agent" } else { "user" }},
        "entity": {"type": entity_type, "id": format!("{entity_type}-{entity}"), "name": format!("{entity_type} number {entity}")},
        "priority": priority,
        "tags": tags,
        "occurred_at": format_unix(occurred),
        "correlation_id": format!("flow-{}", i / 8),
        "data": {"points": rng.below(13), "estimate_hours": rng.below(40)},
    });
    match action {
        "updated" => {
            v["changes"] = json!([{"field": "title", "old": "draft", "new": format!("v{i}")}])
        }
        "state_changed" => v["changes"] = json!([{"field": "state", "old": "open", "new": "done"}]),
        _ => {}
    }
    v
}

/// The `i`-th event, validated.
pub fn new_event(rng: &mut Rng, i: usize) -> NewEvent {
    let input: EventInput = serde_json::from_value(event_json(rng, i)).unwrap_or_default();
    input
        .validate(uuid::Uuid::now_v7(), None, &EventLimits::default())
        .unwrap_or_else(|e| panic!("the generator made an invalid event: {e}"))
}

fn format_unix(secs: u64) -> String {
    let t = spine_core::Timestamp::from_micros(secs as i64 * 1_000_000)
        .unwrap_or(spine_core::Timestamp::MIN);
    t.to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_events_are_valid_and_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for i in 0..500 {
            let x = event_json(&mut a, i);
            assert_eq!(x, event_json(&mut b, i));
            let input: EventInput = serde_json::from_value(x).unwrap();
            input.validate(uuid::Uuid::nil(), None, &EventLimits::default()).unwrap();
        }
    }
}
