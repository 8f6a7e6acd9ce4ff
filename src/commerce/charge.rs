//! Charge at the hammer: the winner's order is charged to their default card
//! off-session, driven by an `order.charge` outbox row written in the
//! transaction that makes the order. The gateway's idempotency key is
//! `order-<id>`, so a replayed row (a crash after the charge, before its
//! row was marked) finds the same payment and charges nothing more.
//!
//! A winner without a card on file (where bids do not need one) pays by
//! hand as before. Paid: the order is `paid` and the seller sees it at once. Declined or
//! needing authentication: the order is `payment_failed` with the reason,
//! the buyer is told on their open sockets (`order.payment_failed`), and may
//! pay with another saved card (`POST /orders/{id}/pay`) or in the browser
//! (`POST /payments/intent`) until `payment_retry_until`; then the order
//! `lapsed`, its unit returns to stock, and the seller may offer the lot to
//! the runner-up ([`super::second_chance`]) or list it again.

use blytz_actors::domain::Money;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::inventory::commit_reservations;
use super::model::{Order, OrderStatus};
use super::orders::{OrderRow, invalid_transition, settle_paid};
use super::payments::{ChargeOutcome, ChargeRequest};
use super::{Caller, Commerce, SHOW_GRACE, later};
use crate::Code;
use crate::error::{Error, Result};
use crate::with_db;

/// The outbox topic of a winner's (or runner-up's) automatic charge.
pub const ORDER_CHARGE_TOPIC: &str = "order.charge";

/// `POST /orders/{id}/pay`: pay a failed (or unpaid) order with a saved card.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PayInput {
    /// One of the caller's saved cards (`GET /payments/methods`).
    pub payment_method_id: Uuid,
}

/// How one charge attempt ended, for the caller to act on.
enum Charged {
    Paid,
    Failed { code: String, reason: String },
}

