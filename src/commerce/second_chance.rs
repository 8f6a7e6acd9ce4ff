//! Second chance: when a winner's order lapses, its seller may offer the lot
//! to the runner-up (the other bidder with the highest bid) at that bidder's
//! own highest bid. The runner-up accepts or declines before the offer
//! expires; accepting makes their order, charged to their default card at
//! once as at the hammer. One offer per lapsed order, ever.

use std::collections::HashMap;

use blytz_actors::domain::Money;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use super::charge::ORDER_CHARGE_TOPIC;
use super::model::OrderStatus;
use super::{Caller, Commerce, later, stored_currency};
use crate::Code;
use crate::auctions::BidRecord;
use crate::error::{Error, Result};
use crate::ids::{AuctionId, UserId};
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// A lot offered again to its runner-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SecondChanceOffer {
    /// The offer.
    pub id: Uuid,
    /// The lapsed winner's order.
    pub order_id: Uuid,
    /// The auction the lot was won in.
    pub auction_id: Uuid,
    /// The runner-up it is offered to.
    pub buyer_id: Uuid,
    /// The seller.
    pub seller_id: Uuid,
    /// The runner-up's own highest bid (minor units).
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// `offered`, `accepted`, `declined` or `expired`.
    pub status: String,
    /// Answer by then.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub expires_at: DateTime<Utc>,
    /// The runner-up's order, once accepted.
    pub new_order_id: Option<Uuid>,
    /// When it was made.
    #[serde(with = "crate::time::rfc3339_ms")]
    pub created_at: DateTime<Utc>,
}

const OFFER_COLUMNS: &str = "id, order_id, auction_id, buyer_id, seller_id, amount, currency, status, \
                             expires_at, new_order_id, created_at";

fn closed() -> Error {
    Error::code_only(Code::OfferClosed)
}

