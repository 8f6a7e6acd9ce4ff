//! What the outside sees: the public auction view, bid outcomes, and the
//! room frames (§3 of the design). The reserve amount and maxima never
//! appear here, but for a pre-bidder's own pre-bid, shown to them alone.

mod frames;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use frames::{FrameType, event_frame, snapshot_frame};

use crate::domain::{AuctionId, BidId, Currency, ProductId, ShowId, UserId, wire_time};
use crate::rules::{AuctionState, AuctionStatus, PreBidEntry, RecordedBid};

/// An auction as REST returns it and as `auction.snapshot` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuctionView {
    /// The auction.
    pub id: AuctionId,
    /// Its seller.
    pub seller_id: UserId,
    /// The product put up.
    pub product_id: ProductId,
    /// The show it runs in.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub show_id: Option<ShowId>,
    /// Lifecycle status.
    pub status: AuctionStatus,
    /// Currency of every amount.
    pub currency: Currency,
    /// The first minimum bid (minor units).
    pub start_price: i64,
    /// The visible price (minor units), null until the first bid.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub current_price: Option<i64>,
    /// The leading bidder, null until the first bid.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub leader_id: Option<UserId>,
    /// Bids recorded, automatic ones included.
    pub bid_count: u32,
    /// The lowest acceptable next bid (minor units).
    pub min_next_bid: i64,
    /// Whether the hidden reserve is met.
    pub reserve_met: bool,
    /// The buy-now price (minor units) while buy-now is available, else null.
    #[cfg_attr(feature = "openapi", schema(required))]
    pub buy_now_price: Option<i64>,
    /// The deadline while live (the end time once over); null while
    /// scheduled or paused.
    #[serde(with = "wire_time::option")]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub ends_at: Option<DateTime<Utc>>,
    /// While paused, the time left on the clock (ms), which a resume
    /// gives back; else null.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required))]
    pub remaining_ms: Option<i64>,
    /// Anti-snipe extensions so far.
    pub extensions: u32,
    /// Pre-bids waiting for the start (0 once started); their bidders and
    /// maxima stay hidden.
    #[serde(default)]
    pub pre_bid_count: u32,
    /// The seq of the last event this view includes.
    pub seq: u64,
    /// Server time of this view, for clients to correct clock drift.
    #[serde(with = "wire_time")]
    pub server_time: DateTime<Utc>,
}

impl AuctionView {
    /// The public view of `state` at server time `now`.
    #[must_use]
    pub fn of(state: &AuctionState, now: DateTime<Utc>) -> Self {
        let config = &state.config;
        Self {
            id: config.id,
            seller_id: config.seller_id,
            product_id: config.product_id,
            show_id: config.show_id,
            status: state.status,
            currency: config.currency,
            start_price: config.start_price,
            current_price: state.current_price,
            leader_id: state.leader.map(|l| l.bidder_id),
            bid_count: state.bid_count,
            min_next_bid: state.min_next_bid(),
            reserve_met: state.reserve_met,
            buy_now_price: config.buy_now_price.filter(|_| state.buy_now_available()),
            ends_at: state.ends_at,
            remaining_ms: state
                .remaining_ms
                .filter(|_| state.status == AuctionStatus::Paused),
            extensions: state.extensions,
            pre_bid_count: u32::try_from(state.pre_bids.len()).unwrap_or(u32::MAX),
            seq: state.seq,
            server_time: now,
        }
    }
}

/// A recorded bid as the bidder sees it: `{"id","amount","bidder_id","created_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BidReceipt {
    /// The bid's id.
    pub id: BidId,
    /// The amount it stands at (minor units).
    pub amount: i64,
    /// The bidder.
    pub bidder_id: UserId,
    /// When it was recorded.
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
}

impl BidReceipt {
    /// The receipt of a remembered bid.
    #[must_use]
    pub fn of(bidder_id: UserId, bid: &RecordedBid) -> Self {
        Self {
            id: bid.bid_id,
            amount: bid.amount,
            bidder_id,
            created_at: bid.placed_at,
        }
    }
}

/// The answer to an accepted bid: `{"bid":{...},"leading":bool,"auction":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BidOutcome {
    /// The bid as recorded.
    pub bid: BidReceipt,
    /// Whether it led when recorded.
    pub leading: bool,
    /// The auction after it (durable).
    pub auction: AuctionView,
}

/// A pre-bid as its bidder alone sees it:
/// `{"id","max_amount","bidder_id","created_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreBidReceipt {
    /// The pre-bid's id, which its bid takes when it enters.
    pub id: BidId,
    /// The bidder's hidden maximum (minor units).
    pub max_amount: i64,
    /// The bidder.
    pub bidder_id: UserId,
    /// When it was placed or last raised: its place in the order.
    #[serde(with = "wire_time")]
    pub created_at: DateTime<Utc>,
}

impl PreBidReceipt {
    /// The receipt of a held pre-bid.
    #[must_use]
    pub const fn of(pre_bid: &PreBidEntry) -> Self {
        Self {
            id: pre_bid.bid_id,
            max_amount: pre_bid.max_amount,
            bidder_id: pre_bid.bidder_id,
            created_at: pre_bid.placed_at,
        }
    }

    /// The receipt of a pre-bid remembered under its request id.
    #[must_use]
    pub const fn recorded(bidder_id: UserId, recorded: &RecordedBid) -> Self {
        Self {
            id: recorded.bid_id,
            max_amount: recorded.amount,
            bidder_id,
            created_at: recorded.placed_at,
        }
    }
}

/// The answer to a placed or raised pre-bid, and to a pre-bidder asking for
/// theirs: `{"pre_bid":{...},"auction":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreBidOutcome {
    /// The pre-bid as recorded.
    pub pre_bid: PreBidReceipt,
    /// The auction after it (durable).
    pub auction: AuctionView,
}

/// What a command answers once durable: a bid's or a pre-bid's outcome, or
/// the auction after a buy-now, a withdrawn pre-bid or a lifecycle change.
/// Serialized as the inner value. Each is boxed: an answer, or a refusal in
/// its `Result`, is moved through every layer between the auction and the
/// socket, and a pointer moves where a whole view was copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outcome {
    /// A recorded bid.
    Bid(Box<BidOutcome>),
    /// A placed or raised pre-bid.
    PreBid(Box<PreBidOutcome>),
    /// The auction after the command.
    Auction(Box<AuctionView>),
}

impl Outcome {
    /// The auction after the command.
    #[must_use]
    pub const fn auction(&self) -> &AuctionView {
        match self {
            Self::Bid(outcome) => &outcome.auction,
            Self::PreBid(outcome) => &outcome.auction,
            Self::Auction(view) => view,
        }
    }

    /// The auction after the command, by value.
    #[must_use]
    pub fn into_auction(self) -> AuctionView {
        match self {
            Self::Bid(outcome) => outcome.auction,
            Self::PreBid(outcome) => outcome.auction,
            Self::Auction(view) => *view,
        }
    }
}