impl Commerce {
    /// Process every pending `order.charge` row (up to a batch); answers how
    /// many orders were paid.
    pub async fn consume_charges(&self) -> Result<usize> {
        let rows: Vec<(Uuid, sqlx::types::Json<serde_json::Value>)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, payload FROM outbox WHERE topic = $1 AND processed_at IS NULL AND attempts < $2 \
             ORDER BY created_at LIMIT 50",
        )
        .bind(ORDER_CHARGE_TOPIC)
        .bind(super::outbox::MAX_ATTEMPTS)
        .fetch_all(pool)
        .await)?;
        let mut paid = 0;
        for (row, payload) in rows {
            let order = payload
                .0
                .get("order_id")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            let result = match order {
                Some(order) => self.charge_at_hammer(order).await,
                None => {
                    tracing::error!(outbox_id = %row, "an order.charge row without an order; skipped");
                    Ok(false)
                }
            };
            match result {
                Ok(was_paid) => {
                    paid += usize::from(was_paid);
                    with_db!(&self.db, pool => sqlx::query(
                        "UPDATE outbox SET processed_at = $1, attempts = attempts + 1 WHERE id = $2",
                    )
                    .bind(crate::time::now())
                    .bind(row)
                    .execute(pool)
                    .await
                    .map(|_| ()))?;
                }
                Err(e) => {
                    tracing::warn!(outbox_id = %row, error = %e, "could not charge a winner's order; will retry");
                    with_db!(&self.db, pool => sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1 WHERE id = $1",
                    )
                    .bind(row)
                    .execute(pool)
                    .await
                    .map(|_| ()))?;
                }
            }
        }
        Ok(paid)
    }

    /// Charge `order`'s buyer's default card, once. Answers whether it is
    /// paid; an unreachable gateway is an error (the row is retried).
    pub async fn charge_at_hammer(&self, order: Uuid) -> Result<bool> {
        let Some(row) = self.order_row(order).await? else {
            return Ok(false);
        };
        if row.status()? != OrderStatus::PendingPayment {
            return Ok(row.status()? == OrderStatus::Paid);
        }
        // A buyer without a card on file (where bids do not need one) pays
        // by hand before `payment_due_at`, as without a gateway of cards.
        let Some((customer, card)) = self.card_for_charge(row.buyer_id, None).await? else {
            return Ok(false);
        };
        let charged = self
            .charge(&row, customer, card, format!("order-{order}"))
            .await?;
        Ok(matches!(charged, Charged::Paid))
    }

    /// The buyer pays a `payment_failed` (or unpaid) order with one of their
    /// saved cards, before its deadline.
    pub async fn pay_with_card(&self, caller: Caller, id: Uuid, input: PayInput) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        if row.buyer_id != Uuid::from(caller.id) {
            return Err(Error::NotFound { what: "order" });
        }
        if !self.takes_cards() {
            return Err(super::payments::manual_refusal());
        }
        let status = row.status()?;
        match status {
            OrderStatus::PendingPayment => {}
            OrderStatus::PaymentFailed if self.window_closed(&row).await? => {
                self.lapse(id).await?;
                return Err(window_closed());
            }
            OrderStatus::PaymentFailed => {}
            OrderStatus::Lapsed => return Err(window_closed()),
            other => return Err(invalid_transition(other, OrderStatus::Paid)),
        }
        let (customer, card) = self
            .card_for_charge(row.buyer_id, Some(input.payment_method_id))
            .await?
            .ok_or(Error::NotFound {
                what: "payment method",
            })?;
        let attempts: i64 = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM payments WHERE order_id = $1",
        )
        .bind(id)
        .fetch_one(pool)
        .await)?;
        let key = format!("order-{id}-card-{}-{attempts}", input.payment_method_id);
        match self.charge(&row, customer, card, key).await? {
            Charged::Paid => self.order(caller, id).await,
            Charged::Failed { code, reason } => Err(Error::refused(
                Code::PaymentDeclined,
                format!("the card was declined: {reason}"),
            )
            .with_detail("reason", code)),
        }
    }

    /// Whether a failed order's time to pay has passed.
    async fn window_closed(&self, row: &OrderRow) -> Result<bool> {
        let deadline = match row.payment_retry_until {
            Some(deadline) => Some(deadline),
            None => self.show_deadline(row.show_id).await?,
        };
        Ok(deadline.is_some_and(|d| d <= crate::time::now()))
    }

    /// Until when a charge failing now may be retried: the setting, else
    /// the show's end plus [`SHOW_GRACE`] (none while the show is live).
    async fn retry_deadline(
        &self,
        show: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        if let Some(retry) = self.settings.payment_retry {
            return Ok(Some(later(now, retry)));
        }
        match show {
            None => Ok(Some(later(now, SHOW_GRACE))),
            Some(_) => self.show_deadline(show).await,
        }
    }

    async fn show_deadline(&self, show: Option<Uuid>) -> Result<Option<DateTime<Utc>>> {
        let Some(show) = show else {
            return Ok(None);
        };
        let ended: Option<Option<DateTime<Utc>>> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT ended_at FROM shows WHERE id = $1",
        )
        .bind(show)
        .fetch_optional(pool)
        .await)?;
        Ok(ended.flatten().map(|at| later(at, SHOW_GRACE)))
    }

    /// One off-session charge of `row` with `card`, recorded either way.
    async fn charge(
        &self,
        row: &OrderRow,
        customer: String,
        card: String,
        key: String,
    ) -> Result<Charged> {
        let amount = row.total()?;
        let seller_account: Option<String> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT account_id FROM seller_accounts WHERE seller_id = $1",
        )
        .bind(row.seller_id)
        .fetch_optional(pool)
        .await)?;
        let request = ChargeRequest {
            order_id: row.id,
            amount,
            customer,
            payment_method: card,
            seller_account,
            platform_fee: Money::new(row.platform_fee, amount.currency),
            idempotency_key: key,
        };
        match self.gateway.charge_off_session(&request).await? {
            ChargeOutcome::Succeeded { intent_id } => {
                self.record_paid(row, &intent_id, amount).await?;
                Ok(Charged::Paid)
            }
            ChargeOutcome::Failed {
                intent_id,
                code,
                reason,
            } => {
                self.record_failure(row, intent_id.as_deref(), &code, &reason)
                    .await?;
                Ok(Charged::Failed { code, reason })
            }
        }
    }

    async fn record_paid(&self, row: &OrderRow, intent: &str, amount: Money) -> Result<()> {
        let now = crate::time::now();
        let order = row.id;
        let provider = self.gateway.name();
        let paid = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO payments (id, order_id, provider, intent_id, amount, currency, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'succeeded', $7, $7) \
                 ON CONFLICT (intent_id) DO UPDATE SET status = 'succeeded', updated_at = $7",
            )
            .bind(Uuid::now_v7()).bind(order).bind(provider).bind(intent)
            .bind(amount.minor).bind(amount.currency.as_str()).bind(now)
            .execute(&mut *tx).await?;
            let paid = settle_paid!(tx, order, now);
            tx.commit().await?;
            paid
        });
        if paid {
            tracing::info!(order_id = %order, "order charged at the hammer");
            let frame = serde_json::json!({"type": "order.paid", "order_id": order, "total": amount.minor,
                "currency": amount.currency.as_str()});
            self.tell(row.buyer_id, &frame);
            self.tell(row.seller_id, &frame);
        }
        Ok(())
    }

    async fn record_failure(
        &self,
        row: &OrderRow,
        intent: Option<&str>,
        code: &str,
        reason: &str,
    ) -> Result<()> {
        let now = crate::time::now();
        let order = row.id;
        let deadline = match row.payment_retry_until {
            Some(deadline) => Some(deadline),
            None => self.retry_deadline(row.show_id, now).await?,
        };
        let amount = row.total()?;
        let provider = self.gateway.name();
        let failure = format!("{code}: {reason}");
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if let Some(intent) = intent {
                sqlx::query(
                    "INSERT INTO payments (id, order_id, provider, intent_id, amount, currency, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'failed', $7, $7) \
                     ON CONFLICT (intent_id) DO UPDATE SET status = 'failed', updated_at = $7",
                )
                .bind(Uuid::now_v7()).bind(order).bind(provider).bind(intent)
                .bind(amount.minor).bind(amount.currency.as_str()).bind(now)
                .execute(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE orders SET status = 'payment_failed', payment_failure = $1, payment_retry_until = $2, \
                 updated_at = $3 WHERE id = $4 AND status IN ('pending_payment', 'payment_failed')",
            )
            .bind(&failure).bind(deadline).bind(now).bind(order)
            .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        tracing::info!(order_id = %order, code, "a charge at the hammer failed");
        self.tell(
            row.buyer_id,
            &serde_json::json!({"type": "order.payment_failed", "order_id": order, "code": code,
                "reason": reason, "payment_retry_until": deadline.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))}),
        );
        self.notice_payment_failed(row.buyer_id, order, code, reason)
            .await;
        Ok(())
    }

    /// A failed order whose time to pay passed: `lapsed`, its unit back in
    /// stock and its product on sale again. Answers whether it moved.
    pub(crate) async fn lapse(&self, order: Uuid) -> Result<bool> {
        let now = crate::time::now();
        let row = self.order_row(order).await?;
        let Some(row) = row else { return Ok(false) };
        let lapsed = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query(
                "UPDATE orders SET status = 'lapsed', updated_at = $1 WHERE id = $2 AND status = 'payment_failed'",
            )
            .bind(now).bind(order).execute(&mut *tx).await?.rows_affected() == 1;
            if moved && row.auction_id.is_some() {
                let products: Vec<Uuid> = sqlx::query_scalar("SELECT product_id FROM order_items WHERE order_id = $1")
                    .bind(order).fetch_all(&mut *tx).await?;
                for product in products {
                    sqlx::query("UPDATE inventory SET quantity = quantity + 1, updated_at = $1 WHERE product_id = $2")
                        .bind(now).bind(product).execute(&mut *tx).await?;
                    sqlx::query("UPDATE products SET status = 'active', updated_at = $1 WHERE id = $2 AND status = 'sold'")
                        .bind(now).bind(product).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            moved
        });
        if lapsed {
            tracing::info!(order_id = %order, "an unpaid order lapsed");
            self.tell(
                row.seller_id,
                &serde_json::json!({"type": "order.lapsed", "order_id": order}),
            );
            self.tell(
                row.buyer_id,
                &serde_json::json!({"type": "order.lapsed", "order_id": order}),
            );
        }
        Ok(lapsed)
    }

    /// Lapse every failed order whose time to pay has passed; answers how many.
    pub async fn lapse_overdue(&self) -> Result<usize> {
        let now = crate::time::now();
        let grace =
            chrono::Duration::from_std(SHOW_GRACE).unwrap_or_else(|_| chrono::Duration::zero());
        // Orders of shows that have ended since they failed learn their deadline.
        let undated: Vec<(Uuid, DateTime<Utc>)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT o.id, s.ended_at FROM orders o JOIN shows s ON s.id = o.show_id \
             WHERE o.status = 'payment_failed' AND o.payment_retry_until IS NULL AND s.ended_at IS NOT NULL",
        )
        .fetch_all(pool)
        .await)?;
        for (order, ended) in undated {
            with_db!(&self.db, pool => sqlx::query(
                "UPDATE orders SET payment_retry_until = $1 WHERE id = $2 AND payment_retry_until IS NULL",
            )
            .bind(ended + grace)
            .bind(order)
            .execute(pool)
            .await
            .map(|_| ()))?;
        }
        let due: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM orders WHERE status = 'payment_failed' AND payment_retry_until <= $1 LIMIT 100",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        let mut lapsed = 0;
        for order in due {
            lapsed += usize::from(self.lapse(order).await?);
        }
        Ok(lapsed)
    }
}

fn window_closed() -> Error {
    Error::code_only(Code::PaymentWindowClosed)
}
