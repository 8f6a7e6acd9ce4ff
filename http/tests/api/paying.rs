//! Paying at the hammer: cards on file, the automatic charge of the winner,
//! a declined card fixed or lapsed, second chance, one shipment per show,
//! and seller payouts, against the Stripe stand-in with the real client.

use std::time::Duration;

use blytz_actors::domain::UserId;
use blytz_actors::rooms::{RoomKey, RoomNotice};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auctions::rest_bid;
use crate::commerce_helpers::{Order, order_action};
use crate::helpers::{TestApp, TestUser, error_code, read_json};
use crate::paying_helpers::{FEE_BPS, Offer, pay_shop, pay_shop_with};
use crate::stripe_stub::CardBehaviour;
use crate::ws_client::WsClient;

/// The off-session charges the stand-in saw for `order`.
fn charges_for(
    shop: &crate::paying_helpers::PayShop,
    order: &str,
) -> Vec<crate::stripe_stub::Received> {
    shop.stripe
        .seen
        .lock()
        .unwrap()
        .charges
        .iter()
        .filter(|c| c.form.get("metadata[order_id]").map(String::as_str) == Some(order))
        .cloned()
        .collect()
}

fn fee_of(total: i64) -> i64 {
    (total * i64::from(FEE_BPS) + 5_000) / 10_000
}

/// The kinds of `user`'s notices, oldest first, once they include every
/// kind in `wanted` (waits up to 10 s: some are written just after the
/// change they report).
async fn notices_once(app: &TestApp, user: &TestUser, wanted: &[&str]) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let inbox: Value = read_json(
            app.get("/api/v1/notifications", Some(&user.access_token))
                .await,
            StatusCode::OK,
        )
        .await;
        let mut kinds: Vec<String> = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_owned())
            .collect();
        kinds.reverse();
        if wanted.iter().all(|w| kinds.iter().any(|k| k == w)) {
            return kinds;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "notices {kinds:?}, wanted {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_saved_card_is_charged_at_the_hammer_exactly_once() {
    let shop = pay_shop().await;
    let account = shop.onboard_seller().await;
    let buyer = shop.buyer("buyer@example.com").await;
    let card = shop
        .save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    assert_eq!(
        (
            card.brand.as_str(),
            card.exp_month,
            card.exp_year,
            card.is_default
        ),
        ("visa", 12, 2030, true)
    );

    let lot = shop.live_lot(None, json!({})).await;
    shop.bid(&buyer, &lot, 1500).await;
    shop.hammer(&lot).await;
    let order = shop.order_of(&buyer, &lot).await;
    // Paid with no call from the buyer.
    let order = shop.order_becomes(&shop.seller, &order.id, "paid").await;
    assert_eq!(order.platform_fee, fee_of(order.total));

    let charges = charges_for(&shop, &order.id);
    assert_eq!(charges.len(), 1, "one PaymentIntent for the order");
    let charge = &charges[0];
    assert_eq!(charge.form["amount"], order.total.to_string());
    assert_eq!(charge.form["currency"], "usd");
    assert_eq!(charge.form["confirm"], "true");
    assert_eq!(charge.form["off_session"], "true");
    assert_eq!(charge.form["metadata[seller_account]"], account);
    assert_eq!(
        charge.form["metadata[platform_fee]"],
        order.platform_fee.to_string()
    );
    assert_eq!(
        charge.idempotency_key.as_deref(),
        Some(format!("order-{}", order.id).as_str())
    );
    let intents_before = shop.stripe.seen.lock().unwrap().intents.len();

    // A replayed outbox row, and the charge step run again: nothing more is charged.
    let state = &shop.app.state;
    let order_id: uuid::Uuid = order.id.parse().unwrap();
    assert!(state.commerce.charge_at_hammer(order_id).await.unwrap());
    state.commerce.consume_charges().await.unwrap();
    // A replayed webhook of the payment changes nothing either.
    let pi = charge_intent(&shop, &order.id);
    let paid = json!({"id": pi, "object": "payment_intent", "amount": order.total,
                      "amount_received": order.total, "currency": "usd", "status": "succeeded",
                      "metadata": {"order_id": order.id}});
    shop.stripe_event("evt_paid_1", "payment_intent.succeeded", paid.clone())
        .await;
    shop.stripe_event("evt_paid_1", "payment_intent.succeeded", paid)
        .await;
    assert_eq!(
        shop.stripe.seen.lock().unwrap().intents.len(),
        intents_before
    );
    assert_eq!(
        charges_for(&shop, &order.id).len(),
        1,
        "no second charge request"
    );
    let intents_of_order = shop
        .stripe
        .seen
        .lock()
        .unwrap()
        .intents
        .values()
        .filter(|i| i["metadata"]["order_id"] == order.id.as_str())
        .count();
    assert_eq!(intents_of_order, 1);
    assert_eq!(shop.order(&buyer, &order.id).await.status, "paid");
}

