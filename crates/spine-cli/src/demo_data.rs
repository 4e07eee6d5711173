//! The demo's made-up product, "Acme Projects", a small SaaS: people create and move tasks, sales
//! works leads, CI deploys, calls come in, a coding agent edits the code. [`World::step`] plays one
//! small story at a time, so seeded history and live activity read alike and stay consistent
//! (a task is created before it is moved, and is moved one state at a time).

use serde_json::{json, Value};
use spine_core::Timestamp;

/// A tiny xorshift64* generator: plenty for made-up activity, and no dependency.
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock, so each demo run differs.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::new(nanos ^ u64::from(std::process::id()))
    }

    /// Seeded explicitly (tests); a zero seed is replaced, since xorshift would stay at zero.
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

/// Someone or something that acts.
struct Actor {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
}

const USERS: &[Actor] = &[
    Actor { id: "ana", name: "Ana Souza", kind: "user" },
    Actor { id: "ben", name: "Ben Okafor", kind: "user" },
    Actor { id: "chloe", name: "Chloé Martin", kind: "user" },
    Actor { id: "dmitri", name: "Dmitri Ivanov", kind: "user" },
];
const AGENT: Actor = Actor { id: "claude-code", name: "Coding agent", kind: "agent" };
const CI: Actor = Actor { id: "ci", name: "CI", kind: "service" };
const BILLING: Actor = Actor { id: "billing", name: "Billing service", kind: "service" };
const PHONE: Actor = Actor { id: "telephony", name: "Telephony", kind: "system" };

const TASK_TITLES: &[&str] = &[
    "Update onboarding docs",
    "Fix login redirect loop",
    "Add CSV export to reports",
    "Migrate billing to new plan IDs",
    "Dark mode for the dashboard",
    "Rate-limit the public API",
    "Investigate slow search queries",
    "Write Q3 release notes",
    "Add SSO for enterprise accounts",
    "Clean up unused feature flags",
    "Improve empty states in inbox",
    "Translate settings page to German",
];
const COMPANIES: &[&str] = &[
    "Northwind Traders",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Foods",
];
const CONTACTS: &[(&str, &str)] = &[
    ("Maria Lopez", "+15550100"),
    ("Tom Becker", "+15550101"),
    ("Priya Natarajan", "+15550102"),
    ("Sam Whitfield", "+15550103"),
];
const COMMENTS: &[&str] = &[
    "Looks good to me, shipping it.",
    "Can we split this into two PRs?",
    "Blocked on the API change, will pick up tomorrow.",
    "Customer confirmed the fix works.",
    "Added screenshots to the description.",
];
const TOOLS: &[(&str, &str)] = &[
    ("Read", "src/billing/plans.rs"),
    ("Edit", "src/api/rate_limit.rs"),
    ("Bash", "cargo test -p api"),
    ("Grep", "TODO(search)"),
    ("Edit", "web/src/Dashboard.tsx"),
];
const SERVICES: &[&str] = &["api", "web", "worker"];
const STATES: &[&str] = &["todo", "in_progress", "review", "done"];
const STAGES: &[&str] = &["new", "qualified", "demo", "proposal", "won"];

struct Task {
    id: String,
    title: &'static str,
    state: usize,
    assignee: &'static str,
}

struct Lead {
    id: String,
    company: &'static str,
    stage: usize,
}

/// The product's state and the random source; each [`World::step`] advances it.
pub struct World {
    rng: Rng,
    tasks: Vec<Task>,
    leads: Vec<Lead>,
    counter: u64,
}

fn actor(a: &Actor) -> Value {
    json!({"id": a.id, "name": a.name, "kind": a.kind})
}

impl World {
    /// An empty product whose ids (T-..., L-...) start after `first_id`, so a restarted demo
    /// does not reuse the entity ids of an earlier run.
    pub fn new(rng: Rng, first_id: u64) -> Self {
        Self { rng, tasks: Vec::new(), leads: Vec::new(), counter: first_id }
    }

    fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// One small story ending at `at`: one to four events, oldest first, `occurred_at` set.
    pub fn step(&mut self, at: Timestamp) -> Vec<Value> {
        let roll = self.rng.range(1, 100);
        let open_tasks = self.tasks.iter().filter(|t| t.state < 3).count();
        let mut events = match roll {
            // Keep a handful of tasks in flight, so most get moved along to done.
            1..=22 if open_tasks < 8 => self.new_task(),
            1..=22 => self.advance_task(),
            23..=50 => self.advance_task(),
            51..=58 => self.comment(),
            59..=70 => self.lead(),
            71..=78 => self.deploy(),
            79..=86 => self.call(),
            87..=95 => self.agent_session(),
            _ => self.invoice(),
        };
        let n = events.len() as i64;
        for (i, e) in events.iter_mut().enumerate() {
            let seconds_before = (n - 1 - i as i64) * 7;
            e["occurred_at"] = json!(at.plus_seconds(-seconds_before).to_rfc3339());
        }
        events
    }

    fn new_task(&mut self) -> Vec<Value> {
        let n = self.next_id();
        let title = *self.rng.pick(TASK_TITLES);
        let who = self.rng.pick(USERS);
        let assignee = self.rng.pick(USERS).id;
        let priority = *self.rng.pick(&["low", "normal", "normal", "high"]);
        let task = Task { id: format!("T-{}", 100 + n), title, state: 0, assignee };
        let event = json!({
            "type": "task.created", "action": "created", "title": format!("Task created: {title}"),
            "actor": actor(who), "entity": {"type": "task", "id": task.id, "name": title},
            "data": {"initial": {"title": title, "state": "todo", "assignee": assignee, "priority": priority}},
            "priority": priority, "tags": ["tasks"],
        });
        self.tasks.push(task);
        if self.tasks.len() > 25 {
            self.tasks.retain(|t| t.state < 3);
        }
        vec![event]
    }

    fn advance_task(&mut self) -> Vec<Value> {
        let open: Vec<usize> = (0..self.tasks.len()).filter(|i| self.tasks[*i].state < 3).collect();
        if open.is_empty() {
            return self.new_task();
        }
        let i = *self.rng.pick(&open);
        let who = self.rng.pick(USERS);
        let reassign = self.rng.chance(25);
        let new_assignee = self.rng.pick(USERS).id;
        let task = &mut self.tasks[i];
        let entity = json!({"type": "task", "id": task.id, "name": task.title});
        if reassign && new_assignee != task.assignee {
            let old = std::mem::replace(&mut task.assignee, new_assignee);
            return vec![json!({
                "type": "task.updated", "action": "updated", "title": format!("Task reassigned: {}", task.title),
                "actor": actor(who), "entity": entity, "tags": ["tasks"],
                "changes": [{"field": "assignee", "old": old, "new": new_assignee}],
            })];
        }
        let (old, new) = (STATES[task.state], STATES[task.state + 1]);
        task.state += 1;
        let done = task.state == 3;
        vec![json!({
            "type": if done { "task.completed" } else { "task.state_changed" },
            "action": "state_changed",
            "title": format!("{}: {old} → {new}", task.title),
            "actor": actor(who), "entity": entity, "tags": ["tasks"],
            "changes": [{"field": "state", "old": old, "new": new}],
            "data": {"state": new},
        })]
    }

    fn comment(&mut self) -> Vec<Value> {
        if self.tasks.is_empty() {
            return self.new_task();
        }
        let task = self.rng.pick(&self.tasks);
        let who = self.rng.pick(USERS);
        vec![json!({
            "type": "comment.created", "title": format!("Comment on {}", task.title),
            "description": self.rng.pick(COMMENTS),
            "actor": actor(who), "entity": {"type": "task", "id": task.id, "name": task.title},
            "tags": ["comments"],
        })]
    }

