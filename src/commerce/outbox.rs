//! The outbox consumer: every `auction.ended` row with a winner becomes the
//! winner's order (status `pending_payment`, the hammer price, shipping by
//! the seller's rates and the winner's bundle of the show, the platform fee,
//! payment due `payment_due` after the ending), exactly once per auction;
//! with a gateway that charges cards, an `order.charge` row in the same
//! transaction has the winner's card charged next ([`super::charge`]).
//!
//! Exactly once, across crashes and concurrent consumers: the order insert
//! and the row's `processed_at` happen in one transaction that begins by
//! claiming the row (`UPDATE ... WHERE processed_at IS NULL`; a second
//! consumer waits on the row lock, then sees it processed and backs off),
//! and `orders.auction_id` is unique besides. A crash before the commit
//! leaves both undone; the row is picked up again on the next poll.

use std::time::Duration;

use blytz_actors::domain::Money;
use blytz_actors::ports::Settlement;
use sqlx::types::Json;
use uuid::Uuid;

use super::addresses::{ADDRESS_COLUMNS, AddressRow};
use super::charge::ORDER_CHARGE_TOPIC;
use super::model::Address;
use super::{Commerce, later};
use crate::auctions::AUCTION_ENDED_TOPIC;
use crate::error::Result;
use crate::with_db;

/// How one row's transaction ends (tests simulate a crash with `Abandon`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Commit: the normal path.
    Commit,
    /// Drop the transaction after all the work, as a crash before the commit would.
    Abandon,
}

/// What processing one row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An order was made for the winner.
    OrderCreated,
    /// Processed: no winner, or the order already existed.
    NothingToDo,
    /// Another consumer had already processed it.
    AlreadyProcessed,
    /// The work was done and thrown away (`Finish::Abandon`).
    Abandoned,
}

const BATCH: i64 = 50;

/// After this many failed attempts a row is parked (left unprocessed, no
/// longer retried) and logged as an error for a person to look at.
pub const MAX_ATTEMPTS: i64 = 10;

