//! WebSocket helpers: a real client (`tokio-tungstenite`) speaking `/v1/ws`'s JSON messages.

use super::sse::GUARD;
use super::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One client socket.
pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    /// Connects to `/v1/ws` (plus `query`) with `key` as bearer, if given.
    pub async fn connect(app: &TestApp, query: &str, key: Option<&str>) -> Self {
        Self::try_connect(app, query, key).await.expect("the upgrade succeeds")
    }

    /// Connects, or returns the HTTP status and body of a refused upgrade.
    pub async fn try_connect(
        app: &TestApp,
        query: &str,
        key: Option<&str>,
    ) -> Result<Self, (u16, String)> {
        let mut request = format!("ws://{}/v1/ws{query}", app.addr).into_client_request().unwrap();
        if let Some(key) = key {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).unwrap();
            request.headers_mut().insert("authorization", value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body =
                    response.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
                Err((status, body.unwrap_or_default()))
            }
            Err(e) => panic!("connecting failed: {e}"),
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.unwrap();
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// The next JSON message (pings and pongs skipped); `None` when the server closed.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(GUARD, self.socket.next())
                .await
                .expect("a message within the guard")?;
            match message {
                Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or_default();
                    return Some(json!({"type": "closed", "code": code, "reason": reason}));
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Binary(_)) => panic!("the server sends text only"),
                Err(_) => return None,
            }
        }
    }

    /// The next message, asserting its `type`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let message = self.recv().await.expect("the socket is open");
        assert_eq!(message["type"], json!(kind), "{message}");
        message
    }

    /// Subscribes and returns the starting position from `subscribed`.
    pub async fn subscribe(&mut self, id: &str, filter: Value, after: Option<i64>) -> i64 {
        let mut message = json!({"type": "subscribe", "id": id, "filter": filter});
        if let Some(after) = after {
            message["after"] = json!(after);
        }
        self.send(message).await;
        let ack = self.expect("subscribed").await;
        assert_eq!(ack["id"], json!(id));
        ack["position"].as_i64().unwrap()
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
