//! Payments on both backends, through a fake gateway: a failed payment
//! releases a checkout's stock, webhooks are applied once, disputes are
//! recorded, and forgotten carts expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use blytz::Db;
use blytz::accounts::Role;
use blytz::commerce::cart::CartOwner;
use blytz::commerce::inventory::StockInput;
use blytz::commerce::orders::CheckoutInput;
use blytz::commerce::payments::{IntentRequest, PaymentGateway, PaymentIntentInfo};
use blytz::commerce::shipping::ManualShipping;
use blytz::commerce::{Caller, Commerce, CommerceSettings, OrderStatus};
use blytz::with_db;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::json;
use sha2::Sha256;

use crate::commerce::{address, product, user};
use crate::helpers::backends;

const SECRET: &str = "whsec_store_suite";

/// Remembers what it was asked; every intent is `pi_<n>`.
#[derive(Debug, Default)]
struct FakeGateway {
    requests: Mutex<Vec<IntentRequest>>,
}

#[async_trait::async_trait]
impl PaymentGateway for FakeGateway {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn create_intent(
        &self,
        request: &IntentRequest,
    ) -> blytz::error::Result<PaymentIntentInfo> {
        let mut requests = self.requests.lock().unwrap();
        requests.push(request.clone());
        Ok(PaymentIntentInfo {
            id: format!("pi_{}", requests.len()),
            client_secret: Some(format!("pi_{}_secret", requests.len())),
            status: "requires_payment_method".into(),
        })
    }

    async fn retrieve_intent(&self, id: &str) -> blytz::error::Result<PaymentIntentInfo> {
        Ok(PaymentIntentInfo {
            id: id.to_owned(),
            client_secret: Some(format!("{id}_secret")),
            status: "requires_payment_method".into(),
        })
    }

    async fn refund(
        &self,
        _: &str,
        _: Option<blytz_actors::domain::Money>,
        _: &str,
    ) -> blytz::error::Result<String> {
        Ok("re_1".into())
    }
}

fn commerce(db: &Db, gateway: Arc<FakeGateway>, cart_ttl: Duration) -> Commerce {
    Commerce::new(
        db.clone(),
        CommerceSettings {
            cart_ttl,
            ..CommerceSettings::default()
        },
        gateway,
        Arc::new(ManualShipping),
        Some(SecretString::from(SECRET)),
    )
}

fn signed(kind: &str, event_id: &str, object: serde_json::Value) -> (Vec<u8>, String) {
    let body = json!({"id": event_id, "type": kind, "data": {"object": object}}).to_string();
    let t = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (body.into_bytes(), format!("t={t},v1={sig}"))
}

async fn payment_status(db: &Db, intent: &str) -> String {
    with_db!(db, pool => sqlx::query_scalar("SELECT status FROM payments WHERE intent_id = $1")
        .bind(intent).fetch_one(pool).await)
    .unwrap()
}

