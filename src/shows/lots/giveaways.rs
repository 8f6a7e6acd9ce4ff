//! Giveaways: who enters, the draw, the prize.
//!
//! Entrants are the signed-in viewers present in the show's room (an open
//! socket subscribed to `show:<id>`), one entry per account, the seller
//! never: everyone present when it opens, everyone present when it closes,
//! and anyone present in between who enters (`POST /giveaways/{id}/entries`).
//! The draw ([`super::draw`]) runs in the transaction that closes it; the
//! winner's order (price zero, shipping by the seller's rules) follows in a
//! transaction of its own, claimed by `order_id IS NULL`, so a crash between
//! the two is mended by the next [`super::Lots::run_due`].
//!
//! The prize is held while it runs: opening takes one unit of the product's
//! counted stock into `inventory.reserved` (409 `insufficient_stock` when
//! none is free; a product whose stock is not counted is one item, and
//! holds nothing), and refuses a product an open auction holds (409
//! `product_in_auction`). The winner's order takes the held unit as its
//! reservation; a draw with no winner gives it back.

use blytz_actors::domain::{ShowId, UserId};
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::FromRow;
use uuid::Uuid;

use super::model::{Giveaway, GiveawayStatus, LotKind, NewGiveaway};
use super::{APPEND_KIND_SQL, Lots, draw, window, wire_time};
use crate::Code;
use crate::accounts::Caller;
use crate::commerce::inventory::{hold_stock, release_stock};
use crate::commerce::lot_orders::{LotOrder, insert_lot_order};
use crate::error::{Error, Result};
use crate::shows::store::ShowRow;
use crate::with_db;

/// Inside `$tx` (any backend), the transaction that opens giveaway `$id`
/// of `$product` at `$now`: refuses a product an open auction holds, and
/// holds one unit of its counted stock (refused when none is free; a
/// product whose stock is not counted holds nothing). Returns the refusal
/// from the enclosing block, so the transaction is rolled back.
macro_rules! hold_prize {
    ($tx:expr, $id:expr, $product:expr, $now:expr) => {{
        refuse_if_in_auction!($tx, $product);
        if hold_stock!($tx, $product, 1, $now) {
            sqlx::query("UPDATE giveaways SET unit_held = $1 WHERE id = $2")
                .bind(true)
                .bind($id)
                .execute(&mut *$tx)
                .await?;
        } else {
            let counted: bool = sqlx::query_scalar(crate::commerce::inventory::STOCK_COUNTED)
                .bind($product)
                .fetch_one(&mut *$tx)
                .await?;
            if counted {
                return Err(Error::refused(
                    Code::InsufficientStock,
                    "no unit of the prize is free in stock",
                )
                .with_detail("product_id", $product.to_string())
                .with_detail("quantity", 1));
            }
        }
    }};
}

#[derive(Debug, FromRow)]
struct GiveawayRow {
    id: Uuid,
    show_id: Uuid,
    seller_id: Uuid,
    product_id: Uuid,
    title: String,
    currency: String,
    duration_ms: i64,
    status: String,
    seed: Option<String>,
    seed_hash: Option<String>,
    opened_at: Option<DateTime<Utc>>,
    closes_at: Option<DateTime<Utc>>,
    drawn_at: Option<DateTime<Utc>>,
    winner_id: Option<Uuid>,
    order_id: Option<Uuid>,
    /// One unit of the product is held for the prize.
    unit_held: bool,
}

const COLUMNS: &str = "id, show_id, seller_id, product_id, title, currency, duration_ms, status, \
     seed, seed_hash, opened_at, closes_at, drawn_at, winner_id, order_id, unit_held";

fn not_open() -> Error {
    Error::refused(
        Code::GiveawayNotOpen,
        "the giveaway is not open for entries",
    )
}

impl GiveawayRow {
    fn status(&self) -> Result<GiveawayStatus> {
        GiveawayStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "giveaway {} has an unknown status",
                self.id
            ))
        })
    }
}

