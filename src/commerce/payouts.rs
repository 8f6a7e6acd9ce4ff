//! Seller payouts through Stripe Connect, as separate charges and transfers:
//! a buyer's charge lands on the platform's account (carrying the seller's
//! account and the platform fee as metadata and the order as its transfer
//! group); after delivery (or [`super::CommerceSettings::payout_after_shipping`]
//! after shipping) the seller's share, paid - platform fee - refunds, is
//! transferred to their connected account, once per order (the order is the
//! transfer's idempotency key and `transfers.order_id` is unique). A refund
//! before the transfer lowers it; a refund after it reverses that much of
//! the transfer. A seller whose payouts are not enabled still sells; their
//! transfers wait until the gateway says payouts are on.
//!
//! Destination charges (the seller paid at the moment of the charge) were
//! not used: money would reach a seller before the parcel reaches the buyer.

use blytz_actors::domain::Money;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::payments::TransferRequest;
use super::{Caller, Commerce, stored_currency};
use crate::error::{Error, Result};
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// What `POST /sellers/me/payouts/onboard` answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Onboarding {
    /// The seller's connected account.
    pub account_id: String,
    /// Where the seller finishes onboarding (at the gateway).
    pub url: String,
    /// Whether payouts are already enabled.
    pub payouts_enabled: bool,
}

/// One currency of a seller's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceLine {
    /// ISO 4217.
    pub currency: String,
    /// Paid orders not yet transferred: what will be paid out (minor units).
    pub pending: i64,
    /// Transferred, less reversals (minor units).
    pub paid_out: i64,
}

/// `GET /sellers/me/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// Whether the gateway pays out to the seller's bank.
    pub payouts_enabled: bool,
    /// Per currency.
    pub lines: Vec<BalanceLine>,
}

/// One transfer to a seller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payout {
    /// Blytz's id.
    pub id: Uuid,
    /// The order it pays for.
    pub order_id: Uuid,
    /// Transferred (minor units).
    pub amount: i64,
    /// Taken back by refunds after the transfer (minor units).
    pub reversed: i64,
    /// ISO 4217.
    pub currency: String,
    /// The gateway's transfer, e.g. `tr_...`.
    pub transfer_id: String,
    /// When.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
}