#[tokio::test]
async fn a_failed_payment_releases_the_checkout_and_webhooks_apply_once() {
    for scratch in backends().await {
        let db = &scratch.db;
        let gateway = Arc::new(FakeGateway::default());
        let c = commerce(db, Arc::clone(&gateway), Duration::from_secs(3600));
        let seller = user(db, Role::Seller).await;
        let buyer = user(db, Role::Buyer).await;
        let item = product(db, seller, Some(1500)).await;
        let as_seller = Caller {
            id: seller,
            role: Role::Seller,
        };
        let as_buyer = Caller {
            id: buyer,
            role: Role::Buyer,
        };
        c.set_stock(
            as_seller,
            item,
            StockInput {
                quantity: 4,
                low_stock_threshold: None,
            },
        )
        .await
        .unwrap();
        let addr = c.create_address(buyer, address("shipping")).await.unwrap();

        // First checkout: its payment fails; the stock comes back.
        c.add_to_cart(Some(&CartOwner::User(buyer)), item, 3)
            .await
            .unwrap();
        let orders = c
            .checkout(
                buyer,
                CheckoutInput {
                    shipping_address_id: addr.id,
                },
            )
            .await
            .unwrap();
        let order = orders[0].id;
        assert!(
            c.cart(Some(&CartOwner::User(buyer)))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let intent = c.payment_intent(as_buyer, order).await.unwrap();
        assert_eq!(intent.client_secret.as_deref(), Some("pi_1_secret"));
        {
            let requests = gateway.requests.lock().unwrap();
            assert_eq!(requests[0].amount.minor, 4500);
            assert_eq!(requests[0].order_id, order);
            assert_eq!(requests[0].amount.currency.as_str(), "USD");
        }
        // Asking again does not make a second intent.
        let again = c.payment_intent(as_buyer, order).await.unwrap();
        assert_eq!(again.payment_intent_id, "pi_1");
        assert_eq!(gateway.requests.lock().unwrap().len(), 1);
        assert_eq!(c.stock(as_seller, item).await.unwrap().available, 1);

        let (body, sig) = signed(
            "payment_intent.payment_failed",
            "evt_failed",
            json!({"id": "pi_1", "object": "payment_intent", "metadata": {"order_id": order.to_string()}}),
        );
        let receipt = c.stripe_webhook(&body, Some(&sig)).await.unwrap();
        assert!(!receipt.duplicate);
        assert_eq!(
            c.order(as_buyer, order).await.unwrap().status,
            OrderStatus::Cancelled
        );
        assert_eq!(payment_status(db, "pi_1").await, "failed");
        let stock = c.stock(as_seller, item).await.unwrap();
        assert_eq!((stock.quantity, stock.reserved), (4, 0));
        // Delivered again: nothing changes (the stock is not released twice).
        assert!(c.stripe_webhook(&body, Some(&sig)).await.unwrap().duplicate);
        let stock = c.stock(as_seller, item).await.unwrap();
        assert_eq!((stock.quantity, stock.reserved), (4, 0));

        // Second checkout: paid, then disputed, then refunded by Stripe.
        c.add_to_cart(Some(&CartOwner::User(buyer)), item, 2)
            .await
            .unwrap();
        let order = c
            .checkout(
                buyer,
                CheckoutInput {
                    shipping_address_id: addr.id,
                },
            )
            .await
            .unwrap()[0]
            .id;
        let intent = c.payment_intent(as_buyer, order).await.unwrap();
        assert_eq!(intent.payment_intent_id, "pi_2");
        let unpaid = c.order(as_buyer, order).await.unwrap();
        let (body, sig) = signed(
            "payment_intent.succeeded",
            "evt_paid",
            json!({"id": "pi_2", "object": "payment_intent", "amount": unpaid.total,
                   "currency": unpaid.currency.to_lowercase()}),
        );
        c.stripe_webhook(&body, Some(&sig)).await.unwrap();
        assert_eq!(
            c.order(as_buyer, order).await.unwrap().status,
            OrderStatus::Paid
        );
        let stock = c.stock(as_seller, item).await.unwrap();
        assert_eq!(
            (stock.quantity, stock.reserved),
            (2, 0),
            "paid units are sold"
        );
        let (body, sig) = signed(
            "charge.dispute.created",
            "evt_dispute",
            json!({"id": "dp_1", "object": "dispute", "charge": "ch_1", "payment_intent": "pi_2"}),
        );
        c.stripe_webhook(&body, Some(&sig)).await.unwrap();
        assert_eq!(payment_status(db, "pi_2").await, "disputed");
        let (body, sig) = signed(
            "charge.refunded",
            "evt_refund",
            json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_2"}),
        );
        c.stripe_webhook(&body, Some(&sig)).await.unwrap();
        assert_eq!(
            c.order(as_buyer, order).await.unwrap().status,
            OrderStatus::Refunded
        );
        // An event of another kind is acknowledged and ignored.
        let (body, sig) = signed("customer.created", "evt_other", json!({"id": "cus_1"}));
        assert!(!c.stripe_webhook(&body, Some(&sig)).await.unwrap().duplicate);
        // A forged one is refused and not recorded.
        let (body, _) = signed(
            "payment_intent.succeeded",
            "evt_forged",
            json!({"id": "pi_2"}),
        );
        let err = c
            .stripe_webhook(&body, Some("t=1,v1=00"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_signature");
        let seen: i64 = with_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = $1")
            .bind("evt_forged").fetch_one(pool).await)
        .unwrap();
        assert_eq!(seen, 0);
    }
}

#[tokio::test]
async fn forgotten_carts_expire() {
    for scratch in backends().await {
        let db = &scratch.db;
        let c = commerce(db, Arc::new(FakeGateway::default()), Duration::ZERO);
        let seller = user(db, Role::Seller).await;
        let buyer = user(db, Role::Buyer).await;
        let item = product(db, seller, Some(1500)).await;
        c.set_stock(
            Caller {
                id: seller,
                role: Role::Seller,
            },
            item,
            StockInput {
                quantity: 4,
                low_stock_threshold: None,
            },
        )
        .await
        .unwrap();
        let change = c
            .add_to_cart(Some(&CartOwner::User(buyer)), item, 1)
            .await
            .unwrap();
        assert_eq!(change.cart.items.len(), 1);
        // With a zero lifetime the cart is already gone when read again.
        assert!(
            c.cart(Some(&CartOwner::User(buyer)))
                .await
                .unwrap()
                .items
                .is_empty()
        );
        let guest = c.add_to_cart(None, item, 1).await.unwrap();
        assert!(guest.new_token.is_some());
        assert_eq!(c.purge_expired_carts(blytz::time::now()).await.unwrap(), 1);
    }
}
