//! The switch to the WebSocket protocol, the handshake spoken byte by byte
//! over a plain TCP socket: what a client sends with its handshake, and
//! upgrade requests the server refuses.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::helpers::{TestApp, spawn_app};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A handshake for `path` (headers of RFC 6455, section 4.1).
fn handshake(app: &TestApp, path: &str) -> String {
    let host = app.address.trim_start_matches("http://");
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection.
async fn read_to_end(socket: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    answer
}

/// A socket to `app` that has sent a handshake for `path`, then `after`,
/// in one write.
async fn send_handshake(app: &TestApp, path: &str, after: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut request = handshake(app, path).into_bytes();
    request.extend_from_slice(after);
    socket.write_all(&request).await.unwrap();
    socket
}

/// The HTTP answer to a handshake for `path`, read to its end: head and body.
async fn upgrade_answer(app: &TestApp, path: &str) -> (String, String) {
    let mut socket = send_handshake(app, path, &[]).await;
    let answer = String::from_utf8(read_to_end(&mut socket).await).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// Reads until `done` says the bytes so far are enough.
async fn read_until(socket: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !done(&seen) {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut chunk))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    seen
}

/// The next message on `ws`, or its end.
async fn next_message(
    ws: &mut WebSocketStream<TcpStream>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("the server answers")
}

fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

#[actix_web::test]
async fn a_frame_sent_with_the_handshake_is_answered() {
    let app = spawn_app().await;
    // The handshake and the first message in one write: the message reaches
    // the server in the same read as the request head.
    let mut early = Vec::new();
    let mut ping = Frame::message(
        r#"{"type":"ping","id":"early"}"#,
        OpCode::Data(Data::Text),
        true,
    );
    ping.header_mut().mask = Some([0x12, 0x34, 0x56, 0x78]);
    ping.format(&mut early).unwrap();
    let mut socket = send_handshake(&app, "/ws", &early).await;

    let seen = read_until(&mut socket, |seen| head_end(seen).is_some()).await;
    let end = head_end(&seen).unwrap();
    let head = String::from_utf8_lossy(&seen[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    // What follows the head is the new protocol (it may have come in the
    // same read).
    let mut ws =
        WebSocketStream::from_partially_read(socket, seen[end..].to_vec(), Role::Client, None)
            .await;
    let Some(Ok(Message::Text(reply))) = next_message(&mut ws).await else {
        panic!("no text reply");
    };
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["type"], "pong", "{reply}");
    assert_eq!(reply["id"], "early", "{reply}");

    // A close from the client is answered with a close, then the server
    // closes the connection.
    ws.close(None).await.unwrap();
    let answer = next_message(&mut ws).await;
    assert!(
        matches!(answer, Some(Ok(Message::Close(_)))),
        "a close frame: {answer:?}"
    );
    let after = next_message(&mut ws).await;
    assert!(after.is_none(), "the connection closes: {after:?}");
}

#[actix_web::test]
async fn a_refused_upgrade_is_answered_in_json_and_the_connection_closed() {
    let app = spawn_app().await;
    let (head, body) = upgrade_answer(&app, "/ws?token=not-a-token").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.to_lowercase().contains("connection: close"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
}

#[actix_web::test]
async fn an_upgrade_asked_of_another_route_gets_its_usual_answer() {
    let app = spawn_app().await;
    let (head, body) = upgrade_answer(&app, "/health").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase().contains("x-request-id"),
        "middleware ran: {head}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body.is_object(), "{body}");

    // And a path that does not exist: the usual JSON 404.
    let (head, body) = upgrade_answer(&app, "/nowhere").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}
