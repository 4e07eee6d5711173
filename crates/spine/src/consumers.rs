//! Durable consumers in process: handlers registered by event type pattern, run as one named
//! Spine consumer (the same checkpoint `GET /v1/consumers/{name}` shows).
//!
//! Each round reads a batch of matching events after the checkpoint, hands every event to each
//! handler whose pattern matches, in `seq` order, and acknowledges the batch when all of it was
//! handled. A handler that fails is retried (after `retry_backoff`, doubling) up to
//! `max_attempts` times; one that keeps failing is given up on for that event: Spine records a
//! `spine.consumer.dead_lettered` event (on the event's entity, caused by it, naming the
//! consumer, the handler and the last error) and the consumer goes on. A process killed in the
//! middle of a batch resumes from the checkpoint: the events of the unacknowledged batch are
//! handled again, and nothing before them (at-least-once: handlers should be idempotent).

use crate::{Error, Result, Spine};
use serde_json::{json, Map, Value};
use spine_core::consumer::{consumer_filter, Ack};
use spine_core::filter::TypePattern;
use spine_core::input::{EntityInput, EventInput, SourceInput};
use spine_core::{Event, Seq, TenantId, ValidationErrors};
use spine_store::consumers::next_batch;
use spine_store::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What a handler answers: `Err` with a message to be retried.
pub type HandlerResult = std::result::Result<(), String>;

type BoxedHandler =
    Arc<dyn Fn(Event) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

struct Registered {
    pattern: TypePattern,
    label: String,
    handler: BoxedHandler,
}

/// Where a consumer starts the first time it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the first event of the log.
    Beginning,
    /// With the events committed after it first runs.
    End,
}

/// A named consumer and its handlers.
pub struct Consumer {
    spine: Spine,
    tenant: TenantId,
    name: String,
    start: Start,
    handlers: Vec<Registered>,
    max_attempts: u32,
    retry_backoff: Duration,
    batch: u32,
    idle_wait: Duration,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Events read and handled.
    pub events: usize,
    /// Events given up on by a handler.
    pub dead_lettered: usize,
    /// The checkpoint afterwards.
    pub checkpoint: Seq,
}

impl Consumer {
    /// The consumer `name` (lower case, digits, `_ . : -`) of `tenant`.
    pub fn new(spine: &Spine, tenant: &TenantId, name: &str) -> Self {
        Self {
            spine: spine.clone(),
            tenant: tenant.clone(),
            name: name.to_owned(),
            start: Start::Beginning,
            handlers: Vec::new(),
            max_attempts: 5,
            retry_backoff: Duration::from_millis(200),
            batch: 100,
            idle_wait: Duration::from_secs(5),
        }
    }

