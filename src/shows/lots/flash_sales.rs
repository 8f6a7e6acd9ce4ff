//! Flash sales: stock held while it runs, claims that never oversell.
//!
//! Starting a sale holds its quantity from the product's stock (one
//! conditional `UPDATE inventory SET reserved = reserved + quantity`); a
//! claim moves units from that hold to its order's reservation, which
//! payment turns into a sale and expiry or cancellation releases; ending
//! the sale releases what nobody claimed.
//!
//! A claim is one transaction that begins with
//! `UPDATE flash_sales SET sold = sold + n WHERE id = $1 AND status = 'live'
//! AND ends_at > now AND sold + n <= quantity`. On PostgreSQL that row's
//! lock makes every claim of the sale wait for the one before it to commit
//! (and the condition is judged again on the committed row); on SQLite the
//! first write takes the database's write lock. So the buyer's total, read
//! next in the same transaction, counts every earlier claim, and `sold`
//! can never pass `quantity` (a CHECK holds it besides).

use blytz_actors::domain::{Money, ShowId, UserId};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{Claim, ClaimInput, FlashSale, FlashSaleStatus, LotKind, NewFlashSale};
use super::{APPEND_KIND_SQL, Lots, MAX_FLASH_QUANTITY, window, wire_time};
use crate::Code;
use crate::accounts::Caller;
use crate::commerce::inventory::{hold_stock, release_stock};
use crate::commerce::lot_orders::{LotOrder, insert_lot_order};
use crate::error::{Error, Result};
use crate::shows::store::ShowRow;
use crate::with_db;

#[derive(Debug, FromRow)]
struct FlashSaleRow {
    id: Uuid,
    show_id: Uuid,
    seller_id: Uuid,
    product_id: Uuid,
    title: String,
    currency: String,
    price: i64,
    list_price: Option<i64>,
    quantity: i64,
    sold: i64,
    per_buyer_cap: i64,
    duration_ms: i64,
    status: String,
    started_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, show_id, seller_id, product_id, title, currency, price, list_price, \
     quantity, sold, per_buyer_cap, duration_ms, status, started_at, ends_at, ended_at";

impl FlashSaleRow {
    fn status(&self) -> Result<FlashSaleStatus> {
        FlashSaleStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "flash sale {} has an unknown status",
                self.id
            ))
        })
    }

    fn to_view(&self) -> Result<FlashSale> {
        Ok(FlashSale {
            id: self.id,
            kind: LotKind::FlashSale,
            show_id: ShowId::from(self.show_id),
            seller_id: UserId::from(self.seller_id),
            product_id: self.product_id,
            title: self.title.clone(),
            status: self.status()?,
            currency: self.currency.clone(),
            price: self.price,
            list_price: self.list_price,
            quantity: self.quantity,
            sold: self.sold,
            remaining: (self.quantity - self.sold).max(0),
            per_buyer_cap: self.per_buyer_cap,
            duration_ms: self.duration_ms,
            started_at: self.started_at,
            ends_at: self.ends_at,
            ended_at: self.ended_at,
            server_time: crate::time::now(),
        })
    }
}

fn not_live() -> Error {
    Error::refused(Code::FlashSaleNotLive, "the flash sale is not live")
}

fn sold_out(remaining: i64) -> Error {
    Error::refused(
        Code::SoldOut,
        "the flash sale has no units left for this claim",
    )
    .with_detail("remaining", remaining)
}

fn limit_reached(cap: i64, claimed: i64) -> Error {
    Error::refused(
        Code::ClaimLimitReached,
        format!("one buyer may claim {cap} of this sale in all"),
    )
    .with_detail("per_buyer_cap", cap)
    .with_detail("claimed", claimed)
}

/// Why a claim's reserving update touched no row, judged on `row` as the
/// claim's transaction read it.
fn refusal(row: &FlashSaleRow, quantity: i64, now: DateTime<Utc>) -> Error {
    let live = row.status == "live" && row.ends_at.is_some_and(|at| at > now);
    let remaining = (row.quantity - row.sold).max(0);
    if live && remaining < quantity {
        sold_out(remaining)
    } else if row.status == "ended" && remaining == 0 {
        sold_out(0)
    } else {
        not_live()
    }
}