impl Commerce {
    /// The seller offers a lapsed winner's lot to the runner-up.
    pub async fn offer_second_chance(
        &self,
        caller: Caller,
        order: Uuid,
    ) -> Result<SecondChanceOffer> {
        let row = self.visible_order(caller, order).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden(
                "only the seller or an admin may offer a second chance",
            ));
        }
        let status = row.status()?;
        if status != OrderStatus::Lapsed {
            return Err(Error::refused(
                Code::InvalidTransition,
                format!(
                    "only a lapsed order's lot can be offered again; this one is {}",
                    status.as_str()
                ),
            ));
        }
        let auction = row.auction_id.ok_or_else(|| {
            Error::refused(
                Code::InvalidTransition,
                "this order was not won in an auction",
            )
        })?;
        let bids = crate::auctions::all_bids(&self.db, AuctionId::from(auction)).await?;
        let (buyer, amount) = runner_up(&bids, UserId::from(row.buyer_id))
            .ok_or(Error::code_only(Code::NoRunnerUp))?;
        let buyer = Uuid::from(buyer);
        let now = crate::time::now();
        let id = Uuid::now_v7();
        with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO second_chance_offers (id, order_id, auction_id, buyer_id, seller_id, amount, currency, \
             status, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'offered', $8, $9, $9) \
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(id).bind(order).bind(auction).bind(buyer).bind(row.seller_id).bind(amount)
        .bind(&row.currency).bind(later(now, self.settings.second_chance)).bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        let offer = self.offer_by_order(order).await?;
        if offer.id != id {
            return Err(Error::refused(
                Code::AlreadyExists,
                "this lot was already offered to its runner-up",
            ));
        }
        self.tell(
            buyer,
            &serde_json::json!({"type": "second_chance.offered", "offer_id": offer.id,
                "auction_id": auction, "amount": amount, "currency": offer.currency}),
        );
        self.notice_second_chance(buyer, offer.id, auction, amount, &offer.currency)
            .await;
        Ok(offer)
    }

    async fn offer_by_order(&self, order: Uuid) -> Result<SecondChanceOffer> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OFFER_COLUMNS} FROM second_chance_offers WHERE order_id = $1"
        ));
        with_db!(&self.db, pool => sqlx::query_as(sql).bind(order).fetch_optional(pool).await)?
            .ok_or(Error::NotFound { what: "offer" })
    }

    async fn visible_offer(&self, caller: Caller, id: Uuid) -> Result<SecondChanceOffer> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OFFER_COLUMNS} FROM second_chance_offers WHERE id = $1"
        ));
        let offer: Option<SecondChanceOffer> =
            with_db!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        match offer {
            Some(o)
                if caller.may_manage(UserId::from(o.buyer_id))
                    || caller.may_manage(UserId::from(o.seller_id)) =>
            {
                Ok(o)
            }
            _ => Err(Error::NotFound { what: "offer" }),
        }
    }

    /// Offers made to the caller, newest first.
    pub async fn second_chance_offers(
        &self,
        caller: Caller,
        page: &Page,
    ) -> Result<Paged<SecondChanceOffer>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {OFFER_COLUMNS} FROM second_chance_offers WHERE buyer_id = $1 \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
        ));
        let rows: Vec<SecondChanceOffer> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(Uuid::from(caller.id))
            .bind(before)
            .bind(fetch_size(limit))
            .fetch_all(pool)
            .await)?;
        Ok(Paged::from_rows(rows, limit, |last| last.id.to_string()))
    }

    /// The runner-up declines.
    pub async fn decline_second_chance(
        &self,
        caller: Caller,
        id: Uuid,
    ) -> Result<SecondChanceOffer> {
        let offer = self.visible_offer(caller, id).await?;
        if offer.buyer_id != Uuid::from(caller.id) {
            return Err(Error::forbidden("only the runner-up answers an offer"));
        }
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => sqlx::query(
            "UPDATE second_chance_offers SET status = 'declined', updated_at = $1 WHERE id = $2 AND status = 'offered'",
        )
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?
            == 1;
        if !moved {
            return Err(closed());
        }
        self.visible_offer(caller, id).await
    }

    /// The runner-up accepts: their order (at their highest bid, shipping by
    /// the seller's rates) takes the unit back from stock and is charged to
    /// their default card at once.
    pub async fn accept_second_chance(
        &self,
        caller: Caller,
        id: Uuid,
    ) -> Result<SecondChanceOffer> {
        let offer = self.visible_offer(caller, id).await?;
        if offer.buyer_id != Uuid::from(caller.id) {
            return Err(Error::forbidden("only the runner-up answers an offer"));
        }
        let now = crate::time::now();
        if offer.status != "offered" || offer.expires_at <= now {
            return Err(closed());
        }
        let lapsed = self
            .order_row(offer.order_id)
            .await?
            .ok_or(Error::NotFound { what: "order" })?;
        let currency = stored_currency(&offer.currency)?;
        let product: (Uuid, String) = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT product_id, title FROM order_items WHERE order_id = $1 LIMIT 1",
        )
        .bind(offer.order_id)
        .fetch_one(pool)
        .await)?;
        let rates = self.rates_of(offer.seller_id).await?;
        let bundle = match lapsed.show_id {
            Some(show) if rates.is_some() => {
                self.open_bundle(offer.buyer_id, offer.seller_id, show, &offer.currency)
                    .await?
            }
            _ => None,
        };
        let shipping = self.shipping_into(bundle, rates.as_ref(), currency).await?;
        let amounts = self
            .settings
            .order_amounts_shipped(Money::new(offer.amount, currency), shipping)?;
        let fee = self.settings.platform_fee_on(amounts.total)?;
        let address = self.default_address_json(offer.buyer_id).await?;
        let order = Uuid::now_v7();
        let charge = self.takes_cards();
        let accepted = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let accepted = sqlx::query(
                "UPDATE second_chance_offers SET status = 'accepted', updated_at = $1 \
                 WHERE id = $2 AND status = 'offered'",
            )
            .bind(now).bind(id)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if !accepted {
                return Err(closed());
            }
            let taken = sqlx::query(
                "UPDATE inventory SET quantity = quantity - 1, updated_at = $1 WHERE product_id = $2 AND quantity - reserved >= 1",
            )
            .bind(now).bind(product.0)
            .execute(&mut *tx).await?.rows_affected() == 1;
            // A product whose stock is not counted (no inventory row) has
            // nothing to take.
            let counted: bool = sqlx::query_scalar(super::inventory::STOCK_COUNTED)
                .bind(product.0).fetch_one(&mut *tx).await?;
            if !taken && counted {
                return Err(Error::refused(Code::OutOfStock, "the lot is no longer in stock"));
            }
            sqlx::query("UPDATE products SET status = 'sold', updated_at = $1 WHERE id = $2 \
                         AND NOT EXISTS (SELECT 1 FROM inventory WHERE product_id = $2 AND quantity > 0)")
                .bind(now).bind(product.0).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO orders (id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax, shipping, \
                 total, shipping_address, payment_due_at, created_at, updated_at, show_id, bundle_id, second_chance_of, \
                 platform_fee) VALUES ($1, $2, $3, NULL, 'pending_payment', $4, $5, $6, $7, $8, $9, $10, $11, $11, \
                 $12, $13, $14, $15)",
            )
            .bind(order).bind(offer.buyer_id).bind(offer.seller_id).bind(currency.as_str())
            .bind(amounts.subtotal.minor).bind(amounts.tax.minor).bind(amounts.shipping.minor)
            .bind(amounts.total.minor).bind(&address).bind(later(now, self.settings.payment_due)).bind(now)
            .bind(lapsed.show_id).bind(bundle).bind(offer.order_id).bind(fee.minor)
            .execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO order_items (id, order_id, product_id, title, unit_price, quantity, line_total) \
                 VALUES ($1, $2, $3, $4, $5, 1, $5)",
            )
            .bind(Uuid::now_v7()).bind(order).bind(product.0).bind(&product.1).bind(offer.amount)
            .execute(&mut *tx).await?;
            sqlx::query("UPDATE second_chance_offers SET new_order_id = $1 WHERE id = $2")
                .bind(order).bind(id).execute(&mut *tx).await?;
            if charge {
                sqlx::query(
                    "INSERT INTO outbox (id, topic, key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (topic, key) DO NOTHING",
                )
                .bind(Uuid::now_v7()).bind(ORDER_CHARGE_TOPIC).bind(order.to_string())
                .bind(Json(serde_json::json!({"order_id": order}))).bind(now)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            true
        });
        if accepted {
            self.nudge_outbox();
        }
        self.visible_offer(caller, id).await
    }

    /// Expire offers nobody answered in time; answers how many.
    pub async fn expire_offers(&self) -> Result<u64> {
        let now = crate::time::now();
        Ok(with_db!(&self.db, pool => sqlx::query(
            "UPDATE second_chance_offers SET status = 'expired', updated_at = $1 \
             WHERE status = 'offered' AND expires_at <= $1",
        )
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// The buyer's default shipping address as an order keeps it.
    pub(crate) async fn default_address_json(
        &self,
        user: Uuid,
    ) -> Result<Option<Json<serde_json::Value>>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM addresses WHERE user_id = $1 AND type = 'shipping' AND is_default",
            super::addresses::ADDRESS_COLUMNS
        ));
        let row: Option<super::addresses::AddressRow> =
            with_db!(&self.db, pool => sqlx::query_as(sql).bind(user).fetch_optional(pool).await)?;
        row.map(|a| serde_json::to_value(super::model::Address::from(a)).map(Json))
            .transpose()
            .map_err(|e| Error::Internal(e.into()))
    }
}

