//! Orders: checkout from the cart, the winner's order of an auction, the
//! status machine, and who may see what (buyers their orders, sellers their
//! sales, admins all; anyone else gets 404).
//!
//! A checkout with items from several sellers makes one order per seller
//! (and currency), all in one transaction: either every item's stock is
//! reserved and every order exists, or nothing changed.

use crate::Code;
use std::collections::BTreeMap;

use blytz_actors::domain::{Currency, Money};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::inventory::{commit_reservations, release_reservations};
use super::model::{Order, OrderItem, OrderStatus, Shipment, ShipmentEvent};
use super::{Caller, Commerce, later, stored_currency};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// `POST /orders`: check the cart out.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CheckoutInput {
    /// One of the caller's shipping addresses.
    pub shipping_address_id: Uuid,
}

/// Whose orders a list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderView {
    /// What the caller bought (the default).
    #[default]
    Buyer,
    /// What the caller sold.
    Seller,
    /// Every order (admins only).
    All,
}

#[derive(Debug, FromRow)]
pub(crate) struct OrderRow {
    pub id: Uuid,
    pub buyer_id: Uuid,
    pub seller_id: Uuid,
    pub auction_id: Option<Uuid>,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
    pub shipping_address: Option<Json<Value>>,
    pub payment_due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub show_id: Option<Uuid>,
    pub bundle_id: Option<Uuid>,
    pub second_chance_of: Option<Uuid>,
    pub payment_failure: Option<String>,
    pub payment_retry_until: Option<DateTime<Utc>>,
    pub platform_fee: i64,
    pub refunded: i64,
}

impl OrderRow {
    pub fn status(&self) -> Result<OrderStatus> {
        OrderStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("order {} has an unknown status", self.id))
        })
    }

    pub fn may_see(&self, caller: Caller) -> bool {
        caller.may_manage(UserId::from(self.buyer_id)) || self.may_manage(caller)
    }

    pub fn may_manage(&self, caller: Caller) -> bool {
        caller.may_manage(UserId::from(self.seller_id))
    }

    /// What the buyer pays.
    pub fn total(&self) -> Result<Money> {
        Ok(Money::new(self.total, stored_currency(&self.currency)?))
    }
}

pub(crate) const ORDER_COLUMNS: &str = "id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax, \
     shipping, total, shipping_address, payment_due_at, created_at, updated_at, show_id, bundle_id, \
     second_chance_of, payment_failure, payment_retry_until, platform_fee, refunded";

/// A 409 `invalid_transition` from `from` to `to`.
pub(crate) fn invalid_transition(from: OrderStatus, to: OrderStatus) -> Error {
    let mut details = serde_json::Map::new();
    details.insert("from".into(), from.as_str().into());
    details.insert("to".into(), to.as_str().into());
    Error::Refused {
        code: Code::InvalidTransition,
        message: format!(
            "an order that is {} cannot become {}",
            from.as_str(),
            to.as_str()
        )
        .into(),
        details,
    }
}

/// `status IN (...)` for the statuses that may become `to`.
pub(crate) fn from_clause(to: OrderStatus) -> String {
    let list: Vec<String> = OrderStatus::sources_of(to)
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("status IN ({})", list.join(", "))
}

/// Move order `$id` to `$to` inside `$tx` if its status allows; answers
/// whether it moved.
macro_rules! move_order {
    ($tx:expr, $id:expr, $to:expr, $now:expr) => {{
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND {}",
            $crate::commerce::orders::from_clause($to)
        ));
        sqlx::query(sql)
            .bind($to.as_str())
            .bind($now)
            .bind($id)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
            == 1
    }};
}
pub(crate) use move_order;

/// Mark order `$id` paid inside `$tx` and turn its reservations into sales;
/// answers whether it moved (false when it was not awaiting payment).
macro_rules! settle_paid {
    ($tx:expr, $id:expr, $now:expr) => {{
        let moved = $crate::commerce::orders::move_order!($tx, $id, OrderStatus::Paid, $now);
        if moved {
            commit_reservations!($tx, $id, $now);
        }
        moved
    }};
}
pub(crate) use settle_paid;

struct NewLine {
    product: Uuid,
    title: String,
    unit_price: Money,
    quantity: i64,
    line_total: Money,
}

fn out_of_stock(product: Uuid) -> Error {
    let mut details = serde_json::Map::new();
    details.insert("product_id".into(), product.to_string().into());
    Error::Refused {
        code: Code::OutOfStock,
        message: "not enough stock left for this product".into(),
        details,
    }
}

