//! Paying at the hammer, the tests' vocabulary: a shop on the Stripe
//! stand-in with cards on file required, a live show, saved cards, won lots,
//! and the answers the tests read.

use std::time::Duration;

use reqwest::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auctions::{command, rest_bid};
use crate::commerce_helpers::{Order, Page, signed_now, webhook};
use crate::helpers::{TestApp, TestUser, read_json, spawn_app_with};
use crate::stripe_stub::{self, CardBehaviour, SECRET_KEY, StripeStub, WEBHOOK_SECRET, event};

/// The platform's fee in these tests: 10 %.
pub const FEE_BPS: u32 = 1_000;

#[derive(Debug, Deserialize)]
pub struct Card {
    pub id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub is_default: bool,
}

#[derive(Debug, Deserialize)]
pub struct Bundle {
    pub status: String,
    pub shipping_total: i64,
    pub provider: Option<String>,
    pub tracking_number: Option<String>,
    pub orders: Vec<Order>,
}

#[derive(Debug, Deserialize)]
pub struct Offer {
    pub id: String,
    pub buyer_id: String,
    pub amount: i64,
    pub status: String,
    pub new_order_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Balance {
    pub payouts_enabled: bool,
    pub lines: Vec<BalanceLine>,
}

#[derive(Debug, Deserialize)]
pub struct BalanceLine {
    pub currency: String,
    pub pending: i64,
    pub paid_out: i64,
}

#[derive(Debug, Deserialize)]
pub struct Payout {
    pub order_id: String,
    pub amount: i64,
    pub reversed: i64,
}

/// A server on the Stripe stand-in where bids need a card on file (the
/// default with Stripe), a seller, and the stand-in.
pub struct PayShop {
    pub app: TestApp,
    pub stripe: StripeStub,
    pub seller: TestUser,
}

pub async fn pay_shop() -> PayShop {
    pay_shop_with(|_| {}).await
}

pub async fn pay_shop_with(adjust: impl FnOnce(&mut blytz::Config)) -> PayShop {
    let stripe = stripe_stub::spawn();
    let base = stripe.base.clone();
    let app = spawn_app_with(move |c| {
        c.stripe_secret_key = Some(SecretString::from(SECRET_KEY));
        c.stripe_webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
        c.stripe_api_base = Some(base);
        c.platform_fee_bps = FEE_BPS;
        c.outbox_poll_ms = 50;
        adjust(c);
    })
    .await;
    let seller = app.register("seller@example.com", "seller").await;
    PayShop {
        app,
        stripe,
        seller,
    }
}

impl PayShop {
    pub async fn buyer(&self, email: &str) -> TestUser {
        self.app.register(email, "buyer").await
    }

    /// A signed Stripe webhook, answered 200.
    pub async fn stripe_event(&self, id: &str, kind: &str, object: Value) {
        let body = event(id, kind, object);
        let res = webhook(&self.app, &body, &signed_now(&body)).await;
        assert_eq!(res.status(), StatusCode::OK, "{kind} webhook");
    }

    /// `user` saves a card through the setup intent flow: the server makes the
    /// setup intent, the browser confirms it (the stand-in), Stripe's signed
    /// `setup_intent.succeeded` webhook stores it. Answers the saved card.
    pub async fn save_card(&self, user: &TestUser, last4: &str, behaviour: CardBehaviour) -> Card {
        let res = self
            .app
            .post_json(
                "/api/v1/payments/methods/setup",
                &json!({}),
                Some(&user.access_token),
            )
            .await;
        let setup: Value = read_json(res, StatusCode::OK).await;
        let seti = setup["setup_intent_id"].as_str().unwrap().to_owned();
        assert!(setup["client_secret"].as_str().is_some());
        let customer = setup["customer_id"].as_str().unwrap().to_owned();
        let pm = self
            .stripe
            .complete_setup(&seti, "visa", last4, 12, 2030, behaviour);
        self.stripe_event(
            &format!("evt_{seti}"),
            "setup_intent.succeeded",
            json!({"id": seti, "object": "setup_intent", "customer": customer,
                   "payment_method": pm, "status": "succeeded"}),
        )
        .await;
        self.cards(user)
            .await
            .into_iter()
            .find(|c| c.last4 == last4)
            .expect("the saved card is listed")
    }

    pub async fn cards(&self, user: &TestUser) -> Vec<Card> {
        let res = self
            .app
            .get("/api/v1/payments/methods", Some(&user.access_token))
            .await;
        let page: Page<Card> = read_json(res, StatusCode::OK).await;
        page.items
    }