    fn lead(&mut self) -> Vec<Value> {
        let who = self.rng.pick(USERS);
        if self.leads.len() < 4 || self.rng.chance(30) {
            let company = *self.rng.pick(COMPANIES);
            let lead = Lead { id: format!("L-{}", 500 + self.next_id()), company, stage: 0 };
            let seats = self.rng.range(5, 250);
            let event = json!({
                "type": "lead.created", "action": "created", "title": format!("New lead: {company}"),
                "source": {"system": "hubspot", "object_type": "deal", "object_id": lead.id},
                "actor": actor(who), "entity": {"type": "lead", "id": lead.id, "name": company},
                "data": {"initial": {"company": company, "stage": "new", "seats": seats}}, "tags": ["sales"],
            });
            self.leads.push(lead);
            return vec![event];
        }
        let i = self.rng.range(0, self.leads.len() as u64 - 1) as usize;
        let hot = self.rng.chance(30);
        let lead = &mut self.leads[i];
        let entity = json!({"type": "lead", "id": lead.id, "name": lead.company});
        if hot || lead.stage + 1 >= STAGES.len() {
            return vec![json!({
                "type": "lead.high_intent", "title": format!("{} visited pricing 4 times today", lead.company),
                "entity": entity, "priority": "high", "tags": ["sales", "hot"],
                "source": {"system": "web-analytics"}, "data": {"page": "/pricing", "visits": 4},
            })];
        }
        let (old, new) = (STAGES[lead.stage], STAGES[lead.stage + 1]);
        lead.stage += 1;
        vec![json!({
            "type": "lead.stage_changed", "action": "state_changed",
            "title": format!("{}: {old} → {new}", lead.company), "actor": actor(who), "entity": entity,
            "changes": [{"field": "state", "old": old, "new": new}], "data": {"state": new},
            "tags": ["sales"], "priority": if new == "won" { "high" } else { "normal" },
        })]
    }

    fn deploy(&mut self) -> Vec<Value> {
        let service = *self.rng.pick(SERVICES);
        let n = self.next_id();
        let version = format!("v1.{}.{}", 40 + n / 10, n % 10);
        let flow = format!("deploy-{service}-{n}");
        let entity = json!({"type": "service", "id": service, "name": service});
        let failed = self.rng.chance(12);
        let started = json!({
            "type": "deploy.started", "title": format!("Deploying {service} {version}"),
            "actor": actor(&CI), "entity": entity, "source": {"system": "github"},
            "correlation_id": flow, "data": {"version": version}, "tags": ["deploys"],
        });
        let finished = if failed {
            json!({
                "type": "deploy.failed", "title": format!("Deploy of {service} {version} failed"),
                "description": "Health check on /readyz did not pass within 60s; rolled back.",
                "actor": actor(&CI), "entity": entity, "source": {"system": "github"},
                "correlation_id": flow, "priority": "urgent", "tags": ["deploys", "incident"],
                "data": {"version": version, "rolled_back": true},
            })
        } else {
            json!({
                "type": "deploy.succeeded", "title": format!("Deployed {service} {version}"),
                "actor": actor(&CI), "entity": entity, "source": {"system": "github"},
                "correlation_id": flow, "tags": ["deploys"],
                "data": {"version": version, "duration_s": self.rng.range(40, 300)},
            })
        };
        vec![started, finished]
    }

    fn call(&mut self) -> Vec<Value> {
        let (name, phone) = *self.rng.pick(CONTACTS);
        let who = self.rng.pick(USERS);
        let n = self.next_id();
        let flow = format!("call-{n}");
        let contact = json!({"type": "contact", "id": phone, "name": name});
        vec![
            json!({
                "type": "call.inbound", "title": format!("Inbound call from {name}"),
                "actor": actor(&PHONE), "entity": contact, "source": {"system": "twilio"},
                "correlation_id": flow, "data": {"from": phone}, "tags": ["calls"],
            }),
            json!({
                "type": "call.completed", "title": format!("Call with {name} ended"),
                "actor": actor(who), "entity": contact, "source": {"system": "twilio"},
                "correlation_id": flow,
                "data": {"duration_s": self.rng.range(30, 900)}, "tags": ["calls"],
            }),
        ]
    }