/// The bidder other than `winner` with the highest bid of `bids`, and that
/// bid; of two whose highest bids are equal, the one who bid first.
fn runner_up(bids: &[BidRecord], winner: UserId) -> Option<(UserId, i64)> {
    // Each bidder's highest bid and first seq.
    let mut bidders: HashMap<UserId, (i64, i64)> = HashMap::new();
    for bid in bids.iter().filter(|bid| bid.bidder_id != winner) {
        let (top, first) = bidders
            .entry(bid.bidder_id)
            .or_insert((bid.amount, bid.seq));
        *top = (*top).max(bid.amount);
        *first = (*first).min(bid.seq);
    }
    bidders
        .into_iter()
        .max_by(|(_, (top_a, first_a)), (_, (top_b, first_b))| {
            top_a.cmp(top_b).then(first_b.cmp(first_a))
        })
        .map(|(bidder, (top, _))| (bidder, top))
}

#[cfg(test)]
mod tests {
    use blytz_actors::domain::BidId;
    use chrono::TimeZone;

    use super::*;

    fn bid(bidder: UserId, amount: i64, seq: i64) -> BidRecord {
        BidRecord {
            id: BidId::new(),
            bidder_id: bidder,
            amount,
            automatic: false,
            seq,
            created_at: Utc.timestamp_opt(1_800_000_000 + seq, 0).unwrap(),
        }
    }

    #[test]
    fn the_runner_up_is_the_other_bidder_with_the_highest_bid_first_to_bid() {
        let (winner, ann, bob, cy) = (UserId::new(), UserId::new(), UserId::new(), UserId::new());
        let bids = [
            bid(bob, 1_000, 2),
            bid(ann, 1_100, 3),
            bid(cy, 1_200, 4),
            bid(bob, 1_300, 5),
            bid(ann, 1_300, 6),
            bid(winner, 1_400, 7),
        ];
        // Ann and Bob both reached 1,300; Bob bid first.
        assert_eq!(runner_up(&bids, winner), Some((bob, 1_300)));
        assert_eq!(runner_up(&bids, bob), Some((winner, 1_400)));
        assert_eq!(runner_up(&bids[5..], winner), None, "nobody else bid");
        assert_eq!(runner_up(&[], winner), None);
    }
}
