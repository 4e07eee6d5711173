//! A lean WebSocket subscriber over a plain TCP stream, the counterpart of [`super::sse`] for
//! tens of thousands of sockets.
//!
//! It sends the upgrade request, checks for `101`, and for spine subscribes with one masked text
//! frame (`{"type":"subscribe","id":"f"}`: the whole feed) and counts the socket live at the
//! `subscribed` answer (`{"id":"f","position":...}`); nchan's socket is live at the `101`.
//! Frames from the server are parsed incrementally, keeping only the start of each payload: a
//! spine message is an event when it starts with `{"type":"activity"`, an nchan text message
//! always is.

use super::sse::{Tally, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The subscribe message spine gets.
const SUBSCRIBE: &[u8] = br#"{"type":"subscribe","id":"f"}"#;
/// How much of each payload is kept.
const PREFIX: usize = 24;

/// Opens one socket and reads it until it fails or the task is aborted; `live` as in
/// [`super::sse::subscribe`].
pub(crate) async fn subscribe(
    target: std::sync::Arc<Target>,
    tally: std::sync::Arc<Tally>,
    live: tokio::sync::oneshot::Sender<()>,
) {
    if let Err(e) = read_socket(&target, &tally, Some(live)).await {
        tally.fail(e);
    }
}

async fn read_socket(
    target: &Target,
    tally: &Tally,
    mut live: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), String> {
    let headers = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let mut stream = super::sse::connect(target, headers).await?;
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut activities = 0usize;
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the socket".into());
        }
        for message in parser.feed(&buf[..n])? {
            match message {
                Message::Upgraded if target.wait_for_position => {
                    stream.write_all(&masked_text(SUBSCRIBE)).await.map_err(|e| e.to_string())?;
                }
                Message::Upgraded => tally.went_live(&mut live),
                Message::Text(start) => {
                    let spine = target.wait_for_position;
                    if !spine || start.starts_with(br#"{"type":"activity""#) {
                        tally.arrived(activities);
                        activities += 1;
                    } else if start.starts_with(br#"{"id":"f","position""#) {
                        // `subscribed` (its members in key order).
                        tally.went_live(&mut live);
                    } else if start.starts_with(br#"{"detail""#) {
                        return Err(String::from_utf8_lossy(&start).into_owned());
                    }
                }
                Message::Close => return Err("the server closed the socket".into()),
            }
        }
    }
}

/// A client frame: FIN, text, masked (every client frame must be), short payload.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x1b, 0x2c, 0x3d, 0x4e];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    /// The `101` answer arrived.
    Upgraded,
    /// A text message, by the start of its payload.
    Text(Vec<u8>),
    /// A close frame.
    Close,
}

/// Incremental parser: the upgrade answer, then frames.
#[derive(Debug, Default)]
struct Parser {
    head: Vec<u8>,
    upgraded: bool,
    /// The current frame's header bytes, until complete.
    header: Vec<u8>,
    /// Inside a payload: its opcode, the bytes left and the start kept.
    payload: Option<(u8, u64, Vec<u8>)>,
}

impl Parser {
    fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        if !self.upgraded {
            self.head.extend_from_slice(bytes);
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(messages);
            };
            let status = String::from_utf8_lossy(&self.head[..end]).to_string();
            if status.split_whitespace().nth(1) != Some("101") {
                return Err(format!("response {:?}", status.lines().next().unwrap_or_default()));
            }
            let rest = self.head.split_off(end + 4);
            self.head = Vec::new();
            self.upgraded = true;
            messages.push(Message::Upgraded);
            self.frames(&rest, &mut messages);
            return Ok(messages);
        }
        while !bytes.is_empty() {
            bytes = self.step(bytes, &mut messages);
        }
        Ok(messages)
    }

    fn frames(&mut self, mut bytes: &[u8], messages: &mut Vec<Message>) {
        while !bytes.is_empty() {
            bytes = self.step(bytes, messages);
        }
    }

    /// Consumes a prefix of `bytes`; returns the rest.
    fn step<'a>(&mut self, bytes: &'a [u8], messages: &mut Vec<Message>) -> &'a [u8] {
        if let Some((_, left, start)) = self.payload.as_mut() {
            let take = (*left).min(bytes.len() as u64) as usize;
            let room = PREFIX.saturating_sub(start.len()).min(take);
            start.extend_from_slice(&bytes[..room]);
            *left -= take as u64;
            if *left == 0 {
                let (opcode, _, start) = self.payload.take().unwrap_or_default();
                match opcode {
                    0x1 => messages.push(Message::Text(start)),
                    0x8 => messages.push(Message::Close),
                    _ => {}
                }
            }
            return &bytes[take..];
        }
        self.header.push(bytes[0]);
        let rest = &bytes[1..];
        let h = &self.header;
        if h.len() < 2 {
            return rest;
        }
        let masked = h[1] & 0x80 != 0;
        let extra = match h[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let needed = 2 + extra + if masked { 4 } else { 0 };
        if h.len() < needed {
            return rest;
        }
        let length = match extra {
            0 => u64::from(h[1] & 0x7f),
            _ => h[2..2 + extra].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)),
        };
        let opcode = h[0] & 0x0f;
        self.header.clear();
        if length == 0 {
            match opcode {
                0x1 => messages.push(Message::Text(Vec::new())),
                0x8 => messages.push(Message::Close),
                _ => {}
            }
        } else {
            self.payload = Some((opcode, length, Vec::new()));
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_split_anywhere_yield_each_message_once() {
        let long = format!(r#"{{"type":"activity","x":"{}"}}"#, "y".repeat(70_000));
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        bytes.extend(frame(0x1, br#"{"type":"subscribed","id":"f"}"#));
        bytes.extend(frame(0x9, b""));
        bytes.extend(frame(0x1, long.as_bytes()));
        bytes.extend(frame(0x1, &long.as_bytes()[..300]));
        for split in [0, 1, 30, 60, 61, 70, 100, 5_000, bytes.len() - 1] {
            let mut p = Parser::default();
            let mut got = p.feed(&bytes[..split]).unwrap();
            got.extend(p.feed(&bytes[split..]).unwrap());
            let kinds: Vec<_> = got
                .iter()
                .map(|m| match m {
                    Message::Upgraded => "up".to_owned(),
                    Message::Text(start) => String::from_utf8_lossy(&start[..10]).into_owned(),
                    Message::Close => "close".to_owned(),
                })
                .collect();
            assert_eq!(kinds, ["up", r#"{"type":"s"#, r#"{"type":"a"#, r#"{"type":"a"#], "{split}");
        }
    }

    #[test]
    fn the_subscribe_frame_is_masked() {
        let f = masked_text(SUBSCRIBE);
        assert_eq!((f[0], f[1]), (0x81, 0x80 | SUBSCRIBE.len() as u8));
        let unmasked: Vec<u8> = f[6..].iter().enumerate().map(|(i, b)| b ^ f[2 + i % 4]).collect();
        assert_eq!(unmasked, SUBSCRIBE);
    }
}
