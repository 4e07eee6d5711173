//! A tenant's most recent events in memory, shared by all of its live readers, so that fan-out
//! to many subscribers costs one read of the log per commit instead of one per subscriber.
//!
//! One task per watched tenant follows the tenant's committed head (from the hub) and reads
//! the new events from the log, never from the publish path, then appends them and only then
//! raises the head readers wait on. So every event at or below that head is either in the tail
//! or before its start, and a reader whose position is inside the tail filters and scopes in
//! memory (`EventFilter::matches`, `Scope::matches`). A reader behind the tail's start, or one
//! that needs the store (full-text `q`, a user's read flags), queries the log itself.
//!
//! The tail is bounded (a number of events and of bytes); the oldest events leave first.
//!
//! Streams on sockets of their own that caught up may park here ([`super::seat`]): the tail's
//! sweeper task then writes new events to them itself, without waking their tasks. It runs
//! apart from the fill task, so events appended while a pass is under way reach the seats the
//! pass has not reached yet in the same write, instead of waiting for the whole pass to end.

use super::seat::{Seat, Seats};
use crate::routes::feed::FeedItemOut;
use spine_core::{Cursor, EventFilter, Order, Scope, Seq, TenantId, Timestamp};
use spine_store::{FeedItem, FeedQuery, Store};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// Most bytes held (estimated as twice the events' encodings); the number of events is
/// configured.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Events read from the log per query while filling.
const FILL_PAGE: u32 = 1_000;
/// Events a reader scans per call, so that one call stays short however little matches.
const SCAN: usize = 2_000;
/// Wait before retrying a failed read of the log.
const RETRY: Duration = Duration::from_millis(250);

/// One event ready to send: the feed item, its JSON and its Server-Sent Events message, each
/// encoded once and sent to every reader, and the rest of its WebSocket message once a
/// WebSocket subscriber needs it.
#[derive(Debug)]
pub struct Delivery {
    /// The event and, for readers with a user, the read flag.
    pub item: FeedItemOut,
    /// `item` as JSON.
    pub json: String,
    /// `item` as an SSE message (`id:`, `event: activity`, `data:`), shared by every stream
    /// that sends it as is.
    pub sse: bytes::Bytes,
    /// The end of the `activity` WebSocket message after the subscription's id
    /// ([`super::ws::activity_rest`]).
    ws: std::sync::OnceLock<bytes::Bytes>,
}

impl Delivery {
    /// Encodes `item`.
    pub fn new(item: FeedItem) -> Result<Self, serde_json::Error> {
        let item = FeedItemOut {
            event: item.event,
            read: item.read,
            seen: None,
            archived: None,
            jobs: Vec::new(),
        };
        let json = serde_json::to_string(&item)?;
        let sse = super::sse::activity(item.event.seq, &json);
        Ok(Self { item, json, sse, ws: std::sync::OnceLock::new() })
    }

    /// The event's position.
    pub fn seq(&self) -> Seq {
        self.item.event.seq
    }

    /// The end of the event's WebSocket message, shared by every subscription that sends it.
    pub fn ws(&self) -> &bytes::Bytes {
        self.ws.get_or_init(|| super::ws::activity_rest(self.seq(), &self.json))
    }

    fn cost(&self) -> usize {
        (self.json.len() + self.sse.len()) * 2
    }
}

/// One event as a reader hands it out: the shared delivery and, for a reader with a user whose
/// delivery came from the tail (encoded without one), the user's read flag.
#[derive(Debug)]
pub struct Activity {
    /// The event, encoded.
    pub delivery: Arc<Delivery>,
    /// The read flag to add to the encoded item.
    pub read: Option<bool>,
}

impl Activity {
    /// The event's position.
    pub fn seq(&self) -> Seq {
        self.delivery.seq()
    }

