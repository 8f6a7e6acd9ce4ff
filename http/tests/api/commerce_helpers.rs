//! The commerce API tests' vocabulary: the answers they read, as small typed
//! structs, and the steps that bring a shop, a cart or an order to the state
//! a test starts from.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auctions::{command, create_auction, rest_bid};
use crate::helpers::{TestApp, TestUser, read_json, spawn_app, spawn_app_with};
use crate::stripe_stub::{self, SECRET_KEY, StripeStub, WEBHOOK_SECRET, event, signature};

// The answers, with the fields the tests read.

/// Anything created, by its id.
#[derive(Debug, Deserialize)]
pub struct Created {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct Order {
    pub id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub auction_id: Option<String>,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
    pub items: Vec<OrderItem>,
    pub shipment: Option<Shipment>,
    pub bundle_id: Option<String>,
    pub second_chance_of: Option<String>,
    pub payment_failure: Option<String>,
    pub platform_fee: i64,
    pub refunded: i64,
}

#[derive(Debug, Deserialize)]
pub struct OrderItem {
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub tracking_url: Option<String>,
    pub history: Vec<ShipmentEvent>,
}

#[derive(Debug, Deserialize)]
pub struct ShipmentEvent {
    pub status: String,
}

/// A page of a list.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What a checkout answers: one order per seller.
#[derive(Debug, Deserialize)]
pub struct Checkout {
    pub orders: Vec<Order>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub payment_id: String,
    pub payment_intent_id: String,
    pub client_secret: Option<String>,
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct WebhookReceipt {
    pub duplicate: bool,
}

#[derive(Debug, Deserialize)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub subtotals: Vec<CartSubtotal>,
}

#[derive(Debug, Deserialize)]
pub struct CartItem {
    pub quantity: i64,
}

#[derive(Debug, Deserialize)]
pub struct CartSubtotal {
    pub amount: i64,
}

#[derive(Debug, Deserialize)]
pub struct StockLevel {
    pub product_id: String,
    pub reserved: i64,
}

// Orders, payments and shipping.

/// The order `id` as `user` sees it.
pub async fn get_order(app: &TestApp, user: &TestUser, id: &str) -> Order {
    let res = app
        .get(&format!("/api/v1/orders/{id}"), Some(&user.access_token))
        .await;
    read_json(res, StatusCode::OK).await
}

/// The order `id` as `user` sees it, every field of the answer.
pub async fn get_order_json(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/orders/{id}"), Some(&user.access_token))
        .await;
    read_json(res, StatusCode::OK).await
}

/// `POST /orders/{id}/{action}` (`cancel`, `mark-paid`, `deliver`, `refund`) as `user`.
pub async fn order_action(app: &TestApp, user: &TestUser, id: &str, action: &str) -> Response {
    app.post_json(
        &format!("/api/v1/orders/{id}/{action}"),
        &json!({}),
        Some(&user.access_token),
    )
    .await
}

pub const CARRIER: &str = "UPS";
pub const TRACKING_NUMBER: &str = "1Z999AA10123456784";

/// `user` hands order `id` to [`CARRIER`] with [`TRACKING_NUMBER`].
pub async fn ship(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.post_json(
        &format!("/api/v1/orders/{id}/ship"),
        &json!({"carrier": CARRIER, "tracking_number": TRACKING_NUMBER}),
        Some(&user.access_token),
    )
    .await
}

/// `user` asks for the payment intent of order `id`.
pub async fn payment_intent(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.post_json(
        "/api/v1/payments/intent",
        &json!({"order_id": id}),
        Some(&user.access_token),
    )
    .await
}

/// A delivery to the Stripe webhook with `Stripe-Signature: sig`.
pub async fn webhook(app: &TestApp, payload: &str, sig: &str) -> Response {
    app.client
        .post(app.url("/api/v1/webhooks/stripe"))
        .header("Stripe-Signature", sig)
        .header("Content-Type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
}

/// The signature Stripe would send for `payload` now.
pub fn signed_now(payload: &str) -> String {
    signature(WEBHOOK_SECRET, chrono::Utc::now().timestamp(), payload)
}

/// Stripe's `payment_intent.succeeded` for intent `pi` of `order`.
pub fn payment_succeeded(pi: &str, order: &Order) -> String {
    event(
        "evt_paid_1",
        "payment_intent.succeeded",
        json!({"id": pi, "object": "payment_intent", "amount": order.total,
               "amount_received": order.total, "currency": order.currency.to_lowercase(),
               "status": "succeeded", "metadata": {"order_id": order.id}}),
    )
}

/// Stripe's `charge.refunded` for intent `pi`.
pub fn charge_refunded(pi: &str) -> String {
    event(
        "evt_refund_1",
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "payment_intent": pi}),
    )
}

