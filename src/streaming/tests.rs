#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;

const URL: &str = "wss://video.example.com";
const KEY: &str = "APItestkey";
const SECRET: &str = "test-livekit-secret-0123456789abcdef";

fn config(url: Option<&str>, key: Option<&str>, secret: Option<&str>) -> Config {
    Config {
        livekit_url: url.map(str::to_owned),
        livekit_api_key: key.map(str::to_owned),
        livekit_api_secret: secret.map(|s| SecretString::from(s.to_owned())),
        ..Config::default()
    }
}

fn streaming() -> Streaming {
    Streaming::from_config(&config(Some(URL), Some(KEY), Some(SECRET)))
        .unwrap()
        .expect("configured")
}

fn claims(token: &str) -> Value {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[KEY]);
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims
}

/// A webhook `Authorization` value as LiveKit signs it: a JWT issued by the
/// API key whose `sha256` claim is the base64 SHA-256 of the body.
fn signature(body: &str, key: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": key, "nbf": now, "exp": now + 300, "sha256": sha256}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn webhook_body() -> String {
    json!({
        "event": "participant_joined",
        "room": {"sid": "RM_1", "name": "show-1", "numParticipants": 3},
        "participant": {"sid": "PA_1", "identity": "u1"},
        "id": "EV_1",
        "createdAt": chrono::Utc::now().timestamp().to_string()
    })
    .to_string()
}

#[test]
fn without_settings_streaming_is_off() {
    assert!(
        Streaming::from_config(&config(None, None, None))
            .unwrap()
            .is_none()
    );
    assert!(
        Streaming::from_config(&config(Some(" "), Some(""), None))
            .unwrap()
            .is_none()
    );
    let err = not_configured();
    assert_eq!(err.code(), "streaming_not_configured");
    assert_eq!(err.status(), 503);
}

