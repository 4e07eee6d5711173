//! `GET /v1/ws`: live delivery over one WebSocket with several subscriptions, as JSON text
//! messages (SPEC section 5 "Live"). Each subscription is a [`Reader`], exactly like an SSE
//! stream, so the semantics are the same: resume after a position, the feed's filters, the
//! viewer scope on every event, resets instead of silent gaps.
//!
//! Client to server:
//! - `{"type":"subscribe","id":"s1","filter":{"type":"task.*","tag":["a","b"]},"after":42}`
//!   (`filter` takes the feed's query parameters as keys; arrays repeat a parameter; `after` is
//!   optional and without it the subscription starts at the live end)
//! - `{"type":"unsubscribe","id":"s1"}`
//! - `{"type":"ping"}` (any extra `nonce` is echoed in the `pong`)
//!
//! Server to client:
//! - `{"type":"subscribed","id":"s1","position":42}`
//! - `{"type":"activity","id":"s1","seq":43,"event":{...}}`
//! - `{"type":"reset","id":"s1","reason":"purged","position":90,"horizon":60}`
//! - `{"type":"read","user_id":"ana","through_seq":43}` (once per socket, for its user)
//! - `{"type":"unsubscribed","id":"s1"}`, `{"type":"pong"}`
//! - `{"type":"error","id":"s1","error":"lagging","detail":"..."}`: `id` names the subscription
//!   that ended or was refused, and is absent for errors about the socket's own messages.
//!
//! The socket closes with code 1012 on shutdown (reconnect and resume) and 1008 when the viewer
//! token expires. A client that stops reading for longer than the configured lag is dropped.
//!
//! A plain connection is upgraded and served on its own socket ([`OwnSocket`]): the protocol
//! is tungstenite's ([`WebSocketContext`]) over the socket, and once every subscription of the
//! socket has caught up and can be decided in memory, the socket parks on a seat of its
//! tenant's tail ([`super::seat`]), which writes each subscription's `activity` messages
//! itself: the subscription's envelope, then the event's shared rest. Over TLS the upgrade is
//! hyper's and the subscriptions are always read by the socket's task.

use super::hub::{ReadWake, Wakeups};
use super::limits::StreamPermit;
use super::reader::{
    expiry_of, expiry_reached, End, Output, ReadOut, Reader, ReaderContext, Ready, Subscription,
};
use super::seat::{Framing, Place, Seat};
use super::wire::{Wire, MAX_BATCH};
use crate::auth::Principal;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use spine_core::filter::FeedRequest;
use spine_core::{Seq, UserId, ValidationErrors};
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

/// The largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// The socket's read buffer (through hyper's upgrade).
pub const READ_BUFFER: usize = 1024;
/// The read buffer of a socket of its own: client messages are small (a subscribe), and larger
/// ones still arrive whole (the buffer grows for them).
const OWN_READ_BUFFER: usize = 256;
/// Longest subscription id.
const MAX_ID_LEN: usize = 64;
/// Close code: the server is restarting; reconnect.
const CLOSE_RESTART: u16 = 1012;
/// Close code: policy violation (the credential expired).
const CLOSE_POLICY: u16 = 1008;
/// Close code: the client broke the protocol.
const CLOSE_PROTOCOL: u16 = 1002;
/// Close code: a client message over [`MAX_CLIENT_MESSAGE`].
const CLOSE_TOO_BIG: u16 = 1009;
/// Feed parameters a subscription's filter may not carry.
const NOT_FILTERS: &[&str] = &["cursor", "limit", "after", "token", "order"];
/// The GUID a handshake's accept key is derived with (RFC 6455, section 1.3).
const HANDSHAKE_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Marks a request that arrived on a plain connection served outside hyper
/// ([`crate::listen`]): an upgrade is answered by [`switching`] and the session then runs on
/// the socket itself.
#[derive(Clone, Copy, Debug)]
pub struct OwnSocket;

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Subscribe {
        id: String,
        #[serde(default)]
        filter: serde_json::Map<String, Value>,
        #[serde(default)]
        after: Option<Seq>,
    },
    Unsubscribe {
        id: String,
    },
    Ping {
        #[serde(default)]
        nonce: Option<Value>,
    },
}