/// The intent the stand-in made for `order`'s charge.
fn charge_intent(shop: &crate::paying_helpers::PayShop, order: &str) -> String {
    let seen = shop.stripe.seen.lock().unwrap();
    seen.intents
        .values()
        .find(|i| i["metadata"]["order_id"] == order)
        .and_then(|i| i["id"].as_str())
        .unwrap()
        .to_owned()
}

/// A buyer with no card, and a live lot of a show that requires one; the
/// buyer's first bid on it was refused `payment_method_required`.
async fn refused_for_want_of_a_card(shop: &crate::paying_helpers::PayShop) -> (TestUser, String) {
    let buyer = shop.buyer("buyer@example.com").await;
    let show = shop
        .live_show(json!({"require_payment_method": true}))
        .await;
    let lot = shop.live_lot(Some(&show), json!({})).await;
    let res = rest_bid(&shop.app, &buyer, &lot, json!({"amount": 1000})).await;
    let (code, _) = error_code(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(code, "payment_method_required");
    (buyer, lot)
}

#[actix_web::test]
async fn a_bid_without_a_card_is_refused_where_the_show_requires_one() {
    let shop = pay_shop().await;
    let (buyer, lot) = refused_for_want_of_a_card(&shop).await;
    // Buy-now is held to the same rule.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/auctions/{lot}/buy-now"),
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    let (code, _) = error_code(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(code, "payment_method_required");
    let view: Value = read_json(
        shop.app.get(&format!("/api/v1/auctions/{lot}"), None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["bid_count"], 0, "nothing reached the engine");

    // With a card on file, the same bid is taken.
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    shop.bid(&buyer, &lot, 1000).await;

    // A show that does not require a card lets anyone bid.
    let open_show = shop
        .live_show(json!({"require_payment_method": false}))
        .await;
    let open_lot = shop.live_lot(Some(&open_show), json!({})).await;
    let stranger = shop.buyer("stranger@example.com").await;
    shop.bid(&stranger, &open_lot, 1000).await;
}

/// A card saved at another node of a cluster reaches the shared store, and
/// that node forgets its own answer only: the next bid here is taken, not
/// one some seconds later.
#[actix_web::test]
async fn a_card_saved_at_another_node_lets_the_next_bid_through() {
    let shop = pay_shop().await;
    let (buyer, lot) = refused_for_want_of_a_card(&shop).await;

    // The other node's write, as the store sees it; this node is not told.
    let saved = "INSERT INTO payment_methods (id, user_id, provider_id, brand, last4, \
                 exp_month, exp_year, is_default, created_at) \
                 VALUES ($1, $2, 'pm_elsewhere', 'visa', '4242', 12, 2040, TRUE, $3)";
    let user = buyer.id.parse::<uuid::Uuid>().unwrap();
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let written = blytz::with_db!(&shop.app.state.db, pool => sqlx::query(saved)
        .bind(id)
        .bind(user)
        .bind(now)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()));
    assert_eq!(written.unwrap(), 1);
    shop.bid(&buyer, &lot, 1000).await;
}

/// A card removed at another node of a cluster leaves the store behind
/// this node's back, and this node keeps its answer for a few seconds;
/// the notice the removing node announces in the buyer's room makes it
/// forget the answer at once, and the next bid is refused.
#[actix_web::test]
async fn a_card_removal_heard_from_another_node_refuses_the_next_bid() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let show = shop
        .live_show(json!({"require_payment_method": true}))
        .await;
    let lot = shop.live_lot(Some(&show), json!({})).await;
    shop.bid(&buyer, &lot, 1000).await;

    let user = buyer.id.parse::<uuid::Uuid>().unwrap();
    let removed = blytz::with_db!(&shop.app.state.db, pool => sqlx::query(
        "DELETE FROM payment_methods WHERE user_id = $1",
    )
    .bind(user)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()));
    assert_eq!(removed.unwrap(), 1);
    // Not heard yet: the answer kept here still lets a bid through.
    let res = rest_bid(&shop.app, &buyer, &lot, json!({"amount": 2000})).await;
    assert_ne!(res.status(), StatusCode::PAYMENT_REQUIRED);

    shop.app.state.auctions.engine().rooms().hear(
        RoomKey::User(UserId::from(user)),
        RoomNotice::PaymentMethodsChanged,
    );
    let res = rest_bid(&shop.app, &buyer, &lot, json!({"amount": 3000})).await;
    let (code, _) = error_code(res, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(code, "payment_method_required");
}

#[actix_web::test]
async fn a_declined_card_leaves_the_order_payable_with_a_second_card() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    let mut socket = WsClient::connect(&shop.app, Some(&buyer.access_token)).await;
    shop.save_card(&buyer, "0002", CardBehaviour::Declines)
        .await;
    let lot = shop.live_lot(None, json!({})).await;
    shop.bid(&buyer, &lot, 2000).await;
    shop.hammer(&lot).await;
    let order = shop.order_of(&buyer, &lot).await;
    let failed = shop
        .order_becomes(&buyer, &order.id, "payment_failed")
        .await;
    assert!(
        failed
            .payment_failure
            .as_deref()
            .unwrap()
            .contains("card_declined")
    );

    // The buyer's open socket was told, with no room subscribed.
    let told = loop {
        let frame = socket.recv().await;
        if frame["type"] == "order.payment_failed" {
            break frame;
        }
    };
    assert_eq!(told["order_id"], order.id.as_str());
    assert_eq!(told["code"], "card_declined");
    // And by notice: they won, then the payment failed.
    assert_eq!(
        notices_once(&shop.app, &buyer, &["won", "payment_failed"]).await,
        ["won", "payment_failed"]
    );
    // A client cannot subscribe to a user's own frames.
    let mut other = WsClient::connect(&shop.app, Some(&shop.seller.access_token)).await;
    let refused = other
        .request(
            json!({"type": "subscribe", "room": format!("user:{}", buyer.id)}),
            &mut Vec::new(),
        )
        .await;
    assert_eq!(refused["type"], "error");

    let second = shop
        .save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/pay", order.id),
            &json!({"payment_method_id": second.id}),
            Some(&buyer.access_token),
        )
        .await;
    let paid: Order = read_json(res, StatusCode::OK).await;
    assert_eq!(paid.status, "paid");
    assert_eq!(shop.order(&shop.seller, &order.id).await.status, "paid");
}

