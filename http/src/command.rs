//! Where a request becomes a [`Command`], and the one path every command
//! takes from a transport into the engine.
//!
//! REST (`POST /api/v1/auctions/{id}/bids`, `PUT .../pre-bid`, `/start`,
//! `/pause`, ...) and the WebSocket (`{"type":"bid",...}`,
//! `{"type":"pre_bid",...}`) both turn what they read into a [`Command`]
//! here and hand it to [`execute`]: the bid rate limit, the card check, the
//! metrics and the engine's `execute` are the same for both.

use blytz::Error;
use blytz::accounts::Caller;
use blytz_actors::domain::AuctionId;
use blytz_actors::rules::{Bid, Command, PreBid};
use blytz_actors::view::Outcome;

use crate::limits::{Kind, LimitKey};
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

/// A pre-bid (place or raise) as REST's `PUT /{id}/pre-bid` body and the
/// WebSocket's `pre_bid` message carry it.
pub fn pre_bid(pre_bid: PreBid) -> Command {
    Command::PreBid(pre_bid)
}

/// `DELETE /{id}/pre-bid` and the WebSocket's `withdraw_pre_bid`.
pub fn withdraw_pre_bid() -> Command {
    Command::WithdrawPreBid
}

/// `POST /{id}/extend {"by_ms"}`.
pub fn extend(by_ms: i64) -> Command {
    Command::Extend { by_ms }
}

/// Runs `caller`'s `command` on `auction`: a bid or pre-bid counts against
/// the caller's bid rate first; a bid, pre-bid or buy-now where a card on
/// file is required needs one; then the engine answers once the command is
/// durable.
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
    if matches!(command, Command::Bid(_) | Command::PreBid(_)) {
        state
            .limits
            .check(Kind::Bids, LimitKey::User(caller.id))
            .await?;
    }
    if matches!(
        command,
        Command::Bid(_) | Command::PreBid(_) | Command::BuyNow
    ) {
        state
            .commerce
            .check_card_for_bid(caller.id, auction)
            .await?;
    }
    state.auctions.execute(auction, caller, command).await
}