/// One subscription of a socket.
struct Sub {
    id: String,
    /// The start of its `activity` messages ([`activity_prefix`]).
    prefix: Bytes,
    reader: Reader,
}

/// One WebSocket's live state.
pub struct Session {
    state: AppState,
    principal: Principal,
    user: Option<UserId>,
    /// The socket's place among the node's and tenant's streams.
    _permit: StreamPermit,
    /// The tenant's wake-ups: the session waits on the head for all its subscriptions and
    /// forwards read changes once, not per subscription.
    wakeups: Wakeups,
    subs: Vec<Sub>,
    /// Where the next gathering starts, so that a subscription far behind does not hold the
    /// others back.
    turn: usize,
    /// The subscriptions changed since the seat's places were set.
    changed: bool,
}

/// The session of a `101` response, taken by the connection that serves it
/// ([`crate::listen`]).
#[derive(Clone)]
pub struct Detachable(Arc<Mutex<Option<Session>>>);

impl Detachable {
    /// The session, if nobody took it yet.
    pub fn take(&self) -> Option<Session> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The `Sec-WebSocket-Accept` value answering a valid upgrade request on a plain HTTP/1.1
/// connection; `None` if the request is not one.
pub fn accept_key(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if version != Version::HTTP_11
        || !has_token(header::CONNECTION, "upgrade")
        || !has_token(header::UPGRADE, "websocket")
        || headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v != "13")
    {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(HANDSHAKE_GUID);
    let accept =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sha1.finalize());
    HeaderValue::from_str(&accept).ok()
}

/// The `101 Switching Protocols` answer, carrying `session` for the connection to serve.
pub fn switching(accept: HeaderValue, session: Session) -> Response {
    let headers = [
        (header::UPGRADE, HeaderValue::from_static("websocket")),
        (header::CONNECTION, HeaderValue::from_static("upgrade")),
        (header::SEC_WEBSOCKET_ACCEPT, accept),
    ];
    let mut response = (StatusCode::SWITCHING_PROTOCOLS, headers).into_response();
    response.extensions_mut().insert(Detachable(Arc::new(Mutex::new(Some(session)))));
    response
}

/// The header of an unmasked, final text frame of `length` bytes, written into `out`; its
/// length.
pub fn text_header(length: usize, out: &mut [u8; 10]) -> usize {
    let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
    let length = length as u64;
    let used = header.len(length);
    // Ten bytes hold any server frame's header (no mask).
    let _ = header.format(length, &mut &mut out[..]);
    used
}

