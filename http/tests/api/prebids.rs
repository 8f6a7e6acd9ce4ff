//! Pre-bids over REST and the WebSocket: placed, raised and withdrawn on a
//! scheduled lot, private to their bidder, entered as bids in order when the
//! lot starts, with the room watching.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auctions::{command, create_auction};
use crate::helpers::{TestApp, TestUser, error_code, read_json, spawn_app};
use crate::paying_helpers::pay_shop;
use crate::stripe_stub::CardBehaviour;
use crate::ws_client::WsClient;

fn path(id: &str) -> String {
    format!("/api/v1/auctions/{id}/pre-bid")
}

async fn put_pre_bid(app: &TestApp, user: &TestUser, id: &str, body: Value) -> reqwest::Response {
    app.put_json(&path(id), &body, Some(&user.access_token))
        .await
}

#[actix_web::test]
async fn three_pre_bids_enter_as_the_proxy_rules_give_and_a_withdrawn_one_takes_no_part() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let bob = app.register("bob@example.com", "buyer").await;
    let cat = app.register("cat@example.com", "buyer").await;
    let dan = app.register("dan@example.com", "buyer").await;

    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    let mut watcher = WsClient::connect(&app, None).await;
    let subscribed = watcher.subscribe(&format!("auction:{id}")).await;
    assert_eq!(subscribed["snapshot"]["pre_bid_count"], 0);

    // Ann, Bob and Cat pre-bid, in that order; Dan pre-bids the most and withdraws.
    let first: Value = read_json(
        put_pre_bid(
            &app,
            &ann,
            &id,
            json!({"max_amount": 3000, "request_id": "a1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["pre_bid"]["max_amount"], 3000);
    assert_eq!(first["pre_bid"]["bidder_id"], ann.id.as_str());
    assert_eq!(first["auction"]["pre_bid_count"], 1);
    assert!(first["auction"]["current_price"].is_null());
    // A retry answers the first outcome: no second pre-bid.
    let retry: Value = read_json(
        put_pre_bid(
            &app,
            &ann,
            &id,
            json!({"max_amount": 3000, "request_id": "a1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retry["pre_bid"]["id"], first["pre_bid"]["id"]);
    assert_eq!(retry["auction"]["seq"], first["auction"]["seq"]);
    // Bob raises his: a raise must be higher.
    let res = put_pre_bid(&app, &bob, &id, json!({"max_amount": 4500})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = put_pre_bid(&app, &bob, &id, json!({"max_amount": 4000})).await;
    let (code, details) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "pre_bid_not_raised");
    assert_eq!(details["max_amount"], 4500);
    let res = put_pre_bid(&app, &bob, &id, json!({"max_amount": 5000})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = put_pre_bid(&app, &cat, &id, json!({"max_amount": 4000})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = put_pre_bid(&app, &dan, &id, json!({"max_amount": 9000})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let withdrawn: Value = read_json(
        app.delete(&path(&id), Some(&dan.access_token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(withdrawn["pre_bid_count"], 3);
    let res = app.delete(&path(&id), Some(&dan.access_token)).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "no_pre_bid");

    // Judged as bids are: never the seller's, never below the start price.
    let res = put_pre_bid(&app, &seller, &id, json!({"max_amount": 2000})).await;
    let (code, _) = error_code(res, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "own_auction");
    let res = put_pre_bid(&app, &dan, &id, json!({"max_amount": 999})).await;
    let (code, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "bid_too_low");
    assert_eq!(details["min_bid"], 1000);
    let res = app
        .put_json(&path(&id), &json!({"max_amount": 2000}), None)
        .await;
    let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "not_authenticated");

    // Each sees their own pre-bid; the auction shows only how many there are.
    let mine: Value = read_json(
        app.get(&path(&id), Some(&bob.access_token)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["pre_bid"]["max_amount"], 5000);
    let res = app.get(&path(&id), Some(&dan.access_token)).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "no_pre_bid");
    let public = app
        .get(&format!("/api/v1/auctions/{id}"), None)
        .await
        .text()
        .await
        .unwrap();
    let public_view: Value = serde_json::from_str(&public).unwrap();
    assert_eq!(public_view["pre_bid_count"], 3);
    assert!(!public.contains("max_amount"));
    assert!(!public.contains(&bob.id));

    // The lot starts: Ann opens at the start price, Bob's 50.00 outbids her
    // 30.00 at 30.00 + 1.00, Cat's 40.00 is recorded at the minimum (32.00)
    // and Bob's proxy answers at 40.00 + 1.00.
    let res = command(&app, &seller, &id, "start").await;
    let live: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(live["status"], "live");
    assert_eq!(live["leader_id"], bob.id.as_str());
    assert_eq!(live["current_price"], 4100);
    assert_eq!(live["bid_count"], 4);
    assert_eq!(live["pre_bid_count"], 0);
    assert_eq!(live["min_next_bid"], 4200);

    // The room sees the start, then each pre-bid enter, seq rising by one.
    let mut frames = Vec::new();
    while frames.len() < 5 {
        let frame = watcher.recv().await;
        if frame["type"].as_str().unwrap_or("").starts_with("auction.")
            && frame["type"] != "auction.snapshot"
        {
            frames.push(frame);
        }
    }
    assert_eq!(frames[0]["type"], "auction.started");
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    let start_seq = seqs[0];
    assert_eq!(seqs, (start_seq..start_seq + 5).collect::<Vec<_>>());
    assert_eq!(live["seq"], start_seq + 4);
    let entered: Vec<(&str, i64, bool)> = frames[1..]
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "auction.bid", "{f}");
            (
                f["bidder_id"].as_str().unwrap(),
                f["amount"].as_i64().unwrap(),
                f["automatic"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entered,
        vec![
            (ann.id.as_str(), 1000, false),
            (bob.id.as_str(), 3100, false),
            (cat.id.as_str(), 3200, false),
            (bob.id.as_str(), 4100, true),
        ]
    );
    for frame in &frames {
        let text = frame.to_string();
        assert!(!text.contains("max_amount"), "{text}");
        assert!(!text.contains(&dan.id), "a withdrawn pre-bid takes no part");
    }

    // The entered pre-bids are ordinary bids now, listed in the history.
    let history: Value = read_json(
        app.get(&format!("/api/v1/auctions/{id}/bids"), None).await,
        StatusCode::OK,
    )
    .await;
    let amounts: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![4100, 3200, 3100, 1000]);
    assert!(!history.to_string().contains(&dan.id));

    // Started: no pre-bid is held, placed or withdrawn any more; a retry of
    // one that entered still answers its first outcome.
    let res = app.get(&path(&id), Some(&bob.access_token)).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "no_pre_bid");
    let res = put_pre_bid(&app, &dan, &id, json!({"max_amount": 9000})).await;
    let (code, details) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "auction_not_scheduled");
    assert_eq!(details["status"], "live");
    let res = app.delete(&path(&id), Some(&ann.access_token)).await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "auction_not_scheduled");
    let retry: Value = read_json(
        put_pre_bid(
            &app,
            &ann,
            &id,
            json!({"max_amount": 3000, "request_id": "a1"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retry["pre_bid"]["id"], first["pre_bid"]["id"]);

    // The hammer falls for Bob at the price the rules gave.
    let res = command(&app, &seller, &id, "end").await;
    let ended: Value = read_json(res, StatusCode::OK).await;
    assert_eq!(ended["leader_id"], bob.id.as_str());
    assert_eq!(ended["current_price"], 4100);
}

#[actix_web::test]
async fn pre_bids_over_the_websocket() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let ann = app.register("ann@example.com", "buyer").await;
    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();

    let mut anonymous = WsClient::connect(&app, None).await;
    let mut seen = Vec::new();
    let refused = anonymous
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 2000}),
            &mut seen,
        )
        .await;
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "not_authenticated");

    let mut ws = WsClient::connect(&app, Some(&ann.access_token)).await;
    let placed = ws
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 2000, "request_id": "w1"}),
            &mut seen,
        )
        .await;
    assert_eq!(placed["type"], "pre_bid.accepted", "{placed}");
    assert_eq!(placed["pre_bid"]["max_amount"], 2000);
    assert_eq!(placed["auction"]["pre_bid_count"], 1);
    let raised = ws
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 2500}),
            &mut seen,
        )
        .await;
    assert_eq!(raised["type"], "pre_bid.accepted", "{raised}");
    assert_eq!(raised["pre_bid"]["max_amount"], 2500);
    let lower = ws
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 2400}),
            &mut seen,
        )
        .await;
    assert_eq!(lower["code"], "pre_bid_not_raised");
    assert_eq!(lower["details"]["max_amount"], 2500);
    let withdrawn = ws
        .request(
            json!({"type": "withdraw_pre_bid", "auction_id": id}),
            &mut seen,
        )
        .await;
    assert_eq!(withdrawn["type"], "pre_bid.withdrawn", "{withdrawn}");
    assert_eq!(withdrawn["auction"]["pre_bid_count"], 0);
    let again = ws
        .request(
            json!({"type": "withdraw_pre_bid", "auction_id": id}),
            &mut seen,
        )
        .await;
    assert_eq!(again["code"], "no_pre_bid");

    // Placed again, it enters when the lot starts.
    let placed = ws
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 1800}),
            &mut seen,
        )
        .await;
    assert_eq!(placed["type"], "pre_bid.accepted", "{placed}");
    let live: Value = read_json(command(&app, &seller, &id, "start").await, StatusCode::OK).await;
    assert_eq!(live["leader_id"], ann.id.as_str());
    assert_eq!(live["current_price"], 1000);
    let late = ws
        .request(
            json!({"type": "pre_bid", "auction_id": id, "max_amount": 5000}),
            &mut seen,
        )
        .await;
    assert_eq!(late["code"], "auction_not_scheduled");
}

#[actix_web::test]
async fn a_pre_bid_needs_a_card_where_the_show_requires_one_to_bid() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    let show = shop
        .live_show(json!({"require_payment_method": true}))
        .await;
    let product = shop.app.create_product(&shop.seller).await;
    let body = json!({"product_id": product, "currency": "USD", "start_price": 1000,
                      "duration_ms": 60_000, "show_id": show});
    let res = shop
        .app
        .post_json("/api/v1/auctions", &body, Some(&shop.seller.access_token))
        .await;
    let lot: Value = read_json(res, StatusCode::CREATED).await;
    let lot = lot["id"].as_str().unwrap().to_owned();

    let res = put_pre_bid(&shop.app, &buyer, &lot, json!({"max_amount": 2000})).await;
    let (code, _) = error_code(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(code, "payment_method_required");
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let res = put_pre_bid(&shop.app, &buyer, &lot, json!({"max_amount": 2000})).await;
    assert_eq!(res.status(), StatusCode::OK);
}
