//! The reader loop behind every live subscription (SSE stream or WebSocket subscription): read
//! the log after a position, hand out what matched its filter and viewer scope, advance the
//! position by the log, then wait for the hub's wake-up. Catch-up after a reconnect and live
//! delivery are the same loop, so an event is neither skipped nor sent twice, and a slow client
//! only falls behind in the log: the reader holds at most one page.
//!
//! "Read the log" means the tenant's shared [`Tail`] (recent events, filtered here) when the
//! position is inside it and the subscription needs nothing only the store can decide
//! (full-text `q`, a user's read flags); otherwise a query to the store.
//!
//! A reader yields transport-neutral [`Output`]s; `sse` and `ws` turn them into messages.

use super::hub::{ReadWake, Wakeups};
use super::tail::{self, Activity, Delivery, Tail};
use super::{DELIVERIES, DISCONNECTS, LAG_SECONDS};
use crate::auth::Principal;
use spine_core::{Cursor, EventFilter, Order, Seq, TenantId, Timestamp, UserId};
use spine_store::{FeedQuery, ReadChange, ReadMarks, ReadNotice, Store, StoreError};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;
use tokio::time::Instant;

/// Events read per store query.
const PAGE: u32 = 100;
/// How often a reader samples the delivery lag.
const LAG_SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// The reconnection delay suggested to clients, at the start and at shutdown.
pub const RETRY: Duration = Duration::from_secs(2);

/// What [`Reader::next_ready`] found.
#[derive(Debug)]
pub enum Ready {
    /// Something to send.
    Output(Output),
    /// Nothing until the log grows (or a read change, the token's expiry, shutdown):
    /// [`Reader::wait`].
    Wait,
    /// The subscription is over.
    Done,
}

/// What a subscription asks for.
pub struct Subscription {
    /// The authenticated caller.
    pub principal: Principal,
    /// The feed's filters.
    pub filter: EventFilter,
    /// The user for read flags, `unread=true` and read-state changes.
    pub user: Option<UserId>,
    /// Resume after this position; `None` starts at the live end.
    pub resume: Option<Seq>,
}

/// Why a resume point cannot be served without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// Events after the resume point were purged.
    Purged,
    /// The resume point is beyond the log's head (another database, or a restored backup).
    AheadOfLog,
}

impl ResetReason {
    /// The machine-readable reason.
    pub fn code(self) -> &'static str {
        match self {
            Self::Purged => "purged",
            Self::AheadOfLog => "ahead-of-log",
        }
    }
}

/// Why a subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server is shutting down: reconnect (elsewhere) and resume.
    Shutdown,
    /// The viewer token expired.
    TokenExpired,
    /// The store failed: reconnect and resume.
    Unavailable,
    /// The subscriber stayed behind the log too long: resume to continue.
    Lagging,
}

impl End {
    /// The machine-readable code, also the `reason` label of the disconnect counter.
    pub fn code(self) -> &'static str {
        match self {
            Self::Shutdown => "shutdown",
            Self::TokenExpired => "token-expired",
            Self::Unavailable => "unavailable",
            Self::Lagging => "lagging",
        }
    }

    /// What the client is told.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Shutdown => "the server is shutting down; reconnect and resume",
            Self::TokenExpired => "the viewer token has expired",
            Self::Unavailable => "the store is unavailable; reconnect and resume",
            Self::Lagging => {
                "the subscriber fell too far behind; reconnect and resume from the last id"
            }
        }
    }
}

/// One thing to send.
#[derive(Debug)]
pub enum Output {
    /// A committed event that matches, in `seq` order.
    Activity(Activity),
    /// A change of the subscriber's user's read state.
    Read(ReadOut),
    /// The resume point could not be served: reload the feed; the subscription continues from
    /// `position` (the live end).
    Reset {
        /// Why.
        reason: ResetReason,
        /// Where delivery continues.
        position: Seq,
        /// The tenant's purge horizon.
        horizon: Seq,
    },
    /// The last output: the subscription is over.
    End(End),
}

/// The body of a read-state change message; [`ReadOut::message`] names its kind.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadOut {
    /// Which message this is: `read`, `seen` or `archive`.
    #[serde(skip)]
    pub kind: ReadKind,
    /// Whose read state changed.
    pub user_id: String,
    /// The event marked read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<uuid::Uuid>,
    /// Its position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// Everything through this position is read (`read`) or seen (`seen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_seq: Option<i64>,
    /// The event was archived (`true`) or unarchived (`false`) (`archive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// Changes were missed: re-read the read state (unread count, flags).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// The kinds of read-state message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadKind {
    /// Read marks and the read watermark, and resyncs (which cover every kind).
    #[default]
    Read,
    /// The seen watermark.
    Seen,
    /// An event archived or unarchived.
    Archive,
}

