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
        if !matches!(
            status,
            OrderStatus::PendingPayment | OrderStatus::PaymentFailed
        ) {
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

    /// Refund a paid order (its seller or an admin), in full or, with
    /// `amount`, in part: the gateway pays the buyer back, the amount is
    /// recorded, and the order becomes `refunded` once all of it is. A
    /// seller already paid out for it has that much of the transfer reversed.
    pub async fn refund_order(
        &self,
        caller: Caller,
        id: Uuid,
        amount: Option<i64>,
    ) -> Result<super::Order> {
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
        let left = row.total - row.refunded;
        let amount = amount.unwrap_or(left);
        if amount <= 0 || amount > left {
            return Err(Error::validation(
                "amount",
                "range",
                format!("must be between 1 and what is left to refund, {left}"),
            ));
        }
        let paid: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT intent_id FROM payments WHERE order_id = $1 AND status IN ('succeeded', 'partially_refunded') \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let currency = row.total()?.currency;
        let before = row.refunded;
        // The amount refunded before names this refund: a retry of it is the
        // same refund at the gateway, the next part is a new one.
        let key = format!("blytz-refund-{id}-{before}");
        let refund_id = match &paid {
            Some(intent) if !self.gateway.is_manual() => {
                let part = (amount < left || before > 0).then(|| Money::new(amount, currency));
                Some(self.gateway.refund(intent, part, &key).await?)
            }
            _ => None,
        };
        let now = crate::time::now();
        let whole = before + amount >= row.total;
        let recorded = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let recorded = sqlx::query(
                "UPDATE orders SET refunded = refunded + $1, updated_at = $2 WHERE id = $3 AND refunded = $4",
            )
            .bind(amount).bind(now).bind(id).bind(before)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if recorded {
                sqlx::query(
                    "INSERT INTO refunds (id, order_id, amount, currency, provider_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(Uuid::now_v7()).bind(id).bind(amount).bind(currency.as_str()).bind(&refund_id).bind(now)
                .execute(&mut *tx).await?;
                if whole && !move_order!(tx, id, OrderStatus::Refunded, now) {
                    tracing::warn!(order_id = %id, "a refunded order could not become refunded");
                }
                if let Some(intent) = &paid {
                    let status = if whole { "refunded" } else { "partially_refunded" };
                    sqlx::query("UPDATE payments SET status = $1, updated_at = $2 WHERE intent_id = $3")
                        .bind(status).bind(now).bind(intent).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            recorded
        });
        if !recorded {
            return Err(Error::refused(
                Code::InvalidTransition,
                "the order was refunded meanwhile; read it again",
            ));
        }
        self.reverse_for_refund(id, amount, &format!("blytz-reversal-{id}-{before}"))
            .await?;
        self.order(caller, id).await
    }
}