    /// Handles events whose type matches `pattern` (`campaign.*`, `campaign.created`).
    pub fn on<F, Fut>(mut self, pattern: &str, handler: F) -> Result<Self>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let parsed =
            TypePattern::parse(pattern).map_err(|m| ValidationErrors::single("pattern", m))?;
        let handler: BoxedHandler = Arc::new(move |event| Box::pin(handler(event)));
        self.handlers.push(Registered { pattern: parsed, label: pattern.to_owned(), handler });
        Ok(self)
    }

    /// Where it starts the first time (default: the beginning of the log).
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// Attempts per event and handler before it is dead-lettered (default 5).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry, doubled for each next one (default 200 ms).
    pub fn retry_backoff(mut self, wait: Duration) -> Self {
        self.retry_backoff = wait;
        self
    }

    /// Events per round (default 100).
    pub fn batch_size(mut self, events: u32) -> Self {
        self.batch = events.clamp(1, 1000);
        self
    }

    /// The filter: every registered pattern's type.
    fn filter(&self) -> Map<String, Value> {
        let types: Vec<Value> = self.handlers.iter().map(|h| json!(h.label)).collect();
        let mut filter = Map::new();
        filter.insert("type".to_owned(), Value::Array(types));
        filter
    }

    /// The consumer's checkpoint, creating the consumer the first time.
    async fn checkpoint(&self) -> Result<Seq> {
        let store = self.spine.store();
        if let Some(found) = store.get_consumer(&self.tenant, &self.name).await? {
            return Ok(found.checkpoint);
        }
        let start = match self.start {
            Start::Beginning => Seq::ZERO,
            Start::End => store.head(&self.tenant).await?,
        };
        match store.create_consumer(&self.tenant, &self.name, &self.filter(), start).await {
            Ok(made) => Ok(made.checkpoint),
            // Another process made it first.
            Err(StoreError::Conflict(_)) => Ok(store
                .get_consumer(&self.tenant, &self.name)
                .await?
                .map_or(start, |c| c.checkpoint)),
            Err(e) => Err(e.into()),
        }
    }

    /// One round: the next batch handled and acknowledged.
    pub async fn run_once(&self) -> Result<Round> {
        if !spine_core::consumer::is_name(&self.name) {
            return Err(ValidationErrors::single(
                "name",
                "must be a lower-case name of up to 64 characters",
            )
            .into());
        }
        let checkpoint = self.checkpoint().await?;
        let filter = consumer_filter(&self.filter())?;
        let store = self.spine.store();
        let (events, next_after) =
            next_batch(store.as_ref(), &self.tenant, checkpoint, &filter, self.batch).await?;
        let mut round = Round { events: events.len(), ..Round::default() };
        for event in &events {
            for registered in self.handlers.iter().filter(|h| h.pattern.matches(&event.event_type))
            {
                if let Err(error) = self.handle(registered, event).await {
                    self.dead_letter(registered, event, &error).await?;
                    round.dead_lettered += 1;
                }
            }
        }
        round.checkpoint = checkpoint;
        if next_after > checkpoint {
            let acked =
                store.ack_consumer(&self.tenant, &self.name, Ack::Through(next_after)).await?;
            round.checkpoint = acked.map_or(next_after, |c| c.checkpoint);
        }
        Ok(round)
    }

    /// Runs one handler on one event with its retries; the last error when all failed.
    async fn handle(
        &self,
        registered: &Registered,
        event: &Event,
    ) -> std::result::Result<(), String> {
        let mut wait = self.retry_backoff;
        let mut last = String::new();
        for attempt in 1..=self.max_attempts {
            match (registered.handler)(event.clone()).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(consumer = %self.name, handler = %registered.label,
                        event = %event.id, attempt, %error, "a consumer handler failed");
                    last = error;
                }
            }
            if attempt < self.max_attempts {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        Err(last)
    }

    /// Records that a handler gave up on an event, as an event of its own.
    async fn dead_letter(&self, registered: &Registered, event: &Event, error: &str) -> Result<()> {
        let clipped: String = error.chars().take(1000).collect();
        let dead = EventInput {
            event_type: Some("spine.consumer.dead_lettered".to_owned()),
            title: Some(format!(
                "{} gave up on {}",
                self.name,
                event.title.chars().take(200).collect::<String>()
            )),
            entity: event.entity.as_ref().map(|e| EntityInput {
                entity_type: Some(e.entity_type.clone()),
                id: Some(e.id.clone()),
                name: e.name.clone(),
            }),
            source: Some(SourceInput {
                system: Some("spine".to_owned()),
                object_id: None,
                object_type: None,
            }),
            causation_id: Some(event.id.to_string()),
            correlation_id: event.correlation_id.clone(),
            priority: Some("high".to_owned()),
            // One record per consumer, handler and event, however often the round is re-run.
            idempotency_key: Some(format!("dead:{}:{}:{}", self.name, registered.label, event.id)),
            data: Some(json!({
                "consumer": self.name, "handler": registered.label, "event_id": event.id,
                "event_seq": event.seq, "attempts": self.max_attempts, "error": clipped,
            })),
            ..EventInput::default()
        };
        let new =
            dead.validate(Uuid::now_v7(), None, &spine_core::input::EventLimits::default())?;
        self.spine.store().append(&self.tenant, vec![new]).await?;
        Ok(())
    }

    /// Runs rounds until `shutdown` resolves, waiting for new events (a commit notice, or
    /// `idle_wait`) when there are none; a failing round is retried after a pause.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut notices = self.spine.store().notices();
        tokio::pin!(shutdown);
        loop {
            let round = tokio::select! {
                round = self.run_once() => round,
                () = &mut shutdown => return Ok(()),
            };
            let wait = match round {
                Ok(round) if round.events > 0 => continue,
                Ok(_) => self.idle_wait,
                Err(Error::Invalid(e)) => return Err(Error::Invalid(e)),
                Err(e) => {
                    tracing::warn!(consumer = %self.name, error = %e, "a consumer round failed");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
                _ = spine_store::notices::commit(&mut notices, &self.tenant) => {}
            }
        }
    }
}
