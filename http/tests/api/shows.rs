//! Shows: the lot queue, the show room, chat, moderation and presence.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auctions::command;
use crate::helpers::{TestApp, TestUser, error_code, spawn_app};
use crate::ws_client::WsClient;

async fn create_show(app: &TestApp, seller: &TestUser) -> String {
    let res = app
        .post_json(
            "/api/v1/shows",
            &json!({"title": "Friday vinyl", "description": "Records", "scheduled_at": "2026-12-01T18:00:00Z"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let show: Value = res.json().await.unwrap();
    assert_eq!(show["status"], "scheduled");
    show["id"].as_str().unwrap().to_owned()
}

async fn show_post(
    app: &TestApp,
    user: &TestUser,
    show: &str,
    action: &str,
    body: Value,
) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/shows/{show}/{action}"),
        &body,
        Some(&user.access_token),
    )
    .await
}

async fn add_lot(app: &TestApp, seller: &TestUser, show: &str) -> String {
    let product = app.create_product(seller).await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "show_id": show, "currency": "USD",
                    "start_price": 100, "duration_ms": 60_000}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let auction: Value = res.json().await.unwrap();
    assert_eq!(auction["show_id"], show);
    auction["id"].as_str().unwrap().to_owned()
}

/// The next frame of one of `types`, skipping the others (e.g. presence).
async fn next_of(ws: &mut WsClient, types: &[&str]) -> Value {
    loop {
        let frame = ws.recv().await;
        if types.iter().any(|t| frame["type"] == *t) {
            return frame;
        }
    }
}