#[actix_web::test]
async fn a_lapsed_lot_goes_to_the_runner_up_at_their_own_highest_bid() {
    let shop = pay_shop_with(|c| c.payment_retry_secs = Some(1)).await;
    let winner = shop.buyer("winner@example.com").await;
    let runner_up = shop.buyer("runner@example.com").await;
    let third = shop.buyer("third@example.com").await;
    let declining = shop
        .save_card(&winner, "0002", CardBehaviour::Declines)
        .await;
    shop.save_card(&runner_up, "4242", CardBehaviour::Succeeds)
        .await;
    shop.save_card(&third, "5555", CardBehaviour::Succeeds)
        .await;
    let lot = shop.live_lot(None, json!({})).await;
    shop.bid(&third, &lot, 1000).await;
    shop.bid(&runner_up, &lot, 1700).await;
    shop.bid(&winner, &lot, 2500).await;
    shop.hammer(&lot).await;
    let order = shop.order_of(&winner, &lot).await;
    shop.order_becomes(&winner, &order.id, "payment_failed")
        .await;

    // Past the deadline, paying again lapses the order.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/pay", order.id),
            &json!({"payment_method_id": declining.id}),
            Some(&winner.access_token),
        )
        .await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "payment_window_closed");
    assert_eq!(shop.order(&winner, &order.id).await.status, "lapsed");

    // The seller offers the lot to the runner-up at their highest bid.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/second-chance", order.id),
            &json!({}),
            Some(&shop.seller.access_token),
        )
        .await;
    let offer: Offer = read_json(res, StatusCode::CREATED).await;
    assert_eq!(offer.buyer_id, runner_up.id);
    assert_eq!(
        notices_once(&shop.app, &runner_up, &["second_chance"]).await,
        ["outbid", "second_chance"],
        "outbid by the winner, then offered the lot"
    );
    assert_eq!(offer.amount, 1700);
    assert_eq!(offer.status, "offered");
    // Only one offer per lapsed order.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/second-chance", order.id),
            &json!({}),
            Some(&shop.seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Nobody else answers it.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/second-chance-offers/{}/accept", offer.id),
            &json!({}),
            Some(&third.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let res = shop
        .app
        .post_json(
            &format!("/api/v1/second-chance-offers/{}/accept", offer.id),
            &json!({}),
            Some(&runner_up.access_token),
        )
        .await;
    let accepted: Offer = read_json(res, StatusCode::OK).await;
    assert_eq!(accepted.status, "accepted");
    let new_order = accepted.new_order_id.unwrap();
    let paid = shop.order_becomes(&runner_up, &new_order, "paid").await;
    assert_eq!(paid.subtotal, 1700);
    assert_eq!(paid.second_chance_of.as_deref(), Some(order.id.as_str()));
    let charges = charges_for(&shop, &new_order);
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].form["amount"], paid.total.to_string());

    // An answered offer stays answered.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/second-chance-offers/{}/decline", offer.id),
            &json!({}),
            Some(&runner_up.access_token),
        )
        .await;
    let (code, _) = error_code(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "offer_closed");
}