    /// The feed item's JSON with the read flag. The shared encoding is a JSON object without
    /// `read` (tail deliveries are read without a user), so the flag is added as its last
    /// member, where `FeedItemOut` puts it.
    pub fn json(&self) -> Cow<'_, str> {
        let json = self.delivery.json.as_str();
        match (self.read, json.strip_suffix('}')) {
            (Some(read), Some(members)) if self.delivery.item.read.is_none() => {
                Cow::Owned(format!(r#"{members},"read":{read}}}"#))
            }
            _ => Cow::Borrowed(json),
        }
    }

    /// The event as an SSE message: the shared one, unless a read flag had to be added.
    pub fn sse(&self) -> bytes::Bytes {
        match self.json() {
            Cow::Borrowed(_) => self.delivery.sse.clone(),
            Cow::Owned(json) => super::sse::activity(self.seq(), &json),
        }
    }
}

/// What a reader got from the tail.
pub struct Slice {
    /// Matching events after the asked position, in `seq` order.
    pub items: Vec<Arc<Delivery>>,
    /// Every event at or below this position was scanned.
    pub through: Seq,
    /// Whether the tail holds more after `through`.
    pub more: bool,
}

/// The events of one tenant in `(start, end]`, all of them, in `seq` order.
struct Ring {
    /// `None` until the fill task has read the tenant's head.
    start: Option<Seq>,
    end: Seq,
    events: VecDeque<Arc<Delivery>>,
    bytes: usize,
}

/// One tenant's tail and the head its readers wait on.
pub struct Tail {
    ring: RwLock<Ring>,
    /// Most events held.
    max_events: usize,
    /// The end of the tail: raised after events are appended, so a reader woken by it finds
    /// them.
    heads: watch::Sender<Seq>,
    /// The tenant's purge horizon, set by the hub (and read once by the fill task at start).
    horizon: watch::Sender<Seq>,
    /// Streams parked here, served by the sweeper after appends.
    seats: Seats,
    /// Wakes the sweeper: events were appended.
    appended: tokio::sync::Notify,
}

impl Tail {
    /// An empty tail of at most `max_events` events; [`fill`] makes it usable.
    pub fn new(max_events: usize) -> Arc<Self> {
        let ring = Ring { start: None, end: Seq::ZERO, events: VecDeque::new(), bytes: 0 };
        Arc::new(Self {
            ring: RwLock::new(ring),
            max_events,
            heads: watch::channel(Seq::ZERO).0,
            horizon: watch::channel(Seq::ZERO).0,
            seats: Seats::default(),
            appended: tokio::sync::Notify::new(),
        })
    }

    /// A receiver of the head readers wait on.
    pub fn heads(&self) -> watch::Receiver<Seq> {
        self.heads.subscribe()
    }

    /// A receiver of the purge horizon.
    pub fn horizon(&self) -> watch::Receiver<Seq> {
        self.horizon.subscribe()
    }

    /// Whether anyone still waits on this tail's head.
    pub fn watched(&self) -> bool {
        self.heads.receiver_count() > 0
    }

    /// Moves the horizon forward, then wakes readers (they wait on the head alone).
    pub fn raise_horizon(&self, to: Seq) {
        if raise(&self.horizon, to) {
            self.wake();
        }
    }

    /// Wakes every reader without moving the head: they look again at what else may have
    /// changed (the horizon, shutdown).
    pub fn wake(&self) {
        self.heads.send_modify(|_| {});
        self.seats.release_all();
    }

    /// Parks `seat` at `positions` (one per subscription) if nothing after them is held yet
    /// and `woken` (whether the readers have a wake-up they have not seen) says no; whether it
    /// parked.
    pub fn park(&self, seat: &Arc<Seat>, positions: &[Seq], woken: impl FnOnce() -> bool) -> bool {
        self.seats.park(seat, positions, || {
            let end = self.read().end;
            positions.iter().any(|p| end > *p) || woken()
        })
    }

    /// Forgets `seat` (its stream ended).
    pub fn leave(&self, seat: &Arc<Seat>) {
        self.seats.leave(seat);
    }

    /// The head and horizon, once the tail is filling: every event at or below the head is
    /// committed and, if after the tail's start, held.
    pub fn positions(&self) -> Option<(Seq, Seq)> {
        let ring = self.read();
        ring.start.map(|_| (ring.end, *self.horizon.borrow()))
    }

