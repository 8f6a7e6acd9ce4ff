//! `POST /api/v1/webhooks/livekit`: signed by LiveKit, or refused.

use base64::Engine;
use blytz::with_db;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, spawn_app, spawn_app_with};

const KEY: &str = "APIlivekittest";
const SECRET: &str = "livekit-api-test-secret-0123456789abcdef";
const PATH: &str = "/api/v1/webhooks/livekit";

async fn spawn_with_livekit() -> TestApp {
    spawn_app_with(|config| {
        config.livekit_url = Some("wss://video.example.com".into());
        config.livekit_api_key = Some(KEY.into());
        config.livekit_api_secret = Some(SecretString::from(SECRET));
    })
    .await
}

/// The `Authorization` value LiveKit sends: a JWT issued by the API key and
/// signed with the API secret, whose `sha256` claim is the body's base64 SHA-256.
fn signed(body: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": KEY, "nbf": now, "exp": now + 600, "sha256": sha256}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn event(name: &str, room: &str, participants: u32) -> String {
    json!({
        "event": name,
        "room": {"sid": "RM_test", "name": room, "numParticipants": participants},
        "id": format!("EV_{}", Uuid::now_v7().simple()),
        "createdAt": chrono::Utc::now().timestamp().to_string(),
    })
    .to_string()
}

async fn post(app: &TestApp, body: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(PATH))
        .header("content-type", "application/webhook+json")
        .body(body.to_owned());
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await.unwrap()
}

/// A show of a new seller whose LiveKit room is `room`.
async fn insert_show(app: &TestApp, room: &str) -> Uuid {
    let email = format!("{}@example.com", Uuid::now_v7().simple());
    let seller = app.register(&email, "seller").await;
    let seller_id: Uuid = seller.id.parse().unwrap();
    let id = Uuid::now_v7();
    let now = blytz::time::now();
    with_db!(&app.state.db, pool => {
        sqlx::query(
            "INSERT INTO shows (id, seller_id, title, description, status, scheduled_at, \
             livekit_room, created_at, updated_at) \
             VALUES ($1, $2, 'Card breaks', 'Live', 'live', $3, $4, $3, $3)",
        )
        .bind(id)
        .bind(seller_id)
        .bind(now)
        .bind(room)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .unwrap();
    id
}

async fn stream_state(app: &TestApp, show: Uuid) -> (String, i32) {
    with_db!(&app.state.db, pool => {
        sqlx::query_as("SELECT stream_status, stream_participants FROM shows WHERE id = $1")
            .bind(show)
            .fetch_one(pool)
            .await
    })
    .unwrap()
}

#[actix_web::test]
async fn a_webhook_with_a_bad_signature_is_refused_and_changes_nothing() {
    let app = spawn_with_livekit().await;
    let show = insert_show(&app, "show-bad-sig").await;
    let body = event("participant_joined", "show-bad-sig", 5);

    let wrong_secret = signed(&body, "not-the-livekit-secret-0123456789abcdef");
    let other_body = signed(&event("participant_joined", "show-bad-sig", 1), SECRET);
    for authorization in [
        Some(wrong_secret.as_str()),
        Some(other_body.as_str()),
        Some("garbage"),
        None,
    ] {
        let (code, _) = error_code(
            post(&app, &body, authorization).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(code, "invalid_signature");
    }
    assert_eq!(stream_state(&app, show).await, ("idle".into(), 0));
}

#[actix_web::test]
async fn a_signed_webhook_updates_the_show_of_its_room() {
    let app = spawn_with_livekit().await;
    let show = insert_show(&app, "show-signed").await;

    let body = event("participant_joined", "show-signed", 4);
    let res = post(&app, &body, Some(&signed(&body, SECRET))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer, json!({"applied": true}));
    assert_eq!(stream_state(&app, show).await, ("idle".into(), 4));

    let body = event("room_started", "show-signed", 4);
    let res = post(&app, &body, Some(&signed(&body, SECRET))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stream_state(&app, show).await, ("live".into(), 4));

    // A room that is no show's is accepted but applies to nothing.
    let body = event("room_started", "not-a-show", 0);
    let res = post(&app, &body, Some(&signed(&body, SECRET))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer, json!({"applied": false}));
}

#[actix_web::test]
async fn without_livekit_settings_the_webhook_is_unavailable() {
    let app = spawn_app().await;
    let body = event("room_started", "any", 0);
    let (code, _) = error_code(
        post(&app, &body, Some(&signed(&body, SECRET))).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "streaming_not_configured");
}

#[actix_web::test]
async fn a_replayed_webhook_changes_the_show_once_and_an_old_one_is_refused() {
    let app = spawn_with_livekit().await;
    let show = insert_show(&app, "show-replay").await;
    let joined = event("participant_joined", "show-replay", 4);
    let joined_sig = signed(&joined, SECRET);
    let res = post(&app, &joined, Some(&joined_sig)).await;
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"applied": true}));
    let left = event("participant_left", "show-replay", 3);
    let res = post(&app, &left, Some(&signed(&left, SECRET))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stream_state(&app, show).await, ("idle".into(), 3));

    // The first event replayed: acknowledged, applied to nothing.
    let res = post(&app, &joined, Some(&joined_sig)).await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"applied": false})
    );
    assert_eq!(stream_state(&app, show).await, ("idle".into(), 3));

    // An event created more than five minutes ago, freshly signed.
    let old = json!({
        "event": "room_finished",
        "room": {"sid": "RM_test", "name": "show-replay"},
        "id": format!("EV_{}", Uuid::now_v7().simple()),
        "createdAt": (chrono::Utc::now().timestamp() - 301).to_string(),
    })
    .to_string();
    let (code, _) = error_code(
        post(&app, &old, Some(&signed(&old, SECRET))).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_signature");
    assert_eq!(stream_state(&app, show).await, ("idle".into(), 3));
}
