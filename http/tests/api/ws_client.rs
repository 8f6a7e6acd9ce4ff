//! A real WebSocket client for tests.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::helpers::TestApp;

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Frames of a `chat.batch` not yet handed out.
    unpacked: VecDeque<Value>,
    /// `chat.batch` frames received so far.
    pub chat_batches: usize,
}

impl WsClient {
    pub async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        Self::connect_to(&app.address, token).await
    }

    /// Connects to the server at `address` (`http://host:port`).
    pub async fn connect_to(address: &str, token: Option<&str>) -> Self {
        let base = address.replacen("http://", "ws://", 1);
        let url = match token {
            Some(token) => format!("{base}/ws?token={token}"),
            None => format!("{base}/ws"),
        };
        let (stream, _) = connect_async(url).await.expect("websocket connect");
        Self {
            stream,
            next_id: 0,
            unpacked: VecDeque::new(),
            chat_batches: 0,
        }
    }

    pub async fn send(&mut self, value: Value) {
        self.stream
            .send(Message::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    /// The next JSON message (control frames are skipped), the frames of a
    /// `chat.batch` one by one, as a client shows them.
    pub async fn recv(&mut self) -> Value {
        loop {
            if let Some(frame) = self.unpacked.pop_front() {
                return frame;
            }
            let mut message = self.recv_frame().await;
            if message["type"] != "chat.batch" {
                return message;
            }
            self.chat_batches += 1;
            if let Value::Array(frames) = message["frames"].take() {
                self.unpacked.extend(frames);
            }
        }
    }

    /// The next JSON frame as the server sent it.
    async fn recv_frame(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("a message within 10 s")
                .expect("the stream is open")
                .expect("a websocket frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Close(frame) => panic!("closed by the server: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Send a request with a fresh id and wait for the reply that echoes it.
    pub async fn request(&mut self, mut body: Value, seen: &mut Vec<Value>) -> Value {
        self.next_id += 1;
        let id = self.next_id.to_string();
        body["id"] = json!(id);
        self.send(body).await;
        loop {
            let message = self.recv().await;
            if message["id"] == id.as_str() {
                return message;
            }
            seen.push(message);
        }
    }

    pub async fn subscribe(&mut self, room: &str) -> Value {
        let mut seen = Vec::new();
        let reply = self
            .request(json!({"type": "subscribe", "room": room}), &mut seen)
            .await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply
    }

    pub async fn bid(&mut self, auction: &str, amount: i64, max: Option<i64>) -> Value {
        let mut seen = Vec::new();
        self.request(
            json!({"type": "bid", "auction_id": auction, "amount": amount, "max_amount": max}),
            &mut seen,
        )
        .await
    }
}