/// The start of a subscription's `activity` messages: `{"type":"activity","id":<id>,`.
pub fn activity_prefix(id: &str) -> Bytes {
    let id = Value::String(id.to_owned());
    Bytes::from(format!(r#"{{"type":"activity","id":{id},"#))
}

/// The rest of an `activity` message after its prefix: `"seq":<seq>,"event":<json>}`.
pub fn activity_rest(seq: Seq, json: &str) -> Bytes {
    Bytes::from(format!(r#""seq":{seq},"event":{json}}}"#))
}

/// What woke the session loop.
enum Step {
    /// The log moved, or the seat was released: gather again.
    Log,
    /// The tenant's tail is gone (the server is).
    Gone,
    Received(Option<Incoming>),
    Read(Result<ReadWake, RecvError>),
    KeepAlive,
    Shutdown,
    Expired,
}

/// The close reason on shutdown.
const RESTART: &str = "server shutting down; reconnect and resume";

/// Why the session loop stops.
enum Close {
    /// The client closed or vanished, or stopped reading.
    Gone,
    /// Send a close frame with this code and reason.
    With(u16, &'static str),
}

/// A message to the client: JSON text, or an `activity` message in its two shared parts (so a
/// batch of events is written without copying them).
enum Outgoing {
    Text(String),
    Activity {
        /// The subscription's envelope start ([`activity_prefix`]).
        prefix: Bytes,
        /// The event's part ([`activity_rest`]).
        rest: Bytes,
    },
}

impl From<String> for Outgoing {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Activity { prefix, rest } => prefix.len() + rest.len(),
        }
    }

    /// The message as one text (for tungstenite's stream).
    fn into_text(self) -> String {
        match self {
            Self::Text(text) => text,
            Self::Activity { prefix, rest } => {
                let mut text = String::with_capacity(prefix.len() + rest.len());
                text.push_str(std::str::from_utf8(&prefix).unwrap_or_default());
                text.push_str(std::str::from_utf8(&rest).unwrap_or_default());
                text
            }
        }
    }
}

/// A client message, from either socket.
enum Incoming {
    Text(String),
    Binary,
    Close,
    /// Pings and pongs (answered by the protocol).
    Control,
    /// A frame that breaks the protocol or the size limit: close with this code and reason.
    Broken(u16, &'static str),
}

/// The socket a session speaks through.
enum Socket {
    /// Upgraded by hyper (TLS connections): tungstenite's stream.
    Upgraded(WebSocket),
    /// A plain connection's own socket.
    Own(Own),
}

/// A WebSocket on its own socket: tungstenite's protocol state, the wire, and the bytes the
/// protocol wrote (its answers to pings and closes) until they are sent.
struct Own {
    wire: Arc<Wire>,
    protocol: WebSocketContext,
    out: Vec<u8>,
}

/// The socket as tungstenite's stream: reads what the socket holds, writes into `out`.
struct Io<'a> {
    wire: &'a Wire,
    out: &'a mut Vec<u8>,
}

impl io::Read for Io<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wire.try_read(buf)
    }
}

impl io::Write for Io<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Own {
    fn new(wire: Arc<Wire>) -> Self {
        let config = WebSocketConfig::default()
            .read_buffer_size(OWN_READ_BUFFER)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_CLIENT_MESSAGE))
            .max_frame_size(Some(MAX_CLIENT_MESSAGE));
        Self { wire, protocol: WebSocketContext::new(Role::Server, Some(config)), out: Vec::new() }
    }

    fn io(&mut self) -> (&mut WebSocketContext, Io<'_>) {
        (&mut self.protocol, Io { wire: &self.wire, out: &mut self.out })
    }
}

impl Socket {
    /// The next client message; `None` when the client left or broke the protocol.
    async fn recv(&mut self) -> Option<Incoming> {
        match self {
            Self::Upgraded(socket) => Some(match socket.recv().await?.ok()? {
                Message::Text(text) => Incoming::Text(text.as_str().to_owned()),
                Message::Binary(_) => Incoming::Binary,
                Message::Close(_) => Incoming::Close,
                Message::Ping(_) | Message::Pong(_) => Incoming::Control,
            }),
            Self::Own(own) => loop {
                let (protocol, mut io) = own.io();
                match protocol.read(&mut io) {
                    Ok(tungstenite::Message::Text(text)) => {
                        return Some(Incoming::Text(text.as_str().to_owned()))
                    }
                    Ok(tungstenite::Message::Binary(_)) => return Some(Incoming::Binary),
                    Ok(tungstenite::Message::Close(_)) => return Some(Incoming::Close),
                    Ok(_) => return Some(Incoming::Control),
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        own.wire.readable().await.ok()?;
                    }
                    Err(tungstenite::Error::Protocol(_)) => {
                        return Some(Incoming::Broken(CLOSE_PROTOCOL, "protocol error"))
                    }
                    Err(tungstenite::Error::Capacity(_)) => {
                        return Some(Incoming::Broken(CLOSE_TOO_BIG, "message too big"))
                    }
                    Err(_) => return None,
                }
            },
        }
    }

    /// Sends `messages` (JSON texts) and whatever the protocol has to say first, giving up on
    /// a client that has not taken them within `limit`. `false` when the socket is done.
    async fn send(&mut self, messages: Vec<Outgoing>, limit: Duration) -> bool {
        match self {
            Self::Upgraded(socket) => {
                for message in messages {
                    let message = Message::text(message.into_text());
                    if !within(limit, async { socket.send(message).await.is_ok() }).await {
                        return false;
                    }
                }
                true
            }
            Self::Own(own) => {
                // The protocol's own frames first, then each message's header and parts, in
                // one write.
                let mut frames = Vec::with_capacity(1 + messages.len() * 3);
                if !own.out.is_empty() {
                    frames.push(Bytes::from(std::mem::take(&mut own.out)));
                }
                for message in messages {
                    let mut header = [0u8; 10];
                    let used = text_header(message.len(), &mut header);
                    frames.push(Bytes::copy_from_slice(&header[..used]));
                    match message {
                        Outgoing::Text(text) => frames.push(Bytes::from(text)),
                        Outgoing::Activity { prefix, rest } => frames.extend([prefix, rest]),
                    }
                }
                frames.is_empty()
                    || within(limit, async { own.wire.send(&frames).await.is_ok() }).await
            }
        }
    }

    /// Writes bytes a seat could not (a frame's rest), within `limit`.
    async fn send_rest(&mut self, rest: &[u8], limit: Duration) -> bool {
        match self {
            Self::Upgraded(_) => true,
            Self::Own(own) => within(limit, async { own.wire.send_raw(rest).await.is_ok() }).await,
        }
    }

    /// A keep-alive ping.
    async fn ping(&mut self, limit: Duration) -> bool {
        match self {
            Self::Upgraded(socket) => {
                within(limit, async { socket.send(Message::Ping(Bytes::new())).await.is_ok() })
                    .await
            }
            Self::Own(own) => {
                let (protocol, mut io) = own.io();
                let ping = tungstenite::Message::Ping(Bytes::new());
                protocol.write(&mut io, ping).is_ok() && self.send(Vec::new(), limit).await
            }
        }
    }

    /// Sends a close frame.
    async fn close(&mut self, code: u16, reason: &'static str, limit: Duration) {
        match self {
            Self::Upgraded(socket) => {
                let frame = CloseFrame { code, reason: reason.into() };
                let close = socket.send(Message::Close(Some(frame)));
                let _ = within(limit, async { close.await.is_ok() }).await;
            }
            Self::Own(own) => {
                let (protocol, mut io) = own.io();
                let frame =
                    tungstenite::protocol::CloseFrame { code: code.into(), reason: reason.into() };
                let _ = protocol.close(&mut io, Some(frame));
                let _ = self.send(Vec::new(), limit).await;
            }
        }
    }

    /// Writes what the protocol still has to say (the answer to a client's close) if the
    /// socket takes it now.
    fn flush_now(&mut self) {
        if let Self::Own(own) = self {
            if !own.out.is_empty() {
                let _ = own.wire.try_send(&[&own.out]);
            }
        }
    }
}

