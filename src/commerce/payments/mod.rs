//! Payments: a gateway trait, the Stripe gateway, the manual gateway for
//! development, and Stripe's webhooks.
//!
//! `POST /payments/intent` makes (or finds again) the payment of an unpaid
//! order at the gateway and answers the client secret the browser confirms
//! with. The order becomes `paid` only when the gateway says so: Stripe by a
//! signed `payment_intent.succeeded` webhook; with the manual gateway, the
//! seller or an admin marks it paid.

mod gateway;
pub mod manual;
pub mod stripe;
pub mod webhooks;

pub use gateway::*;

use crate::Code;
use blytz_actors::domain::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::model::OrderStatus;
use super::orders::{invalid_transition, move_order};
use super::{Caller, Commerce};
use crate::error::{Error, Result};
use crate::with_db;

/// `POST /payments/intent`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct IntentInput {
    /// The caller's unpaid order.
    pub order_id: Uuid,
}

/// What `POST /payments/intent` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentIntentView {
    /// Blytz's payment.
    pub payment_id: Uuid,
    /// The gateway's payment intent.
    pub payment_intent_id: String,
    /// For the browser's confirmation (Stripe.js).
    pub client_secret: Option<String>,
    /// The gateway's status.
    pub status: String,
}

impl Commerce {
    /// Make (or find again) the payment intent of the caller's unpaid order.
    pub async fn payment_intent(
        &self,
        caller: Caller,
        order_id: Uuid,
    ) -> Result<PaymentIntentView> {
        let row = self.visible_order(caller, order_id).await?;
        if row.buyer_id != Uuid::from(caller.id) {
            return Err(Error::NotFound { what: "order" });
        }
        let status = row.status()?;
        if status != OrderStatus::PendingPayment {
            return Err(invalid_transition(status, OrderStatus::Paid));
        }
        if self.gateway.is_manual() {
            return Err(Error::refused(
                Code::PaymentsManual,
                "no payment gateway is configured (STRIPE_SECRET_KEY): the seller or \
                          an admin marks the order paid",
            ));
        }
        // An open payment is answered again; a failed one leaves room for a new attempt.
        let open: Option<(Uuid, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, intent_id FROM payments WHERE order_id = $1 AND status NOT IN ('failed', 'canceled') \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(pool)
        .await)?;
        if let Some((payment_id, intent_id)) = open {
            let intent = self.gateway.retrieve_intent(&intent_id).await?;
            return Ok(PaymentIntentView {
                payment_id,
                payment_intent_id: intent.id,
                client_secret: intent.client_secret,
                status: intent.status,
            });
        }
        let attempts: i64 = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_one(pool)
        .await)?;
        let request = IntentRequest {
            order_id,
            amount: row.total()?,
            idempotency_key: format!("blytz-order-{order_id}-attempt-{attempts}"),
        };
        let intent = self.gateway.create_intent(&request).await?;
        let now = crate::time::now();
        let payment_id = Uuid::now_v7();
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO payments (id, order_id, provider, intent_id, amount, currency, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (intent_id) DO NOTHING",
        )
        .bind(payment_id).bind(order_id).bind(self.gateway.name()).bind(&intent.id)
        .bind(request.amount.minor).bind(request.amount.currency.as_str()).bind(&intent.status).bind(now)
        .execute(pool).await.map(|_| ()))?;
        // Two concurrent requests share the intent (same idempotency key) and one row.
        let payment_id: Uuid = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM payments WHERE intent_id = $1",
        )
        .bind(&intent.id)
        .fetch_optional(pool)
        .await)?
        .unwrap_or(payment_id);
        Ok(PaymentIntentView {
            payment_id,
            payment_intent_id: intent.id,
            client_secret: intent.client_secret,
            status: intent.status,
        })
    }

    /// Refund a paid order in full (its seller or an admin): the gateway pays
    /// the buyer back and the order becomes `refunded`.
    pub async fn refund_order(&self, caller: Caller, id: Uuid) -> Result<super::Order> {
        let row = self.visible_order(caller, id).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden(
                "only the seller or an admin may refund an order",
            ));
        }
        let status = row.status()?;
        if !status.can_become(OrderStatus::Refunded) {
            return Err(invalid_transition(status, OrderStatus::Refunded));
        }
        let paid: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT intent_id FROM payments WHERE order_id = $1 AND status = 'succeeded' \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        if let Some(intent) = &paid
            && !self.gateway.is_manual()
        {
            self.gateway
                .refund(intent, None, &format!("blytz-refund-{id}"))
                .await?;
        }
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = move_order!(tx, id, OrderStatus::Refunded, now);
            if let Some(intent) = &paid {
                sqlx::query("UPDATE payments SET status = 'refunded', updated_at = $1 WHERE intent_id = $2")
                    .bind(now).bind(intent).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            moved
        });
        if !moved {
            let current = self.order_row(id).await?.map(|r| r.status()).transpose()?;
            if current != Some(OrderStatus::Refunded) {
                return Err(invalid_transition(
                    current.unwrap_or(status),
                    OrderStatus::Refunded,
                ));
            }
        }
        self.order(caller, id).await
    }
}
