//! Fan-out without waking a task per subscriber.
//!
//! A live socket served on its own ([`super::sse::serve`], [`super::ws`]) whose subscriptions
//! have all caught up with their tenant's tail, and can be decided in memory without a user
//! (nor a credential that expires: see [`super::reader::Reader::parkable`]), parks on a
//! [`Seat`]: each subscription's filter, scope and position, and the socket, are left with the
//! tail. After the tail's fill task appends events, the tail's sweeper serves every parked seat
//! in one pass ([`Seats::serve`]): it scans the new events with each subscription's filter and
//! scope and writes the matches straight to the socket, framed for its protocol, without
//! waiting. A seat
//! the pass cannot serve completely (the socket is full, it fell behind the tail, the write
//! failed) is released: its task wakes, takes the positions and any unwritten rest back, and
//! carries on as ordinary readers. Shutdown and purges release every seat (through
//! [`super::tail::Tail::wake`]).
//!
//! Exactly one side writes at a time: the pass only while the seat is parked, the task only
//! after it took the seat back, both under the seat's lock. The positions move only with what
//! was written, so an event is neither skipped nor sent twice.

use super::tail::{self, Delivery, Tail};
use super::wire::{Sent, Wire, MAX_BATCH};
use bytes::Bytes;
use spine_core::{EventFilter, Scope, Seq};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// How a subscription's events are framed on its socket.
#[derive(Debug, Clone)]
pub enum Framing {
    /// Server-Sent Events: the event's shared message.
    Sse,
    /// WebSocket text frames: the subscription's `prefix` (its envelope up to the event,
    /// [`super::ws::activity_prefix`]), then the event's shared rest.
    WebSocket {
        /// The envelope's start, naming the subscription.
        prefix: Bytes,
    },
}

/// One subscription a seat serves.
#[derive(Debug)]
pub struct Place {
    filter: EventFilter,
    scope: Option<Scope>,
    framing: Framing,
    /// Every event at or below this position was written or did not match.
    position: Seq,
}

impl Place {
    /// A subscription with `filter` and `scope`, framed by `framing`.
    pub fn new(filter: EventFilter, scope: Option<Scope>, framing: Framing) -> Self {
        Self { filter, scope, framing, position: Seq::ZERO }
    }
}

/// A parkable socket: its subscriptions and where its bytes go.
#[derive(Debug)]
pub struct Seat {
    wire: Arc<Wire>,
    state: Mutex<State>,
    /// Wakes the seat's task when the pass released it.
    released: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The pass may write; the task waits.
    parked: bool,
    /// The seat is in its tail's list (it may stay listed a while after being taken back).
    listed: bool,
    /// The subscriptions, in the task's order.
    places: Vec<Place>,
    /// Whether the pass wrote anything since the seat was parked.
    sent: bool,
    /// Bytes the pass could not write: they go out before anything else.
    rest: Option<Bytes>,
}

/// What the task gets back when it takes its seat.
#[derive(Debug)]
pub struct Taken {
    /// The position to read on from, per subscription in the task's order.
    pub positions: Vec<Seq>,
    /// Whether the pass wrote anything while the seat was parked.
    pub sent: bool,
    /// Bytes to write first.
    pub rest: Option<Bytes>,
}

/// Room for a WebSocket frame's header (a server's is never masked).
const WS_HEADER: usize = 10;