/// A server that takes payments through the Stripe stand-in, with 8.25 % tax
/// and a flat 5.99 shipping, and its seller and buyer.
pub struct StripeShop {
    pub app: TestApp,
    pub stripe: StripeStub,
    pub seller: TestUser,
    pub buyer: TestUser,
}

/// An order of the shop's buyer, with the id of its payment intent once it has one.
pub struct ShopOrder {
    pub order: Order,
    pub payment_intent_id: String,
}

pub async fn stripe_shop() -> StripeShop {
    let stripe = stripe_stub::spawn();
    let base = stripe.base.clone();
    let app = spawn_app_with(move |c| {
        c.stripe_secret_key = Some(SecretString::from(SECRET_KEY));
        c.stripe_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
        c.stripe_api_base = Some(base);
        // These tests bid without a card on file.
        c.require_card_to_bid = Some(false);
        c.tax_rate_bps = 825;
        c.shipping_flat_minor = 599;
        c.outbox_poll_ms = 50;
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    let buyer = app.register("buyer@example.com", "buyer").await;
    StripeShop {
        app,
        stripe,
        seller,
        buyer,
    }
}

impl StripeShop {
    /// A stranger to every order: a buyer who never bought.
    pub async fn stranger(&self) -> TestUser {
        self.app.register("stranger@example.com", "buyer").await
    }

    /// The buyer wins an auction of the seller with a bid of 1000; answers its id.
    pub async fn win_auction(&self) -> String {
        let (app, seller) = (&self.app, &self.seller);
        let auction = create_auction(app, seller, json!({})).await;
        let auction_id = auction["id"].as_str().unwrap().to_owned();
        let started = command(app, seller, &auction_id, "start").await;
        assert_eq!(started.status(), StatusCode::OK);
        let bid = rest_bid(app, &self.buyer, &auction_id, json!({"amount": 1000})).await;
        assert_eq!(bid.status(), StatusCode::CREATED);
        let ended = command(app, seller, &auction_id, "end").await;
        assert_eq!(ended.status(), StatusCode::OK);
        auction_id
    }

    /// The buyer's first order, once the outbox consumer has made it.
    pub async fn winners_order(&self) -> Order {
        for _ in 0..200 {
            let res = self
                .app
                .get("/api/v1/orders", Some(&self.buyer.access_token))
                .await;
            let page: Page<Order> = read_json(res, StatusCode::OK).await;
            if let Some(order) = page.items.into_iter().next() {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the winner's order never appeared");
    }

    /// An order of the buyer's awaiting payment: a won auction's.
    pub async fn unpaid_order(&self) -> Order {
        self.win_auction().await;
        self.winners_order().await
    }

    /// The buyer's payment intent for `order`.
    pub async fn intent_for(&self, order: &Order) -> PaymentIntent {
        let res = payment_intent(&self.app, &self.buyer, &order.id).await;
        read_json(res, StatusCode::OK).await
    }

    /// An order the buyer paid: Stripe's signed webhook said so.
    pub async fn paid_order(&self) -> ShopOrder {
        let order = self.unpaid_order().await;
        let pi = self.intent_for(&order).await.payment_intent_id;
        let paid = payment_succeeded(&pi, &order);
        let res = webhook(&self.app, &paid, &signed_now(&paid)).await;
        assert_eq!(res.status(), StatusCode::OK);
        ShopOrder {
            order: self.order(&order.id).await,
            payment_intent_id: pi,
        }
    }

    /// A paid order the seller shipped.
    pub async fn shipped_order(&self) -> ShopOrder {
        let paid = self.paid_order().await;
        let res = ship(&self.app, &self.seller, &paid.order.id).await;
        assert_eq!(res.status(), StatusCode::OK);
        ShopOrder {
            order: self.order(&paid.order.id).await,
            ..paid
        }
    }

    /// A shipped order the seller recorded as delivered.
    pub async fn delivered_order(&self) -> ShopOrder {
        let shipped = self.shipped_order().await;
        let res = order_action(&self.app, &self.seller, &shipped.order.id, "deliver").await;
        assert_eq!(res.status(), StatusCode::OK);
        ShopOrder {
            order: self.order(&shipped.order.id).await,
            ..shipped
        }
    }

    /// Order `id` as the buyer sees it.
    pub async fn order(&self, id: &str) -> Order {
        get_order(&self.app, &self.buyer, id).await
    }
}

// Carts, addresses, stock and checkouts (the manual gateway: no Stripe).

/// The price of the shop's product, and how many are in stock.
pub const PRICE: i64 = 2500;
pub const STOCK: i64 = 3;

/// A server without Stripe, and a seller's product of [`PRICE`] with
/// [`STOCK`] units in stock.
pub struct Shop {
    pub app: TestApp,
    pub seller: TestUser,
    pub product: String,
}

pub async fn shop() -> Shop {
    let app = spawn_app().await;
    let seller = app.register("seller@example.com", "seller").await;
    let product = stocked_product(&app, &seller, PRICE, STOCK).await;
    Shop {
        app,
        seller,
        product,
    }
}

/// A fixed-price product of `seller` with `stock` units; answers its id.
pub async fn stocked_product(app: &TestApp, seller: &TestUser, price: i64, stock: i64) -> String {
    let res = app
        .post_json(
            "/api/v1/products",
            &json!({"title": "Film roll", "description": "Fresh", "condition": "new",
                    "currency": "USD", "start_price": 100, "buy_now_price": price,
                    "status": "active"}),
            Some(&seller.access_token),
        )
        .await;
    let product: Created = read_json(res, StatusCode::CREATED).await;
    let res = app
        .put_json(
            &format!("/api/v1/inventory/products/{}", product.id),
            &json!({"quantity": stock}),
            Some(&seller.access_token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    product.id
}

/// A shipping address of `user`; answers its id.
pub async fn address(app: &TestApp, user: &TestUser) -> String {
    let res = app
        .post_json(
            "/api/v1/addresses",
            &json!({"type": "shipping", "first_name": "Ada", "last_name": "Lovelace",
                    "address_line1": "1 Main St", "city": "Springfield", "state": "IL",
                    "postal_code": "62701", "country": "US", "phone": "+1 217 555 0100"}),
            Some(&user.access_token),
        )
        .await;
    read_json::<Created>(res, StatusCode::CREATED).await.id
}

/// `quantity` of `product` into the cart of `token`'s user (a guest's without one).
pub async fn add_to_cart(
    app: &TestApp,
    token: Option<&str>,
    product: &str,
    quantity: i64,
) -> Response {
    app.post_json(
        "/api/v1/cart/items",
        &json!({"product_id": product, "quantity": quantity}),
        token,
    )
    .await
}

/// The cart held under `cart_token` (`X-Cart-Token`).
pub async fn cart_by_token(app: &TestApp, cart_token: &str) -> Cart {
    let res = app
        .client
        .get(app.url("/api/v1/cart"))
        .header("X-Cart-Token", cart_token)
        .send()
        .await
        .unwrap();
    read_json(res, StatusCode::OK).await
}

/// `user` checks their cart out to `address`.
pub async fn checkout(app: &TestApp, user: &TestUser, address: &str) -> Response {
    app.post_json(
        "/api/v1/orders",
        &json!({"shipping_address_id": address}),
        Some(&user.access_token),
    )
    .await
}

impl Shop {
    /// A guest's cart with `quantity` of the product; answers its token and the cart.
    pub async fn guest_cart(&self, quantity: i64) -> (String, Cart) {
        let res = add_to_cart(&self.app, None, &self.product, quantity).await;
        assert_eq!(res.status(), StatusCode::OK);
        let token = res.headers()["x-cart-token"].to_str().unwrap().to_owned();
        (token, read_json(res, StatusCode::OK).await)
    }

    /// A buyer with `quantity` of the product in their cart.
    pub async fn buyer_with_cart(&self, email: &str, quantity: i64) -> TestUser {
        let buyer = self.app.register(email, "buyer").await;
        let res = add_to_cart(
            &self.app,
            Some(&buyer.access_token),
            &self.product,
            quantity,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        buyer
    }

    /// A buyer's checked-out order of one unit, awaiting payment.
    pub async fn checked_out_order(&self) -> (TestUser, Order) {
        let buyer = self.buyer_with_cart("buyer@example.com", 1).await;
        let to = address(&self.app, &buyer).await;
        let res = checkout(&self.app, &buyer, &to).await;
        let placed: Checkout = read_json(res, StatusCode::CREATED).await;
        let order = placed.orders.into_iter().next().unwrap();
        assert_eq!(order.buyer_id, buyer.id);
        (buyer, order)
    }

    /// The product's stock as the seller reads it.
    pub async fn stock(&self) -> StockLevel {
        let res = self
            .app
            .get(
                &format!("/api/v1/inventory/products/{}", self.product),
                Some(&self.seller.access_token),
            )
            .await;
        read_json(res, StatusCode::OK).await
    }
}
