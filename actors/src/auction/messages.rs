//! Messages an [`super::AuctionActor`] answers. Every answer is sent only
//! once the events it reflects are durable in the journal.

use actix::Message;
use bytes::Bytes;

use crate::AuctionError;
use crate::domain::UserId;
use crate::rules::Actor;
use crate::view::{AuctionView, BidOutcome};

/// Place a bid, with an optional hidden maximum.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<BidOutcome, AuctionError>")]
pub struct PlaceBid {
    /// The bidder (authenticated by the caller).
    pub bidder_id: UserId,
    /// Visible amount in minor units, at least the minimum next bid.
    pub amount: i64,
    /// Hidden maximum in minor units, at least `amount`.
    pub max_amount: Option<i64>,
    /// Client idempotency key: a retry returns the first outcome.
    pub request_id: Option<String>,
}

/// Buy at the buy-now price, ending the auction.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct BuyNow {
    /// The buyer.
    pub buyer_id: UserId,
}

/// Scheduled -> live; the clock starts.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Start {
    /// The seller or an admin.
    pub by: Actor,
}

/// Live -> paused; the remaining time is kept.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Pause {
    /// The seller or an admin.
    pub by: Actor,
}

/// Paused -> live with the remaining time restored.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Resume {
    /// The seller or an admin.
    pub by: Actor,
}

/// Move a live auction's deadline later.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Extend {
    /// The seller or an admin.
    pub by: Actor,
    /// Milliseconds to add (1 ms to 24 h).
    pub by_ms: i64,
}

/// End now: the hammer falls for the leader if the reserve is met.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct End {
    /// The seller or an admin.
    pub by: Actor,
}

/// Call the auction off; no winner.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Cancel {
    /// The seller or an admin.
    pub by: Actor,
}

/// The durable public view.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct GetView;

/// The current `auction.snapshot` frame, for a session that joins or lags.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Bytes, AuctionError>")]
pub struct GetSnapshotFrame;

/// Check the deadline now (the timer does this on its own; tests with a
/// manual clock send it after moving the clock).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Tick;
