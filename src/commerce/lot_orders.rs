//! Orders of a show's other lots: a flash sale's claim and a giveaway's prize.
//!
//! They are made as a won auction's order is ([`super::outbox`]): status
//! `pending_payment`, shipping by the seller's rates and the buyer's bundle
//! of the show, the platform fee, the buyer's default shipping address,
//! payment due `payment_due` later, and, with a gateway that charges cards,
//! an `order.charge` row that has the buyer's card charged by the next step.
//! A prize whose total is zero (free shipping) is paid from the start.
//!
//! A lot plans its order first ([`Commerce::plan_lot_order`]: rates, bundle
//! and address are read outside any transaction, as checkout does), then
//! writes it with [`insert_lot_order!`] inside the transaction that also
//! records the lot's side (a flash sale's sold units, a giveaway's order),
//! so that either both exist or neither does.

use blytz_actors::domain::Money;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::addresses::{ADDRESS_COLUMNS, AddressRow};
use super::model::Address;
use super::{Commerce, OrderAmounts, later};
use crate::error::{Error, Result};
use crate::with_db;

/// What a lot sells to whom.
#[derive(Debug, Clone)]
pub struct LotOrder {
    /// Who receives it.
    pub buyer: Uuid,
    /// Who ships it.
    pub seller: Uuid,
    /// The show the lot ran in (the buyer's bundle of it, when the seller has rates).
    pub show: Uuid,
    /// The product.
    pub product: Uuid,
    /// The line's title.
    pub title: String,
    /// The price of one unit (zero for a prize).
    pub unit_price: Money,
    /// Units (at least 1).
    pub quantity: i64,
    /// Whether the units come from the lot's hold on the stock (a flash
    /// sale's; a giveaway's, when it held one) and become the order's
    /// reservation, rather than being taken out of stock when the order is
    /// made (a prize of a product whose stock was not counted when it
    /// opened).
    pub reserve: bool,
}

/// An order ready to be written by [`insert_lot_order!`].
#[derive(Debug, Clone)]
pub struct PlannedOrder {
    /// The new order's id.
    pub id: Uuid,
    /// What it sells.
    pub lot: LotOrder,
    /// The show, when the order joins a bundle of it.
    pub show: Option<Uuid>,
    /// The buyer's open bundle of the show.
    pub bundle: Option<Uuid>,
    /// Subtotal, tax, shipping and total.
    pub amounts: OrderAmounts,
    /// The unit price times the quantity.
    pub line_total: Money,
    /// What the platform keeps.
    pub fee: Money,
    /// The buyer's default shipping address, copied.
    pub address: Option<Json<Value>>,
    /// When payment is due (and a reservation expires).
    pub due: DateTime<Utc>,
    /// `pending_payment`, or `paid` when there is nothing to pay.
    pub status: &'static str,
    /// Whether an `order.charge` row goes with it.
    pub charge: bool,
}

impl Commerce {
    /// Plan the order of `lot` at `now`: amounts, bundle, address and due time.
    pub async fn plan_lot_order(&self, lot: LotOrder, now: DateTime<Utc>) -> Result<PlannedOrder> {
        if lot.quantity < 1 {
            return Err(Error::Internal(anyhow::anyhow!(
                "a lot order of {} units",
                lot.quantity
            )));
        }
        let currency = lot.unit_price.currency;
        let line_total = lot.unit_price.checked_mul(lot.quantity)?;
        let rates = self.rates_of(lot.seller).await?;
        let bundle = match &rates {
            Some(_) => {
                self.open_bundle(lot.buyer, lot.seller, lot.show, currency.as_str())
                    .await?
            }
            None => None,
        };
        let shipping = self.shipping_into(bundle, rates.as_ref(), currency).await?;
        let amounts = self.settings.order_amounts_shipped(line_total, shipping)?;
        let fee = self.settings.platform_fee_on(amounts.total)?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE user_id = $1 AND type = 'shipping' AND is_default"
        ));
        let address: Option<AddressRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(lot.buyer)
            .fetch_optional(pool)
            .await)?;
        let address = address
            .map(|a| serde_json::to_value(Address::from(a)).map(Json))
            .transpose()
            .map_err(anyhow::Error::from)?;
        let free = amounts.total.minor == 0;
        Ok(PlannedOrder {
            id: Uuid::now_v7(),
            show: bundle.map(|_| lot.show),
            lot,
            bundle,
            amounts,
            line_total,
            fee,
            address,
            due: later(now, self.settings.payment_due),
            status: if free { "paid" } else { "pending_payment" },
            charge: !free && self.takes_cards(),
        })
    }
}

