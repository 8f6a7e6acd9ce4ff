//! Messages an [`super::AuctionActor`] answers. Every answer is sent only
//! once the events it reflects are durable in the journal.

use actix::Message;

use crate::AuctionError;
use crate::domain::{Caller, UserId};
use crate::rooms::Frame;
use crate::rules::Command;
use crate::view::{AuctionView, Outcome, PreBidOutcome};

/// Run a caller's command: a bid, a pre-bid, buy-now or a lifecycle change.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Outcome, AuctionError>")]
pub struct Execute {
    /// Who asks (authenticated by the transport).
    pub caller: Caller,
    /// What they ask.
    pub command: Command,
}

/// The durable public view.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct GetView;

/// The pre-bid `bidder_id` holds (their own: it shows their maximum), if any.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<PreBidOutcome>, AuctionError>")]
pub struct GetPreBid {
    /// The pre-bidder asking (authenticated by the transport).
    pub bidder_id: UserId,
}

/// The current `auction.snapshot` frame, for a session that joins or lags.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Frame, AuctionError>")]
pub struct GetSnapshotFrame;

/// Check the deadline now (the timer does this on its own; tests with a
/// manual clock send it after moving the clock).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Tick;
