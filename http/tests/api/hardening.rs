//! What an anonymous client on the internet can make the server do: rooms,
//! connections, message floods, and what reaches the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::auctions::create_auction;
use crate::helpers::{eventually, eventually_some, spawn_app, spawn_app_with};
use crate::server_process::ServerProcess;
use crate::ws_client::WsClient;

fn random_room(n: usize) -> String {
    let kind = if n.is_multiple_of(2) {
        "auction"
    } else {
        "show"
    };
    format!("{kind}:{}", uuid::Uuid::now_v7())
}

#[actix_web::test]
async fn subscribing_to_rooms_that_do_not_exist_leaves_nothing_behind() {
    let app = spawn_app().await;
    let mut ws = WsClient::connect(&app, None).await;
    let mut seen = Vec::new();
    for n in 0..200 {
        let reply = ws
            .request(
                json!({"type": "subscribe", "room": random_room(n)}),
                &mut seen,
            )
            .await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], "not_found", "{reply}");
    }
    let engine = app.state.auctions.engine();
    assert_eq!(engine.rooms().len(), 0, "no room for what does not exist");
    assert_eq!(app.state.shows.chat().len(), 0, "no chat room either");

    // A room that exists goes with its last subscriber, with no publish.
    let seller = app.register("seller@example.com", "seller").await;
    let auction = create_auction(&app, &seller, json!({})).await;
    let room = format!("auction:{}", auction["id"].as_str().unwrap());
    ws.subscribe(&room).await;
    assert_eq!(engine.rooms().len(), 1);
    let reply = ws
        .request(json!({"type": "unsubscribe", "room": room}), &mut seen)
        .await;
    assert_eq!(reply["type"], "unsubscribed");
    assert_eq!(engine.rooms().len(), 0);
    ws.subscribe(&room).await;
    drop(ws);
    eventually("the room to go with its last socket", async || {
        engine.rooms().is_empty()
    })
    .await;
}