    /// The seller onboards for payouts and Stripe enables them.
    pub async fn onboard_seller(&self) -> String {
        let res = self
            .app
            .post_json(
                "/api/v1/sellers/me/payouts/onboard",
                &json!({}),
                Some(&self.seller.access_token),
            )
            .await;
        let onboarding: Value = read_json(res, StatusCode::OK).await;
        let account = onboarding["account_id"].as_str().unwrap().to_owned();
        assert!(onboarding["url"].as_str().unwrap().starts_with("http"));
        assert_eq!(onboarding["payouts_enabled"], false);
        self.stripe.enable_payouts(&account);
        self.stripe_event(
            &format!("evt_{account}"),
            "account.updated",
            json!({"id": account, "object": "account"}),
        )
        .await;
        account
    }

    /// A show of the seller, live.
    pub async fn live_show(&self, extra: Value) -> String {
        let mut body = json!({"title": "Friday cards", "scheduled_at": "2026-12-01T18:00:00Z"});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let res = self
            .app
            .post_json("/api/v1/shows", &body, Some(&self.seller.access_token))
            .await;
        let show: Value = read_json(res, StatusCode::CREATED).await;
        let id = show["id"].as_str().unwrap().to_owned();
        let res = self
            .app
            .post_json(
                &format!("/api/v1/shows/{id}/go-live"),
                &json!({}),
                Some(&self.seller.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        id
    }

    /// A lot of the seller (in `show`, if any), started; answers its id.
    pub async fn live_lot(&self, show: Option<&str>, extra: Value) -> String {
        let product = self.app.create_product(&self.seller).await;
        let mut body = json!({"product_id": product, "currency": "USD", "start_price": 1000,
                              "duration_ms": 60_000, "buy_now_price": 9000});
        if let Some(show) = show {
            body["show_id"] = json!(show);
        }
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        let res = self
            .app
            .post_json("/api/v1/auctions", &body, Some(&self.seller.access_token))
            .await;
        let auction: Value = read_json(res, StatusCode::CREATED).await;
        let id = auction["id"].as_str().unwrap().to_owned();
        let res = command(&self.app, &self.seller, &id, "start").await;
        assert_eq!(res.status(), StatusCode::OK);
        id
    }

    /// `bidder` bids `amount` on `auction`, accepted.
    pub async fn bid(&self, bidder: &TestUser, auction: &str, amount: i64) {
        let res = rest_bid(&self.app, bidder, auction, json!({"amount": amount})).await;
        assert_eq!(res.status(), StatusCode::CREATED, "bid of {amount}");
    }

    /// The seller brings the hammer down.
    pub async fn hammer(&self, auction: &str) {
        let res = command(&self.app, &self.seller, auction, "end").await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// `buyer`'s order of `auction`, once the outbox has made it.
    pub async fn order_of(&self, buyer: &TestUser, auction: &str) -> Order {
        for _ in 0..200 {
            let res = self
                .app
                .get("/api/v1/orders?limit=100", Some(&buyer.access_token))
                .await;
            let page: Page<Order> = read_json(res, StatusCode::OK).await;
            if let Some(order) = page
                .items
                .into_iter()
                .find(|o| o.auction_id.as_deref() == Some(auction))
            {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the order of auction {auction} never appeared");
    }

    /// Order `id` as `user` sees it.
    pub async fn order(&self, user: &TestUser, id: &str) -> Order {
        crate::commerce_helpers::get_order(&self.app, user, id).await
    }

    /// Waits until order `id` is `status` (the outbox steps run every 50 ms).
    pub async fn order_becomes(&self, user: &TestUser, id: &str, status: &str) -> Order {
        for _ in 0..200 {
            let order = self.order(user, id).await;
            if order.status == status {
                return order;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let order = self.order(user, id).await;
        panic!(
            "order {id} stayed {} instead of becoming {status}",
            order.status
        );
    }

    pub async fn bundle(&self, user: &TestUser, id: &str) -> Bundle {
        let res = self
            .app
            .get(&format!("/api/v1/bundles/{id}"), Some(&user.access_token))
            .await;
        read_json(res, StatusCode::OK).await
    }

    pub async fn balance(&self) -> Balance {
        let res = self
            .app
            .get(
                "/api/v1/sellers/me/balance",
                Some(&self.seller.access_token),
            )
            .await;
        read_json(res, StatusCode::OK).await
    }

    pub async fn payouts(&self) -> Vec<Payout> {
        let res = self
            .app
            .get(
                "/api/v1/sellers/me/payouts",
                Some(&self.seller.access_token),
            )
            .await;
        let page: Page<Payout> = read_json(res, StatusCode::OK).await;
        page.items
    }

    /// The seller's shipping: first item and each additional one.
    pub async fn set_rates(&self, first: i64, additional: i64) {
        let res = self
            .app
            .put_json(
                "/api/v1/sellers/me/shipping",
                &json!({"currency": "USD", "first_item": first, "additional_item": additional}),
                Some(&self.seller.access_token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// A default shipping address of `user`.
    pub async fn address(&self, user: &TestUser) {
        crate::commerce_helpers::address(&self.app, user).await;
    }
}
