//! Commerce over HTTP: an auction's winner pays through Stripe (a local
//! stand-in of its API) and the order is shipped and delivered; webhooks are
//! verified and idempotent; checkouts never oversell; carts, addresses and
//! orders stay private.

use reqwest::StatusCode;
use serde_json::json;

use crate::commerce_helpers::{
    CARRIER, Cart, Checkout, Order, PRICE, Page, STOCK, StockLevel, TRACKING_NUMBER,
    WebhookReceipt, address, cart_by_token, charge_refunded, checkout, get_order, get_order_json,
    order_action, payment_intent, payment_succeeded, ship, shop, signed_now, stripe_shop, webhook,
};
use crate::helpers::{error_code, read_json};
use crate::stripe_stub::{SECRET_KEY, WEBHOOK_SECRET, signature};

// An auction's order, paid through Stripe.

#[actix_web::test]
async fn the_winner_of_an_auction_gets_an_order_with_tax_and_shipping() {
    let shop = stripe_shop().await;

    let auction_id = shop.win_auction().await;
    let order = shop.winners_order().await;

    assert_eq!(order.auction_id.as_deref(), Some(auction_id.as_str()));
    assert_eq!(order.status, "pending_payment");
    assert_eq!(order.subtotal, 1000);
    assert_eq!(order.tax, 83);
    assert_eq!(order.shipping, 599);
    assert_eq!(order.total, 1682);
    assert_eq!(order.seller_id, shop.seller.id);
}

#[actix_web::test]
async fn the_seller_sees_the_order_among_their_sales() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;

    let res = shop
        .app
        .get(
            "/api/v1/orders?view=seller",
            Some(&shop.seller.access_token),
        )
        .await;

    let sales: Page<Order> = read_json(res, StatusCode::OK).await;
    assert_eq!(sales.items[0].id, order.id);
    assert!(sales.next_cursor.is_none());
}

#[actix_web::test]
async fn a_stranger_cannot_see_an_order() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let stranger = shop.stranger().await;

    let res = shop
        .app
        .get(
            &format!("/api/v1/orders/{}", order.id),
            Some(&stranger.access_token),
        )
        .await;

    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
}

#[actix_web::test]
async fn a_buyer_cannot_list_every_order() {
    let shop = stripe_shop().await;
    shop.unpaid_order().await;

    let res = shop
        .app
        .get("/api/v1/orders?view=all", Some(&shop.buyer.access_token))
        .await;

    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
}

#[actix_web::test]
async fn a_payment_intent_is_made_at_stripe_for_the_order_total() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;

    let intent = shop.intent_for(&order).await;

    let pi = &intent.payment_intent_id;
    assert!(pi.starts_with("pi_test_"));
    assert_eq!(intent.client_secret, Some(format!("{pi}_secret_test")));
    assert!(!intent.payment_id.is_empty());
    assert_eq!(intent.status, "requires_payment_method");
    let seen = shop.stripe.seen.lock().unwrap();
    assert_eq!(seen.creates.len(), 1);
    assert_eq!(seen.creates[0]["amount"], "1682");
    assert_eq!(seen.creates[0]["currency"], "usd");
    assert_eq!(seen.creates[0]["metadata[order_id]"], order.id);
    assert_eq!(seen.by_key.len(), 1);
    assert_eq!(seen.auth[0], format!("Bearer {SECRET_KEY}"));
}

#[actix_web::test]
async fn asking_again_answers_the_same_payment_intent() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let first = shop.intent_for(&order).await;

    let again = shop.intent_for(&order).await;

    assert_eq!(again.payment_intent_id, first.payment_intent_id);
    assert_eq!(again.payment_id, first.payment_id);
}

#[actix_web::test]
async fn only_the_buyer_gets_a_payment_intent() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let stranger = shop.stranger().await;

    let res = payment_intent(&shop.app, &stranger, &order.id).await;

    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
}

