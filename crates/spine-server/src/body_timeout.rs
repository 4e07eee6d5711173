//! The body read timeout: a request body from which nothing arrives for longer than the timeout
//! fails with [`BodyStalled`], which the body readers answer with a 408 problem (and the
//! connection, its body unread, is closed after the answer). It bounds the silence between two
//! pieces of a body, not its whole length: a slow but steady upload is never cut.

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Nothing of the body arrived for longer than the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("no part of the request body arrived for {0:?}")]
pub struct BodyStalled(Duration);

impl BodyStalled {
    /// Whether `error` (from reading a body) is this timeout.
    pub fn is(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut source = Some(error);
        while let Some(e) = source {
            if e.is::<BodyStalled>() {
                return true;
            }
            source = e.source();
        }
        false
    }
}

/// `body`, failing with [`BodyStalled`] once nothing arrives for `timeout`. An empty body is
/// left as it is, and the timer is only armed once the body makes its reader wait: a request
/// whose body has already arrived whole costs no timer.
pub fn limit(body: Body, timeout: Duration) -> Body {
    if body.is_end_stream() {
        return body;
    }
    Body::new(Stalling { inner: body, timeout, sleep: None })
}

struct Stalling {
    inner: Body,
    timeout: Duration,
    /// Armed at the first wait, moved on by every piece that arrives.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl HttpBody for Stalling {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = Instant::now() + self.timeout;
                if let Some(sleep) = self.sleep.as_mut() {
                    sleep.as_mut().reset(deadline);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyStalled(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A body that sends `first` and then nothing, ever.
    fn stalling(first: &'static [u8]) -> Body {
        let pieces = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(first))])
            .chain(futures::stream::pending());
        Body::from_stream(pieces)
    }

    #[tokio::test]
    async fn a_silent_body_fails_as_stalled_through_every_reader() {
        let timeout = Duration::from_millis(50);
        // Read as a data stream (the JSON bodies): the first piece, then the timeout.
        let mut stream = limit(stalling(b"{\"events\":"), timeout).into_data_stream();
        assert_eq!(stream.next().await.and_then(Result::ok).as_deref(), Some(&b"{\"events\":"[..]));
        let error = stream.next().await.expect("an error, not the end").expect_err("stalled");
        assert!(BodyStalled::is(&error), "{error:?}");

        // Read by multer (the file uploads): its error carries the same cause.
        let body = limit(
            stalling(
                b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nxy",
            ),
            timeout,
        );
        let mut multipart = multer::Multipart::new(body.into_data_stream(), "b");
        let error = loop {
            match multipart.next_field().await {
                Ok(Some(mut field)) => {
                    if let Err(e) = field.chunk().await {
                        break e;
                    }
                }
                Ok(None) => panic!("the body ended"),
                Err(e) => break e,
            }
        };
        assert!(BodyStalled::is(&error), "{error:?}");

        // Other failures are not taken for it.
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert!(!BodyStalled::is(&other));
    }
}
