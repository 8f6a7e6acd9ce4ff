//! Stock per product, and the reservations checkouts hold on it.
//!
//! A reservation is one conditional `UPDATE ... SET reserved = reserved + n
//! WHERE quantity - reserved >= n`, judged by the rows it touched: on both
//! backends the row is locked for the update, so concurrent checkouts can
//! never hold more than there is. Payment turns a reservation into a sale
//! (`quantity` and `reserved` both drop); expiry, cancellation or a failed
//! payment releases it (`reserved` drops).

use crate::Code;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::model::StockLevel;
use super::{Caller, Commerce};
use crate::error::{Error, Result};
use crate::ids::{ProductId, UserId};
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// A stock change: `PUT /inventory/products/{id}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct StockInput {
    /// Units on hand (at least the units reserved right now).
    pub quantity: i64,
    /// At or below this many available units the product is low on stock (default 5).
    pub low_stock_threshold: Option<i64>,
}

#[derive(Debug, FromRow)]
struct StockRow {
    product_id: Uuid,
    seller_id: Uuid,
    quantity: i64,
    reserved: i64,
    low_stock_threshold: i64,
    updated_at: DateTime<Utc>,
}

impl From<StockRow> for StockLevel {
    fn from(r: StockRow) -> Self {
        Self {
            product_id: r.product_id,
            seller_id: r.seller_id,
            quantity: r.quantity,
            reserved: r.reserved,
            available: r.quantity - r.reserved,
            low_stock_threshold: r.low_stock_threshold,
            updated_at: r.updated_at,
        }
    }
}

const MAX_STOCK: i64 = 1_000_000_000;

/// Whether product `$1`'s stock is counted (it has an inventory row): one
/// `bool`. A product whose stock is not counted is one item, and a lot of
/// it holds or takes nothing.
pub(crate) const STOCK_COUNTED: &str =
    "SELECT EXISTS (SELECT 1 FROM inventory WHERE product_id = $1)";

/// Inside the transaction `$tx` (any backend), holds `$units` (an `i64`)
/// of `$product`'s free stock at `$now`: whether they were free. The one
/// conditional update every hold on the stock makes (a lot's; checkouts add
/// the auction's check to it).
macro_rules! hold_stock {
    ($tx:expr, $product:expr, $units:expr, $now:expr) => {{
        let units: i64 = $units;
        sqlx::query(
            "UPDATE inventory SET reserved = reserved + $1, updated_at = $2 \
             WHERE product_id = $3 AND quantity - reserved >= $1",
        )
        .bind(units)
        .bind($now)
        .bind($product)
        .execute(&mut *$tx)
        .await?
        .rows_affected()
            == 1
    }};
}
pub(crate) use hold_stock;