/// Runs `write`, giving up on a client that has not taken the bytes within `limit` (its
/// socket buffers are full: it stopped reading). Most writes finish at once; only one that
/// has to wait for room arms the timer.
async fn within(limit: Duration, write: impl Future<Output = bool>) -> bool {
    let mut write = std::pin::pin!(write);
    let once = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx)));
    if let std::task::Poll::Ready(done) = once.await {
        return done;
    }
    match tokio::time::timeout(limit, write).await {
        Ok(done) => done,
        Err(_) => {
            metrics::counter!(super::DISCONNECTS, "reason" => "stalled").increment(1);
            false
        }
    }
}

impl Session {
    /// A session for an authenticated, permitted socket.
    pub fn new(
        state: AppState,
        principal: Principal,
        user: Option<UserId>,
        permit: StreamPermit,
    ) -> Self {
        let wakeups = state.live.hub.subscribe(&principal.tenant);
        Self {
            state,
            principal,
            user,
            _permit: permit,
            wakeups,
            subs: Vec::new(),
            turn: 0,
            changed: false,
        }
    }

    /// Runs on a socket hyper upgraded until the client leaves, the token expires or the
    /// server shuts down.
    pub async fn run(self, socket: WebSocket) {
        self.run_on(Socket::Upgraded(socket), None).await;
    }

    /// Runs on a plain connection's own socket (after the `101` went out through `wire`),
    /// parking on its tenant's tail whenever it can.
    pub async fn serve(self, wire: Arc<Wire>) {
        let seat = Seat::new(wire.clone(), Vec::new());
        self.run_on(Socket::Own(Own::new(wire)), Some(seat)).await;
    }

    async fn run_on(mut self, mut socket: Socket, seat: Option<Arc<Seat>>) {
        let close = self.live(&mut socket, seat.as_ref()).await;
        if let Some(seat) = &seat {
            self.wakeups.tail.leave(seat);
        }
        match close {
            Close::With(code, reason) => {
                Box::pin(socket.close(code, reason, self.state.config.stream_max_lag)).await;
            }
            Close::Gone => socket.flush_now(),
        }
    }

