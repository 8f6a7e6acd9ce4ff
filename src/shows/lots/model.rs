//! Giveaways, flash sales and the queue's entries as the API shows them.

use blytz_actors::domain::{ShowId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a lot of a show's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LotKind {
    /// An auction (`/auctions/{id}`).
    Auction,
    /// A giveaway (`/giveaways/{id}`).
    Giveaway,
    /// A flash sale (`/flash-sales/{id}`).
    FlashSale,
}

impl LotKind {
    /// The stored (and wire) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auction => "auction",
            Self::Giveaway => "giveaway",
            Self::FlashSale => "flash_sale",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "auction" => Some(Self::Auction),
            "giveaway" => Some(Self::Giveaway),
            "flash_sale" => Some(Self::FlashSale),
            _ => None,
        }
    }
}

/// One entry of a show's queue, in queue order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueEntry {
    /// `auction`, `giveaway` or `flash_sale`.
    pub kind: LotKind,
    /// The auction's, giveaway's or flash sale's id.
    pub id: Uuid,
    /// Its status: an auction's (`scheduled`, `live`, `paused`, `ended`,
    /// `cancelled`), a giveaway's (`scheduled`, `open`, `drawn`,
    /// `cancelled`) or a flash sale's (`scheduled`, `live`, `ended`, `cancelled`).
    pub status: String,
}

impl QueueEntry {
    /// Whether the lot is running (a next lot cannot start meanwhile).
    pub fn is_running(&self) -> bool {
        matches!(
            (self.kind, self.status.as_str()),
            (LotKind::Auction, "live" | "paused")
                | (LotKind::Giveaway, "open")
                | (LotKind::FlashSale, "live")
        )
    }

    /// Whether the lot has not started.
    pub fn is_scheduled(&self) -> bool {
        self.status == "scheduled"
    }
}

/// Where a giveaway is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GiveawayStatus {
    /// In the queue.
    Scheduled,
    /// Taking entries until `closes_at`.
    Open,
    /// Closed and drawn (with or without a winner).
    Drawn,
    /// Taken out of the queue before it opened.
    Cancelled,
}

impl GiveawayStatus {
    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduled" => Some(Self::Scheduled),
            "open" => Some(Self::Open),
            "drawn" => Some(Self::Drawn),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A giveaway: present viewers enter, a verifiable draw picks the winner.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Giveaway {
    /// The giveaway (and its entry in the queue).
    pub id: Uuid,
    /// Always `giveaway`.
    pub kind: LotKind,
    /// Its show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    /// The seller (who cannot enter).
    #[schema(value_type = String, format = Uuid)]
    pub seller_id: UserId,
    /// What is given away.
    pub product_id: Uuid,
    /// As shown in the room.
    pub title: String,
    /// Where it is in its life.
    pub status: GiveawayStatus,
    /// How long it takes entries once open.
    pub duration_ms: i64,
    /// hex(SHA-256(seed)), published when it opens (null before).
    pub seed_hash: Option<String>,
    /// The seed in hex, revealed at the draw (null before).
    pub seed: Option<String>,
    /// Entrants so far (every one once drawn).
    pub entrant_count: i64,
    /// Once drawn: every entrant's id, sorted (the draw's input).
    pub entrants: Option<Vec<Uuid>>,
    /// Once drawn: the winner (null when nobody entered).
    pub winner_id: Option<Uuid>,
    /// When it opened.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opened_at: Option<DateTime<Utc>>,
    /// When it stops taking entries and is drawn.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<DateTime<Utc>>,
    /// When it was drawn.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub drawn_at: Option<DateTime<Utc>>,
    /// The server's clock, to correct a countdown.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub server_time: DateTime<Utc>,
}

/// `POST /shows/{id}/giveaways` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewGiveaway {
    /// One of the seller's products (draft or active, in no open auction).
    pub product_id: Uuid,
    /// How long it takes entries once open: 1,000 to 3,600,000 ms.
    pub duration_ms: i64,
    /// As shown in the room (default: the product's title); up to 200 characters.
    #[serde(default)]
    pub title: Option<String>,
}

/// Where a flash sale is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlashSaleStatus {
    /// In the queue.
    Scheduled,
    /// Taking claims until `ends_at` or the last unit.
    Live,
    /// Over: unsold units went back to stock.
    Ended,
    /// Taken out of the queue before it started.
    Cancelled,
}

impl FlashSaleStatus {
    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "scheduled" => Some(Self::Scheduled),
            "live" => Some(Self::Live),
            "ended" => Some(Self::Ended),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A flash sale: a fixed price, a quantity, a time limit, a per-buyer cap.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlashSale {
    /// The flash sale (and its entry in the queue).
    pub id: Uuid,
    /// Always `flash_sale`.
    pub kind: LotKind,
    /// Its show.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    /// The seller (who cannot claim).
    #[schema(value_type = String, format = Uuid)]
    pub seller_id: UserId,
    /// What is sold.
    pub product_id: Uuid,
    /// As shown in the room.
    pub title: String,
    /// Where it is in its life.
    pub status: FlashSaleStatus,
    /// ISO 4217.
    pub currency: String,
    /// The price of one unit (minor units).
    pub price: i64,
    /// The product's usual price, when it has one (minor units).
    pub list_price: Option<i64>,
    /// Units on sale.
    pub quantity: i64,
    /// Units claimed.
    pub sold: i64,
    /// Units left.
    pub remaining: i64,
    /// Units one buyer may claim in all.
    pub per_buyer_cap: i64,
    /// How long it runs once started.
    pub duration_ms: i64,
    /// When it started.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it stops taking claims.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(with = "crate::time::rfc3339_ms::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Utc>>,
    /// The server's clock, to correct a countdown.
    #[serde(with = "crate::time::rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub server_time: DateTime<Utc>,
}

/// `POST /shows/{id}/flash-sales` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewFlashSale {
    /// One of the seller's products (draft or active, in no open auction).
    pub product_id: Uuid,
    /// The price of one unit in the product's currency (default: its buy-now price).
    #[serde(default)]
    pub price: Option<i64>,
    /// Units on sale: 1 to 10,000 (held from stock while it runs).
    pub quantity: i64,
    /// Units one buyer may claim in all (default 1; 1 to the quantity).
    #[serde(default)]
    pub per_buyer_cap: Option<i64>,
    /// How long it runs once started: 1,000 to 3,600,000 ms.
    pub duration_ms: i64,
    /// As shown in the room (default: the product's title); up to 200 characters.
    #[serde(default)]
    pub title: Option<String>,
}

/// `POST /flash-sales/{id}/claims` body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ClaimInput {
    /// Units (default 1).
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// What a claim made: the order and the sale after it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Claim {
    /// The claim.
    pub id: Uuid,
    /// Units claimed.
    pub quantity: i64,
    /// The buyer's order (pending payment, or paid by the card on file shortly).
    pub order: crate::commerce::Order,
    /// The sale after the claim.
    pub flash_sale: FlashSale,
}

/// What `POST /shows/{id}/next` started.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum StartedLot {
    /// An auction (as `/auctions/{id}` answers it).
    Auction(blytz_actors::view::AuctionView),
    /// A giveaway.
    Giveaway(Giveaway),
    /// A flash sale.
    FlashSale(FlashSale),
}
