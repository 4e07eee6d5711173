//! An agent's sessions folded from their events: who ran them where, when they began and last
//! did something, whether they ended or are live, and their prompts, tool calls and failures.
//! Sessions come out live first, then by their latest activity; a [`SessionPosition`] says
//! where in that order a page stops, as an opaque cursor.

use super::{data_str, is_failed_call, project_of, PROMPT, SESSION_ENDED, SESSION_ENTITY};
use crate::{Event, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// A session not ended whose latest event is at most this old is live.
pub const LIVE_WINDOW_SECONDS: i64 = 30 * 60;

/// One session as the agent view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    /// The session's id (the entity id, also the events' correlation id).
    pub id: String,
    /// The entity's display name, from its latest event that has one.
    pub name: Option<String>,
    /// The last component of the latest `data.cwd`.
    pub project: Option<String>,
    /// Who ran the agent (the latest `data.user`).
    pub user: Option<String>,
    /// Its earliest event seen.
    pub started_at: Timestamp,
    /// Its latest event seen.
    pub last_event_at: Timestamp,
    /// Whether its latest event is its end (a resumed session is not ended).
    pub ended: bool,
    /// Not ended, and active within [`LIVE_WINDOW_SECONDS`].
    pub live: bool,
    /// Prompts given.
    pub prompts: u64,
    /// Tool calls, each counted once (by its tool use id) whether its start, its end or both
    /// were seen.
    pub tool_calls: u64,
    /// Tool calls that failed or did not succeed.
    pub failures: u64,
}

impl AgentSession {
    /// Where this session stands in the list's order.
    pub fn position(&self) -> SessionPosition {
        SessionPosition {
            live: self.live,
            last_event_micros: self.last_event_at.as_micros(),
            id: self.id.clone(),
        }
    }
}

/// A place in the list's order: live sessions first, then the latest activity first, then by
/// id. Ascending [`Ord`] is the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPosition {
    /// Whether the session was live.
    pub live: bool,
    /// Its latest event's time.
    pub last_event_micros: i64,
    /// Its id, the tie-breaker.
    pub id: String,
}

impl Ord for SessionPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .live
            .cmp(&self.live)
            .then(other.last_event_micros.cmp(&self.last_event_micros))
            .then_with(|| self.id.cmp(&other.id))
    }
}

impl PartialOrd for SessionPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl SessionPosition {
    /// The cursor text: URL-safe, opaque to clients.
    pub fn encode(&self) -> String {
        let plain = format!("{}.{}.{}", u8::from(self.live), self.last_event_micros, self.id);
        URL_SAFE_NO_PAD.encode(plain)
    }

    /// A cursor back into a position; `None` when it is not one.
    pub fn decode(cursor: &str) -> Option<Self> {
        let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
        let mut parts = plain.splitn(3, '.');
        let live = match parts.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        let last_event_micros = parts.next()?.parse().ok()?;
        let id = parts.next()?.to_owned();
        Some(Self { live, last_event_micros, id })
    }
}

/// What is known of one session so far.
#[derive(Debug)]
struct Tally {
    first: Timestamp,
    last: Timestamp,
    /// The latest end, and the latest event of any other kind: ended when the end is latest.
    last_end: Option<Timestamp>,
    last_other: Option<Timestamp>,
    /// Each with the time of the event it came from, so the latest wins in any visiting order.
    name: Option<(Timestamp, String)>,
    project: Option<(Timestamp, String)>,
    user: Option<(Timestamp, String)>,
    prompts: u64,
    tool_uses: HashSet<String>,
    /// Finished or failed calls without a tool use id, counted one each.
    unnamed_calls: u64,
    failures: u64,
}

/// Keeps the value of the latest event.
fn keep_latest(slot: &mut Option<(Timestamp, String)>, at: Timestamp, value: Option<&str>) {
    if let Some(value) = value {
        if slot.as_ref().is_none_or(|(seen, _)| at >= *seen) {
            *slot = Some((at, value.to_owned()));
        }
    }
}

/// Folds `agent_session` events, in any order, into sessions.
#[derive(Debug, Default)]
pub struct SessionFold {
    sessions: HashMap<String, Tally>,
}