#[actix_web::test]
async fn a_webhook_that_fails_verification_is_refused_and_changes_nothing() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let pi = shop.intent_for(&order).await.payment_intent_id;
    let paid = payment_succeeded(&pi, &order);
    let now = chrono::Utc::now().timestamp();
    let tampered = paid.replace("\"amount\":1682", "\"amount\":1");
    assert_ne!(tampered, paid);

    let deliveries = [
        (
            "signed with another secret",
            &paid,
            Some(signature("whsec_wrong", now, &paid)),
        ),
        (
            "signed too long ago",
            &paid,
            Some(signature(WEBHOOK_SECRET, now - 301, &paid)),
        ),
        (
            "changed after signing",
            &tampered,
            Some(signature(WEBHOOK_SECRET, now, &paid)),
        ),
        ("unsigned", &paid, None),
    ];
    for (case, payload, sig) in deliveries {
        let res = match sig {
            Some(sig) => webhook(&shop.app, payload, &sig).await,
            None => shop
                .app
                .client
                .post(shop.app.url("/api/v1/webhooks/stripe"))
                .body(payload.clone())
                .send()
                .await
                .unwrap(),
        };

        let (code, _) = error_code(res, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "invalid_signature", "{case}");
        assert_eq!(
            shop.order(&order.id).await.status,
            "pending_payment",
            "{case}"
        );
    }
}

#[actix_web::test]
async fn a_signed_payment_webhook_marks_the_order_paid() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let pi = shop.intent_for(&order).await.payment_intent_id;
    let paid = payment_succeeded(&pi, &order);

    let res = webhook(&shop.app, &paid, &signed_now(&paid)).await;

    let receipt: WebhookReceipt = read_json(res, StatusCode::OK).await;
    assert!(!receipt.duplicate);
    assert_eq!(shop.order(&order.id).await.status, "paid");
}

#[actix_web::test]
async fn a_payment_webhook_of_another_amount_or_currency_leaves_the_order_unpaid() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let pi = shop.intent_for(&order).await.payment_intent_id;
    let intent = |id: &str, amount: i64, currency: &str| {
        crate::stripe_stub::event(
            id,
            "payment_intent.succeeded",
            json!({"id": pi, "object": "payment_intent", "amount": amount,
                   "amount_received": amount, "currency": currency,
                   "status": "succeeded", "metadata": {"order_id": order.id}}),
        )
    };
    let currency = order.currency.to_lowercase();
    let too_little = intent("evt_short", 1, &currency);
    let other_currency = intent("evt_other_currency", order.total, "jpy");
    for paid in [too_little, other_currency] {
        // Acknowledged (Stripe would otherwise retry for days) but not paid.
        let res = webhook(&shop.app, &paid, &signed_now(&paid)).await;
        let receipt: WebhookReceipt = read_json(res, StatusCode::OK).await;
        assert!(!receipt.duplicate);
        assert_eq!(shop.order(&order.id).await.status, "pending_payment");
    }
    // The right amount still pays it.
    let paid = payment_succeeded(&pi, &order);
    let res = webhook(&shop.app, &paid, &signed_now(&paid)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(shop.order(&order.id).await.status, "paid");
}

#[actix_web::test]
async fn the_same_webhook_again_is_a_duplicate_and_changes_nothing() {
    let shop = stripe_shop().await;
    let order = shop.unpaid_order().await;
    let pi = shop.intent_for(&order).await.payment_intent_id;
    let paid = payment_succeeded(&pi, &order);
    let sig = signed_now(&paid);
    assert_eq!(
        webhook(&shop.app, &paid, &sig).await.status(),
        StatusCode::OK
    );
    let before = get_order_json(&shop.app, &shop.buyer, &order.id).await;

    let res = webhook(&shop.app, &paid, &sig).await;

    let receipt: WebhookReceipt = read_json(res, StatusCode::OK).await;
    assert!(receipt.duplicate);
    assert_eq!(
        get_order_json(&shop.app, &shop.buyer, &order.id).await,
        before
    );
}

#[actix_web::test]
async fn a_paid_order_gets_no_new_payment_intent() {
    let shop = stripe_shop().await;
    let paid = shop.paid_order().await;

    let res = payment_intent(&shop.app, &shop.buyer, &paid.order.id).await;

    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "invalid_transition");
}

#[actix_web::test]
async fn a_paid_order_cannot_be_cancelled() {
    let shop = stripe_shop().await;
    let paid = shop.paid_order().await;

    let res = order_action(&shop.app, &shop.buyer, &paid.order.id, "cancel").await;

    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "invalid_transition");
}

#[actix_web::test]
async fn an_order_is_not_delivered_before_it_is_shipped() {
    let shop = stripe_shop().await;
    let paid = shop.paid_order().await;

    let res = order_action(&shop.app, &shop.seller, &paid.order.id, "deliver").await;

    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "invalid_transition");
}

#[actix_web::test]
async fn the_buyer_cannot_ship_an_order() {
    let shop = stripe_shop().await;
    let paid = shop.paid_order().await;

    let res = ship(&shop.app, &shop.buyer, &paid.order.id).await;

    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
}