#[test]
fn partial_settings_name_what_is_missing() {
    let err = Streaming::from_config(&config(Some(URL), None, Some(SECRET)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing LIVEKIT_API_KEY:"), "{err}");
    assert!(!err.contains(SECRET), "{err}");

    let err = Streaming::from_config(&config(Some(URL), Some(KEY), None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing LIVEKIT_API_SECRET:"), "{err}");

    let err = Streaming::from_config(&config(None, None, Some(SECRET)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing LIVEKIT_URL and LIVEKIT_API_KEY:"),
        "{err}"
    );

    let err = Streaming::from_config(&config(Some("video.example.com"), Some(KEY), Some(SECRET)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("LIVEKIT_URL"), "{err}");
}

#[test]
fn debug_output_hides_the_secret() {
    let text = format!("{:?}", streaming());
    assert!(text.contains(KEY), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    let token = streaming().token("show-1", "u1", "Ann", false).unwrap();
    assert!(!format!("{token:?}").contains(&token.token));
}

#[test]
fn a_viewer_token_may_subscribe_but_not_publish() {
    let before = chrono::Utc::now().timestamp();
    let token = streaming()
        .token("show-1", "viewer-1", "Vera", false)
        .unwrap();
    assert_eq!(token.url, URL);
    let claims = claims(&token.token);
    assert_eq!(claims["iss"], KEY);
    assert_eq!(claims["sub"], "viewer-1");
    assert_eq!(claims["name"], "Vera");
    assert_eq!(claims["video"]["room"], "show-1");
    assert_eq!(claims["video"]["roomJoin"], true);
    assert_eq!(claims["video"]["canSubscribe"], true);
    assert_eq!(claims["video"]["canPublish"], false);
    assert_eq!(claims["video"]["canPublishData"], false);
    assert_ne!(claims["video"]["roomAdmin"], true);
    let exp = claims["exp"].as_i64().unwrap();
    let ttl = i64::try_from(TOKEN_TTL.as_secs()).unwrap();
    assert!(exp >= before + ttl && exp <= before + ttl + 5, "exp {exp}");
}

#[test]
fn a_seller_token_may_publish() {
    let token = streaming()
        .token("show-1", "seller-1", "Sam", true)
        .unwrap();
    let claims = claims(&token.token);
    assert_eq!(claims["sub"], "seller-1");
    assert_eq!(claims["name"], "Sam");
    assert_eq!(claims["video"]["room"], "show-1");
    assert_eq!(claims["video"]["roomJoin"], true);
    assert_eq!(claims["video"]["canPublish"], true);
    assert_eq!(claims["video"]["canPublishData"], true);
    assert_eq!(claims["video"]["canSubscribe"], true);
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
}

#[test]
fn a_correctly_signed_webhook_is_accepted() {
    let body = webhook_body();
    let event = streaming()
        .verify_webhook(&body, Some(&signature(&body, KEY, SECRET)))
        .unwrap();
    assert_eq!(
        event,
        StreamEvent {
            duplicate: false,
            event: "participant_joined".into(),
            room: Some("show-1".into()),
            participants: Some(3),
        }
    );
    // Some senders put the token behind `Bearer `.
    let bearer = format!("Bearer {}", signature(&body, KEY, SECRET));
    assert!(streaming().verify_webhook(&body, Some(&bearer)).is_ok());
}

#[test]
fn a_webhook_for_no_room_has_no_room() {
    let body = json!({"event": "egress_started", "id": "EV_2",
                      "createdAt": chrono::Utc::now().timestamp().to_string()})
    .to_string();
    let event = streaming()
        .verify_webhook(&body, Some(&signature(&body, KEY, SECRET)))
        .unwrap();
    assert_eq!(event.event, "egress_started");
    assert_eq!(event.room, None);
    assert_eq!(event.participants, None);
}

#[test]
fn forged_tampered_or_unsigned_webhooks_are_refused() {
    let body = webhook_body();
    let streaming = streaming();
    let refused = |result: Result<StreamEvent>| {
        let err = result.unwrap_err();
        assert_eq!(err.code(), "invalid_signature");
        assert_eq!(err.status(), 401);
    };
    // Signed with another secret.
    refused(streaming.verify_webhook(
        &body,
        Some(&signature(&body, KEY, "another-secret-0123456789abcdef")),
    ));
    // Issued by another key.
    refused(streaming.verify_webhook(&body, Some(&signature(&body, "APIother", SECRET))));
    // A body other than the one signed.
    let tampered = body.replace("\"numParticipants\":3", "\"numParticipants\":300");
    assert_ne!(tampered, body);
    refused(streaming.verify_webhook(&tampered, Some(&signature(&body, KEY, SECRET))));
    // No header, an empty one, or garbage.
    refused(streaming.verify_webhook(&body, None));
    refused(streaming.verify_webhook(&body, Some("")));
    refused(streaming.verify_webhook(&body, Some("not-a-jwt")));
    // A signed body that is not a webhook.
    refused(streaming.verify_webhook("nope", Some(&signature("nope", KEY, SECRET))));
}

/// A stand-in for LiveKit's room API: answers each request with `status` and
/// `body`, and hands back what it was asked (request line and headers).
async fn fake_livekit(
    status: &'static str,
    body: &'static str,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (sent, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the body (its length is in the head).
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length || n == 0 {
                        sent.send(text[..end].to_owned()).unwrap();
                        break;
                    }
                }
            }
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
    });
    (url, received)
}

fn streaming_at(url: &str) -> Streaming {
    Streaming::from_config(&config(Some(url), Some(KEY), Some(SECRET)))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn create_room_asks_livekit_with_a_room_create_grant() {
    // An empty protobuf body is a valid (empty) `Room`.
    let (url, mut requests) = fake_livekit("200 OK", "").await;
    streaming_at(&url).create_room("show-9").await.unwrap();
    let head = requests.recv().await.unwrap();
    assert!(
        head.starts_with("POST /twirp/livekit.RoomService/CreateRoom "),
        "{head}"
    );
    let token = head
        .lines()
        .find_map(|l| l.strip_prefix("authorization: Bearer "))
        .unwrap_or_else(|| panic!("no bearer token in {head}"));
    assert_eq!(claims(token)["video"]["roomCreate"], true);
}

#[tokio::test]
async fn create_room_accepts_an_existing_room() {
    let (url, _requests) = fake_livekit(
        "409 Conflict",
        r#"{"code":"already_exists","msg":"room already exists"}"#,
    )
    .await;
    streaming_at(&url).create_room("show-9").await.unwrap();
}

#[tokio::test]
async fn create_room_fails_as_unavailable_when_livekit_refuses_or_is_down() {
    let (url, _requests) = fake_livekit(
        "401 Unauthorized",
        r#"{"code":"unauthenticated","msg":"invalid token"}"#,
    )
    .await;
    let err = streaming_at(&url).create_room("show-9").await.unwrap_err();
    assert_eq!(err.code(), "streaming_unavailable");
    assert_eq!(err.status(), 503);

    // Nothing listens on port 1.
    let err = streaming_at("http://127.0.0.1:1")
        .create_room("show-9")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "streaming_unavailable");
}

#[test]
fn a_replayed_or_old_webhook_is_not_taken_twice() {
    let streaming = streaming();
    let body = webhook_body();
    let sig = signature(&body, KEY, SECRET);
    assert!(
        !streaming
            .verify_webhook(&body, Some(&sig))
            .unwrap()
            .duplicate
    );
    // The same delivery again, and through a clone of the integration.
    assert!(
        streaming
            .verify_webhook(&body, Some(&sig))
            .unwrap()
            .duplicate
    );
    assert!(
        streaming
            .clone()
            .verify_webhook(&body, Some(&sig))
            .unwrap()
            .duplicate
    );
    // Signed now, but created long ago (or with no time at all).
    let old = (chrono::Utc::now().timestamp() - super::WEBHOOK_WINDOW_SECS - 1).to_string();
    for created in [json!(old), json!(null)] {
        let body = json!({"event": "room_started", "room": {"name": "show-1"},
                          "id": "EV_old", "createdAt": created})
        .to_string();
        let err = streaming
            .verify_webhook(&body, Some(&signature(&body, KEY, SECRET)))
            .unwrap_err();
        assert_eq!(err.code(), "invalid_signature");
    }
}