impl Commerce {
    pub(crate) async fn order_row(&self, id: Uuid) -> Result<Option<OrderRow>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"));
        Ok(with_db!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?)
    }

    /// The order if the caller may see it, else 404.
    pub(crate) async fn visible_order(&self, caller: Caller, id: Uuid) -> Result<OrderRow> {
        match self.order_row(id).await? {
            Some(row) if row.may_see(caller) => Ok(row),
            _ => Err(Error::NotFound { what: "order" }),
        }
    }

    async fn to_order(&self, row: OrderRow) -> Result<Order> {
        let status = row.status()?;
        let items: Vec<(Uuid, String, i64, i64, i64)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT product_id, title, unit_price, quantity, line_total FROM order_items \
             WHERE order_id = $1 ORDER BY id",
        )
        .bind(row.id)
        .fetch_all(pool)
        .await)?;
        let shipment = self.shipment_of(row.id).await?;
        Ok(Order {
            id: row.id,
            buyer_id: row.buyer_id,
            seller_id: row.seller_id,
            auction_id: row.auction_id,
            status,
            currency: row.currency,
            subtotal: row.subtotal,
            tax: row.tax,
            shipping: row.shipping,
            total: row.total,
            shipping_address: row.shipping_address.map(|j| j.0),
            payment_due_at: row.payment_due_at,
            items: items
                .into_iter()
                .map(
                    |(product_id, title, unit_price, quantity, line_total)| OrderItem {
                        product_id,
                        title,
                        unit_price,
                        quantity,
                        line_total,
                    },
                )
                .collect(),
            shipment,
            show_id: row.show_id,
            bundle_id: row.bundle_id,
            second_chance_of: row.second_chance_of,
            payment_failure: row.payment_failure,
            payment_retry_until: row.payment_retry_until,
            platform_fee: row.platform_fee,
            refunded: row.refunded,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    async fn shipment_of(&self, order: Uuid) -> Result<Option<Shipment>> {
        let row: Option<(Uuid, String, String, String, Option<String>, String)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT id, provider, carrier, tracking_number, tracking_url, status FROM shipments WHERE order_id = $1",
        )
        .bind(order)
        .fetch_optional(pool)
        .await)?;
        let Some((id, provider, carrier, tracking_number, tracking_url, status)) = row else {
            return Ok(None);
        };
        let events: Vec<(String, Option<String>, DateTime<Utc>)> = with_db!(&self.db, pool => sqlx::query_as(
            "SELECT status, note, at FROM shipment_events WHERE shipment_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        Ok(Some(Shipment {
            provider,
            carrier,
            tracking_number,
            tracking_url,
            status,
            history: events
                .into_iter()
                .map(|(status, note, at)| ShipmentEvent { status, note, at })
                .collect(),
        }))
    }

    /// One order: its buyer, its seller or an admin (404 for anyone else).
    pub async fn order(&self, caller: Caller, id: Uuid) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        self.to_order(row).await
    }

    /// Orders, newest first: the caller's purchases, sales, or (admins) all.
    pub async fn orders(
        &self,
        caller: Caller,
        view: OrderView,
        page: &Page,
    ) -> Result<Paged<Order>> {
        let limit = page.limit()?;
        let before = page.uuid_cursor()?;
        let filter = match view {
            OrderView::Buyer => "buyer_id = $1",
            OrderView::Seller => "seller_id = $1",
            OrderView::All if caller.is_admin() => "($1 IS NOT NULL)",
            OrderView::All => return Err(Error::forbidden("only admins may list every order")),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {filter} AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ));
        let rows: Vec<OrderRow> = with_db!(&self.db, pool => sqlx::query_as(sql)
            .bind(Uuid::from(caller.id))
            .bind(before)
            .bind(fetch_size(limit))
            .fetch_all(pool)
            .await)?;
        let rows = Paged::from_rows(rows, limit, |last| last.id.to_string());
        let mut items = Vec::with_capacity(rows.items.len());
        for row in rows.items {
            items.push(self.to_order(row).await?);
        }
        Ok(Paged {
            items,
            next_cursor: rows.next_cursor,
        })
    }

    /// Check the caller's cart out: one order per seller (and currency), each
    /// item's stock reserved until the payment is due. 409 `out_of_stock`
    /// (naming the product) when any item's stock is short; nothing changes then.
    pub async fn checkout(&self, buyer: UserId, input: CheckoutInput) -> Result<Vec<Order>> {
        let address = self.address(buyer, input.shipping_address_id).await?;
        if address.kind != "shipping" {
            return Err(Error::validation(
                "shipping_address_id",
                "shipping_address",
                "must be a shipping address",
            ));
        }
        let owner = super::cart::CartOwner::User(buyer);
        let cart = self.cart_id(&owner).await?;
        let lines = match cart {
            Some(cart) => self.cart_lines(cart).await?,
            None => Vec::new(),
        };
        if lines.is_empty() {
            return Err(Error::refused(Code::CartEmpty, "the cart is empty"));
        }
        let mut groups: BTreeMap<(Uuid, Currency), Vec<NewLine>> = BTreeMap::new();
        for line in lines {
            let price = match line.buy_now_price {
                Some(p) if line.status == "active" && !line.deleted => p,
                _ => {
                    let mut details = serde_json::Map::new();
                    details.insert("product_id".into(), line.product_id.to_string().into());
                    return Err(Error::Refused {
                        code: Code::ProductUnavailable,
                        message: format!("{} is no longer on sale", line.title).into(),
                        details,
                    });
                }
            };
            let currency = stored_currency(&line.currency)?;
            let price = Money::new(price, currency);
            let line_total = price.checked_mul(line.quantity)?;
            groups
                .entry((line.seller_id, currency))
                .or_default()
                .push(NewLine {
                    product: line.product_id,
                    title: line.title,
                    unit_price: price,
                    quantity: line.quantity,
                    line_total,
                });
        }
        let now = crate::time::now();
        let due = later(now, self.settings.reservation_ttl);
        let address_json = Json(serde_json::to_value(&address).map_err(anyhow::Error::from)?);
        let mut planned = Vec::new();
        for ((seller, currency), lines) in groups {
            let subtotal = lines.iter().try_fold(Money::zero(currency), |sum, l| {
                sum.checked_add(l.line_total)
            })?;
            // Bought while the seller is live (or just after): the order
            // joins the buyer's bundle of that show and ships with it.
            let rates = self.rates_of(seller).await?;
            let show = match &rates {
                Some(_) => self.current_show_of(seller).await?,
                None => None,
            };
            let bundle = match show {
                Some(show) => {
                    self.open_bundle(Uuid::from(buyer), seller, show, currency.as_str())
                        .await?
                }
                None => None,
            };
            let shipping = self.shipping_into(bundle, rates.as_ref(), currency).await?;
            let amounts = self.settings.order_amounts_shipped(subtotal, shipping)?;
            let fee = self.settings.platform_fee_on(amounts.total)?;
            planned.push((
                Uuid::now_v7(),
                seller,
                amounts,
                lines,
                show.filter(|_| bundle.is_some()),
                bundle,
                fee,
            ));
        }
        let cart = cart.unwrap_or_default();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // Reservations first: the first statement writes, so SQLite takes
            // its write lock at once instead of failing to upgrade later.
            for (_, _, _, lines, ..) in &planned {
                for l in lines {
                    // A product an open auction holds is sold there: the
                    // check is in the reserving statement, so an auction
                    // created meanwhile is seen.
                    let sql = sqlx::AssertSqlSafe(format!(
                        "UPDATE inventory SET reserved = reserved + $1, updated_at = $2 \
                         WHERE product_id = $3 AND quantity - reserved >= $1 \
                         AND NOT EXISTS (SELECT 1 FROM auctions WHERE product_id = $3 AND status IN {})",
                        crate::catalog::LIVE_AUCTION
                    ));
                    let held = sqlx::query(sql)
                        .bind(l.quantity).bind(now).bind(l.product)
                        .execute(&mut *tx).await?.rows_affected();
                    if held != 1 {
                        let auctioned: bool = sqlx::query_scalar(crate::catalog::PRODUCT_IN_AUCTION)
                            .bind(l.product).fetch_one(&mut *tx).await?;
                        return Err(if auctioned {
                            super::in_auction(l.product)
                        } else {
                            out_of_stock(l.product)
                        });
                    }
                }
            }
            for (id, seller, amounts, lines, show, bundle, fee) in &planned {
                sqlx::query(
                    "INSERT INTO orders (id, buyer_id, seller_id, auction_id, status, currency, subtotal, tax, \
                     shipping, total, shipping_address, payment_due_at, created_at, updated_at, show_id, bundle_id, \
                     platform_fee) \
                     VALUES ($1, $2, $3, NULL, 'pending_payment', $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13, $14)",
                )
                .bind(*id).bind(Uuid::from(buyer)).bind(*seller).bind(amounts.currency().as_str())
                .bind(amounts.subtotal.minor).bind(amounts.tax.minor).bind(amounts.shipping.minor)
                .bind(amounts.total.minor).bind(&address_json).bind(due).bind(now)
                .bind(*show).bind(*bundle).bind(fee.minor)
                .execute(&mut *tx).await?;
                for l in lines {
                    sqlx::query(
                        "INSERT INTO order_items (id, order_id, product_id, title, unit_price, quantity, line_total) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(Uuid::now_v7()).bind(*id).bind(l.product).bind(&l.title)
                    .bind(l.unit_price.minor).bind(l.quantity).bind(l.line_total.minor)
                    .execute(&mut *tx).await?;
                    sqlx::query(
                        "INSERT INTO stock_reservations (id, order_id, product_id, quantity, status, expires_at, created_at) \
                         VALUES ($1, $2, $3, $4, 'active', $5, $6)",
                    )
                    .bind(Uuid::now_v7()).bind(*id).bind(l.product).bind(l.quantity).bind(due).bind(now)
                    .execute(&mut *tx).await?;
                }
            }
            sqlx::query("DELETE FROM cart_items WHERE cart_id = $1").bind(cart).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        let mut orders = Vec::new();
        for (id, ..) in planned {
            orders.push(
                self.order(Caller::new(buyer, crate::accounts::Role::Buyer), id)
                    .await?,
            );
        }
        Ok(orders)
    }

    async fn cart_id(&self, owner: &super::cart::CartOwner) -> Result<Option<Uuid>> {
        let super::cart::CartOwner::User(user) = owner else {
            return Ok(None);
        };
        Ok(with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM carts WHERE user_id = $1 AND expires_at > $2",
        )
        .bind(Uuid::from(*user))
        .bind(crate::time::now())
        .fetch_optional(pool)
        .await)?)
    }

    /// Call off an unpaid order (its buyer, seller or an admin); its stock goes
    /// back on sale. 409 `invalid_transition` once paid.
    pub async fn cancel_order(&self, caller: Caller, id: Uuid) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = move_order!(tx, id, OrderStatus::Cancelled, now);
            if moved {
                release_reservations!(tx, id, now);
                tx.commit().await?;
            }
            moved
        });
        if !moved {
            let current = self.order_row(id).await?.map(|r| r.status()).transpose()?;
            return Err(invalid_transition(
                current.unwrap_or(row.status()?),
                OrderStatus::Cancelled,
            ));
        }
        self.order(caller, id).await
    }

    /// Manual gateway only: the seller or an admin says the buyer paid.
    pub async fn mark_paid(&self, caller: Caller, id: Uuid) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden(
                "only the seller or an admin may mark an order paid",
            ));
        }
        if !self.gateway.is_manual() {
            return Err(Error::refused(
                Code::ManualPaymentsDisabled,
                "payments go through the payment gateway; an order is paid when it confirms",
            ));
        }
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = settle_paid!(tx, id, now);
            if moved {
                tx.commit().await?;
            }
            moved
        });
        if !moved {
            return Err(invalid_transition(row.status()?, OrderStatus::Paid));
        }
        self.order(caller, id).await
    }

    /// The seller or an admin starts preparing a paid order.
    pub async fn start_processing(&self, caller: Caller, id: Uuid) -> Result<Order> {
        let row = self.visible_order(caller, id).await?;
        if !row.may_manage(caller) {
            return Err(Error::forbidden("only the seller or an admin may do this"));
        }
        let now = crate::time::now();
        let moved = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let moved = move_order!(tx, id, OrderStatus::Processing, now);
            tx.commit().await?;
            moved
        });
        if !moved {
            return Err(invalid_transition(row.status()?, OrderStatus::Processing));
        }
        self.order(caller, id).await
    }

    /// The winner's order of an auction, if it exists and the caller may see it.
    pub async fn order_for_auction(&self, caller: Caller, auction: Uuid) -> Result<Order> {
        let id: Option<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM orders WHERE auction_id = $1",
        )
        .bind(auction)
        .fetch_optional(pool)
        .await)?;
        let id = id.ok_or(Error::NotFound { what: "order" })?;
        self.order(caller, id).await
    }
}