#[actix_web::test]
async fn a_connection_has_bounded_rooms_requests_and_messages() {
    let app = spawn_app_with(|config| {
        config.ws_rooms_per_connection = 2;
        config.ws_messages_per_sec = 5;
        config.ws_message_burst = 5;
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let mut rooms = Vec::new();
    for _ in 0..3 {
        let auction = create_auction(&app, &seller, json!({})).await;
        rooms.push(format!("auction:{}", auction["id"].as_str().unwrap()));
    }
    let mut ws = WsClient::connect(&app, None).await;
    let mut seen = Vec::new();
    ws.subscribe(&rooms[0]).await;
    ws.subscribe(&rooms[1]).await;
    // Subscribing again to a room it is in does not count twice.
    ws.subscribe(&rooms[1]).await;
    let reply = ws
        .request(json!({"type": "subscribe", "room": rooms[2]}), &mut seen)
        .await;
    assert_eq!(reply["code"], "too_many_rooms", "{reply}");
    assert_eq!(reply["details"]["max_rooms"], 2);
    ws.request(json!({"type": "unsubscribe", "room": rooms[0]}), &mut seen)
        .await;
    // The message rate: a burst of pings ends in rate_limited.
    tokio::time::sleep(Duration::from_secs(2)).await;
    ws.subscribe(&rooms[2]).await;
    for n in 0..20 {
        ws.send(json!({"type": "ping", "id": format!("p{n}")}))
            .await;
    }
    let mut limited = 0;
    for _ in 0..20 {
        let reply = ws.recv().await;
        if reply["type"] == "error" {
            assert_eq!(reply["code"], "rate_limited", "{reply}");
            assert_eq!(reply["details"]["reason"], "messages");
            limited += 1;
        }
    }
    assert!(limited >= 10, "{limited} of 20 refused");

    // Requests in flight: a connection that sends without waiting is
    // refused beyond its share, and is answered for every message.
    let app = spawn_app_with(|config| config.ws_in_flight_per_connection = 1).await;
    let mut ws = WsClient::connect(&app, None).await;
    for n in 0..50 {
        ws.send(json!({"type": "subscribe", "id": n.to_string(), "room": random_room(n)}))
            .await;
    }
    let mut busy = 0;
    for _ in 0..50 {
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "error", "{reply}");
        if reply["code"] == "rate_limited" {
            assert_eq!(reply["details"]["reason"], "in_flight");
            busy += 1;
        } else {
            assert_eq!(reply["code"], "not_found", "{reply}");
        }
    }
    assert!(busy > 0, "no request was refused for being in flight");
}

#[actix_web::test]
async fn connections_per_address_are_bounded() {
    let app = spawn_app_with(|config| config.ws_connections_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(WsClient::connect(&app, None).await);
    }
    let url = app.address.replacen("http://", "ws://", 1) + "/ws";
    match connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        other => panic!(
            "a fourth connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // A closed connection frees its place.
    drop(open.pop());
    eventually("the closed connection's place to be freed", async || {
        connect_async(&url).await.is_ok()
    })
    .await;
}

/// One anonymous socket sends `count` subscribes to random rooms, reading
/// replies (or not); answers how many were sent before the server closed it.
async fn flood(url: &str, count: usize, read: bool) -> usize {
    let (stream, _) = connect_async(url).await.unwrap();
    let (mut sink, mut source) = stream.split();
    let reader = read.then(|| {
        tokio::spawn(async move {
            let mut replies = 0usize;
            while let Ok(Some(Ok(message))) =
                tokio::time::timeout(Duration::from_secs(10), source.next()).await
            {
                if matches!(message, Message::Text(_)) {
                    replies += 1;
                }
            }
            replies
        })
    });
    let mut sent = 0;
    for n in 0..count {
        let text = json!({"type": "subscribe", "id": n, "room": random_room(n)}).to_string();
        if sink.send(Message::Text(text.into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    sink.close().await.ok();
    if let Some(reader) = reader {
        reader.abort();
    }
    sent
}

/// A client that reads the catalog and bids while the floods run: every
/// answer must come, and none may be an error.
async fn steady_client(
    server: &ServerProcess,
    auction: &str,
    bidders: [&str; 2],
    turn: &mut (usize, i64),
    done: &AtomicBool,
) -> usize {
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
        let started = Instant::now();
        let res = server.get("/api/v1/products", None).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        let res = server
            .post(
                &format!("/api/v1/auctions/{auction}/bids"),
                &json!({"amount": turn.1}),
                Some(bidders[turn.0 % 2]),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        turn.1 = body["auction"]["min_next_bid"].as_i64().unwrap();
        turn.0 += 1;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a read and a bid took {:?}",
            started.elapsed()
        );
        answered += 1;
    }
    answered
}

#[actix_web::test]
async fn floods_from_one_client_hold_no_memory_and_starve_no_one() {
    // The message rate is off, so every one of the subscribes is answered
    // and must still leave nothing behind.
    let server = ServerProcess::start(&[("BLYTZ_WS_MESSAGES_PER_SEC", "0")]).await;
    let seller = server.register("seller@example.com", "seller").await;
    let ann = server.register("ann@example.com", "buyer").await;
    let bob = server.register("bob@example.com", "buyer").await;
    let bidders = [ann.token.as_str(), bob.token.as_str()];
    let auction = server.live_auction(&seller, 600_000).await;
    let url = server.ws_url();

    // Warm up: the pools, a room, the allocator.
    let mut turn = (0, 1_000);
    flood(&url, 500, true).await;
    let warm = AtomicBool::new(false);
    let warming = steady_client(&server, &auction, bidders, &mut turn, &warm);
    let stop_warming = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        warm.store(true, Ordering::Relaxed);
    };
    futures_util::future::join(warming, stop_warming).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss();

    let done = AtomicBool::new(false);
    let steady = steady_client(&server, &auction, bidders, &mut turn, &done);
    let floods = async {
        let read = flood(&url, 10_000, true).await;
        let unread = flood(&url, 10_000, false).await;
        // A client that opens connections until it is refused.
        let mut open = Vec::new();
        let refused = loop {
            assert!(open.len() < 1_000, "connections were never refused");
            match connect_async(&url).await {
                Ok((mut ws, _)) => {
                    let text = json!({"type": "subscribe", "room": format!("auction:{auction}")});
                    ws.send(Message::Text(text.to_string().into())).await.ok();
                    open.push(ws);
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => break res.status(),
                Err(e) => panic!("connecting failed: {e}"),
            }
        };
        let connections = open.len();
        drop(open);
        done.store(true, Ordering::Relaxed);
        (read, unread, connections, refused)
    };
    let (steady, (read, unread, connections, refused)) =
        futures_util::future::join(steady, floods).await;
    assert_eq!(read, 10_000);
    assert!(unread > 0);
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        connections, 32,
        "the default number of connections per address"
    );
    assert!(steady > 0, "the steady client never got a turn");
    eprintln!(
        "steady client: {steady} reads and bids during the floods; {unread} unread subscribes sent"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss();
    let grown = after.saturating_sub(before);
    eprintln!("resident memory: {} -> {} KiB", before / 1024, after / 1024);
    assert!(
        grown < 10 * 1024 * 1024,
        "resident memory grew by {} KiB ({} -> {} KiB)",
        grown / 1024,
        before / 1024,
        after / 1024
    );
}

#[actix_web::test]
async fn an_access_token_never_reaches_the_log() {
    let server = ServerProcess::start(&[("RUST_LOG", "debug,sqlx=warn")]).await;
    let user = server.register("ann@example.com", "buyer").await;
    let token = user.token.clone();
    // A browser's socket with the token in the query.
    let (mut ws, _) = connect_async(format!("{}?token={token}", server.ws_url()))
        .await
        .unwrap();
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    ws.next().await;
    drop(ws);
    // The same URL without the upgrade headers: refused, and logged at WARN.
    let res = server.get(&format!("/ws?token={token}"), None).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    // A token in any other query, and a bad one.
    server
        .get(&format!("/api/v1/auth/profile?token={token}"), None)
        .await;
    server.get(&format!("/ws?token={token}x"), None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = server.log_text();
    assert!(log.contains("/ws"), "requests are logged: {log}");
    assert!(log.contains("WARN"), "the refused upgrade is logged: {log}");
    // A JWT's signature is its last part: none of it may appear.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "a token reached the log:\n{log}");
}

async fn new_show(app: &crate::helpers::TestApp, seller: &crate::helpers::TestUser) -> String {
    let res = app
        .post_json(
            "/api/v1/shows",
            &json!({"title": "Friday vinyl", "scheduled_at": "2026-12-01T18:00:00Z"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let show: Value = res.json().await.unwrap();
    show["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn the_seller_and_admins_cannot_be_moderated_and_a_ban_can_be_lifted() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let moderator = app.register("mod@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;
    let admin = app
        .state
        .accounts
        .create_admin("admin@example.com", "correct horse battery", "Admin")
        .await
        .unwrap();
    let show = new_show(&app, &seller).await;
    let moderation = format!("/api/v1/shows/{show}/moderation");
    let res = app
        .post_json(
            &format!("/api/v1/shows/{show}/moderators"),
            &json!({"user_id": moderator.id}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // A moderator can neither ban nor mute the seller or an admin.
    for target in [seller.id.clone(), admin.id.to_string()] {
        for action in ["ban", "mute"] {
            let res = app
                .post_json(
                    &moderation,
                    &json!({"action": action, "user_id": target}),
                    Some(&moderator.access_token),
                )
                .await;
            let (code, _) = crate::helpers::error_code(res, StatusCode::FORBIDDEN).await;
            assert_eq!(code, "forbidden");
        }
    }
    // Nor can the seller ban an admin; nobody can ban a user who does not exist.
    let res = app
        .post_json(
            &moderation,
            &json!({"action": "ban", "user_id": admin.id}),
            Some(&seller.access_token),
        )
        .await;
    crate::helpers::error_code(res, StatusCode::FORBIDDEN).await;
    let res = app
        .post_json(
            &moderation,
            &json!({"action": "ban", "user_id": uuid::Uuid::now_v7()}),
            Some(&seller.access_token),
        )
        .await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "user_not_found");

    // A ban over REST, lifted over the WebSocket.
    let room = format!("show:{show}");
    let res = app
        .post_json(
            &moderation,
            &json!({"action": "ban", "user_id": bob.id}),
            Some(&moderator.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mut bob_ws = WsClient::connect(&app, Some(&bob.access_token)).await;
    let mut mod_ws = WsClient::connect(&app, Some(&moderator.access_token)).await;
    let mut seen = Vec::new();
    let chat = json!({"type": "chat", "room": room, "text": "hello"});
    let reply = bob_ws.request(chat.clone(), &mut seen).await;
    assert_eq!(reply["code"], "banned", "{reply}");
    let reply = mod_ws
        .request(
            json!({"type": "moderate", "room": room, "action": "unban", "user_id": bob.id}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "moderated", "{reply}");
    let reply = bob_ws.request(chat.clone(), &mut seen).await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
    // And a ban over the WebSocket, lifted over REST.
    let reply = mod_ws
        .request(
            json!({"type": "moderate", "room": room, "action": "ban", "user_id": bob.id}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "moderated", "{reply}");
    let reply = bob_ws.request(chat.clone(), &mut seen).await;
    assert_eq!(reply["code"], "banned", "{reply}");
    let res = app
        .post_json(
            &moderation,
            &json!({"action": "unban", "user_id": bob.id}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let reply = bob_ws.request(chat, &mut seen).await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
}

#[actix_web::test]
async fn a_moderator_who_is_no_user_is_404_not_500() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = new_show(&app, &seller).await;
    let res = app
        .post_json(
            &format!("/api/v1/shows/{show}/moderators"),
            &json!({"user_id": uuid::Uuid::now_v7()}),
            Some(&seller.access_token),
        )
        .await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "user_not_found");
}

#[actix_web::test]
async fn an_item_in_an_auction_is_sold_once() {
    let app = spawn_app_with(|config| config.outbox_poll_ms = 50).await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;
    // One unit, with a buy-now price, so it could go in a cart.
    let res = app
        .post_json(
            "/api/v1/products",
            &json!({"title": "Leica M6", "description": "One of one", "condition": "used",
                    "currency": "USD", "start_price": 1000, "buy_now_price": 50_000,
                    "status": "active"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let product = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .put(app.url(&format!("/api/v1/inventory/products/{product}")))
        .bearer_auth(&seller.access_token)
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Bob puts it in his cart before any auction.
    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": product, "quantity": 1}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    // Concurrent creations of an auction for it: exactly one succeeds.
    let body = json!({"product_id": product, "currency": "USD", "start_price": 1000,
                      "duration_ms": 60_000});
    let creations =
        (0..8).map(|_| app.post_json("/api/v1/auctions", &body, Some(&seller.access_token)));
    let mut created = Vec::new();
    for res in futures_util::future::join_all(creations).await {
        match res.status() {
            StatusCode::CREATED => created.push(res.json::<Value>().await.unwrap()),
            status => {
                let (code, _) = crate::helpers::error_code(res, status).await;
                assert_eq!(code, "product_in_auction");
            }
        }
    }
    assert_eq!(created.len(), 1, "one auction for one product");
    let auction = created[0]["id"].as_str().unwrap().to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{auction}/start"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // While the auction holds it, the cart can neither take it nor sell it.
    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": product, "quantity": 1}),
            Some(&ann.access_token),
        )
        .await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "product_in_auction");
    let address = app
        .post_json(
            "/api/v1/addresses",
            &json!({"type": "shipping", "first_name": "Bob", "last_name": "Smith",
                    "address_line1": "1 Main St", "city": "Springfield", "state": "IL",
                    "postal_code": "62701", "country": "US", "phone": "+1 217 555 0100"}),
            Some(&bob.access_token),
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            "/api/v1/orders",
            &json!({"shipping_address_id": address}),
            Some(&bob.access_token),
        )
        .await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "product_in_auction");

    // Ann wins: her order takes the unit, and the product is sold.
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{auction}/bids"),
            &json!({"amount": 1000}),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{auction}/end"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let orders = eventually_some("the winner's order", async || {
        let res = app.get("/api/v1/orders", Some(&ann.access_token)).await;
        let orders: Value = res.json().await.unwrap();
        orders["items"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
            .then_some(orders)
    })
    .await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
    let stock: Value = app
        .get(
            &format!("/api/v1/inventory/products/{product}"),
            Some(&seller.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock["quantity"], 0, "{stock}");
    let sold: Value = app
        .get(&format!("/api/v1/products/{product}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sold["status"], "sold");
    // Bob's checkout finds nothing left to sell.
    let res = app
        .post_json(
            "/api/v1/orders",
            &json!({"shipping_address_id": address}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let orders: Value = app
        .get("/api/v1/orders", Some(&bob.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["items"].as_array().unwrap().len(), 0, "{orders}");
}

#[actix_web::test]
async fn direction_overrides_and_zero_width_characters_are_not_shown() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"email": "x@example.com", "password": "correct horse battery",
                    "display_name": "Ann\u{202E}exe.gnp", "role": "buyer"}),
            None,
        )
        .await;
    let (_, details) = crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["rule"], "no_invisible_chars");

    let seller = app.register("seller@example.com", "seller").await;
    let res = app
        .post_json(
            "/api/v1/products",
            &json!({"title": "Ro\u{200B}lex", "description": "x", "condition": "used",
                    "currency": "USD", "start_price": 1000}),
            Some(&seller.access_token),
        )
        .await;
    let (_, details) = crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "title");
    let res = app
        .post_json(
            "/api/v1/shows",
            &json!({"title": "Drop\u{2066}", "scheduled_at": "2026-12-01T18:00:00Z"}),
            Some(&seller.access_token),
        )
        .await;
    crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Chat keeps the visible text only.
    let show = new_show(&app, &seller).await;
    let mut ws = WsClient::connect(&app, Some(&seller.access_token)).await;
    let mut seen = Vec::new();
    let reply = ws
        .request(
            json!({"type": "chat", "room": format!("show:{show}"),
                   "text": "pay\u{200B}pal\u{202E}moc.\u{FEFF}"}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "chat.accepted", "{reply}");
    assert_eq!(reply["message"]["text"], "paypalmoc.");
}

#[actix_web::test]
async fn a_custom_increment_step_is_bounded() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let product = app.create_product(&seller).await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "currency": "USD", "start_price": 1000,
                    "duration_ms": 60_000, "increments": [{"from": 0, "step": 1_000_000_000_000i64}]}),
            Some(&seller.access_token),
        )
        .await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "invalid_config");
}

#[actix_web::test]
async fn html_answers_carry_security_headers() {
    let app = spawn_app().await;
    let res = app.get("/api/docs", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    // JSON answers get the same protections short of a policy.
    let res = app.get("/health", None).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

#[actix_web::test]
async fn cross_origin_calls_come_only_from_listed_origins() {
    let app = spawn_app_with(|config| {
        config.cors_origins = vec!["https://shop.example".to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight("https://shop.example").await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res = app
        .client
        .get(app.url("/api/v1/products"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
}

#[actix_web::test]
async fn metrics_are_for_listed_addresses_or_the_token() {
    let app = spawn_app_with(|config| {
        config.metrics_allow = Vec::new();
        config.metrics_token = Some(secrecy::SecretString::from("metrics-token-0123456789"));
    })
    .await;
    let res = app.get("/metrics", None).await;
    let (code, _) = crate::helpers::error_code(res, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    let res = app.get("/metrics", Some("wrong")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.get("/metrics", Some("metrics-token-0123456789")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The default: loopback may read them.
    let app = spawn_app().await;
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::OK);
}

/// A PNG that is only a header: it claims `width` x `height` and holds a few
/// bytes of picture data, so decoding it could only fail.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    fn crc(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[actix_web::test]
async fn a_picture_too_large_for_its_size_is_refused_from_its_header() {
    use crate::catalog::upload;
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let id = app.create_product(&seller).await;
    // 7000 x 7000 (49 megapixels) in under a hundred bytes.
    let tiny = png_header_only(7000, 7000);
    assert!(tiny.len() < 100);
    let res = upload(&app, &id, &seller.access_token, "huge.png", &tiny).await;
    let (code, details) = crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(
        (details["field"].as_str(), details["rule"].as_str()),
        (Some("file"), Some("max_pixels"))
    );
    let res = upload(
        &app,
        &id,
        &seller.access_token,
        "wide.png",
        &png_header_only(10_000, 10_000),
    )
    .await;
    let (_, details) = crate::helpers::error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["rule"], "max_dimensions");
}

#[actix_web::test]
async fn uploads_beyond_the_rate_are_refused() {
    use crate::catalog::{png, upload};
    let app = spawn_app_with(|config| config.uploads_per_min = 2).await;
    let seller = app.register("seller@example.com", "seller").await;
    let other = app.register("other@example.com", "seller").await;
    let id = app.create_product(&seller).await;
    let other_id = app.create_product(&other).await;
    let res = upload(&app, &id, &seller.access_token, "a.png", &png(8, 8)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // A refused upload counts too: the work of reading it was done.
    let res = upload(&app, &id, &seller.access_token, "b.png", b"not a picture").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = upload(&app, &id, &seller.access_token, "c.png", &png(8, 8)).await;
    assert!(res.headers().contains_key("retry-after"));
    let (code, _) = crate::helpers::error_code(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(code, "rate_limited");
    // Another seller has a limit of their own.
    let res = upload(&app, &other_id, &other.access_token, "d.png", &png(8, 8)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
