//! Per-tool statistics of an agent's finished and failed tool calls: how many, how many went
//! wrong, and the median and 95th percentile of their durations (`data.duration_ms`), by the
//! nearest-rank method, so every percentile is a duration that was actually measured.

use super::{data_str, is_failed_call, TOOL_FAILED, TOOL_FINISHED};
use crate::Event;
use serde_json::Value;
use std::collections::HashMap;

/// One tool's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolStats {
    /// The tool's name (`data.tool_name`; `unknown` when the event has none).
    pub tool: String,
    /// Finished and failed calls.
    pub calls: u64,
    /// Calls that failed or did not succeed.
    pub failures: u64,
    /// The median duration of the calls that carry one; `None` when none does.
    pub p50_ms: Option<u64>,
    /// The 95th percentile of those durations.
    pub p95_ms: Option<u64>,
}

/// The nearest-rank `percent`th percentile of `sorted` (ascending): the smallest value with at
/// least `percent` % of the values at or below it. `None` for no values; `percent` is clamped
/// to 1..=100.
pub fn nearest_rank(sorted: &[u64], percent: u32) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let percent = percent.clamp(1, 100) as usize;
    let rank = (percent * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// A duration in whole milliseconds, from a JSON number that is one.
fn duration_ms(event: &Event) -> Option<u64> {
    match event.data.as_ref()?.get("duration_ms")? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f.round() as u64)
        }),
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    failures: u64,
    durations: Vec<u64>,
}

/// Folds finished and failed tool calls into per-tool figures; other events are ignored.
#[derive(Debug, Default)]
pub struct ToolFold {
    tools: HashMap<String, Tally>,
}

impl ToolFold {
    /// Adds one event.
    pub fn add(&mut self, event: &Event) {
        if !matches!(event.event_type.as_str(), TOOL_FINISHED | TOOL_FAILED) {
            return;
        }
        let tool = data_str(event, "tool_name").unwrap_or("unknown");
        let tally = self.tools.entry(tool.to_owned()).or_default();
        tally.calls += 1;
        if is_failed_call(event) {
            tally.failures += 1;
        }
        if let Some(ms) = duration_ms(event) {
            tally.durations.push(ms);
        }
    }

    /// The tools, the most called first (then by name).
    pub fn finish(self) -> Vec<ToolStats> {
        let mut tools: Vec<ToolStats> = self
            .tools
            .into_iter()
            .map(|(tool, mut t)| {
                t.durations.sort_unstable();
                ToolStats {
                    tool,
                    calls: t.calls,
                    failures: t.failures,
                    p50_ms: nearest_rank(&t.durations, 50),
                    p95_ms: nearest_rank(&t.durations, 95),
                }
            })
            .collect();
        tools.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.tool.cmp(&b.tool)));
        tools
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::agent_event;
    use super::super::{PROMPT, TOOL_STARTED};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn nearest_rank_picks_a_measured_value() {
        let ten: Vec<u64> = (1..=10).map(|i| i * 100).collect();
        assert_eq!(nearest_rank(&ten, 50), Some(500));
        assert_eq!(nearest_rank(&ten, 95), Some(1000));
        assert_eq!(nearest_rank(&ten, 90), Some(900));
        assert_eq!(nearest_rank(&ten, 100), Some(1000));
        assert_eq!(nearest_rank(&ten, 1), Some(100));
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[], 50), None);
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&twenty, 95), Some(19));
    }

    #[test]
    fn tools_are_counted_from_their_finished_and_failed_calls() {
        let call = |ty: &str, tool: &str, data: Value| {
            let mut data = data;
            data["tool_name"] = json!(tool);
            agent_event("s", ty, 0, data)
        };
        let events = [
            call(TOOL_STARTED, "Bash", json!({})),
            call(TOOL_FINISHED, "Bash", json!({"duration_ms": 300})),
            call(TOOL_FINISHED, "Bash", json!({"duration_ms": 100})),
            call(TOOL_FAILED, "Bash", json!({"duration_ms": 200.4})),
            call(TOOL_FINISHED, "Edit", json!({"duration_ms": 40, "success": false})),
            call(TOOL_FINISHED, "Read", json!({})),
            call(TOOL_FINISHED, "Grep", json!({"duration_ms": "soon"})),
            agent_event("s", PROMPT, 0, json!({})),
            agent_event("s", TOOL_FINISHED, 0, json!({"duration_ms": -5})),
        ];
        let mut fold = ToolFold::default();
        events.iter().for_each(|e| fold.add(e));
        let stats = fold.finish();
        let row = |tool: &str, calls, failures, p50, p95| ToolStats {
            tool: tool.into(),
            calls,
            failures,
            p50_ms: p50,
            p95_ms: p95,
        };
        assert_eq!(
            stats,
            vec![
                row("Bash", 3, 1, Some(200), Some(300)),
                row("Edit", 1, 1, Some(40), Some(40)),
                row("Grep", 1, 0, None, None),
                row("Read", 1, 0, None, None),
                row("unknown", 1, 0, None, None),
            ]
        );
    }

    proptest! {
        #[test]
        fn nearest_rank_is_the_smallest_value_covering_the_percent(
            mut values in prop::collection::vec(0..10_000u64, 1..200),
            percent in 1..=100u32,
        ) {
            values.sort_unstable();
            let n = values.len();
            let p = nearest_rank(&values, percent).unwrap();
            prop_assert!(values.contains(&p));
            let at_or_below = values.iter().filter(|v| **v <= p).count();
            let below = values.iter().filter(|v| **v < p).count();
            // At least percent % of the values are at or below it; fewer are strictly below.
            prop_assert!(at_or_below * 100 >= percent as usize * n);
            prop_assert!(below * 100 < percent as usize * n);
        }

        #[test]
        fn nearest_rank_grows_with_the_percent(
            mut values in prop::collection::vec(any::<u64>(), 1..100),
            a in 1..=100u32,
            b in 1..=100u32,
        ) {
            values.sort_unstable();
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(nearest_rank(&values, lo) <= nearest_rank(&values, hi));
        }
    }
}
