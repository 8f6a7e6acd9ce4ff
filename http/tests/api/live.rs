//! Live auctions end to end on a real port: a seller over REST, bidders and
//! watchers over WebSocket.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auctions::{command, create_auction};
use crate::helpers::spawn_app;
use crate::ws_client::WsClient;

/// Every frame a watcher saw until `auction.ended`, after its snapshot.
async fn watch_until_ended(watcher: &mut WsClient) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = watcher.recv().await;
        // Presence and chat share the room; only auction events carry a seq.
        if !frame["type"].as_str().unwrap_or("").starts_with("auction.") {
            continue;
        }
        let done = frame["type"] == "auction.ended";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn assert_gapless(snapshot_seq: u64, frames: &[Value]) {
    for (expected, frame) in (snapshot_seq + 1..).zip(frames) {
        let seq = frame["seq"].as_u64().expect("every room frame has a seq");
        assert_eq!(seq, expected, "gap or repeat in seq: {frames:#?}");
        assert!(frame["server_time"].is_string());
    }
}

#[actix_web::test]
async fn proxy_war_tie_anti_snipe_and_reserve_not_met() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;

    // Every bid lands inside the anti-snipe window, so every bid extends.
    let auction = create_auction(
        &app,
        &seller,
        json!({"reserve_price": 10_000, "duration_ms": 3_000,
               "snipe_window_ms": 3_000, "snipe_extend_to_ms": 3_000}),
    )
    .await;
    let id = auction["id"].as_str().unwrap().to_owned();
    let room = format!("auction:{id}");

    let mut watcher = WsClient::connect(&app, None).await;
    let subscribed = watcher.subscribe(&room).await;
    assert_eq!(subscribed["snapshot"]["status"], "scheduled");
    let snapshot_seq = subscribed["snapshot"]["seq"].as_u64().unwrap();

    let mut ann_ws = WsClient::connect(&app, Some(&ann.access_token)).await;
    let mut bob_ws = WsClient::connect(&app, Some(&bob.access_token)).await;

    // A watcher cannot bid.
    let refused = watcher.bid(&id, 1000, None).await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "not_authenticated");

    let res = command(&app, &seller, &id, "start").await;
    assert_eq!(res.status(), StatusCode::OK);
    let started: Value = res.json().await.unwrap();
    let first_deadline = started["ends_at"].as_str().unwrap().to_owned();

    // Ann opens with a hidden maximum of 50.00.
    let reply = ann_ws.bid(&id, 1_000, Some(5_000)).await;
    assert_eq!(reply["type"], "bid.accepted", "{reply}");
    assert_eq!(reply["leading"], true);
    assert_eq!(reply["auction"]["current_price"], 1_000);

    // Bob's proxy war: his maximum 40.00 loses to Ann's; her proxy answers
    // at 40.00 + one increment (1.00).
    let reply = bob_ws.bid(&id, 2_000, Some(4_000)).await;
    assert_eq!(reply["type"], "bid.accepted", "{reply}");
    assert_eq!(reply["leading"], false);
    assert_eq!(reply["auction"]["current_price"], 4_100);
    assert_eq!(reply["auction"]["leader_id"], ann.id.as_str());

    // A tie at 50.00: the earlier maximum wins, at exactly 50.00.
    let reply = bob_ws.bid(&id, 4_200, Some(5_000)).await;
    assert_eq!(reply["leading"], false, "{reply}");
    assert_eq!(reply["auction"]["current_price"], 5_000);
    assert_eq!(reply["auction"]["leader_id"], ann.id.as_str());

    // Too low now: the minimum comes back in the details.
    let reply = bob_ws.bid(&id, 5_000, None).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "bid_too_low");
    assert_eq!(reply["details"]["min_bid"], 5_100);

    let frames = watch_until_ended(&mut watcher).await;
    assert_gapless(snapshot_seq, &frames);

    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "auction.started");
    let bids: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "auction.bid")
        .collect();
    let amounts: Vec<i64> = bids.iter().map(|f| f["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [1_000, 2_000, 4_100, 4_200, 5_000], "{kinds:?}");
    let automatic: Vec<bool> = bids.iter().map(|f| f["automatic"] == true).collect();
    assert_eq!(automatic, [false, false, true, false, true]);

    // Anti-snipe: the deadline moved, and the watcher saw it.
    let extended: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "auction.extended")
        .collect();
    assert!(!extended.is_empty(), "{kinds:?}");
    let last_deadline = extended.last().unwrap()["ends_at"].as_str().unwrap();
    assert!(
        last_deadline > first_deadline.as_str(),
        "{last_deadline} <= {first_deadline}"
    );

    // Reserve not met: no winner.
    let ended = frames.last().unwrap();
    assert!(ended["winner_id"].is_null(), "{ended}");
    assert_eq!(ended["reserve_met"], false);

    let view: Value = app
        .get(&format!("/api/v1/auctions/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "ended");
    assert_eq!(view["reserve_met"], false);
}

#[actix_web::test]
async fn buy_now_ends_the_auction_for_everyone() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;

    let auction = create_auction(&app, &seller, json!({"buy_now_price": 9_000})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    assert_eq!(auction["buy_now_price"], 9_000);

    let mut watcher = WsClient::connect(&app, None).await;
    let subscribed = watcher.subscribe(&format!("auction:{id}")).await;
    let snapshot_seq = subscribed["snapshot"]["seq"].as_u64().unwrap();
    assert_eq!(
        command(&app, &seller, &id, "start").await.status(),
        StatusCode::OK
    );

    let res = app
        .post_json(
            &format!("/api/v1/auctions/{id}/buy-now"),
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["status"], "ended");

    let frames = watch_until_ended(&mut watcher).await;
    assert_gapless(snapshot_seq, &frames);
    let ended = frames.last().unwrap();
    assert_eq!(ended["winner_id"], buyer.id.as_str());
    assert_eq!(ended["final_price"], 9_000);
}

#[actix_web::test]
async fn a_stalled_client_does_not_hold_up_bids_or_other_viewers() {
    use tokio::net::TcpSocket;

    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let auction = create_auction(&app, &seller, json!({"duration_ms": 600_000})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    let room = format!("auction:{id}");

    // A client with a tiny receive buffer that subscribes and never reads again.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let url = format!("ws://{addr}/ws");
    let (mut stalled, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    use futures_util::SinkExt;
    stalled
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({"type": "subscribe", "room": room})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();

    let mut watcher = WsClient::connect(&app, None).await;
    let snapshot_seq = watcher.subscribe(&room).await["snapshot"]["seq"]
        .as_u64()
        .unwrap();
    assert_eq!(
        command(&app, &seller, &id, "start").await.status(),
        StatusCode::OK
    );

    // Many bids, each acknowledged, while the stalled client reads nothing.
    let bob = app.register("bob@example.com", "buyer").await;
    let mut ann_ws = WsClient::connect(&app, Some(&ann.access_token)).await;
    let mut bob_ws = WsClient::connect(&app, Some(&bob.access_token)).await;
    let mut next = 1_000;
    for round in 0..400 {
        let bidder = if round % 2 == 0 {
            &mut ann_ws
        } else {
            &mut bob_ws
        };
        let reply = bidder.bid(&id, next, None).await;
        assert_eq!(reply["type"], "bid.accepted", "{reply}");
        next = reply["auction"]["min_next_bid"].as_i64().unwrap();
    }

    // The other viewer saw every event, in order.
    let end = command(&app, &seller, &id, "end").await;
    assert_eq!(end.status(), StatusCode::OK);
    let frames = watch_until_ended(&mut watcher).await;
    assert_gapless(snapshot_seq, &frames);
    drop(stalled);
}