#[actix_web::test]
async fn three_wins_and_a_buy_now_in_one_show_ship_as_one_bundle() {
    let shop = pay_shop().await;
    shop.set_rates(500, 200).await;
    let buyer = shop.buyer("buyer@example.com").await;
    shop.address(&buyer).await;
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let show = shop.live_show(json!({})).await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let lot = shop.live_lot(Some(&show), json!({})).await;
        shop.bid(&buyer, &lot, 1000).await;
        shop.hammer(&lot).await;
        orders.push(shop.order_of(&buyer, &lot).await);
    }
    let lot = shop.live_lot(Some(&show), json!({})).await;
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/auctions/{lot}/buy-now"),
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    orders.push(shop.order_of(&buyer, &lot).await);

    let bundle = orders[0]
        .bundle_id
        .clone()
        .expect("a show's win joins a bundle");
    assert!(
        orders
            .iter()
            .all(|o| o.bundle_id.as_deref() == Some(bundle.as_str()))
    );
    let shipping: Vec<i64> = orders.iter().map(|o| o.shipping).collect();
    assert_eq!(
        shipping,
        vec![500, 200, 200, 200],
        "first item, then each additional"
    );
    for order in &orders {
        shop.order_becomes(&buyer, &order.id, "paid").await;
    }
    let seen = shop.bundle(&buyer, &bundle).await;
    assert_eq!(seen.orders.len(), 4);
    assert_eq!(seen.shipping_total, 500 + 3 * 200);
    assert_eq!(seen.status, "open");

    let res = shop
        .app
        .post_json(
            &format!("/api/v1/bundles/{bundle}/ship"),
            &json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}),
            Some(&shop.seller.access_token),
        )
        .await;
    let shipped: crate::paying_helpers::Bundle = read_json(res, StatusCode::OK).await;
    assert_eq!(shipped.status, "shipped");
    assert_eq!(
        shipped.tracking_number.as_deref(),
        Some("1Z999AA10123456784")
    );
    for order in &shipped.orders {
        assert_eq!(order.status, "shipped");
        let shipment = order.shipment.as_ref().unwrap();
        assert_eq!(shipment.tracking_number, "1Z999AA10123456784");
    }
    // The buyer is told of each order shipped, with the tracking number.
    let kinds = notices_once(&shop.app, &buyer, &["order_shipped"]).await;
    assert_eq!(kinds.iter().filter(|k| *k == "order_shipped").count(), 4);
    // The seller sees the same bundle.
    assert_eq!(shop.bundle(&shop.seller, &bundle).await.orders.len(), 4);
    let stranger = shop.buyer("stranger@example.com").await;
    let res = shop
        .app
        .get(
            &format!("/api/v1/bundles/{bundle}"),
            Some(&stranger.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_seller_is_paid_once_after_delivery_and_a_later_refund_reverses_it() {
    let shop = pay_shop().await;
    let account = shop.onboard_seller().await;
    let buyer = shop.buyer("buyer@example.com").await;
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let lot = shop.live_lot(None, json!({})).await;
    shop.bid(&buyer, &lot, 3000).await;
    shop.hammer(&lot).await;
    let order = shop.order_of(&buyer, &lot).await;
    let order = shop.order_becomes(&buyer, &order.id, "paid").await;

    // A part refunded before the transfer lowers it.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/refund?amount=500", order.id),
            &json!({}),
            Some(&shop.seller.access_token),
        )
        .await;
    let partly: Order = read_json(res, StatusCode::OK).await;
    assert_eq!((partly.status.as_str(), partly.refunded), ("paid", 500));
    assert_eq!(
        shop.stripe.seen.lock().unwrap().refunds.last().unwrap()["amount"],
        "500"
    );

    let res = crate::commerce_helpers::ship(&shop.app, &shop.seller, &order.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        shop.payouts().await.is_empty(),
        "nothing is paid out before delivery"
    );
    let res = order_action(&shop.app, &shop.seller, &order.id, "deliver").await;
    assert_eq!(res.status(), StatusCode::OK);

    let share = order.total - order.platform_fee - 500;
    let mut payouts = Vec::new();
    for _ in 0..100 {
        payouts = shop.payouts().await;
        if !payouts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(payouts.len(), 1);
    assert_eq!(
        (payouts[0].order_id.as_str(), payouts[0].amount),
        (order.id.as_str(), share)
    );
    // More runs of the payout step transfer nothing more.
    shop.app.state.commerce.pay_out_due().await.unwrap();
    shop.app.state.commerce.pay_out_due().await.unwrap();
    {
        let seen = shop.stripe.seen.lock().unwrap();
        let transfers = &seen.transfers;
        assert_eq!(transfers.len(), 1);
        assert_eq!(transfers[0].form["amount"], share.to_string());
        assert_eq!(transfers[0].form["destination"], account);
    }
    let balance = shop.balance().await;
    assert!(balance.payouts_enabled);
    assert_eq!(balance.lines[0].paid_out, share);
    assert_eq!(balance.lines[0].pending, 0);
    assert_eq!(balance.lines[0].currency, "USD");

    // The rest refunded after the transfer: that much is taken back.
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/orders/{}/refund", order.id),
            &json!({}),
            Some(&shop.seller.access_token),
        )
        .await;
    let refunded: Order = read_json(res, StatusCode::OK).await;
    assert_eq!(
        (refunded.status.as_str(), refunded.refunded),
        ("refunded", order.total)
    );
    let rest = order.total - 500;
    let reversal = shop
        .stripe
        .seen
        .lock()
        .unwrap()
        .reversals
        .last()
        .cloned()
        .unwrap();
    assert_eq!(reversal.form["amount"], rest.min(share).to_string());
    assert_eq!(shop.payouts().await[0].reversed, rest.min(share));
}

#[actix_web::test]
async fn a_partial_refund_at_the_gateway_is_recorded_as_partial() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let lot = shop.live_lot(None, json!({})).await;
    shop.bid(&buyer, &lot, 3000).await;
    shop.hammer(&lot).await;
    let order = shop.order_of(&buyer, &lot).await;
    let order = shop.order_becomes(&buyer, &order.id, "paid").await;
    let pi = charge_intent(&shop, &order.id);
    let charge = |refunded: i64, id: &str| {
        (
            id.to_owned(),
            json!({"id": "ch_1", "object": "charge", "payment_intent": pi, "amount": order.total,
                   "amount_refunded": refunded, "refunded": refunded == order.total, "currency": "usd"}),
        )
    };
    let (id, object) = charge(1000, "evt_refund_1");
    shop.stripe_event(&id, "charge.refunded", object).await;
    let after = shop.order(&buyer, &order.id).await;
    assert_eq!((after.status.as_str(), after.refunded), ("paid", 1000));
    let (id, object) = charge(order.total, "evt_refund_2");
    shop.stripe_event(&id, "charge.refunded", object).await;
    let after = shop.order(&buyer, &order.id).await;
    assert_eq!(
        (after.status.as_str(), after.refunded),
        ("refunded", order.total)
    );
}

