//! A reader's outputs as Server-Sent Events (`GET /v1/stream`).

use super::limits::StreamPermit;
use super::reader::{End, Output, Reader, RETRY};
use axum::response::sse::Event as Message;
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;

/// The stream's messages: `event: position` with the starting `id:` and a `retry:` hint, then
/// `event: reset` if the resume point could not be served, `event: activity` per event and
/// `event: read` per read-state change, until the client leaves, the token expires, the
/// subscriber lags too far, the store fails or the server shuts down. `permit` is held until
/// the stream is dropped.
pub fn messages(
    reader: Reader,
    permit: StreamPermit,
) -> impl Stream<Item = Result<Message, Infallible>> + Send {
    // The starting position as the first message's `id:`: a client that drops before the
    // first event still resumes from here instead of from a later live end.
    let start = reader.position().to_string();
    let hint = Message::default().retry(RETRY).event("position").id(start.clone()).data(start);
    stream::once(async move { hint })
        .chain(stream::unfold((reader, permit), |(mut reader, permit)| async move {
            loop {
                let output = reader.next().await?;
                if let Some(message) = message(output) {
                    return Some((message, (reader, permit)));
                }
            }
        }))
        .map(Ok)
}

/// One output as a message; `None` if a read change cannot be encoded.
fn message(output: Output) -> Option<Message> {
    match output {
        Output::Activity(activity) => Some(
            Message::default()
                .id(activity.seq().to_string())
                .event("activity")
                .data(activity.json()),
        ),
        Output::Read(read) => Message::default().event(read.message()).json_data(&read).ok(),
        Output::Reset { reason, position, horizon } => {
            let body = serde_json::json!({
                "reason": reason.code(),
                "position": position,
                "horizon": horizon,
                "detail": "events after your position are no longer held: reload the feed; \
                           the stream continues from the live end",
            });
            Some(Message::default().event("reset").id(position.to_string()).data(body.to_string()))
        }
        Output::End(End::Shutdown) => {
            Some(Message::default().retry(RETRY).comment("server shutting down"))
        }
        Output::End(end) => {
            let body = serde_json::json!({ "error": end.code(), "detail": end.detail() });
            Some(Message::default().event("error").data(body.to_string()))
        }
    }
}