impl ReadOut {
    /// The message for `user` of one hub wake-up, if it concerns them.
    pub fn of(user: &UserId, wake: &ReadWake) -> Option<Self> {
        let out = Self {
            kind: ReadKind::Read,
            user_id: user.as_str().to_owned(),
            event_id: None,
            seq: None,
            through_seq: None,
            archived: None,
            resync: false,
        };
        match wake {
            ReadWake::Resync => Some(Self { resync: true, ..out }),
            ReadWake::Change(notice) if notice.user == *user => Some(change(out, notice)),
            ReadWake::Change(_) => None,
        }
    }
}

fn change(out: ReadOut, notice: &ReadNotice) -> ReadOut {
    match notice.change {
        ReadChange::Event { id, seq } => ReadOut { event_id: Some(id), seq: Some(seq.0), ..out },
        ReadChange::Through(seq) => ReadOut { through_seq: Some(seq.0), ..out },
        ReadChange::Seen(seq) => ReadOut { kind: ReadKind::Seen, through_seq: Some(seq.0), ..out },
        ReadChange::Archived { id, seq, archived } => ReadOut {
            kind: ReadKind::Archive,
            event_id: Some(id),
            seq: Some(seq.0),
            archived: Some(archived),
            ..out
        },
    }
}

impl ReadOut {
    /// The message name: the SSE `event:` and the WebSocket `type`.
    pub fn message(&self) -> &'static str {
        match self.kind {
            ReadKind::Read => "read",
            ReadKind::Seen => "seen",
            ReadKind::Archive => "archive",
        }
    }
}

/// What readers share besides the subscription: the store, the server's shutdown signal and
/// the lag limit.
#[derive(Clone)]
pub struct ReaderContext {
    /// Where events come from; the hub only says when to look.
    pub store: Arc<dyn Store>,
    /// Turns `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// How long a reader may stay behind before it is ended with [`End::Lagging`].
    pub max_lag: Duration,
}

/// One subscriber's position in its tenant's log and what it waits on.
pub struct Reader {
    ctx: ReaderContext,
    tenant: TenantId,
    principal: Principal,
    filter: EventFilter,
    user: Option<UserId>,
    /// The tenant's recent events.
    tail: Arc<Tail>,
    /// Whether the filter and user allow serving from the tail.
    from_tail: bool,
    /// Every event at or below this position has been handed out or did not match.
    position: Seq,
    heads: watch::Receiver<Seq>,
    horizon: watch::Receiver<Seq>,
    /// Read-state changes of the tenant, when the reader has a user.
    reads: Option<tokio::sync::broadcast::Receiver<ReadWake>>,
    /// Whether the user's read-state changes are handed out.
    forward_reads: bool,
    /// The user's read state above the position, for read flags and `unread` on events from
    /// the tail: loaded from the store when first needed, then kept by the read changes.
    read_state: Option<ReadState>,
    /// When a viewer token expires; `None` for API keys.
    expiry: Option<Instant>,
    /// Read but not yet handed out: at most one page of events, plus read changes and a reset.
    pending: VecDeque<Output>,
    /// Since when the reader has been behind the log without catching up.
    behind_since: Option<Instant>,
    /// Set once [`Output::End`] was handed out (or the client left).
    ended: Option<End>,
    /// Events handed out since the deliveries counter was last raised (once per read, not once
    /// per event).
    handed: u64,
    /// When the lag was last sampled.
    lag_sampled: Instant,
    /// Metric handles, looked up once.
    deliveries: metrics::Counter,
    lag: metrics::Histogram,
}

