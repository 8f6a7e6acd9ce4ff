//! Commands: what someone asks of an auction.

use serde::{Deserialize, Serialize};

use crate::domain::{BidId, UserId};

/// Who is asking, as the HTTP layer authenticated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The user.
    pub user_id: UserId,
    /// Whether they are an admin (may act on any auction).
    pub is_admin: bool,
}

impl Actor {
    /// A non-admin user.
    #[must_use]
    pub const fn user(user_id: UserId) -> Self {
        Self {
            user_id,
            is_admin: false,
        }
    }

    /// An admin.
    #[must_use]
    pub const fn admin(user_id: UserId) -> Self {
        Self {
            user_id,
            is_admin: true,
        }
    }
}

/// A bid as submitted. Ids are chosen by the caller so the rules stay pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BidRequest {
    /// The bidder.
    pub bidder_id: UserId,
    /// The visible amount, at least the minimum next bid.
    pub amount: i64,
    /// The hidden maximum, at least `amount` (none: equal to `amount`).
    pub max_amount: Option<i64>,
    /// Client idempotency key, unique per bidder.
    pub request_id: Option<String>,
    /// The id this bid gets if recorded.
    pub bid_id: BidId,
    /// The id the leader's automatic answer gets, if there is one.
    pub proxy_bid_id: BidId,
}

impl BidRequest {
    /// A bid with fresh ids.
    #[must_use]
    pub fn new(
        bidder_id: UserId,
        amount: i64,
        max_amount: Option<i64>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            bidder_id,
            amount,
            max_amount,
            request_id,
            bid_id: BidId::new(),
            proxy_bid_id: BidId::new(),
        }
    }
}

/// Something asked of an auction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Place a bid (with an optional maximum).
    PlaceBid(BidRequest),
    /// Buy at the buy-now price, ending the auction.
    BuyNow {
        /// The buyer.
        buyer_id: UserId,
    },
    /// Scheduled -> live.
    Start {
        /// Seller or admin.
        by: Actor,
    },
    /// Live -> paused; the clock stops.
    Pause {
        /// Seller or admin.
        by: Actor,
    },
    /// Paused -> live; the clock runs on.
    Resume {
        /// Seller or admin.
        by: Actor,
    },
    /// Move a live auction's deadline later by `by_ms`.
    Extend {
        /// Seller or admin.
        by: Actor,
        /// Milliseconds to add.
        by_ms: i64,
    },
    /// End now ("sold" to the leader if the reserve is met).
    End {
        /// Seller or admin.
        by: Actor,
    },
    /// Call the auction off.
    Cancel {
        /// Seller or admin.
        by: Actor,
    },
    /// The timer's tick: ends a live auction whose deadline has passed.
    Close,
}
