//! Events: the facts the journal keeps. Each carries its gapless `seq`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AuctionConfig;
use crate::domain::{AuctionId, BidId, UserId};

/// One fact about one auction, numbered gaplessly from 1 (the `Created` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The auction it belongs to.
    pub auction_id: AuctionId,
    /// Per-auction sequence number, gapless from 1.
    pub seq: u64,
    /// Server time at which it was decided.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// A bid as recorded, manual or placed by a proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidPlaced {
    /// The bid's id.
    pub bid_id: BidId,
    /// Who bid (for an automatic bid: the leader whose proxy answered).
    pub bidder_id: UserId,
    /// The amount this bid stands at.
    pub amount: i64,
    /// The bidder's maximum (hidden; kept for recovery only).
    pub max_amount: i64,
    /// The client's idempotency key (manual bids only).
    pub request_id: Option<String>,
    /// Placed by a proxy answer, not by the bidder.
    pub automatic: bool,
    /// Whether this bid leads after it.
    pub leading: bool,
    /// The visible price after it.
    pub current_price: i64,
    /// Whether the reserve is met after it.
    pub reserve_met: bool,
}

/// The leader raised their own maximum; the visible price moves only if the
/// new maximum meets the reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxRaised {
    /// The id given to this bid.
    pub bid_id: BidId,
    /// The leader.
    pub bidder_id: UserId,
    /// Their new maximum.
    pub max_amount: i64,
    /// The client's idempotency key.
    pub request_id: Option<String>,
    /// The visible price after it.
    pub current_price: i64,
    /// Whether the reserve is met after it.
    pub reserve_met: bool,
}

/// A pre-bid placed or raised: a hidden maximum waiting for the start. It
/// takes its place at the end of the order (see [`super::AuctionState::pre_bids`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreBidSet {
    /// The id the bid gets when the pre-bid enters (also the pre-bid's id).
    pub bid_id: BidId,
    /// The id of the leader's automatic answer to it, if there is one.
    pub proxy_bid_id: BidId,
    /// The bidder.
    pub bidder_id: UserId,
    /// The hidden maximum (kept for recovery only).
    pub max_amount: i64,
    /// The client's idempotency key.
    pub request_id: Option<String>,
}

/// Why a deadline moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendReason {
    /// A late bid (standard mode).
    AntiSnipe,
    /// The seller or an admin extended it.
    Manual,
}

/// Why an auction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The deadline passed.
    Timer,
    /// The seller or an admin ended it now ("sold").
    Hammer,
    /// A buyer used buy-now.
    BuyNow,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The auction exists, with its whole configuration.
    Created {
        /// Everything fixed about the auction.
        config: AuctionConfig,
    },
    /// Now live until `ends_at`.
    Started {
        /// The deadline.
        ends_at: DateTime<Utc>,
    },
    /// A bid was recorded.
    BidPlaced(BidPlaced),
    /// The leader raised their maximum.
    MaxRaised(MaxRaised),
    /// The deadline moved.
    Extended {
        /// The new deadline.
        ends_at: DateTime<Utc>,
        /// Anti-snipe extensions so far (after this one).
        extensions: u32,
        /// Why.
        reason: ExtendReason,
    },
    /// The clock stopped with `remaining_ms` left.
    Paused {
        /// Time left, restored on resume.
        remaining_ms: i64,
    },
    /// The clock runs again until `ends_at`.
    Resumed {
        /// The deadline.
        ends_at: DateTime<Utc>,
    },
    /// Over, with zero or one winner.
    Ended {
        /// The winner, if any.
        winner_id: Option<UserId>,
        /// The price the winner pays.
        final_price: Option<i64>,
        /// Whether the reserve was met.
        reserve_met: bool,
        /// Why it ended.
        reason: EndReason,
    },
    /// Called off; no winner.
    Cancelled,
    /// A pre-bid was placed on the scheduled auction.
    PreBidPlaced(PreBidSet),
    /// A pre-bidder raised their pre-bid's maximum; it moves to the end of
    /// the order.
    PreBidRaised(PreBidSet),
    /// A pre-bidder withdrew their pre-bid.
    PreBidWithdrawn {
        /// The bidder.
        bidder_id: UserId,
    },
}

impl EventKind {
    /// A stable snake_case name, e.g. for a `kind` column.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Created { .. } => "created",
            Self::Started { .. } => "started",
            Self::BidPlaced(_) => "bid_placed",
            Self::MaxRaised(_) => "max_raised",
            Self::Extended { .. } => "extended",
            Self::Paused { .. } => "paused",
            Self::Resumed { .. } => "resumed",
            Self::Ended { .. } => "ended",
            Self::Cancelled => "cancelled",
            Self::PreBidPlaced(_) => "pre_bid_placed",
            Self::PreBidRaised(_) => "pre_bid_raised",
            Self::PreBidWithdrawn { .. } => "pre_bid_withdrawn",
        }
    }

    /// Whether this event ends the auction (the journal writes an outbox row).
    #[must_use]
    pub const fn is_ended(&self) -> bool {
        matches!(self, Self::Ended { .. })
    }
}