#[actix_web::test]
async fn three_queued_lots_run_in_order_and_the_show_room_sees_them_all() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let show = create_show(&app, &seller).await;
    let lots = [
        add_lot(&app, &seller, &show).await,
        add_lot(&app, &seller, &show).await,
        add_lot(&app, &seller, &show).await,
    ];
    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["lots"], json!(lots));

    // Not live yet: no lot can start.
    let res = show_post(&app, &seller, &show, "next", json!({})).await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "show_not_live");
    // A buyer cannot run the show.
    let res = show_post(&app, &buyer, &show, "go-live", json!({})).await;
    error_code(res, StatusCode::FORBIDDEN).await;

    // Reorder before the start: third, first, second.
    let order = [lots[2].clone(), lots[0].clone(), lots[1].clone()];
    let res = app
        .client
        .put(app.url(&format!("/api/v1/shows/{show}/queue")))
        .bearer_auth(&seller.access_token)
        .json(&json!({"auction_ids": order}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let reordered: Value = res.json().await.unwrap();
    assert_eq!(reordered["lots"], json!(order));
    let res = app
        .client
        .put(app.url(&format!("/api/v1/shows/{show}/queue")))
        .bearer_auth(&seller.access_token)
        .json(&json!({"auction_ids": [lots[0]]}))
        .send()
        .await
        .unwrap();
    error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    let mut watcher = WsClient::connect(&app, None).await;
    let subscribed = watcher.subscribe(&format!("show:{show}")).await;
    assert_eq!(
        subscribed["snapshot"]["auctions"].as_array().unwrap().len(),
        3
    );

    let res = show_post(&app, &seller, &show, "go-live", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut bidder = WsClient::connect(&app, Some(&buyer.access_token)).await;
    for lot in &order {
        let res = show_post(&app, &seller, &show, "next", json!({})).await;
        assert_eq!(res.status(), StatusCode::OK);
        let started: Value = res.json().await.unwrap();
        assert_eq!(&started["id"], lot);
        assert_eq!(started["status"], "live");

        // One lot at a time.
        let res = show_post(&app, &seller, &show, "next", json!({})).await;
        let (code, _) = error_code(res, StatusCode::CONFLICT).await;
        assert_eq!(code, "lot_in_progress");

        let reply = bidder.bid(lot, 100, None).await;
        assert_eq!(reply["type"], "bid.accepted", "{reply}");
        assert_eq!(
            command(&app, &seller, lot, "end").await.status(),
            StatusCode::OK
        );

        // The show's watcher sees this lot's events, in order, gapless.
        let kinds = ["auction.started", "auction.bid", "auction.ended"];
        let mut last_seq = None;
        for kind in kinds {
            let frame = next_of(
                &mut watcher,
                &["auction.started", "auction.bid", "auction.ended"],
            )
            .await;
            assert_eq!(frame["type"], kind, "{frame}");
            assert_eq!(&frame["auction_id"], lot);
            let seq = frame["seq"].as_u64().unwrap();
            if let Some(last) = last_seq {
                assert_eq!(seq, last + 1);
            }
            last_seq = Some(seq);
        }
    }
    let res = show_post(&app, &seller, &show, "next", json!({})).await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "queue_empty");

    // A lot added later can be taken out before it starts: its auction is cancelled.
    let extra = add_lot(&app, &seller, &show).await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/shows/{show}/queue/{extra}")))
        .bearer_auth(&seller.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let after: Value = res.json().await.unwrap();
    assert!(!after["lots"].as_array().unwrap().contains(&json!(extra)));
    let view: Value = app
        .get(&format!("/api/v1/auctions/{extra}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "cancelled");

    let res = show_post(&app, &seller, &show, "end", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let live: Value = app
        .get("/api/v1/shows?status=ended", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(live["items"][0]["id"], show.as_str());
}

#[actix_web::test]
async fn a_burst_of_chat_reaches_watchers_in_order_in_batch_frames() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = create_show(&app, &seller).await;
    let room = format!("show:{show}");
    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&room).await;
    let mut chatters = Vec::new();
    for name in ["ann", "bob", "cat"] {
        let user = app.register(&format!("{name}@example.com"), "buyer").await;
        chatters.push(WsClient::connect(&app, Some(&user.access_token)).await);
    }

    // Back to back, within the per-user burst: all but the first share batches.
    let mut seen = Vec::new();
    let mut sent = Vec::new();
    for n in 0..4 {
        for chatter in &mut chatters {
            let text = format!("burst {n}/{}", sent.len());
            let reply = chatter
                .request(
                    json!({"type": "chat", "room": room, "text": text}),
                    &mut seen,
                )
                .await;
            assert_eq!(reply["type"], "chat.accepted", "{reply}");
            sent.push(text);
        }
    }
    for text in &sent {
        let frame = next_of(&mut watcher, &["chat.message"]).await;
        assert_eq!(frame["message"]["text"], text.as_str());
        assert_eq!(frame["room"], room.as_str());
    }
    assert!(
        watcher.chat_batches >= 1,
        "no chat.batch frame for {} messages",
        sent.len()
    );
}

#[actix_web::test]
async fn chat_moderation_presence_and_history() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;
    let show = create_show(&app, &seller).await;
    let room = format!("show:{show}");

    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&room).await;
    let mut ann_ws = WsClient::connect(&app, Some(&ann.access_token)).await;
    ann_ws.subscribe(&room).await;
    let mut bob_ws = WsClient::connect(&app, Some(&bob.access_token)).await;
    bob_ws.subscribe(&room).await;
    let mut seller_ws = WsClient::connect(&app, Some(&seller.access_token)).await;

    // Presence: coalesced updates with the connection count.
    loop {
        let presence = next_of(&mut watcher, &["presence"]).await;
        if presence["connections"] == 3 {
            assert_eq!(presence["viewers"], 2, "{presence}");
            break;
        }
    }

    let mut seen = Vec::new();
    let chat = |text: &str| json!({"type": "chat", "room": room, "text": text});

    // Messages arrive in order, trimmed.
    let reply = ann_ws.request(chat("  hello  "), &mut seen).await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
    assert_eq!(reply["message"]["text"], "hello");
    assert_eq!(reply["message"]["display_name"], "Tester");
    let hello_id = reply["message"]["id"].as_str().unwrap().to_owned();
    let reply = bob_ws.request(chat("hi ann"), &mut seen).await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
    let first = next_of(&mut watcher, &["chat.message"]).await;
    let second = next_of(&mut watcher, &["chat.message"]).await;
    assert_eq!(first["message"]["text"], "hello");
    assert_eq!(first["room"], room.as_str());
    assert_eq!(second["message"]["text"], "hi ann");

    // Empty and over-long text, and anonymous writers, are refused.
    let reply = ann_ws.request(chat(" \n "), &mut seen).await;
    assert_eq!(reply["code"], "empty_message");
    let reply = ann_ws.request(chat(&"x".repeat(501)), &mut seen).await;
    assert_eq!(reply["code"], "message_too_long");
    assert_eq!(reply["details"]["max_chars"], 500);
    let reply = watcher.request(chat("hi"), &mut seen).await;
    assert_eq!(reply["code"], "not_authenticated");

    // Slow mode, set by the seller: a second message too soon is refused with the wait.
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderation",
        json!({"action": "slow_mode", "seconds": 30}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let reply = bob_ws.request(chat("slow?"), &mut seen).await;
    assert_eq!(reply["code"], "rate_limited", "{reply}");
    assert_eq!(reply["details"]["reason"], "slow_mode");
    assert!(reply["details"]["retry_after_secs"].as_u64().unwrap() > 0);
    // The seller is exempt.
    for text in ["one", "two"] {
        let reply = seller_ws.request(chat(text), &mut seen).await;
        assert_eq!(reply["type"], "chat.accepted", "{reply}");
    }
    // A buyer cannot moderate.
    let res = show_post(
        &app,
        &ann,
        &show,
        "moderation",
        json!({"action": "slow_mode", "seconds": 0}),
    )
    .await;
    error_code(res, StatusCode::FORBIDDEN).await;
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderation",
        json!({"action": "slow_mode", "seconds": 0}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // The per-user rate: a burst ends in rate_limited with the wait.
    let mut limited = None;
    for n in 0..10 {
        let reply = bob_ws.request(chat(&format!("spam {n}")), &mut seen).await;
        if reply["type"] == "error" {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("a burst is rate limited");
    assert_eq!(limited["code"], "rate_limited");
    assert_eq!(limited["details"]["reason"], "rate");

    // Mute over WebSocket by the seller: bob is refused until unmuted.
    let reply = seller_ws
        .request(
            json!({"type": "moderate", "room": room, "action": "mute", "user_id": bob.id}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "moderated", "{reply}");
    let reply = bob_ws.request(chat("can you hear me"), &mut seen).await;
    assert_eq!(reply["code"], "muted");
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderation",
        json!({"action": "unmute", "user_id": bob.id}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // A moderator appointed by the seller may delete a message: everyone sees chat.deleted.
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderators",
        json!({"user_id": ann.id}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = show_post(
        &app,
        &ann,
        &show,
        "moderation",
        json!({"action": "delete_message", "message_id": hello_id}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let deleted = next_of(&mut watcher, &["chat.deleted"]).await;
    assert_eq!(deleted["message_id"], hello_id.as_str());
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderation",
        json!({"action": "delete_message", "message_id": uuid::Uuid::now_v7()}),
    )
    .await;
    error_code(res, StatusCode::NOT_FOUND).await;
    let res = show_post(
        &app,
        &seller,
        &show,
        "moderation",
        json!({"action": "mute"}),
    )
    .await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "user_id");

    // History pages back, newest first, without the deleted message.
    let mut texts = Vec::new();
    for _ in 0..50 {
        texts.clear();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/shows/{show}/chat?limit=2");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = app.get(&url, None).await.json().await.unwrap();
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            texts.extend(items.iter().map(|m| m["text"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if texts.len() >= 4 && !texts.iter().any(|t| t == "hello") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!texts.contains(&"hello".to_owned()), "{texts:?}");
    let two = texts.iter().position(|t| t == "two").unwrap();
    let one = texts.iter().position(|t| t == "one").unwrap();
    let hi = texts.iter().position(|t| t == "hi ann").unwrap();
    assert!(two < one && one < hi, "newest first: {texts:?}");
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), texts.len(), "no duplicates across pages");
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[actix_web::test]
async fn video_tokens_let_only_the_seller_publish() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.livekit_url = Some("wss://video.example.com".into());
        config.livekit_api_key = Some("APIkey123".into());
        config.livekit_api_secret = Some(secrecy::SecretString::from(
            "livekit-secret-0123456789abcdef0123",
        ));
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let viewer = app.register("viewer@example.com", "buyer").await;
    let show = create_show(&app, &seller).await;

    let res = show_post(&app, &seller, &show, "token", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["url"], "wss://video.example.com");
    let claims = jwt_claims(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], seller.id.as_str());
    assert_eq!(claims["video"]["room"], format!("show-{show}"));
    assert_eq!(claims["video"]["canPublish"], true);

    let res = show_post(&app, &viewer, &show, "token", json!({})).await;
    let body: Value = res.json().await.unwrap();
    let claims = jwt_claims(body["token"].as_str().unwrap());
    assert_eq!(claims["sub"], viewer.id.as_str());
    assert_eq!(claims["video"]["canSubscribe"], true);
    assert_ne!(claims["video"]["canPublish"], true);
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
}

#[actix_web::test]
async fn without_livekit_video_answers_503_and_everything_else_works() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = create_show(&app, &seller).await;
    let res = show_post(&app, &seller, &show, "token", json!({})).await;
    let (code, _) = error_code(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(code, "streaming_not_configured");
    let res = show_post(&app, &seller, &show, "go-live", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
}