    /// A coding agent's session as `spine hook claude-code` records it: started, a prompt, a
    /// few tool calls (each a start and a finish, sometimes a failure), and usually its end
    /// (sessions left open show as live in the agent view).
    fn agent_session(&mut self) -> Vec<Value> {
        let n = self.next_id();
        let session = format!("demo-session-{n}");
        let user = self.rng.pick(USERS).id;
        let entity =
            json!({"type": "agent_session", "id": session, "name": "Claude Code session in app"});
        let event = |ty: &str, title: String, object: (&str, String), data: Value| {
            json!({
                "type": ty, "title": title, "actor": actor(&AGENT), "entity": entity,
                "source": {"system": "claude-code", "object_type": object.0, "object_id": object.1},
                "correlation_id": session, "data": data, "tags": ["agent"],
            })
        };
        let base = json!({"user": user, "cwd": "/home/dev/app"});
        let with = |extra: Value| {
            let mut data = base.clone();
            if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            data
        };
        let mut events = vec![
            event(
                "agent.session.started",
                "Claude Code session started (startup) in app".into(),
                ("session", session.clone()),
                with(json!({"source": "startup"})),
            ),
            event(
                "agent.prompt",
                "Prompt: fix the failing rate-limit test".into(),
                ("session", session.clone()),
                with(json!({})),
            ),
        ];
        for i in 0..self.rng.range(2, 4) {
            let (tool, target) = *self.rng.pick(TOOLS);
            let tool_use = format!("toolu_demo_{n}_{i}");
            let input = if tool == "Bash" {
                json!({"command": target})
            } else if tool == "Grep" {
                json!({"pattern": target})
            } else {
                json!({"file_path": format!("/home/dev/app/{target}")})
            };
            let title = match tool {
                "Bash" | "Grep" => format!("{tool}: {target}"),
                _ => format!("{tool} {target}"),
            };
            let call = json!({"tool_name": tool, "input": input});
            events.push(event(
                "agent.tool.started",
                title.clone(),
                ("tool_use", tool_use.clone()),
                with(call.clone()),
            ));
            let took = json!({"duration_ms": self.rng.range(20, 4000)});
            if self.rng.chance(15) {
                let failed = json!({"success": false, "error": "exit status 101: 1 test failed"});
                events.push(event("agent.tool.failed", format!("Failed: {title}"), ("tool_use", tool_use),
                    with(json!({"tool_name": tool, "input": input, "duration_ms": took["duration_ms"], "success": false, "error": failed["error"]}))));
            } else {
                events.push(event("agent.tool.finished", title, ("tool_use", tool_use),
                    with(json!({"tool_name": tool, "input": input, "duration_ms": took["duration_ms"], "success": true}))));
            }
        }
        if self.rng.chance(70) {
            let mut ended = event(
                "agent.session.ended",
                "Claude Code session ended (logout) in app".into(),
                ("session", session.clone()),
                with(json!({"reason": "logout"})),
            );
            ended["action"] = json!("state_changed");
            ended["changes"] = json!([{"field": "state", "old": "active", "new": "ended"}]);
            events.push(ended);
        }
        events
    }

    fn invoice(&mut self) -> Vec<Value> {
        let company = *self.rng.pick(COMPANIES);
        let cents = self.rng.range(49, 2000) * 100;
        vec![json!({
            "type": "invoice.paid", "title": format!("{company} paid ${}", cents / 100),
            "actor": actor(&BILLING), "entity": {"type": "account", "id": company.to_lowercase().replace(' ', "-"), "name": company},
            "source": {"system": "stripe"}, "data": {"amount_cents": cents, "currency": "usd"},
            "tags": ["billing"],
        })]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spine_core::input::EventLimits;
    use spine_core::EventInput;

    #[test]
    fn every_generated_event_is_valid() {
        let mut world = World::new(Rng::new(42), 0);
        let now = Timestamp::now();
        for i in 0..2000 {
            for e in world.step(now.plus_seconds(i)) {
                let input: Result<EventInput, _> = serde_json::from_value(e.clone());
                let valid = input.map_err(|e| e.to_string()).and_then(|i| {
                    i.validate(uuid::Uuid::nil(), None, &EventLimits::default())
                        .map_err(|e| e.to_string())
                });
                assert!(valid.is_ok(), "{e}: {valid:?}");
            }
        }
    }
}