    async fn live(&mut self, socket: &mut Socket, seat: Option<&Arc<Seat>>) -> Close {
        let mut shutdown = self.state.live.shutdown_signal();
        let mut keep_alive = tokio::time::interval(self.state.config.stream_keep_alive);
        keep_alive.reset();
        let expiry = expiry_of(&self.principal);
        let lag = self.state.config.stream_max_lag;
        // Made once, not per message: each would register with the shutdown signal (shared by
        // every socket) or the timer again.
        let mut expired = std::pin::pin!(expiry_reached(expiry));
        let mut stopping = std::pin::pin!(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        });
        loop {
            let mut batch = Vec::new();
            let ended = self.gather(&mut batch).await;
            let full = batch.len() >= MAX_BATCH;
            if !batch.is_empty() && !socket.send(batch, lag).await {
                return Close::Gone;
            }
            if let Some(close) = ended {
                return close;
            }
            if full {
                continue;
            }
            let parked = match seat {
                Some(seat) => self.park(seat),
                None => false,
            };
            let has_subs = !self.subs.is_empty();
            let forward_reads = self.user.is_some();
            let step = tokio::select! {
                () = released(seat), if parked => Step::Log,
                changed = self.wakeups.heads.changed(), if has_subs && !parked => match changed {
                    Ok(()) => Step::Log,
                    Err(_) => Step::Gone,
                },
                received = socket.recv() => Step::Received(received),
                wake = self.wakeups.reads.recv(), if forward_reads => Step::Read(wake),
                _ = keep_alive.tick() => Step::KeepAlive,
                () = &mut stopping => Step::Shutdown,
                () = &mut expired => Step::Expired,
            };
            if let (true, Some(seat)) = (parked, seat) {
                let taken = seat.take();
                for (sub, position) in self.subs.iter_mut().zip(taken.positions) {
                    sub.reader.resume_at(position);
                }
                if let Some(rest) = taken.rest {
                    if !socket.send_rest(&rest, lag).await {
                        return Close::Gone;
                    }
                }
            }
            let replies = match step {
                Step::Log => continue,
                Step::Gone | Step::Shutdown => return Close::With(CLOSE_RESTART, RESTART),
                Step::Received(None) => return Close::Gone,
                // Boxed: answering a client message (a subscribe reads the store) needs a large
                // future, rarely; held inline, every idle socket would keep room for it.
                Step::Received(Some(incoming)) => match Box::pin(self.handle(incoming)).await {
                    Ok(reply) => reply.into_iter().map(Outgoing::from).collect(),
                    Err(close) => return close,
                },
                Step::Read(wake) => {
                    let wake = match wake {
                        Ok(wake) => wake,
                        Err(RecvError::Lagged(_)) => ReadWake::Resync,
                        Err(RecvError::Closed) => return Close::With(CLOSE_RESTART, RESTART),
                    };
                    let Some(user) = self.user.as_ref() else { continue };
                    let Some(read) = ReadOut::of(user, &wake) else { continue };
                    vec![text(with_type(read.message(), json!(read))).into()]
                }
                Step::KeepAlive => {
                    if !socket.ping(lag).await {
                        return Close::Gone;
                    }
                    continue;
                }
                Step::Expired => {
                    let error = socket_error("token-expired", End::TokenExpired.detail());
                    let _ = socket.send(vec![error.into()], lag).await;
                    return Close::With(CLOSE_POLICY, "the viewer token has expired");
                }
            };
            // Replies, and the protocol's answers to control frames.
            if !socket.send(replies, lag).await {
                return Close::Gone;
            }
        }
    }

    /// Adds what the subscriptions have ready to `batch` (at most [`MAX_BATCH`] messages,
    /// taking turns), and forgets the subscriptions that ended. `Some` when the socket must
    /// close (after `batch` is sent).
    async fn gather(&mut self, batch: &mut Vec<Outgoing>) -> Option<Close> {
        // Marked seen first: a commit after this wakes the wait, and the readers see every
        // commit before it.
        let _ = self.wakeups.heads.borrow_and_update();
        let count = self.subs.len();
        self.turn = self.turn.wrapping_add(1);
        let mut ended = Vec::new();
        let mut close = None;
        'subs: for k in 0..count {
            let i = (self.turn + k) % count;
            while batch.len() < MAX_BATCH {
                let sub = &mut self.subs[i];
                match sub.reader.next_ready().await {
                    Ready::Output(output) => match message(sub, output) {
                        Said::Message(message) => batch.push(message),
                        Said::Ended(message) => {
                            batch.push(message.into());
                            ended.push(i);
                            break;
                        }
                        Said::Close(last, why) => {
                            batch.extend(last.map(Outgoing::from));
                            close = Some(why);
                            break 'subs;
                        }
                    },
                    Ready::Wait => break,
                    Ready::Done => {
                        ended.push(i);
                        break;
                    }
                }
            }
        }
        if !ended.is_empty() {
            ended.sort_unstable();
            for i in ended.into_iter().rev() {
                self.subs.remove(i);
            }
            self.changed = true;
        }
        close
    }

    /// Parks on `seat` if every subscription can be served by the tail's pass and has caught
    /// up; whether it parked.
    fn park(&mut self, seat: &Arc<Seat>) -> bool {
        if self.subs.is_empty() || !self.subs.iter().all(|s| s.reader.parkable()) {
            return false;
        }
        if std::mem::take(&mut self.changed) {
            let places = self.subs.iter().map(|sub| {
                let (filter, scope) = sub.reader.matcher();
                Place::new(filter, scope, Framing::WebSocket { prefix: sub.prefix.clone() })
            });
            seat.set_places(places.collect());
        }
        let positions: Vec<Seq> = self.subs.iter().map(|s| s.reader.position()).collect();
        let heads = &self.wakeups.heads;
        self.wakeups.tail.park(seat, &positions, || heads.has_changed().unwrap_or(true))
    }

    /// Answers one client message: the reply, if any.
    async fn handle(&mut self, incoming: Incoming) -> Result<Option<String>, Close> {
        let body = match incoming {
            Incoming::Text(body) => body,
            Incoming::Binary => {
                return Ok(Some(socket_error("bad-message", "send JSON text messages")));
            }
            Incoming::Close => return Err(Close::Gone),
            Incoming::Control => return Ok(None),
            Incoming::Broken(code, reason) => return Err(Close::With(code, reason)),
        };
        let parsed: ClientMessage = match serde_json::from_str(&body) {
            Ok(parsed) => parsed,
            Err(e) => {
                let detail = format!("not a valid message: {e}");
                return Ok(Some(socket_error("bad-message", &detail)));
            }
        };
        Ok(Some(match parsed {
            ClientMessage::Ping { nonce } => match nonce {
                Some(nonce) => text(json!({"type": "pong", "nonce": nonce})),
                None => text(json!({"type": "pong"})),
            },
            ClientMessage::Unsubscribe { id } => match self.subs.iter().position(|s| s.id == id) {
                Some(i) => {
                    self.subs.remove(i);
                    self.changed = true;
                    text(json!({"type": "unsubscribed", "id": id}))
                }
                None => sub_error(&id, "unknown-subscription", "no subscription has this id"),
            },
            ClientMessage::Subscribe { id, filter, after } => {
                self.subscribe(id, filter, after).await
            }
        }))
    }

    async fn subscribe(
        &mut self,
        id: String,
        filter: serde_json::Map<String, Value>,
        after: Option<Seq>,
    ) -> String {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return socket_error("bad-message", "a subscription id has 1 to 64 characters");
        }
        // Ended subscriptions were removed as they ended; what is left is live.
        if self.subs.iter().any(|s| s.id == id) {
            return sub_error(&id, "duplicate-subscription", "a subscription has this id already");
        }
        if self.subs.len() >= self.state.config.ws_max_subscriptions {
            let detail = format!(
                "a socket may hold {} subscriptions; unsubscribe one first",
                self.state.config.ws_max_subscriptions
            );
            return sub_error(&id, "too-many-subscriptions", &detail);
        }
        let filter = match self.parse_filter(&filter) {
            Ok(filter) => filter,
            Err(errors) => {
                let body = json!({"type": "error", "id": id, "error": "invalid-filter",
                    "detail": "the filter is invalid", "errors": errors.0});
                return text(body);
            }
        };
        let subscription = Subscription {
            principal: self.principal.clone(),
            filter,
            user: self.user.clone(),
            resume: after,
        };
        let ctx = ReaderContext {
            store: self.state.store.clone(),
            shutdown: self.state.live.shutdown_signal(),
            max_lag: self.state.config.stream_max_lag,
        };
        let wakeups = self.state.live.hub.subscribe(&self.principal.tenant);
        let reader = match Reader::start(ctx, subscription, wakeups, false).await {
            Ok(reader) => reader,
            Err(e) => {
                tracing::warn!(tenant = %self.principal.tenant, error = %e, "subscribe failed");
                return sub_error(&id, "unavailable", End::Unavailable.detail());
            }
        };
        let position = reader.position();
        let reply = text(json!({"type": "subscribed", "id": id, "position": position}));
        // One place at a time: a subscription is large, and a vector's first growth would make
        // room for four.
        self.subs.reserve_exact(1);
        self.subs.push(Sub { prefix: activity_prefix(&id), id, reader });
        self.changed = true;
        reply
    }

    /// The feed's filter from a JSON object of query parameters.
    fn parse_filter(
        &self,
        filter: &serde_json::Map<String, Value>,
    ) -> Result<spine_core::EventFilter, ValidationErrors> {
        if let Some(key) = filter.keys().find(|k| NOT_FILTERS.contains(&k.as_str())) {
            let message =
                "not a filter: subscriptions resume with \"after\" and deliver in seq order";
            return Err(ValidationErrors::single(format!("filter.{key}"), message));
        }
        let pairs = spine_core::filter::pairs_from_json(filter, "filter")?;
        let strs = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let req = FeedRequest::from_pairs(strs, self.state.config.page, &[])?;
        if let (Some(field), None) = (req.filter.needs_user(), &self.user) {
            let message = "needs a user: use a viewer token or send the X-Spine-User header";
            return Err(ValidationErrors::single(format!("filter.{field}"), message));
        }
        Ok(req.filter.live())
    }
}