#[actix_web::test]
async fn the_buyer_sees_the_carrier_and_tracking_of_a_shipped_order() {
    let shop = stripe_shop().await;
    let paid = shop.paid_order().await;

    let res = ship(&shop.app, &shop.seller, &paid.order.id).await;

    assert_eq!(res.status(), StatusCode::OK);
    let shipped = shop.order(&paid.order.id).await;
    assert_eq!(shipped.status, "shipped");
    let shipment = shipped.shipment.unwrap();
    assert_eq!(shipment.carrier, CARRIER);
    assert_eq!(shipment.tracking_number, TRACKING_NUMBER);
    assert!(shipment.tracking_url.unwrap().contains(TRACKING_NUMBER));
}

#[actix_web::test]
async fn a_delivered_order_keeps_its_shipment_history() {
    let shop = stripe_shop().await;
    let shipped = shop.shipped_order().await;

    let res = order_action(&shop.app, &shop.seller, &shipped.order.id, "deliver").await;

    assert_eq!(res.status(), StatusCode::OK);
    let delivered = shop.order(&shipped.order.id).await;
    assert_eq!(delivered.status, "delivered");
    let history: Vec<_> = delivered
        .shipment
        .unwrap()
        .history
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(history, ["shipped", "delivered"]);
}

#[actix_web::test]
async fn a_refund_goes_through_stripe() {
    let shop = stripe_shop().await;
    let delivered = shop.delivered_order().await;

    let res = order_action(&shop.app, &shop.seller, &delivered.order.id, "refund").await;

    let refunded: Order = read_json(res, StatusCode::OK).await;
    assert_eq!(refunded.status, "refunded");
    let seen = shop.stripe.seen.lock().unwrap();
    assert_eq!(
        seen.refunds[0]["payment_intent"],
        delivered.payment_intent_id
    );
}

#[actix_web::test]
async fn the_refund_webhook_that_follows_a_refund_changes_nothing_more() {
    let shop = stripe_shop().await;
    let delivered = shop.delivered_order().await;
    let res = order_action(&shop.app, &shop.seller, &delivered.order.id, "refund").await;
    assert_eq!(res.status(), StatusCode::OK);
    let refunded = charge_refunded(&delivered.payment_intent_id);

    let res = webhook(&shop.app, &refunded, &signed_now(&refunded)).await;

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(shop.order(&delivered.order.id).await.status, "refunded");
}

// Carts, addresses, stock and checkouts.

#[actix_web::test]
async fn a_guest_cart_is_found_again_by_its_token() {
    let shop = shop().await;

    let (token, cart) = shop.guest_cart(2).await;

    assert_eq!(cart.items[0].quantity, 2);
    assert_eq!(cart.subtotals[0].amount, 2 * PRICE);
    assert_eq!(cart_by_token(&shop.app, &token).await.items[0].quantity, 2);
}

#[actix_web::test]
async fn a_made_up_cart_token_reaches_no_cart() {
    let shop = shop().await;
    shop.guest_cart(2).await;

    let cart = cart_by_token(&shop.app, "not-a-real-token").await;

    assert!(cart.items.is_empty());
}

#[actix_web::test]
async fn merging_a_guest_cart_caps_each_quantity_at_the_stock() {
    let shop = shop().await;
    let (token, _) = shop.guest_cart(2).await;
    let alice = shop.buyer_with_cart("alice@example.com", 2).await;

    let res = shop
        .app
        .client
        .post(shop.app.url("/api/v1/cart/merge"))
        .bearer_auth(&alice.access_token)
        .header("X-Cart-Token", &token)
        .send()
        .await
        .unwrap();

    let merged: Cart = read_json(res, StatusCode::OK).await;
    assert_eq!(merged.items[0].quantity, STOCK);
}

#[actix_web::test]
async fn a_buyer_sees_nothing_of_another_buyers_cart() {
    let shop = shop().await;
    shop.buyer_with_cart("alice@example.com", 2).await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop.app.get("/api/v1/cart", Some(&bob.access_token)).await;

    let cart: Cart = read_json(res, StatusCode::OK).await;
    assert!(cart.items.is_empty());
}

#[actix_web::test]
async fn a_buyer_cannot_remove_an_item_of_another_buyers_cart() {
    let shop = shop().await;
    shop.buyer_with_cart("alice@example.com", 2).await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop
        .app
        .delete(
            &format!("/api/v1/cart/items/{}", shop.product),
            Some(&bob.access_token),
        )
        .await;

    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
}