    /// Whether the tail holds everything after `after`.
    pub fn covers(&self, after: Seq) -> bool {
        self.read().start.is_some_and(|start| after >= start)
    }

    /// Events after `after` that pass `keep`, at most `limit`; `None` when the tail does not
    /// reach back to `after` (the reader must read the log).
    pub fn after(
        &self,
        after: Seq,
        limit: usize,
        keep: impl Fn(&Delivery) -> bool,
    ) -> Option<Slice> {
        let ring = self.read();
        if ring.start.is_none_or(|start| after < start) {
            return None;
        }
        if after >= ring.end {
            return Some(Slice { items: Vec::new(), through: after, more: false });
        }
        let from = ring.events.partition_point(|d| d.seq() <= after);
        let mut items = Vec::new();
        let mut through = ring.end;
        let mut more = false;
        for (scanned, delivery) in ring.events.range(from..).enumerate() {
            if items.len() == limit || scanned == SCAN {
                more = true;
                break;
            }
            through = delivery.seq();
            if keep(delivery) {
                items.push(delivery.clone());
            }
        }
        if !more {
            through = ring.end;
        }
        Some(Slice { items, through, more })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the tail at `head` (nothing held yet) and wakes readers.
    fn begin(&self, head: Seq, horizon: Seq) {
        {
            let mut ring = self.write();
            ring.start = Some(head);
            ring.end = head;
        }
        raise(&self.horizon, horizon);
        raise(&self.heads, head);
    }

    /// Appends events read after the end, the new end being `end`, drops the oldest beyond the
    /// bounds, then wakes readers and the sweeper.
    fn append(&self, events: Vec<Delivery>, end: Seq) {
        {
            let mut ring = self.write();
            for delivery in events {
                if delivery.seq() > ring.end {
                    ring.bytes += delivery.cost();
                    ring.end = delivery.seq();
                    ring.events.push_back(Arc::new(delivery));
                }
            }
            ring.end = ring.end.max(end);
            while ring.events.len() > self.max_events || ring.bytes > MAX_BYTES {
                let Some(oldest) = ring.events.pop_front() else { break };
                ring.bytes -= oldest.cost();
                ring.start = Some(oldest.seq());
            }
        }
        raise(&self.heads, self.read().end);
        // A pass under way takes the new events to the seats it has not reached yet; the next
        // pass (the permit stored here) takes them to the others.
        self.appended.notify_one();
    }

    /// Serves the parked seats with what was appended, one pass each time, until the task is
    /// aborted (by the fill task, as it ends).
    async fn sweep(self: Arc<Self>) {
        loop {
            self.appended.notified().await;
            let delivered = self.seats.serve(&self);
            if delivered > 0 {
                metrics::counter!(super::DELIVERIES).increment(delivered);
                let newest = self.read().events.back().map(|d| d.item.event.received_at);
                if let Some(newest) = newest {
                    let waited = Timestamp::now().as_micros() - newest.as_micros();
                    metrics::histogram!(super::LAG_SECONDS).record(waited.max(0) as f64 / 1e6);
                }
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether a reader with this filter can be served from the tail: everything but full-text
/// search can be decided in memory (read flags and `unread` from the user's read state).
pub fn serves(filter: &EventFilter) -> bool {
    filter.q.is_none()
}

/// Whether an event passes a reader's filter and viewer scope.
pub fn keeps(filter: &EventFilter, scope: Option<&Scope>, delivery: &Delivery) -> bool {
    let event = &delivery.item.event;
    filter.matches(event)
        && scope.is_none_or(|s| s.matches(event))
        && !(spine_core::filter::hides_audit(filter, scope)
            && spine_core::filter::is_audit(&event.event_type))
}

/// Moves a watch forward (never back), waking receivers only when it moved; whether it did.
pub fn raise(sender: &watch::Sender<Seq>, to: Seq) -> bool {
    sender.send_if_modified(|current| {
        let newer = to > *current;
        if newer {
            *current = to;
        }
        newer
    })
}

/// Keeps `tail` filled up to `committed` (the tenant's committed head) until nobody watches
/// the tail or the hub drops the tenant.
pub async fn fill(
    tail: Weak<Tail>,
    store: Arc<dyn Store>,
    tenant: TenantId,
    mut committed: watch::Receiver<Seq>,
) {
    loop {
        let positions = (store.head(&tenant).await, store.horizon(&tenant).await);
        let Some(tail) = tail.upgrade() else { return };
        match positions {
            (Ok(head), Ok(horizon)) => {
                tail.begin(head, horizon);
                break;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(tenant = %tenant, error = %e, "starting the live tail failed");
            }
        }
        drop(tail);
        tokio::time::sleep(RETRY).await;
    }
    let Some(started) = tail.upgrade() else { return };
    let _sweeper = AbortOnDrop(tokio::spawn(started.sweep()));
    loop {
        // Marked seen before the read: a later commit wakes the next wait.
        let target = *committed.borrow_and_update();
        let Some(tail) = tail.upgrade() else { return };
        if !tail.watched() {
            return;
        }
        let end = tail.read().end;
        if target > end {
            match read_after(store.as_ref(), &tenant, end).await {
                // A full page: more may follow at once.
                Ok((events, true)) => {
                    let last = events.last().map_or(end, Delivery::seq);
                    tail.append(events, last);
                    continue;
                }
                // Everything committed up to `target` has been read.
                Ok((events, false)) => tail.append(events, target),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "filling the live tail failed");
                    drop(tail);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        drop(tail);
        if committed.changed().await.is_err() {
            return;
        }
    }
}

/// One page of the log after `after`, and whether it was full.
async fn read_after(
    store: &dyn Store,
    tenant: &TenantId,
    after: Seq,
) -> Result<(Vec<Delivery>, bool), Box<dyn std::error::Error + Send + Sync>> {
    let query = FeedQuery {
        filter: EventFilter::default(),
        scope: None,
        order: Order::Seq,
        after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: after }),
        limit: FILL_PAGE,
        user: None,
    };
    let page = store.query(tenant, &query).await?;
    let full = page.next.is_some();
    let events = page.items.into_iter().map(Delivery::new).collect::<Result<Vec<_>, _>>()?;
    Ok((events, full))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spine_core::input::{EventInput, EventLimits};
    use spine_core::Timestamp;
    use spine_sqlite::{SqliteOptions, SqliteStore};

    fn tenant() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    fn input(kind: &str) -> spine_core::event::NewEvent {
        let input: EventInput =
            serde_json::from_value(serde_json::json!({"type": kind, "title": "t"})).unwrap();
        input.validate(uuid::Uuid::now_v7(), None, &EventLimits::default()).unwrap()
    }

    fn delivery(seq: i64, kind: &str) -> Delivery {
        let event = input(kind).commit(tenant(), Seq(seq), Timestamp::now(), "s".into());
        Delivery::new(FeedItem { event, read: None, seen: None, archived: None }).unwrap()
    }

    fn seqs(slice: &Slice) -> Vec<i64> {
        slice.items.iter().map(|d| d.seq().0).collect()
    }

    /// Readers get exactly the held events after their position that pass their filter, in
    /// order, with the position they scanned through; positions the tail does not reach back to
    /// are refused, so the reader goes to the log instead of skipping events.
    #[test]
    fn readers_get_what_follows_their_position_or_are_sent_to_the_log() {
        let tail = Tail::new(5);
        assert!(tail.after(Seq(0), 10, |_| true).is_none(), "not started yet");
        tail.begin(Seq(10), Seq(0));
        assert_eq!(tail.positions(), Some((Seq(10), Seq(0))));
        let kinds = ["a.x", "b.y", "a.z", "b.y"];
        let events = (11..=14).zip(kinds).map(|(s, k)| delivery(s, k)).collect();
        tail.append(events, Seq(16));
        assert_eq!(tail.positions(), Some((Seq(16), Seq(0))), "the end is the committed head");

        let all = tail.after(Seq(10), 10, |_| true).unwrap();
        assert_eq!((seqs(&all), all.through, all.more), (vec![11, 12, 13, 14], Seq(16), false));
        let filter = EventFilter {
            types: vec![spine_core::filter::TypePattern::parse("a.*").unwrap()],
            ..EventFilter::default()
        };
        let some = tail.after(Seq(11), 10, |d| keeps(&filter, None, d)).unwrap();
        assert_eq!((seqs(&some), some.through), (vec![13], Seq(16)));
        let page = tail.after(Seq(10), 2, |_| true).unwrap();
        assert_eq!((seqs(&page), page.through, page.more), (vec![11, 12], Seq(12), true));
        let caught_up = tail.after(Seq(16), 10, |_| true).unwrap();
        assert_eq!((caught_up.items.len(), caught_up.through), (0, Seq(16)));
        assert!(tail.after(Seq(9), 10, |_| true).is_none(), "before the start");

        // Beyond five events the oldest leave and the start moves with them.
        let more = (17..=19).map(|s| delivery(s, "a.x")).collect();
        tail.append(more, Seq(19));
        assert!(tail.after(Seq(11), 10, |_| true).is_none());
        let rest = tail.after(Seq(12), 10, |_| true).unwrap();
        assert_eq!(seqs(&rest), vec![13, 14, 17, 18, 19]);
    }

    /// Only filters decidable in memory are served from the tail.
    #[test]
    fn full_text_search_goes_to_the_store() {
        assert!(serves(&EventFilter { unread: true, ..EventFilter::default() }));
        assert!(!serves(&EventFilter { q: Some("deploy".into()), ..EventFilter::default() }));
    }

    /// A reader's read flag is added to the shared encoding exactly as the feed would encode
    /// the item with it.
    #[test]
    fn the_read_flag_joins_the_shared_encoding() {
        let shared = Arc::new(delivery(7, "a.b"));
        for read in [true, false] {
            let activity = Activity { delivery: shared.clone(), read: Some(read) };
            let got: serde_json::Value = serde_json::from_str(&activity.json()).unwrap();
            let item = FeedItemOut {
                event: shared.item.event.clone(),
                read: Some(read),
                seen: None,
                archived: None,
                jobs: Vec::new(),
            };
            assert_eq!(got, serde_json::to_value(&item).unwrap());
        }
        let plain = Activity { delivery: shared.clone(), read: None };
        assert_eq!(plain.json(), shared.json.as_str());
    }

    /// The fill task starts at the store's head and follows commits by reading the log: the
    /// head readers wait on moves only after the events are in the tail.
    #[tokio::test]
    async fn the_fill_task_follows_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tail.db").display());
        let store = SqliteStore::open(&url, SqliteOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let t = tenant();
        store.create_tenant(&t, "Acme").await.unwrap();
        store.append(&t, vec![input("a.b"), input("a.b")]).await.unwrap();
        let start = store.head(&t).await.unwrap();

        let tail = Tail::new(10_000);
        let mut heads = tail.heads();
        let (committed, watching) = watch::channel(Seq::ZERO);
        tokio::spawn(fill(Arc::downgrade(&tail), store.clone(), t.clone(), watching));
        let guard = Duration::from_secs(10);
        tokio::time::timeout(guard, heads.wait_for(|h| *h == start)).await.unwrap().unwrap();
        assert!(tail.after(start, 10, |_| true).unwrap().items.is_empty());

        // 2,500 events: more than one fill page.
        let batch = (0..2_500).map(|_| input("c.d")).collect();
        store.append(&t, batch).await.unwrap();
        let head = store.head(&t).await.unwrap();
        committed.send(head).unwrap();
        tokio::time::timeout(guard, heads.wait_for(|h| *h == head)).await.unwrap().unwrap();
        let mut position = start;
        let mut got = 0;
        while let Some(slice) = tail.after(position, 100, |_| true) {
            got += slice.items.len();
            position = slice.through;
            if !slice.more {
                break;
            }
        }
        assert_eq!((got, position), (2_500, head));
    }
}
