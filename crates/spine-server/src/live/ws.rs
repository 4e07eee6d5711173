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

use super::hub::{ReadWake, Wakeups};
use super::limits::StreamPermit;
use super::reader::{expiry_of, End, Output, ReadOut, Reader, ReaderContext, Subscription};
use crate::auth::Principal;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{self, AbortHandle, BoxStream, SelectAll, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use spine_core::filter::FeedRequest;
use spine_core::{Seq, UserId, ValidationErrors};
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;

/// The largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// The socket's read buffer.
pub const READ_BUFFER: usize = 1024;
/// Longest subscription id.
const MAX_ID_LEN: usize = 64;
/// Close code: the server is restarting; reconnect.
const CLOSE_RESTART: u16 = 1012;
/// Close code: policy violation (the credential expired).
const CLOSE_POLICY: u16 = 1008;
/// Feed parameters a subscription's filter may not carry.
const NOT_FILTERS: &[&str] = &["cursor", "limit", "after", "token", "order"];

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

/// One WebSocket's live state.
pub struct Session {
    state: AppState,
    principal: Principal,
    user: Option<UserId>,
    /// The socket's place among the node's and tenant's streams.
    _permit: StreamPermit,
    /// The tenant's wake-ups; the session forwards read changes once, not per subscription.
    wakeups: Wakeups,
    /// Every subscription's outputs, merged.
    outputs: SelectAll<BoxStream<'static, (String, Output)>>,
    /// To end a subscription on `unsubscribe`.
    subscriptions: HashMap<String, AbortHandle>,
}

/// What woke the session loop.
enum Step {
    Received(Option<Result<Message, axum::Error>>),
    Output(String, Output),
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
            outputs: SelectAll::new(),
            subscriptions: HashMap::new(),
        }
    }

    /// Runs until the client leaves, the token expires or the server shuts down.
    pub async fn run(mut self, mut socket: WebSocket) {
        let close = self.serve(&mut socket).await;
        if let Close::With(code, reason) = close {
            let frame = CloseFrame { code, reason: reason.into() };
            let _ =
                send(&mut socket, Message::Close(Some(frame)), self.state.config.stream_max_lag)
                    .await;
        }
        for (_, handle) in self.subscriptions.drain() {
            handle.abort();
        }
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> Close {
        let mut shutdown = self.state.live.shutdown_signal();
        let mut keep_alive = tokio::time::interval(self.state.config.stream_keep_alive);
        keep_alive.reset();
        let expiry = expiry_of(&self.principal);
        let lag = self.state.config.stream_max_lag;
        // Made once, not per message: each would register with the shutdown signal (shared by
        // every socket) or the timer again.
        let mut expired = std::pin::pin!(async move {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        });
        let mut stopping = std::pin::pin!(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        });
        loop {
            let has_outputs = !self.outputs.is_empty();
            let forward_reads = self.user.is_some();
            let step = tokio::select! {
                received = socket.recv() => Step::Received(received),
                Some((id, output)) = self.outputs.next(), if has_outputs => Step::Output(id, output),
                wake = self.wakeups.reads.recv(), if forward_reads => Step::Read(wake),
                _ = keep_alive.tick() => Step::KeepAlive,
                () = &mut stopping => Step::Shutdown,
                () = &mut expired => Step::Expired,
            };
            let message = match step {
                Step::Received(Some(Ok(message))) => match self.handle(message).await {
                    Ok(Some(reply)) => reply,
                    Ok(None) => continue,
                    Err(close) => return close,
                },
                Step::Received(Some(Err(_)) | None) => return Close::Gone,
                Step::Output(id, output) => match self.output(id, output) {
                    Ok(reply) => reply,
                    Err(close) => {
                        if matches!(close, Close::With(CLOSE_POLICY, _)) {
                            let error = socket_error("token-expired", End::TokenExpired.detail());
                            let _ = send(socket, error, lag).await;
                        }
                        return close;
                    }
                },
                Step::Read(wake) => {
                    let wake = match wake {
                        Ok(wake) => wake,
                        Err(RecvError::Lagged(_)) => ReadWake::Resync,
                        Err(RecvError::Closed) => return Close::With(CLOSE_RESTART, RESTART),
                    };
                    let Some(user) = self.user.as_ref() else { continue };
                    let Some(read) = ReadOut::of(user, &wake) else { continue };
                    text(with_type(read.message(), json!(read)))
                }
                Step::KeepAlive => Message::Ping(Default::default()),
                Step::Shutdown => return Close::With(CLOSE_RESTART, RESTART),
                Step::Expired => {
                    let error = socket_error("token-expired", End::TokenExpired.detail());
                    let _ = send(socket, error, lag).await;
                    return Close::With(CLOSE_POLICY, "the viewer token has expired");
                }
            };
            if !send(socket, message, lag).await {
                return Close::Gone;
            }
        }
    }

    /// Answers one client message; `Ok(None)` when there is nothing to say.
    async fn handle(&mut self, message: Message) -> Result<Option<Message>, Close> {
        let body = match message {
            Message::Text(body) => body,
            Message::Binary(_) => {
                return Ok(Some(socket_error("bad-message", "send JSON text messages")));
            }
            Message::Close(_) => return Err(Close::Gone),
            Message::Ping(_) | Message::Pong(_) => return Ok(None),
        };
        let parsed: ClientMessage = match serde_json::from_str(body.as_str()) {
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
            ClientMessage::Unsubscribe { id } => match self.subscriptions.remove(&id) {
                Some(handle) => {
                    handle.abort();
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
    ) -> Message {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return socket_error("bad-message", "a subscription id has 1 to 64 characters");
        }
        // Ended subscriptions were removed as they ended; what is left is live.
        if self.subscriptions.contains_key(&id) {
            return sub_error(&id, "duplicate-subscription", "a subscription has this id already");
        }
        if self.subscriptions.len() >= self.state.config.ws_max_subscriptions {
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
        let tag = id.clone();
        let outputs = stream::unfold(reader, |mut reader| async move {
            reader.next().await.map(|output| (output, reader))
        })
        .map(move |output| (tag.clone(), output));
        let (outputs, handle) = stream::abortable(outputs);
        self.outputs.push(outputs.boxed());
        self.subscriptions.insert(id.clone(), handle);
        text(json!({"type": "subscribed", "id": id, "position": position}))
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

    /// One subscription's output as a message. A subscription that ends is forgotten; an
    /// expired token or a shutdown closes the socket.
    fn output(&mut self, id: String, output: Output) -> Result<Message, Close> {
        Ok(match output {
            Output::Activity(activity) => {
                // The event's JSON is encoded once for every reader; only the envelope is
                // written here.
                let id = Value::String(id);
                let seq = activity.seq();
                Message::text(format!(
                    r#"{{"type":"activity","id":{id},"seq":{seq},"event":{}}}"#,
                    activity.json()
                ))
            }
            Output::Read(read) => text(with_type(read.message(), json!(read))),
            Output::Reset { reason, position, horizon } => text(json!({
                "type": "reset", "id": id, "reason": reason.code(), "position": position,
                "horizon": horizon,
                "detail": "events after your position are no longer held: reload the feed; \
                           the subscription continues from the live end",
            })),
            Output::End(End::Shutdown) => return Err(Close::With(CLOSE_RESTART, RESTART)),
            Output::End(End::TokenExpired) => {
                return Err(Close::With(CLOSE_POLICY, "the viewer token has expired"))
            }
            Output::End(end) => {
                self.subscriptions.remove(&id);
                sub_error(&id, end.code(), end.detail())
            }
        })
    }
}

/// Sends one message, giving up on a client that has not taken it within `limit` (its socket
/// buffers are full: it stopped reading). `false` when the socket is done.
async fn send(socket: &mut WebSocket, message: Message, limit: std::time::Duration) -> bool {
    let mut sending = std::pin::pin!(socket.send(message));
    // Most sends finish at once; only one that has to wait for room arms the timer.
    let once = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(sending.as_mut(), cx))
    });
    if let std::task::Poll::Ready(sent) = once.await {
        return sent.is_ok();
    }
    match tokio::time::timeout(limit, sending).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            metrics::counter!(super::DISCONNECTS, "reason" => "stalled").increment(1);
            false
        }
    }
}

fn with_type(kind: &str, mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        map.insert("type".to_owned(), Value::String(kind.to_owned()));
    }
    body
}

fn text(body: Value) -> Message {
    Message::Text(body.to_string().into())
}

fn socket_error(code: &str, detail: &str) -> Message {
    text(json!({"type": "error", "error": code, "detail": detail}))
}

fn sub_error(id: &str, code: &str, detail: &str) -> Message {
    text(json!({"type": "error", "id": id, "error": code, "detail": detail}))
}