impl SessionFold {
    /// Adds one event; events on other entities are ignored.
    pub fn add(&mut self, event: &Event) {
        let Some(entity) = event.entity.as_ref().filter(|e| e.entity_type == SESSION_ENTITY) else {
            return;
        };
        let at = event.occurred_at;
        let tally = self.sessions.entry(entity.id.clone()).or_insert_with(|| Tally {
            first: at,
            last: at,
            last_end: None,
            last_other: None,
            name: None,
            project: None,
            user: None,
            prompts: 0,
            tool_uses: HashSet::new(),
            unnamed_calls: 0,
            failures: 0,
        });
        tally.first = tally.first.min(at);
        tally.last = tally.last.max(at);
        keep_latest(&mut tally.name, at, entity.name.as_deref());
        keep_latest(&mut tally.project, at, data_str(event, "cwd").and_then(project_of));
        keep_latest(&mut tally.user, at, data_str(event, "user"));
        let kind = event.event_type.as_str();
        let latest = |slot: Option<Timestamp>| Some(slot.map_or(at, |t| t.max(at)));
        if kind == SESSION_ENDED {
            tally.last_end = latest(tally.last_end);
        } else {
            tally.last_other = latest(tally.last_other);
        }
        if kind == PROMPT {
            tally.prompts += 1;
        }
        if let Some(call) = kind.strip_prefix("agent.tool.") {
            match event.source.object_id.as_deref() {
                Some(tool_use) => {
                    tally.tool_uses.insert(tool_use.to_owned());
                }
                None if call != "started" => tally.unnamed_calls += 1,
                None => {}
            }
        }
        if is_failed_call(event) {
            tally.failures += 1;
        }
    }

