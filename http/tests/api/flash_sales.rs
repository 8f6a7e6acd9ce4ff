//! Flash sales: claims never oversell and never pass the per-buyer cap,
//! under any concurrency; unsold stock returns when the sale ends.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::commerce_helpers::stocked_product;
use crate::giveaways::{auction_of, buyers, live_show, next_lot, next_refused};
use crate::helpers::{TestApp, TestUser, error_code, read_json, spawn_app};
use crate::ws_client::WsClient;

async fn create_sale(
    app: &TestApp,
    seller: &TestUser,
    show: &str,
    product: &str,
    body: Value,
) -> Value {
    let mut body = body;
    body["product_id"] = json!(product);
    let res = app
        .post_json(
            &format!("/api/v1/shows/{show}/flash-sales"),
            &body,
            Some(&seller.access_token),
        )
        .await;
    read_json(res, StatusCode::CREATED).await
}

async fn claim(app: &TestApp, buyer: &TestUser, sale: &str, quantity: i64) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/flash-sales/{sale}/claims"),
        &json!({"quantity": quantity}),
        Some(&buyer.access_token),
    )
    .await
}

pub async fn stock(app: &TestApp, seller: &TestUser, product: &str) -> Value {
    let res = app
        .get(
            &format!("/api/v1/inventory/products/{product}"),
            Some(&seller.access_token),
        )
        .await;
    read_json(res, StatusCode::OK).await
}

