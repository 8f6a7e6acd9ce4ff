//! Commerce over HTTP: an auction's winner pays through Stripe (a local
//! stand-in of its API) and the order is shipped and delivered; webhooks are
//! verified and idempotent; checkouts never oversell; carts, addresses and
//! orders stay private.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::auctions::{command, create_auction, rest_bid};
use crate::helpers::{TestApp, TestUser, error_code, spawn_app, spawn_app_with};
use crate::stripe_stub::{self, SECRET_KEY, WEBHOOK_SECRET, event, signature};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn webhook(app: &TestApp, payload: &str, sig: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/webhooks/stripe"))
        .header("Stripe-Signature", sig)
        .header("Content-Type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
}

async fn order(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/orders/{id}"), Some(&user.access_token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn address(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json(
            "/api/v1/addresses",
            &json!({"type": "shipping", "first_name": "Ada", "last_name": "Lovelace",
                    "address_line1": "1 Main St", "city": "Springfield", "state": "IL",
                    "postal_code": "62701", "country": "US", "phone": "+1 217 555 0100"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// A fixed-price product of `seller` with `stock` units; answers its id.
async fn stocked_product(app: &TestApp, seller: &TestUser, price: i64, stock: i64) -> String {
    let res = app
        .post_json(
            "/api/v1/products",
            &json!({"title": "Film roll", "description": "Fresh", "condition": "new",
                    "currency": "USD", "start_price": 100, "buy_now_price": price,
                    "status": "active"}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = send(
        app,
        reqwest::Method::PUT,
        &format!("/api/v1/inventory/products/{id}"),
        Some(&json!({"quantity": stock})),
        Some(&seller.access_token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    id
}

#[actix_web::test]
async fn a_won_auction_is_paid_through_stripe_then_shipped_and_delivered() {
    let stripe = stripe_stub::spawn();
    let base = stripe.base.clone();
    let app = spawn_app_with(move |c| {
        c.stripe_secret_key = Some(SecretString::from(SECRET_KEY));
        c.stripe_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
        c.stripe_api_base = Some(base);
        c.tax_rate_bps = 825;
        c.shipping_flat_minor = 599;
        c.outbox_poll_ms = 50;
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    let stranger = app.register("stranger@example.com", "buyer").await;

    // The auction ends with a winner.
    let auction = create_auction(&app, &seller, json!({})).await;
    let auction_id = auction["id"].as_str().unwrap().to_owned();
    assert_eq!(
        command(&app, &seller, &auction_id, "start").await.status(),
        StatusCode::OK
    );
    let res = rest_bid(&app, &buyer, &auction_id, json!({"amount": 1000})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        command(&app, &seller, &auction_id, "end").await.status(),
        StatusCode::OK
    );

    // The outbox consumer makes the winner's order.
    let mut found = None;
    for _ in 0..200 {
        let page: Value = app
            .get("/api/v1/orders", Some(&buyer.access_token))
            .await
            .json()
            .await
            .unwrap();
        if let Some(o) = page["items"].as_array().and_then(|items| items.first()) {
            found = Some(o.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let placed = found.expect("the winner's order appears");
    let order_id = placed["id"].as_str().unwrap().to_owned();
    assert_eq!(placed["auction_id"], auction_id.as_str());
    assert_eq!(placed["status"], "pending_payment");
    assert_eq!(placed["subtotal"], 1000);
    assert_eq!(placed["tax"], 83);
    assert_eq!(placed["shipping"], 599);
    assert_eq!(placed["total"], 1682);
    assert_eq!(placed["seller_id"], seller.id.as_str());
    // The seller sees it as a sale; a stranger sees nothing.
    let sales: Value = app
        .get("/api/v1/orders?view=seller", Some(&seller.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sales["items"][0]["id"], order_id.as_str());
    assert!(sales["next_cursor"].is_null());
    let res = app
        .get(
            &format!("/api/v1/orders/{order_id}"),
            Some(&stranger.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
    let res = app
        .get("/api/v1/orders?view=all", Some(&buyer.access_token))
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");

    // A PaymentIntent at "Stripe", for the total, with the order id; asking
    // again answers the same intent.
    let res = app
        .post_json(
            "/api/v1/payments/intent",
            &json!({"order_id": order_id}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let intent: Value = res.json().await.unwrap();
    let pi = intent["payment_intent_id"].as_str().unwrap().to_owned();
    assert!(pi.starts_with("pi_test_"));
    assert_eq!(intent["client_secret"], format!("{pi}_secret_test"));
    assert!(intent["payment_id"].is_string());
    assert_eq!(intent["status"], "requires_payment_method");
    {
        let seen = stripe.seen.lock().unwrap();
        assert_eq!(seen.creates.len(), 1);
        assert_eq!(seen.creates[0]["amount"], "1682");
        assert_eq!(seen.creates[0]["currency"], "usd");
        assert_eq!(seen.creates[0]["metadata[order_id]"], order_id);
        assert_eq!(seen.by_key.len(), 1);
        assert_eq!(seen.auth[0], format!("Bearer {SECRET_KEY}"));
    }
    let again: Value = app
        .post_json(
            "/api/v1/payments/intent",
            &json!({"order_id": order_id}),
            Some(&buyer.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["payment_intent_id"], pi.as_str());
    assert_eq!(again["payment_id"], intent["payment_id"]);
    // Only the buyer pays.
    let res = app
        .post_json(
            "/api/v1/payments/intent",
            &json!({"order_id": order_id}),
            Some(&stranger.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");

    let succeeded = event(
        "evt_paid_1",
        "payment_intent.succeeded",
        json!({"id": pi, "object": "payment_intent", "amount": 1682, "status": "succeeded",
               "metadata": {"order_id": order_id}}),
    );
    let now = chrono::Utc::now().timestamp();

    // Badly signed, stale, or unsigned: 400 and nothing changes.
    let res = webhook(&app, &succeeded, &signature("whsec_wrong", now, &succeeded)).await;
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await.0,
        "invalid_signature"
    );
    let res = webhook(
        &app,
        &succeeded,
        &signature(WEBHOOK_SECRET, now - 301, &succeeded),
    )
    .await;
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await.0,
        "invalid_signature"
    );
    let tampered = succeeded.replace("1682", "1");
    let res = webhook(&app, &tampered, &signature(WEBHOOK_SECRET, now, &succeeded)).await;
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await.0,
        "invalid_signature"
    );
    let res = app
        .client
        .post(app.url("/api/v1/webhooks/stripe"))
        .body(succeeded.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await.0,
        "invalid_signature"
    );
    assert_eq!(
        order(&app, &buyer, &order_id).await["status"],
        "pending_payment"
    );

    // Correctly signed: paid. The same delivery again changes nothing.
    let sig = signature(WEBHOOK_SECRET, now, &succeeded);
    let res = webhook(&app, &succeeded, &sig).await;
    assert_eq!(res.status(), StatusCode::OK);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(receipt["duplicate"], false);
    let paid = order(&app, &buyer, &order_id).await;
    assert_eq!(paid["status"], "paid");
    let res = webhook(&app, &succeeded, &sig).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["duplicate"], true);
    assert_eq!(order(&app, &buyer, &order_id).await, paid);
    // A paid order has no new intent and cannot be cancelled.
    let res = app
        .post_json(
            "/api/v1/payments/intent",
            &json!({"order_id": order_id}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "invalid_transition"
    );
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/cancel"),
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "invalid_transition"
    );
    // Delivery before shipping is not a legal move.
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/deliver"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::CONFLICT).await.0,
        "invalid_transition"
    );

    // Shipped by the seller (not the buyer), with tracking the buyer sees.
    let ship = json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"});
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/ship"),
            &ship,
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/ship"),
            &ship,
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let shipped = order(&app, &buyer, &order_id).await;
    assert_eq!(shipped["status"], "shipped");
    assert_eq!(shipped["shipment"]["carrier"], "UPS");
    assert_eq!(shipped["shipment"]["tracking_number"], "1Z999AA10123456784");
    assert!(
        shipped["shipment"]["tracking_url"]
            .as_str()
            .unwrap()
            .contains("1Z999AA10123456784")
    );
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/deliver"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let delivered = order(&app, &buyer, &order_id).await;
    assert_eq!(delivered["status"], "delivered");
    let history: Vec<&str> = delivered["shipment"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["shipped", "delivered"]);

    // A refund goes through the gateway; the charge.refunded webhook that
    // follows changes nothing more.
    let res = app
        .post_json(
            &format!("/api/v1/orders/{order_id}/refund"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "refunded");
    assert_eq!(stripe.seen.lock().unwrap().refunds[0]["payment_intent"], pi);
    let refunded = event(
        "evt_refund_1",
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "payment_intent": pi}),
    );
    let res = webhook(&app, &refunded, &signature(WEBHOOK_SECRET, now, &refunded)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(order(&app, &buyer, &order_id).await["status"], "refunded");
}

#[actix_web::test]
async fn checkouts_never_oversell_and_carts_stay_private() {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let product = stocked_product(&app, &seller, 2500, 3).await;

    // A guest fills a cart; the token comes back in X-Cart-Token.
    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": product, "quantity": 2}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = res.headers()["x-cart-token"].to_str().unwrap().to_owned();
    let guest_cart: Value = res.json().await.unwrap();
    assert_eq!(guest_cart["items"][0]["quantity"], 2);
    assert_eq!(guest_cart["subtotals"][0]["amount"], 5000);
    let res = app
        .client
        .get(app.url("/api/v1/cart"))
        .header("X-Cart-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["items"][0]["quantity"],
        2
    );
    // A made-up token reaches no cart.
    let res = app
        .client
        .get(app.url("/api/v1/cart"))
        .header("X-Cart-Token", "not-a-real-token")
        .send()
        .await
        .unwrap();
    assert!(
        res.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The guest signs up, already has 2 in their cart, and merges: capped at 3.
    let alice = app.register("alice@example.com", "buyer").await;
    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": product, "quantity": 2}),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url("/api/v1/cart/merge"))
        .bearer_auth(&alice.access_token)
        .header("X-Cart-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let merged: Value = res.json().await.unwrap();
    assert_eq!(merged["items"][0]["quantity"], 3);

    // Bob sees none of Alice's cart, addresses or orders.
    let bob = app.register("bob@example.com", "buyer").await;
    let bob_cart: Value = app
        .get("/api/v1/cart", Some(&bob.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert!(bob_cart["items"].as_array().unwrap().is_empty());
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/cart/items/{product}"),
        None,
        Some(&bob.access_token),
    )
    .await;
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
    let alice_address = address(&app, &alice).await;
    let res = app
        .get(
            &format!("/api/v1/addresses/{alice_address}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
    let res = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/addresses/{alice_address}"),
        None,
        Some(&bob.access_token),
    )
    .await;
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
    // Validation names the field and the rule.
    let res = app
        .post_json(
            "/api/v1/addresses",
            &json!({"type": "shipping", "first_name": "B", "last_name": "C", "address_line1": "x",
                    "city": "y", "postal_code": "12345", "country": "XX"}),
            Some(&bob.access_token),
        )
        .await;
    let (code, details) = error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(code, "validation_failed");
    assert_eq!(details["field"], "country");
    assert_eq!(details["rule"], "iso3166_alpha2");

    // Bob and Carol each want 1; Alice wants 3; there are 3: checkouts race.
    let carol = app.register("carol@example.com", "buyer").await;
    let mut buyers = vec![(alice.clone(), alice_address)];
    for user in [&bob, &carol] {
        let addr = address(&app, user).await;
        let res = app
            .post_json(
                "/api/v1/cart/items",
                &json!({"product_id": product, "quantity": 1}),
                Some(&user.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        buyers.push((user.clone(), addr));
    }
    let results = futures_util::future::join_all(buyers.iter().map(|(user, addr)| {
        let app = &app;
        async move {
            let body = json!({"shipping_address_id": addr});
            app.post_json("/api/v1/orders", &body, Some(&user.access_token))
                .await
        }
    }))
    .await;
    let mut sold = 0;
    let mut orders = Vec::new();
    for res in results {
        match res.status() {
            StatusCode::CREATED => {
                let body: Value = res.json().await.unwrap();
                for o in body["orders"].as_array().unwrap() {
                    sold += o["items"][0]["quantity"].as_i64().unwrap();
                    orders.push(o.clone());
                }
            }
            _ => assert_eq!(
                error_code(res, StatusCode::CONFLICT).await.0,
                "out_of_stock"
            ),
        }
    }
    assert!((1..=3).contains(&sold), "sold {sold}");
    let stock: Value = app
        .get(
            &format!("/api/v1/inventory/products/{product}"),
            Some(&seller.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock["reserved"], sold);
    // Only the seller or an admin reads stock.
    let res = app
        .get(
            &format!("/api/v1/inventory/products/{product}"),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
    let low: Value = app
        .get("/api/v1/inventory/low-stock", Some(&seller.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(low["items"][0]["product_id"], product.as_str());

    // Without Stripe the manual gateway: no intents; the seller marks it paid.
    let first = &orders[0];
    let id = first["id"].as_str().unwrap();
    let owner = [&alice, &bob, &carol]
        .into_iter()
        .find(|u| u.id == first["buyer_id"].as_str().unwrap())
        .unwrap();
    let res = app
        .post_json(
            "/api/v1/payments/intent",
            &json!({"order_id": id}),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(
        error_code(res, StatusCode::SERVICE_UNAVAILABLE).await.0,
        "payments_manual"
    );
    let res = app
        .post_json(
            &format!("/api/v1/orders/{id}/mark-paid"),
            &json!({}),
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
    let res = app
        .post_json(
            &format!("/api/v1/orders/{id}/mark-paid"),
            &json!({}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "paid");
    // Webhooks without a secret configured are refused.
    let res = webhook(&app, "{}", "t=1,v1=00").await;
    assert_eq!(
        error_code(res, StatusCode::SERVICE_UNAVAILABLE).await.0,
        "stripe_not_configured"
    );
}