impl Commerce {
    /// The seller's connected account (made on first need) and the link to
    /// onboard it.
    pub async fn onboard_seller(&self, caller: Caller) -> Result<Onboarding> {
        if !caller.role.can_sell() {
            return Err(Error::forbidden("only sellers are paid out"));
        }
        if !self.takes_cards() {
            return Err(super::payments::manual_refusal());
        }
        let seller = Uuid::from(caller.id);
        let known: Option<(String, bool)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT account_id, payouts_enabled FROM seller_accounts WHERE seller_id = $1",
        )
        .bind(seller)
        .fetch_optional(pool)
        .await)?;
        let (account, payouts_enabled) = match known {
            Some(known) => known,
            None => {
                let email: String = with_db!(&self.db, pool => sqlx::query_scalar(
                    "SELECT email FROM users WHERE id = $1",
                )
                .bind(seller)
                .fetch_optional(pool)
                .await)?
                .ok_or(Error::NotFound { what: "user" })?;
                let account = self
                    .gateway
                    .create_connected_account(seller, &email, &format!("blytz-account-{seller}"))
                    .await?;
                let now = crate::time::now();
                with_db!(&self.db, pool => sqlx::query(
                    "INSERT INTO seller_accounts (seller_id, account_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (seller_id) DO NOTHING",
                )
                .bind(seller)
                .bind(&account)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ()))?;
                (account, false)
            }
        };
        let back = format!("{}/seller/payouts", self.public_url);
        let url = self.gateway.account_link(&account, &back, &back).await?;
        Ok(Onboarding {
            account_id: account,
            url,
            payouts_enabled,
        })
    }

    /// Record what the gateway says of a connected account (`account.updated`).
    pub(crate) async fn account_updated(&self, account: &str) -> Result<()> {
        let info = self.gateway.retrieve_account(account).await?;
        let now = crate::time::now();
        let changed = with_db!(&self.db, pool => sqlx::query(
            "UPDATE seller_accounts SET payouts_enabled = $1, details_submitted = $2, updated_at = $3 \
             WHERE account_id = $4",
        )
        .bind(info.payouts_enabled)
        .bind(info.details_submitted)
        .bind(now)
        .bind(account)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if changed == 0 {
            tracing::warn!(account, "an account update for an account nobody here has");
        } else if info.payouts_enabled {
            self.nudge_outbox();
        }
        Ok(())
    }

    /// Transfer every seller's share of delivered (or long enough shipped)
    /// orders that has not been transferred; answers how many transfers
    /// were made. A seller without payouts enabled waits.
    pub async fn pay_out_due(&self) -> Result<usize> {
        if !self.takes_cards() {
            return Ok(0);
        }
        let now = crate::time::now();
        let shipped_before = self
            .settings
            .payout_after_shipping
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| now - d);
        let due: Vec<(Uuid, Uuid, String, i64, i64, i64, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT o.id, o.seller_id, a.account_id, o.total, o.platform_fee, o.refunded, o.currency \
             FROM orders o JOIN seller_accounts a ON a.seller_id = o.seller_id AND a.payouts_enabled \
             WHERE (o.status = 'delivered' OR (o.status = 'shipped' AND $1 IS NOT NULL AND o.shipped_at <= $1)) \
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.order_id = o.id) \
             ORDER BY o.id LIMIT 50",
        )
        .bind(shipped_before)
        .fetch_all(pool)
        .await)?;
        let mut made = 0;
        for (order, seller, account, total, fee, refunded, currency) in due {
            let currency = stored_currency(&currency)?;
            let share = total - fee - refunded;
            if share <= 0 {
                continue;
            }
            let request = TransferRequest {
                order_id: order,
                amount: Money::new(share, currency),
                destination: account.clone(),
                idempotency_key: format!("transfer-{order}"),
            };
            let transfer = match self.gateway.create_transfer(&request).await {
                Ok(transfer) => transfer,
                Err(e) => {
                    tracing::warn!(order_id = %order, error = %e, "could not pay a seller out; will retry");
                    continue;
                }
            };
            let inserted = with_db!(&self.db, pool => sqlx::query(
                "INSERT INTO transfers (id, order_id, seller_id, account_id, amount, currency, transfer_id, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(order)
            .bind(seller)
            .bind(&account)
            .bind(share)
            .bind(currency.as_str())
            .bind(&transfer)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
            if inserted == 1 {
                tracing::info!(order_id = %order, amount = share, "seller paid out");
                made += 1;
            }
        }
        Ok(made)
    }

    /// After a refund of `amount` on `order`: if its seller was already paid,
    /// take that much of the transfer back (never more than is left).
    pub(crate) async fn reverse_for_refund(
        &self,
        order: Uuid,
        amount: i64,
        key: &str,
    ) -> Result<()> {
        let transfer: Option<(Uuid, String, i64, i64, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, transfer_id, amount, reversed, currency FROM transfers WHERE order_id = $1",
        )
        .bind(order)
        .fetch_optional(pool)
        .await)?;
        let Some((id, transfer_id, transferred, reversed, currency)) = transfer else {
            return Ok(());
        };
        let take = amount.min(transferred - reversed);
        if take <= 0 {
            return Ok(());
        }
        let currency = stored_currency(&currency)?;
        self.gateway
            .reverse_transfer(&transfer_id, Money::new(take, currency), key)
            .await?;
        with_db!(&self.db, pool => sqlx::query(
            "UPDATE transfers SET reversed = reversed + $1, updated_at = $2 WHERE id = $3",
        )
        .bind(take)
        .bind(crate::time::now())
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The caller's balance: what waits to be paid out and what was.
    pub async fn seller_balance(&self, caller: Caller) -> Result<Balance> {
        let seller = Uuid::from(caller.id);
        let enabled: Option<bool> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT payouts_enabled FROM seller_accounts WHERE seller_id = $1",
        )
        .bind(seller)
        .fetch_optional(pool)
        .await)?;
        let pending: Vec<(String, i64)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT currency, CAST(COALESCE(SUM(total - platform_fee - refunded), 0) AS BIGINT) FROM orders \
             WHERE seller_id = $1 AND status IN ('paid', 'processing', 'shipped', 'delivered') \
             AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.order_id = orders.id) GROUP BY currency",
        )
        .bind(seller)
        .fetch_all(pool)
        .await)?;
        let paid: Vec<(String, i64)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT currency, CAST(COALESCE(SUM(amount - reversed), 0) AS BIGINT) FROM transfers \
             WHERE seller_id = $1 GROUP BY currency",
        )
        .bind(seller)
        .fetch_all(pool)
        .await)?;
        let mut lines: Vec<BalanceLine> = Vec::new();
        for (currency, amount) in pending {
            lines.push(BalanceLine {
                currency,
                pending: amount.max(0),
                paid_out: 0,
            });
        }
        for (currency, amount) in paid {
            match lines.iter_mut().find(|l| l.currency == currency) {
                Some(line) => line.paid_out = amount,
                None => lines.push(BalanceLine {
                    currency,
                    pending: 0,
                    paid_out: amount,
                }),
            }
        }
        lines.sort_by(|a, b| a.currency.cmp(&b.currency));
        Ok(Balance {
            payouts_enabled: enabled.unwrap_or(false),
            lines,
        })
    }

    /// The caller's payouts, newest first.
    pub async fn payouts(&self, caller: Caller, page: &Page) -> Result<Paged<Payout>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let rows: Vec<Payout> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, order_id, amount, reversed, currency, transfer_id, created_at FROM transfers \
             WHERE seller_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(Uuid::from(caller.id))
        .bind(before)
        .bind(fetch_size(limit))
        .fetch_all(pool)
        .await)?;
        Ok(Paged::from_rows(rows, limit, |last| last.id.to_string()))
    }
}
