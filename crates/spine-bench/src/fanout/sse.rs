//! A lean Server-Sent Events subscriber over a plain TCP stream, for tens of thousands of
//! concurrent streams (a full HTTP client per stream would measure the client, not the server).
//!
//! It sends one `GET` with HTTP/1.1, checks the status line, de-chunks the body when the response
//! is chunked (so a chunk-size line can never be taken for an SSE line, nor split one), and looks
//! only at the start of each SSE line: `event: position` (spine's first message, meaning the
//! stream is live) and `event: activity` (one delivered event). Events are identified by arrival
//! order: a stream delivers in publish order, so a subscriber's k-th activity is the k-th event
//! published since it subscribed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where and how to subscribe.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// Request path, e.g. `/v1/stream`.
    pub path: String,
    /// Bearer key, for servers that need one.
    pub key: Option<String>,
    /// Whether the stream counts as live only after an `event: position` line (spine), rather
    /// than as soon as the response head arrived (nchan sends nothing before the first message).
    pub wait_for_position: bool,
}

/// What all subscribers saw, shared between them and the measuring code.
#[derive(Debug)]
pub(crate) struct Tally {
    /// The common clock: arrivals are nanoseconds since this instant.
    pub epoch: Instant,
    /// Per published event (by index): the latest arrival over all subscribers, so
    /// publish-to-last-subscriber latency is `last_arrival - publish instant`.
    pub last_arrival: Vec<AtomicU64>,
    /// Per published event: how many subscribers received it (every one must).
    pub received: Vec<AtomicU32>,
    /// Activities past the last expected index (would mean duplicates or stray events).
    pub unexpected: AtomicU64,
    /// Subscribers whose stream is live.
    pub ready: AtomicUsize,
    /// Subscribers that could not open, or whose stream ended or failed.
    pub failed: AtomicUsize,
    /// The first failure's description, for the report.
    pub first_error: Mutex<Option<String>>,
}

