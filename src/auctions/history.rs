//! Lists of auctions (from the `auctions` read model) and bid history (from
//! the journal, where every accepted bid is before it is acknowledged).

use blytz_actors::domain::{AuctionId, BidId, ShowId, UserId};
use blytz_actors::rules::{AuctionStatus, EventKind};
use blytz_actors::view::AuctionView;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use super::keys::{self, EventRow};
use crate::db::Db;
use crate::error::Result;
use crate::pagination::{Page, Paged, fetch_size};
use crate::with_db;

/// Filters of `GET /auctions`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct AuctionFilter {
    /// `scheduled`, `live`, `paused`, `ended` or `cancelled`.
    #[param(value_type = Option<AuctionStatus>)]
    pub status: Option<AuctionStatus>,
    /// Only this seller's auctions.
    #[param(value_type = Option<String>, format = Uuid)]
    pub seller_id: Option<UserId>,
    /// Only auctions of this show.
    #[param(value_type = Option<String>, format = Uuid)]
    pub show_id: Option<ShowId>,
}

/// One recorded bid, as the history shows it (never a bidder's maximum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BidRecord {
    /// The bid.
    #[schema(value_type = String, format = Uuid)]
    pub id: BidId,
    /// Who bid (for an automatic bid, the bidder whose proxy answered).
    #[schema(value_type = String, format = Uuid)]
    pub bidder_id: UserId,
    /// The amount, minor units.
    pub amount: i64,
    /// Placed by a proxy answer.
    pub automatic: bool,
    /// The auction event that recorded it.
    pub seq: i64,
    /// When.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// A page of auctions, newest first, each as of its last event.
pub async fn list(
    db: &Db,
    filter: &AuctionFilter,
    page: &Page,
    now: DateTime<Utc>,
) -> Result<Paged<AuctionView>> {
    let limit = page.limit()?;
    let before = page.uuid_cursor()?;
    let rows: Vec<(Json<AuctionView>,)> = with_db!(db, pool => {
        sqlx::query_as(
            "SELECT view FROM auctions \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR seller_id = $2) \
             AND ($3 IS NULL OR show_id = $3) AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(filter.status.map(AuctionStatus::as_str))
        .bind(filter.seller_id.map(Uuid::from))
        .bind(filter.show_id.map(Uuid::from))
        .bind(before)
        .bind(fetch_size(limit))
        .fetch_all(pool)
        .await
    })?;
    let views = rows
        .into_iter()
        .map(|(Json(mut view),)| {
            view.server_time = now;
            view
        })
        .collect();
    Ok(Paged::from_rows(views, limit, |last| last.id.to_string()))
}

impl BidRecord {
    /// The bid a journal row records, if it is a bid's.
    fn of((seq, at, Json(kind)): EventRow) -> Option<Self> {
        match kind {
            EventKind::BidPlaced(bid) => Some(Self {
                id: bid.bid_id,
                bidder_id: bid.bidder_id,
                amount: bid.amount,
                automatic: bid.automatic,
                seq,
                created_at: at,
            }),
            _ => None,
        }
    }
}

/// The journal's name of a bid's events (`EventKind::name`).
const BID_PLACED: &str = "bid_placed";

/// A page of an auction's bids, newest first.
pub async fn bids(db: &Db, id: AuctionId, page: &Page) -> Result<Paged<BidRecord>> {
    let limit = page.limit()?;
    let before: Option<i64> = page.cursor_as()?;
    let query = keys::events_query!(
        db.backend(),
        "kind = $2 AND ($3 IS NULL OR seq < $3)",
        "ORDER BY seq DESC LIMIT $4",
    );
    let rows: Vec<EventRow> = with_db!(db, pool => {
        sqlx::query_as(query)
        .bind(Uuid::from(id))
        .bind(BID_PLACED)
        .bind(before)
        .bind(fetch_size(limit))
        .fetch_all(pool)
        .await
    })?;
    Ok(Paged::from_rows(records(rows), limit, |last| {
        last.seq.to_string()
    }))
}

/// Every bid of an auction, oldest first.
pub async fn all_bids(db: &Db, id: AuctionId) -> Result<Vec<BidRecord>> {
    let query = keys::events_query!(db.backend(), "kind = $2", "ORDER BY seq");
    let rows: Vec<EventRow> = with_db!(db, pool => {
        sqlx::query_as(query)
        .bind(Uuid::from(id))
        .bind(BID_PLACED)
        .fetch_all(pool)
        .await
    })?;
    Ok(records(rows))
}

/// The bids of journal rows of kind [`BID_PLACED`].
fn records(rows: Vec<EventRow>) -> Vec<BidRecord> {
    rows.into_iter().filter_map(BidRecord::of).collect()
}
