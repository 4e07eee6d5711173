//! A reader's outputs as Server-Sent Events (`GET /v1/stream`).
//!
//! The messages are written here rather than through a generic SSE encoder: an event's message
//! is encoded once, when its tenant's tail reads it, and every stream that sends it unchanged
//! shares those bytes ([`Delivery::sse`](super::tail::Delivery)). JSON never holds a raw line
//! break, so each payload is one `data:` line.

use super::limits::StreamPermit;
use super::reader::{End, Output, Reader, Ready, RETRY};
use super::seat::{Framing, Place, Seat};
use super::wire::{Wire, MAX_BATCH};
use bytes::Bytes;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use spine_core::Seq;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};

/// The comment sent on a stream that has been quiet for a keep-alive interval.
const KEEP_ALIVE: &[u8] = b":\n\n";

/// A stream's reader and its place among the open streams, until it is served: by the
/// response body ([`body`]) on a hyper connection, or by [`serve`] on a socket of its own.
pub struct Session {
    reader: Reader,
    permit: StreamPermit,
    keep_alive: Duration,
}

/// The session, shared between a stream response's body and its extensions: the connection
/// that can serve it on its socket takes it out before the body is ever polled; otherwise the
/// body takes it on its first poll.
#[derive(Clone)]
pub struct Detachable(Arc<Mutex<Option<Session>>>);

impl Detachable {
    /// A session of `reader` holding `permit`, with a keep-alive comment after every quiet
    /// `keep_alive`.
    pub fn new(reader: Reader, permit: StreamPermit, keep_alive: Duration) -> Self {
        Self(Arc::new(Mutex::new(Some(Session { reader, permit, keep_alive }))))
    }