impl Lots {
    async fn giveaway_row(&self, id: Uuid) -> Result<GiveawayRow> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM giveaways WHERE id = $1"));
        let row: Option<GiveawayRow> =
            with_db!(&self.db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await)?;
        row.ok_or(Error::NotFound { what: "giveaway" })
    }

    async fn entrants(&self, id: Uuid) -> Result<Vec<Uuid>> {
        let mut ids: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT user_id FROM giveaway_entries WHERE giveaway_id = $1",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        ids.sort_unstable();
        Ok(ids)
    }

    async fn giveaway_view(&self, row: GiveawayRow) -> Result<Giveaway> {
        let status = row.status()?;
        let entrants = self.entrants(row.id).await?;
        let drawn = status == GiveawayStatus::Drawn;
        Ok(Giveaway {
            id: row.id,
            kind: LotKind::Giveaway,
            show_id: ShowId::from(row.show_id),
            seller_id: UserId::from(row.seller_id),
            product_id: row.product_id,
            title: row.title,
            status,
            duration_ms: row.duration_ms,
            seed_hash: row.seed_hash,
            // The seed stays secret until the draw.
            seed: if drawn { row.seed } else { None },
            entrant_count: i64::try_from(entrants.len()).unwrap_or(i64::MAX),
            entrants: drawn.then_some(entrants),
            winner_id: row.winner_id,
            opened_at: row.opened_at,
            closes_at: row.closes_at,
            drawn_at: row.drawn_at,
            server_time: crate::time::now(),
        })
    }

    /// One giveaway; once drawn with its seed, entrants and winner.
    pub async fn giveaway(&self, id: Uuid) -> Result<Giveaway> {
        let row = self.giveaway_row(id).await?;
        self.giveaway_view(row).await
    }

    /// A giveaway at the end of `show`'s queue.
    pub async fn create_giveaway(
        &self,
        by: Caller,
        show: ShowId,
        new: NewGiveaway,
    ) -> Result<Giveaway> {
        window("duration_ms", new.duration_ms)?;
        let row = self.show_for_new_lot(show, by).await?;
        let (product, title) = self
            .product_for_lot(by, &row, new.product_id, new.title.as_deref())
            .await?;
        let id = Uuid::now_v7();
        let now = crate::time::now();
        with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO giveaways (id, show_id, seller_id, product_id, title, currency, duration_ms, \
                 status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $8)",
            )
            .bind(id)
            .bind(Uuid::from(show))
            .bind(Uuid::from(row.seller_id))
            .bind(new.product_id)
            .bind(&title)
            .bind(&product.currency)
            .bind(new.duration_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(APPEND_KIND_SQL)
                .bind(Uuid::from(show))
                .bind(id)
                .bind(LotKind::Giveaway.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        self.giveaway(id).await
    }

    /// Open a scheduled giveaway: a fresh seed, its hash published, its
    /// prize held (see the module's doc), and everyone present entered.
    pub(super) async fn open_giveaway(&self, id: Uuid, show: &ShowRow) -> Result<Giveaway> {
        let row = self.giveaway_row(id).await?;
        let seed = draw::new_seed();
        let seed_hex = hex::encode(seed);
        let seed_hash = draw::seed_hash(&seed);
        let now = crate::time::now();
        let closes_at = now + window("duration_ms", row.duration_ms)?;
        let present = self.present(show.id, show.seller_id).await;
        let opened = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let opened = sqlx::query(
                "UPDATE giveaways SET status = 'open', seed = $1, seed_hash = $2, opened_at = $3, \
                 closes_at = $4, updated_at = $3 WHERE id = $5 AND status = 'scheduled'",
            )
            .bind(&seed_hex)
            .bind(&seed_hash)
            .bind(now)
            .bind(closes_at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if opened {
                hold_prize!(tx, id, row.product_id, now);
                for user in &present {
                    sqlx::query(
                        "INSERT INTO giveaway_entries (giveaway_id, user_id, entered_at) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(*user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
            }
            opened
        });
        if !opened {
            return Err(Error::refused(
                Code::InvalidTransition,
                "the giveaway has already opened",
            ));
        }
        let view = self.giveaway(id).await?;
        self.publish(
            show.id,
            &json!({"type": "lot.started", "show_id": show.id, "kind": "giveaway", "lot_id": id,
                "giveaway_id": id, "title": view.title, "product_id": view.product_id,
                "seed_hash": seed_hash, "opened_at": wire_time(now), "closes_at": wire_time(closes_at),
                "entrant_count": view.entrant_count, "server_time": wire_time(crate::time::now())}),
        );
        Ok(view)
    }

    /// Enter `by` into an open giveaway; they must be present in its show's
    /// room. Entering twice changes nothing.
    pub async fn enter_giveaway(&self, by: Caller, id: Uuid) -> Result<Giveaway> {
        let row = self.giveaway_row(id).await?;
        let now = crate::time::now();
        if row.status()? != GiveawayStatus::Open || row.closes_at.is_none_or(|at| at <= now) {
            return Err(not_open());
        }
        if Uuid::from(by.id) == row.seller_id {
            return Err(Error::refused(
                Code::OwnLot,
                "a seller cannot enter their own giveaway",
            ));
        }
        let show = ShowId::from(row.show_id);
        if !self
            .present(show, UserId::from(row.seller_id))
            .await
            .contains(&Uuid::from(by.id))
        {
            return Err(Error::refused(
                Code::NotPresent,
                "only viewers present in the show's room may enter: subscribe to it first",
            ));
        }
        let entered = with_db!(&self.db, pool => sqlx::query(
            "INSERT INTO giveaway_entries (giveaway_id, user_id, entered_at) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM giveaways WHERE id = $1 AND status = 'open' \
             AND closes_at > $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(Uuid::from(by.id))
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if entered == 0 {
            // Entered already, or it closed meanwhile.
            let row = self.giveaway_row(id).await?;
            if row.status()? != GiveawayStatus::Open {
                return Err(not_open());
            }
        }
        self.giveaway(id).await
    }

    /// Draw every open giveaway whose window closed by `now`.
    pub(super) async fn draw_due(&self, now: DateTime<Utc>) -> Result<()> {
        let due: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM giveaways WHERE status = 'open' AND closes_at <= $1 ORDER BY closes_at LIMIT 50",
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        for id in due {
            // One giveaway that cannot be drawn now holds up no other.
            if let Err(e) = self.draw_giveaway(id).await {
                tracing::warn!(giveaway_id = %id, error = %e, "could not draw a giveaway; will retry");
            }
        }
        Ok(())
    }

    /// Close and draw an open giveaway: everyone present now is entered,
    /// the winner is drawn from the seed and the sorted entrants, all of it
    /// stored and told to the room; then the winner's order is made.
    async fn draw_giveaway(&self, id: Uuid) -> Result<()> {
        let row = self.giveaway_row(id).await?;
        if row.status()? != GiveawayStatus::Open {
            return Ok(());
        }
        let seed = row
            .seed
            .as_deref()
            .and_then(|text| hex::decode(text).ok())
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("open giveaway {id} has no seed")))?;
        let show = ShowId::from(row.show_id);
        let present = self.present(show, UserId::from(row.seller_id)).await;
        let now = crate::time::now();
        let drawn = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // Claim it first: the row lock (PostgreSQL) or the write lock
            // (SQLite) keeps a second drawer out until this commits.
            let claimed = sqlx::query(
                "UPDATE giveaways SET status = 'drawn', drawn_at = $1, updated_at = $1 \
                 WHERE id = $2 AND status = 'open'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if !claimed {
                return Ok(());
            }
            for user in &present {
                sqlx::query(
                    "INSERT INTO giveaway_entries (giveaway_id, user_id, entered_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(*user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let mut entrants: Vec<Uuid> = sqlx::query_scalar(
                "SELECT user_id FROM giveaway_entries WHERE giveaway_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            entrants.sort_unstable();
            let winner = draw::winner(&seed, id, &entrants);
            sqlx::query("UPDATE giveaways SET winner_id = $1 WHERE id = $2")
                .bind(winner)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if winner.is_none() && row.unit_held {
                // Nobody won: the held unit goes back on sale.
                release_stock!(tx, row.product_id, 1, now);
                sqlx::query("UPDATE giveaways SET unit_held = $1 WHERE id = $2")
                    .bind(false)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            (winner, entrants)
        });
        let (winner, entrants) = drawn;
        tracing::info!(giveaway_id = %id, entrants = entrants.len(), winner = ?winner, "giveaway drawn");
        let server_time = wire_time(crate::time::now());
        self.publish(
            show,
            &json!({"type": "giveaway.drawn", "show_id": show, "giveaway_id": id, "lot_id": id,
                "winner_id": winner, "seed": row.seed, "seed_hash": row.seed_hash,
                "entrants": entrants, "entrant_count": entrants.len(), "drawn_at": wire_time(now),
                "server_time": server_time}),
        );
        self.publish(
            show,
            &json!({"type": "lot.ended", "show_id": show, "kind": "giveaway", "lot_id": id,
                "giveaway_id": id, "winner_id": winner, "server_time": server_time}),
        );
        if winner.is_some() {
            self.award(id).await?;
        }
        Ok(())
    }

    /// Make the prize orders that drawn giveaways still lack.
    pub(super) async fn award_pending(&self) -> Result<()> {
        let pending: Vec<Uuid> = with_db!(&self.db, pool => sqlx::query_scalar(
            "SELECT id FROM giveaways WHERE status = 'drawn' AND winner_id IS NOT NULL \
             AND order_id IS NULL ORDER BY drawn_at LIMIT 50",
        )
        .fetch_all(pool)
        .await)?;
        for id in pending {
            if let Err(e) = self.award(id).await {
                tracing::warn!(giveaway_id = %id, error = %e, "could not make a prize order; will retry");
            }
        }
        Ok(())
    }

    /// The winner's order: price zero, shipping by the seller's rules, in
    /// the winner's bundle of the show; once per giveaway, ever.
    async fn award(&self, id: Uuid) -> Result<()> {
        let row = self.giveaway_row(id).await?;
        let (Some(winner), None) = (row.winner_id, row.order_id) else {
            return Ok(());
        };
        let currency = crate::commerce::stored_currency(&row.currency)?;
        let now = crate::time::now();
        let plan = self
            .commerce
            .plan_lot_order(
                LotOrder {
                    buyer: winner,
                    seller: row.seller_id,
                    show: row.show_id,
                    product: row.product_id,
                    title: row.title.clone(),
                    unit_price: blytz_actors::domain::Money::zero(currency),
                    quantity: 1,
                    reserve: row.unit_held,
                },
                now,
            )
            .await?;
        let made = with_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            insert_lot_order!(tx, &plan, now);
            // The order exists before the giveaway names it; a second
            // awarder finds `order_id` set and rolls its order back.
            let claimed = sqlx::query(
                "UPDATE giveaways SET order_id = $1, updated_at = $2 WHERE id = $3 AND order_id IS NULL",
            )
            .bind(plan.id)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected() == 1;
            if claimed {
                tx.commit().await?;
            }
            claimed
        });
        if made {
            tracing::info!(giveaway_id = %id, order_id = %plan.id, "giveaway prize order made");
            self.commerce
                .notice_prize(winner, plan.id, &row.title, id)
                .await;
            if plan.charge {
                self.commerce.nudge_outbox();
            }
        }
        Ok(())
    }
}
