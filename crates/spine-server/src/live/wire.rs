//! A response body's bytes on a socket of its own: HTTP/1.1 chunked framing (or none, for an
//! HTTP/1.0 client, whose body ends with the connection), written either by the connection's
//! task (waiting for room) or, without waiting, by a tail's fan-out ([`super::seat`]). The
//! socket is shared so both can reach it; a [`super::seat::Seat`] decides which one may write at
//! any moment, so bytes never interleave.

use bytes::{Bytes, BytesMut};
use std::io::{self, IoSlice, Write};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Most messages written in one chunk.
pub const MAX_BATCH: usize = 64;

/// What a write without waiting managed.
#[derive(Debug)]
pub enum Sent {
    /// Everything.
    All,
    /// Part: these bytes (the rest, framing included) must go out before anything else.
    Part(Bytes),
    /// Nothing: the socket has no room, or failed (the connection's task finds out which).
    Nothing,
}

/// One response body's socket and framing.
#[derive(Debug)]
pub struct Wire {
    socket: Arc<TcpStream>,
    chunked: bool,
}

/// Room for a chunk's size line: at most 16 hex digits and CRLF.
type SizeLine = [u8; 18];

impl Wire {
    /// A body written to `socket`, in chunks if `chunked`.
    pub fn new(socket: Arc<TcpStream>, chunked: bool) -> Self {
        Self { socket, chunked }
    }

    /// Resolves when the client closes its end or the socket fails. Bytes it sends after its
    /// request are read and ignored (the connection closes after this response).
    pub async fn client_gone(&self) {
        let mut scratch = [0u8; 64];
        loop {
            if self.socket.readable().await.is_err() {
                return;
            }
            match self.socket.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }

    /// Resolves when the socket has bytes to read (or failed).
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Reads what the socket holds now, without waiting (`WouldBlock` when nothing).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.try_read(buf)
    }

    /// Writes `frames` as one chunk, waiting for room as needed.
    pub async fn send(&self, frames: &[Bytes]) -> io::Result<()> {
        let mut size = [0u8; 18];
        let frames: Vec<&[u8]> = frames.iter().map(|f| f.as_ref()).collect();
        let mut slices = self.chunk(&mut size, &frames);
        let mut slices = slices.as_mut_slice();
        while !slices.is_empty() {
            self.socket.writable().await?;
            match self.socket.try_write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut slices, written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes raw bytes (the response head, the last chunk, a remainder), waiting for room.
    pub async fn send_raw(&self, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            self.socket.writable().await?;
            match self.socket.try_write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => rest = &rest[written..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Ends the body (the last chunk, when chunked).
    pub async fn finish(&self) -> io::Result<()> {
        if self.chunked {
            self.send_raw(b"0\r\n\r\n").await?;
        }
        Ok(())
    }

    /// Writes `frames` as one chunk if the socket takes them now, without waiting.
    pub fn try_send(&self, frames: &[&[u8]]) -> Sent {
        let mut size = [0u8; 18];
        let slices = self.chunk(&mut size, frames);
        let total: usize = slices.iter().map(|s| s.len()).sum();
        if total == 0 {
            return Sent::All;
        }
        match self.socket.try_write_vectored(&slices) {
            Ok(written) if written == total => Sent::All,
            Ok(0) | Err(_) => Sent::Nothing,
            Ok(written) => {
                let mut rest = BytesMut::with_capacity(total - written);
                let mut skip = written;
                for slice in &slices {
                    let take = skip.min(slice.len());
                    rest.extend_from_slice(&slice[take..]);
                    skip -= take;
                }
                Sent::Part(rest.freeze())
            }
        }
    }

    /// The slices of one chunk holding `frames` (its size line written into `size`); none when
    /// there is nothing to send, since an empty chunk would end a chunked body.
    fn chunk<'a>(&self, size: &'a mut SizeLine, frames: &[&'a [u8]]) -> Vec<IoSlice<'a>> {
        let total: usize = frames.iter().map(|f| f.len()).sum();
        if total == 0 {
            return Vec::new();
        }
        let mut slices = Vec::with_capacity(frames.len() + 2);
        if self.chunked {
            let mut line = &mut size[..];
            // 18 bytes hold any usize in hex and CRLF.
            let _ = write!(line, "{total:x}\r\n");
            let used = 18 - line.len();
            slices.push(IoSlice::new(&size[..used]));
        }
        slices.extend(frames.iter().map(|frame| IoSlice::new(frame)));
        if self.chunked {
            slices.push(IoSlice::new(b"\r\n"));
        }
        slices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pair(chunked: bool) -> (Wire, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Wire::new(Arc::new(server), chunked), client)
    }

    /// Chunks carry their frames with the right size line, empty sends write nothing, and a
    /// plain body is the frames as they are.
    #[tokio::test]
    async fn frames_go_out_in_chunks_or_as_they_are() {
        let (wire, mut client) = pair(true).await;
        wire.send(&[Bytes::from_static(b"hello "), Bytes::from_static(b"world")]).await.unwrap();
        wire.send(&[]).await.unwrap();
        assert!(matches!(wire.try_send(&[b"0123456789abcdef"]), Sent::All));
        wire.finish().await.unwrap();
        drop(wire);
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "b\r\nhello world\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");

        let (wire, mut client) = pair(false).await;
        wire.send(&[Bytes::from_static(b"a"), Bytes::from_static(b"b")]).await.unwrap();
        wire.finish().await.unwrap();
        drop(wire);
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "ab");
    }

    /// A write without waiting to a client that stopped reading takes what fits and hands back
    /// the exact rest; the bytes that arrive are the chunk, in order, with nothing lost.
    #[tokio::test]
    async fn a_full_socket_hands_back_the_rest() {
        let (wire, mut client) = pair(true).await;
        let frame = vec![b'x'; 64 * 1024];
        let mut expected = Vec::new();
        let mut rest = None;
        let mut full = false;
        for _ in 0..200 {
            let chunk =
                [format!("{:x}\r\n", frame.len()).into_bytes(), frame.clone(), b"\r\n".to_vec()]
                    .concat();
            match wire.try_send(&[&frame]) {
                Sent::All => expected.extend_from_slice(&chunk),
                Sent::Part(left) => {
                    let sent = chunk.len() - left.len();
                    assert_eq!(&chunk[sent..], &left[..], "the rest is the chunk's tail");
                    expected.extend_from_slice(&chunk);
                    rest = Some(left);
                    full = true;
                    break;
                }
                Sent::Nothing => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "the socket filled up within 12 MiB");
        let rest = rest.unwrap_or_default();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        wire.send_raw(&rest).await.unwrap();
        drop(wire);
        assert_eq!(reading.await.unwrap(), expected);
    }
}