/// Resolves when `seat` is released; never without a seat.
async fn released(seat: Option<&Arc<Seat>>) {
    match seat {
        Some(seat) => seat.released().await,
        None => std::future::pending().await,
    }
}

/// What a subscription's output says.
enum Said {
    /// A message.
    Message(Outgoing),
    /// The subscription's last message: it ended.
    Ended(String),
    /// The socket closes, after these messages.
    Close(Option<String>, Close),
}

/// One subscription's output as a message.
fn message(sub: &Sub, output: Output) -> Said {
    Said::Message(Outgoing::Text(match output {
        Output::Activity(activity) => {
            // The event's JSON is encoded once for every reader, and so is the message's rest
            // when no read flag is added; only the envelope's start is the subscription's.
            let json = activity.json();
            let rest = match &json {
                std::borrow::Cow::Borrowed(_) => activity.delivery.ws().clone(),
                std::borrow::Cow::Owned(json) => activity_rest(activity.seq(), json),
            };
            return Said::Message(Outgoing::Activity { prefix: sub.prefix.clone(), rest });
        }
        Output::Read(read) => text(with_type(read.message(), json!(read))),
        Output::Reset { reason, position, horizon } => text(json!({
            "type": "reset", "id": sub.id, "reason": reason.code(), "position": position,
            "horizon": horizon,
            "detail": "events after your position are no longer held: reload the feed; \
                       the subscription continues from the live end",
        })),
        Output::End(End::Shutdown) => {
            return Said::Close(None, Close::With(CLOSE_RESTART, RESTART))
        }
        Output::End(End::TokenExpired) => {
            let error = socket_error("token-expired", End::TokenExpired.detail());
            return Said::Close(
                Some(error),
                Close::With(CLOSE_POLICY, "the viewer token has expired"),
            );
        }
        Output::End(end) => return Said::Ended(sub_error(&sub.id, end.code(), end.detail())),
    }))
}

fn with_type(kind: &str, mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("type".to_owned(), Value::String(kind.to_owned()));
    }
    body
}

fn text(body: Value) -> String {
    body.to_string()
}

fn socket_error(code: &str, detail: &str) -> String {
    text(json!({"type": "error", "error": code, "detail": detail}))
}

fn sub_error(id: &str, code: &str, detail: &str) -> String {
    text(json!({"type": "error", "id": id, "error": code, "detail": detail}))
}
