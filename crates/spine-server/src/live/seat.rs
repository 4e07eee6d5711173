//! Fan-out without waking a task per subscriber.
//!
//! An SSE stream served on a socket of its own ([`super::sse::serve`]) that has caught up with
//! its tenant's tail, and whose filter and scope can be decided in memory without a user (nor a
//! credential that expires: see [`super::reader::Reader::parkable`]), parks
//! on a [`Seat`]: its position and its socket are left with the tail. When the tail's fill task
//! appends events, it serves every parked seat in one pass ([`Seats::serve`]): it scans the new
//! events with the seat's filter and scope and writes the matches straight to the socket,
//! without waiting. A seat the pass cannot serve completely (the socket is full, it fell
//! behind the tail, the write failed) is released: its task wakes, takes its position and any
//! unwritten rest back, and carries on as an ordinary reader. Shutdown and purges release every
//! seat (through [`super::tail::Tail::wake`]).
//!
//! Exactly one side writes at a time: the pass only while the seat is parked, the task only
//! after it took the seat back, both under the seat's lock. The position moves only with what
//! was written, so an event is neither skipped nor sent twice.

use super::tail::{self, Tail};
use super::wire::{Sent, Wire, MAX_BATCH};
use bytes::Bytes;
use spine_core::{EventFilter, Scope, Seq};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// A parkable subscriber: what it keeps and where its bytes go.
#[derive(Debug)]
pub struct Seat {
    filter: EventFilter,
    scope: Option<Scope>,
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
    /// Every event at or below this position was written or did not match.
    position: Seq,
    /// Whether the pass wrote anything since the seat was parked.
    sent: bool,
    /// Bytes the pass could not write: they go out before anything else.
    rest: Option<Bytes>,
}

/// What the task gets back when it takes its seat.
#[derive(Debug)]
pub struct Taken {
    /// The position to read on from.
    pub position: Seq,
    /// Whether the pass wrote anything while the seat was parked.
    pub sent: bool,
    /// Bytes to write first.
    pub rest: Option<Bytes>,
}

impl Seat {
    /// A seat for a subscriber with `filter` and `scope`, writing to `wire`.
    pub fn new(filter: EventFilter, scope: Option<Scope>, wire: Arc<Wire>) -> Arc<Self> {
        Arc::new(Self {
            filter,
            scope,
            wire,
            state: Mutex::new(State::default()),
            released: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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
            position: state.position,
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

    /// Serves this seat with what the tail holds after its position; whether it stays listed
    /// and parked. Adds the events written to `delivered`.
    fn serve(&self, tail: &Tail, delivered: &mut u64) -> bool {
        let mut state = self.lock();
        if !state.parked {
            state.listed = false;
            return false;
        }
        let keep = |d: &tail::Delivery| tail::keeps(&self.filter, self.scope.as_ref(), d);
        let slice = match tail.after(state.position, MAX_BATCH, keep) {
            Some(slice) if !slice.more => slice,
            // Behind the tail, or more than one write's worth: the task reads on.
            _ => {
                self.release(&mut state);
                return false;
            }
        };
        if slice.items.is_empty() {
            state.position = slice.through;
            return true;
        }
        let frames: Vec<&[u8]> = slice.items.iter().map(|d| d.sse.as_ref()).collect();
        match self.wire.try_send(&frames) {
            Sent::All => {
                state.position = slice.through;
                state.sent = true;
                *delivered += slice.items.len() as u64;
                true
            }
            Sent::Part(rest) => {
                state.position = slice.through;
                state.sent = true;
                state.rest = Some(rest);
                *delivered += slice.items.len() as u64;
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

    /// Parks `seat` at `position`, unless `stale` says the reader must look again first (events
    /// after its position, a wake-up it has not seen). `stale` is asked under the list's lock:
    /// an append or a wake-up raises the head before it takes the list, so either `stale` sees
    /// it or the pass or release that follows sees the seat. Whether it parked.
    ///
    /// A pass in progress holds the list: the seat is not parked then (the task waits like any
    /// reader instead of blocking its thread).
    pub fn park(&self, seat: &Arc<Seat>, position: Seq, stale: impl FnOnce() -> bool) -> bool {
        let mut list = match self.list.try_lock() {
            Ok(list) => list,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        if stale() {
            return false;
        }
        let mut state = seat.lock();
        state.parked = true;
        state.position = position;
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
