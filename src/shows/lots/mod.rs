//! The lots of a show's queue that are not auctions: giveaways and flash
//! sales (docs/live-commerce.md).
//!
//! [`Lots`] creates them at the end of the show's queue, starts them when
//! [`super::Shows::next`] reaches them, and ends them: a giveaway is drawn
//! when its window closes, a flash sale ends at its time limit or its last
//! unit. Time is kept by [`Lots::run_due_every`], a loop the server spawns
//! once: whatever is due is done even if nobody calls anything, and a
//! restart picks up what a crash left half done (a drawn giveaway whose
//! prize order was not made yet).
//!
//! What happens is told to the show's room (`show:<id>`): `lot.started`
//! with the lot's `kind`, `giveaway.drawn`, `flash_sale.claimed` and
//! `lot.ended`.

/// Inside `$tx` (any backend), the transaction that starts a lot of
/// product `$product` (a `Uuid`): refuses it from the enclosing block with
/// 409 `product_in_auction` while an open auction holds the product, so the
/// transaction is rolled back. A lot's hold on the stock comes after it.
macro_rules! refuse_if_in_auction {
    ($tx:expr, $product:expr) => {{
        let in_auction: bool = sqlx::query_scalar(crate::catalog::PRODUCT_IN_AUCTION)
            .bind($product)
            .fetch_one(&mut *$tx)
            .await?;
        if in_auction {
            return Err(
                crate::error::Error::code_only(crate::Code::ProductInAuction)
                    .with_detail("product_id", $product.to_string()),
            );
        }
    }};
}

pub mod draw;
mod flash_sales;
mod giveaways;
mod model;

use std::time::Duration;

use blytz_actors::chat::ChatHub;
use blytz_actors::domain::{ShowId, UserId};
use blytz_actors::rooms::{Frame, RoomKey, Rooms};
use uuid::Uuid;

pub use model::{
    Claim, ClaimInput, FlashSale, FlashSaleStatus, Giveaway, GiveawayStatus, LotKind, NewFlashSale,
    NewGiveaway, QueueEntry, StartedLot,
};

use super::store::ShowRow;
use super::{ShowStatus, show_not_found};
use crate::Code;
use crate::accounts::Caller;
use crate::catalog::{Catalog, Product};
use crate::commerce::Commerce;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::with_db;

/// The shortest and longest window of a giveaway or a flash sale.
pub const MIN_DURATION_MS: i64 = 1_000;
/// See [`MIN_DURATION_MS`].
pub const MAX_DURATION_MS: i64 = 3_600_000;
/// The most units a flash sale may offer.
pub const MAX_FLASH_QUANTITY: i64 = 10_000;

/// Giveaways and flash sales; cheap to clone.
#[derive(Debug, Clone)]
pub struct Lots {
    db: Db,
    catalog: Catalog,
    commerce: Commerce,
    /// Who is present in a show's room (entrants of a giveaway).
    chat: ChatHub,
    /// Where room frames go.
    rooms: Rooms,
}

impl Lots {
    /// The service over `db`, checking products with `catalog`, making
    /// orders with `commerce`, asking `chat` who is present and telling
    /// `rooms`.
    pub fn new(db: Db, catalog: Catalog, commerce: Commerce, chat: ChatHub, rooms: Rooms) -> Self {
        Self {
            db,
            catalog,
            commerce,
            chat,
            rooms,
        }
    }

    /// Send `frame` to everyone in `show`'s room, naming the room (`room`)
    /// as chat and presence frames do.
    pub(crate) fn publish(&self, show: ShowId, frame: &serde_json::Value) {
        let room = RoomKey::Show(show);
        let mut frame = frame.clone();
        if let serde_json::Value::Object(map) = &mut frame {
            map.insert("room".into(), room.to_string().into());
        }
        self.rooms.publish(
            room,
            Frame::new(None, bytes::Bytes::from(frame.to_string())),
        );
    }

    /// The signed-in users present in `show`'s room, but its seller.
    async fn present(&self, show: ShowId, seller: UserId) -> Vec<Uuid> {
        self.chat
            .present(RoomKey::Show(show))
            .await
            .into_iter()
            .filter(|user| *user != seller)
            .map(Uuid::from)
            .collect()
    }

