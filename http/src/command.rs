//! Where a request becomes a [`Command`], and the one path every command
//! takes from a transport into the engine.
//!
//! REST (`POST /api/v1/auctions/{id}/bids`, `/start`, `/pause`, ...) and the
//! WebSocket (`{"type":"bid",...}`) both turn what they read into a
//! [`Command`] here and hand it to [`execute`]: the bid rate limit, the
//! metrics and the engine's `execute` are the same for both.

use blytz::Error;
use blytz::accounts::Caller;
use blytz_actors::domain::AuctionId;
use blytz_actors::rules::{Bid, Command};
use blytz_actors::view::Outcome;

use crate::state::AppState;

/// The lifecycle commands, as their REST path segments name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// `POST /{id}/start`
    Start,
    /// `POST /{id}/pause`
    Pause,
    /// `POST /{id}/resume`
    Resume,
    /// `POST /{id}/end`
    End,
    /// `POST /{id}/cancel`
    Cancel,
    /// `POST /{id}/buy-now`
    BuyNow,
}

impl From<Lifecycle> for Command {
    fn from(action: Lifecycle) -> Self {
        match action {
            Lifecycle::Start => Self::Start,
            Lifecycle::Pause => Self::Pause,
            Lifecycle::Resume => Self::Resume,
            Lifecycle::End => Self::End,
            Lifecycle::Cancel => Self::Cancel,
            Lifecycle::BuyNow => Self::BuyNow,
        }
    }
}

/// A bid as REST's body and the WebSocket's `bid` message carry it.
pub fn bid(bid: Bid) -> Command {
    Command::Bid(bid)
}

/// `POST /{id}/extend {"by_ms"}`.
pub fn extend(by_ms: i64) -> Command {
    Command::Extend { by_ms }
}

/// Runs `caller`'s `command` on `auction`: a bid counts against the caller's
/// bid rate first; a bid or buy-now where a card on file is required needs
/// one; then the engine answers once the command is durable.
///
/// # Errors
/// `rate_limited`, `payment_method_required`, or whatever the engine refuses
/// (`bid_too_low`, ...).
pub async fn execute(
    state: &AppState,
    caller: Caller,
    auction: AuctionId,
    command: Command,
) -> Result<Outcome, Error> {
    if matches!(command, Command::Bid(_)) {
        state.limits.check_bid(caller.id)?;
    }
    if matches!(command, Command::Bid(_) | Command::BuyNow) {
        state
            .commerce
            .check_card_for_bid(caller.id, auction)
            .await?;
    }
    state.auctions.execute(auction, caller, command).await
}