#[actix_web::test]
async fn a_buyer_cannot_read_another_buyers_address() {
    let shop = shop().await;
    let alice = shop.app.register("alice@example.com", "buyer").await;
    let alices = address(&shop.app, &alice).await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop
        .app
        .get(
            &format!("/api/v1/addresses/{alices}"),
            Some(&bob.access_token),
        )
        .await;

    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
}

#[actix_web::test]
async fn a_buyer_cannot_delete_another_buyers_address() {
    let shop = shop().await;
    let alice = shop.app.register("alice@example.com", "buyer").await;
    let alices = address(&shop.app, &alice).await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop
        .app
        .delete(
            &format!("/api/v1/addresses/{alices}"),
            Some(&bob.access_token),
        )
        .await;

    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await.0, "not_found");
}

#[actix_web::test]
async fn an_address_in_an_unknown_country_is_refused_naming_the_field_and_rule() {
    let shop = shop().await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop
        .app
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
}

#[actix_web::test]
async fn racing_checkouts_never_sell_more_than_the_stock() {
    // Alice wants all 3, Bob and Carol 1 each: 5 wanted, 3 in stock.
    let shop = shop().await;
    let mut buyers = Vec::new();
    for (email, quantity) in [
        ("alice@example.com", STOCK),
        ("bob@example.com", 1),
        ("carol@example.com", 1),
    ] {
        let buyer = shop.buyer_with_cart(email, quantity).await;
        let to = address(&shop.app, &buyer).await;
        buyers.push((buyer, to));
    }

    let results = futures_util::future::join_all(
        buyers
            .iter()
            .map(|(buyer, to)| checkout(&shop.app, buyer, to)),
    )
    .await;

    let mut sold = 0;
    for res in results {
        if res.status() == StatusCode::CREATED {
            let placed: Checkout = read_json(res, StatusCode::CREATED).await;
            sold += placed
                .orders
                .iter()
                .map(|o| o.items[0].quantity)
                .sum::<i64>();
        } else {
            let (code, _) = error_code(res, StatusCode::CONFLICT).await;
            assert_eq!(code, "out_of_stock");
        }
    }
    assert!((1..=STOCK).contains(&sold), "sold {sold}");
    assert_eq!(shop.stock().await.reserved, sold);
}

#[actix_web::test]
async fn a_buyer_cannot_read_a_products_stock() {
    let shop = shop().await;
    let bob = shop.app.register("bob@example.com", "buyer").await;

    let res = shop
        .app
        .get(
            &format!("/api/v1/inventory/products/{}", shop.product),
            Some(&bob.access_token),
        )
        .await;

    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
}

#[actix_web::test]
async fn a_product_at_its_low_stock_threshold_is_listed_for_its_seller() {
    // 3 in stock, under the default threshold of 5.
    let shop = shop().await;

    let res = shop
        .app
        .get(
            "/api/v1/inventory/low-stock",
            Some(&shop.seller.access_token),
        )
        .await;

    let low: Page<StockLevel> = read_json(res, StatusCode::OK).await;
    assert_eq!(low.items[0].product_id, shop.product);
}

#[actix_web::test]
async fn without_stripe_no_payment_intent_is_made() {
    let shop = shop().await;
    let (buyer, order) = shop.checked_out_order().await;

    let res = payment_intent(&shop.app, &buyer, &order.id).await;

    let (code, _) = error_code(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(code, "payments_manual");
}

#[actix_web::test]
async fn without_stripe_the_buyer_cannot_mark_their_order_paid() {
    let shop = shop().await;
    let (buyer, order) = shop.checked_out_order().await;

    let res = order_action(&shop.app, &buyer, &order.id, "mark-paid").await;

    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await.0, "forbidden");
}

#[actix_web::test]
async fn without_stripe_the_seller_marks_an_order_paid() {
    let shop = shop().await;
    let (buyer, order) = shop.checked_out_order().await;

    let res = order_action(&shop.app, &shop.seller, &order.id, "mark-paid").await;

    let paid: Order = read_json(res, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    assert_eq!(get_order(&shop.app, &buyer, &order.id).await.status, "paid");
}

#[actix_web::test]
async fn without_a_webhook_secret_webhooks_are_refused() {
    let shop = shop().await;

    let res = webhook(&shop.app, "{}", "t=1,v1=00").await;

    let (code, _) = error_code(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(code, "stripe_not_configured");
}