impl Commerce {
    /// Process every unprocessed ending (up to a batch); answers how many
    /// orders were made.
    pub async fn consume_outbox(&self) -> Result<usize> {
        let ids: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM outbox WHERE topic = $1 AND processed_at IS NULL AND attempts < $3 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(AUCTION_ENDED_TOPIC)
        .bind(BATCH)
        .bind(MAX_ATTEMPTS)
        .fetch_all(pool)
        .await)?;
        let mut made = 0;
        for id in ids {
            match self.process_outbox_row(id, Finish::Commit).await {
                Ok(Outcome::OrderCreated) => made += 1,
                Ok(_) => {}
                Err(e) => {
                    // The failed transaction rolled its attempt back: count it here.
                    let attempts: Option<i64> = with_db!(&self.db, pool => sqlx::query_scalar(
                        "UPDATE outbox SET attempts = attempts + 1 WHERE id = $1 AND processed_at IS NULL \
                         RETURNING CAST(attempts AS BIGINT)",
                    )
                    .bind(id)
                    .fetch_optional(pool)
                    .await)
                    .unwrap_or_else(|e| {
                        tracing::warn!(outbox_id = %id, error = %e, "could not count a failed attempt");
                        None
                    });
                    if attempts.is_some_and(|n| n >= MAX_ATTEMPTS) {
                        tracing::error!(outbox_id = %id, error = %e, "an auction ending failed {MAX_ATTEMPTS} times; parked");
                    } else {
                        tracing::warn!(outbox_id = %id, error = %e, "could not process an auction ending; will retry");
                    }
                }
            }
        }
        Ok(made)
    }

    /// Process one outbox row in one transaction.
    pub async fn process_outbox_row(&self, id: Uuid, finish: Finish) -> Result<Outcome> {
        let now = crate::time::now();
        let due_after = self.settings.payment_due;
        let tax_settings = self.settings;
        // Shipping rates and the buyer's bundle are looked up first: the
        // bundle row may be made here (an empty open bundle is harmless if
        // the order's transaction then fails; the next attempt reuses it).
        let (bundle, shipping) = self.bundle_of_ending(id).await?;
        let charge = self.takes_cards();
        let outcome = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // Claim the row first: on PostgreSQL this locks it (a concurrent
            // consumer waits here, then finds it processed); on SQLite the
            // first write takes the database's write lock.
            let claimed = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = $1 AND processed_at IS NULL",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if !claimed {
                return Ok(Outcome::AlreadyProcessed);
            }
            let payload: Json<serde_json::Value> = sqlx::query_scalar("SELECT payload FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let mut outcome = Outcome::NothingToDo;
            match serde_json::from_value::<Settlement>(payload.0) {
                Err(e) => {
                    tracing::error!(outbox_id = %id, error = %e, "an auction ending's payload is unreadable; skipped");
                }
                Ok(s) => {
                    if let (Some(winner), Some(price)) = (s.winner_id, s.final_price) {
                        let title: Option<String> = sqlx::query_scalar("SELECT title FROM products WHERE id = $1")
                            .bind(Uuid::from(s.product_id))
                            .fetch_optional(&mut *tx)
                            .await?;
                        // The winner's default shipping address, copied, if they have one.
                        let sql = sqlx::AssertSqlSafe(format!(
                            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE user_id = $1 AND type = 'shipping' AND is_default"
                        ));
                        let address: Option<AddressRow> = sqlx::query_as(sql)
                            .bind(Uuid::from(winner))
                            .fetch_optional(&mut *tx)
                            .await?;
                        let address = address
                            .map(|a| serde_json::to_value(Address::from(a)).map(Json))
                            .transpose()
                            .map_err(anyhow::Error::from)?;
                        let shipping = shipping.unwrap_or_else(|| Money::new(tax_settings.shipping_flat_minor, s.currency));
                        let amounts = tax_settings.order_amounts_shipped(Money::new(price, s.currency), shipping)?;
                        let fee = tax_settings.platform_fee_on(amounts.total)?;
                        let order = Uuid::now_v7();
                        let inserted = sqlx::query(
                            "INSERT INTO orders (id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax, \
                             shipping, total, shipping_address, payment_due_at, created_at, updated_at, show_id, \
                             bundle_id, platform_fee) \
                             VALUES ($1, $2, $3, $4, 'pending_payment', $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15) \
                             ON CONFLICT (auction_id) DO NOTHING",
                        )
                        .bind(order)
                        .bind(Uuid::from(winner))
                        .bind(Uuid::from(s.seller_id))
                        .bind(Uuid::from(s.auction_id))
                        .bind(amounts.currency().as_str())
                        .bind(amounts.subtotal.minor)
                        .bind(amounts.tax.minor)
                        .bind(amounts.shipping.minor)
                        .bind(amounts.total.minor)
                        .bind(address)
                        .bind(later(s.ended_at, due_after))
                        .bind(now)
                        .bind(s.show_id.map(Uuid::from))
                        .bind(bundle)
                        .bind(fee.minor)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected() == 1;
                        if inserted {
                            sqlx::query(
                                "INSERT INTO order_items (id, order_id, product_id, title, unit_price, quantity, line_total) \
                                 VALUES ($1, $2, $3, $4, $5, 1, $5)",
                            )
                            .bind(Uuid::now_v7())
                            .bind(order)
                            .bind(Uuid::from(s.product_id))
                            .bind(title.unwrap_or_else(|| "Auction lot".to_owned()))
                            .bind(price)
                            .execute(&mut *tx)
                            .await?;
                            // The unit leaves stock with the order, in its
                            // transaction; a product with none left is sold.
                            let product = Uuid::from(s.product_id);
                            let taken = sqlx::query(
                                "UPDATE inventory SET quantity = quantity - 1, updated_at = $1 \
                                 WHERE product_id = $2 AND quantity - reserved >= 1",
                            )
                            .bind(now)
                            .bind(product)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            if taken == 0 {
                                tracing::warn!(auction_id = %s.auction_id, product_id = %product,
                                    "an auction was won with no unit free in stock");
                            }
                            sqlx::query(
                                "UPDATE products SET status = 'sold', updated_at = $1 \
                                 WHERE id = $2 AND status IN ('draft', 'active') \
                                 AND NOT EXISTS (SELECT 1 FROM inventory WHERE product_id = $2 AND quantity > 0)",
                            )
                            .bind(now)
                            .bind(product)
                            .execute(&mut *tx)
                            .await?;
                            if charge {
                                // The winner's card is charged by the next
                                // step, after this commits.
                                sqlx::query(
                                    "INSERT INTO outbox (id, topic, key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
                                     ON CONFLICT (topic, key) DO NOTHING",
                                )
                                .bind(Uuid::now_v7())
                                .bind(ORDER_CHARGE_TOPIC)
                                .bind(order.to_string())
                                .bind(Json(serde_json::json!({"order_id": order})))
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            }
                            outcome = Outcome::OrderCreated;
                        }
                    }
                }
            }
            sqlx::query("UPDATE outbox SET processed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            match finish {
                Finish::Commit => {
                    tx.commit().await?;
                    outcome
                }
                Finish::Abandon => {
                    drop(tx);
                    Outcome::Abandoned
                }
            }
        });
        if outcome == Outcome::OrderCreated {
            tracing::info!(outbox_id = %id, "winner's order created");
            self.notice_won_of_ending(id).await;
        }
        Ok(outcome)
    }

    /// The winner's bundle for the ending in outbox row `id` (none without
    /// a winner, a show or the seller's rates) and what their order pays
    /// for shipping (none without a winner).
    async fn bundle_of_ending(&self, id: Uuid) -> Result<(Option<Uuid>, Option<Money>)> {
        let payload: Option<Json<serde_json::Value>> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE id = $1 AND processed_at IS NULL",
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        let Some(s) = payload.and_then(|p| serde_json::from_value::<Settlement>(p.0).ok()) else {
            return Ok((None, None));
        };
        let Some(winner) = s.winner_id else {
            return Ok((None, None));
        };
        let seller = Uuid::from(s.seller_id);
        let rates = self.rates_of(seller).await?;
        let bundle = match (s.show_id, &rates) {
            (Some(show), Some(_)) => {
                self.open_bundle(
                    Uuid::from(winner),
                    seller,
                    Uuid::from(show),
                    s.currency.as_str(),
                )
                .await?
            }
            _ => None,
        };
        let shipping = self
            .shipping_into(bundle, rates.as_ref(), s.currency)
            .await?;
        Ok((bundle, Some(shipping)))
    }

    /// The periodic steps after the hammer: charges, lapses, offers that
    /// expired, and payouts due. Each logs and carries on when it fails.
    pub async fn run_money_steps(&self) {
        if let Err(e) = self.consume_charges().await {
            tracing::warn!(error = %e, "could not run the charges; will retry");
        }
        if let Err(e) = self.lapse_overdue().await {
            tracing::warn!(error = %e, "could not lapse overdue orders; will retry");
        }
        if let Err(e) = self.expire_offers().await {
            tracing::warn!(error = %e, "could not expire second-chance offers; will retry");
        }
        if let Err(e) = self.pay_out_due().await {
            tracing::warn!(error = %e, "could not pay sellers out; will retry");
        }
    }

    /// Consume the outbox forever: every `poll`, or at once when nudged
    /// (spawn it once at start-up).
    pub async fn consume_outbox_every(self, poll: Duration, duty: crate::cluster::Duty) {
        let poll = poll.max(Duration::from_millis(50));
        loop {
            if duty.mine() {
                if let Err(e) = self.consume_outbox().await {
                    tracing::warn!(error = %e, "could not read the outbox; will retry");
                }
                self.run_money_steps().await;
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = self.nudge.notified() => {}
            }
        }
    }
}
