//! Giveaways: present viewers enter, the draw is recomputed from the
//! revealed seed and the published entrants, and the winner gets an order.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::commerce_helpers::stocked_product;
use crate::helpers::{
    TestApp, TestUser, error_code, eventually, eventually_some, read_json, spawn_app,
    spawn_app_with,
};
use crate::ws_client::WsClient;

pub async fn live_show(app: &TestApp, seller: &TestUser) -> String {
    app.live_show(seller, "Sunday drops").await
}

pub async fn next_lot(app: &TestApp, seller: &TestUser, show: &str) -> Value {
    let res = try_next(app, seller, show).await;
    read_json(res, StatusCode::OK).await
}

/// `n` buyers registered at once.
pub async fn buyers(app: &TestApp, prefix: &str, n: usize) -> Vec<TestUser> {
    futures_util::future::join_all((0..n).map(|i| {
        let email = format!("{prefix}{i}@example.com");
        async move { app.register(&email, "buyer").await }
    }))
    .await
}

/// The next frame of type `kind`, skipping the others.
async fn next_frame(ws: &mut WsClient, kind: &str) -> Value {
    loop {
        let frame = ws.recv().await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

async fn create_giveaway(app: &TestApp, seller: &TestUser, show: &str, duration_ms: i64) -> Value {
    let product = app.create_product(seller).await;
    create_giveaway_of(app, seller, show, &product, duration_ms).await
}

async fn create_giveaway_of(
    app: &TestApp,
    seller: &TestUser,
    show: &str,
    product: &str,
    duration_ms: i64,
) -> Value {
    let res = app
        .post_json(
            &format!("/api/v1/shows/{show}/giveaways"),
            &json!({"product_id": product, "duration_ms": duration_ms, "title": "Free tote bag"}),
            Some(&seller.access_token),
        )
        .await;
    read_json(res, StatusCode::CREATED).await
}

/// The draw, recomputed from the rule in docs/live-commerce.md.
fn recompute_winner(seed_hex: &str, giveaway: &str, entrants: &[String]) -> String {
    let seed: Vec<u8> = (0..seed_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&seed_hex[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(seed.len(), 32);
    let mut ids: Vec<Uuid> = entrants.iter().map(|e| e.parse().unwrap()).collect();
    ids.sort();
    let mut hasher = Sha256::new();
    hasher.update(&seed);
    hasher.update(giveaway.parse::<Uuid>().unwrap().as_bytes());
    for id in &ids {
        hasher.update(id.as_bytes());
    }
    let digest = hasher.finalize();
    let index = u64::from_be_bytes(digest[..8].try_into().unwrap()) % ids.len() as u64;
    ids[index as usize].to_string()
}

fn hex_sha256(seed_hex: &str) -> String {
    let seed: Vec<u8> = (0..seed_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&seed_hex[i..i + 2], 16).unwrap())
        .collect();
    Sha256::digest(&seed)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn viewers(app: &TestApp, show: &str) -> u64 {
    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    detail["viewers"].as_u64().unwrap()
}

#[actix_web::test]
async fn a_giveaway_draws_a_present_viewer_and_anyone_can_recompute_the_draw() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let giveaway = create_giveaway(&app, &seller, &show, 2_000).await;
    let id = giveaway["id"].as_str().unwrap().to_owned();
    assert_eq!(giveaway["kind"], "giveaway");
    assert_eq!(giveaway["status"], "scheduled");
    assert_eq!(giveaway["seed_hash"], Value::Null);

    // The queue carries the giveaway with its kind.
    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["queue"],
        json!([{"kind": "giveaway", "id": id, "status": "scheduled"}])
    );
    assert_eq!(detail["lots"], json!([]));

    // 25 viewers join the room; 5 leave before it opens.
    let people = buyers(&app, "viewer", 25).await;
    let mut sockets = Vec::new();
    for person in &people {
        let mut ws = WsClient::connect(&app, Some(&person.access_token)).await;
        ws.subscribe(&format!("show:{show}")).await;
        sockets.push(ws);
    }
    // The room counts a subscriber once its actor has had the join, after
    // the subscribe is answered: all 25 are in before 5 leave.
    eventually("25 viewers", async || viewers(&app, &show).await == 25).await;
    let present: Vec<String> = people[..20].iter().map(|p| p.id.clone()).collect();
    sockets.truncate(20);
    eventually("20 viewers", async || viewers(&app, &show).await == 20).await;
    // Leaving reaches the chat room before the next request does.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Not open yet: nobody can enter.
    let res = app
        .post_json(
            &format!("/api/v1/giveaways/{id}/entries"),
            &json!({}),
            Some(&people[0].access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "giveaway_not_open"
    );

    let started = next_lot(&app, &seller, &show).await;
    assert_eq!(started["kind"], "giveaway");
    assert_eq!(started["status"], "open");
    assert_eq!(started["entrant_count"], 20);
    assert_eq!(started["seed"], Value::Null, "the seed stays secret");
    let seed_hash = started["seed_hash"].as_str().unwrap().to_owned();
    assert_eq!(seed_hash.len(), 64);

    let frame = next_frame(&mut sockets[0], "lot.started").await;
    assert_eq!(frame["kind"], "giveaway");
    assert_eq!(frame["giveaway_id"], id.as_str());
    assert_eq!(frame["seed_hash"], seed_hash.as_str());
    assert!(frame["closes_at"].is_string());

    // While open: the seller cannot enter, one who left cannot, a present
    // viewer entering again changes nothing, and another lot cannot start.
    let res = app
        .post_json(
            &format!("/api/v1/giveaways/{id}/entries"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "own_lot");
    let res = app
        .post_json(
            &format!("/api/v1/giveaways/{id}/entries"),
            &json!({}),
            Some(&people[22].access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::CONFLICT).await.0, "not_present");
    let res = app
        .post_json(
            &format!("/api/v1/giveaways/{id}/entries"),
            &json!({}),
            Some(&people[3].access_token),
        )
        .await;
    let entered: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(entered["entrant_count"], 20);
    let res = try_next(&app, &seller, &show).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "lot_in_progress"
    );

    // The window closes on its own: the draw is told to the room.
    let drawn = next_frame(&mut sockets[1], "giveaway.drawn").await;
    assert_eq!(drawn["giveaway_id"], id.as_str());
    let seed = drawn["seed"].as_str().unwrap().to_owned();
    assert_eq!(
        hex_sha256(&seed),
        seed_hash,
        "the seed matches the published hash"
    );
    let entrants: Vec<String> = drawn["entrants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    let mut expected = present.clone();
    expected.sort();
    assert_eq!(entrants, expected, "exactly the 20 present, sorted");
    let winner = drawn["winner_id"].as_str().unwrap().to_owned();
    assert!(present.contains(&winner));
    assert_eq!(recompute_winner(&seed, &id, &entrants), winner);
    let ended = next_frame(&mut sockets[1], "lot.ended").await;
    assert_eq!(ended["kind"], "giveaway");
    assert_eq!(ended["winner_id"], winner.as_str());

    // Stored: the giveaway tells it all after the fact.
    let stored: Value = app
        .get(&format!("/api/v1/giveaways/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "drawn");
    assert_eq!(stored["seed"], seed.as_str());
    assert_eq!(stored["seed_hash"], seed_hash.as_str());
    assert_eq!(stored["winner_id"], winner.as_str());
    assert_eq!(stored["entrants"], json!(entrants));
    let res = app
        .post_json(
            &format!("/api/v1/giveaways/{id}/entries"),
            &json!({}),
            Some(&people[0].access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "giveaway_not_open"
    );

    // The winner's order: nothing to pay for the item.
    let winner_user = people.iter().find(|p| p.id == winner).unwrap();
    let order = first_order(&app, winner_user).await;
    assert_eq!(order["subtotal"], 0);
    assert_eq!(order["items"][0]["unit_price"], 0);
    assert_eq!(order["items"][0]["quantity"], 1);
    assert_eq!(order["items"][0]["title"], "Free tote bag");
    assert_eq!(order["seller_id"], seller.id.as_str());
    // The winner is told (right after the order is made).
    let inbox = eventually_some("the prize notice", async || {
        let inbox: Value = app
            .get("/api/v1/notifications", Some(&winner_user.access_token))
            .await
            .json()
            .await
            .unwrap();
        (!inbox["items"].as_array().unwrap().is_empty()).then_some(inbox)
    })
    .await;
    assert_eq!(inbox["items"][0]["kind"], "won", "{inbox}");
    assert_eq!(inbox["items"][0]["data"]["order_id"], order["id"]);
    // Nobody else got one.
    for person in people.iter().filter(|p| p.id != winner) {
        let orders: Value = app
            .get("/api/v1/orders", Some(&person.access_token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(orders["items"], json!([]));
    }
}

#[actix_web::test]
async fn a_giveaway_nobody_is_present_for_ends_with_no_winner() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let giveaway = create_giveaway(&app, &seller, &show, 1_000).await;
    let id = giveaway["id"].as_str().unwrap().to_owned();
    // A signed-out watcher is no entrant.
    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&format!("show:{show}")).await;
    let started = next_lot(&app, &seller, &show).await;
    assert_eq!(started["entrant_count"], 0);
    let drawn = next_frame(&mut watcher, "giveaway.drawn").await;
    assert_eq!(drawn["winner_id"], Value::Null);
    assert_eq!(drawn["entrants"], json!([]));
    let stored: Value = app
        .get(&format!("/api/v1/giveaways/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "drawn");
    assert_eq!(stored["winner_id"], Value::Null);
    assert_eq!(
        hex_sha256(stored["seed"].as_str().unwrap()),
        stored["seed_hash"].as_str().unwrap()
    );
    // The queue is done.
    let res = try_next(&app, &seller, &show).await;
    assert_eq!(error_code(res, StatusCode::CONFLICT).await.0, "queue_empty");
}

async fn add_auction(app: &TestApp, seller: &TestUser, show: &str) -> String {
    let product = app.create_product(seller).await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "show_id": show, "currency": "USD",
                    "start_price": 100, "duration_ms": 60_000}),
            Some(&seller.access_token),
        )
        .await;
    let auction: Value = read_json(res, StatusCode::CREATED).await;
    auction["id"].as_str().unwrap().to_owned()
}

async fn reorder(
    app: &TestApp,
    seller: &TestUser,
    show: &str,
    ids: &[&String],
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/shows/{show}/queue")))
        .bearer_auth(&seller.access_token)
        .json(&json!({"auction_ids": ids}))
        .send()
        .await
        .unwrap()
}

fn queue_ids(show: &Value) -> Vec<String> {
    show["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn the_queue_orders_removes_and_starts_lots_of_every_kind() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let show = live_show(&app, &seller).await;
    let first = add_auction(&app, &seller, &show).await;
    let giveaway = create_giveaway(&app, &seller, &show, 60_000).await;
    let giveaway = giveaway["id"].as_str().unwrap().to_owned();
    let second = add_auction(&app, &seller, &show).await;
    let extra = create_giveaway(&app, &seller, &show, 60_000).await;
    let extra = extra["id"].as_str().unwrap().to_owned();

    // Only the auctions, as before: they swap places, the giveaways stay.
    let res = reorder(&app, &seller, &show, &[&second, &first]).await;
    let moved: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(
        queue_ids(&moved),
        vec![
            second.clone(),
            giveaway.clone(),
            first.clone(),
            extra.clone()
        ]
    );
    assert_eq!(moved["lots"], json!([second, first]));
    assert_eq!(moved["queue"][1]["kind"], "giveaway");
    // Every lot: any order.
    let res = reorder(&app, &seller, &show, &[&giveaway, &extra, &first, &second]).await;
    let moved: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(
        queue_ids(&moved),
        vec![
            giveaway.clone(),
            extra.clone(),
            first.clone(),
            second.clone()
        ]
    );
    // Anything else is not a permutation of the scheduled lots.
    let res = reorder(&app, &seller, &show, &[&giveaway, &first, &second]).await;
    error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;

    // A giveaway taken out is cancelled and leaves the queue.
    let res = app
        .delete(
            &format!("/api/v1/shows/{show}/queue/{extra}"),
            Some(&seller.access_token),
        )
        .await;
    let after: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(
        queue_ids(&after),
        vec![giveaway.clone(), first.clone(), second.clone()]
    );
    let gone: Value = app
        .get(&format!("/api/v1/giveaways/{extra}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gone["status"], "cancelled");

    // A buyer cannot add lots; the giveaway starts first, then nothing else
    // may start while it is open.
    let product = app.create_product(&seller).await;
    let res = app
        .post_json(
            &format!("/api/v1/shows/{show}/giveaways"),
            &json!({"product_id": product, "duration_ms": 5_000}),
            Some(&buyer.access_token),
        )
        .await;
    error_code(res, StatusCode::FORBIDDEN).await;
    let started = next_lot(&app, &seller, &show).await;
    assert_eq!(started["id"], giveaway.as_str());
    let detail: Value = app
        .get(&format!("/api/v1/shows/{show}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["queue"][0]["status"], "open");
    let res = try_next(&app, &seller, &show).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "lot_in_progress"
    );
    let res = app
        .delete(
            &format!("/api/v1/shows/{show}/queue/{giveaway}"),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::CONFLICT).await.0, "lot_started");
}

/// The product's stock as its seller sees it: quantity, reserved, available.
async fn stock(app: &TestApp, seller: &TestUser, product: &str) -> (i64, i64, i64) {
    let level = crate::flash_sales::stock(app, seller, product).await;
    (
        level["quantity"].as_i64().unwrap(),
        level["reserved"].as_i64().unwrap(),
        level["available"].as_i64().unwrap(),
    )
}

/// A lot (`/api/v1/giveaways/{id}`, `/api/v1/flash-sales/{id}`) as anyone sees it.
pub async fn lot_at(app: &TestApp, path: &str) -> Value {
    app.get(path, None).await.json().await.unwrap()
}

/// The first order of `user`, waited for.
async fn first_order(app: &TestApp, user: &TestUser) -> Value {
    eventually_some("the prize order", async || {
        let orders: Value = app
            .get("/api/v1/orders", Some(&user.access_token))
            .await
            .json()
            .await
            .unwrap();
        orders["items"].as_array().unwrap().first().cloned()
    })
    .await
}

/// An auction of `product` (created, not started: it holds the product).
pub async fn auction_of(app: &TestApp, seller: &TestUser, product: &str) {
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "currency": "USD", "start_price": 1000,
                    "duration_ms": 60_000, "mode": "standard"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// Starting the next lot of `show` is refused with 409 `code`, and the lot
/// at `lot` (its path) stays scheduled: the refusal's details.
pub async fn next_refused(
    app: &TestApp,
    seller: &TestUser,
    show: &str,
    code: &str,
    lot: &str,
) -> Value {
    let res = try_next(app, seller, show).await;
    let (refused, details) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(refused, code);
    assert_eq!(lot_at(app, lot).await["status"], "scheduled");
    details
}

/// Starts the next lot of `show`: the response, unread.
pub async fn try_next(app: &TestApp, seller: &TestUser, show: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/shows/{show}/next"),
        &json!({}),
        Some(&seller.access_token),
    )
    .await
}

#[actix_web::test]
async fn a_giveaway_holds_its_prize_from_stock_until_the_winner_has_it() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 1).await;
    let first = create_giveaway_of(&app, &seller, &show, &product, 1_000).await;
    let second = create_giveaway_of(&app, &seller, &show, &product, 1_000).await;
    let viewer = app.register("viewer@example.com", "buyer").await;
    let mut ws = WsClient::connect(&app, Some(&viewer.access_token)).await;
    ws.subscribe(&format!("show:{show}")).await;

    // Open: the one unit is held, so nothing else can sell it.
    let started = next_lot(&app, &seller, &show).await;
    assert_eq!(started["id"], first["id"]);
    assert_eq!(started["entrant_count"], 1);
    assert_eq!(stock(&app, &seller, &product).await, (1, 1, 0));

    // The viewer wins; the order, with nothing to pay, takes the held unit
    // out of stock.
    let drawn = next_frame(&mut ws, "giveaway.drawn").await;
    assert_eq!(drawn["winner_id"], viewer.id.as_str());
    let order = first_order(&app, &viewer).await;
    assert_eq!(order["status"], "paid");
    assert_eq!(stock(&app, &seller, &product).await, (0, 0, 0));

    // No unit is left for the next giveaway of it: it cannot open.
    let lot = format!("/api/v1/giveaways/{}", second["id"].as_str().unwrap());
    let details = next_refused(&app, &seller, &show, "insufficient_stock", &lot).await;
    assert_eq!(details["product_id"], product.as_str());
}

#[actix_web::test]
async fn a_prize_with_shipping_to_pay_keeps_its_unit_reserved_until_its_order_is_settled() {
    let app = spawn_app_with(|c| c.shipping_flat_minor = 599).await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 1).await;
    create_giveaway_of(&app, &seller, &show, &product, 1_000).await;
    let viewer = app.register("viewer@example.com", "buyer").await;
    let mut ws = WsClient::connect(&app, Some(&viewer.access_token)).await;
    ws.subscribe(&format!("show:{show}")).await;

    next_lot(&app, &seller, &show).await;
    next_frame(&mut ws, "giveaway.drawn").await;
    let order = first_order(&app, &viewer).await;
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["shipping"], 599);
    // The order's reservation holds the unit while the shipping is unpaid.
    assert_eq!(stock(&app, &seller, &product).await, (1, 1, 0));

    // Called off unpaid: the unit goes back on sale.
    let res = app
        .post_json(
            &format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap()),
            &json!({}),
            Some(&viewer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(stock(&app, &seller, &product).await, (1, 0, 1));
}

#[actix_web::test]
async fn a_giveaway_nobody_wins_puts_its_unit_back_on_sale() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 2).await;
    create_giveaway_of(&app, &seller, &show, &product, 1_000).await;
    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&format!("show:{show}")).await;

    next_lot(&app, &seller, &show).await;
    assert_eq!(stock(&app, &seller, &product).await, (2, 1, 1));
    let drawn = next_frame(&mut watcher, "giveaway.drawn").await;
    assert_eq!(drawn["winner_id"], Value::Null);
    assert_eq!(stock(&app, &seller, &product).await, (2, 0, 2));
}

#[actix_web::test]
async fn a_giveaway_of_a_product_an_auction_holds_does_not_open() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 3).await;
    let giveaway = create_giveaway_of(&app, &seller, &show, &product, 1_000).await;
    // An auction of the same product, made after the giveaway was queued.
    auction_of(&app, &seller, &product).await;

    let lot = format!("/api/v1/giveaways/{}", giveaway["id"].as_str().unwrap());
    next_refused(&app, &seller, &show, "product_in_auction", &lot).await;
    assert_eq!(stock(&app, &seller, &product).await, (3, 0, 3));
}