    /// The sessions in the list's order, live as of `now`.
    pub fn finish(self, now: Timestamp) -> Vec<AgentSession> {
        let live_since = now.plus_seconds(-LIVE_WINDOW_SECONDS);
        let mut sessions: Vec<AgentSession> = self
            .sessions
            .into_iter()
            .map(|(id, t)| {
                let ended = match (t.last_end, t.last_other) {
                    (Some(end), Some(other)) => end >= other,
                    (end, _) => end.is_some(),
                };
                AgentSession {
                    id,
                    name: t.name.map(|(_, v)| v),
                    project: t.project.map(|(_, v)| v),
                    user: t.user.map(|(_, v)| v),
                    started_at: t.first,
                    last_event_at: t.last,
                    ended,
                    live: !ended && t.last >= live_since,
                    prompts: t.prompts,
                    tool_calls: t.tool_uses.len() as u64 + t.unnamed_calls,
                    failures: t.failures,
                }
            })
            .collect();
        sessions.sort_by_cached_key(AgentSession::position);
        sessions
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::agent_event;
    use super::super::{SESSION_STARTED, TOOL_FAILED, TOOL_FINISHED, TOOL_STARTED};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn call(session: &str, ty: &str, second: i64, tool_use: Option<&str>) -> Event {
        let mut e = agent_event(session, ty, second, json!({"tool_name": "Bash"}));
        e.source.object_id = tool_use.map(str::to_owned);
        e
    }

    fn fold(events: &[Event], now_second: i64) -> Vec<AgentSession> {
        let mut fold = SessionFold::default();
        events.iter().for_each(|e| fold.add(e));
        fold.finish(Timestamp::from_micros(now_second * 1_000_000).unwrap())
    }

    #[test]
    fn a_session_counts_its_prompts_calls_and_failures_once_each() {
        let cwd = json!({"cwd": "/home/ana/spine", "user": "ana", "source": "startup"});
        let events = [
            agent_event("s1", SESSION_STARTED, 100, cwd),
            agent_event("s1", PROMPT, 101, json!({"user": "ana"})),
            call("s1", TOOL_STARTED, 102, Some("t1")),
            call("s1", TOOL_FINISHED, 103, Some("t1")),
            call("s1", TOOL_STARTED, 104, Some("t2")),
            call("s1", TOOL_FAILED, 105, Some("t2")),
            // Only its end seen (its start lay outside the period), and one without an id.
            call("s1", TOOL_FINISHED, 106, Some("t3")),
            call("s1", TOOL_FINISHED, 107, None),
            // Still running.
            call("s1", TOOL_STARTED, 108, Some("t4")),
        ];
        let sessions = fold(&events, 200);
        assert_eq!(sessions.len(), 1);
        let s = &sessions[0];
        assert_eq!((s.prompts, s.tool_calls, s.failures), (1, 5, 1));
        assert_eq!(s.project.as_deref(), Some("spine"));
        assert_eq!(s.user.as_deref(), Some("ana"));
        assert_eq!(s.name.as_deref(), Some("Claude Code session in s1"));
        assert_eq!(s.started_at.as_unix_seconds(), 100);
        assert_eq!(s.last_event_at.as_unix_seconds(), 108);
        assert!(!s.ended && s.live);
    }

    #[test]
    fn a_session_is_ended_when_its_end_is_its_latest_event() {
        let ended = [
            agent_event("a", PROMPT, 10, json!({})),
            agent_event("a", SESSION_ENDED, 20, json!({})),
        ];
        let resumed = [
            agent_event("b", SESSION_ENDED, 10, json!({})),
            agent_event("b", SESSION_STARTED, 20, json!({"source": "resume"})),
        ];
        let sessions = fold(&[ended, resumed].concat(), 30);
        let by_id = |id: &str| sessions.iter().find(|s| s.id == id).unwrap();
        assert!(by_id("a").ended && !by_id("a").live);
        assert!(!by_id("b").ended && by_id("b").live);
    }

    #[test]
    fn live_sessions_come_first_then_the_latest_activity() {
        let window = LIVE_WINDOW_SECONDS;
        let now = 10 * window;
        let events = [
            agent_event("idle", PROMPT, now - window - 1, json!({})),
            agent_event("old-live", PROMPT, now - window, json!({})),
            agent_event("new-live", PROMPT, now - 5, json!({})),
            agent_event("ended", SESSION_ENDED, now - 1, json!({})),
        ];
        let order: Vec<(String, bool)> =
            fold(&events, now).into_iter().map(|s| (s.id, s.live)).collect();
        let expected = [("new-live", true), ("old-live", true), ("ended", false), ("idle", false)];
        let expected: Vec<(String, bool)> =
            expected.iter().map(|(id, live)| (id.to_string(), *live)).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn the_latest_name_project_and_user_win_in_any_order() {
        let early = agent_event("s", PROMPT, 1, json!({"cwd": "/a/old", "user": "bo"}));
        let late = agent_event("s", PROMPT, 2, json!({"cwd": "/a/new", "user": "ana"}));
        for events in [[early.clone(), late.clone()], [late, early]] {
            let s = &fold(&events, 3)[0];
            assert_eq!((s.project.as_deref(), s.user.as_deref()), (Some("new"), Some("ana")));
        }
    }

    #[test]
    fn events_on_other_entities_are_not_sessions() {
        let mut other = agent_event("s", PROMPT, 1, json!({}));
        other.entity.as_mut().unwrap().entity_type = "task".into();
        assert!(fold(&[other], 2).is_empty());
    }

    #[test]
    fn a_cursor_that_is_not_one_decodes_to_nothing() {
        for bad in
            ["", "!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("2.5.x"), &URL_SAFE_NO_PAD.encode("1.x.y")]
        {
            assert_eq!(SessionPosition::decode(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn positions_survive_their_cursor(live: bool, micros: i64, id in ".{0,40}") {
            let p = SessionPosition { live, last_event_micros: micros, id };
            prop_assert_eq!(SessionPosition::decode(&p.encode()), Some(p));
        }

        #[test]
        fn decoding_never_panics(cursor in ".{0,80}") {
            let _ = SessionPosition::decode(&cursor);
        }

        #[test]
        fn the_fold_does_not_depend_on_the_order_of_events(
            seconds in prop::collection::vec((0..4usize, 0..6usize, 0..50i64, 0..5usize), 1..40),
            reversed: bool,
        ) {
            let types = [PROMPT, TOOL_STARTED, TOOL_FINISHED, TOOL_FAILED, SESSION_STARTED, SESSION_ENDED];
            let mut events: Vec<Event> = seconds
                .iter()
                .map(|(s, t, at, tool)| {
                    let mut e = agent_event(&format!("s{s}"), types[*t], *at, json!({"user": format!("u{at}")}));
                    e.source.object_id = Some(format!("t{tool}"));
                    e
                })
                .collect();
            let forward = fold(&events, 60);
            if reversed { events.reverse() } else { events.rotate_left(1) }
            let other = fold(&events, 60);
            // The user of two events at one time may come from either; the rest may not differ.
            let strip = |v: Vec<AgentSession>| v.into_iter().map(|s| AgentSession { user: None, ..s }).collect::<Vec<_>>();
            prop_assert_eq!(strip(forward.clone()), strip(other));
            let positions: Vec<SessionPosition> = forward.iter().map(AgentSession::position).collect();
            prop_assert!(positions.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
