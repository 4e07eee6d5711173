//! Plain HTTP/1 connections that open with `GET /v1/stream` or `GET /v1/ws`, served without
//! hyper's connection.
//!
//! hyper keeps a read buffer and a write buffer of at least 8 KiB each for a connection's whole
//! life. That is the right trade for requests and responses; for a live stream, which reads
//! nothing and writes small messages for hours, those buffers were most of what an idle stream
//! held (BENCHMARKS.md, "Fan-out"). So the accept loop peeks at a plain connection's first bytes
//! without consuming them ([`opening`]): when they are a live request, [`serve`] reads and
//! parses the request head (httparse), passes the request through the same router and middleware
//! as any other (marked [`OwnSocket`]), and writes the response straight to the socket. A
//! stream's session is then served on the socket by [`crate::live::sse::serve`], and an
//! accepted WebSocket upgrade's by [`crate::live::ws::Session::serve`] (both park on their
//! tenant's tail once they have caught up); any other answer (a refusal) is written as it
//! comes, the frames that are ready together in one chunk. The connection closes when the
//! response ends (`connection: close`). Everything else, and a connection whose first line
//! arrives in pieces, goes to hyper untouched.

use crate::error::{problem_for_status, problem_response, ApiError};
use crate::live::sse;
use crate::live::wire::{Wire, MAX_BATCH};
use crate::live::ws::{self, OwnSocket};
use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Request, Response, StatusCode, Version};
use axum::response::IntoResponse;
use axum::Router;
use futures::{FutureExt, StreamExt};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tower::ServiceExt;

/// The start of a stream request.
const STREAM: &[u8] = b"GET /v1/stream";
/// The start of a WebSocket request.
const WS: &[u8] = b"GET /v1/ws";
/// The largest request head read here (hyper's default limit is larger, but a stream request
/// carries a key, a filter and a few browser headers).
const MAX_HEAD: usize = 64 * 1024;
/// Most header lines in a request head.
const MAX_HEADERS: usize = 100;

/// What a connection's first bytes say.
#[derive(Debug, PartialEq, Eq)]
pub enum Opening {
    /// A live request (a stream or a WebSocket): serve it here.
    Live,
    /// Anything else: hand the connection to hyper.
    Other,
    /// Nothing arrived within the header read timeout, or the client left: close.
    Silent,
}

/// Waits up to `timeout` for the connection's first bytes and tells a live request apart,
/// consuming nothing.
pub async fn opening(stream: &TcpStream, timeout: Duration) -> Opening {
    let mut first = [0u8; STREAM.len() + 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(0) | Err(_)) | Err(_) => Opening::Silent,
        Ok(Ok(n)) if is_live_request(&first[..n]) => Opening::Live,
        Ok(Ok(_)) => Opening::Other,
    }
}

/// Whether `first` is `GET /v1/stream` or `GET /v1/ws` followed by the end of the path.
fn is_live_request(first: &[u8]) -> bool {
    [STREAM, WS].iter().any(|path| {
        first.len() > path.len()
            && first.starts_with(path)
            && matches!(first[path.len()], b' ' | b'?')
    })
}

/// Serves the connection's one request with `app`, then closes it (or serves the WebSocket it
/// upgraded to). The request head must arrive within `header_timeout`.
pub async fn serve(mut stream: TcpStream, app: Router, header_timeout: Duration) {
    // Messages go out as they are written, not held back for a previous one's acknowledgement.
    let _ = stream.set_nodelay(true);
    let (mut request, version) =
        match tokio::time::timeout(header_timeout, read_head(&mut stream)).await {
            Ok(Ok(head)) => head,
            Ok(Err(Refusal::Bad(detail))) => {
                let response = ApiError::BadRequest(detail.into()).into_response();
                let _ = respond(stream, response, Version::HTTP_11).await;
                return;
            }
            Ok(Err(Refusal::TooLarge)) => {
                let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                let response = problem_response(&problem_for_status(status));
                let _ = respond(stream, response, Version::HTTP_11).await;
                return;
            }
            Ok(Err(Refusal::Close)) | Err(_) => return,
        };
    request.extensions_mut().insert(OwnSocket);
    // Boxed: the router's future is large and over once the response is there, while this
    // task lives as long as the stream.
    let response = match Box::pin(app.oneshot(request)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if let Err(e) = respond(stream, response, version).await {
        tracing::debug!(error = %e, "stream connection ended with an error");
    }
}

/// Why no request came out of the head.
enum Refusal {
    /// Answer 400 with this detail, and close.
    Bad(std::borrow::Cow<'static, str>),
    /// Answer 431 and close.
    TooLarge,
    /// Close without an answer (the client left, or the socket failed).
    Close,
}

/// Reads and parses the request head; the request has no body.
async fn read_head(stream: &mut TcpStream) -> Result<(Request<Body>, Version), Refusal> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD {
            return Err(Refusal::TooLarge);
        }
        buf.reserve(1024);
        match tokio::io::AsyncReadExt::read_buf(stream, &mut buf).await {
            Ok(0) | Err(_) => return Err(Refusal::Close),
            Ok(_) => {}
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut head = httparse::Request::new(&mut headers);
        match head.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return request(&head),
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                return Err(Refusal::Bad(format!("the request head is malformed: {e}").into()))
            }
        }
    }
}