impl Reader {
    /// A reader of `subscription` woken by `wakeups` (subscribed before this call, so no commit
    /// is missed). Takes the head and horizon (from the tail, or the store while the tail is
    /// starting or behind the resume point) to place the start: the live end without a resume
    /// point, the resume point if the store still holds everything after it, or else the live
    /// end after an [`Output::Reset`]. With `forward_reads`, the user's read-state changes are
    /// handed out too.
    pub async fn start(
        ctx: ReaderContext,
        subscription: Subscription,
        wakeups: Wakeups,
        forward_reads: bool,
    ) -> Result<Self, StoreError> {
        let tenant = subscription.principal.tenant.clone();
        let (head, horizon) = match wakeups.tail.positions() {
            Some((head, horizon)) if subscription.resume.is_none_or(|at| at <= head) => {
                (head, horizon)
            }
            _ => (ctx.store.head(&tenant).await?, ctx.store.horizon(&tenant).await?),
        };
        let mut pending = VecDeque::new();
        let position = match subscription.resume {
            None => head,
            Some(at) if at < horizon => {
                pending.push_back(reset(ResetReason::Purged, head, horizon));
                head
            }
            Some(at) if at > head => {
                pending.push_back(reset(ResetReason::AheadOfLog, head, horizon));
                head
            }
            Some(at) => at,
        };
        let expiry = expiry_of(&subscription.principal);
        let reads = subscription.user.is_some().then_some(wakeups.reads);
        let from_tail = tail::serves(&subscription.filter);
        Ok(Self {
            ctx,
            tenant,
            principal: subscription.principal,
            filter: subscription.filter,
            user: subscription.user,
            tail: wakeups.tail,
            from_tail,
            position,
            heads: wakeups.heads,
            horizon: wakeups.horizon,
            reads,
            forward_reads,
            read_state: None,
            expiry,
            pending,
            behind_since: None,
            ended: None,
            handed: 0,
            lag_sampled: Instant::now() - LAG_SAMPLE_EVERY,
            deliveries: metrics::counter!(DELIVERIES),
            lag: metrics::histogram!(LAG_SECONDS),
        })
    }

    /// The position the reader starts from, or has reached: every event at or below it was
    /// handed out or did not match.
    pub fn position(&self) -> Seq {
        self.position
    }

    /// The next output; `None` after [`Output::End`].
    pub async fn next(&mut self) -> Option<Output> {
        loop {
            match self.next_ready().await {
                Ready::Output(output) => return Some(output),
                Ready::Done => return None,
                Ready::Wait => self.wait().await,
            }
        }
    }

    /// The next output if there is one without waiting for the log to grow (reading the log
    /// may still wait for the store).
    pub async fn next_ready(&mut self) -> Ready {
        loop {
            if self.ended.is_some() {
                return Ready::Done;
            }
            if let Some(output) = self.pending.pop_front() {
                if let Output::Activity(activity) = &output {
                    // The lag is sampled at most once a second, from the first event of a read
                    // (the one that waited longest): a histogram sample per delivery was a
                    // measurable part of fan-out's cost.
                    if self.handed == 0 && self.lag_sampled.elapsed() >= LAG_SAMPLE_EVERY {
                        self.lag_sampled = Instant::now();
                        let received = activity.delivery.item.event.received_at.as_micros();
                        let waited = Timestamp::now().as_micros() - received;
                        self.lag.record(waited.max(0) as f64 / 1e6);
                    }
                    self.handed += 1;
                }
                return Ready::Output(output);
            }
            self.count_handed();
            if let Some(end) = self.check_end() {
                return Ready::Output(self.end(end));
            }
            self.take_reads();
            if !self.pending.is_empty() {
                continue;
            }
            match self.read().await {
                Ok(true) => {}
                Ok(false) if !self.pending.is_empty() => {}
                Ok(false) => return Ready::Wait,
                Err(e) => {
                    tracing::warn!(tenant = %self.tenant, error = %e, "stream read failed");
                    return Ready::Output(self.end(End::Unavailable));
                }
            }
        }
    }

    /// Whether this reader may park on a seat ([`super::seat`]) when it has caught up: it is
    /// served from the tail, has no user (read flags, read changes), no credential that expires
    /// (those are viewer tokens and sessions, which carry a user anyway) and delivers events.
    pub fn parkable(&self) -> bool {
        self.from_tail
            && self.user.is_none()
            && self.expiry.is_none()
            && self.filter.delivers_activity()
            && self.ended.is_none()
    }

    /// Parks on `seat` at the position, if the reader has caught up and seen every wake-up
    /// (see [`super::seat`]); whether it parked.
    pub fn park(&self, seat: &Arc<super::seat::Seat>) -> bool {
        let heads = &self.heads;
        self.tail.park(seat, &[self.position], || heads.has_changed().unwrap_or(true))
    }

