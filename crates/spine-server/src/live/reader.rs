//! The reader loop behind `GET /v1/stream`: read the log after a position (filter and viewer
//! scope applied by the store), send what matched, advance the position by the log, then wait
//! for the hub's wake-up. Catch-up after a reconnect and live delivery are the same loop, so an
//! event is neither skipped nor sent twice, and a slow client only falls behind in the log.

use super::{DELIVERIES, SUBSCRIBERS};
use crate::auth::{Credential, Principal};
use crate::routes::feed::FeedItemOut;
use axum::response::sse::Event as Message;
use futures::stream::{self, Stream, StreamExt};
use spine_core::{Cursor, EventFilter, Order, Seq, Timestamp, UserId};
use spine_store::{FeedItem, FeedQuery, Store};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Events read per store query.
const PAGE: u32 = 100;
/// The reconnection delay suggested to clients, at the start and at shutdown.
pub const RETRY: Duration = Duration::from_secs(2);

/// One subscriber's position in its tenant's log and what it waits on.
pub struct Reader {
    /// Where events come from; the hub only says when to look.
    store: Arc<dyn Store>,
    /// The credential: tenant, viewer scope and expiry.
    principal: Principal,
    /// The feed's filters from the query string.
    filter: EventFilter,
    /// For the `read` flag and `unread=true`.
    user: Option<UserId>,
    /// Every event at or below this position has been sent or did not match.
    position: Seq,
    /// The tenant's head from the hub; a change means "read again".
    heads: watch::Receiver<Seq>,
    /// Turns `true` when the server shuts down.
    shutdown: watch::Receiver<bool>,
    /// When a viewer token expires; `None` for API keys.
    expiry: Option<Instant>,
    /// Read but not yet sent (at most one page).
    pending: VecDeque<FeedItem>,
    /// Set once the closing message was sent.
    done: bool,
    /// Counts this reader in the subscriber gauge while it lives.
    _gauge: SubscriberGauge,
}

/// What a stream needs besides the store and the hub's watches.
pub struct Subscription {
    /// The authenticated caller.
    pub principal: Principal,
    /// The feed's filters.
    pub filter: EventFilter,
    /// The user for read flags.
    pub user: Option<UserId>,
    /// Start after this position.
    pub after: Seq,
}

impl Reader {
    /// A reader of `subscription` woken by `heads` and ended by `shutdown`.
    pub fn new(
        store: Arc<dyn Store>,
        subscription: Subscription,
        heads: watch::Receiver<Seq>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let expiry = match &subscription.principal.credential {
            Credential::Viewer { expires_at, .. } => {
                // In microseconds plus a millisecond, so that on waking the token has expired
                // by `Principal::expired` (whole seconds) and the loop does not spin.
                let end = expires_at.saturating_mul(1_000_000);
                let left = end.saturating_sub(Timestamp::now().as_micros()).saturating_add(1_000);
                Some(Instant::now() + Duration::from_micros(u64::try_from(left).unwrap_or(0)))
            }
            Credential::Key { .. } => None,
        };
        Self {
            store,
            principal: subscription.principal,
            filter: subscription.filter,
            user: subscription.user,
            position: subscription.after,
            heads,
            shutdown,
            expiry,
            pending: VecDeque::new(),
            done: false,
            _gauge: SubscriberGauge::new(),
        }
    }

    /// The stream's messages: `event: position` with the starting `id:` and a `retry:` hint,
    /// then events as they commit, until the client
    /// leaves, the token expires, the store fails or the server shuts down.
    pub fn messages(self) -> impl Stream<Item = Result<Message, Infallible>> + Send {
        // The starting position as the first message's `id:`: a client that drops before the
        // first event still resumes from here instead of from a later live end.
        let start = self.position.to_string();
        let hint = Message::default().retry(RETRY).event("position").id(start.clone()).data(start);
        stream::once(async move { hint })
            .chain(stream::unfold(self, |mut reader| async move {
                reader.next_message().await.map(|m| (m, reader))
            }))
            .map(Ok)
    }

    async fn next_message(&mut self) -> Option<Message> {
        while !self.done {
            if let Some(item) = self.pending.pop_front() {
                match activity(item) {
                    Some(message) => {
                        metrics::counter!(DELIVERIES).increment(1);
                        return Some(message);
                    }
                    None => continue,
                }
            }
            if *self.shutdown.borrow() {
                self.done = true;
                return Some(Message::default().retry(RETRY).comment("server shutting down"));
            }
            if self.principal.expired(Timestamp::now()) {
                self.done = true;
                return Some(error("token-expired", "the viewer token has expired"));
            }
            match self.read().await {
                Ok(true) => continue,
                Ok(false) if !self.pending.is_empty() => continue,
                Ok(false) => self.wait().await,
                Err(e) => {
                    tracing::warn!(tenant = %self.principal.tenant, error = %e, "stream read failed");
                    self.done = true;
                    return Some(error("unavailable", "the store is unavailable; reconnect"));
                }
            }
        }
        None
    }

    /// Reads one page after the position; `true` when more may follow at once.
    async fn read(&mut self) -> Result<bool, spine_store::StoreError> {
        // Marked seen before the query: a commit after this wakes the next wait, and commits
        // before it are visible to the query (notices are sent after COMMIT).
        let observed = *self.heads.borrow_and_update();
        let query = FeedQuery {
            filter: self.filter.clone(),
            scope: self.principal.scope().cloned(),
            order: Order::Seq,
            after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: self.position }),
            limit: PAGE,
            user: self.user.clone(),
        };
        let page = self.store.query(&self.principal.tenant, &query).await?;
        let last = page.items.last().map(|i| i.event.seq);
        let more = page.next.is_some();
        self.position = match (more, last) {
            // A full page: only up to its last event is known to be read.
            (true, Some(last)) => last,
            // Everything that matched after the position was returned, and every position up
            // to the observed head is committed (positions grow in commit order), so the log up
            // to there has been read even where nothing matched.
            _ => self.position.max(observed).max(last.unwrap_or(Seq::ZERO)),
        };
        self.pending.extend(page.items);
        Ok(more)
    }

    /// Waits for a commit in the tenant, the token's expiry or shutdown.
    async fn wait(&mut self) {
        let expiry = self.expiry;
        let expired = async move {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            woken = self.heads.changed() => {
                // The hub is gone only when the server is; end like a shutdown.
                if woken.is_err() {
                    self.done = true;
                }
            }
            _ = self.shutdown.wait_for(|stopping| *stopping) => {}
            () = expired => {}
        }
    }
}

/// `id: <seq>`, `event: activity`, `data: <event json>`; `None` (logged) if it cannot be encoded.
fn activity(item: FeedItem) -> Option<Message> {
    let id = item.event.seq.to_string();
    let out = FeedItemOut { event: item.event, read: item.read };
    match Message::default().id(id).event("activity").json_data(&out) {
        Ok(message) => Some(message),
        Err(e) => {
            tracing::error!(error = %e, "encoding a stream event failed");
            None
        }
    }
}

/// `event: error` with a JSON body naming why the stream ends.
fn error(code: &str, detail: &str) -> Message {
    let body = serde_json::json!({ "error": code, "detail": detail });
    Message::default().event("error").data(body.to_string())
}

/// Holds one unit of the subscriber gauge.
struct SubscriberGauge;

impl SubscriberGauge {
    fn new() -> Self {
        metrics::gauge!(SUBSCRIBERS).increment(1.0);
        Self
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        metrics::gauge!(SUBSCRIBERS).decrement(1.0);
    }
}
