//! A show's stream state follows LiveKit's webhooks; tokens follow the show.

use blytz::Config;
use blytz::Db;
use blytz::ids::{ShowId, UserId};
use blytz::streaming::{StreamEvent, Streaming, apply_event};
use blytz::with_db;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::backends;

const SECRET: &str = "store-suite-livekit-secret-0123456789";

async fn insert_user(db: &Db, role: &str) -> UserId {
    let id = UserId::new();
    let now = blytz::time::now();
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
             VALUES ($1, $2, 'x', 'Someone', $3, $4, $4)",
        )
        .bind(Uuid::from(id))
        .bind(format!("{}@example.com", Uuid::now_v7().simple()))
        .bind(role)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .unwrap();
    id
}

/// A show of `seller` in `status` whose LiveKit room is `room`.
async fn insert_show(db: &Db, seller: UserId, status: &str, room: &str) -> ShowId {
    let id = ShowId::new();
    let now = blytz::time::now();
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO shows (id, seller_id, title, description, status, scheduled_at, \
             livekit_room, created_at, updated_at) \
             VALUES ($1, $2, 'Sneaker night', 'Rare pairs', $3, $4, $5, $4, $4)",
        )
        .bind(Uuid::from(id))
        .bind(Uuid::from(seller))
        .bind(status)
        .bind(now)
        .bind(room)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .unwrap();
    id
}

async fn stream_state(db: &Db, show: ShowId) -> (String, i32) {
    with_db!(db, pool => {
        sqlx::query_as("SELECT stream_status, stream_participants FROM shows WHERE id = $1")
            .bind(Uuid::from(show))
            .fetch_one(pool)
            .await
    })
    .unwrap()
}

fn event(name: &str, room: Option<&str>, participants: Option<u32>) -> StreamEvent {
    StreamEvent {
        duplicate: false,
        event: name.into(),
        room: room.map(str::to_owned),
        participants,
    }
}

#[tokio::test]
async fn webhook_events_move_the_stream_state_of_the_matching_show() {
    for scratch in backends().await {
        let db = &scratch.db;
        let seller = insert_user(db, "seller").await;
        let show = insert_show(db, seller, "live", "show-room-a").await;
        let other = insert_show(db, seller, "scheduled", "show-room-b").await;
        assert_eq!(stream_state(db, show).await, ("idle".into(), 0));

        let room = Some("show-room-a");
        assert!(
            apply_event(db, &event("room_started", room, Some(0)))
                .await
                .unwrap()
        );
        assert_eq!(stream_state(db, show).await, ("live".into(), 0));

        assert!(
            apply_event(db, &event("participant_joined", room, Some(2)))
                .await
                .unwrap()
        );
        assert_eq!(stream_state(db, show).await, ("live".into(), 2));

        // A participant event without a count matches but keeps the count.
        assert!(
            apply_event(db, &event("participant_left", room, None))
                .await
                .unwrap()
        );
        assert_eq!(stream_state(db, show).await, ("live".into(), 2));
        assert!(
            apply_event(db, &event("participant_left", room, Some(1)))
                .await
                .unwrap()
        );
        assert_eq!(stream_state(db, show).await, ("live".into(), 1));

        assert!(
            apply_event(db, &event("room_finished", room, Some(1)))
                .await
                .unwrap()
        );
        assert_eq!(stream_state(db, show).await, ("finished".into(), 0));

        // Unknown rooms, events without a room and unknown events change nothing.
        for ignored in [
            event("room_started", Some("no-such-room"), None),
            event("room_started", None, None),
            event("track_published", room, Some(9)),
        ] {
            assert!(!apply_event(db, &ignored).await.unwrap(), "{ignored:?}");
        }
        assert_eq!(stream_state(db, show).await, ("finished".into(), 0));
        assert_eq!(stream_state(db, other).await, ("idle".into(), 0));
    }
}

fn streaming() -> Streaming {
    let config = Config {
        livekit_url: Some("wss://video.example.com".into()),
        livekit_api_key: Some("APIstore".into()),
        livekit_api_secret: Some(SecretString::from(SECRET)),
        ..Config::default()
    };
    Streaming::from_config(&config).unwrap().unwrap()
}

fn video_grant(token: &str) -> Value {
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
    .unwrap()
    .claims;
    claims["video"].clone()
}

#[tokio::test]
async fn only_the_seller_of_a_show_gets_a_token_that_may_publish() {
    let streaming = streaming();
    for scratch in backends().await {
        let db = &scratch.db;
        let seller = insert_user(db, "seller").await;
        let viewer = insert_user(db, "buyer").await;
        let admin = insert_user(db, "admin").await;
        let show = insert_show(db, seller, "scheduled", "show-room-c").await;

        let token = streaming
            .show_token(db, show, seller, "Sam", false)
            .await
            .unwrap();
        assert_eq!(token.url, "wss://video.example.com");
        let video = video_grant(&token.token);
        assert_eq!(video["room"], "show-room-c");
        assert_eq!(video["canPublish"], true);

        for (user, is_admin) in [(viewer, false), (admin, true)] {
            let token = streaming
                .show_token(db, show, user, "Vic", is_admin)
                .await
                .unwrap();
            let video = video_grant(&token.token);
            assert_eq!(video["room"], "show-room-c");
            assert_eq!(video["roomJoin"], true);
            assert_eq!(video["canSubscribe"], true);
            assert_eq!(video["canPublish"], false);
        }

        let err = streaming
            .show_token(db, ShowId::new(), viewer, "Vic", false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");

        let ended = insert_show(db, seller, "ended", "show-room-d").await;
        let err = streaming
            .show_token(db, ended, seller, "Sam", false)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "show_ended");
        assert_eq!(err.code().status(), 409, "a conflict");
    }
}