#[actix_web::test]
async fn a_bundle_booked_with_ninja_van_is_tracked_to_delivery_by_signed_webhooks() {
    use crate::ninjavan_stub::{
        self, CLIENT_ID, CLIENT_SECRET, COUNTRY, PDF_MAGIC, WEBHOOK_SECRET,
    };
    let ninjavan = ninjavan_stub::spawn();
    let base = ninjavan.base.clone();
    let shop = pay_shop_with(move |c| {
        c.ninjavan_client_id = Some(CLIENT_ID.into());
        c.ninjavan_client_secret = Some(secrecy::SecretString::from(CLIENT_SECRET));
        c.ninjavan_country = Some(COUNTRY.into());
        c.ninjavan_api_base = Some(base);
        c.ninjavan_webhook_secret = Some(secrecy::SecretString::from(WEBHOOK_SECRET));
    })
    .await;
    shop.set_rates(500, 200).await;
    shop.address(&shop.seller).await;
    let buyer = shop.buyer("buyer@example.com").await;
    shop.address(&buyer).await;
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let show = shop.live_show(json!({})).await;
    let mut orders = Vec::new();
    for _ in 0..2 {
        let lot = shop.live_lot(Some(&show), json!({})).await;
        shop.bid(&buyer, &lot, 1000).await;
        shop.hammer(&lot).await;
        let order = shop.order_of(&buyer, &lot).await;
        orders.push(shop.order_becomes(&buyer, &order.id, "paid").await);
    }
    let bundle = orders[0].bundle_id.clone().unwrap();

    let res = shop
        .app
        .post_json(
            &format!("/api/v1/bundles/{bundle}/ship"),
            &json!({"carrier": "ninjavan"}),
            Some(&shop.seller.access_token),
        )
        .await;
    let shipped: crate::paying_helpers::Bundle = read_json(res, StatusCode::OK).await;
    assert_eq!(shipped.provider.as_deref(), Some("ninjavan"));
    let tracking = shipped.tracking_number.clone().unwrap();
    {
        let seen = ninjavan.seen();
        assert_eq!(seen.orders.len(), 1, "one delivery order for the bundle");
        assert_eq!(seen.orders[0]["tracking_number"], tracking.as_str());
    }
    for order in &shipped.orders {
        assert_eq!(order.shipment.as_ref().unwrap().tracking_number, tracking);
    }
    let label = shop
        .app
        .get(
            &format!("/api/v1/bundles/{bundle}/label"),
            Some(&shop.seller.access_token),
        )
        .await;
    assert_eq!(label.status(), StatusCode::OK);
    assert_eq!(label.headers()["content-type"], "application/pdf");
    assert!(label.bytes().await.unwrap().starts_with(PDF_MAGIC));
    let by_order = shop
        .app
        .get(
            &format!("/api/v1/orders/{}/label", orders[1].id),
            Some(&shop.seller.access_token),
        )
        .await;
    assert_eq!(by_order.status(), StatusCode::OK);
    // The buyer does not print the seller's label.
    let res = shop
        .app
        .get(
            &format!("/api/v1/bundles/{bundle}/label"),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let webhook = |body: &str, signature: &str| {
        shop.app
            .client
            .post(shop.app.url("/api/v1/webhooks/ninjavan"))
            .header("content-type", "application/json")
            .header("X-Ninjavan-Hmac-Sha256", signature.to_owned())
            .body(body.to_owned())
            .send()
    };
    let delivered = ninjavan_stub::tracking_event(&tracking, "Delivered, Received by Customer");
    // A badly signed report changes nothing.
    let forged = webhook(
        &delivered,
        &ninjavan_stub::sign("not-the-secret", &delivered),
    )
    .await
    .unwrap();
    let (code, _) = error_code(forged, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_signature");
    for order in &orders {
        assert_eq!(shop.order(&buyer, &order.id).await.status, "shipped");
    }
    let res = webhook(&delivered, &ninjavan_stub::sign(WEBHOOK_SECRET, &delivered))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for order in &orders {
        let order = shop.order(&buyer, &order.id).await;
        assert_eq!(order.status, "delivered");
        let history = &order.shipment.unwrap().history;
        assert!(history.iter().any(|step| step.status == "delivered"));
    }
    assert_eq!(shop.bundle(&buyer, &bundle).await.status, "delivered");
    // The same report again is a duplicate: no second history entry.
    let again = webhook(&delivered, &ninjavan_stub::sign(WEBHOOK_SECRET, &delivered))
        .await
        .unwrap();
    let receipt: Value = read_json(again, StatusCode::OK).await;
    assert_eq!(receipt["duplicate"], true);
    let order = shop.order(&buyer, &orders[0].id).await;
    assert_eq!(order.shipment.unwrap().history.len(), 2);
}

#[actix_web::test]
async fn cards_on_file_are_listed_made_default_and_removed() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    let first = shop
        .save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    let second = shop
        .save_card(&buyer, "1881", CardBehaviour::Succeeds)
        .await;
    assert!(
        first.is_default && !second.is_default,
        "the first card is the default"
    );

    let res = shop
        .app
        .put_json(
            &format!("/api/v1/payments/methods/{}/default", second.id),
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    let made: crate::paying_helpers::Card = read_json(res, StatusCode::OK).await;
    assert!(made.is_default);
    let defaults: Vec<String> = shop
        .cards(&buyer)
        .await
        .into_iter()
        .filter(|c| c.is_default)
        .map(|c| c.last4)
        .collect();
    assert_eq!(defaults, vec!["1881".to_owned()]);

    // Nobody else sees or removes them.
    let stranger = shop.buyer("stranger@example.com").await;
    assert!(shop.cards(&stranger).await.is_empty());
    let res = shop
        .app
        .delete(
            &format!("/api/v1/payments/methods/{}", second.id),
            Some(&stranger.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Removing the default detaches it at Stripe and makes the other the default.
    let res = shop
        .app
        .delete(
            &format!("/api/v1/payments/methods/{}", second.id),
            Some(&buyer.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(shop.stripe.seen.lock().unwrap().detached.len(), 1);
    let left = shop.cards(&buyer).await;
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].last4.as_str(), left[0].is_default), ("4242", true));

    // The browser's read-back of a setup intent stores its card once, as the webhook does.
    let res = shop
        .app
        .post_json(
            "/api/v1/payments/methods/setup",
            &json!({}),
            Some(&buyer.access_token),
        )
        .await;
    let setup: Value = read_json(res, StatusCode::OK).await;
    let seti = setup["setup_intent_id"].as_str().unwrap().to_owned();
    let confirm = |token: String| {
        let body = json!({"setup_intent_id": seti});
        let app = &shop.app;
        async move {
            app.post_json("/api/v1/payments/methods/confirm", &body, Some(&token))
                .await
        }
    };
    let (code, _) = error_code(
        confirm(buyer.access_token.clone()).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        code, "invalid_transition",
        "not confirmed in the browser yet"
    );
    shop.stripe.complete_setup(
        &seti,
        "mastercard",
        "4444",
        1,
        2031,
        CardBehaviour::Succeeds,
    );
    // Another user cannot read back someone else's setup intent.
    let res = confirm(stranger.access_token.clone()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let stored: crate::paying_helpers::Card =
        read_json(confirm(buyer.access_token.clone()).await, StatusCode::OK).await;
    assert_eq!(
        (stored.brand.as_str(), stored.last4.as_str()),
        ("mastercard", "4444")
    );
    let again: crate::paying_helpers::Card =
        read_json(confirm(buyer.access_token.clone()).await, StatusCode::OK).await;
    assert_eq!(again.id, stored.id);
    assert_eq!(shop.cards(&buyer).await.len(), 2);
}

#[actix_web::test]
async fn a_flash_sale_claim_needs_a_card_where_the_show_requires_one() {
    let shop = pay_shop().await;
    let buyer = shop.buyer("buyer@example.com").await;
    let show = shop
        .live_show(json!({"require_payment_method": true}))
        .await;
    let product = crate::commerce_helpers::stocked_product(&shop.app, &shop.seller, 1_500, 5).await;
    let res = shop
        .app
        .post_json(
            &format!("/api/v1/shows/{show}/flash-sales"),
            &json!({"product_id": product, "price": 1_000, "quantity": 5, "per_buyer_cap": 2,
                    "duration_ms": 60_000}),
            Some(&shop.seller.access_token),
        )
        .await;
    let sale: Value = read_json(res, StatusCode::CREATED).await;
    let sale = sale["id"].as_str().unwrap().to_owned();
    crate::giveaways::next_lot(&shop.app, &shop.seller, &show).await;
    let claim = async || {
        shop.app
            .post_json(
                &format!("/api/v1/flash-sales/{sale}/claims"),
                &json!({"quantity": 1}),
                Some(&buyer.access_token),
            )
            .await
    };

    let (code, _) = error_code(claim().await, StatusCode::PAYMENT_REQUIRED).await;
    assert_eq!(code, "payment_method_required");
    shop.save_card(&buyer, "4242", CardBehaviour::Succeeds)
        .await;
    assert_eq!(claim().await.status(), StatusCode::CREATED);
}
