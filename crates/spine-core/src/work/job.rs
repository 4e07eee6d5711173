//! The job record (SPEC section 7) and the events its transitions append: `job.processing`,
//! `job.completed`, `job.failed`, `job.dead` and `job.retried`, on the source event's entity,
//! correlated with it, so a timeline reads raw -> processing -> completed.

use super::rule::JobSpec;
use super::{JobState, JobStatus};
use crate::{
    Action, Actor, ActorKind, Change, Event, EventType, NewEvent, Priority, Seq, Source, TenantId,
    Timestamp,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The largest result kept in a `job.completed` event's data (the job keeps all of it).
const RESULT_IN_EVENT_BYTES: usize = 8 * 1024;
/// How much of the source event's title a transition's title quotes.
const QUOTED_TITLE_CHARS: usize = 200;

/// A job, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// UUIDv7, assigned at creation.
    pub id: Uuid,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its queue.
    pub queue: String,
    /// Where it is, and what a lease allows (status, attempts, lease number and times).
    pub state: JobState,
    /// Whether it waits for earlier jobs of its entity in its queue.
    pub ordered: bool,
    /// The event it processes.
    pub event_id: Uuid,
    /// That event's position (the order of an entity's jobs).
    pub event_seq: Seq,
    /// That event's entity type, if it has an entity.
    pub entity_type: Option<String>,
    /// That event's entity id.
    pub entity_id: Option<String>,
    /// Who holds or last held it (the claim's `worker`, else the key).
    pub worker: Option<String>,
    /// The last failure's error text.
    pub last_error: Option<String>,
    /// What its completion returned.
    pub result: Option<Value>,
    /// When it was created (its event's commit).
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Job {
    /// A new pending job for a just-committed event.
    pub fn new(spec: &JobSpec, event: &Event, now: Timestamp) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant: event.tenant.clone(),
            queue: spec.queue.clone(),
            state: JobState {
                status: JobStatus::Pending,
                attempt: 0,
                max_attempts: spec.max_attempts,
                lease: 0,
                lease_expires_at: 0,
                run_after: now.as_micros(),
            },
            ordered: spec.ordered,
            event_id: event.id,
            event_seq: event.seq,
            entity_type: event.entity.as_ref().map(|e| e.entity_type.clone()),
            entity_id: event.entity.as_ref().map(|e| e.id.clone()),
            worker: None,
            last_error: None,
            result: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// When the current lease ends, for a processing job.
    pub fn lease_expires_at(&self) -> Option<Timestamp> {
        (self.state.status == JobStatus::Processing)
            .then(|| Timestamp::from_micros(self.state.lease_expires_at))
            .flatten()
    }

    /// When a pending or failed job may be claimed.
    pub fn run_after(&self) -> Option<Timestamp> {
        matches!(self.state.status, JobStatus::Pending | JobStatus::Failed)
            .then(|| Timestamp::from_micros(self.state.run_after))
            .flatten()
    }
}

/// The event a transition appends: the job moved from `from` to its current status. `actor` is
/// who moved it (the worker for claims and settlements, the admin for a retry).
pub fn transition_event(job: &Job, source: &Event, from: JobStatus, actor: Actor) -> NewEvent {
    let to = job.state.status;
    let quoted = quote(&source.title);
    let (suffix, title, priority) = match to {
        JobStatus::Processing => (
            "job.processing",
            format!(
                "Processing {quoted} in {} (attempt {} of {})",
                job.queue, job.state.attempt, job.state.max_attempts
            ),
            Priority::Low,
        ),
        JobStatus::Completed => {
            ("job.completed", format!("Completed {quoted} in {}", job.queue), Priority::Normal)
        }
        JobStatus::Failed => (
            "job.failed",
            format!(
                "Failed {quoted} in {} (attempt {} of {}): {}",
                job.queue,
                job.state.attempt,
                job.state.max_attempts,
                first_line(job.last_error.as_deref().unwrap_or("no reason given"))
            ),
            Priority::Normal,
        ),
        JobStatus::Dead => (
            "job.dead",
            format!(
                "Gave up on {quoted} in {} after {} attempts: {}",
                job.queue,
                job.state.attempt,
                first_line(job.last_error.as_deref().unwrap_or("no reason given"))
            ),
            Priority::High,
        ),
        JobStatus::Pending => {
            ("job.retried", format!("Retrying {quoted} in {}", job.queue), Priority::Low)
        }
    };
    let mut data = Map::new();
    data.insert("job_id".into(), json!(job.id));
    data.insert("queue".into(), json!(job.queue));
    data.insert("status".into(), json!(to.as_str()));
    data.insert("attempt".into(), json!(job.state.attempt));
    data.insert("max_attempts".into(), json!(job.state.max_attempts));
    data.insert("event_id".into(), json!(source.id));
    if let Some(worker) = &job.worker {
        data.insert("worker".into(), json!(worker));
    }
    if matches!(to, JobStatus::Failed | JobStatus::Dead) {
        data.insert("error".into(), json!(job.last_error));
    }
    if let (JobStatus::Failed, Some(at)) = (to, job.run_after()) {
        data.insert("retry_at".into(), json!(at));
    }
    if let (JobStatus::Completed, Some(result)) = (to, &job.result) {
        if serde_json::to_vec(result).map(|v| v.len()).unwrap_or(usize::MAX)
            <= RESULT_IN_EVENT_BYTES
        {
            data.insert("result".into(), result.clone());
        }
    }
    NewEvent {
        id: Uuid::now_v7(),
        event_type: EventType::builtin(suffix),
        action: Action::StateChanged,
        source: Source {
            system: "spine".to_owned(),
            object_id: Some(job.id.to_string()),
            object_type: Some("job".to_owned()),
        },
        actor: Some(actor),
        entity: source.entity.clone(),
        title: truncate(&title, 512),
        description: None,
        data: Some(data),
        changes: Some(vec![Change {
            field: "status".to_owned(),
            old: json!(from.as_str()),
            new: json!(to.as_str()),
        }]),
        priority,
        tags: Vec::new(),
        correlation_id: Some(
            source.correlation_id.clone().unwrap_or_else(|| source.id.to_string()),
        ),
        causation_id: Some(source.id.to_string()),
        occurred_at: None,
        expires_at: None,
        idempotency_key: None,
    }
}

/// The actor of a worker's transitions: the worker's name, as a service.
pub fn worker_actor(worker: Option<&str>) -> Actor {
    Actor { id: worker.unwrap_or("worker").to_owned(), name: None, kind: Some(ActorKind::Service) }
}

fn quote(title: &str) -> String {
    format!("\"{}\"", truncate(title, QUOTED_TITLE_CHARS))
}

fn first_line(text: &str) -> String {
    truncate(text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim(), 200)
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::EventInput;

    fn source() -> Event {
        let input: EventInput = serde_json::from_value(json!({
            "type": "call.received", "title": "Call from +1 415 555 0100",
            "entity": {"type": "contact", "id": "c1"}, "correlation_id": "flow-1"
        }))
        .expect("input");
        let limits = crate::input::EventLimits::default();
        let new = input.validate(Uuid::now_v7(), None, &limits).expect("valid");
        let tenant = TenantId::parse("acme").expect("tenant");
        new.commit(tenant, Seq(7), Timestamp::now(), String::new())
    }

    #[test]
    fn transitions_sit_on_the_source_entity_and_correlate_with_it() {
        let source = source();
        let mut job = Job::new(&JobSpec::for_channel("calls"), &source, Timestamp::now());
        assert_eq!((job.event_seq, job.entity_id.as_deref()), (Seq(7), Some("c1")));
        job.state = job.state.claim(job.state.run_after, 1_000_000).expect("claimable");
        job.worker = Some("summariser".into());
        let event = transition_event(&job, &source, JobStatus::Pending, worker_actor(Some("w")));
        assert_eq!(event.event_type.as_str(), "job.processing");
        assert_eq!(event.entity, source.entity);
        assert_eq!(event.causation_id, Some(source.id.to_string()));
        assert_eq!(event.correlation_id.as_deref(), Some("flow-1"));
        assert!(event.title.contains("attempt 1 of 5"), "{}", event.title);
        let data = event.data.expect("data");
        assert_eq!(data["job_id"], json!(job.id));
        assert_eq!(data["worker"], json!("summariser"));
    }

    #[test]
    fn failures_name_their_error_and_dead_jobs_are_high_priority() {
        let source = source();
        let mut job = Job::new(&JobSpec::for_channel("q"), &source, Timestamp::now());
        job.last_error = Some("\n  boom: the model timed out\nstack...".into());
        job.state.status = JobStatus::Dead;
        job.state.attempt = 5;
        let event = transition_event(&job, &source, JobStatus::Processing, worker_actor(None));
        assert_eq!(event.event_type.as_str(), "job.dead");
        assert_eq!(event.priority, Priority::High);
        assert!(event.title.ends_with("boom: the model timed out"), "{}", event.title);
        let long = Event { title: "x".repeat(600), ..source };
        let event = transition_event(&job, &long, JobStatus::Processing, worker_actor(None));
        assert!(event.title.chars().count() <= 512);
    }
}