/// The parsed head as a request for the router.
fn request(head: &httparse::Request<'_, '_>) -> Result<(Request<Body>, Version), Refusal> {
    let version = match head.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut request = Request::builder()
        .method(head.method.unwrap_or("GET"))
        .uri(head.path.unwrap_or("/"))
        .version(version)
        .body(Body::empty())
        .map_err(|_| Refusal::Bad("the request line is malformed".into()))?;
    let headers = request.headers_mut();
    for h in head.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes());
        let value = HeaderValue::from_bytes(h.value);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(Refusal::Bad("a request header is malformed".into()));
        };
        headers.append(name, value);
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        return Err(Refusal::Bad("a stream request has no body".into()));
    }
    Ok((request, version))
}

/// Writes `response` for a request of `version`, then ends the connection, or serves the
/// WebSocket it switched to.
async fn respond(stream: TcpStream, response: Response<Body>, version: Version) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        let session = parts.extensions.get::<ws::Detachable>().and_then(ws::Detachable::take);
        let Some(session) = session else { return Ok(()) };
        let mut head = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        for (name, value) in &parts.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        drop((parts, body));
        let wire = Arc::new(Wire::new(Arc::new(stream), false));
        wire.send_raw(&head).await?;
        drop(head);
        Box::pin(session.serve(wire)).await;
        return Ok(());
    }
    let length = http_body::Body::size_hint(&body).exact();
    // HTTP/1.1 clients get a chunked body unless its length is known; HTTP/1.0 ones a body
    // that ends with the connection.
    let chunked = length.is_none() && version == Version::HTTP_11;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_str(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if name == header::CONNECTION || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if let (Some(length), false) = (length, parts.headers.contains_key(header::CONTENT_LENGTH)) {
        head.extend_from_slice(format!("content-length: {length}\r\n").as_bytes());
    }
    if chunked {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    head.extend_from_slice(format!("date: {date}\r\nconnection: close\r\n\r\n").as_bytes());
    let wire = Arc::new(Wire::new(Arc::new(stream), chunked));
    wire.send_raw(&head).await?;
    drop(head);
    // A live stream is served by its session on this socket; its body stays empty. What the
    // response held is dropped first: the stream may last for hours.
    let session = parts.extensions.get::<sse::Detachable>().and_then(sse::Detachable::take);
    if let Some(session) = session {
        drop((parts, body));
        return Box::pin(sse::serve(session, wire)).await;
    }
    send_body(&wire, body).await?;
    wire.finish().await
}

/// Writes the body's frames as they come, until it ends or the client leaves.
async fn send_body(wire: &Wire, body: Body) -> io::Result<()> {
    let mut frames = body.into_data_stream();
    let mut gone = std::pin::pin!(wire.client_gone());
    loop {
        let first = tokio::select! {
            frame = frames.next() => frame,
            () = &mut gone => return Ok(()),
        };
        let Some(Ok(first)) = first else { return Ok(()) };
        // Frames that are ready now go out with it, in one chunk.
        let mut batch = vec![first];
        let mut ended = false;
        while batch.len() < MAX_BATCH {
            match frames.next().now_or_never() {
                Some(Some(Ok(frame))) => batch.push(frame),
                Some(_) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        wire.send(&batch).await?;
        if ended {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_live_paths_are_taken_here() {
        assert!(is_live_request(b"GET /v1/stream "));
        assert!(is_live_request(b"GET /v1/stream?"));
        assert!(is_live_request(b"GET /v1/ws HTTP/"));
        assert!(is_live_request(b"GET /v1/ws?token"));
        assert!(!is_live_request(b"GET /v1/streams"));
        assert!(!is_live_request(b"GET /v1/wss HTTP"));
        assert!(!is_live_request(b"GET /v1/stream"), "the path may go on");
        assert!(!is_live_request(b"GET /v1/ws"), "the path may go on");
        assert!(!is_live_request(b"POST /v1/strea"));
        assert!(!is_live_request(b"GET /v1/events?"));
    }
}