impl Seat {
    /// A seat serving `places`, writing to `wire`.
    pub fn new(wire: Arc<Wire>, places: Vec<Place>) -> Arc<Self> {
        let state = State { places, ..State::default() };
        Arc::new(Self { wire, state: Mutex::new(state), released: Notify::new() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the subscriptions (the task's set changed); only while the seat is not parked.
    pub fn set_places(&self, places: Vec<Place>) {
        let mut state = self.lock();
        debug_assert!(!state.parked, "the task owns the places only while not parked");
        state.places = places;
    }

    /// Resolves once the pass released the seat (or had released it before this call).
    pub async fn released(&self) {
        self.released.notified().await;
    }

    /// Takes the seat back (the task may write again).
    pub fn take(&self) -> Taken {
        let mut state = self.lock();
        state.parked = false;
        Taken {
            positions: state.places.iter().map(|p| p.position).collect(),
            sent: std::mem::take(&mut state.sent),
            rest: state.rest.take(),
        }
    }

    /// Releases a parked seat to its task.
    fn release(&self, state: &mut State) {
        state.parked = false;
        state.listed = false;
        self.released.notify_one();
    }

    /// Serves this seat with what the tail holds after its positions; whether it stays listed
    /// and parked. Adds the events written to `delivered`.
    fn serve(&self, tail: &Tail, delivered: &mut u64) -> bool {
        let mut state = self.lock();
        if !state.parked {
            state.listed = false;
            return false;
        }
        let mut found: Vec<(usize, Arc<Delivery>)> = Vec::new();
        let mut through = Vec::with_capacity(state.places.len());
        for (i, place) in state.places.iter().enumerate() {
            let keep = |d: &Delivery| tail::keeps(&place.filter, place.scope.as_ref(), d);
            match tail.after(place.position, MAX_BATCH, keep) {
                Some(slice) if !slice.more => {
                    through.push(slice.through);
                    found.extend(slice.items.into_iter().map(|d| (i, d)));
                }
                // Behind the tail, or more than one write's worth: the task reads on.
                _ => {
                    self.release(&mut state);
                    return false;
                }
            }
        }
        if found.len() > MAX_BATCH {
            self.release(&mut state);
            return false;
        }
        let advance = |state: &mut State| {
            for (place, through) in state.places.iter_mut().zip(&through) {
                place.position = *through;
            }
        };
        if found.is_empty() {
            advance(&mut state);
            return true;
        }
        // WebSocket frame headers first, so that the slices below can borrow them.
        let mut headers = [[0u8; WS_HEADER]; MAX_BATCH];
        let mut header_len = [0usize; MAX_BATCH];
        for (k, (i, delivery)) in found.iter().enumerate() {
            if let Framing::WebSocket { prefix } = &state.places[*i].framing {
                let length = prefix.len() + delivery.ws().len();
                header_len[k] = super::ws::text_header(length, &mut headers[k]);
            }
        }
        let mut frames: Vec<&[u8]> = Vec::with_capacity(found.len() * 3);
        for (k, (i, delivery)) in found.iter().enumerate() {
            match &state.places[*i].framing {
                Framing::Sse => frames.push(&delivery.sse),
                Framing::WebSocket { prefix } => {
                    frames.extend([&headers[k][..header_len[k]], prefix, delivery.ws()]);
                }
            }
        }
        let sent = self.wire.try_send(&frames);
        drop(frames);
        match sent {
            Sent::All => {
                advance(&mut state);
                state.sent = true;
                *delivered += found.len() as u64;
                true
            }
            Sent::Part(rest) => {
                advance(&mut state);
                state.sent = true;
                state.rest = Some(rest);
                *delivered += found.len() as u64;
                self.release(&mut state);
                false
            }
            Sent::Nothing => {
                self.release(&mut state);
                false
            }
        }
    }
}

/// A tail's parked seats.
#[derive(Debug, Default)]
pub struct Seats {
    list: Mutex<Vec<Arc<Seat>>>,
}

impl Seats {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Seat>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks `seat` at `positions` (one per place), unless `stale` says the readers must look
    /// again first (events after a position, a wake-up they have not seen). `stale` is asked
    /// under the list's lock: an append or a wake-up raises the head before it takes the list,
    /// so either `stale` sees it or the pass or release that follows sees the seat. Whether it
    /// parked.
    ///
    /// A pass in progress holds the list: the seat is not parked then (the task waits like any
    /// reader instead of blocking its thread).
    pub fn park(&self, seat: &Arc<Seat>, positions: &[Seq], stale: impl FnOnce() -> bool) -> bool {
        let mut list = match self.list.try_lock() {
            Ok(list) => list,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        if stale() {
            return false;
        }
        let mut state = seat.lock();
        debug_assert_eq!(state.places.len(), positions.len());
        state.parked = true;
        for (place, position) in state.places.iter_mut().zip(positions) {
            place.position = *position;
        }
        if !state.listed {
            state.listed = true;
            list.push(seat.clone());
        }
        true
    }

    /// Serves every parked seat after an append to `tail`; the events written.
    pub fn serve(&self, tail: &Tail) -> u64 {
        let mut list = self.lock();
        let mut delivered = 0;
        list.retain(|seat| seat.serve(tail, &mut delivered));
        delivered
    }

    /// Releases every parked seat (shutdown, a purge).
    pub fn release_all(&self) {
        let mut list = self.lock();
        for seat in list.drain(..) {
            let mut state = seat.lock();
            if state.parked {
                seat.release(&mut state);
            } else {
                state.listed = false;
            }
        }
    }

    /// Forgets `seat` (its stream ended), so its socket closes now rather than at the next pass.
    pub fn leave(&self, seat: &Arc<Seat>) {
        let mut list = self.lock();
        let mut state = seat.lock();
        state.parked = false;
        if std::mem::take(&mut state.listed) {
            list.retain(|s| !Arc::ptr_eq(s, seat));
        }
    }

    /// How many seats are listed.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no seat is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