/// Write `$plan` (a [`PlannedOrder`]) inside `$tx` (any backend) at `$now`:
/// the order, its line, the units (a reservation, or taken out of stock)
/// and the charge row. Answers nothing; fails the transaction on error.
macro_rules! insert_lot_order {
    ($tx:expr, $plan:expr, $now:expr) => {{
        let plan: &$crate::commerce::lot_orders::PlannedOrder = $plan;
        let now: ::chrono::DateTime<::chrono::Utc> = $now;
        sqlx::query(
            "INSERT INTO orders (id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax, \
             shipping, total, shipping_address, payment_due_at, created_at, updated_at, show_id, bundle_id, \
             platform_fee) \
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)",
        )
        .bind(plan.id)
        .bind(plan.lot.buyer)
        .bind(plan.lot.seller)
        .bind(plan.status)
        .bind(plan.amounts.currency().as_str())
        .bind(plan.amounts.subtotal.minor)
        .bind(plan.amounts.tax.minor)
        .bind(plan.amounts.shipping.minor)
        .bind(plan.amounts.total.minor)
        .bind(plan.address.clone())
        .bind(plan.due)
        .bind(now)
        .bind(plan.show)
        .bind(plan.bundle)
        .bind(plan.fee.minor)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "INSERT INTO order_items (id, order_id, product_id, title, unit_price, quantity, line_total) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(::uuid::Uuid::now_v7())
        .bind(plan.id)
        .bind(plan.lot.product)
        .bind(&plan.lot.title)
        .bind(plan.lot.unit_price.minor)
        .bind(plan.lot.quantity)
        .bind(plan.line_total.minor)
        .execute(&mut *$tx)
        .await?;
        if plan.lot.reserve {
            // The units move from the lot's hold to the order's reservation:
            // `inventory.reserved` already counts them. An order with
            // nothing to pay (a prize with free shipping) is paid already,
            // so its units leave stock now.
            sqlx::query(
                "INSERT INTO stock_reservations (id, order_id, product_id, quantity, status, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, 'active', $5, $6)",
            )
            .bind(::uuid::Uuid::now_v7())
            .bind(plan.id)
            .bind(plan.lot.product)
            .bind(plan.lot.quantity)
            .bind(plan.due)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
            if plan.status == "paid" {
                $crate::commerce::inventory::commit_reservations!($tx, plan.id, now);
            }
        } else {
            let taken = sqlx::query(
                "UPDATE inventory SET quantity = quantity - $1, updated_at = $2 \
                 WHERE product_id = $3 AND quantity - reserved >= $1",
            )
            .bind(plan.lot.quantity)
            .bind(now)
            .bind(plan.lot.product)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if taken == 0 {
                tracing::warn!(order_id = %plan.id, product_id = %plan.lot.product,
                    "a lot was won with no unit free in stock");
            }
        }
        if plan.charge {
            sqlx::query(
                "INSERT INTO outbox (id, topic, key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (topic, key) DO NOTHING",
            )
            .bind(::uuid::Uuid::now_v7())
            .bind($crate::commerce::charge::ORDER_CHARGE_TOPIC)
            .bind(plan.id.to_string())
            .bind(::sqlx::types::Json(::serde_json::json!({"order_id": plan.id})))
            .bind(now)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use insert_lot_order;