/// Inside `$tx` (any backend), gives `$units` (an `i64`) of `$product`'s
/// held stock back at `$now`.
macro_rules! release_stock {
    ($tx:expr, $product:expr, $units:expr, $now:expr) => {{
        let units: i64 = $units;
        sqlx::query(
            "UPDATE inventory SET reserved = reserved - $1, updated_at = $2 WHERE product_id = $3",
        )
        .bind(units)
        .bind($now)
        .bind($product)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use release_stock;

/// Release every active reservation of `$order` inside the transaction `$tx`
/// (any backend): answers how many units went back on sale.
macro_rules! release_reservations {
    ($tx:expr, $order:expr, $now:expr) => {{
        let held: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE stock_reservations SET status = 'released' \
             WHERE order_id = $1 AND status = 'active' RETURNING product_id, quantity",
        )
        .bind($order)
        .fetch_all(&mut *$tx)
        .await?;
        let mut units = 0i64;
        for (product, quantity) in held {
            $crate::commerce::inventory::release_stock!($tx, product, quantity, $now);
            units += quantity;
        }
        units
    }};
}
pub(crate) use release_reservations;

/// Turn every active reservation of `$order` into a sale inside `$tx`.
macro_rules! commit_reservations {
    ($tx:expr, $order:expr, $now:expr) => {{
        let held: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE stock_reservations SET status = 'committed' \
             WHERE order_id = $1 AND status = 'active' RETURNING product_id, quantity",
        )
        .bind($order)
        .fetch_all(&mut *$tx)
        .await?;
        for (product, quantity) in held {
            sqlx::query(
                "UPDATE inventory SET quantity = quantity - $1, reserved = reserved - $1, \
                 updated_at = $2 WHERE product_id = $3",
            )
            .bind(quantity)
            .bind($now)
            .bind(product)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use commit_reservations;

impl Commerce {
    /// The seller of a live product, or 404.
    pub(crate) async fn product_seller(&self, product: ProductId) -> Result<Uuid> {
        let seller: Option<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT seller_id FROM products WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(Uuid::from(product))
        .fetch_optional(pool)
        .await)?;
        seller.ok_or(Error::NotFound { what: "product" })
    }

    fn ensure_may_stock(caller: Caller, seller: Uuid) -> Result<()> {
        if caller.may_manage(UserId::from(seller)) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "only the product's seller or an admin may see or change its stock",
            ))
        }
    }

    /// The stock of a product (its seller or an admin). A product whose
    /// stock was never set has none.
    pub async fn stock(&self, caller: Caller, product: ProductId) -> Result<StockLevel> {
        let seller = self.product_seller(product).await?;
        Self::ensure_may_stock(caller, seller)?;
        let row: Option<StockRow> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT product_id, seller_id, quantity, reserved, low_stock_threshold, updated_at \
             FROM inventory WHERE product_id = $1",
        )
        .bind(Uuid::from(product))
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(StockLevel::from).unwrap_or_else(|| StockLevel {
            product_id: Uuid::from(product),
            seller_id: seller,
            quantity: 0,
            reserved: 0,
            available: 0,
            low_stock_threshold: 5,
            updated_at: crate::time::now(),
        }))
    }

    /// Set the units on hand of a product (its seller or an admin). It may
    /// not drop below what unpaid checkouts hold (409 `stock_reserved`).
    pub async fn set_stock(
        &self,
        caller: Caller,
        product: ProductId,
        input: StockInput,
    ) -> Result<StockLevel> {
        if !(0..=MAX_STOCK).contains(&input.quantity) {
            return Err(Error::validation(
                "quantity",
                "range",
                format!("must be between 0 and {MAX_STOCK}"),
            ));
        }
        if let Some(t) = input.low_stock_threshold
            && !(0..=MAX_STOCK).contains(&t)
        {
            return Err(Error::validation(
                "low_stock_threshold",
                "range",
                format!("must be between 0 and {MAX_STOCK}"),
            ));
        }
        let seller = self.product_seller(product).await?;
        Self::ensure_may_stock(caller, seller)?;
        let now = crate::time::now();
        let changed = with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO inventory (product_id, seller_id, quantity, reserved, low_stock_threshold, updated_at) \
             VALUES ($1, $2, $3, 0, COALESCE($4, 5), $5) \
             ON CONFLICT (product_id) DO UPDATE SET quantity = excluded.quantity, \
             low_stock_threshold = COALESCE($4, inventory.low_stock_threshold), updated_at = excluded.updated_at \
             WHERE inventory.reserved <= excluded.quantity",
        )
        .bind(Uuid::from(product))
        .bind(seller)
        .bind(input.quantity)
        .bind(input.low_stock_threshold)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Err(Error::refused(
                Code::StockReserved,
                "unpaid checkouts hold more units than that; wait for them to be paid or released",
            ));
        }
        self.stock(caller, product).await
    }

    /// Products at or below their low-stock threshold: the seller's own, or
    /// every seller's for an admin.
    pub async fn low_stock(&self, caller: Caller, page: &Page) -> Result<Paged<StockLevel>> {
        let limit = page.limit()?;
        let after = page.uuid_cursor()?;
        let seller: Option<Uuid> = (!caller.is_admin()).then(|| Uuid::from(caller.id));
        let rows: Vec<StockRow> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT product_id, seller_id, quantity, reserved, low_stock_threshold, updated_at \
             FROM inventory WHERE quantity - reserved <= low_stock_threshold \
             AND ($1 IS NULL OR seller_id = $1) AND ($2 IS NULL OR product_id > $2) \
             ORDER BY product_id LIMIT $3",
        )
        .bind(seller)
        .bind(after)
        .bind(fetch_size(limit))
        .fetch_all(pool)
        .await)?;
        Ok(Paged::from_rows(rows, limit, |last| last.product_id.to_string()).map(StockLevel::from))
    }

    /// Units of `product` not held by anyone (0 when its stock was never set).
    pub(crate) async fn available(&self, product: Uuid) -> Result<i64> {
        let n: Option<i64> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT quantity - reserved FROM inventory WHERE product_id = $1",
        )
        .bind(product)
        .fetch_optional(pool)
        .await)?;
        Ok(n.unwrap_or(0).max(0))
    }

    /// Cancel every unpaid checkout whose reservation expired by `now` and put
    /// its stock back on sale, and every unpaid winner's order past its
    /// payment due time; answers how many orders were cancelled.
    pub async fn release_expired(&self, now: DateTime<Utc>) -> Result<usize> {
        let orders: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT DISTINCT order_id FROM stock_reservations \
             WHERE status = 'active' AND expires_at <= $1 LIMIT 100",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        // Winners' orders hold no stock; past their due time they lapse too.
        let lapsed: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM orders WHERE status = 'pending_payment' AND auction_id IS NOT NULL \
             AND payment_due_at <= $1 LIMIT 100",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        let mut cancelled = 0;
        for order in orders.into_iter().chain(lapsed) {
            let done = with_db!(&self.db, pool => {
                let mut tx = pool.begin().await?;
                let n = sqlx::query(
                    "UPDATE orders SET status = 'cancelled', updated_at = $1 \
                     WHERE id = $2 AND status = 'pending_payment'",
                )
                .bind(now)
                .bind(order)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                release_reservations!(tx, order, now);
                tx.commit().await?;
                n
            });
            if done == 1 {
                tracing::info!(order_id = %order, "order unpaid by its due time: cancelled, any stock released");
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// Release expired reservations every `period`, forever (spawn it once).
    pub async fn sweep_reservations_every(self, period: Duration, duty: crate::cluster::Duty) {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !duty.mine() {
                continue;
            }
            if let Err(e) = self.release_expired(crate::time::now()).await {
                tracing::warn!(error = %e, "could not release expired stock reservations; will retry");
            }
        }
    }
}
