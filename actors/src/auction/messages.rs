//! Messages an [`super::AuctionActor`] answers. Every answer is sent only
//! once the events it reflects are durable in the journal.

use actix::Message;

use crate::AuctionError;
use crate::domain::Caller;
use crate::rooms::Frame;
use crate::rules::Command;
use crate::view::{AuctionView, Outcome};

/// Run a caller's command: a bid, buy-now or a lifecycle change.
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

/// The current `auction.snapshot` frame, for a session that joins or lags.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Frame, AuctionError>")]
pub struct GetSnapshotFrame;

/// Check the deadline now (the timer does this on its own; tests with a
/// manual clock send it after moving the clock).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<AuctionView, AuctionError>")]
pub struct Tick;