impl Lots {
    async fn flash_row(&self, id: Uuid) -> Result<FlashSaleRow> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM flash_sales WHERE id = $1"));
        let row: Option<FlashSaleRow> =
            with_db!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.ok_or(Error::NotFound { what: "flash sale" })
    }

    /// One flash sale.
    pub async fn flash_sale(&self, id: Uuid) -> Result<FlashSale> {
        self.flash_row(id).await?.to_view()
    }

    /// A flash sale at the end of `show`'s queue.
    pub async fn create_flash_sale(
        &self,
        by: Caller,
        show: ShowId,
        new: NewFlashSale,
    ) -> Result<FlashSale> {
        window("duration_ms", new.duration_ms)?;
        if !(1..=MAX_FLASH_QUANTITY).contains(&new.quantity) {
            return Err(Error::validation(
                "quantity",
                "range",
                format!("must be 1 to {MAX_FLASH_QUANTITY}"),
            ));
        }
        let cap = new.per_buyer_cap.unwrap_or(1);
        if !(1..=new.quantity).contains(&cap) {
            return Err(Error::validation(
                "per_buyer_cap",
                "range",
                "must be 1 to the quantity",
            ));
        }
        if let Some(price) = new.price
            && !(0..=blytz_actors::domain::MAX_AMOUNT).contains(&price)
        {
            return Err(Error::validation(
                "price",
                "range",
                "must be between 0 and the largest amount",
            ));
        }
        let row = self.show_for_new_lot(show, by).await?;
        let (product, title) = self
            .product_for_lot(by, &row, new.product_id, new.title.as_deref())
            .await?;
        let price = new.price.or(product.buy_now_price).ok_or_else(|| {
            Error::validation(
                "price",
                "required",
                "the product has no buy-now price: give the sale a price",
            )
        })?;
        // A unit's price times the cap must stay an amount.
        let currency = crate::commerce::stored_currency(&product.currency)?;
        Money::new(price, currency).checked_mul(cap)?;
        let id = Uuid::now_v7();
        let now = crate::time::now();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO flash_sales (id, show_id, seller_id, product_id, title, currency, price, \
                 list_price, quantity, per_buyer_cap, duration_ms, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'scheduled', $12, $12)",
            )
            .bind(id)
            .bind(Uuid::from(show))
            .bind(Uuid::from(row.seller_id))
            .bind(new.product_id)
            .bind(&title)
            .bind(currency.as_str())
            .bind(price)
            .bind(product.buy_now_price)
            .bind(new.quantity)
            .bind(cap)
            .bind(new.duration_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(APPEND_KIND_SQL)
                .bind(Uuid::from(show))
                .bind(id)
                .bind(LotKind::FlashSale.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.flash_sale(id).await
    }

    /// Start a scheduled flash sale: its quantity is held from stock (409
    /// `insufficient_stock` when there is not that much free, or
    /// `product_in_auction`), its clock starts, and the room is told.
    pub(super) async fn start_flash_sale(&self, id: Uuid, show: &ShowRow) -> Result<FlashSale> {
        let row = self.flash_row(id).await?;
        let now = crate::time::now();
        let ends_at = now + window("duration_ms", row.duration_ms)?;
        let held = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let started = sqlx::query(
                "UPDATE flash_sales SET status = 'live', started_at = $1, ends_at = $2, updated_at = $1 \
                 WHERE id = $3 AND status = 'scheduled'",
            )
            .bind(now)
            .bind(ends_at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if !started {
                return Err(Error::refused(
                    Code::InvalidTransition,
                    "the flash sale has already started",
                ));
            }
            refuse_if_in_auction!(tx, row.product_id);
            let held = hold_stock!(tx, row.product_id, row.quantity, now);
            if held {
                tx.commit().await?;
            }
            held
        });
        if !held {
            return Err(Error::refused(
                Code::InsufficientStock,
                "not enough free stock for the sale's quantity",
            )
            .with_detail("product_id", row.product_id.to_string())
            .with_detail("quantity", row.quantity));
        }
        let view = self.flash_sale(id).await?;
        self.publish(
            show.id,
            &json!({"type": "lot.started", "show_id": show.id, "kind": "flash_sale", "lot_id": id,
                "flash_sale_id": id, "title": view.title, "product_id": view.product_id,
                "currency": view.currency, "price": view.price, "list_price": view.list_price,
                "quantity": view.quantity, "remaining": view.remaining,
                "per_buyer_cap": view.per_buyer_cap, "started_at": wire_time(now),
                "ends_at": wire_time(ends_at), "server_time": wire_time(crate::time::now())}),
        );
        Ok(view)
    }

    /// `by` claims units of a live flash sale: an order like a buy-now's.
    /// 409 `sold_out`, `claim_limit_reached` or `flash_sale_not_live` when
    /// refused; then nothing changed.
    pub async fn claim(&self, by: Caller, id: Uuid, input: ClaimInput) -> Result<Claim> {
        let quantity = input.quantity.unwrap_or(1);
        let row = self.flash_row(id).await?;
        if !(1..=MAX_FLASH_QUANTITY).contains(&quantity) {
            return Err(Error::validation(
                "quantity",
                "range",
                format!("must be 1 to {MAX_FLASH_QUANTITY}"),
            ));
        }
        let buyer = Uuid::from(by.id);
        if buyer == row.seller_id {
            return Err(Error::refused(
                Code::OwnLot,
                "a seller cannot claim from their own flash sale",
            ));
        }
        let now = crate::time::now();
        if quantity > row.per_buyer_cap {
            return Err(limit_reached(row.per_buyer_cap, 0));
        }
        if row.status()? != FlashSaleStatus::Live || row.ends_at.is_none_or(|at| at <= now) {
            return Err(refusal(&row, quantity, now));
        }
        if row.quantity - row.sold < quantity {
            return Err(sold_out((row.quantity - row.sold).max(0)));
        }
        self.commerce
            .check_card_for_claim(by.id, ShowId::from(row.show_id))
            .await?;
        let currency = crate::commerce::stored_currency(&row.currency)?;
        let plan = self
            .commerce
            .plan_lot_order(
                LotOrder {
                    buyer,
                    seller: row.seller_id,
                    show: row.show_id,
                    product: row.product_id,
                    title: row.title.clone(),
                    unit_price: Money::new(row.price, currency),
                    quantity,
                    reserve: true,
                },
                now,
            )
            .await?;
        let claim = Uuid::now_v7();
        let remaining: i64 = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let reserved = sqlx::query(
                "UPDATE flash_sales SET sold = sold + $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'live' AND ends_at > $2 AND sold + $1 <= quantity",
            )
            .bind(quantity)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if !reserved {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM flash_sales WHERE id = $1"));
                let current: FlashSaleRow = sqlx::query_as(sql).bind(id).fetch_one(&mut *tx).await?;
                return Err(refusal(&current, quantity, now));
            }
            let claimed: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM flash_sale_claims \
                 WHERE flash_sale_id = $1 AND buyer_id = $2",
            )
            .bind(id)
            .bind(buyer)
            .fetch_one(&mut *tx)
            .await?;
            if claimed + quantity > row.per_buyer_cap {
                return Err(limit_reached(row.per_buyer_cap, claimed));
            }
            insert_lot_order!(tx, &plan, now);
            sqlx::query(
                "INSERT INTO flash_sale_claims (id, flash_sale_id, buyer_id, quantity, order_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(claim)
            .bind(id)
            .bind(buyer)
            .bind(quantity)
            .bind(plan.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let remaining: i64 = sqlx::query_scalar("SELECT quantity - sold FROM flash_sales WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            remaining
        });
        let show = ShowId::from(row.show_id);
        self.publish(
            show,
            &json!({"type": "flash_sale.claimed", "show_id": show, "flash_sale_id": id, "lot_id": id,
                "quantity": quantity, "remaining": remaining,
                "server_time": wire_time(crate::time::now())}),
        );
        if plan.charge {
            self.commerce.nudge_outbox();
        }
        if remaining == 0
            && let Err(e) = self.end_flash_sale(id).await
        {
            // The claim stands; the loop ends a sold-out sale on its next pass.
            tracing::warn!(flash_sale_id = %id, error = %e, "could not end a sold-out flash sale; will retry");
        }
        let order = self.commerce.order(by, plan.id).await?;
        Ok(Claim {
            id: claim,
            quantity,
            order,
            flash_sale: self.flash_sale(id).await?,
        })
    }

    /// End every live flash sale whose time is up by `now`, or sold out.
    pub(super) async fn end_due_flash_sales(&self, now: DateTime<Utc>) -> Result<()> {
        let due: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM flash_sales WHERE status = 'live' AND (ends_at <= $1 OR sold >= quantity) \
             ORDER BY ends_at LIMIT 50",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        for id in due {
            if let Err(e) = self.end_flash_sale(id).await {
                tracing::warn!(flash_sale_id = %id, error = %e, "could not end a flash sale; will retry");
            }
        }
        Ok(())
    }

    /// End a live flash sale: what nobody claimed goes back to stock, in
    /// the transaction that ends it; the room is told.
    async fn end_flash_sale(&self, id: Uuid) -> Result<()> {
        let now = crate::time::now();
        let ended: Option<(Uuid, i64, i64)> = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query(
                "UPDATE flash_sales SET status = 'ended', ended_at = $1, updated_at = $1 \
                 WHERE id = $2 AND status = 'live'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if !ended {
                return Ok(());
            }
            let (show, product, quantity, sold): (Uuid, Uuid, i64, i64) = sqlx::query_as(
                "SELECT show_id, product_id, quantity, sold FROM flash_sales WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let unsold = quantity - sold;
            if unsold > 0 {
                release_stock!(tx, product, unsold, now);
            }
            tx.commit().await?;
            Some((show, quantity, sold))
        });
        if let Some((show, quantity, sold)) = ended {
            tracing::info!(flash_sale_id = %id, sold, quantity, "flash sale ended");
            let show = ShowId::from(show);
            self.publish(
                show,
                &json!({"type": "lot.ended", "show_id": show, "kind": "flash_sale", "lot_id": id,
                    "flash_sale_id": id, "quantity": quantity, "sold": sold,
                    "remaining": quantity - sold, "server_time": wire_time(crate::time::now())}),
            );
        }
        Ok(())
    }
}
