//! Commands: what someone asks of an auction. The one shape for REST, the
//! WebSocket and, later, a node forwarding to the auction's owner: it is
//! serializable and carries no caller (the transport authenticates that).

use serde::{Deserialize, Serialize};

use crate::domain::{BidId, UserId};

/// Something asked of an auction by a [`crate::domain::Caller`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Place a bid (with an optional hidden maximum).
    Bid(Bid),
    /// Buy at the buy-now price, ending the auction.
    BuyNow,
    /// Scheduled -> live (seller or admin).
    Start,
    /// Live -> paused; the clock stops (seller or admin).
    Pause,
    /// Paused -> live; the clock runs on (seller or admin).
    Resume,
    /// Move a live auction's deadline later (seller or admin).
    Extend {
        /// Milliseconds to add (1 ms to 24 h).
        by_ms: i64,
    },
    /// End now: the hammer falls for the leader if the reserve is met.
    End,
    /// Call the auction off; no winner (seller or admin).
    Cancel,
    /// Place or raise a pre-bid: a hidden maximum on a scheduled auction,
    /// entered as a bid when it starts.
    PreBid(PreBid),
    /// Withdraw the caller's pre-bid before the auction starts.
    WithdrawPreBid,
}

/// A bid as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bid {
    /// The visible amount in minor units, at least the minimum next bid.
    pub amount: i64,
    /// The hidden maximum in minor units, at least `amount` (none: equal to `amount`).
    #[serde(default)]
    pub max_amount: Option<i64>,
    /// Client idempotency key, unique per bidder: a retry answers the first outcome.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A pre-bid as submitted: only a hidden maximum. When the auction starts it
/// enters as a bid at the minimum next bid with this maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PreBid {
    /// The hidden maximum in minor units, at least the start price; a raise
    /// must be above the pre-bid's current maximum.
    pub max_amount: i64,
    /// Client idempotency key, unique per bidder: a retry answers the first outcome.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The ids a bid gets if recorded. Chosen by the caller so the rules stay pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BidIds {
    /// The bid's own id.
    pub bid: BidId,
    /// The id of the leader's automatic answer, if there is one.
    pub proxy: BidId,
}

impl BidIds {
    /// Two fresh ids.
    #[must_use]
    pub fn fresh() -> Self {
        Self {
            bid: BidId::new(),
            proxy: BidId::new(),
        }
    }
}

/// A bid with its bidder and ids, as the bidding rules judge it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BidRequest {
    /// The bidder.
    pub bidder_id: UserId,
    /// The visible amount.
    pub amount: i64,
    /// The hidden maximum.
    pub max_amount: Option<i64>,
    /// Client idempotency key.
    pub request_id: Option<String>,
    /// The id this bid gets if recorded.
    pub bid_id: BidId,
    /// The id the leader's automatic answer gets, if there is one.
    pub proxy_bid_id: BidId,
}

impl BidRequest {
    pub(super) fn new(bidder_id: UserId, bid: Bid, ids: BidIds) -> Self {
        Self {
            bidder_id,
            amount: bid.amount,
            max_amount: bid.max_amount,
            request_id: bid.request_id,
            bid_id: ids.bid,
            proxy_bid_id: ids.proxy,
        }
    }
}