    /// The filter and viewer scope, for a seat.
    pub fn matcher(&self) -> (EventFilter, Option<spine_core::Scope>) {
        (self.filter.clone(), self.principal.scope().cloned())
    }

    /// The tenant's tail.
    pub fn tail(&self) -> &Arc<Tail> {
        &self.tail
    }

    /// Carries on from `position`, which a seat reached for this reader (only forward).
    pub fn resume_at(&mut self, position: Seq) {
        self.position = self.position.max(position);
    }

    fn count_handed(&mut self) {
        if self.handed > 0 {
            self.deliveries.increment(std::mem::take(&mut self.handed));
        }
    }

    fn end(&mut self, end: End) -> Output {
        self.count_handed();
        self.ended = Some(end);
        metrics::counter!(DISCONNECTS, "reason" => end.code()).increment(1);
        Output::End(end)
    }

    /// Shutdown, expiry or lag, checked before each read.
    fn check_end(&self) -> Option<End> {
        if *self.ctx.shutdown.borrow() || self.heads.has_changed().is_err() {
            return Some(End::Shutdown);
        }
        if self.expiry.is_some() && self.principal.expired(Timestamp::now()) {
            return Some(End::TokenExpired);
        }
        match self.behind_since {
            Some(since) if since.elapsed() > self.ctx.max_lag => Some(End::Lagging),
            _ => None,
        }
    }

    /// Applies waiting read-state changes (and hands out the user's, when forwarding).
    fn take_reads(&mut self) {
        loop {
            let Some(reads) = self.reads.as_mut() else { return };
            let wake = match reads.try_recv() {
                Ok(wake) => wake,
                Err(TryRecvError::Lagged(_)) => ReadWake::Resync,
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            };
            self.on_read(&wake);
        }
    }

    /// One read-state change of the tenant: kept in the read state if it is the user's (a
    /// missed change drops the state, to be loaded again) and handed out when forwarding.
    fn on_read(&mut self, wake: &ReadWake) {
        let Some(user) = self.user.as_ref() else { return };
        let Some(out) = ReadOut::of(user, wake) else { return };
        match wake {
            ReadWake::Change(notice) => {
                if let Some(state) = self.read_state.as_mut() {
                    state.apply(&notice.change);
                }
            }
            ReadWake::Resync => self.read_state = None,
        }
        if self.forward_reads {
            self.pending.push_back(Output::Read(out));
        }
    }

    /// Reads one page after the position; `true` when more may follow at once.
    async fn read(&mut self) -> Result<bool, StoreError> {
        // Marked seen before the read: a commit after this wakes the next wait, and commits
        // before it are visible to the read (notices are sent after COMMIT, and the tail's head
        // is raised after its events are appended).
        let observed = *self.heads.borrow_and_update();
        let horizon = *self.horizon.borrow_and_update();
        if horizon > self.position {
            // Events this reader has not seen were purged while it was behind.
            let head = match self.tail.positions() {
                Some((head, _)) => head,
                None => self.ctx.store.head(&self.tenant).await?,
            };
            self.pending.push_back(reset(ResetReason::Purged, head, horizon));
            self.position = head;
            self.behind_since = None;
            return Ok(true);
        }
        if !self.filter.delivers_activity() {
            // Nothing to read: only read-state messages go out, and the log counts as read.
            self.position = self.position.max(observed);
            return Ok(false);
        }
        if self.from_tail && self.tail.covers(self.position) {
            if let (Some(user), None) = (&self.user, &self.read_state) {
                let marks = self.ctx.store.read_marks(&self.tenant, user, self.position).await?;
                self.read_state = Some(ReadState::from(marks));
            }
            let (filter, scope, reads) =
                (&self.filter, self.principal.scope(), self.read_state.as_ref());
            let read = |d: &Delivery| reads.map(|r| r.is_read(d.seq()));
            let keep = |d: &Delivery| {
                tail::keeps(filter, scope, d) && !(filter.unread && read(d) == Some(true))
            };
            if let Some(slice) = self.tail.after(self.position, PAGE as usize, keep) {
                self.position = self.position.max(slice.through);
                for delivery in slice.items {
                    let read = read(&delivery);
                    self.pending.push_back(Output::Activity(Activity { delivery, read }));
                }
                if let Some(state) = self.read_state.as_mut() {
                    state.forget_through(self.position);
                }
                return Ok(self.behind(slice.more));
            }
        }
        let query = FeedQuery {
            filter: self.filter.clone(),
            scope: self.principal.scope().cloned(),
            order: Order::Seq,
            after: Some(Cursor { order: Order::Seq, occurred_micros: 0, seq: self.position }),
            limit: PAGE,
            user: self.user.clone(),
        };
        let page = self.ctx.store.query(&self.tenant, &query).await?;
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
        for item in page.items {
            match Delivery::new(item) {
                Ok(delivery) => {
                    let delivery = Arc::new(delivery);
                    self.pending.push_back(Output::Activity(Activity { delivery, read: None }));
                }
                Err(e) => tracing::error!(error = %e, "encoding a stream event failed"),
            }
        }
        Ok(self.behind(more))
    }