    /// The show a new lot joins, checked: it exists, `by` manages it, and it
    /// has not ended.
    async fn show_for_new_lot(&self, show: ShowId, by: Caller) -> Result<ShowRow> {
        let row = super::store::by_id(&self.db, show)
            .await?
            .ok_or_else(show_not_found)?;
        Error::unless_may_manage(by, row.seller_id)?;
        if row.status()? == ShowStatus::Ended {
            return Err(Error::refused(Code::ShowEnded, "the show has ended"));
        }
        Ok(row)
    }

    /// The product a new lot gives away or sells, checked as an auction's
    /// is, and the lot's title (`title`, or the product's).
    async fn product_for_lot(
        &self,
        by: Caller,
        row: &ShowRow,
        product: Uuid,
        title: Option<&str>,
    ) -> Result<(Product, String)> {
        let product = self
            .catalog
            .product_for_auction(by, crate::ids::ProductId::from(product))
            .await?;
        if product.seller_id != row.seller_id {
            return Err(Error::forbidden(
                "a lot of a show sells one of the show's seller's products",
            ));
        }
        let title = match title.map(str::trim) {
            None | Some("") => product.title.clone(),
            Some(title)
                if title.chars().count() <= 200
                    && !title.chars().any(|c| {
                        c.is_control() || blytz_actors::chat::rules::is_invisible_format(c)
                    }) =>
            {
                title.to_owned()
            }
            Some(_) => {
                return Err(Error::validation(
                    "title",
                    "length",
                    "must be at most 200 characters, with no control or invisible characters",
                ));
            }
        };
        Ok((product, title))
    }

    /// Start a scheduled giveaway or flash sale of `show` (the queue has
    /// checked that nothing else runs).
    pub(crate) async fn start(&self, kind: LotKind, id: Uuid, row: &ShowRow) -> Result<StartedLot> {
        match kind {
            LotKind::Giveaway => self.open_giveaway(id, row).await.map(StartedLot::Giveaway),
            LotKind::FlashSale => self
                .start_flash_sale(id, row)
                .await
                .map(StartedLot::FlashSale),
            LotKind::Auction => Err(Error::Internal(anyhow::anyhow!(
                "an auction is started by the engine, not as a lot"
            ))),
        }
    }

    /// Take a scheduled giveaway or flash sale out (it is cancelled).
    pub(crate) async fn cancel(&self, kind: LotKind, id: Uuid) -> Result<()> {
        let table = match kind {
            LotKind::Giveaway => "giveaways",
            LotKind::FlashSale => "flash_sales",
            LotKind::Auction => return Err(Error::NotFound { what: "lot" }),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status = 'scheduled'"
        ));
        let moved = with_db!(&self.db, pool => sqlx::query(sql)
            .bind(crate::time::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if moved == 1 {
            Ok(())
        } else {
            Err(Error::refused(
                Code::LotStarted,
                "only a lot that has not started can be removed",
            ))
        }
    }

    /// Do what is due: draw giveaways whose window closed, make the prize
    /// orders still missing, end flash sales whose time is up. Each step
    /// logs and carries on when it fails.
    pub async fn run_due(&self) {
        let now = crate::time::now();
        if let Err(e) = self.draw_due(now).await {
            tracing::warn!(error = %e, "could not draw the giveaways due; will retry");
        }
        if let Err(e) = self.award_pending().await {
            tracing::warn!(error = %e, "could not make the giveaways' prize orders; will retry");
        }
        if let Err(e) = self.end_due_flash_sales(now).await {
            tracing::warn!(error = %e, "could not end the flash sales due; will retry");
        }
    }

    /// [`Lots::run_due`] every `period`, forever (spawn it once).
    pub async fn run_due_every(self, period: Duration, duty: crate::cluster::Duty) {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if duty.mine() {
                self.run_due().await;
            }
        }
    }
}

/// Append a lot of `kind` to the end of the queue of show `$1`: binds `$1`
/// the show, `$2` the lot, `$3` its kind.
const APPEND_KIND_SQL: &str = "INSERT INTO show_lots (show_id, auction_id, position, kind) \
     SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3 FROM show_lots WHERE show_id = $1";

/// A lot's window as a chrono duration, checked.
fn window(field: &'static str, ms: i64) -> Result<chrono::Duration> {
    if (MIN_DURATION_MS..=MAX_DURATION_MS).contains(&ms) {
        Ok(chrono::Duration::milliseconds(ms))
    } else {
        Err(Error::validation(
            field,
            "range",
            format!("must be {MIN_DURATION_MS} to {MAX_DURATION_MS} milliseconds"),
        ))
    }
}

/// RFC 3339 with milliseconds, as every frame carries times.
pub(crate) fn wire_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