impl Tally {
    /// A tally for `events` published events.
    pub fn new(epoch: Instant, events: usize) -> Self {
        Self {
            epoch,
            last_arrival: (0..events).map(|_| AtomicU64::new(0)).collect(),
            received: (0..events).map(|_| AtomicU32::new(0)).collect(),
            unexpected: AtomicU64::new(0),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            first_error: Mutex::new(None),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Deliveries of events `range` counted so far.
    pub fn delivered(&self, range: std::ops::Range<usize>) -> u64 {
        self.received[range].iter().map(|r| u64::from(r.load(Ordering::Relaxed))).sum()
    }

    pub(crate) fn arrived(&self, index: usize) {
        match (self.last_arrival.get(index), self.received.get(index)) {
            (Some(last), Some(count)) => {
                last.fetch_max(self.now(), Ordering::Relaxed);
                count.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Counts a subscriber live and tells its opener, once.
    pub(crate) fn went_live(&self, live: &mut Option<tokio::sync::oneshot::Sender<()>>) {
        if let Some(tx) = live.take() {
            self.ready.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send(());
        }
    }

    pub(crate) fn fail(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }
}

/// Opens one stream and reads it until it fails or the task is aborted. `live` is sent once the
/// stream is live (or dropped when it failed before), so the opener can bound how many
/// connections are mid-handshake at a time.
pub(crate) async fn subscribe(
    target: Arc<Target>,
    tally: Arc<Tally>,
    live: tokio::sync::oneshot::Sender<()>,
) {
    if let Err(e) = read_stream(&target, &tally, Some(live)).await {
        tally.fail(e);
    }
}

/// Connects to the target and sends `GET` for its path with its key and `headers` (each ending
/// in CRLF).
pub(crate) async fn connect(target: &Target, headers: &str) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(target.addr).await.map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let auth = target.key.as_ref().map(|k| format!("Authorization: Bearer {k}\r\n"));
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n{}{headers}\r\n",
        target.path,
        target.addr,
        auth.unwrap_or_default()
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
    Ok(stream)
}

async fn read_stream(
    target: &Target,
    tally: &Tally,
    mut live: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), String> {
    let mut stream = connect(target, "Accept: text/event-stream\r\n").await?;
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut activities = 0usize;
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the stream".into());
        }
        for signal in parser.feed(&buf[..n])? {
            let is_live = match signal {
                Signal::Head => !target.wait_for_position,
                Signal::Position => target.wait_for_position,
                Signal::Activity => {
                    tally.arrived(activities);
                    activities += 1;
                    false
                }
            };
            if is_live {
                tally.went_live(&mut live);
            }
        }
    }
}

/// What the parser found in a piece of the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// A `200` response head was read.
    Head,
    /// An `event: position` line.
    Position,
    /// An `event: activity` line.
    Activity,
}

/// Only this much of each SSE line is kept: enough to tell `event: activity` apart.
const PREFIX: usize = 16;

/// Incremental parser: response head, then (de-chunked) body lines.
#[derive(Debug, Default)]
struct Parser {
    /// Bytes of the response head read so far; `None` once the head is done.
    head: Option<Vec<u8>>,
    head_done: bool,
    /// Chunked transfer decoding state, when the response is chunked.
    chunk: Option<Chunk>,
    /// The start of the current SSE line.
    line: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// Reading a chunk-size line (hex digits, then an extension to ignore).
    Size { value: usize, in_extension: bool },
    /// Inside chunk data with this many bytes left.
    Data(usize),
    /// After chunk data, up to and including its line feed.
    DataEnd,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Signal>, String> {
        let mut signals = Vec::new();
        if !self.head_done {
            let head = self.head.get_or_insert_with(Vec::new);
            head.extend_from_slice(bytes);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
                if head.len() > 64 * 1024 {
                    return Err("response head too large".into());
                }
                return Ok(signals);
            };
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            let status = text.lines().next().unwrap_or_default().to_owned();
            if status.split_whitespace().nth(1) != Some("200") {
                return Err(format!("response {status:?}"));
            }
            if text.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked")) {
                self.chunk = Some(Chunk::Size { value: 0, in_extension: false });
            }
            let rest = head[end + 4..].to_vec();
            self.head = None;
            self.head_done = true;
            signals.push(Signal::Head);
            self.body(&rest, &mut signals)?;
            return Ok(signals);
        }
        self.body(bytes, &mut signals)?;
        Ok(signals)
    }

    fn body(&mut self, mut bytes: &[u8], signals: &mut Vec<Signal>) -> Result<(), String> {
        if self.chunk.is_none() {
            self.lines(bytes, signals);
            return Ok(());
        }
        while !bytes.is_empty() {
            bytes = self.dechunk(bytes, signals)?;
        }
        Ok(())
    }

    /// Consumes a prefix of `bytes` under chunked decoding; returns the rest.
    fn dechunk<'a>(
        &mut self,
        bytes: &'a [u8],
        signals: &mut Vec<Signal>,
    ) -> Result<&'a [u8], String> {
        let Some(state) = self.chunk else { return Ok(&[]) };
        match state {
            Chunk::Data(left) => {
                let take = left.min(bytes.len());
                self.lines(&bytes[..take], signals);
                self.chunk =
                    Some(if take == left { Chunk::DataEnd } else { Chunk::Data(left - take) });
                Ok(&bytes[take..])
            }
            Chunk::DataEnd => {
                if bytes[0] == b'\n' {
                    self.chunk = Some(Chunk::Size { value: 0, in_extension: false });
                }
                Ok(&bytes[1..])
            }
            Chunk::Size { value, in_extension } => {
                let b = bytes[0];
                self.chunk = Some(match b {
                    b'\n' if value == 0 => return Err("the server ended the stream".into()),
                    b'\n' => Chunk::Data(value),
                    _ if in_extension || b == b'\r' => Chunk::Size { value, in_extension },
                    b';' | b' ' | b'\t' => Chunk::Size { value, in_extension: true },
                    _ => {
                        let digit = (b as char).to_digit(16).ok_or("bad chunk size")? as usize;
                        let value = value.checked_mul(16).ok_or("chunk too large")? + digit;
                        Chunk::Size { value, in_extension }
                    }
                });
                Ok(&bytes[1..])
            }
        }
    }

    /// Splits body bytes into SSE lines, keeping only each line's first [`PREFIX`] bytes.
    fn lines(&mut self, mut bytes: &[u8], signals: &mut Vec<Signal>) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.keep(&bytes[..nl]);
            let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
            if line.starts_with(b"event: activity") {
                signals.push(Signal::Activity);
            } else if line.starts_with(b"event: position") {
                signals.push(Signal::Position);
            }
            self.line.clear();
            bytes = &bytes[nl + 1..];
        }
        self.keep(bytes);
    }

    fn keep(&mut self, part: &[u8]) {
        let room = PREFIX.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..room.min(part.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut Parser, pieces: &[&[u8]]) -> Vec<Signal> {
        pieces.iter().flat_map(|p| parser.feed(p).unwrap()).collect()
    }

    #[test]
    fn chunked_stream_split_anywhere_yields_each_event_once() {
        let mut body = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for chunk in ["event: position\nid: 5\n\n", "id: 6\nevent: activity\ndata: {}\n\n", ":\n\n"]
        {
            body.extend(format!("{:x};ext=1\r\n{chunk}\r\n", chunk.len()).bytes());
        }
        for split in 0..body.len() {
            let mut p = Parser::default();
            let signals = all(&mut p, &[&body[..split], &body[split..]]);
            assert_eq!(
                signals,
                vec![Signal::Head, Signal::Position, Signal::Activity],
                "split at {split}"
            );
        }
    }

    #[test]
    fn plain_stream_and_bad_status() {
        let mut p = Parser::default();
        let s = all(&mut p, &[b"HTTP/1.1 200 OK\r\n\r\nevent: activity\r\ndata: x\r\n\r\n"]);
        assert_eq!(s, vec![Signal::Head, Signal::Activity]);
        let mut p = Parser::default();
        assert!(p.feed(b"HTTP/1.1 429 Too Many\r\n\r\n").is_err());
    }
}