    /// The session, if nobody took it yet.
    pub fn take(&self) -> Option<Session> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The response body: the session's messages, or nothing if the connection took the session.
pub fn body(session: Detachable) -> impl Stream<Item = Bytes> + Send {
    stream::once(async move { session.take() }).flat_map(|session| match session {
        Some(Session { reader, permit, keep_alive }) => {
            messages(reader, permit, keep_alive).left_stream()
        }
        None => stream::empty().right_stream(),
    })
}

/// Serves `session` on a socket of its own, through `wire`, until it ends or the client leaves.
/// The same messages as [`messages`]; but once the reader has caught up it parks on a seat of
/// its tenant's tail, which then writes new events itself ([`super::seat`]), and the task
/// wakes only when the seat is released, for a keep-alive, or when the client leaves.
pub async fn serve(session: Session, wire: Arc<Wire>) -> std::io::Result<()> {
    let Session { mut reader, permit, keep_alive } = session;
    let (filter, scope) = reader.matcher();
    let seat = Seat::new(wire.clone(), vec![Place::new(filter, scope, Framing::Sse)]);
    let served = run(&mut reader, &seat, &wire, keep_alive).await;
    reader.tail().leave(&seat);
    drop(permit);
    served
}

async fn run(
    reader: &mut Reader,
    seat: &Arc<Seat>,
    wire: &Wire,
    keep_alive: Duration,
) -> std::io::Result<()> {
    wire.send(&[hint(reader.position())]).await?;
    let mut ticks = keep_alive_ticks(keep_alive);
    let mut gone = std::pin::pin!(wire.client_gone());
    let parkable = reader.parkable();
    let mut sent = true;
    loop {
        let mut frames = Vec::new();
        let mut done = false;
        while frames.len() < MAX_BATCH {
            match reader.next_ready().await {
                Ready::Output(output) => frames.extend(message(output)),
                Ready::Wait => break,
                Ready::Done => {
                    done = true;
                    break;
                }
            }
        }
        if !frames.is_empty() {
            wire.send(&frames).await?;
            sent = true;
        }
        if done {
            return wire.finish().await;
        }
        if frames.len() == MAX_BATCH {
            continue;
        }
        let parked = parkable && reader.park(seat);
        let tick = tokio::select! {
            () = seat.released(), if parked => false,
            () = reader.wait(), if !parked => false,
            _ = ticks.tick() => true,
            () = &mut gone => return Ok(()),
        };
        if parked {
            let taken = seat.take();
            reader.resume_at(taken.positions[0]);
            sent |= taken.sent;
            if let Some(rest) = taken.rest {
                wire.send_raw(&rest).await?;
            }
        }
        if tick && !std::mem::take(&mut sent) {
            wire.send(&[Bytes::from_static(KEEP_ALIVE)]).await?;
        }
    }
}

/// The first message: the starting position as its `id:`, so a client that drops before the
/// first event resumes from here instead of from a later live end, and the `retry:` hint.
fn hint(start: Seq) -> Bytes {
    let retry = RETRY.as_millis();
    Bytes::from(format!("retry: {retry}\nevent: position\nid: {start}\ndata: {start}\n\n"))
}

fn keep_alive_ticks(every: Duration) -> Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

/// The stream's messages: `event: position` with the starting `id:` and a `retry:` hint, then
/// `event: reset` if the resume point could not be served, `event: activity` per event and
/// `event: read` per read-state change, until the client leaves, the token expires, the
/// subscriber lags too far, the store fails or the server shuts down; a comment whenever
/// nothing was sent for `keep_alive`. `permit` is held until the stream is dropped.
fn messages(
    reader: Reader,
    permit: StreamPermit,
    keep_alive: Duration,
) -> impl Stream<Item = Bytes> + Send {
    let hint = hint(reader.position());
    let outputs = stream::unfold((reader, permit), |(mut reader, permit)| async move {
        loop {
            let output = reader.next().await?;
            if let Some(message) = message(output) {
                return Some((message, (reader, permit)));
            }
        }
    });
    let ticks = keep_alive_ticks(keep_alive);
    KeepAlive { first: Some(hint), inner: outputs.boxed(), ticks, sent: true }
}

/// An event's message.
pub fn activity(seq: Seq, json: &str) -> Bytes {
    Bytes::from(format!("id: {seq}\nevent: activity\ndata: {json}\n\n"))
}

/// One output as a message; `None` if a read change cannot be encoded.
fn message(output: Output) -> Option<Bytes> {
    let text = match output {
        Output::Activity(activity) => return Some(activity.sse()),
        Output::Read(read) => {
            let data = serde_json::to_string(&read).ok()?;
            format!("event: {}\ndata: {data}\n\n", read.message())
        }
        Output::Reset { reason, position, horizon } => {
            let body = serde_json::json!({
                "reason": reason.code(),
                "position": position,
                "horizon": horizon,
                "detail": "events after your position are no longer held: reload the feed; \
                           the stream continues from the live end",
            });
            format!("event: reset\nid: {position}\ndata: {body}\n\n")
        }
        Output::End(End::Shutdown) => {
            format!("retry: {}\n: server shutting down\n\n", RETRY.as_millis())
        }
        Output::End(end) => {
            let body = serde_json::json!({ "error": end.code(), "detail": end.detail() });
            format!("event: error\ndata: {body}\n\n")
        }
    };
    Some(Bytes::from(text))
}

/// The messages with a keep-alive comment after every interval in which nothing was sent. The
/// interval ticks on its own schedule instead of being pushed back by every message, so a busy
/// stream costs no timer work per message.
struct KeepAlive {
    first: Option<Bytes>,
    inner: BoxStream<'static, Bytes>,
    ticks: Interval,
    /// Whether a message went out since the last tick.
    sent: bool,
}

impl Stream for KeepAlive {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(message)) => {
                self.sent = true;
                return Poll::Ready(Some(message));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        while self.ticks.poll_tick(cx).is_ready() {
            if !std::mem::take(&mut self.sent) {
                return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet stream gets a comment each interval; a busy one gets none, and its messages are
    /// never held back by the keep-alive.
    #[tokio::test(start_paused = true)]
    async fn keep_alives_fill_only_the_quiet_intervals() {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
        let inner = tokio_stream_from(receiver);
        let every = Duration::from_secs(15);
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut stream =
            KeepAlive { first: Some(Bytes::from_static(b"hi")), inner, ticks, sent: true };
        assert_eq!(stream.next().await.unwrap(), "hi");
        // Quiet: the first tick finds the hint sent, the second sends a comment.
        assert_eq!(stream.next().await.unwrap(), KEEP_ALIVE);
        // Busy: a message in every interval, so no comment comes between them.
        for i in 0..5 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            sender.send(Bytes::from(format!("m{i}"))).unwrap();
            assert_eq!(stream.next().await.unwrap(), format!("m{i}").as_bytes());
        }
        drop(sender);
        assert!(stream.next().await.is_none());
    }

    fn tokio_stream_from(
        mut receiver: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    ) -> BoxStream<'static, Bytes> {
        stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
    }
}