#[actix_web::test]
async fn fifty_buyers_racing_for_ten_units_buy_exactly_ten_and_none_above_the_cap() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 12).await;
    let sale = create_sale(
        &app,
        &seller,
        &show,
        &product,
        json!({"price": 1_000, "quantity": 10, "per_buyer_cap": 2, "duration_ms": 120_000}),
    )
    .await;
    let id = sale["id"].as_str().unwrap().to_owned();
    assert_eq!(sale["kind"], "flash_sale");
    assert_eq!(sale["status"], "scheduled");
    assert_eq!(sale["list_price"], 1_500);

    let people = buyers(&app, "buyer", 50).await;
    // Not started: refused.
    let res = claim(&app, &people[0], &id, 1).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "flash_sale_not_live"
    );

    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&format!("show:{show}")).await;
    let started = next_lot(&app, &seller, &show).await;
    assert_eq!(started["kind"], "flash_sale");
    assert_eq!(started["status"], "live");
    assert_eq!(started["remaining"], 10);
    let frame = loop {
        let frame = watcher.recv().await;
        if frame["type"] == "lot.started" {
            break frame;
        }
    };
    assert_eq!(frame["kind"], "flash_sale");
    assert_eq!(frame["price"], 1_000);
    assert_eq!(frame["quantity"], 10);
    assert_eq!(frame["remaining"], 10);
    assert_eq!(frame["per_buyer_cap"], 2);
    assert!(frame["ends_at"].is_string());
    // The sale holds its ten units: two are left for anyone else.
    let level = stock(&app, &seller, &product).await;
    assert_eq!(level["reserved"], 10);
    assert_eq!(level["available"], 2);

    // More than the cap at once, and the seller: refused.
    let res = claim(&app, &people[0], &id, 3).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "claim_limit_reached"
    );
    let res = claim(&app, &seller, &id, 1).await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "own_lot");

    // Every buyer taps three times at once: 150 claims of one unit.
    let claims = people
        .iter()
        .flat_map(|buyer| (0..3).map(move |_| buyer))
        .map(|buyer| {
            let app = &app;
            let id = id.as_str();
            async move {
                let res = claim(app, buyer, id, 1).await;
                let status = res.status();
                let body: Value = res.json().await.unwrap();
                (buyer.id.clone(), status, body)
            }
        });
    let results = futures_util::future::join_all(claims).await;
    let mut per_buyer: BTreeMap<String, i64> = BTreeMap::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for (buyer, status, body) in &results {
        if *status == StatusCode::CREATED {
            assert_eq!(body["quantity"], 1);
            assert_eq!(body["order"]["buyer_id"], buyer.as_str());
            assert_eq!(body["order"]["status"], "pending_payment");
            assert_eq!(body["order"]["subtotal"], 1_000);
            assert_eq!(body["order"]["items"][0]["unit_price"], 1_000);
            *per_buyer.entry(buyer.clone()).or_default() += 1;
        } else {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            let code = body["error"]["code"].as_str().unwrap().to_owned();
            assert!(
                code == "sold_out" || code == "claim_limit_reached",
                "a clear code, not {code}"
            );
            *refused.entry(code).or_default() += 1;
        }
    }
    let sold: i64 = per_buyer.values().sum();
    assert_eq!(sold, 10, "exactly ten sold: {per_buyer:?}");
    assert!(per_buyer.values().all(|n| *n <= 2), "{per_buyer:?}");
    assert_eq!(refused.values().sum::<usize>(), 140);

    // The orders agree, one per successful claim.
    let mut ordered = 0;
    for buyer in &people {
        let orders: Value = app
            .get("/api/v1/orders", Some(&buyer.access_token))
            .await
            .json()
            .await
            .unwrap();
        let units: i64 = orders["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["items"][0]["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(units, per_buyer.get(&buyer.id).copied().unwrap_or(0));
        ordered += units;
    }
    assert_eq!(ordered, 10);

    // Sold out: the sale ended; the ten units are the orders' now.
    let after: Value = app
        .get(&format!("/api/v1/flash-sales/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["sold"], 10);
    assert_eq!(after["remaining"], 0);
    assert_eq!(after["status"], "ended");
    let level = stock(&app, &seller, &product).await;
    assert_eq!(level["reserved"], 10);
    assert_eq!(level["available"], 2);
    let res = claim(&app, &people[49], &id, 1).await;
    assert_eq!(error_code(res, StatusCode::CONFLICT).await.0, "sold_out");
}

#[actix_web::test]
async fn a_flash_sale_ends_on_time_and_its_unsold_units_return_to_stock() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 2_000, 8).await;
    let sale = create_sale(
        &app,
        &seller,
        &show,
        &product,
        json!({"quantity": 5, "per_buyer_cap": 2, "duration_ms": 1_500}),
    )
    .await;
    let id = sale["id"].as_str().unwrap().to_owned();
    // No price given: the product's buy-now price.
    assert_eq!(sale["price"], 2_000);
    let people = buyers(&app, "buyer", 2).await;
    let mut watcher = WsClient::connect(&app, None).await;
    watcher.subscribe(&format!("show:{show}")).await;
    next_lot(&app, &seller, &show).await;

    // One buyer, one tap at a time: the cap holds across claims.
    for _ in 0..2 {
        let res = claim(&app, &people[0], &id, 1).await;
        let body: Value = read_json(res, StatusCode::CREATED).await;
        assert_eq!(body["order"]["subtotal"], 2_000);
    }
    let res = claim(&app, &people[0], &id, 1).await;
    let (code, details) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "claim_limit_reached");
    assert_eq!(details["per_buyer_cap"], 2);
    assert_eq!(details["claimed"], 2);
    // One tap over the WebSocket.
    let mut buyer_ws = WsClient::connect(&app, Some(&people[1].access_token)).await;
    let mut seen = Vec::new();
    let reply = buyer_ws
        .request(
            json!({"type": "claim", "flash_sale_id": id, "quantity": 1}),
            &mut seen,
        )
        .await;
    assert_eq!(reply["type"], "claim.accepted", "{reply}");
    assert_eq!(reply["claim"]["quantity"], 1);
    assert_eq!(reply["claim"]["flash_sale"]["remaining"], 2);
    assert_eq!(reply["claim"]["order"]["buyer_id"], people[1].id.as_str());

    let claimed = loop {
        let frame = watcher.recv().await;
        if frame["type"] == "flash_sale.claimed" && frame["remaining"] == 2 {
            break frame;
        }
    };
    assert_eq!(claimed["flash_sale_id"], id.as_str());
    let ended = loop {
        let frame = watcher.recv().await;
        if frame["type"] == "lot.ended" {
            break frame;
        }
    };
    assert_eq!(ended["kind"], "flash_sale");
    assert_eq!(ended["sold"], 3);
    assert_eq!(ended["remaining"], 2);

    let after: Value = app
        .get(&format!("/api/v1/flash-sales/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["status"], "ended");
    // Three units stay with the orders; the two unsold are free again.
    let level = stock(&app, &seller, &product).await;
    assert_eq!(level["quantity"], 8);
    assert_eq!(level["reserved"], 3);
    assert_eq!(level["available"], 5);
    let res = claim(&app, &people[1], &id, 1).await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "flash_sale_not_live"
    );

    // A sale that asks for more than is free cannot start.
    let big = create_sale(
        &app,
        &seller,
        &show,
        &product,
        json!({"quantity": 6, "duration_ms": 5_000}),
    )
    .await;
    let lot = format!("/api/v1/flash-sales/{}", big["id"].as_str().unwrap());
    next_refused(&app, &seller, &show, "insufficient_stock", &lot).await;
}

#[actix_web::test]
async fn a_flash_sale_of_a_product_an_auction_holds_does_not_start() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let show = live_show(&app, &seller).await;
    let product = stocked_product(&app, &seller, 1_500, 5).await;
    let sale = create_sale(
        &app,
        &seller,
        &show,
        &product,
        json!({"price": 900, "quantity": 2, "duration_ms": 5_000}),
    )
    .await;
    auction_of(&app, &seller, &product).await;

    let lot = format!("/api/v1/flash-sales/{}", sale["id"].as_str().unwrap());
    next_refused(&app, &seller, &show, "product_in_auction", &lot).await;
    assert_eq!(stock(&app, &seller, &product).await["reserved"], 0);
}
