//! Auctions over REST: create, lifecycle, bids and their rejections, lists.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, error_code, spawn_app};

pub async fn create_auction(app: &TestApp, seller: &TestUser, extra: Value) -> Value {
    let product = app.create_product(seller).await;
    let mut body = json!({
        "product_id": product,
        "currency": "USD",
        "start_price": 1000,
        "duration_ms": 60_000,
    });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let res = app
        .post_json("/api/v1/auctions", &body, Some(&seller.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

pub async fn command(app: &TestApp, user: &TestUser, id: &str, action: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/auctions/{id}/{action}"),
        &json!({}),
        Some(&user.access_token),
    )
    .await
}

pub async fn rest_bid(app: &TestApp, user: &TestUser, id: &str, body: Value) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/auctions/{id}/bids"),
        &body,
        Some(&user.access_token),
    )
    .await
}

#[actix_web::test]
async fn lifecycle_and_bids_over_rest() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let other = app.register("other@example.com", "buyer").await;

    let auction = create_auction(&app, &seller, json!({})).await;
    let id = auction["id"].as_str().unwrap().to_owned();
    assert_eq!(auction["status"], "scheduled");
    assert_eq!(auction["min_next_bid"], 1000);
    assert!(auction["current_price"].is_null());
    assert!(auction.get("reserve_price").is_none());

    // Not live yet.
    let res = rest_bid(&app, &buyer, &id, json!({"amount": 1000})).await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "auction_not_live");

    // Only the seller (or an admin) starts it.
    let res = command(&app, &buyer, &id, "start").await;
    let (code, _) = error_code(res, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    let res = command(&app, &seller, &id, "start").await;
    assert_eq!(res.status(), StatusCode::OK);
    let live: Value = res.json().await.unwrap();
    assert_eq!(live["status"], "live");
    assert!(live["ends_at"].is_string());

    // The seller never bids on their own auction.
    let res = rest_bid(&app, &seller, &id, json!({"amount": 1000})).await;
    let (code, _) = error_code(res, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "own_auction");

    let res = rest_bid(
        &app,
        &buyer,
        &id,
        json!({"amount": 1000, "request_id": "r1"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["leading"], true);
    assert_eq!(first["bid"]["amount"], 1000);
    assert_eq!(first["auction"]["current_price"], 1000);

    // A retry with the same request id answers the first outcome, no new bid.
    let res = rest_bid(
        &app,
        &buyer,
        &id,
        json!({"amount": 1000, "request_id": "r1"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let retry: Value = res.json().await.unwrap();
    assert_eq!(retry["bid"]["id"], first["bid"]["id"]);

    // Too low: the details say the minimum.
    let res = rest_bid(&app, &other, &id, json!({"amount": 1001})).await;
    let (code, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "bid_too_low");
    assert_eq!(details["min_bid"], 1050);

    let res = rest_bid(&app, &other, &id, json!({"amount": 1050})).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // History, newest first, paginated.
    let page: Value = app
        .get(&format!("/api/v1/auctions/{id}/bids?limit=1"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["amount"], 1050);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page: Value = app
        .get(
            &format!("/api/v1/auctions/{id}/bids?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["amount"], 1000);
    assert!(page["next_cursor"].is_null());

    // Pause and resume; extend; hammer.
    let live: Value = app
        .get(&format!("/api/v1/auctions/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(live["remaining_ms"].is_null(), "{live}");
    let res = command(&app, &seller, &id, "pause").await;
    assert_eq!(res.status(), StatusCode::OK);
    let paused: Value = res.json().await.unwrap();
    assert_eq!(paused["status"], "paused");
    assert!(paused["ends_at"].is_null(), "{paused}");
    // The clock stopped with what was left: a viewer who arrives now sees it.
    let left = paused["remaining_ms"].as_i64().unwrap();
    assert!(left > 0 && left <= 60_000, "{paused}");
    let read: Value = app
        .get(&format!("/api/v1/auctions/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["remaining_ms"], left, "{read}");
    let res = rest_bid(&app, &buyer, &id, json!({"amount": 5000})).await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "auction_not_live");
    let res = command(&app, &seller, &id, "resume").await;
    assert_eq!(res.status(), StatusCode::OK);
    let resumed: Value = res.json().await.unwrap();
    assert!(resumed["remaining_ms"].is_null(), "{resumed}");
    assert!(resumed["ends_at"].is_string(), "{resumed}");
    let res = app
        .post_json(
            &format!("/api/v1/auctions/{id}/extend"),
            &json!({"by_ms": 5000}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = command(&app, &seller, &id, "end").await;
    assert_eq!(res.status(), StatusCode::OK);
    let ended: Value = res.json().await.unwrap();
    assert_eq!(ended["status"], "ended");
    assert_eq!(ended["leader_id"], other.id.as_str());

    // Final: nothing more.
    let res = command(&app, &seller, &id, "cancel").await;
    error_code(res, StatusCode::CONFLICT).await;

    // Bids and journal commits are measured.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    for name in [
        "bids_total",
        "bid_answer_seconds_bucket",
        "journal_commit_seconds_bucket",
        "journal_batch_events_bucket",
        "read_model_settle_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains(r#"outcome="bid_too_low""#));

    // The list reflects it.
    let list: Value = app
        .get(
            &format!("/api/v1/auctions?status=ended&seller_id={}", seller.id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["current_price"], 1050);
}

#[actix_web::test]
async fn buyers_cannot_create_and_unknown_auctions_are_404() {
    let app = spawn_app().await;
    let buyer = app.register("b@example.com", "buyer").await;
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": uuid::Uuid::now_v7(), "currency": "USD", "start_price": 100, "duration_ms": 1000}),
            Some(&buyer.access_token),
        )
        .await;
    error_code(res, StatusCode::FORBIDDEN).await;

    let missing = uuid::Uuid::now_v7();
    let res = app.get(&format!("/api/v1/auctions/{missing}"), None).await;
    let (code, _) = error_code(res, StatusCode::NOT_FOUND).await;
    assert_eq!(code, "not_found");
    let res = app.get("/api/v1/auctions/not-a-uuid", None).await;
    error_code(res, StatusCode::NOT_FOUND).await;
}

#[actix_web::test]
async fn invalid_settings_are_refused() {
    let app = spawn_app().await;
    let seller = app.register("s@example.com", "seller").await;
    let product = app.create_product(&seller).await;
    for body in [
        json!({"product_id": product, "currency": "USD", "start_price": -5, "duration_ms": 1000}),
        json!({"product_id": product, "currency": "USD", "start_price": 100, "duration_ms": 0}),
        json!({"product_id": product, "currency": "USD", "start_price": 100, "duration_ms": 1000,
               "increments": [{"from": 0, "step": 0}]}),
    ] {
        let res = app
            .post_json("/api/v1/auctions", &body, Some(&seller.access_token))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": product, "currency": "dollars", "start_price": 100, "duration_ms": 1000}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn only_the_products_seller_auctions_it_once_in_its_currency() {
    let app = spawn_app().await;
    let seller = app.register("s@example.com", "seller").await;
    let rival = app.register("r@example.com", "seller").await;
    let product = app.create_product(&seller).await;
    let body = |currency: &str| json!({"product_id": product, "currency": currency, "start_price": 100, "duration_ms": 60_000});

    let res = app
        .post_json("/api/v1/auctions", &body("USD"), Some(&rival.access_token))
        .await;
    error_code(res, StatusCode::FORBIDDEN).await;

    let res = app
        .post_json("/api/v1/auctions", &body("EUR"), Some(&seller.access_token))
        .await;
    let (_, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(details["field"], "currency");

    let res = app
        .post_json(
            "/api/v1/auctions",
            &json!({"product_id": uuid::Uuid::now_v7(), "currency": "USD", "start_price": 100, "duration_ms": 1000}),
            Some(&seller.access_token),
        )
        .await;
    error_code(res, StatusCode::NOT_FOUND).await;

    let res = app
        .post_json("/api/v1/auctions", &body("USD"), Some(&seller.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .post_json("/api/v1/auctions", &body("USD"), Some(&seller.access_token))
        .await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "product_in_auction");

    // While the auction holds it, the product cannot be repriced or deleted.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/products/{product}")))
        .bearer_auth(&seller.access_token)
        .send()
        .await
        .unwrap();
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "product_in_auction");
}