    /// Notes whether the reader is behind the log (for the lag cut-off); returns `more`.
    fn behind(&mut self, more: bool) -> bool {
        if more {
            self.behind_since.get_or_insert_with(Instant::now);
        } else {
            self.behind_since = None;
        }
        more
    }

    /// Waits for a commit or purge in the tenant, a read-state change, the token's expiry or
    /// shutdown (the last two only with a user or a token).
    pub async fn wait(&mut self) {
        // Purges and shutdown wake the head's watch too, after setting what they change: a
        // reader that consumed that wake-up in its read sees the change here.
        if *self.ctx.shutdown.borrow() {
            return;
        }
        if self.expiry.is_none() && self.reads.is_none() {
            // The common case waits on one watch; an error means the hub is gone, which
            // `check_end` ends like a shutdown.
            let _ = self.heads.changed().await;
            return;
        }
        let expired = expiry_reached(self.expiry);
        let reads = self.reads.as_mut();
        let read_change = async move {
            match reads {
                Some(reads) => match reads.recv().await {
                    Ok(wake) => Some(wake),
                    Err(RecvError::Lagged(_)) => Some(ReadWake::Resync),
                    Err(RecvError::Closed) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let wake = tokio::select! {
            // An error means the hub is gone, which happens only when the server is:
            // `check_end` then ends the reader like a shutdown.
            _ = self.heads.changed() => None,
            wake = read_change => wake,
            () = expired => None,
        };
        if let Some(wake) = wake {
            self.on_read(&wake);
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.count_handed();
        if self.ended.is_none() {
            metrics::counter!(DISCONNECTS, "reason" => "client").increment(1);
        }
    }
}

/// A user's read state above a reader's position: a watermark and single marks above it.
#[derive(Debug, Default)]
struct ReadState {
    through: Seq,
    marked: BTreeSet<Seq>,
}

impl From<ReadMarks> for ReadState {
    fn from(marks: ReadMarks) -> Self {
        Self { through: marks.through, marked: marks.marked.into_iter().collect() }
    }
}

impl ReadState {
    fn is_read(&self, seq: Seq) -> bool {
        seq <= self.through || self.marked.contains(&seq)
    }

    /// Read changes only add: a mark or a higher watermark.
    fn apply(&mut self, change: &ReadChange) {
        match *change {
            ReadChange::Event { seq, .. } => {
                if seq > self.through {
                    self.marked.insert(seq);
                }
            }
            ReadChange::Through(seq) => {
                self.through = self.through.max(seq);
                self.forget_through(self.through);
            }
            // Seen and archived state are not read flags: live events carry only `read`.
            ReadChange::Seen(_) | ReadChange::Archived { .. } => {}
        }
    }

    /// Drops marks at or below `seq` (already passed, or covered by the watermark).
    fn forget_through(&mut self, seq: Seq) {
        self.marked = self.marked.split_off(&Seq(seq.0.saturating_add(1)));
    }
}

/// When the credential expires, as an instant to sleep until; `None` for API keys.
pub fn expiry_of(principal: &Principal) -> Option<Instant> {
    let expires_at = principal.expires_at()?;
    // In microseconds plus a millisecond, so that on waking the credential has expired by
    // `Principal::expired` (whole seconds) and a loop checking it does not spin.
    let end = expires_at.saturating_mul(1_000_000);
    let left = end.saturating_sub(Timestamp::now().as_micros()).saturating_add(1_000);
    Some(Instant::now() + Duration::from_micros(u64::try_from(left).unwrap_or(0)))
}

/// Resolves at `expiry` ([`expiry_of`]); never without one.
pub async fn expiry_reached(expiry: Option<Instant>) {
    match expiry {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn reset(reason: ResetReason, head: Seq, horizon: Seq) -> Output {
    Output::Reset { reason, position: head, horizon }
}
